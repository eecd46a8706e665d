"""Control of the fused attention engine: the tile walker and the phase scheduler.

A job's tiles are visited block by block of ``br`` queries, key tile by key tile; with causal
masking a block stops after the tile holding its last visible key. Three copies of
:class:`TileWalker` follow that sequence at the QK phases, the softmax unit and the PV
phases; none needs a divider (tiles are counted, not computed).

:class:`PhaseScheduler` runs the phases ``QK(0) QK(1) PV(0) QK(2) PV(1) ... PV(G-1)``, ``D`` beats
each, back to back across query blocks. A QK phase needs only its operands; a PV phase also
needs its tile's softmax, the row units' read-modify-write spacing and, at a block's last
tile, room in the output FIFO for its ``D`` beats. Every cycle of a job without a beat is
charged to exactly one stall reason.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .util import at_most

__all__ = ["walker_layout", "TileWalker", "PhaseScheduler"]


def walker_layout(n_bits: int) -> data.StructLayout:
    """A tile: first key ``kb``, first query ``qb``, ``first`` / ``last`` tile of its block,
    ``job_last`` (the job's final tile), tile parity ``tpar`` and block parity ``bpar``."""
    return data.StructLayout({"kb": unsigned(n_bits + 1), "qb": unsigned(n_bits + 1), "first": 1, "last": 1,
                              "job_last": 1, "tpar": 1, "bpar": 1})


class TileWalker(wiring.Component):
    """Follows a job's tile sequence.

    Parameters
    ----------
    rows, cols : int
        Keys per tile (``bc``) and queries per block (``br``).
    n_bits : int
        Width of ``nq`` / ``nkv``.

    Members
    -------
    load : In(1)
        Go to the first tile of a new job (``nq``, ``nkv`` and ``causal_now`` are valid in this
        cycle; ``nkv`` and ``causal`` stay valid while the job runs).
    advance : In(1)
        Go to the next tile.
    nq, nkv : In(n_bits)
    causal : In(1)
        The running job's causal flag.
    causal_now : In(1)
        The causal flag in the cycle of ``load`` (the descriptor's).
    tile : Out(walker_layout)
        The current tile.
    """

    def __init__(self, *, rows: int, cols: int, n_bits: int):
        self.rows, self.cols, self.n_bits = rows, cols, n_bits
        super().__init__({"load": In(1), "advance": In(1), "nq": In(n_bits), "nkv": In(n_bits), "causal": In(1),
                          "causal_now": In(1), "tile": Out(walker_layout(n_bits))})

    def elaborate(self, platform):
        m = Module()
        t, width = self.tile, self.n_bits + 3
        kb, qb = Signal.like(t.kb), Signal.like(t.qb)
        tpar, bpar, first = Signal(), Signal(), Signal()
        # Down-counters make `last` a comparison with a constant: keys left in the row from
        # kb, queries left from qb, and (causal) keys left up to the block's last visible key
        # (b+1)*br - 1 + nkv - nq (past nq it exceeds nkv - 1, where the first test decides).
        keys_left, rows_left = Signal(signed(width)), Signal(signed(width))
        block_limit, causal_left = Signal(signed(width)), Signal(signed(width))
        # `last` and "the job's last block" are registers, set from comparisons of the counters
        # with constants one step ahead: the next tile in the block, or the first of the next block.
        last, last_block = Signal(), Signal()
        last_if_step = (keys_left <= 2 * self.rows) | (self.causal & (causal_left < 2 * self.rows))
        last_if_block = at_most(self.nkv, self.rows) | (self.causal & (block_limit < self.rows - self.cols))
        m.d.comb += [
            t.kb.eq(kb), t.qb.eq(qb), t.first.eq(first), t.last.eq(last),
            t.job_last.eq(last & last_block), t.tpar.eq(tpar), t.bpar.eq(bpar),
        ]
        with m.If(self.load):
            limit = self.nkv + (self.cols - 1) - self.nq
            m.d.sync += [kb.eq(0), qb.eq(0), tpar.eq(0), bpar.eq(0), first.eq(1), keys_left.eq(self.nkv),
                         rows_left.eq(self.nq), block_limit.eq(limit), causal_left.eq(limit),
                         last.eq(at_most(self.nkv, self.rows) | (self.causal_now & (limit < self.rows))),
                         last_block.eq(at_most(self.nq, self.cols))]
        with m.Elif(self.advance):
            m.d.sync += tpar.eq(~tpar)
            with m.If(last):
                m.d.sync += [kb.eq(0), qb.eq(qb + self.cols), bpar.eq(~bpar), first.eq(1), keys_left.eq(self.nkv),
                             rows_left.eq(rows_left - self.cols), block_limit.eq(block_limit + self.cols),
                             causal_left.eq(block_limit + self.cols), last.eq(last_if_block),
                             last_block.eq(rows_left <= 2 * self.cols)]
            with m.Else():
                m.d.sync += [kb.eq(kb + self.rows), first.eq(0), keys_left.eq(keys_left - self.rows),
                             causal_left.eq(causal_left - self.rows), last.eq(last_if_step)]
        return m


class PhaseScheduler(wiring.Component):
    """Issues the array's beats phase by phase (see the module documentation).

    Parameters
    ----------
    d_bits : int
        Width of ``d``.
    rmw : int
        Least spacing of two PV phase starts (the row units' read-modify-write).
    o_fifo_beats : int
        Output beats that may be reserved at once.
    d_max : int
        Largest ``d``.

    Members
    -------
    start : In(1)
        A job starts (its ``d`` is valid in this cycle and while the job runs).
    d : In(d_bits)
    qk, pv : In(walker_layout)
        The tile of the next QK phase and of the next PV phase.
    q_valid, k_valid, v_valid : In(1)
    sm_done : In(1)
        The softmax of the oldest tile without it has finished.
    o_taken : In(1)
        An output beat has left (frees one reserved beat).
    issue : Out(1)
        A beat goes to the array this cycle.
    pv_beat : Out(1)
        Its phase (0: QK, 1: PV).
    e : Out(range(d_max))
        Its index within the phase.
    qk_end, pv_end : Out(1)
        The beat ends a QK / PV phase.
    q_ready, k_ready, v_ready : Out(1)
    busy : Out(1)
        Phases remain in the job.
    sm_stall, in_stall, out_stall : Out(1)
        This cycle has no beat because a PV waits for the softmax or the row units; because an
        operand is missing; because the output FIFO has no room.
    """

    def __init__(self, *, d_bits: int, rmw: int, o_fifo_beats: int, d_max: int, n_bits: int):
        self.rmw, self.o_fifo_beats, self.d_max = rmw, o_fifo_beats, d_max
        super().__init__({
            "start": In(1), "d": In(d_bits), "qk": In(walker_layout(n_bits)), "pv": In(walker_layout(n_bits)),
            "q_valid": In(1), "k_valid": In(1), "v_valid": In(1), "sm_done": In(1), "o_taken": In(1),
            "issue": Out(1), "pv_beat": Out(1), "e": Out(range(max(d_max, 2))), "qk_end": Out(1), "pv_end": Out(1),
            "q_ready": Out(1), "k_ready": Out(1), "v_ready": Out(1), "busy": Out(1),
            "sm_stall": Out(1), "in_stall": Out(1), "out_stall": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        qk_left, pv_left = Signal(name="qk_left"), Signal(name="pv_left")
        outstanding = Signal(range(3))      # tiles through QK but not yet through PV
        in_phase, phase_pv = Signal(name="in_phase"), Signal(name="phase_pv")
        e = Signal.like(self.e)
        pv_ready = Signal(range(4))         # tiles with a finished softmax and no PV yet
        since_pv = Signal(range(self.rmw + 1))
        reserved = Signal(range(self.o_fifo_beats + self.d_max + 1))

        want_qk = qk_left & (outstanding < 2)
        pv_now = Mux(in_phase, phase_pv, ~want_qk)
        softmax_ok = (pv_ready != 0) & (since_pv >= self.rmw)
        # Registered, so one cycle late: it lags the FIFO draining (conservative) and PV starts
        # are at least `rmw` cycles apart, so it never misses a reservation.
        room = Signal()
        m.d.sync += room.eq(reserved + self.d <= self.o_fifo_beats)
        room_ok = ~self.pv.last | room
        start_ok = in_phase | want_qk | (pv_left & softmax_ok & room_ok)
        operands_ok = Mux(pv_now, self.v_valid, self.k_valid & (~self.qk.first | self.q_valid))
        issue = self.busy & start_ok & operands_ok
        final_beat = Signal()   # e is the phase's last beat (d - 1)
        phase_end = issue & final_beat
        starts_pv = issue & pv_now & ~in_phase
        m.d.comb += [
            self.busy.eq(qk_left | pv_left),
            self.issue.eq(issue), self.pv_beat.eq(pv_now), self.e.eq(e),
            self.qk_end.eq(phase_end & ~pv_now), self.pv_end.eq(phase_end & pv_now),
            self.k_ready.eq(issue & ~pv_now), self.q_ready.eq(issue & ~pv_now & self.qk.first),
            self.v_ready.eq(issue & pv_now),
            self.sm_stall.eq(self.busy & ~start_ok & ~(softmax_ok & ~room_ok)),
            self.out_stall.eq(self.busy & ~start_ok & softmax_ok & ~room_ok),
            self.in_stall.eq(self.busy & start_ok & ~operands_ok),
        ]
        with m.If(issue):
            m.d.sync += [e.eq(Mux(phase_end, 0, e + 1)), in_phase.eq(~phase_end), phase_pv.eq(pv_now),
                         final_beat.eq(Mux(phase_end, self.d == 1, e + 2 == self.d))]
        m.d.sync += [
            outstanding.eq(outstanding + self.qk_end - self.pv_end),
            pv_ready.eq(pv_ready + self.sm_done - starts_pv),
            since_pv.eq(Mux(starts_pv, 1, Mux(since_pv < self.rmw, since_pv + 1, since_pv))),
            reserved.eq(reserved + Mux(starts_pv & self.pv.last, self.d, 0) - self.o_taken),
        ]
        with m.If(self.qk_end & self.qk.job_last):
            m.d.sync += qk_left.eq(0)
        with m.If(self.pv_end & self.pv.job_last):
            m.d.sync += pv_left.eq(0)
        with m.If(self.start):
            m.d.sync += [qk_left.eq(1), pv_left.eq(1), outstanding.eq(0), in_phase.eq(0), e.eq(0), pv_ready.eq(0),
                         since_pv.eq(self.rmw), reserved.eq(0), final_beat.eq(self.d == 1)]
        return m
