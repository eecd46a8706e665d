"""Fused attention array (design ``attention``): ``Q K^T``, online softmax and ``P V`` on one
``bc x br`` multiplier array, K and V streamed, on-chip state independent of the sequence length.

One job computes one head ``O = softmax(S * Q K^T) V`` for ``nq`` queries and ``nkv`` keys of
``d`` features (runtime values up to ``n_max`` and ``d_max``), FlashAttention-2 style: the
queries are taken ``br`` at a time (a *block*), the keys ``bc`` at a time (a *tile*), and each
tile runs two phases of ``d`` beats on the array (:mod:`accelgen.hdl.attention_array`): QK
accumulates the tile's scores into one of two banks, PV multiplies the probabilities by V.
Between them the softmax unit (:mod:`accelgen.hdl.attention_softmax`) turns the scores into
probabilities with an exact running maximum and computes the rescale factor ``alpha`` and the
running sum ``l``; the row units (:mod:`accelgen.hdl.attention_rows`) rescale and accumulate
``O`` and, at a block's last tile, normalise it into the output. The phases run
``QK(0) QK(1) PV(0) QK(2) PV(1) ... PV(G-1)`` over every tile of every block, so the softmax of
tile ``g`` hides under ``PV(g-1)`` and ``QK(g+1)`` and nothing drains between blocks.

Streams (valid/ready; element 0 at the least significant bits):

- ``desc``: ``{nq, nkv, d, causal}``, one per job, taken when the previous job has finished.
- ``q``: ``br`` codes per beat, ``d`` beats per block: ``q[b*br + p, e]``; taken during the
  block's first QK phase.
- ``k``: ``bc`` codes per beat, ``d`` beats per tile: ``k[j*bc + m, e]`` (a row of ``K^T``).
- ``v``: ``bc`` codes per beat, ``d`` beats per tile: ``v[j*bc + m, f]``, one tile behind ``k``.
- ``o``: ``br`` output codes per beat, ``d`` beats per block: ``o[b*br + p, f]``; lanes past
  ``nq`` are 0; ``last`` on the job's final beat.

Lanes past ``nq`` / ``nkv`` may hold anything: they are masked. See docs/attention.md.
"""

from amaranth.hdl import Module, Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hdl.attention_array import ScoreArray, beat_layout
from ..hdl.attention_control import PhaseScheduler, TileWalker
from ..hdl.attention_rows import RowUnits, row_tag_layout
from ..hdl.attention_softmax import SoftmaxSchedule, SoftmaxUnit
from ..hdl.delay import DelayLine
from ..hdl.layouts import TileStreamSignature
from . import DesignComponent, register
from .attention_params import AttentionParams, output_latency, tile_order, tiles_per_block, useful_macs

__all__ = ["AttentionParams", "Attention", "descriptor_layout", "analytic_cycles", "latencies", "tiles_per_block",
           "tile_order", "useful_macs", "STALL_COUNTERS"]

#: Stall counters: cycles without an array beat, by reason.
STALL_COUNTERS = ("sm_stall_count", "in_stall_count", "out_stall_count")

#: Cycles from a QK phase's last beat until its scores can be read: the engine's stage register
#: and the array's QK latency.
QK_VISIBLE = 1 + ScoreArray.QK_LATENCY


def descriptor_layout(params: AttentionParams) -> data.StructLayout:
    """Payload of the ``desc`` stream."""
    return data.StructLayout({"nq": params.n_bits, "nkv": params.n_bits, "d": params.d_bits, "causal": 1})


def _softmax_unit(p: AttentionParams) -> SoftmaxUnit:
    return SoftmaxUnit(rows=p.bc, cols=p.br, lanes=p.exp_lanes, score_width=p.score_width, n_bits=p.n_bits,
                       p_spec=p.p_spec, alpha_spec=p.alpha_spec, p_bits=p.p_bits, alpha_frac=p.alpha_frac,
                       o_guard=p.o_guard, l_width=p.l_width, norm_width=p.norm_width, recip_shift=p.recip_shift,
                       recip_den_min=p.recip_den_min, l_extra_bits=p.l_extra_bits)


def _array(p: AttentionParams) -> ScoreArray:
    bus = signed(max(p.k_width, p.v_width))
    return ScoreArray(rows=p.bc, cols=p.br, q_shape=p.q_shape, bus_shape=bus, score_width=p.score_width,
                      p_bits=p.p_bits, colsum_width=p.colsum_width, lanes=p.exp_lanes, mac=p.mac)


def latencies(params: AttentionParams) -> dict:
    """The fixed latencies of the cycle model, in cycles (see :func:`analytic_cycles`)."""
    p = params
    schedule = SoftmaxSchedule.for_specs(p.bc, p.br, p.exp_lanes, p.p_spec, p.alpha_spec, p.recip_latency)
    return {
        "feed": 1,
        "sm_start": QK_VISIBLE + 1,               # QK's last beat -> softmax start
        "sm_busy": schedule.end(False) + 2,        # softmax start -> next start possible
        "sm_busy_last": schedule.end(True) + 2,
        "sm_to_pv": schedule.end(False) + 2,       # softmax start -> PV may start
        "sm_to_pv_last": schedule.end(True) + 2,
        "rmw": RowUnits.rmw,
        "out": output_latency(p.bc),             # last beat -> last o transfer
    }


def analytic_cycles(params: AttentionParams, nq: int, nkv: int, d: int, causal: bool = False) -> int:
    """``cycle_count`` of a job with stall-free streams: the RTL equals it exactly.

    Phases of ``d`` beats run back to back in the order ``QK(0) QK(1) PV(0) ... PV(G-1)``; a PV
    phase waits for its softmax (which waits for its QK and for the previous softmax) and for
    the read-modify-write spacing of the row units.
    """
    params.check_job(nq, nkv, d)
    lat = latencies(params)
    order = tile_order(nq, nkv, params.br, params.bc, causal)
    lasts = [j == count - 1 for b, count in enumerate(tiles_per_block(nq, nkv, params.br, params.bc, causal))
             for j in range(count)]
    tiles = len(order)
    t = lat["feed"]
    sm_free = 0
    sm_ready = [0] * tiles
    pv_start = -lat["rmw"]
    phases = [("qk", 0)] + [x for g in range(1, tiles) for x in (("qk", g), ("pv", g - 1))] + [("pv", tiles - 1)]
    for kind, g in phases:
        start = t
        if kind == "pv":
            start = max(start, sm_ready[g], pv_start + lat["rmw"])
            pv_start = start
        else:
            sm_start = max(start + d - 1 + lat["sm_start"], sm_free)
            sm_free = sm_start + (lat["sm_busy_last"] if lasts[g] else lat["sm_busy"])
            sm_ready[g] = sm_start + (lat["sm_to_pv_last"] if lasts[g] else lat["sm_to_pv"])
        t = start + d
    return pv_start + d - 1 + lat["out"]


@register("attention", params=AttentionParams,
          summary="fused attention array: QK^T, online softmax and PV on one array, K/V streamed, "
                  "state independent of N",
          # The 16 x 16 default takes most of an hour to synthesize to generic gates.
          report_config=dict(br=4, bc=4, d_max=16, n_max=64))
class Attention(DesignComponent):
    """The fused attention array (see the module documentation). Its parameters:
    :class:`AttentionParams`.

    Members
    -------
    desc : In(stream.Signature(descriptor_layout))
    q : In(TileStreamSignature(q_shape, br, last=False))
    k : In(TileStreamSignature(k_shape, bc, last=False))
    v : In(TileStreamSignature(v_shape, bc, last=False))
    o : Out(TileStreamSignature(o_shape, br))
    cycle_count, mac_count : Out(counter_width)
        Cycles spent on jobs; multiply-accumulates (``br * bc`` per array beat).
    sm_stall_count, in_stall_count, out_stall_count : Out(counter_width)
        Cycles of a job without an array beat, by reason: a PV phase waits for its softmax (or
        the row units), an operand stream is not valid, the output FIFO is full.
    """

    params_class = AttentionParams

    def members(self):
        p = self.params
        return {
            "desc": In(stream.Signature(descriptor_layout(p))),
            "q": In(TileStreamSignature(p.q_shape, p.br, last=False)),
            "k": In(TileStreamSignature(p.k_shape, p.bc, last=False)),
            "v": In(TileStreamSignature(p.v_shape, p.bc, last=False)),
            "o": Out(TileStreamSignature(p.o_shape, p.br)),
            **{name: Out(p.counter_width) for name in ("cycle_count", "mac_count", *STALL_COUNTERS)},
        }

    def manifest(self) -> dict:
        """Facts for the per-configuration manifest."""
        p = self.params
        return {
            "widths": {"score": p.score_width, "l": p.l_width, "o": p.o_width, "recip": p.recip_width,
                       "colsum": p.colsum_width},
            "latencies": latencies(p),
            "o_fifo_beats": p.o_fifo_beats,
        }

    def elaborate(self, platform):
        p = self.params
        m = Module()
        job = self._job(m)
        walkers = {name: TileWalker(rows=p.bc, cols=p.br, n_bits=p.n_bits) for name in ("qk", "sm", "pv")}
        for name, walker in walkers.items():
            m.submodules[f"{name}_walker"] = walker
            m.d.comb += [walker.load.eq(job["start"]), walker.nq.eq(job["nq_now"]), walker.nkv.eq(job["nkv_now"]),
                         walker.causal.eq(job["causal"]), walker.causal_now.eq(job["causal_now"])]
        sched = m.submodules.scheduler = PhaseScheduler(d_bits=p.d_bits, rmw=RowUnits.rmw,
                                                         o_fifo_beats=p.o_fifo_beats, d_max=p.d_max, n_bits=p.n_bits)
        array = m.submodules.array = _array(p)
        softmax = m.submodules.softmax = _softmax_unit(p)
        rows = m.submodules.rows = RowUnits(
            cols=p.br, d_max=p.d_max, colsum_width=p.colsum_width, o_width=p.o_width, alpha_frac=p.alpha_frac,
            sum_shift=p.o_guard + p.l_extra_bits, recip_width=p.recip_width,
            shift_width=p.shift_width, recip_shift=p.recip_shift, out_shape=p.o_shape, out_frac=p.out_frac)
        o_fifo = m.submodules.o_fifo = SyncFIFOBuffered(width=Shape.cast(self.o.payload.shape()).width,
                                                        depth=p.o_fifo_beats)
        o_taken = self.o.valid & self.o.ready
        m.d.comb += [
            sched.start.eq(job["start"]), sched.d.eq(job["d_now"]),
            sched.qk.eq(walkers["qk"].tile), sched.pv.eq(walkers["pv"].tile),
            sched.q_valid.eq(self.q.valid), sched.k_valid.eq(self.k.valid), sched.v_valid.eq(self.v.valid),
            sched.sm_done.eq(softmax.done), sched.o_taken.eq(o_taken),
            self.q.ready.eq(sched.q_ready), self.k.ready.eq(sched.k_ready), self.v.ready.eq(sched.v_ready),
            walkers["qk"].advance.eq(sched.qk_end), walkers["pv"].advance.eq(sched.pv_end),
        ]
        self._feed(m, sched, walkers, array, rows)
        self._softmax(m, sched, walkers["sm"], softmax, job)
        wiring.connect(m, softmax.sm, array.sm)
        m.d.comb += [rows.alpha.eq(softmax.alpha), rows.recip.eq(softmax.recip), rows.shift.eq(softmax.shift)]
        m.d.comb += [
            o_fifo.w_en.eq(rows.out_valid), o_fifo.w_data.eq(Mux(rows.out_last, 1 << (p.br * p.out_width), 0)
                                                             | rows.out_data.as_value()),
            self.o.valid.eq(o_fifo.r_rdy), self.o.payload.eq(o_fifo.r_data), o_fifo.r_en.eq(self.o.ready),
        ]
        with m.If(o_taken & self.o.payload.last):
            m.d.sync += job["active"].eq(0)
        m.d.sync += [
            self.cycle_count.eq(self.cycle_count + (job["active"] | job["start"])),
            self.mac_count.eq(self.mac_count + Mux(sched.issue, p.br * p.bc, 0)),
            self.sm_stall_count.eq(self.sm_stall_count + sched.sm_stall),
            self.in_stall_count.eq(self.in_stall_count + sched.in_stall),
            self.out_stall_count.eq(self.out_stall_count + sched.out_stall),
        ]
        return m

    def _job(self, m) -> dict:
        desc = self.desc
        active = Signal()
        fields = {name: Signal(desc.payload[name].shape(), name=f"job_{name}") for name in ("nq", "nkv", "d", "causal")}
        start = desc.valid & ~active
        m.d.comb += desc.ready.eq(~active)
        with m.If(start):
            m.d.sync += [active.eq(1), *[fields[name].eq(desc.payload[name]) for name in fields]]
        # The descriptor's fields in the cycle it is taken, the held ones afterwards.
        now = {f"{name}_now": Mux(start, desc.payload[name], fields[name]) for name in ("nq", "nkv", "d", "causal")}
        return {"start": start, "active": active, **fields, **now}

    def _feed(self, m, sched, walkers, array, rows):
        """Stage 1: the beat's operands registered; Q from the stream (a block's first tile,
        which also writes it to the Q buffer) or from the buffer."""
        p = self.params
        qk, pv = walkers["qk"].tile, walkers["pv"].tile
        m.submodules.q_buffer = q_mem = Memory(shape=data.ArrayLayout(p.q_shape, p.br), depth=max(p.d_max, 2), init=[])
        q_write, q_read = q_mem.write_port(), q_mem.read_port()
        m.d.comb += [q_write.addr.eq(sched.e), q_write.data.eq(self.q.payload.data), q_write.en.eq(sched.q_ready),
                     q_read.addr.eq(sched.e)]
        beat = Signal(beat_layout(p.bc, p.br, signed(max(p.k_width, p.v_width)), p.q_shape))
        q_held = Signal.like(self.q.payload.data)
        q_fresh = Signal()
        m.d.sync += [
            beat.valid.eq(sched.issue), beat.pv.eq(sched.pv_beat), beat.first.eq(~sched.e.any()),
            beat.bank.eq(Mux(sched.pv_beat, pv.tpar, qk.tpar)), q_held.eq(self.q.payload.data),
            q_fresh.eq(qk.first),
        ]
        for r in range(p.bc):
            m.d.sync += beat.bus[r].eq(Mux(sched.pv_beat, self.v.payload.data[r], self.k.payload.data[r]))
        m.d.comb += [array.beat.eq(beat), array.beat.q.eq(Mux(q_fresh, q_held, q_read.data))]
        tag = Signal(row_tag_layout(p.d_max))
        fields = {"valid": sched.issue & sched.pv_beat, "f": sched.e, "last": pv.last,
                  "job_last": pv.job_last & sched.pv_end, "tpar": pv.tpar, "bpar": pv.bpar}
        m.d.sync += [tag[name].eq(value) for name, value in fields.items()]
        delay = m.submodules.tag_delay = DelayLine(row_tag_layout(p.d_max), array.pv_latency)
        m.d.comb += [delay.i.eq(tag), rows.tag.eq(delay.o), rows.colsum.eq(array.colsum)]

    def _softmax(self, m, sched, walker, softmax, job):
        """Start the softmax of each tile once its scores are in the bank and the unit is free."""
        visible = m.submodules.qk_visible = DelayLine(1, QK_VISIBLE)
        pending = Signal(range(4))
        start = (pending != 0) & ~softmax.busy
        tile = walker.tile
        m.d.comb += [
            visible.i.eq(sched.qk_end), walker.advance.eq(start), softmax.start.eq(start),
            softmax.tile.bank.eq(tile.tpar),
            *[softmax.tile[name].eq(tile[name]) for name in ("first", "last", "tpar", "bpar", "kb", "qb")],
            *[softmax.job[name].eq(job[name]) for name in ("nq", "nkv", "causal")],
        ]
        m.d.sync += pending.eq(Mux(job["start"], 0, pending + visible.o - start))
