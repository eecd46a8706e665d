"""DRAM-PIM controller: GEMV offload to all-bank PIM commands (design ``pim_ctrl``).

The controller takes GEMV / attention-decode jobs and an input-vector stream and drives, per
channel, one DRAM command slot per cycle (:mod:`accelgen.hdl.pim.isa`) that obeys every
timing rule of its configuration; it collects the accumulator reads into a result stream.

Data mapping (the host writes W this way)
-----------------------------------------
``B`` banks per channel, ``n_ch`` channels enabled by the job's mask (rank ``r`` = position
among them), ``E = row_bytes * 8 / elem_bits`` elements per row, ``n_seg = ceil(K / E)``
segments. Output ``i`` of the job lives in

- group ``G = i // (n_ch * B)``, rank ``r = (i // B) % n_ch``, bank ``b = i % B``;
- block ``g = G // n_acc`` and accumulator ``a = G % n_acc``;
- segment ``s`` of its row (elements ``s*E .. s*E+E-1`` of ``W[i]``, zero-padded past K) is
  DRAM row ``row_base + G * n_seg + s`` of bank ``b`` in the channel of rank ``r``.

So every bank holds a segment at the same row address and one ACTAB opens a whole
segment-row of ``n_ch * B`` outputs.

Split-K (``reduce_channels``): every enabled channel holds every output (``G = i // B``) but
only its K slice, the vector columns ``r, r + n_ch, ...`` of its rank ``r``; ``n_seg`` counts
the channel's ``ceil(ceil(K / lanes) / n_ch)`` local columns. The channels run the same loop
nest; each WRGB carries the column of the channel's rank, and a result beat is the sum of the
enabled channels' accumulators.

Schedule (loop nest, counters only)
-----------------------------------
``for g: for s: for a: pass(row, segment s, accumulator a)``, where a *pass* is ACTAB, one
MACAB per column of the segment, PREA. The vector segment ``s`` is written into a global
buffer slot (WRGB per column) once per ``(g, s)`` (once per job when ``n_seg == 1``), and
read by the ``n_acc`` passes that follow (k-outer reuse with ``n_acc > 1``; m-outer, the stock
AiM order, with ``n_acc == 1``). After the last MACAB of a block the controller reads the
block's accumulators (RDMAC) and clears them (CLRMAC) for the next block; a GEMV job clears
them at its start (GEMV_ACC does not).

Four units share the command bus, highest priority first: the MAC unit (MACAB, RDMAC,
CLRMAC), the precharge unit (PREA), the activate unit (ACTAB, which also holds a pass until
its vector words have arrived and room for its results is reserved, so that no row stays open
waiting for the outside world), the refresh engine (REF) and the vector loader (WRGB, which
runs ahead into a free global-buffer slot). With ``dual_row_buffer`` the activate unit opens
the next pass's row in the other buffer while the MAC unit works on the current one. All
enabled channels run in lockstep; each channel has its own timing gate
(:class:`~accelgen.hdl.pim.gate.TimingGate`) and a command issues when every enabled channel's
gate allows it. The command slots are registered.

Refresh (``refresh_mode="ab"``): a credit counter (REFs issued minus refresh intervals elapsed,
plus ``refresh_postpone``) must never go negative. At a row-pass boundary (before an ACTAB)
the engine refreshes when the credit is zero and the cycles left before the next interval
ends are fewer than a worst-case row pass plus a refresh (the slack check); when idle it
refreshes until the credit is ``refresh_postpone + 1``.
"""

import dataclasses

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hdl.pim.gate import TimingGate
from ..hdl.pim.isa import Cmd, JobOp, LayoutParams, cmd_layout, job_layout, rdata_layout, result_layout, vec_layout
from ..hdl.pim.presets import PRESETS, TIMING_NAMES, preset_config
from ..hdl.util import bits_for, ceil_div, index_width
from . import DesignParams, param, register

__all__ = ["PimCtrlParams", "PimController", "refresh_window"]


def _timing_field(name):
    return param(None, f"timing {name} in cycles (default: from the preset)", min=0, max=65535)


@dataclasses.dataclass(frozen=True)
class PimCtrlParams(DesignParams):
    """Parameters of the PIM controller.

    Organisation and timing default to the named ``preset``; any of them can be overridden.
    ``mutate`` builds a deliberately wrong controller (one timing value one cycle short in the
    hardware only) for the mutation check.
    """

    preset: str = param("aim_gddr6", "memory preset (organisation + timing table)", choices=tuple(PRESETS))
    channels: int = param(1, "PIM channels driven in lockstep", min=1, max=32)
    reduce_channels: bool = param(False, "split K across the enabled channels and add their accumulators "
                                         "into one result (int8 only)")
    bank_groups: int | None = param(None, "bank groups per channel (default: preset)", min=1, max=8)
    banks_per_group: int | None = param(None, "banks per bank group (default: preset)", min=1, max=8)
    rows: int | None = param(None, "rows per bank (default: preset)", min=2, max=65536)
    row_bytes: int | None = param(None, "bytes per DRAM row (default: preset)", min=2, max=16384)
    col_bytes: int | None = param(None, "bytes per column burst (default: preset)", min=2, max=128)
    elem: str = param("int8", "element type", choices=("int8", "bf16"))
    n_acc: int = param(1, "accumulators per bank (1 = stock AiM)", min=1, max=64)
    gb_slots: int = param(1, "global-buffer slots (1 = stock; 2 = load next segment during MACs)", min=1, max=2)
    dual_row_buffer: bool = param(False, "two row buffers per bank (what-if, needs modified DRAM)")
    refresh_mode: str = param("ab", "refresh: all-bank REF, or off", choices=("ab", "off"))
    refresh_postpone: int = param(0, "REFs that may be postponed", min=0, max=8)
    faw_weight_actab: int | None = param(None, "weight of ACTAB in the tFAW window (default: preset)", min=0, max=4)
    tRCD: int | None = _timing_field("tRCD")
    tRCDWR: int | None = _timing_field("tRCDWR")
    tRCD_MAC: int | None = _timing_field("tRCD_MAC")
    tRP: int | None = _timing_field("tRP")
    tRAS: int | None = _timing_field("tRAS")
    tRC: int | None = _timing_field("tRC")
    tRTP: int | None = _timing_field("tRTP")
    tWR: int | None = _timing_field("tWR")
    tCCD_S: int | None = _timing_field("tCCD_S")
    tCCD_L: int | None = _timing_field("tCCD_L")
    tCCD_MAC: int | None = _timing_field("tCCD_MAC")
    tRRD_S: int | None = _timing_field("tRRD_S")
    tRRD_L: int | None = _timing_field("tRRD_L")
    tFAW: int | None = _timing_field("tFAW")
    tWTR_S: int | None = _timing_field("tWTR_S")
    tWTR_L: int | None = _timing_field("tWTR_L")
    tRTW: int | None = _timing_field("tRTW")
    CL: int | None = _timing_field("CL")
    CWL: int | None = _timing_field("CWL")
    BL: int | None = _timing_field("BL")
    tREFI: int | None = _timing_field("tREFI")
    tRFC: int | None = _timing_field("tRFC")
    m_max: int = param(256, "largest M (outputs) of a job", min=1, max=1 << 20)
    k_max: int = param(1024, "largest K (vector length) of a job; sizes the vector buffer", min=1, max=1 << 16)
    tag_bits: int = param(4, "width of the job tag", min=1, max=16)
    counter_width: int = param(32, "width of the performance counters (they wrap)", min=16, max=64)
    mutate: str | None = param(None, "mutation check only: build the hardware with this timing value - 1",
                               choices=TIMING_NAMES)

    _ORG = ("bank_groups", "banks_per_group", "rows", "row_bytes", "col_bytes", "faw_weight_actab")

    def resolve(self):
        base = preset_config(self.preset)
        return {name: getattr(base, name) for name in self._ORG + TIMING_NAMES if getattr(self, name) is None}

    def config(self):
        """The true :class:`~accelgen.hdl.pim.presets.PimConfig` (validated)."""
        values = {name: getattr(self, name) for name in self._ORG + TIMING_NAMES}
        return preset_config(
            self.preset, **values, elem_bits=8 if self.elem == "int8" else 16, n_acc=self.n_acc,
            gb_slots=self.gb_slots, dual_row_buffer=self.dual_row_buffer, refresh_mode=self.refresh_mode,
            refresh_postpone=self.refresh_postpone,
        )

    def hw_config(self):
        """The configuration the hardware is built from (the true one unless ``mutate``)."""
        config = self.config()
        return config if self.mutate is None else config.mutated(self.mutate)

    def check(self):
        config = self.config()  # raises on inconsistent organisation/timing
        if self.reduce_channels and self.elem != "int8":
            raise ValueError(f"reduce_channels=True is not legal with elem={self.elem!r}: the cross-channel "
                             f"sum is defined for elem='int8' only")
        if self.mutate is not None and getattr(config, self.mutate) < 2 and self.mutate != "CWL":
            raise ValueError(f"mutate={self.mutate!r} is not legal: {self.mutate}={getattr(config, self.mutate)} "
                             f"cannot be reduced below 1")

    # -- derived, for the host, the testbench and the bench ---------------------------------
    @property
    def banks(self) -> int:
        return self.bank_groups * self.banks_per_group

    @property
    def acc_bits(self) -> int:
        return 32

    @property
    def lanes(self) -> int:
        return self.config().lanes

    @property
    def vec_words(self) -> int:
        """Depth of the vector buffer: ``ceil(k_max / lanes)`` columns."""
        return ceil_div(self.k_max, self.lanes)

    def layout_params(self) -> LayoutParams:
        """The parameters of the slot and stream layouts (:mod:`accelgen.hdl.pim.isa`)."""
        return LayoutParams.of(self.config(), channels=self.channels, m_max=self.m_max, k_max=self.k_max,
                               tag_bits=self.tag_bits)


def refresh_window(config) -> int:
    """Cycles before the end of a refresh interval from which a pass boundary refreshes.

    A bound on the time from one row-pass boundary to the REF at the next one: a row pass with
    its global-buffer load exposed (with both bus turnarounds and the block's accumulator
    reads), twice with dual row buffers (two passes are in flight), then the precharge and row
    cycle a REF waits for.
    """
    cols = config.cols_per_row
    bus = max(config.BL, config.tCCD_S)
    one_pass = (config.row_pass_cycles() + cols * bus + config.CWL + config.BL + config.tWTR_S
                + config.tRTW + 2 * config.n_acc * bus + config.tFAW)
    passes = 2 if config.dual_row_buffer else 1
    return passes * one_pass + config.tRP + config.tRC + 16


@register(
    "pim_ctrl",
    params=PimCtrlParams,
    summary="DRAM-PIM controller: GEMV jobs to timing-legal all-bank PIM command streams",
)
class PimController(wiring.Component):
    """The PIM controller (see the module docstring).

    Members
    -------
    job : In(stream.Signature(job_layout))
        Job descriptors (:func:`~accelgen.hdl.pim.isa.job_layout`).
    vec : In(stream.Signature(vec_layout))
        The job's vector, ``ceil(K / lanes)`` columns in K order.
    res : Out(stream.Signature(result_layout))
        Results: ``banks`` outputs per beat in output order, ``last`` on the job's final beat.
    cmd : Out(ArrayLayout(cmd_layout, channels))
        Each channel's command slot (registered).
    rdata : In(ArrayLayout(rdata_layout, channels))
        Each channel's read data; sampled ``CL`` cycles after an RDMAC (``valid`` is ignored:
        the controller knows when its data is due).
    busy, error : Out(1)
        A job is in progress; a job was rejected (M or K zero or too large, empty mask).
    done : Out(1)
        One-cycle pulse when a job has delivered its last result.
    busy_cycles, mac_count, act_count, ref_count : Out(counter_width)
        Cycles with a job in progress; MACAB, ACTAB and REF commands issued.
    stall_row, stall_column, stall_vector, stall_result, stall_refresh : Out(counter_width)
        Busy cycles without a MACAB, by reason: row timing (tRCD_MAC, tRP, tRC, tRAS, tRTP,
        tRRD, tFAW, tRFC), column/bus timing (tCCD, BL, CWL, turnarounds), vector words or
        global-buffer load not ready, no room for results, refresh.
    """

    def __init__(self, params: PimCtrlParams):
        if not isinstance(params, PimCtrlParams):
            raise TypeError(f"params must be a PimCtrlParams, not {params!r}")
        self.params = params
        self.cfg = params.config()
        p = params.layout_params()
        cw = params.counter_width
        super().__init__({
            "job": In(stream.Signature(job_layout(p))),
            "vec": In(stream.Signature(vec_layout(p))),
            "res": Out(stream.Signature(result_layout(p))),
            "cmd": Out(data.ArrayLayout(cmd_layout(p), params.channels)),
            "rdata": In(data.ArrayLayout(rdata_layout(p), params.channels)),
            "busy": Out(1),
            "done": Out(1),
            "error": Out(1),
            "busy_cycles": Out(cw),
            "mac_count": Out(cw),
            "act_count": Out(cw),
            "ref_count": Out(cw),
            "stall_row": Out(cw),
            "stall_column": Out(cw),
            "stall_vector": Out(cw),
            "stall_result": Out(cw),
            "stall_refresh": Out(cw),
        })

    def manifest(self) -> dict:
        """Facts for the per-configuration manifest."""
        c = self.cfg
        return {
            "preset": self.params.preset,
            "row_pass_cycles": c.row_pass_cycles(),
            "mac_spacing": c.mac_spacing,
            "lanes": c.lanes,
            "elems_per_row": c.elems_per_row,
            "mutated": self.params.mutate,
        }

    def elaborate(self, platform):
        m = Module()
        p = self.params
        c = self.params.hw_config()
        C = p.channels
        B = c.banks
        n_acc = c.n_acc
        cols = c.cols_per_row
        lanes = c.lanes
        lanes_log = lanes.bit_length() - 1
        cols_log = cols.bit_length() - 1
        epr_log = (c.elems_per_row).bit_length() - 1
        dual = c.dual_row_buffer
        slots = c.gb_slots
        row_bits = index_width(c.rows)
        lp = p.layout_params()
        word_bits = bits_for(p.vec_words)
        idx_width = result_layout(lp)["index"].shape.width
        res_depth = 2 * n_acc + 1

        # ---- job registers and setup -------------------------------------------------------
        job_active = Signal()
        job_op = Signal(JobOp)
        job_row = Signal(row_bits)
        job_m = Signal(range(p.m_max + 1))
        job_tag = Signal(p.tag_bits)
        job_mask = Signal(C)
        words_total = Signal(word_bits)
        n_seg = Signal(range(ceil_div(p.k_max, c.elems_per_row) + 1))
        last_cols = Signal(range(cols + 1))
        grp_step = Signal(range(C * B + 1))     # outputs per group (n_ch * B; B when reducing)
        reduce = p.reduce_channels
        n_ch = Signal(range(C + 1))             # enabled channels
        # Rank of each channel among the enabled ones (split-K: which K slice it holds).
        ch_rank = [Signal(index_width(C), name=f"ch_rank_{ch}") for ch in range(C)]

        payload = self.job.payload
        k_in = payload.k
        mask_in = payload.ch_mask
        job_ok = (payload.m != 0) & (payload.m <= p.m_max) & (k_in != 0) & (k_in <= p.k_max) & (mask_in != 0)
        take_job = Signal()
        m.d.comb += [self.job.ready.eq(~job_active), take_job.eq(self.job.valid & ~job_active)]
        popcount = Const(0, range(C + 1))
        prefix = []
        for i in range(C):
            prefix.append(popcount)
            popcount = popcount + mask_in[i]
        start = Signal()  # first cycle of an accepted job
        with m.If(take_job):
            with m.If(job_ok):
                m.d.sync += [
                    job_active.eq(1), job_op.eq(payload.op), job_row.eq(payload.row_base),
                    job_m.eq(payload.m), job_tag.eq(payload.tag), job_mask.eq(mask_in),
                    words_total.eq((k_in + lanes - 1) >> lanes_log),
                    grp_step.eq(B if reduce else popcount * B),
                    n_ch.eq(popcount),
                    start.eq(1),
                ]
                m.d.sync += [rank.eq(prefix[ch]) for ch, rank in enumerate(ch_rank)]
                if not reduce:
                    m.d.sync += [
                        n_seg.eq((k_in + c.elems_per_row - 1) >> epr_log),
                        last_cols.eq((((k_in + lanes - 1) >> lanes_log) - 1)[:max(cols_log, 1)] + 1
                                     if cols > 1 else 1),
                    ]
            with m.Else():
                m.d.sync += self.error.eq(1)
        with m.If(start):
            m.d.sync += start.eq(0)
        m.d.comb += self.busy.eq(job_active)

        # Split-K: each enabled channel holds every n_ch-th vector word (rank r: words
        # r, r + n_ch, ...), so a channel's K slice is ceil(words_total / n_ch) words. The
        # quotient is counted up by repeated addition before the loop nest starts (once per
        # job, at most ceil(k_max / lanes) cycles; no divider or multiplier).
        gen_start = Signal()  # the loop nest may start
        local_words = Signal(word_bits + 1)
        if reduce:
            div_busy = Signal()
            div_acc = Signal(word_bits + index_width(C) + 1)
            m.d.sync += gen_start.eq(0)
            with m.If(start):
                m.d.sync += [div_busy.eq(1), div_acc.eq(0), local_words.eq(0)]
            with m.Elif(div_busy):
                with m.If(div_acc < words_total):
                    m.d.sync += [div_acc.eq(div_acc + n_ch), local_words.eq(local_words + 1)]
                with m.Else():
                    m.d.sync += [
                        div_busy.eq(0), gen_start.eq(1),
                        n_seg.eq((local_words + cols - 1) >> cols_log),
                        last_cols.eq((local_words - 1)[:max(cols_log, 1)] + 1 if cols > 1 else 1),
                    ]
        else:
            m.d.comb += gen_start.eq(start)

        # ---- vector buffer -----------------------------------------------------------------
        words_received = Signal(word_bits)
        col_bits = c.col_bytes * 8
        accepting = job_active & ~start & (words_received < words_total)
        m.d.comb += self.vec.ready.eq(accepting)
        with m.If(self.vec.valid & accepting):
            m.d.sync += words_received.eq(words_received + 1)
        if reduce:
            # One memory word per local column: lane r holds rank r's word. Lanes past the
            # vector's end keep stale data; the weights there are zero.
            m.submodules.vec_mem = vec_mem = Memory(shape=C * col_bits, depth=p.vec_words, init=[])
            wr = vec_mem.write_port(granularity=col_bits)
            rd = vec_mem.read_port(domain="sync", transparent_for=(wr,))
            wr_rank = Signal(index_width(C))
            local_received = Signal(word_bits)   # complete local columns
            writing = self.vec.valid & accepting
            m.d.comb += [
                wr.addr.eq(local_received),
                wr.data.eq(self.vec.payload.data.replicate(C)),
                wr.en.eq(Mux(writing, Const(1, C) << wr_rank, 0)),
            ]
            with m.If(writing):
                with m.If((wr_rank == n_ch - 1) | (words_received == words_total - 1)):
                    m.d.sync += [wr_rank.eq(0), local_received.eq(local_received + 1)]
                with m.Else():
                    m.d.sync += wr_rank.eq(wr_rank + 1)
            avail_words = local_received
        else:
            m.submodules.vec_mem = vec_mem = Memory(shape=col_bits, depth=p.vec_words, init=[])
            wr = vec_mem.write_port()
            rd = vec_mem.read_port(domain="sync", transparent_for=(wr,))
            m.d.comb += [
                wr.addr.eq(words_received),
                wr.data.eq(self.vec.payload.data),
                wr.en.eq(self.vec.valid & accepting),
            ]
            avail_words = words_received

        # ---- address generator: the loop nest, one pass descriptor at a time ---------------
        pass_layout = data.StructLayout({
            "row": row_bits, "ncols": range(cols + 1), "acc": index_width(n_acc), "word_end": word_bits + 1,
            "seg_word": word_bits, "load_first": 1, "load_last": 1, "block_last": 1,
            "a_count": range(n_acc + 1), "job_last": 1, "job_first": 1,
        })
        gen_active = Signal()
        gen_first = Signal()
        g_blk_base = Signal(idx_width)
        g_s = Signal.like(n_seg)
        g_s_row = Signal(row_bits)
        g_seg_word = Signal(word_bits)
        g_a = Signal(index_width(n_acc))
        g_grp_base = Signal(idx_width)
        g_row = Signal(row_bits)

        m.submodules.pass_fifo = pass_fifo = fifo.SyncFIFOBuffered(width=pass_layout.size, depth=3)
        # Load requests for the vector loader, in pass order.
        m.submodules.load_fifo = load_fifo = fifo.SyncFIFOBuffered(width=word_bits + cols.bit_length(),
                                                                   depth=slots + 2)
        gen_step = Signal()
        m.d.comb += gen_step.eq(gen_active & pass_fifo.w_rdy & load_fifo.w_rdy)
        desc = data.View(pass_layout, Signal(pass_layout.size))
        seg_last = g_s == n_seg - 1
        a_last = (g_a == n_acc - 1) | (g_grp_base + grp_step >= job_m)
        single_seg = n_seg == 1
        block_last = seg_last & a_last
        job_last = block_last & (g_grp_base + grp_step >= job_m)
        ncols = Mux(seg_last, last_cols, cols)
        m.d.comb += [
            desc.row.eq(g_row), desc.ncols.eq(ncols), desc.acc.eq(g_a),
            desc.seg_word.eq(g_seg_word), desc.word_end.eq(g_seg_word + ncols),
            desc.load_first.eq(~g_a.any() & (~single_seg | gen_first)),
            desc.load_last.eq(a_last & (~single_seg | job_last)),
            desc.block_last.eq(block_last), desc.a_count.eq(g_a + 1),
            desc.job_last.eq(job_last), desc.job_first.eq(gen_first),
            pass_fifo.w_data.eq(desc.as_value()),
        ]
        with m.If(gen_start):
            m.d.sync += [
                gen_active.eq(1), gen_first.eq(1), g_blk_base.eq(0), g_s.eq(0),
                g_s_row.eq(job_row), g_seg_word.eq(0), g_a.eq(0), g_grp_base.eq(0), g_row.eq(job_row),
            ]
        with m.Elif(gen_step):
            m.d.sync += gen_first.eq(0)
            with m.If(~a_last):
                m.d.sync += [g_a.eq(g_a + 1), g_grp_base.eq(g_grp_base + grp_step), g_row.eq(g_row + n_seg)]
            with m.Elif(~seg_last):
                m.d.sync += [
                    g_s.eq(g_s + 1), g_a.eq(0), g_grp_base.eq(g_blk_base), g_s_row.eq(g_s_row + 1),
                    g_row.eq(g_s_row + 1), g_seg_word.eq(g_seg_word + cols),
                ]
            with m.Elif(~job_last):
                m.d.sync += [
                    g_blk_base.eq(g_grp_base + grp_step), g_s.eq(0),
                    g_s_row.eq(g_row + 1), g_seg_word.eq(0), g_a.eq(0),
                    g_grp_base.eq(g_grp_base + grp_step), g_row.eq(g_row + 1),
                ]
            with m.Else():
                m.d.sync += gen_active.eq(0)

        m.d.comb += [
            pass_fifo.w_en.eq(gen_step),
            load_fifo.w_data.eq(Cat(g_seg_word, ncols)),
            load_fifo.w_en.eq(gen_step & desc.load_first),
        ]

        # ---- timing gates, one per channel ---------------------------------------------------
        gates = []
        for ch in range(C):
            gate = TimingGate(c)
            m.submodules[f"gate_{ch}"] = gate
            gates.append(gate)

        def gate_ok(key, every_channel=False, row_only=False):
            terms = []
            for ch, gate in enumerate(gates):
                ok = getattr(gate, ("okrow_" if row_only else "ok_") + key)
                terms.append(ok if every_channel else (ok | ~job_mask[ch]))
            expr = terms[0]
            for term in terms[1:]:
                expr = expr & term
            return expr

        def ok_variant(cmd, rbuf=None, slot=None, row_only=False):
            """Gate answer for ``cmd`` with a run-time row buffer / slot."""
            name = cmd.name.lower()
            rb_values = range(2 if dual else 1) if cmd in (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA) else (None,)
            sl_values = range(slots) if cmd in (Cmd.MACAB, Cmd.WRGB) else (None,)
            options = []
            for r in rb_values:
                for s in sl_values:
                    key = name + ("" if r is None else f"_r{r}") + ("" if s is None else f"_s{s}")
                    conds = []
                    if r is not None and dual:
                        conds.append(rbuf == r)
                    if s is not None and slots > 1:
                        conds.append(slot == s)
                    options.append((conds, gate_ok(key, every_channel=(cmd == Cmd.REF), row_only=row_only)))
            result = options[-1][1]
            for conds, ok in reversed(options[:-1]):
                cond = conds[0]
                for extra in conds[1:]:
                    cond = cond & extra
                result = Mux(cond, ok, result)
            return result

        # ---- shared bookkeeping --------------------------------------------------------------
        open_buf = Signal(2)                        # row buffer r open (on the enabled channels)
        free_slots = Signal(range(slots + 1), init=slots)
        avail_loads = Signal(range(slots + 1))
        refresh_req = Signal()
        hold_loader = Signal()

        # Decided command (goes out next cycle). Bank group and bank are unused (all-bank
        # commands only) and stay 0.
        dec = Signal(data.StructLayout({name: field.shape for name, field in cmd_layout(lp)
                                        if name not in ("bg", "bank")}))
        dec_all = Signal()    # REF goes to every channel, other commands to the enabled ones

        # ---- MAC unit --------------------------------------------------------------------------
        mac_valid = Signal()
        mac_desc = data.View(pass_layout, Signal(pass_layout.size))
        mac_rbuf = Signal()
        mac_slot = Signal()
        mac_col = Signal(range(cols + 1))
        mac_phase = Signal(range(4))   # 0 clear-at-start, 1 MAC, 2 read, 3 clear-after
        mac_idx = Signal(range(n_acc + 1))
        mac_clear_all = job_op != JobOp.GEMV_ACC

        # ---- precharge unit ------------------------------------------------------------------
        pre_valid = Signal()
        pre_rbuf = Signal()
        pre_load_last = Signal()

        # ---- activate unit ---------------------------------------------------------------------
        act_valid = Signal()
        act_issued = Signal()     # its ACTAB went out; waiting for the MAC unit
        act_desc = data.View(pass_layout, Signal(pass_layout.size))
        act_rbuf = Signal()
        res_credit = Signal(range(res_depth + 1), init=res_depth)
        m.d.comb += pass_fifo.r_en.eq(~act_valid)
        with m.If(pass_fifo.r_rdy & ~act_valid):
            m.d.sync += [act_valid.eq(1), act_desc.as_value().eq(pass_fifo.r_data)]
        act_opened = Signal()     # the row buffer its ACTAB opened

        # ---- candidates ----------------------------------------------------------------------
        mac_want = Signal()
        mac_cmd = Signal(Cmd)
        mac_ok = Signal()
        m.d.comb += mac_cmd.eq(Cmd.NOP)
        with m.If(mac_valid):
            with m.If(~mac_phase.any()):
                    m.d.comb += [mac_want.eq(1), mac_cmd.eq(Cmd.CLRMAC), mac_ok.eq(1)]
            with m.Elif(mac_phase == 1):
                # A pass may end only when the precharge unit is free to take it.
                can_mac = (avail_loads != 0) & (~pre_valid | (mac_col != mac_desc.ncols - 1))
                m.d.comb += [mac_want.eq(can_mac), mac_cmd.eq(Cmd.MACAB),
                             mac_ok.eq(ok_variant(Cmd.MACAB, mac_rbuf, mac_slot))]
            with m.Elif(mac_phase == 2):
                m.d.comb += [mac_want.eq(1), mac_cmd.eq(Cmd.RDMAC), mac_ok.eq(ok_variant(Cmd.RDMAC))]
            with m.Else():
                m.d.comb += [mac_want.eq(1), mac_cmd.eq(Cmd.CLRMAC), mac_ok.eq(1)]
        mac_acc = Mux((mac_phase == 1), mac_desc.acc, mac_idx)

        pre_ok = Signal()
        m.d.comb += pre_ok.eq(pre_valid & ok_variant(Cmd.PREA, pre_rbuf))

        act_ok = Signal()
        act_ready_data = act_valid & (avail_words >= act_desc.word_end) & \
            (~act_desc.block_last | (res_credit >= act_desc.a_count))
        act_buf_free = ~Mux(act_rbuf, open_buf[1], open_buf[0])
        act_candidate = act_ready_data & ~act_issued & act_buf_free & ~refresh_req
        m.d.comb += act_ok.eq(act_candidate & ok_variant(Cmd.ACTAB, act_rbuf))

        ref_ok = Signal()
        m.d.comb += ref_ok.eq(refresh_req & ~open_buf.any() & ok_variant(Cmd.REF))

        # Vector loader state.
        ld_active = Signal()
        ld_word = Signal(word_bits)     # current column's word address
        ld_col = Signal(range(cols + 1))
        ld_ncols = Signal(range(cols + 1))
        ld_slot = Signal()
        ld_data_ok = Signal()
        wrgb_ok = Signal()
        ld_claimed = Signal()           # this load's slot is taken (its first WRGB went out)
        m.d.comb += wrgb_ok.eq(ld_active & ld_data_ok & ~hold_loader & (ld_claimed | free_slots.any())
                               & ok_variant(Cmd.WRGB, slot=ld_slot))

        # ---- arbiter ---------------------------------------------------------------------------
        fire_mac = mac_want & mac_ok
        fire_pre = ~fire_mac & pre_ok
        fire_act = ~fire_mac & ~fire_pre & act_ok
        fire_ref = ~fire_mac & ~fire_pre & ~fire_act & ref_ok
        fire_wrgb = ~fire_mac & ~fire_pre & ~fire_act & ~fire_ref & wrgb_ok

        m.d.comb += dec.as_value().eq(0)
        with m.If(fire_mac):
            m.d.comb += [dec.cmd.eq(mac_cmd), dec.acc.eq(mac_acc)]
            with m.If(mac_phase == 1):
                m.d.comb += [dec.col.eq(mac_col), dec.slot.eq(mac_slot), dec.rbuf.eq(mac_rbuf)]
        with m.Elif(fire_pre):
            m.d.comb += [dec.cmd.eq(Cmd.PREA), dec.rbuf.eq(pre_rbuf)]
        with m.Elif(fire_act):
            m.d.comb += [dec.cmd.eq(Cmd.ACTAB), dec.row.eq(act_desc.row), dec.rbuf.eq(act_rbuf)]
        with m.Elif(fire_ref):
            m.d.comb += [dec.cmd.eq(Cmd.REF), dec_all.eq(1)]
        with m.Elif(fire_wrgb):
            m.d.comb += [dec.cmd.eq(Cmd.WRGB), dec.col.eq(ld_col), dec.slot.eq(ld_slot),
                             dec.data.eq(rd.data if not reduce else 0)]

        for ch, gate in enumerate(gates):
            enabled = job_mask[ch] | dec_all
            m.d.comb += [
                gate.issue_cmd.eq(Mux(enabled, dec.cmd, Cmd.NOP)),
                gate.issue_rbuf.eq(dec.rbuf),
                gate.issue_slot.eq(dec.slot),
            ]
            slot = self.cmd[ch]
            for name in ("cmd", "row", "col", "acc", "slot", "rbuf", "data"):
                m.d.sync += getattr(slot, name).eq(Mux(enabled, getattr(dec, name), 0))
            if reduce:
                # Each channel's global buffer gets its own K slice: the lane of its rank.
                lane = Signal(col_bits, name=f"wrgb_lane_{ch}")
                with m.Switch(ch_rank[ch]):
                    for r in range(C):
                        with (m.Case(r) if r < C - 1 else m.Default()):
                            m.d.comb += lane.eq(rd.data[r * col_bits:(r + 1) * col_bits])
                m.d.sync += slot.data.eq(Mux(enabled & fire_wrgb, lane, 0))
            m.d.sync += [slot.bg.eq(0), slot.bank.eq(0)]

        # ---- MAC unit sequencing -------------------------------------------------------------
        act_to_mac = Signal()
        mac_done_pass = Signal()
        mac_ending = Signal()     # the MAC unit finishes its pass this cycle
        with m.If(fire_mac):
            with m.If(~mac_phase.any()):
                with m.If(mac_idx == n_acc - 1):
                    m.d.sync += [mac_phase.eq(1), mac_idx.eq(0)]
                with m.Else():
                    m.d.sync += mac_idx.eq(mac_idx + 1)
            with m.Elif(mac_phase == 1):
                m.d.sync += mac_col.eq(mac_col + 1)
                with m.If(mac_col == mac_desc.ncols - 1):
                    m.d.comb += mac_done_pass.eq(1)
                    m.d.sync += mac_idx.eq(0)
                    with m.If(mac_desc.block_last):
                        m.d.sync += mac_phase.eq(2)
                    with m.Else():
                        m.d.sync += mac_valid.eq(0)
                        m.d.comb += mac_ending.eq(1)
            with m.Elif(mac_phase == 2):
                with m.If(mac_idx == mac_desc.a_count - 1):
                    m.d.sync += mac_idx.eq(0)
                    with m.If(mac_desc.job_last):
                        m.d.sync += mac_valid.eq(0)
                        m.d.comb += mac_ending.eq(1)
                    with m.Else():
                        m.d.sync += mac_phase.eq(3)
                with m.Else():
                    m.d.sync += mac_idx.eq(mac_idx + 1)
            with m.Else():
                with m.If(mac_idx == n_acc - 1):
                    m.d.sync += [mac_valid.eq(0), mac_idx.eq(0)]
                    m.d.comb += mac_ending.eq(1)
                with m.Else():
                    m.d.sync += mac_idx.eq(mac_idx + 1)

        # The activate unit hands its activated pass to the MAC unit when that is free.
        with m.If(fire_act):
            m.d.sync += [act_issued.eq(1), act_opened.eq(act_rbuf)]
            if dual:
                m.d.sync += act_rbuf.eq(~act_rbuf)
        m.d.comb += act_to_mac.eq(act_valid & act_issued & (~mac_valid | mac_ending))
        with m.If(act_to_mac):
            m.d.sync += [act_valid.eq(0), act_issued.eq(0)]
        with m.If(act_to_mac):
            m.d.sync += [
                mac_valid.eq(1), mac_desc.as_value().eq(act_desc.as_value()), mac_rbuf.eq(act_opened),
                mac_col.eq(0), mac_idx.eq(0),
                mac_phase.eq(Mux(act_desc.job_first & mac_clear_all, 0, 1)),
            ]

        # Precharge unit takes the pass when its last MACAB is decided.
        with m.If(mac_done_pass):
            m.d.sync += [pre_valid.eq(1), pre_rbuf.eq(mac_rbuf), pre_load_last.eq(mac_desc.load_last)]
            with m.If(mac_desc.load_last):
                if slots > 1:
                    m.d.sync += mac_slot.eq(~mac_slot)
        with m.If(fire_pre):
            m.d.sync += pre_valid.eq(0)

        # Open row buffers.
        for r in range(2):
            with m.If(fire_act & (act_rbuf == r)):
                m.d.sync += open_buf[r].eq(1)
            with m.Elif(fire_pre & (pre_rbuf == r)):
                m.d.sync += open_buf[r].eq(0)

        # Global-buffer slot credits.
        load_done = Signal()
        load_start = Signal()
        consumed = mac_done_pass & mac_desc.load_last
        freed = fire_pre & pre_load_last
        m.d.sync += [
            free_slots.eq(free_slots - load_start + freed),
            avail_loads.eq(avail_loads + load_done - consumed),
        ]

        # ---- vector loader -----------------------------------------------------------------
        # It takes the next request as soon as it is idle and fetches the first column, so
        # that the first WRGB can go out the cycle after the slot is released.
        ld_take = Signal()
        m.d.comb += [load_fifo.r_en.eq(~ld_active & job_active), ld_take.eq(load_fifo.r_rdy & load_fifo.r_en)]
        with m.If(ld_take):
            m.d.sync += [
                ld_active.eq(1), ld_claimed.eq(0), ld_word.eq(load_fifo.r_data[:word_bits]), ld_col.eq(0),
                ld_ncols.eq(load_fifo.r_data[word_bits:]),
            ]
        m.d.comb += load_start.eq(fire_wrgb & ~ld_claimed)
        with m.If(load_start):
            m.d.sync += ld_claimed.eq(1)
        next_word = Mux(ld_take, load_fifo.r_data[:word_bits], Mux(fire_wrgb, ld_word + 1, ld_word))
        m.d.comb += rd.addr.eq(next_word)
        m.d.sync += ld_data_ok.eq(next_word < avail_words)
        with m.If(fire_wrgb):
            m.d.sync += [ld_word.eq(ld_word + 1), ld_col.eq(ld_col + 1)]
            with m.If(ld_col == ld_ncols - 1):
                m.d.comb += load_done.eq(1)
                m.d.sync += ld_active.eq(0)
                if slots > 1:
                    m.d.sync += ld_slot.eq(~ld_slot)

        # Hold the loader shortly before a block's accumulator reads, so that the write-to-read
        # turnaround does not delay them (the loader has slack; the MAC stream has none).
        turnaround = c.CWL + c.BL + c.tWTR_S
        hold_cols = ceil_div(turnaround, max(1, c.mac_spacing)) + 1
        near_end = (mac_desc.ncols - mac_col) <= hold_cols
        # (Only once the MAC unit's own segment is loaded: it may be the one in flight.)
        m.d.comb += hold_loader.eq(mac_valid & mac_desc.block_last & (
            ((mac_phase == 1) & near_end & avail_loads.any()) | (mac_phase == 2)))

        # ---- refresh engine -----------------------------------------------------------------
        busy_units = (mac_valid | pre_valid | act_valid | gen_active | ld_active
                      | pass_fifo.r_rdy | load_fifo.r_rdy)
        if c.refresh_mode == "ab":
            window = refresh_window(c)
            credit_max = c.refresh_postpone + 1
            credit = Signal(range(credit_max + 1), init=c.refresh_postpone)
            # Start a few cycles early: the controller's interval ends no later than the DRAM's.
            refi = Signal(range(c.tREFI), init=min(4, c.tREFI - 1))
            tick = refi == c.tREFI - 1
            until_tick = c.tREFI - 1 - refi
            m.d.sync += refi.eq(Mux(tick, 0, refi + 1))
            m.d.sync += credit.eq(credit + fire_ref - tick)
            urgent = ~credit.any() & (until_tick < window)
            idle_top_up = ~job_active & (credit < credit_max)
            m.d.comb += refresh_req.eq(urgent | idle_top_up)
        else:
            m.d.comb += refresh_req.eq(0)

        # ---- read returns and results --------------------------------------------------------
        expect = Signal(c.CL + 1)
        m.d.sync += expect.eq(Cat(fire_mac & (mac_cmd == Cmd.RDMAC), expect[:-1]))
        entry_width = C * B * 32
        m.submodules.res_fifo = res_fifo = fifo.SyncFIFOBuffered(width=entry_width, depth=res_depth)
        m.d.comb += [
            res_fifo.w_en.eq(expect[c.CL]),
            res_fifo.w_data.eq(Cat(*[self.rdata[ch].data[:B * 32] for ch in range(C)])),
        ]
        out_ch = Signal(index_width(C))
        out_index = Signal(idx_width)
        entry = res_fifo.r_data
        ch_enabled = Signal()
        beat_values = Signal(B * 32)
        if reduce:
            # One beat per entry: the enabled channels' partial sums added (32-bit wrap).
            m.d.comb += ch_enabled.eq(1)
            for b in range(B):
                total = Const(0, 32)
                for ch in range(C):
                    part = entry[(ch * B + b) * 32:(ch * B + b + 1) * 32]
                    total = (total + Mux(job_mask[ch], part, 0))[:32]
                m.d.comb += beat_values[b * 32:(b + 1) * 32].eq(total)
        else:
            with m.Switch(out_ch):
                for ch in range(C):
                    with (m.Case(ch) if ch < C - 1 else m.Default()):
                        m.d.comb += [ch_enabled.eq(job_mask[ch]),
                                     beat_values.eq(entry[ch * B * 32:(ch + 1) * B * 32])]
        in_range = out_index < job_m
        is_last = out_index + B >= job_m
        m.d.comb += [
            self.res.valid.eq(res_fifo.r_rdy & ch_enabled & in_range),
            self.res.payload.tag.eq(job_tag),
            self.res.payload.index.eq(out_index),
            self.res.payload.last.eq(is_last),
        ]
        for b in range(B):
            m.d.comb += self.res.payload.values[b].eq(beat_values[b * 32:(b + 1) * 32])
        step_beat = res_fifo.r_rdy & (~ch_enabled | ~in_range | self.res.ready)
        last_channel = (out_ch == C - 1) if not reduce else Const(1)
        pop = step_beat & last_channel
        m.d.comb += res_fifo.r_en.eq(pop)
        with m.If(step_beat):
            m.d.sync += out_ch.eq(Mux(last_channel, 0, out_ch + 1))
            with m.If(ch_enabled):
                m.d.sync += out_index.eq(out_index + B)

        finishing = self.res.valid & self.res.ready & is_last
        m.d.comb += self.done.eq(0)
        job_results_done = Signal()
        with m.If(finishing):
            m.d.sync += job_results_done.eq(1)
        with m.If(job_active & job_results_done & ~busy_units & ~start & ~res_fifo.r_rdy):
            m.d.sync += [job_active.eq(0), job_results_done.eq(0), out_index.eq(0), out_ch.eq(0),
                         words_received.eq(0), mac_slot.eq(0), ld_slot.eq(0), act_rbuf.eq(0)]
            if reduce:
                m.d.sync += [local_received.eq(0), wr_rank.eq(0)]
            m.d.comb += self.done.eq(1)
        # Result credits: reserved when a block's last pass is activated, back as entries leave.
        reserve = Mux(fire_act & act_desc.block_last, act_desc.a_count, 0)
        m.d.sync += res_credit.eq(res_credit - reserve + pop)

        # Handles for white-box tests and debugging.
        self.debug = dict(job_active=job_active, act_valid=act_valid, act_issued=act_issued, mac_valid=mac_valid,
                          mac_phase=mac_phase, pre_valid=pre_valid, ld_active=ld_active, gen_active=gen_active,
                          refresh_req=refresh_req, open_buf=open_buf, words_received=words_received,
                          words_total=words_total, avail_loads=avail_loads, free_slots=free_slots,
                          res_credit=res_credit, job_results_done=job_results_done, ld_data_ok=ld_data_ok,
                          res_level=res_fifo.r_level, out_ch=out_ch, out_index=out_index)
        if c.refresh_mode == "ab":
            self.debug.update(credit=credit, refi=refi)

        # ---- counters --------------------------------------------------------------------------
        is_mac = fire_mac & (mac_cmd == Cmd.MACAB)
        m.d.sync += [
            self.busy_cycles.eq(self.busy_cycles + job_active),
            self.mac_count.eq(self.mac_count + is_mac),
            self.act_count.eq(self.act_count + fire_act),
            self.ref_count.eq(self.ref_count + fire_ref),
        ]
        stalled = job_active & ~is_mac
        mac_waiting = mac_valid & (mac_phase == 1)
        with m.If(stalled):
            with m.If(mac_waiting & ~avail_loads.any()):
                m.d.sync += self.stall_vector.eq(self.stall_vector + 1)
            with m.Elif(mac_waiting & ~ok_variant(Cmd.MACAB, mac_rbuf, mac_slot, row_only=True)):
                m.d.sync += self.stall_row.eq(self.stall_row + 1)
            with m.Elif(mac_waiting):
                m.d.sync += self.stall_column.eq(self.stall_column + 1)
            with m.Elif(refresh_req | (self.cmd[0].cmd == Cmd.REF)):
                m.d.sync += self.stall_refresh.eq(self.stall_refresh + 1)
            with m.Elif(act_valid & (avail_words < act_desc.word_end)):
                m.d.sync += self.stall_vector.eq(self.stall_vector + 1)
            with m.Elif(act_valid & act_desc.block_last & (res_credit < act_desc.a_count)):
                m.d.sync += self.stall_result.eq(self.stall_result + 1)
            with m.Else():
                m.d.sync += self.stall_row.eq(self.stall_row + 1)
        return m
