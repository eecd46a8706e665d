"""Formal properties of accelgen's designs, written in Amaranth and proven with SymbiYosys.

The properties are Amaranth statements (``Assert``, ``Assume``, ``Cover`` from
:mod:`amaranth.hdl`; ``AnySeq`` and ``Initial`` from :mod:`amaranth.asserts`),
exported with ``rtlil.convert(spec, ports=spec.ports(), platform="formal")``; the runner
(:mod:`accelgen.sim.formal`) writes the ``.sby`` file and calls ``yowasp-sby``.

Every spec here is a top with only two ports, ``clk`` and ``rst`` of its own ``sync`` domain
(a clock or reset that is not a port makes a proof vacuous); every input of the design under
test is an ``AnySeq`` (a free value each cycle), constrained only by the ``Assume``\\ s of the
stream contract. Two rules keep k-induction sound and conclusive:

- history registers (the previous cycle's valid, ready, payload) are ``reset_less``: a domain
  reset would clear them and hide the cycle before the reset;
- properties are gated on :attr:`FormalSpec.armed`, which is ``~Initial()`` and "reset was low
  in the previous cycle" from a registered, reset-less copy of ``rst``. Gating on the raw
  ``rst`` input leaves k-induction UNKNOWN.

Where k-induction needs a strengthening invariant, it is an ``Assert`` (checked, never
assumed) in the spec, over signals the spec finds by name in the elaborated design: the PIM
spec the controller's timing-gate counters, :class:`FormalSpec` the families' occupancy and
job invariants (:data:`OCCUPANCY_INVARIANTS`, :data:`FAMILY_INVARIANTS`,
:data:`LAST_INVARIANTS`). A FIFO's memory rows, which no signal names, are read through
asynchronous read ports the spec adds to its own elaborated copy of the memory
(``_Internals.fifo_entries``); where one sum over many rows is too hard for the solver, a
ghost counter in the spec follows the memory's write and read ports and is asserted equal
to the rows (``_Internals.memory_count``).

Contents:

:class:`StreamContract`
    The valid/ready rules of one stream: once ``valid`` is high it stays high with the same
    payload until ``ready``. An ``Assume`` on the design's input streams (the environment
    keeps the rule), an ``Assert`` on its output streams.
:class:`FormalSpec`
    A design (``Design.component(params)``) with a contract on every stream, the beat and job
    bookkeeping of its family (:data:`FAMILY_RATIOS`) and a ``Cover`` of a completed job.
:class:`MacEquivalence`
    A miter of the baseline and the carry-save MAC cell (:mod:`accelgen.hdl.pe`).
:class:`PimTimingSpec`
    The PIM controller's command slots against every row of its declarative timing table.
"""

import dataclasses

from amaranth.asserts import AnySeq, Initial
from amaranth.hdl import (Assert, Assume, ClockDomain, Const, Cover, Elaboratable, Fragment, MemoryInstance, Module,
                          Mux, Shape, Signal, Value, signed, unsigned)
from amaranth.lib import data
from amaranth.utils import ceil_log2

from ..generators import get_design
# The softmax stages' beat layouts (row, exp and output buffer entries) and output buffer size.
from ..generators.softmax import OUT_BUFFER_BEATS, _BeatLayouts
from ..hdl.attention_control import walker_layout
from ..hdl.attention_rows import RowUnits, row_tag_layout
from ..hdl.exp_unit import exp_latency
from ..hdl.pe import OutputStationaryPE
from ..hdl.pim.interfaces import pass_layout, result_depth
from ..hdl.pim.isa import Cmd
from ..hdl.pim.timing import TIMING_TABLE

__all__ = [
    "PROPERTY_GROUPS",
    "FAMILY_RATIOS",
    "FAMILY_INVARIANTS",
    "OCCUPANCY_INVARIANTS",
    "LAST_INVARIANTS",
    "LEGAL_INPUTS",
    "StreamRatio",
    "StreamContract",
    "FormalSpec",
    "MacEquivalence",
    "PimTimingSpec",
    "CONTROLLER_COMMANDS",
    "pim_timing_rules",
    "stream_members",
]

#: The property groups a :class:`FormalSpec` can hold: ``handshake`` (the valid/payload rule
#: of every stream), ``counts`` (no output beat or job without its inputs, ``last`` where
#: the protocol puts it), ``last`` (output ``last`` against input ``last``, for a family whose
#: tiles have a run-time length: :attr:`StreamRatio.last_follows`) and ``cover`` (a job
#: completes).
PROPERTY_GROUPS = ("handshake", "counts", "last", "cover")


@dataclasses.dataclass(frozen=True)
class StreamRatio:
    """How a family's output beats follow from its input beats.

    Attributes
    ----------
    unit_in : str
        The input stream whose handshakes are counted.
    per : str
        ``"beat"``: every input beat counts; ``"last"``: only beats with ``last`` set (a tile
        or row); ``"any"``: every handshake is one job (a descriptor stream).
    max_beats : str or None
        With ``per="last"``: the parameter giving the longest unit in beats; a unit also ends
        on its ``max_beats``-th beat without ``last`` (a softmax row of ``n_max`` elements).
    out : str
        The output stream.
    out_per_unit : int or str or None
        Output beats per input unit: an int, the name of a parameter (e.g. ``"rows"``), or
        ``None`` when only complete output jobs (``last``) are counted against the units.
    last_every : bool
        ``last`` is set on exactly every ``out_per_unit``-th output beat (a fixed tile).
    last_follows : bool
        Output jobs (beats with ``last``) are also counted against input beats with ``last``
        (a tile of run-time length; property group ``last``).
    """

    unit_in: str
    per: str
    out: str
    out_per_unit: object = None
    last_every: bool = False
    last_follows: bool = False
    max_beats: str | None = None


#: The beat bookkeeping of each family (the verification side declares what it checks).
FAMILY_RATIOS = {
    "exp": StreamRatio("d", "beat", "e", 1),
    "gelu": StreamRatio("x", "beat", "y", 1),
    "silu": StreamRatio("x", "beat", "y", 1),
    "softmax": StreamRatio("x", "last", "y", max_beats="row_beats"),
    # A tile (the A beat with last, joined with its B beat) leaves as `rows` result rows.
    "systolic": StreamRatio("a", "last", "c", "rows", last_every=True),
    "tree": StreamRatio("a", "last", "c", "rows", last_every=True),
    "matrix2d": StreamRatio("a", "last", "c", "rows", last_every=True),
    "cube3d": StreamRatio("a", "last", "c", "rows", last_every=True),
    # One result row per activation row; the tile's last row carries last.
    "systolic_ws": StreamRatio("a", "beat", "c", 1, last_follows=True),
    "gemm": StreamRatio("desc", "any", "c"),
    "attention": StreamRatio("desc", "any", "o"),
    "pim_ctrl": StreamRatio("job", "any", "res"),
}


def stream_members(component) -> dict:
    """``{name: (interface, is_input)}`` of every valid/ready member of ``component``'s
    signature (the design inside an AXI4-Stream wrapper is not looked into: formal specs use
    the native interface)."""
    streams = {}
    for name, member in component.signature.members.items():
        if member.is_signature and {"payload", "valid", "ready"} <= set(member.signature.members):
            # An In(...) stream is the design's input: its valid comes from outside.
            streams[name] = (getattr(component, name), member.flow.name == "In")
    return streams


def _has_last(interface) -> bool:
    layout = interface.payload.shape() if hasattr(interface.payload, "shape") else None
    return isinstance(layout, data.StructLayout) and "last" in dict(iter(layout))


@dataclasses.dataclass
class _Watched:
    """A stream as a contract sees it (the ``ready`` mutant replaces ``ready``)."""

    valid: Value
    ready: Value
    payload: Value


class StreamContract(Elaboratable):
    """The valid/ready rule of one stream, as an assumption or an assertion.

    Once ``valid`` is high it stays high, with the same payload, until the cycle with
    ``ready`` (AXI4-Stream / ``amaranth.lib.stream`` rule). The previous cycle's valid, ready
    and payload are kept in reset-less registers.

    Parameters
    ----------
    interface : object
        The stream (``valid``, ``ready``, ``payload``).
    armed : Value
        1 when the previous cycle is a legal history (not the initial state, reset low).
    environment : bool
        ``True``: ``Assume`` (the design's input, kept by its environment); ``False``:
        ``Assert`` (the design's output).
    name : str
        Used in the messages of the properties.
    """

    def __init__(self, interface, *, armed, environment: bool, name: str):
        self.interface = interface
        self.armed = armed
        self.environment = environment
        self.name = name

    def elaborate(self, platform):
        m = Module()
        s = self.interface
        payload = Value.cast(s.payload)
        past_valid = Signal(name=f"{self.name}_past_valid", reset_less=True)
        past_ready = Signal(name=f"{self.name}_past_ready", reset_less=True)
        past_payload = Signal(len(payload), name=f"{self.name}_past_payload", reset_less=True)
        m.d.sync += [past_valid.eq(s.valid), past_ready.eq(s.ready), past_payload.eq(payload)]
        rule = Assume if self.environment else Assert
        with m.If(self.armed & past_valid & ~past_ready):
            m.d.comb += [
                rule(s.valid, f"{self.name}: valid dropped before ready"),
                rule(payload == past_payload, f"{self.name}: payload changed before ready"),
            ]
        return m


class _BeatCount(Elaboratable):
    """Output beats owed minus output beats given, with the ``last`` position check.

    ``owed`` grows by ``per_unit`` per counted input unit (or by one per job when only
    output jobs are counted) and shrinks by one per output beat (output job): an output with
    nothing owed is an output without its inputs. With a fixed ``per_unit`` and a ``last``
    field, ``last`` must be set on exactly every ``per_unit``-th output beat.
    """

    def __init__(self, *, unit_fire, out, armed, per_unit, width: int, name: str, last_every: bool = False):
        self.unit_fire = unit_fire
        self.out = out
        self.armed = armed
        self.per_unit = per_unit
        self.width = width
        self.name = name
        self.last_every = last_every
        #: Output beats (jobs) owed: the counter the occupancy invariants relate to the design.
        self.owed = Signal(signed(width), name=f"{name}_owed")
        #: Output beats since the last unit's end (with ``last_every``).
        self.position = Signal(range(max(per_unit or 1, 2)), name=f"{name}_position")

    def elaborate(self, platform):
        m = Module()
        out = self.out
        out_fire = out.valid & out.ready
        has_last = _has_last(out)
        jobs_only = self.per_unit is None
        out_unit = out_fire & out.payload.last if jobs_only else out_fire
        owed = self.owed
        m.d.sync += owed.eq(owed + Mux(self.unit_fire, 1 if jobs_only else self.per_unit, 0) - out_unit)
        with m.If(self.armed):
            m.d.comb += Assert(owed >= 0, f"{self.name}: more output than input")
            with m.If(out_unit):
                m.d.comb += Assert(owed > 0, f"{self.name}: an output beat without its inputs")
        if has_last and self.last_every:
            position = self.position
            with m.If(out_fire):
                m.d.sync += position.eq(Mux(position == self.per_unit - 1, 0, position + 1))
            with m.If(self.armed & out.valid):
                m.d.comb += Assert(out.payload.last == (position == self.per_unit - 1),
                                   f"{self.name}: last not on beat {self.per_unit} of a unit")
        return m


class _Internals:
    """Signals of an elaborated design, by submodule path and name (for invariants)."""

    def __init__(self, fragment, spec=None, module=None):
        self.fragment = fragment
        #: The spec's module, where ghost state (:meth:`memory_count`) is added.
        self.module = module
        #: Signals of the spec itself that invariants relate to the design (by name).
        self.spec = dict(spec or {})
        self._entries = {}

    def __call__(self, path: str, name: str):
        found = _fragment_signals(self.fragment, tuple(path.split(".")) if path else (), name)
        if name not in found:
            raise LookupError(f"no signal {name!r} driven in submodule {path!r} of the design")
        return found[name]

    def fifo_entries(self, path: str) -> list:
        """``[(held, entry)]``: every place of the ``SyncFIFOBuffered`` or ``SyncFIFO`` at
        ``path`` that can hold an entry (a buffered FIFO's output register, then every row of
        its memory), with ``held``, 1 while the place holds a queued entry.

        A memory row is state no signal names: the spec adds an asynchronous read port per
        row to the elaborated memory (the ``MemoryInstance`` ``storage`` of the FIFO), in the
        spec's copy of the design only; the design's own ports and logic are unchanged. A
        row is held when it lies within the level (``inner_level`` behind a buffered FIFO's
        output register) from the read pointer ``consume``.
        """
        if path in self._entries:
            return self._entries[path]
        buffered = bool(_fragment_signals(self.fragment, tuple(path.split(".")), "inner_level"))
        entries = [(self(path, "r_rdy"), self(path, "r_data"))] if buffered else []
        memory = _subfragment(self.fragment, tuple(path.split(".")) + ("storage",))
        if memory is not None:
            if not isinstance(memory, MemoryInstance):
                raise LookupError(f"submodule {path}.storage of the design is not a memory")
            depth, width = memory._data.depth, Shape.cast(memory._data.shape).width
            consume, level = self(path, "consume"), self(path, "inner_level" if buffered else "level")
            for row in range(depth):
                value = Signal(width, name=f"{path.replace('.', '_')}_row{row}")
                memory.read_port(domain="comb", addr=Const(row, ceil_log2(depth)), data=value, en=Const(1),
                                 transparent_for=())
                offset = Mux(consume <= row, row - consume, row + depth - consume)
                entries.append((offset < level, value))
        self._entries[path] = entries
        return entries

    def memory_count(self, path: str, select, *, read=None):
        """Ghost state: the memory rows of the FIFO at ``path`` held with ``select(row)`` set.

        A counter in the spec (reset with the design), updated from the memory's own write
        (``w_port__en``, ``w_port__data``) and read (``r_port__en`` of a buffered FIFO, or
        ``read``; the row read is the one at ``consume``). Returns ``(count, checks)``: the
        checks assert that the counter equals the rows held with ``select`` set, a sum over
        one memory whose step changes at most two rows, so that other invariants can use the
        counter instead of the sum.
        """
        rows = self.fifo_entries(path)
        if _fragment_signals(self.fragment, tuple(path.split(".")), "inner_level"):
            rows = rows[1:]
            read = self(path, "r_port__en")
        consume = self(path, "consume")
        head = Const(0)
        for index, (_, row) in enumerate(rows):
            head = Mux(consume == index, select(row), head)
        write = self(path, "w_port__en") & select(self(path, "w_port__data"))
        count = Signal(range(len(rows) + 1), name=f"ghost_{path.replace('.', '_')}")
        self.module.d.sync += count.eq(count + write - (read & head))
        held = _sum(held & select(row) for held, row in rows)
        return count, [(count == held, f"{path}: ghost count differs from the memory rows")]

    def two_register_entries(self, path: str) -> list:
        """``[(held, entry)]`` of the :class:`~accelgen.hdl.queues.TwoRegisterFIFO` at ``path``:
        with one entry it is the one at ``read_next``, with two both."""
        level, read_next = self(path, "level"), self(path, "read_next")
        return [((level == 2) | (level == 1) & (read_next == index), self(path, f"entry_{index}"))
                for index in range(2)]

    def block_ram_entries(self, path: str) -> list:
        """``[(held, entry)]`` of the :class:`~accelgen.hdl.queues.BlockRamFIFO` at ``path``:
        its block-RAM part, then its head."""
        return self.fifo_entries(f"{path}.ram") + self.two_register_entries(f"{path}.head")


def _pim_ctrl_invariants(sig, params):
    # A result entry is queued or on its way only during a job: the job registers (tag, m,
    # mask) and the result index, which form the res payload, hold while a beat waits. And
    # the index never wraps: it is counted against the accumulator reads of the job still to
    # come (_pim_ctrl_reads), so a job's last beat leaves nothing behind it.
    config, layout = params.config(), params.layout_params()
    idle = ~sig("job", "active")
    m, grp_step, mask = sig("job", "m"), sig("job", "grp_step"), sig("job", "mask")
    banks, channels = config.banks, params.channels
    popcount = _sum(mask[ch] for ch in range(channels))
    step = banks if params.reduce_channels else popcount * banks
    checks = [
        (~idle | (sig("results.fifo", "level") == 0), "result entries queued while no job is active"),
        (~idle | (sig("results", "expect") == 0), "an accumulator read in flight while no job is active"),
        (~idle | ~sig("", "units_busy"), "a unit is busy while no job is active"),
        (~idle | ~sig("results", "done"), "results done while no job is active"),
        (~idle | (sig("results", "out_index") == 0), "a result index while no job is active"),
        (~idle | (sig("address_gen.pass_fifo", "level") == 0), "row passes queued while no job is active"),
        (idle | (m != 0) & (m <= params.m_max), "an active job with an illegal m"),
        (idle | (mask != 0), "an active job without a channel"),
        (idle | (sig("job", "n_ch") == popcount) & (grp_step == step), "job registers out of step with the mask"),
        (idle | (sig("job", "last_cols") >= 1) & (sig("job", "last_cols") <= config.cols_per_row)
         & (sig("job", "n_seg") >= 1), "an active job with an empty segment"),
        # The job's last beat sets done, and the index passes m with it.
        (idle | (sig("results", "done") == (sig("results", "out_index") >= m)),
         "results done does not follow the index"),
        (~sig("results", "done") | (sig("results.fifo", "level") == 0) & (sig("results", "expect") == 0),
         "entries after the job's last result"),
    ]
    return checks + _pim_ctrl_reads(sig, params, config, layout)


def _pim_ctrl_reads(sig, params, config, layout):
    """The result index against the job's accumulator reads still to come.

    A block's last row pass (``block_last``) brings ``a_count`` accumulator reads (RDMAC),
    each one result FIFO entry, each entry ``grp_step`` outputs of the index. Reads to come:
    the address generator's blocks not yet emitted (outputs ``g_blk_base`` to the job's end),
    the passes marked ``block_last`` in the pass FIFO (its output register and memory rows),
    the activate unit's pass and the MAC unit's (all its reads, or those after ``idx`` in its
    READ phase). Then the reads in flight (``expect``) and the FIFO's entries. The index plus
    ``grp_step`` per read or entry to come is the job's final index. The result credits are
    the FIFO's entries minus those reserved (reads past their pass's ACTAB, in flight or
    queued), so no read meets a full FIFO.
    """
    n_acc, banks, channels = config.n_acc, config.banks, params.channels
    passes = pass_layout(config, layout)
    active, m, grp_step = sig("job", "active"), sig("job", "m"), sig("job", "grp_step")
    final = (m + grp_step - 1) // grp_step * grp_step

    agen_busy = sig("address_gen", "busy")
    blk_base, grp_base = sig("address_gen", "g_blk_base"), sig("address_gen", "g_grp_base")
    g_a, g_s, n_seg = sig("address_gen", "g_a"), sig("address_gen", "g_s"), sig("job", "n_seg")
    # The loop nest starts on gen_start: from the job's start (with split-K after the
    # division that sizes the segments) the whole job is to come.
    starting = sig("job", "start")
    if params.reduce_channels:
        starting = starting | sig("job", "div_busy") | sig("job", "gen_start")
    agen_outputs = Mux(agen_busy, final - blk_base, Mux(starting, final, 0))

    def block_reads(valid, desc):
        return Mux(valid & desc.block_last, desc.a_count, 0)

    def legal(desc):
        # A descriptor as the address generator writes it.
        return (desc.ncols >= 1) & (desc.ncols <= config.cols_per_row) & (desc.a_count == desc.acc + 1) \
            & (desc.a_count <= n_acc) & (~desc.job_last | desc.block_last)

    held_passes = [(held, data.View(passes, entry)) for held, entry in sig.fifo_entries("address_gen.pass_fifo")]
    queued = [block_reads(held, desc) for held, desc in held_passes]
    act_desc = data.View(passes, sig("activate", "$signal"))
    act_busy, act_issued = sig("activate", "busy"), sig("activate", "issued")
    act_reads = block_reads(act_busy, act_desc)
    mac_desc = data.View(passes, sig("mac", "$signal"))
    mac_busy, phase, idx = sig("mac", "busy"), sig("mac", "phase"), sig("mac", "idx")
    read, clear_after = 2, 3  # the MAC unit's phases READ and CLEAR_AFTER (accelgen.hdl.pim.mac_unit)
    # The phase register keeps its value after a pass ends: only a held pass counts.
    mac_reads = Mux(~mac_busy, 0, Mux(phase == read, mac_desc.a_count - idx,
                                      Mux(phase == clear_after, 0, block_reads(mac_busy, mac_desc))))
    expect = sig("results", "expect")
    in_flight = _sum(expect[i] for i in range(len(expect)))
    level = sig("results.fifo", "level")
    to_come = _sum(queued + [act_reads, mac_reads, in_flight, level])
    out_index, out_ch, mask = sig("results", "out_index"), sig("results", "out_ch"), sig("job", "mask")
    # The outputs of the head entry's channels already stepped (one beat per entry with split-K).
    partial = Const(0) if params.reduce_channels else \
        _sum(Mux(out_ch > ch, mask[ch], 0) for ch in range(channels)) * banks
    reserved = Mux(act_busy & act_issued, act_reads, 0) + mac_reads + in_flight + level
    return [
        (out_ch < (1 if params.reduce_channels else channels), "result channel counter out of range"),
        (~active | (out_index + grp_step * to_come + agen_outputs == final + partial),
         "the result index differs from the final index less the reads to come"),
        (~active | ~agen_busy | (blk_base < m) & (blk_base % grp_step == 0) & (grp_base == blk_base + g_a * grp_step)
         & (g_a < n_acc) & (g_s < n_seg), "address generator out of the job's range"),
        (~mac_busy | (phase != read) | mac_desc.block_last & (idx < mac_desc.a_count), "MAC unit reads out of range"),
        (~mac_busy | (phase != clear_after) | mac_desc.block_last & ~mac_desc.job_last,
         "MAC unit clears after the job's last block"),
        (~mac_busy | (phase == read) | (phase == clear_after) | (idx == 0) | (phase == 0), "MAC unit index out of step"),
        (sig("results", "credit") + reserved == result_depth(config), "result credits differ from the entries reserved"),
        (~act_issued | act_busy, "activate unit issued without a pass"),
        (~mac_busy | (phase != 1) | (sig("mac", "col") < mac_desc.ncols), "MAC unit column past the pass"),
        (~mac_busy | (phase == 1) | (sig("mac", "col") == 0) | (phase != 0), "MAC unit clears after a column"),
        (_all([~held | legal(desc) for held, desc in held_passes] + [~act_busy | legal(act_desc),
                                                                     ~mac_busy | legal(mac_desc)]),
         "an illegal row pass descriptor"),
    ]


def _all(values):
    total = Const(1)
    for value in values:
        total = total & value
    return total


def _sum(values):
    total = Const(0, 8)
    for value in values:
        total = total + value
    return total


def _activation_occupancy(sig, params, owed, position):
    # One output beat is owed per input beat inside: the pipeline's valid bits.
    held = _sum(sig("", f"valid_{k}") for k in range(params.latency))
    return [(owed == held, "beats owed differ from the beats in the pipeline")]


def _exp_occupancy(sig, params, owed, position):
    # Beats inside: the valid line's stages plus the output buffer's entries; the input
    # credits count the same beats.
    held = _sum(sig("valid_line", f"stage{k}") for k in range(exp_latency(params.spec))) \
        + sig("out_buffer", "level")
    return [(owed == held, "beats owed differ from the beats in the valid line and buffer"),
            (sig("", "reserved") == held, "input credits differ from the beats inside")]


def _fifo_invariants(sig, path):
    # SyncFIFOBuffered moves an entry to its output register in the cycle after the write
    # into an empty FIFO: an empty output register with more than one entry behind it is
    # unreachable (the FIFO's own formal checks cover its pointers, not this).
    return [(sig(path, "r_rdy") | (sig(path, "inner_level") <= 1), f"{path}: output register empty behind entries")]


def _broadcast_occupancy(sig, params, owed, position):
    # Result rows owed = rows the admission reserved = rows in the result FIFO + rows not yet
    # written: a tile's end marker in the input register or at the grid's `done` (rows each),
    # and the rows the drain still has to write.
    rows = params.rows
    if params.mac != "baseline":
        return []
    drain_left = Const(0, 8)
    checks = []
    if rows > 1:
        # Bit i of the drain's chain: row i + 1 is written this cycle, rows - 2 - i after it.
        chain = sig("row_drain", "drain_rows")
        drain_left = _sum([Mux(chain[i], rows - 1 - i, 0) for i in range(rows - 1)])
        checks.append(((chain & (chain - 1)) == 0, "more than one row of the drain selected"))
    markers = (sig("", "in_valid") & sig("", "in_last")) + sig("dot_0_0", "done")
    held = sig("result_rows.result_fifo", "level") + rows * markers + drain_left
    checks += [(owed == sig("admission", "reserved"), "rows owed differ from the rows reserved"),
               (owed == held, "rows owed differ from the rows held inside")]
    checks.append((position < rows, "output row counter past the tile"))
    if rows > 1:
        checks.append((position == sig("result_rows", "out_row"), "output row counters differ"))
    return checks + _fifo_invariants(sig, "result_rows.result_fifo")


def _systolic_occupancy(sig, params, owed=None, position=None):
    # Every column's result FIFO gets every row: the rows reserved = rows in column j's FIFO
    # + rows not yet written into it. A tile end marker (valid & last) of row i is unwritten
    # for column j while it is in the input register, in row i's skew line, on the forward
    # path of the cells left of column j (valid_out & last_out), in cell (i, j)'s product
    # register, or at its `done` (written in that cycle).
    rows, cols = params.rows, params.cols
    if params.mac != "baseline":
        return []
    marked = data.StructLayout({"a": params.a_shape, "valid": 1, "last": 1})
    entry = sig("", "in_valid") & sig("", "in_last")
    reserved = sig("admission", "reserved")
    checks = []
    for j in range(cols):
        unwritten = Const(0, 8)
        for i in range(rows):
            markers = [entry]
            for stage in range(i):
                view = data.View(marked, sig(f"row_skew_{i}", f"stage{stage}"))
                markers.append(view.valid & view.last)
            markers += [sig(f"pe_{i}_{k}", "valid_out") & sig(f"pe_{i}_{k}", "last_out") for k in range(j)]
            cell = f"pe_{i}_{j}"
            if params.pipeline_product:
                markers.append(sig(cell, "product_valid") & sig(cell, "product_last"))
            if params.register_partials:
                markers.append(sig(cell, "pair_valid") & sig(cell, "pair_last"))
            markers.append(sig(cell, "done"))
            unwritten = unwritten + _sum(markers)
        fifo = f"result_rows.result_fifo_{j}"
        checks.append((reserved == sig(fifo, "level") + unwritten, f"column {j}: rows reserved differ from "
                                                                    f"the rows held or on their way"))
        checks += _fifo_invariants(sig, fifo)
    if owed is not None:
        checks += [(owed == reserved, "rows owed differ from the rows reserved"),
                   (position < rows, "output row counter past the tile")]
        if rows > 1:
            checks.append((position == sig("result_rows", "out_row"), "output row counters differ"))
    return checks


def _ceil_blocks(extent, size: int):
    # Blocks of `size` a walker takes for `extent` (an extent of 0 still takes one block).
    return Mux(extent == 0, 1, (extent + size - 1) // size)


def _gemm_invariants(sig, params):
    # The collector's keep/last and the job registers hold while a row waits, if rows are
    # held only during a job: the tiles the feeder has sent (T_f: tile-end beats stepped into
    # its output register) = the tiles the collector has finished, plus its rows out of the
    # current tile, plus the rows the array still holds (its admission's `reserved`), plus a
    # tile end waiting in the feeder's output register.
    if params.engine != "os":
        return []
    array = params.array_params()
    rows, cols = array.rows, array.cols
    active = sig("job", "active")
    m, n = sig("job", "job_m"), sig("job", "job_n")
    tiles_m, tiles_n = _ceil_blocks(m, rows), _ceil_blocks(n, cols)
    total = tiles_m * tiles_n

    def walker(path):
        mbase, nbase = sig(path, "mbase"), sig(path, "nbase")
        return mbase, nbase, (nbase // cols) * tiles_m + mbase // rows

    f_mbase, f_nbase, f_tiles = walker("feeder")
    f_done = sig("feeder", "done")
    sent = Mux(f_done, total, f_tiles)
    c_mbase, c_nbase, c_tiles = walker("collector")
    # The collector's row counter is built in a conditional expression, so Amaranth does not
    # name it: it is the one unnamed signal the collector drives.
    c_row = sig("collector", "$signal") if rows > 1 else Const(0)
    reserved = sig("array.admission", "reserved")
    waiting = sig("feeder", "out_valid") & sig("feeder", "out_last")
    inside = _systolic_occupancy(lambda path, name: sig(f"array.{path}" if path else "array", name), array)
    return inside + [
        (active | (reserved == 0) & ~sig("feeder", "out_valid"), "rows or beats held while no job is active"),
        (~active | (rows * sent == rows * c_tiles + c_row + reserved + rows * waiting),
         "tiles sent differ from the tiles finished and held"),
        (~active | (f_mbase % rows == 0) & (f_mbase < Mux(m == 0, 1, m)) & (f_nbase % cols == 0)
         & (f_nbase < Mux(n == 0, 1, n)), "feeder walker out of range"),
        (~active | ~f_done | (f_mbase == 0) & (f_nbase + cols >= n), "feeder done before the last block"),
        (~active | (c_mbase % rows == 0) & (c_mbase < Mux(m == 0, 1, m)) & (c_nbase % cols == 0)
         & (c_nbase < Mux(n == 0, 1, n)) & (c_row < rows), "collector walker out of range"),
    ]


def _gemm_occupancy(sig, params, owed, position):
    # One output job (`last`) is owed while a job is active and its final row (last column
    # block, row m - 1) has not left: the collector is past it once it is in the last column
    # block at row m or beyond (rows past m are dropped until the tile ends). With the
    # handshake's invariants: no row is held outside a job.
    if params.engine != "os":
        return []
    rows = params.array_params().rows
    m, n = sig("job", "job_m"), sig("job", "job_n")
    c_row = sig("collector", "$signal") if rows > 1 else Const(0)
    final_sent = (sig("collector", "nbase") + params.array_params().cols >= n) & \
        (sig("collector", "mbase") + c_row >= m)
    active, k = sig("job", "active"), sig("job", "job_k")
    legal = (m >= 1) & (m <= params.m_max) & (n >= 1) & (n <= params.n_max) & (k >= 1) & (k <= params.k_max)
    return _gemm_invariants(sig, params) + [
        (~active | legal, "an active job with an illegal descriptor (the inputs are assumed legal)"),
        (owed == (active & ~final_sent), "jobs owed differ from the job whose last row is to come")]


def _systolic_ws_markers(sig, params):
    # The result marker line's stages (valid, last), input side first.
    marked = data.StructLayout({"valid": 1, "last": 1})
    return [data.View(marked, sig("result_marker", f"stage{k}")) for k in range(params.rows + params.cols - 1)]


def _systolic_ws_occupancy(sig, params, owed, position):
    # A result row is owed per accepted activation row: the row's marker is in the input
    # register (in_valid), in the result marker line, or the row is in the result FIFO. The
    # admission credits (`reserved`) count the same rows.
    held = _sum([sig("", "in_valid")] + [stage.valid for stage in _systolic_ws_markers(sig, params)]) \
        + sig("result_rows.result_fifo", "level")
    checks = [(sig("", "reserved") == held, "credits differ from the rows inside")] + \
        _fifo_invariants(sig, "result_rows.result_fifo")
    if owed is not None:
        checks.insert(0, (owed == held, "rows owed differ from the rows inside"))
    return checks


def _systolic_ws_last(sig, params, owed):
    # Output jobs (rows with last) owed = the rows with last inside: a marker with valid and
    # last in the input register or the marker line, or an entry with its last bit (the top
    # bit: Cat(row, last)) in the result FIFO, in its output register or in a memory row
    # between the read pointer and the level. With the credits of the beat count, so that no
    # write meets a full FIFO.
    fifo = "result_rows.result_fifo"
    markers = [sig("", "in_valid") & sig("", "in_last")] + [stage.valid & stage.last
                                                            for stage in _systolic_ws_markers(sig, params)]
    stored = [held & entry[-1] for held, entry in sig.fifo_entries(fifo)]
    return _systolic_ws_occupancy(sig, params, None, None) + \
        [(owed == _sum(markers + stored), "row ends owed differ from the row ends inside")]


def _pim_ctrl_occupancy(sig, params, owed, position):
    # One output job (the beat with last) is owed while a job is active and its last beat
    # has not gone out (results done). With the handshake's job invariants: a beat is valid
    # only with its index below m, so never after done.
    active, done = sig("job", "active"), sig("results", "done")
    return _pim_ctrl_invariants(sig, params) + [(owed == (active & ~done), "jobs owed differ from the job "
                                                                           "whose last beat is to come")]


def _two_register_invariants(sig, path):
    # A TwoRegisterFIFO writes and reads its registers in turn: the write pointer is the read
    # pointer plus the level.
    # The write pointer is built in a tuple assignment, so Amaranth does not name it: it is
    # the one unnamed signal the queue drives.
    level = sig(path, "level")
    return [((level <= 2) & ((sig(path, "$signal") == sig(path, "read_next")) == (level != 1)),
             f"{path}: pointers out of step with the level")]


def _softmax_occupancy(sig, params, owed, position):
    # Row ends owed = the beats with last inside: in the row buffer (block-RAM part, memory
    # rows included, and head), in stage B's side line (b1 when d is registered, the exp
    # line, e_side after a table), in the exp buffer, in stage C's operand and product
    # registers and in the output buffer (a SyncFIFO: its memory rows). Stages B and C write
    # their buffers without a handshake, by credit: the credits count the same beats, so no
    # write meets a full buffer. The spec's beat counter is stage A's (a row of n_max
    # elements ends without last).
    if params.multiply_latency > 1:
        return []  # written for the one-cycle multiply (the piece products add a stage)
    layouts = _BeatLayouts(params)
    side = data.StructLayout({"valid": 1, "last": 1, "active": unsigned(params.lanes)})
    b_line = [data.View(side, sig("exp_sum.b_side", f"stage{k}")) for k in range(params.exp_latency)]
    if params.d_register:
        b_line.insert(0, data.View(side, sig("exp_sum", "b1")))
    if params.exp_spec.kind == "table":
        b_line.append(data.View(side, sig("exp_sum", "e_side")))
    # The product register's valid bit drives y.valid (its own name is lost in a tuple
    # assignment).
    c_line = [(sig("normalize", "c0_valid"), data.View(layouts.e, sig("normalize", "c0")).last),
              (sig("normalize", "y__valid"), sig("normalize", "c1_last"))]

    def ends(entries, layout):
        return [held & data.View(layout, entry).last for held, entry in entries]

    # The memories' row ends are ghost counters (each equal to its rows, asserted): one sum
    # over every memory row makes the step too hard for the solver.
    def last_of(layout):
        return lambda row: data.View(layout, row).last

    x_count, x_checks = sig.memory_count("row_buffer.ram", last_of(layouts.x))
    e_count, e_checks = sig.memory_count("exp_buffer.ram", last_of(layouts.e))
    y_count, y_checks = sig.memory_count("out_buffer", last_of(layouts.y), read=sig("", "y_taken"))
    x_entries = sig.fifo_entries("row_buffer.ram")[:1] + sig.two_register_entries("row_buffer.head")
    e_entries = sig.fifo_entries("exp_buffer.ram")[:1] + sig.two_register_entries("exp_buffer.head")
    inside = _sum(ends(x_entries, layouts.x) + [stage.valid & stage.last for stage in b_line]
                  + ends(e_entries, layouts.e) + [valid & last for valid, last in c_line]
                  + [x_count, e_count, y_count])
    e_level = sig("exp_buffer.ram", "level") + sig("exp_buffer.head", "level")
    checks = x_checks + e_checks + y_checks + [
        (owed == inside, "rows owed differ from the row ends inside"),
        (sig("exp_sum", "e_reserved") == _sum([stage.valid for stage in b_line]) + e_level,
         "exp-buffer credits differ from the beats in stage B and the buffer"),
        (sig("normalize", "y_reserved") == _sum([valid for valid, _ in c_line]) + sig("out_buffer", "level"),
         "output-buffer credits differ from the beats in stage C and the buffer"),
    ]
    checks += [(sig("exp_sum", "e_reserved") <= params.e_buffer_beats, "exp-buffer credits past the buffer"),
               (sig("normalize", "y_reserved") <= OUT_BUFFER_BEATS, "output-buffer credits past the buffer")]
    if params.row_beats > 1:
        checks.append((sig.spec["unit_beat"] == sig("row_max", "beat"), "row beat counters differ"))
    for path in ("row_buffer", "exp_buffer"):
        checks += _fifo_invariants(sig, f"{path}.ram") + _two_register_invariants(sig, f"{path}.head")
    return checks


def _attention_stages(sig, params):
    """The tags of the PV beats on their way to the output FIFO, youngest first: the feed's
    tag register, the tag delay line (the array's PV latency), the row units' tag line
    (``tag1``..``tag7``). Each is a :func:`row_tag_layout` view."""
    layout = row_tag_layout(params.d_max)
    delay = _fragment_signals(sig.fragment, ("tag_delay",), "stage")
    if not delay:
        raise LookupError("no signal 'stage0' driven in submodule 'tag_delay' of the design")
    paths = [("", "tag")] + [("tag_delay", f"stage{k}") for k in range(len(delay))] + \
        [("rows", f"tag{k}") for k in range(1, 8)]
    return [data.View(layout, sig(path, name)) for path, name in paths]


def _attention_occupancy(sig, params, owed, position):
    # One output job (the beat with last) is owed while a job is active. Ends on their way
    # (the PV beat that ends the job's final phase carries job_last): in the feed's tag, the
    # tag delay line, the row units' tags (valid & last & job_last), their output register
    # (out_valid & out_last) and the output FIFO (last bit, its memory rows included); the
    # one to come is the scheduler's pv_left (cleared by that same phase end), so a job has
    # at most one. Output beats: the scheduler reserves d per PV phase of a block's last tile
    # and frees one per beat taken, so the reservation = the FIFO's level + the beats on
    # their way + those of the running phase; with `room` it keeps the FIFO from overflowing
    # (it is written without a handshake). The job's end beat is its youngest beat: nothing
    # behind it in the pipeline, and in the FIFO it is the newest entry, so the job ends
    # with nothing inside. pv_left bounds the ends to come to one, so the PV walker's
    # counters need no invariant (that its last tile comes is liveness, not counted here),
    # and no descriptor is assumed legal: one whose d the phase counter cannot end (below)
    # keeps its job in its first phase for ever, owing its end.
    sched = lambda name: sig("scheduler", name)  # noqa: E731
    active, d = sig("", "active"), sig("", "job_d")
    pv_left, in_phase, phase_pv = sched("pv_left"), sched("in_phase"), sched("phase_pv")
    # "e": the phase's beat index (the register, or the port it drives: equal).
    e, final_beat, reserved = sched("e"), sched("final_beat"), sched("reserved")
    room, since_pv = sched("room"), sched("since_pv")
    pv = data.View(walker_layout(params.n_bits), sig("pv_walker", "tile"))
    beats_cap = params.o_fifo_beats
    tags = _attention_stages(sig, params)
    # The pipeline, youngest first: (beat, job end) per stage.
    stages = [(tag.valid & tag.last, tag.valid & tag.last & tag.job_last) for tag in tags]
    out_valid = sig("rows", "out_valid")
    stages.append((out_valid, out_valid & sig("rows", "out_last")))
    fifo = "o_fifo"
    entries = sig.fifo_entries(fifo)
    fifo_ends = [held & entry[-1] for held, entry in entries]
    ends = _sum([end for _, end in stages] + fifo_ends)
    pipeline_beats = _sum([beat for beat, _ in stages])
    pv_phase = in_phase & phase_pv
    # The phase's beat index e wraps at span = 2 ** len(e): a phase of d beats ends when
    # e + 2 == d, or on its first beat with d == 1, so d = span + 1 (past d_max) still
    # ends (its last beat at e = 0 with final_beat set) and d = 0 or d > span + 1 never does:
    # the job then stays in its first phase, a QK phase, and owes its end for ever.
    span = 1 << len(e)
    hang = (d == 0) | (d > span + 1)
    running = Mux(pv_phase & pv.last, Mux(final_beat, 1, d - e), 0)
    index_ok = Mux(final_beat, (e + 1 == d) | (d == span + 1) & (e == 0), e + 1 < d) \
        & (in_phase | (e == 0) & (final_beat == (d == 1)))
    hung = ~final_beat & sched("qk_left") & (sched("outstanding") == 0) & ~pv_phase & (reserved == 0)
    checks = [
        (owed == active, "jobs owed differ from the active job"),
        (active == pv_left + ends, "an active job differs from its end to come plus the ends on their way"),
        (~pv_phase | pv_left, "a PV phase runs with no PV phase left"),
        (~active | Mux(hang, hung, index_ok), "the phase's beat index out of step with the job's d"),
        (active | (reserved == 0), "output beats reserved while no job is active"),
        (reserved == sig(fifo, "level") + pipeline_beats + running,
         "output beats reserved differ from the beats in the FIFO, on their way and to come in the phase"),
        (reserved <= beats_cap, "output beats reserved past the FIFO"),
        ((since_pv < RowUnits.rmw) | ~room | (reserved + d <= beats_cap),
         "room for a block's beats that the FIFO does not have"),
    ]
    # The job's end is its youngest beat.
    for index, (_, end) in enumerate(stages):
        if index:
            checks.append((~end | (_sum([beat for beat, _ in stages[:index]]) == 0),
                           f"a beat behind the job's end (pipeline stage {index})"))
    inner_level = sig(fifo, "inner_level")
    depth = len(entries) - 1
    consume = sig(fifo, "consume")
    newest = [inner_level == 0]
    for row in range(depth):
        offset = Mux(consume <= row, row - consume, row + depth - consume)
        newest.append(offset + 1 == inner_level)
    checks += [
        (~_any_of(fifo_ends) | (pipeline_beats == 0), "a beat on its way behind the job's end in the FIFO"),
        (_all([~end | is_newest for end, is_newest in zip(fifo_ends, newest)]),
         "the job's end is not the FIFO's newest entry"),
    ]
    return checks + _fifo_invariants(sig, fifo)


#: Occupancy invariants of the beat-count proofs, per family: ``f(sig, params, owed, position)
#: -> [(check, message)]``; ``owed`` is the spec's counter of output beats (jobs) owed,
#: ``position`` its output beat position within a unit (``last`` check). The
#: counter relation is inductive only with the number of beats (jobs) held inside the
#: design written down; these are asserted, never assumed.
OCCUPANCY_INVARIANTS = {
    "exp": _exp_occupancy,
    "gelu": _activation_occupancy,
    "silu": _activation_occupancy,
    "tree": _broadcast_occupancy,
    "matrix2d": _broadcast_occupancy,
    "cube3d": _broadcast_occupancy,
    "systolic": _systolic_occupancy,
    "systolic_ws": _systolic_ws_occupancy,
    "gemm": _gemm_occupancy,
    "pim_ctrl": _pim_ctrl_occupancy,
    "softmax": _softmax_occupancy,
    "attention": _attention_occupancy,
}


#: Invariants of the ``last`` proofs (output ``last`` against input ``last``), per family:
#: ``f(sig, params, owed) -> [(check, message)]``, ``owed`` the spec's counter of output jobs
#: owed. They count the ``last`` bits held in a FIFO's memory rows (``sig.fifo_entries``);
#: asserted, never assumed.
LAST_INVARIANTS = {
    "systolic_ws": _systolic_ws_last,
}


#: Strengthening invariants of the stream proofs, per family: ``f(sig, params) -> [(check,
#: message)]``, where ``sig(path, name)`` is an internal signal of the elaborated design.
#: They are asserted (checked in every reachable state), never assumed.
FAMILY_INVARIANTS = {
    "systolic": _systolic_occupancy,
    "gemm": _gemm_invariants,
    "pim_ctrl": _pim_ctrl_invariants,
}


def _gemm_legal(dut, params):
    # The engine computes M x K times K x N for 1 <= M <= m_max (and N, K alike); it does not
    # reject other descriptors, and one with m = 0 ends without a `last` beat.
    desc = dut.desc.payload
    return dut.desc, ((desc.m >= 1) & (desc.m <= params.m_max) & (desc.n >= 1) & (desc.n <= params.n_max)
                      & (desc.k >= 1) & (desc.k <= params.k_max))


def _pim_ctrl_legal(dut, params):
    # The controller takes a job with m or k out of range or an empty mask and drops it
    # (sticky error, no output): a run of them owes output jobs without bound.
    job = dut.job.payload
    return dut.job, ((job.m >= 1) & (job.m <= params.m_max) & (job.k >= 1) & (job.k <= params.k_max)
                     & (job.ch_mask != 0))


#: Legal inputs a family's beat-count proof assumes (the input's legal behaviour, never a
#: property of the design): ``f(dut, params) -> (stream, condition while valid)``.
LEGAL_INPUTS = {
    "gemm": _gemm_legal,
    "pim_ctrl": _pim_ctrl_legal,
}


class FormalSpec(Elaboratable):
    """A design with the stream contract on every stream.

    The design's inputs are free (``AnySeq``) every cycle: input streams' payload and valid,
    output streams' ready, and every other input port. Input streams obey the contract by
    assumption; output streams must obey it (assertions). The spec elaborates the design
    itself, so that its family's strengthening invariants (:data:`FAMILY_INVARIANTS` with
    ``handshake``, :data:`OCCUPANCY_INVARIANTS` with ``counts``) can name internal signals;
    they are assertions, each also a signal ``invariant_<n>`` in a counterexample trace.

    Parameters
    ----------
    design : str
        Registered design name.
    params : DesignParams
        Its configuration (``interface="native"``).
    groups : sequence of str
        Property groups (:data:`PROPERTY_GROUPS`).
    count_width : int
        Width of the beat bookkeeping counters (signed).
    mutant : str, optional
        A deliberately wrong spec, whose proof must FAIL (so the properties can fail):
        ``"ready"``, the output contracts watch a ``ready`` that is always low while the
        design gets the free one; ``"counts"``, the first input unit is not counted;
        ``"starve"``, no input stream is ever valid (the cover cannot be reached).
    """

    MUTANTS = ("ready", "counts", "starve")

    def __init__(self, design: str, params, *, groups=PROPERTY_GROUPS, count_width: int = 8, mutant=None):
        for group in groups:
            if group not in PROPERTY_GROUPS:
                raise ValueError(f"group={group!r} is not legal: must be one of {', '.join(PROPERTY_GROUPS)}")
        if mutant is not None and mutant not in self.MUTANTS:
            raise ValueError(f"mutant={mutant!r} is not legal: must be one of {', '.join(self.MUTANTS)}")
        if params.interface != "native":
            raise ValueError("formal specs check the native interface: interface must be 'native'")
        self.design = design
        self.params = params
        self.groups = tuple(groups)
        self.count_width = count_width
        self.mutant = mutant
        self.dut = get_design(design).component(params)
        self.sync = ClockDomain("sync")
        #: 1 from the second cycle after the last reset: properties are checked then.
        self.armed = Signal(name="armed")
        self._spec_signals = {}

    def ports(self) -> list:
        """The ports of the exported top: ``clk`` and ``rst``."""
        return [self.sync.clk, self.sync.rst]

    def _legal_inputs(self, m):
        """Assumptions that the inputs are legal (:data:`LEGAL_INPUTS`), for ``counts`` only."""
        legal = LEGAL_INPUTS.get(self.design)
        if legal is not None and "counts" in self.groups:
            stream, condition = legal(self.dut, self.params)
            with m.If(stream.valid):
                m.d.comb += Assume(condition)

    def _drive_inputs(self, m, streams):
        dut = self.dut
        driven = set()
        for name, (s, is_input) in streams.items():
            driven.add(name)
            if is_input:
                valid = 0 if self.mutant == "starve" else AnySeq(1)
                m.d.comb += [s.valid.eq(valid), Value.cast(s.payload).eq(AnySeq(len(Value.cast(s.payload))))]
            else:
                m.d.comb += s.ready.eq(AnySeq(1))
        for name, member in dut.signature.members.items():
            if name not in driven and member.flow.name == "In" and not member.is_signature:
                port = Value.cast(getattr(dut, name))
                m.d.comb += port.eq(AnySeq(len(port)))

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.sync
        dut = self.dut
        # Elaborated here so that the strengthening invariants can name internal signals.
        m.submodules.dut = fragment = Fragment.get(dut, platform)
        # Registered, reset-less: the previous cycle's reset (init 1: the initial state is no history).
        past_rst = Signal(init=1, reset_less=True)
        m.d.sync += past_rst.eq(self.sync.rst)
        m.d.comb += self.armed.eq(~Initial() & ~past_rst)

        streams = stream_members(dut)
        self._drive_inputs(m, streams)
        self._legal_inputs(m)
        for name, (s, is_input) in streams.items():
            if is_input or "handshake" in self.groups:
                watched = s
                if self.mutant == "ready" and not is_input:
                    watched = _Watched(s.valid, Const(0), s.payload)
                m.submodules[f"contract_{name}"] = StreamContract(watched, armed=self.armed, environment=is_input,
                                                                  name=name)

        ratio = FAMILY_RATIOS.get(self.design)
        if ratio is not None:
            unit = getattr(dut, ratio.unit_in)
            fire = unit.valid & unit.ready
            unit_fire = fire & unit.payload.last if ratio.per == "last" else fire
            if ratio.max_beats is not None:
                longest = getattr(self.params, ratio.max_beats)
                beat = Signal(range(max(longest, 2)), name=f"{ratio.unit_in}_beat")
                self._spec_signals["unit_beat"] = beat
                ends = unit.payload.last | (beat == longest - 1)
                with m.If(fire):
                    m.d.sync += beat.eq(Mux(ends, 0, beat + 1))
                unit_fire = fire & ends
            if self.mutant == "counts":
                seen = Signal(name="mutant_seen_unit")
                m.d.sync += seen.eq(seen | unit_fire)
                unit_fire = unit_fire & seen
            out = getattr(dut, ratio.out)
            per_unit = ratio.out_per_unit
            if isinstance(per_unit, str):
                per_unit = getattr(self.params, per_unit)
            if "counts" in self.groups:
                m.submodules.counts = _BeatCount(unit_fire=unit_fire, out=out, armed=self.armed, per_unit=per_unit,
                                                 width=self.count_width, name=f"{ratio.unit_in}_to_{ratio.out}",
                                                 last_every=ratio.last_every)
            if "last" in self.groups and ratio.last_follows:
                last_fire = fire & unit.payload.last
                if self.mutant == "counts":
                    seen_last = Signal(name="mutant_seen_last")
                    m.d.sync += seen_last.eq(seen_last | last_fire)
                    last_fire = last_fire & seen_last
                m.submodules.job_counts = _BeatCount(
                    unit_fire=last_fire, out=out, armed=self.armed, per_unit=None,
                    width=self.count_width, name=f"{ratio.unit_in}_last_to_{ratio.out}_last")
            if "cover" in self.groups:
                done = out.valid & out.ready & (out.payload.last if _has_last(out) else 1)
                m.d.comb += Cover(self.armed & done, f"{ratio.out}: a job completes")
        self._invariants(m, fragment)
        return m

    def _invariants(self, m, fragment):
        """The family's strengthening invariants (:data:`FAMILY_INVARIANTS`, asserted)."""
        sig = _Internals(fragment, spec=self._spec_signals, module=m)
        checks = []
        counted = "counts" in self.groups and self.design in OCCUPANCY_INVARIANTS
        handshake = FAMILY_INVARIANTS.get(self.design)
        if "handshake" in self.groups and handshake is not None and \
                not (counted and handshake is OCCUPANCY_INVARIANTS[self.design]):
            checks += handshake(sig, self.params)
        if counted:
            checks += OCCUPANCY_INVARIANTS[self.design](sig, self.params, m.submodules.counts.owed,
                                                         m.submodules.counts.position)
        if "last" in self.groups and self.design in LAST_INVARIANTS:
            checks += LAST_INVARIANTS[self.design](sig, self.params, m.submodules.job_counts.owed)
        for index, (check, message) in enumerate(checks):
            # A named signal per invariant: a counterexample trace shows which one broke.
            holds = Signal(name=f"invariant_{index}")
            m.d.comb += holds.eq(check)
            with m.If(self.armed):
                m.d.comb += Assert(holds, f"{self.design} invariant {index}: {message}")


class MacEquivalence(Elaboratable):
    """Miter of the baseline and the carry-save output-stationary MAC cell.

    Both cells (:class:`~accelgen.hdl.pe.OutputStationaryPE`, ``mac="baseline"`` and
    ``mac="carry_save"``, ``overflow="wrap"``) get the same free operands and markers every
    cycle (``AnySeq``). The property, checked every cycle after reset:

    - ``base.acc == (cs.acc_sum + cs.acc_carry) mod 2**acc_width`` and the same ``done``.

    Why k-induction is sound and conclusive here: the only other state of a cell is its
    ``fresh`` flag (the next product starts a new sum), which both cells compute from the
    same markers; the miter asserts ``base.fresh == cs.fresh`` too, so the assertion set is an
    inductive invariant (depth 1; the assertions are not gated on reset, as both cells reset
    to the same state): from *any* state
    where the running sums agree, *any* operands keep them equal. The accumulator width is
    the cell's full width, so the proof covers every operand and every accumulated value.
    The cells are built without ``pipeline_product``: with it the baseline keeps a product
    register and the carry-save cell operand registers, state the miter cannot compare;
    the arithmetic (partial products, compressor tree, accumulator) is the same.

    Parameters
    ----------
    a_width, b_width : int
        Operand widths (1..8 here; signed operands).
    acc_width : int
        Accumulator width (default ``a_width + b_width + 4``).
    mutate : bool
        Build the carry-save cell with a one-bit narrower operand ``b``, so the miter must
        FAIL (the mutation check).
    a_split : (bits, value), optional
        Assume the top ``bits`` bits of operand ``a`` equal ``value`` in every cycle: one case
        of a case split. The invariant is 1-inductive (depth 1: from any state where it holds,
        one cycle with any operands keeps it), so the ``2**bits`` cases, each proved at depth
        1, together prove it for every operand. It splits the 8-bit multiplier equivalence,
        which is hard for the solver in one piece.
    """

    def __init__(self, *, a_width: int, b_width: int, acc_width: int | None = None, signed_ops: bool = True,
                 mutate: bool = False, a_split: tuple | None = None):
        self.a_split = a_split
        shape = signed if signed_ops else unsigned
        self.a_shape, self.b_shape = shape(a_width), shape(b_width)
        self.acc_width = acc_width if acc_width is not None else a_width + b_width + 4
        common = dict(a_shape=self.a_shape, acc_shape=signed(self.acc_width), overflow="wrap",
                      pipeline_product=False, forward_a=False, forward_b=False)
        self.base = OutputStationaryPE(b_shape=self.b_shape, mac="baseline", **common)
        cs_b = shape(b_width - 1) if mutate else self.b_shape
        self.cs = OutputStationaryPE(b_shape=cs_b, mac="carry_save", **common)
        self.sync = ClockDomain("sync")

    def ports(self) -> list:
        """``clk`` and ``rst``."""
        return [self.sync.clk, self.sync.rst]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.sync
        m.submodules.base = base = self.base
        m.submodules.cs = cs = self.cs
        a, b = Signal(self.a_shape), Signal(self.b_shape)
        valid, last = Signal(), Signal()
        m.d.comb += [a.eq(AnySeq(len(a))), b.eq(AnySeq(len(b))), valid.eq(AnySeq(1)), last.eq(AnySeq(1))]
        for cell in (base, cs):
            m.d.comb += [cell.a_in.eq(a), cell.b_in.eq(b), cell.valid_in.eq(valid), cell.last_in.eq(last)]
        if self.a_split is not None:
            bits, value = self.a_split
            m.d.comb += Assume(a.as_unsigned()[len(a) - bits:] == value)
        width = self.acc_width
        pair = (cs.acc_sum + cs.acc_carry)[:width]
        # Not gated on reset: both cells reset to the same state, so the equalities hold in
        # every state, the initial one and those during and after a reset included.
        m.d.comb += [
            Assert(base.acc.as_unsigned() == pair, "carry-save sum differs from the baseline accumulator"),
            Assert(base.done == cs.done, "done differs"),
            Assert(base.fresh == cs.fresh, "fresh differs"),
        ]
        m.d.comb += Cover(~Initial() & base.done & (base.acc != 0), "a nonzero dot product finishes")
        return m


def _rule_instances(rule, config, rbufs):
    """Scope instances of a timing rule: ``[(key, touches(cmd_view) -> Value)]``.

    Written from the command set's text (:mod:`accelgen.hdl.pim.isa`), not from the
    controller's gates: single-bank commands touch their bank and row buffer, ACTAB / MACAB /
    PREA every bank at their row buffer, REF every bank and buffer; a bank group is touched by
    anything touching one of its banks; WRGB and MACAB touch their global-buffer slot.
    """
    bpg = config.banks_per_group
    single = (Cmd.ACT, Cmd.PRE, Cmd.RD, Cmd.WR)
    all_bank = (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA)

    def is_any(slot, cmds):
        return _any_of([slot.cmd == cmd for cmd in cmds])

    # With one row buffer (one slot) the field cannot name another: it is not read. Its
    # legality (0) is a field rule, not a timing rule (the simulation checker has it).
    def is_rbuf(slot, rbuf):
        return (slot.rbuf == rbuf) if rbufs > 1 else Const(1)

    def is_slot(slot, index):
        return (slot.slot == index) if config.gb_slots > 1 else Const(1)

    if rule.scope == "channel":
        return [("ch", lambda slot, cmds: is_any(slot, cmds))]
    if rule.scope == "gb_slot":
        return [(f"slot{s}", lambda slot, cmds, s=s: is_any(slot, [c for c in cmds if c in (Cmd.WRGB, Cmd.MACAB)])
                 & is_slot(slot, s)) for s in range(config.gb_slots)]
    instances = []
    if rule.scope == "bank":
        for bank in range(config.banks):
            for rbuf in range(rbufs):
                def touches(slot, cmds, bank=bank, rbuf=rbuf):
                    own = (slot.bg * bpg + slot.bank == bank) & is_rbuf(slot, rbuf)
                    return (is_any(slot, [c for c in cmds if c in single]) & own
                            | is_any(slot, [c for c in cmds if c in all_bank]) & is_rbuf(slot, rbuf)
                            | is_any(slot, [c for c in cmds if c == Cmd.REF]))
                instances.append((f"b{bank}r{rbuf}", touches))
    elif rule.scope == "bank_group":
        for group in range(config.bank_groups):
            def touches(slot, cmds, group=group):
                return (is_any(slot, [c for c in cmds if c in single]) & (slot.bg == group)
                        | is_any(slot, [c for c in cmds if c in all_bank or c == Cmd.REF]))
            instances.append((f"g{group}", touches))
    return instances


def _any_of(terms):
    expr = Value.cast(0)
    for term in terms:
        expr = expr | term
    return expr


#: The commands the PIM controller issues (its units: MAC, precharge, activate, refresh,
#: vector loader; ``accelgen.generators.pim_ctrl``). Used by the strengthening invariants only.
CONTROLLER_COMMANDS = frozenset({Cmd.ACTAB, Cmd.MACAB, Cmd.PREA, Cmd.REF, Cmd.WRGB, Cmd.RDMAC, Cmd.CLRMAC})


def _gate_counter_name(rule, key) -> str:
    # The gate keeps one counter per row buffer, slot or channel (all-bank commands: every
    # bank alike), named wait_<rule>_<scope><instance> (accelgen.hdl.pim.gate).
    instance = {"bank": key[key.index("r") + 1:] if key.startswith("b") else "0",
                "gb_slot": key[len("slot"):]}.get(rule.scope, "0")
    return f"wait_{rule.name}_{rule.scope}{instance}"


def _subfragment(fragment, path):
    """The subfragment at ``path`` (submodule names), or ``None``."""
    for name in path:
        found = [sub for sub, sub_name, _ in fragment.subfragments if sub_name == name]
        if not found:
            return None
        fragment = found[0]
    return fragment


def _fragment_signals(fragment, path, prefix: str) -> dict:
    """``{name: signal}`` of the signals driven in the subfragment at ``path`` whose name
    starts with ``prefix`` (empty if there is no such subfragment)."""
    fragment = _subfragment(fragment, path)
    if fragment is None:
        return {}
    signals = {}
    for statements in fragment.statements.values():
        for statement in statements:
            for signal in statement._lhs_signals():
                if signal.name.startswith(prefix):
                    signals[signal.name] = signal
    return signals


def pim_timing_rules(config) -> list:
    """The rows of :data:`~accelgen.hdl.pim.timing.TIMING_TABLE` that constrain anything in
    ``config``: delays above one cycle (one command per cycle meets a delay of one), plus
    ``tFAW`` when an ACTAB weighs in the window."""
    rules = []
    for rule in TIMING_TABLE:
        if rule.scope == "window":
            if rule.delay(config) > 1:
                rules.append(rule)
        elif rule.delay(config) > 1:
            rules.append(rule)
    return rules


class PimTimingSpec(Elaboratable):
    """The PIM controller's command slots against its declarative timing table.

    The controller (``pim_ctrl``) gets free inputs every cycle: job descriptors and vector
    words (valid/ready streams under the stream contract's assumptions), result ``ready`` and
    read data. For every channel, every row of the timing table (:func:`pim_timing_rules`,
    so the property set grows with the table) and every instance of the row's scope, an age
    register counts the cycles since the last ``earlier`` command that touched the instance
    (saturating at the delay); a ``later`` command touching it asserts ``age >= delay``. The
    four-activate window keeps the ages and weights of the last four activations and asserts
    that an activation never brings the weight within ``tFAW`` cycles above 4. The delays come
    from ``params.config()``, the true configuration, also when the hardware is built with
    ``mutate`` (one timing value one cycle short), which must then FAIL.

    k-induction needs two kinds of strengthening invariants, asserted (so checked, never
    assumed): every checker age agrees with the remaining count of the controller's timing
    gate for the same rule and instance (found by name in the elaborated gate), an age of a
    rule whose earlier commands the controller never issues stays saturated, and the command
    slot holds only the controller's commands (:data:`CONTROLLER_COMMANDS`). With them the
    proof closes at depth 1-4 whatever the delays (tRFC is 210 cycles or more).

    Covers: ``"gemv"``, a MACAB (a GEMV pass), an RDMAC (results read) and a result beat with
    ``last`` (a complete job); ``"ref"``, a REF.

    Parameters
    ----------
    params : PimCtrlParams
        The controller's configuration (a small geometry keeps the proof small).
    rules : sequence of str, optional
        Only these table rows (default: all that apply).
    link_gates : bool
        Add the strengthening invariants (for k-induction). A mutant (``params.mutate``) is
        checked without them by BMC, so that the timing assertion itself must fail.
    covers : sequence of str
        ``"gemv"`` and/or ``"ref"``.
    starve : bool
        No job or vector word is ever valid (the mutant of the GEMV cover).
    """

    def __init__(self, params, *, rules=None, link_gates: bool = True, covers=("gemv", "ref"), starve: bool = False):
        self.params = params
        self.link_gates = link_gates
        self.covers = tuple(covers)
        self.starve = starve
        self.config = params.config()
        self.rules = [r for r in pim_timing_rules(self.config) if rules is None or r.name in rules]
        self.dut = get_design("pim_ctrl").component(params)
        self.sync = ClockDomain("sync")
        self.armed = Signal(name="armed")

    def ports(self) -> list:
        """``clk`` and ``rst``."""
        return [self.sync.clk, self.sync.rst]

    def _delay_rule(self, m, slot, channel, rule, rbufs, gate_counters):
        delay = rule.delay(self.config)
        for key, touches in _rule_instances(rule, self.config, rbufs):
            earlier = touches(slot, sorted(rule.earlier))
            later = touches(slot, sorted(rule.later))
            age = Signal(range(delay + 1), init=delay, name=f"age_{rule.name}_c{channel}_{key}")
            # >= rather than ==: an induction may start from a value the range cannot reach.
            m.d.sync += age.eq(Mux(earlier, 1, Mux(age >= delay, delay, age + 1)))
            with m.If(self.armed & later):
                m.d.comb += Assert(age >= delay, f"{rule.name} ({rule.scope} {key}, channel {channel}): "
                                                 f"fewer than {delay} cycles")
            if not self.link_gates:
                continue
            counter = gate_counters.get(_gate_counter_name(rule, key))
            if not set(rule.earlier) & CONTROLLER_COMMANDS:
                # A command the controller never issues started no delay: the age stays
                # saturated (an invariant k-induction needs, checked with the command set below).
                m.d.comb += Assert(age == delay, f"{rule.name} ({key}): an age without its command")
            elif counter is not None:
                # Strengthening invariant (checked, not assumed): the gate's down-counter is
                # what remains of the delay since the command this checker saw.
                expected = Mux(earlier, delay - 1, Mux(age >= delay, 0, delay - 1 - age))
                m.d.comb += Assert(counter == expected, f"{rule.name} ({key}): gate counter out of step")

    def _link_window(self, m, slot, ages, masses, gate_ring, window):
        """Strengthening invariants of the window (checked, not assumed): the checker's ring
        is ordered by age and holds ACTAB weights; the gate's ring of ACTAB down-counters is
        what remains of the window since the activations the checker saw."""
        weight = self.config.faw_weight_actab
        m.d.comb += [Assert(ages[i] <= ages[i + 1], "tFAW: checker ring out of order") for i in range(3)]
        m.d.comb += [Assert((age >= window) | (mass == weight), "tFAW: an activation that is not an ACTAB")
                     for age, mass in zip(ages, masses)]
        actab = slot.cmd == Cmd.ACTAB

        def remaining(age):
            return Mux(age >= window, 0, window - 1 - age)

        for i, counter in enumerate(gate_ring):
            expected = Mux(actab, window - 1 if i == 0 else remaining(ages[i - 1]), remaining(ages[i]))
            m.d.comb += Assert(counter == expected, f"tFAW: gate ring entry {i} out of step")

    def _window_rule(self, m, slot, channel, rule, gate_ring):
        window = rule.delay(self.config)
        weights = [(Cmd.ACT, 1), (Cmd.ACTAB, self.config.faw_weight_actab)]
        weight = Mux(slot.cmd == Cmd.ACT, 1, Mux(slot.cmd == Cmd.ACTAB, self.config.faw_weight_actab, 0))
        activate = _any_of([slot.cmd == cmd for cmd, w in weights if w > 0])
        ages = [Signal(range(window + 1), init=window, name=f"faw_age_c{channel}_{i}") for i in range(4)]
        masses = [Signal(3, name=f"faw_weight_c{channel}_{i}") for i in range(4)]
        in_window = sum(Mux(age < window, mass, 0) for age, mass in zip(ages, masses))
        with m.If(self.armed & activate):
            m.d.comb += Assert(in_window + weight <= 4, f"tFAW (channel {channel}): activations within "
                                                       f"{window} cycles weigh more than 4")
        if self.link_gates and gate_ring:
            self._link_window(m, slot, ages, masses, gate_ring, window)
        with m.If(activate):
            m.d.sync += [ages[0].eq(1), masses[0].eq(weight)]
            for i in range(1, 4):
                m.d.sync += [ages[i].eq(Mux(ages[i - 1] >= window, window, ages[i - 1] + 1)),
                             masses[i].eq(masses[i - 1])]
        with m.Else():
            m.d.sync += [age.eq(Mux(age >= window, window, age + 1)) for age in ages]

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.sync
        dut = self.dut
        # Elaborated here so that the invariants can name the timing gates' counters.
        m.submodules.dut = fragment = Fragment.get(dut, platform)
        past_rst = Signal(init=1, reset_less=True)
        m.d.sync += past_rst.eq(self.sync.rst)
        m.d.comb += self.armed.eq(~Initial() & ~past_rst)
        streams = stream_members(dut)
        for name, (s, is_input) in streams.items():
            if is_input:
                valid = 0 if self.starve else AnySeq(1)
                m.d.comb += [s.valid.eq(valid), Value.cast(s.payload).eq(AnySeq(len(Value.cast(s.payload))))]
                m.submodules[f"contract_{name}"] = StreamContract(s, armed=self.armed, environment=True, name=name)
            else:
                m.d.comb += s.ready.eq(AnySeq(1))
        m.d.comb += Value.cast(dut.rdata).eq(AnySeq(len(Value.cast(dut.rdata))))

        rbufs = 2 if self.config.dual_row_buffer else 1
        for channel in range(self.params.channels):
            slot = dut.cmd[channel]
            counters = _fragment_signals(fragment, ("arbiter", f"gate_{channel}"), "wait_")
            for rule in self.rules:
                if rule.scope == "window":
                    if self.config.faw_weight_actab > 0:
                        ring = _fragment_signals(fragment, ("arbiter", f"gate_{channel}"), "faw_")
                        self._window_rule(m, slot, channel, rule, [ring[name] for name in sorted(ring)])
                else:
                    self._delay_rule(m, slot, channel, rule, rbufs, counters)
            if self.link_gates:
                m.d.comb += Assert(_any_of([slot.cmd == cmd for cmd in CONTROLLER_COMMANDS | {Cmd.NOP}]),
                                   f"channel {channel}: a command outside the controller's set")
        first = dut.cmd[0].cmd
        if "gemv" in self.covers:
            m.d.comb += [
                Cover(self.armed & (first == Cmd.MACAB), "a MACAB issues (a GEMV pass)"),
                Cover(self.armed & (first == Cmd.RDMAC), "an RDMAC issues (results are read)"),
                Cover(self.armed & dut.res.valid & dut.res.ready & dut.res.payload.last, "a job completes"),
            ]
        if "ref" in self.covers:
            m.d.comb += Cover(self.armed & (first == Cmd.REF), "a REF issues")
        return m
