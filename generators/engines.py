"""Broadcast dot-product engines: what the ``tree``, ``matrix2d`` and ``cube3d`` designs share.

The three engines are one structure at different shapes: a ``rows x cols`` grid of
:class:`~accelgen.hdl.trees.DotProductAccumulator` units, each reducing ``depth`` products
per beat and accumulating over the beats of a tile (output stationary, operands broadcast,
no skew):

- ``tree`` (multiplier-adder tree): ``rows = 1``; ``cols`` trees of ``depth`` products
  share one activation vector;
- ``matrix2d`` (2D matrix, outer product): ``depth = 1``; every beat is the outer product of
  a column of A and a row of B;
- ``cube3d`` (3D cube): ``rows x cols x depth`` multipliers with an adder tree per output.

Stream interface (common to all three, so a GEMM engine can drive them uniformly)
-------------------------------------------------------------------------------
- ``a``: ``{data: [rows][depth] A operands, last}``. Beat ``k`` of a tile carries
  ``A[i, k*depth + d]`` at ``data[i][d]``; ``last`` marks the tile's final beat (its final
  K-step).
- ``b``: ``{data: [depth][cols] B operands}``, beat-aligned with ``a``: beat ``k`` carries
  ``B[k*depth + d, j]`` at ``data[d][j]``. ``a`` and ``b`` transfer together.
- ``c``: ``rows`` beats per tile, row 0 first, each ``{data: [cols] results, last}`` with
  ``last`` on the tile's final row.

The output-stationary ``systolic`` array is the ``depth = 1`` case of this interface (its
``a.data`` is ``[rows]``, not ``[rows][1]``).

Timing (no stalls on either side): tiles run back to back at full rate (a tile's first beat
may follow the previous tile's last beat in the next cycle), except that tile ends are at
least ``rows`` cycles apart so results leave at one row per cycle; the first result row of a
tile is on ``c`` :data:`RESULT_LATENCY` cycles after its last beat was accepted. Busy cycles
for ``T`` tiles of ``K`` beats: ``K + (T-1)*max(K, rows) + rows + RESULT_LATENCY - 1``
(:meth:`~accelgen.generators.params.TileEngineParams.busy_cycles`). With ``mac="booth_serial"`` a beat takes ``max(1, nonzero radix-4
Booth digit positions of its A operands)`` cycles (``a.ready``/``b.ready`` low meanwhile) and
results come one cycle later; :func:`booth_serial_cycles` gives the busy cycles.

Counters: ``cycle_count`` counts busy cycles (a tile being accepted, or results in flight or
waiting to leave), ``mac_count`` the multiply-accumulates performed (``rows*cols*depth`` per
accepted beat).

The stream shell around the grid (operand admission, result rows, busy counters; the
components of :mod:`accelgen.hdl.tile_io`) is :class:`TileEngine`, which the output-stationary
``systolic`` array shares: each engine supplies only its grid.
"""

import dataclasses

import numpy as np
from amaranth.hdl import Module, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In

from ..hdl.booth_serial import BoothSerialGrid, beat_steps
from ..hdl.layouts import TileStreamSignature
from ..hdl.tile_io import BusyCounters, ResultRows, RowDrain, TileAdmission, engine_outputs
from ..hdl.trees import DotProductAccumulator, ReductionPlan, reduction_plan, stages_for_depth
from . import DesignComponent
from .params import TileEngineParams, param

__all__ = ["RESULT_LATENCY", "GridResults", "TileEngine", "EngineParams", "BroadcastEngine", "booth_serial_cycles",
           "serial_cycles"]

#: Cycles from accepting a tile's last beat to its first result row on ``c``: the input
#: register, the accumulate stage, the write of row 0 into the result FIFO, and its output
#: register.
RESULT_LATENCY = 4


@dataclasses.dataclass(frozen=True)
class EngineParams(TileEngineParams):
    """Operand, accumulator and interface parameters shared by the broadcast engines (see
    :class:`~accelgen.generators.params.MacArrayParams` for the operand fields).

    The grid (``rows``, ``cols``, ``depth``) is defined by each engine: a field where the
    engine lets it vary, a fixed property otherwise.

    Parameters
    ----------
    k_max : int
        Longest tile (beats) the accumulators are sized for (1..65536); a tile reduces
        ``K * depth`` products per output.
    overflow : str or None
        ``"wrap"`` or ``"saturate"`` (clamp after every beat; each beat's sum of ``depth``
        products is exact).
    mac : str
        ``same_weight_tree`` needs ``depth >= 2``. ``booth_serial`` takes
        ``max(1, nonzero Booth digit positions)`` cycles per beat (:func:`booth_serial_cycles`).
    pipeline : int or None
        Register stages in each output's reduction, between the operand registers and the
        accumulate loop (``0..`` the reduction's feed-forward steps; ``len(plan.steps)`` of
        :func:`accelgen.hdl.trees.reduction_plan`), placed where they balance the estimated
        logic depth; each adds one cycle to :attr:`result_latency`. Default: from
        ``depth_target``, else 0. Not with ``mac="booth_serial"``.
    depth_target : int or None
        Logic-depth target in two-input gate levels (4..512): ``pipeline`` becomes the fewest
        stages whose estimated depth per stage meets it (:func:`accelgen.hdl.trees.stages_for_depth`;
        where even one step or the accumulate loop is deeper, the stages that get closest).
        Give ``pipeline`` or ``depth_target``, not both.
    """

    pipeline: int | None = param(None, "register stages in each output's reduction (default: from depth_target, "
                                 "else 0)", min=0, max=64)
    depth_target: int | None = param(None, "logic depth target (2-input gate levels) that sets pipeline "
                                     "automatically", min=4, max=512)

    #: Registry name of the engine (set by each subclass).
    engine = "engine"
    digest_neutral = {**TileEngineParams.digest_neutral, "pipeline": 0, "depth_target": None}

    @property
    def reduction_plan(self) -> ReductionPlan:
        """Estimated depth of each output's reduction steps and loop (:func:`~accelgen.hdl.trees.reduction_plan`)."""
        return self._plan(self.acc_width, self.overflow)

    def _plan(self, acc_width, overflow) -> ReductionPlan:
        acc_shape = signed(acc_width) if self.acc_signed else unsigned(acc_width)
        return reduction_plan(a_shape=self.a_shape, b_shape=self.b_shape, depth=self.depth, acc_shape=acc_shape,
                              mac=self.mac, overflow=overflow, final_adder=self.final_adder)

    def resolve(self):
        pipeline = self.pipeline
        if self.depth_target is not None and self.mac != "booth_serial":
            plan = self._plan(self.acc_width or self.safe_acc_width, self.overflow or "wrap")
            derived = stages_for_depth(plan, self.depth_target)
            # Both may be given when they agree (a resolved configuration read back from its
            # params.json); otherwise the two say different things.
            if pipeline is not None and pipeline != derived:
                raise ValueError(f"pipeline={pipeline} contradicts depth_target={self.depth_target} (which derives "
                                 f"pipeline={derived}): give one of them")
            pipeline = derived
        elif pipeline is None:
            pipeline = 0
        # The derived defaults below (out_fifo_depth) depend on the result latency.
        object.__setattr__(self, "pipeline", pipeline)
        return {**super().resolve(), "pipeline": pipeline}

    def check(self):
        super().check()
        if self.mac == "booth_serial" and self.pipeline:
            raise ValueError(f"pipeline={self.pipeline} is not legal with mac='booth_serial' (a digit-serial grid "
                             "has no reduction tree to pipeline): must be 0")
        if self.mac != "booth_serial":
            steps = len(self.reduction_plan.steps)
            if self.pipeline > steps:
                raise ValueError(f"pipeline={self.pipeline} is out of range: must be an integer in 0..{steps} (the "
                                 f"feed-forward steps of a {self.depth}-product {self.mac} reduction)")

    @property
    def result_latency(self) -> int:
        """Cycles from a tile's last accepted beat to its first result row on ``c``:
        :data:`RESULT_LATENCY`, plus one for ``mac="carry_save"`` (a register between the row
        select and the final adder) and for ``mac="booth_serial"`` (counted from the final
        cycle of the tile's last beat; digit selection and accumulation are two stages), plus
        :attr:`pipeline`."""
        return RESULT_LATENCY + (self.mac in ("booth_serial", "carry_save")) + self.pipeline

    def mac_rejection(self):
        if self.mac == "same_weight_tree" and self.depth < 2:
            return (f"mac='same_weight_tree' is not legal for {self.engine} with depth={self.depth}: it merges the "
                    "partial products of several products per output, and needs depth >= 2; legal: 'baseline', "
                    "'carry_save', 'booth_serial'")
        return None


def booth_serial_cycles(params: EngineParams, a_beats, last) -> int:
    """Busy cycles of a stall-free run of ``mac="booth_serial"`` on the given beats.

    ``a_beats`` is ``(beats, rows, depth)`` (the A operands), ``last`` ends each tile. Beat
    ``b`` takes ``s_b = max(1, nonzero Booth digit positions of its A operands)`` cycles
    (:func:`accelgen.hdl.booth_serial.beat_steps`) and the next beat is accepted in its final
    cycle, so beats are accepted at ``t_{b+1} = t_b + s_b``; a tile's last beat is accepted
    no earlier than ``rows - 1`` cycles after the previous tile's final cycle (so result rows
    leave one per cycle), and the last tile's rows leave ``result_latency`` cycles after its
    final cycle: ``t_last + s_last - 1 + rows + result_latency``. With one cycle per beat
    this is ``params.busy_cycles``. Exact for the default ``out_fifo_depth``.
    """
    return serial_cycles(params, beat_steps(a_beats, params.a_width, params.a_signed), last)


def serial_cycles(params: EngineParams, steps, last) -> int:
    """Busy cycles of a stall-free run of a serial grid whose beat ``b`` takes ``steps[b] >= 1``
    cycles (the recurrence of :func:`booth_serial_cycles`; e.g. a constant ``steps`` gives a
    fixed-latency bit-serial grid)."""
    steps = np.broadcast_to(np.asarray(steps, dtype=np.int64), np.shape(last))
    last = np.asarray(last).astype(bool)
    if len(last) != len(steps) or not last[-1]:
        raise ValueError("steps and last must have one entry per beat, and the final beat must end a tile")
    accepted = 0
    previous_end = None  # final cycle of the previous tile
    for beat, (count, ends_tile) in enumerate(zip(steps.tolist(), last.tolist())):
        if beat:
            accepted += steps[beat - 1]
        if ends_tile:
            if previous_end is not None and params.rows > 1:
                accepted = max(accepted, previous_end + params.rows - 1)
            previous_end = accepted + count
    return int(accepted + steps[-1] - 1 + params.rows + params.result_latency)


@dataclasses.dataclass(frozen=True)
class GridResults:
    """What a tile engine's grid hands to the shell (:class:`~accelgen.hdl.tile_io.ResultRows`).

    Attributes
    ----------
    results : list of list
        ``results[i][j]``: the held result of row ``i``, column ``j`` (a value, or a
        ``(sum, carry)`` pair with ``mac="carry_save"``).
    select : list of list
        ``select[i][j]``: row ``i`` of column ``j`` leaves this cycle.
    write : Value or list of Value
        A row leaves this cycle (one strobe, or one per column of a skewed grid).
    ready : Value or None
        The grid takes a beat this cycle (``None``: every cycle).
    tile_end : Value or None
        The grid's final cycle of a tile, when the grid decides it (``None``: when the tile's
        final beat is taken).
    """

    results: list
    select: list
    write: object
    ready: Value | None = None
    tile_end: Value | None = None


class TileEngine(DesignComponent):
    """The valid/ready shell of an output-stationary tile engine around its grid.

    A subclass defines its operand streams (:meth:`operand_signatures`) and its grid
    (:meth:`elaborate_grid`); the shell joins the operand streams with credits for the result
    rows (:class:`~accelgen.hdl.tile_io.TileAdmission`), takes finished rows out of the grid
    onto ``c`` (:class:`~accelgen.hdl.tile_io.ResultRows`) and counts busy cycles and
    multiply-accumulates (:class:`~accelgen.hdl.tile_io.BusyCounters`).

    Members
    -------
    a : In(TileStreamSignature(A element, rows))
        The A operands of one beat; ``last`` on the tile's final beat.
    b : In(TileStreamSignature(B element, lanes, last=False))
        The B operands of the same beat; transferred together with ``a``.
    c : Out(TileStreamSignature(acc_shape, cols))
        One row of the result tile per beat, row 0 first; ``last`` on the final row.

    ``a.ready`` and ``b.ready`` are high together and only while both streams are valid. A
    beat with ``last`` set waits until the result buffer has room for the whole tile and the
    previous tile ended at least ``rows`` cycles ago, so ``ready`` may depend on
    ``a.payload.last`` (``c.valid`` never depends on ``c.ready``).
    cycle_count : Out(counter_width)
        Busy cycles since reset.
    mac_count : Out(counter_width)
        Multiply-accumulates performed since reset.
    """

    #: The family's parameter class (set by each subclass).
    params_class = TileEngineParams
    #: The grid's columns finish a row in different cycles (one result buffer per column).
    skewed = False

    def members(self):
        params = self.params
        self._a_signature, self._b_signature = self.operand_signatures(params)
        return {
            "a": In(self._a_signature),
            "b": In(self._b_signature),
            **engine_outputs(params.acc_shape, params.cols, params.counter_width),
        }

    @classmethod
    def operand_signatures(cls, params) -> tuple[TileStreamSignature, TileStreamSignature]:
        """The signatures of the ``a`` and ``b`` streams."""
        raise NotImplementedError

    def elaborate_grid(self, m: Module, beat) -> GridResults:
        """Build the grid in ``m``; ``beat`` is the admitted operand stream (``payload.a``,
        ``payload.b``, ``payload.last``; a beat enters when ``valid & ready``)."""
        raise NotImplementedError

    def manifest(self) -> dict:
        """Timing facts for the per-configuration manifest."""
        p = self.params
        return {
            **p.result_facts(),
            "grid": {"rows": p.rows, "cols": p.cols, "depth": p.depth},
            "latency": {
                "last_beat_to_first_row": p.skew + p.result_latency,
                "cycles_per_tile": f"max(K, {p.rows})",
                "busy_cycles": f"K + (T-1)*max(K,{p.rows}) + {p.rows + p.skew + p.result_latency - 1}",
                # Shorter tiles wait for the result drain (out_fifo_depth below the default).
                "stall_free_k": p.stall_free_k,
            },
        }

    def elaborate(self, platform):
        p = self.params
        m = Module()
        admission = m.submodules.admission = TileAdmission(
            self._a_signature, self._b_signature, rows=p.rows, result_rows=p.out_fifo_depth,
            external_tile_end=self.elaborates_serial_grid())
        wiring.connect(m, wiring.flipped(self.a), admission.a)
        wiring.connect(m, wiring.flipped(self.b), admission.b)

        grid = self.elaborate_grid(m, admission.o)
        m.d.comb += admission.o.ready.eq(1 if grid.ready is None else grid.ready)
        if grid.tile_end is not None:
            m.d.comb += admission.tile_end.eq(grid.tile_end)

        rows_out = m.submodules.result_rows = ResultRows(
            p.acc_shape, rows=p.rows, cols=p.cols, depth=p.out_fifo_depth, carry_save=self.carry_save_results(),
            per_column=self.skewed, final_adder=p.final_adder, row_select=self.row_select())
        for i in range(p.rows):
            for j in range(p.cols):
                result = grid.results[i][j]
                if self.carry_save_results():
                    m.d.comb += [rows_out.results[i][j].sum.eq(result[0]), rows_out.results[i][j].carry.eq(result[1])]
                else:
                    m.d.comb += rows_out.results[i][j].eq(result)
                m.d.comb += rows_out.select[i][j].eq(grid.select[i][j])
        write = grid.write if isinstance(grid.write, (list, tuple)) else [grid.write]
        for j, strobe in enumerate(write):
            m.d.comb += rows_out.write[j].eq(strobe)
        wiring.connect(m, rows_out.c, wiring.flipped(self.c))
        m.d.comb += admission.release.eq(rows_out.row_out)

        counters = m.submodules.counters = BusyCounters(counter_width=p.counter_width, macs_per_beat=p.macs_per_beat,
                                                        adder=p.final_adder)
        beat = admission.o
        m.d.comb += [
            counters.beat.eq(beat.valid & beat.ready),
            counters.last.eq(beat.payload.last),
            counters.in_flight.eq(admission.pending),
            self.cycle_count.eq(counters.cycle_count),
            self.mac_count.eq(counters.mac_count),
        ]
        return m

    def elaborates_serial_grid(self) -> bool:
        """Whether the grid takes a beat over several cycles and reports its tile ends itself."""
        return False

    def carry_save_results(self) -> bool:
        """Whether the grid hands out carry-save pairs (added once, on the way out)."""
        return self.params.mac == "carry_save"

    def row_select(self) -> str:
        """Circuit of the result rows' select (:data:`~accelgen.hdl.tile_io.ROW_SELECTS`)."""
        return "and_or"


class BroadcastEngine(TileEngine):
    """A ``rows x cols`` grid of dot-product accumulators of ``depth`` products (see the module
    docstring); ``a.data`` is ``[rows][depth]`` and ``b.data`` is ``[depth][cols]``."""

    params_class = EngineParams

    @classmethod
    def operand_signatures(cls, params):
        return (TileStreamSignature(data.ArrayLayout(params.a_shape, params.depth), params.rows),
                TileStreamSignature(data.ArrayLayout(params.b_shape, params.cols), params.depth, last=False))

    def manifest(self) -> dict:
        manifest = super().manifest()
        if self.params.mac == "booth_serial":
            manifest["latency"] = {
                "last_beat_final_cycle_to_first_row": self.params.result_latency - 1,
                "cycles_per_beat": "max(1, nonzero Booth digit positions of the beat's A operands)",
                "busy_cycles": "booth_serial_cycles(params, a_beats, last)",
            }
        return manifest

    def elaborates_serial_grid(self) -> bool:
        return self.params.mac == "booth_serial"

    def elaborate_grid(self, m, beat):
        p = self.params
        if p.mac == "booth_serial":
            return self._serial_grid(m, beat)
        # Input registers load every cycle (in_valid says whether they hold a beat): an enable
        # would hang every operand on the admission logic's output.
        in_valid = Signal()
        in_last = Signal()
        in_a = Signal.like(beat.payload.a, name="in_a")
        in_b = Signal.like(beat.payload.b, name="in_b")
        m.d.sync += [
            in_valid.eq(beat.valid & beat.ready),
            in_last.eq(beat.payload.last),
            in_a.eq(beat.payload.a),
            in_b.eq(beat.payload.b),
        ]
        # Row i shares in_a[i]; column j shares column j of in_b.
        units = [[None] * p.cols for _ in range(p.rows)]
        for i in range(p.rows):
            for j in range(p.cols):
                unit = m.submodules[f"dot_{i}_{j}"] = DotProductAccumulator(
                    a_shape=p.a_shape, b_shape=p.b_shape, depth=p.depth, acc_shape=p.acc_shape,
                    overflow=p.overflow, mac=p.mac, pipeline=p.pipeline, final_adder=p.final_adder,
                )
                units[i][j] = unit
                m.d.comb += [unit.valid.eq(in_valid), unit.last.eq(in_last)]
                for d in range(p.depth):
                    m.d.comb += [unit.a[d].eq(in_a[i][d]), unit.b[d].eq(in_b[d][j])]
        if p.mac == "carry_save":
            results = [[(unit.result_sum, unit.result_carry) for unit in row] for row in units]
        else:
            results = [[unit.result for unit in row] for row in units]
        return self._drained(m, units[0][0].done, results)

    def _serial_grid(self, m, beat):
        p = self.params
        # Digit-serial: a beat stays in the grid for one or more cycles; the next one is taken
        # in its final cycle. The grid holds the beat in its own input registers.
        grid = m.submodules.grid = BoothSerialGrid(a_shape=p.a_shape, b_shape=p.b_shape, rows=p.rows, cols=p.cols,
                                                   depth=p.depth, acc_shape=p.acc_shape)
        m.d.comb += [
            grid.a.eq(beat.payload.a),
            grid.b.eq(beat.payload.b),
            grid.load.eq(beat.valid & beat.ready),
            grid.last.eq(beat.payload.last),
        ]
        results = [[grid.result[i][j] for j in range(p.cols)] for i in range(p.rows)]
        drained = self._drained(m, grid.done, results)
        return dataclasses.replace(drained, ready=grid.ready, tile_end=grid.tile_end)

    def _drained(self, m, done, results) -> GridResults:
        # The finished tile is held in the result registers and leaves one row per cycle,
        # row 0 in the cycle of `done`.
        drain = m.submodules.row_drain = RowDrain(self.params.rows)
        m.d.comb += drain.done.eq(done)
        select = [[drain.select[i]] * self.params.cols for i in range(self.params.rows)]
        return GridResults(results=results, select=select, write=drain.write)
