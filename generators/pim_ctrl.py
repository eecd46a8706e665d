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

Five units share the command bus, highest priority first: the MAC unit (MACAB, RDMAC,
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

Structure
---------
:class:`PimController` only instantiates the units of :mod:`accelgen.hdl.pim` (submodules
named as below) and wires them::

     job   ──> job ── descriptor values, start, done ──> the other units
     vec   ──> vector_buffer <── read ── vector_loader
               address_gen ── loads ──> vector_loader
               address_gen ── passes ──> activate ── activated ──> mac
               mac ── retire ──> precharge, vector_loader
               precharge ── close ──> activate
               mac, precharge, activate, refresh, vector_loader ── cmd ports ──> arbiter ──> cmd[c]
     rdata ──> results ──> res
               counters ──> busy_cycles, ..., stall_refresh

Streams (``job``, ``vec``, ``res``, ``passes``, ``loads``, ``activated``) and interfaces
(``read``, ``retire``, ``close``, the command ports) are joined with ``wiring.connect``; the
rest are plain values (busy flags, credits, strobes).
"""

import dataclasses

from amaranth.hdl import Module
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.pim.activate import ActivateUnit
from ..hdl.pim.address_gen import AddressGenerator
from ..hdl.pim.arbiter import CommandArbiter
from ..hdl.pim.counters import COUNTER_NAMES, PerfCounters
from ..hdl.pim.isa import LayoutParams, cmd_layout, job_layout, rdata_layout, result_layout, vec_layout
from ..hdl.pim.job import JobSetup
from ..hdl.pim.mac_unit import MacUnit
from ..hdl.pim.precharge import PrechargeUnit
from ..hdl.pim.presets import PRESETS, TIMING_NAMES, preset_config
from ..hdl.pim.refresh import RefreshEngine, refresh_window
from ..hdl.pim.results import ResultCollector
from ..hdl.pim.vector_buffer import VectorBuffer
from ..hdl.pim.vector_loader import VectorLoader
from ..hdl.util import ceil_div
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
        c, lp, reduce = p.hw_config(), p.layout_params(), p.reduce_channels
        m.submodules.job = job = JobSetup(c, lp, reduce=reduce)
        m.submodules.vector_buffer = vbuf = VectorBuffer(c, lp, reduce=reduce)
        m.submodules.address_gen = agen = AddressGenerator(c, lp)
        m.submodules.activate = act = ActivateUnit(c, lp)
        m.submodules.mac = mac = MacUnit(c, lp)
        m.submodules.precharge = pre = PrechargeUnit()
        m.submodules.vector_loader = loader = VectorLoader(c, lp, width=vbuf.width)
        m.submodules.refresh = refresh = RefreshEngine(c)
        m.submodules.arbiter = arbiter = CommandArbiter(c, lp, reduce=reduce, width=vbuf.width)
        m.submodules.results = results = ResultCollector(c, lp, reduce=reduce)
        m.submodules.counters = counters = PerfCounters(c, width=p.counter_width)

        # Streams and handshakes.
        wiring.connect(m, wiring.flipped(self.job), job.job)
        wiring.connect(m, wiring.flipped(self.vec), vbuf.vec)
        wiring.connect(m, wiring.flipped(self.res), results.res)
        wiring.connect(m, agen.passes, act.passes)
        wiring.connect(m, agen.loads, loader.loads)
        wiring.connect(m, act.activated, mac.activated)
        wiring.connect(m, mac.retire, pre.retire, loader.retire)
        wiring.connect(m, pre.close, act.close)
        wiring.connect(m, loader.read, vbuf.read)
        for name, source in (("mac", mac), ("pre", pre), ("act", act), ("ref", refresh), ("wrgb", loader)):
            wiring.connect(m, source.cmd, getattr(arbiter, name))

        # The job's parameters and its end.
        m.d.comb += [
            vbuf.job_active.eq(job.active), vbuf.start.eq(job.start), vbuf.words_total.eq(job.words_total),
            vbuf.n_ch.eq(job.n_ch),
            agen.start.eq(job.gen_start), agen.row.eq(job.row), agen.n_seg.eq(job.n_seg),
            agen.last_cols.eq(job.last_cols), agen.grp_step.eq(job.grp_step), agen.m.eq(job.m),
            mac.op.eq(job.op), loader.job_active.eq(job.active), refresh.job_active.eq(job.active),
            arbiter.mask.eq(job.mask), arbiter.rank.eq(job.rank),
            results.mask.eq(job.mask), results.m.eq(job.m), results.tag.eq(job.tag),
            job.units_busy.eq(mac.busy | pre.busy | act.busy | agen.busy | loader.busy
                              | agen.passes.valid | agen.loads.valid),
            job.results_done.eq(results.done), job.results_pending.eq(results.pending),
        ]
        m.d.comb += [unit.job_done.eq(job.done) for unit in (vbuf, act, mac, loader, results)]

        # State the units show each other.
        m.d.comb += [
            act.avail_words.eq(vbuf.avail), loader.avail_words.eq(vbuf.avail),
            act.credit.eq(results.credit), act.refresh_due.eq(refresh.due), refresh.open_any.eq(act.open_any),
            mac.avail_loads.eq(loader.avail_loads), mac.pre_busy.eq(pre.busy),
            loader.hold.eq(mac.hold_bus), loader.freed.eq(pre.freed),
            results.rdmac.eq(mac.rdmac), results.reserve.eq(act.reserve), results.rdata.eq(self.rdata),
        ]
        m.d.comb += [
            counters.job_active.eq(job.active), counters.macab.eq(mac.macab),
            counters.actab.eq(act.cmd.grant), counters.ref.eq(refresh.cmd.grant),
            counters.mac_waiting.eq(mac.waiting), counters.avail_loads.eq(loader.avail_loads),
            counters.mac_row_ok.eq(arbiter.mac_row_ok), counters.refresh_due.eq(refresh.due),
            counters.slot_cmd.eq(arbiter.cmd[0].cmd),
            counters.act_wait_vector.eq(act.wait_vector), counters.act_wait_result.eq(act.wait_result),
        ]

        # Ports.
        m.d.comb += [self.cmd.eq(arbiter.cmd), self.busy.eq(job.active), self.done.eq(job.done),
                     self.error.eq(job.error)]
        m.d.comb += [getattr(self, name).eq(getattr(counters, name)) for name in COUNTER_NAMES]
        return m
