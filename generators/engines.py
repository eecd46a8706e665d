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
(:func:`analytic_cycles`). With ``mac="booth_serial"`` a beat takes ``max(1, nonzero radix-4
Booth digit positions of its A operands)`` cycles (``a.ready``/``b.ready`` low meanwhile) and
results come one cycle later; :func:`booth_serial_cycles` gives the busy cycles.

Counters: ``cycle_count`` counts busy cycles (a tile being accepted, or results in flight or
waiting to leave), ``mac_count`` the multiply-accumulates performed (``rows*cols*depth`` per
accepted beat).
"""

import dataclasses
import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.arith import OVERFLOW_MODES
from ..hdl.booth_serial import BoothSerialGrid, beat_steps
from ..hdl.mac import MAC_STYLES, prefix_add
from ..hdl.trees import DotProductAccumulator
from ..hdl.util import ceil_div
from .params import DesignParams, OperandShapes, param

__all__ = ["RESULT_LATENCY", "EngineParams", "BroadcastEngine", "analytic_cycles", "booth_serial_cycles", "serial_cycles",
           "ideal_cycles"]

#: Cycles from accepting a tile's last beat to its first result row on ``c``: the input
#: register, the accumulate stage, the write of row 0 into the result FIFO, and its output
#: register.
RESULT_LATENCY = 4


@dataclasses.dataclass(frozen=True)
class EngineParams(OperandShapes, DesignParams):
    """Operand, accumulator and interface parameters shared by the broadcast engines.

    The grid (``rows``, ``cols``, ``depth``) is defined by each engine: a field where the
    engine lets it vary, a fixed property otherwise.

    Parameters
    ----------
    a_width, b_width : int
        Operand widths in bits (2..16).
    a_signed, b_signed : bool
        Whether operands are two's complement (else unsigned).
    k_max : int
        Longest tile (beats) the accumulators are sized for (1..65536); a tile reduces
        ``K * depth`` products per output.
    acc_width : int or None
        Accumulator and result width (2..64). Default: the narrowest width that cannot
        overflow for ``k_max`` beats. A narrower width needs an explicit ``overflow``.
    overflow : str or None
        ``"wrap"`` (two's complement modulo ``2**acc_width``) or ``"saturate"`` (clamp after
        every beat; each beat's sum of ``depth`` products is exact). Must be given when
        ``acc_width`` is narrower than the safe width; otherwise ``"wrap"``.
    out_fifo_depth : int or None
        Result rows buffered (``rows``..4096). Default: enough that back-to-back tiles never
        wait for the result drain when ``c`` is always ready.
    counter_width : int
        Width of ``cycle_count`` and ``mac_count`` (16..64); they wrap.
    mac : str
        MAC micro-architecture, one of :data:`accelgen.hdl.mac.MAC_STYLES`; all give
        bit-identical results. ``carry_save`` and ``booth_serial`` need ``overflow="wrap"``;
        ``same_weight_tree`` needs ``depth >= 2``. ``booth_serial`` takes
        ``max(1, nonzero Booth digit positions)`` cycles per beat (:func:`booth_serial_cycles`).
    """

    a_width: int = param(8, "A operand width in bits", min=2, max=16)
    b_width: int = param(8, "B operand width in bits", min=2, max=16)
    a_signed: bool = param(True, "A operands are signed (two's complement)")
    b_signed: bool = param(True, "B operands are signed (two's complement)")
    k_max: int = param(64, "longest tile (beats) the accumulator is sized for", min=1, max=65536)
    acc_width: int | None = param(None, "accumulator/result width; default: never overflows for k_max", min=2, max=64)
    overflow: str | None = param(None, "accumulator overflow mode", choices=OVERFLOW_MODES)
    out_fifo_depth: int | None = param(None, "result rows buffered; default: no drain stalls", min=1, max=4096)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)
    mac: str = param("baseline", "MAC micro-architecture (bit-identical results)", choices=MAC_STYLES)

    #: Registry name of the engine (set by each subclass).
    engine = "engine"

    @property
    def result_latency(self) -> int:
        """Cycles from a tile's last accepted beat to its first result row on ``c``:
        :data:`RESULT_LATENCY`, plus one for ``mac="carry_save"`` (a register between the row
        select and the final adder) and for ``mac="booth_serial"`` (counted from the final
        cycle of the tile's last beat; digit selection and accumulation are two stages)."""
        return RESULT_LATENCY + (self.mac in ("booth_serial", "carry_save"))

    @property
    def reduction_length(self) -> int:
        """Longest dot product of one accumulator: ``k_max`` beats of ``depth`` products."""
        return self.k_max * self.depth

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates per accepted beat: ``rows * cols * depth``."""
        return self.rows * self.cols * self.depth

    def resolve(self):
        derived = {}
        if self.acc_width is None:
            derived["acc_width"] = self.safe_acc_width
        if self.out_fifo_depth is None:
            # A tile's rows stay reserved from its last beat until its last row leaves,
            # i.e. for result_latency + rows cycles; tile ends are >= rows cycles apart.
            in_flight = ceil_div(self.result_latency + self.rows, self.rows)
            derived["out_fifo_depth"] = self.rows * in_flight
        if self.overflow is None and (self.acc_width is None or self.acc_width >= self.safe_acc_width):
            derived["overflow"] = "wrap"
        return derived

    def check(self):
        if self.overflow is None:
            raise ValueError(
                f"acc_width={self.acc_width} can overflow for k_max={self.k_max} (the safe width is "
                f"{self.safe_acc_width}); set overflow to 'wrap' or 'saturate'"
            )
        if self.out_fifo_depth < self.rows:
            raise ValueError(
                f"out_fifo_depth={self.out_fifo_depth} is out of range: must be an integer in "
                f"{self.rows}..4096 (at least rows={self.rows}, one tile of results)"
            )
        if self.mac == "carry_save" and self.overflow == "saturate":
            raise ValueError(
                "overflow='saturate' is not legal with mac='carry_save': a carry-save accumulator cannot be "
                "clamped after every addition; use overflow='wrap' (with acc_width >= the safe width "
                f"{self.safe_acc_width} nothing wraps for k_max={self.k_max}) or another mac"
            )
        if self.mac == "booth_serial" and self.overflow == "saturate":
            raise ValueError(
                "overflow='saturate' is not legal with mac='booth_serial': it adds a beat's products one Booth "
                "digit position at a time, so there is no per-beat sum to clamp; use overflow='wrap' (with "
                f"acc_width >= the safe width {self.safe_acc_width} nothing wraps for k_max={self.k_max}) or another mac"
            )
        if self.mac == "same_weight_tree" and self.depth < 2:
            raise ValueError(
                f"mac='same_weight_tree' is not legal for {self.engine} with depth={self.depth}: it merges the "
                "partial products of several products per output, and needs depth >= 2; legal: 'baseline', "
                "'carry_save'"
            )


def analytic_cycles(params: EngineParams, tiles: int, k: int) -> int:
    """Busy cycles for ``tiles`` back-to-back tiles of ``k`` beats with no stalls.

    One beat per cycle; tile ends at least ``rows`` cycles apart; the last tile's rows leave
    ``result_latency`` cycles after its final beat, one per cycle. Exact for the default
    ``out_fifo_depth`` (a smaller FIFO can add drain stalls).
    """
    return k + (tiles - 1) * max(k, params.rows) + params.rows + params.result_latency - 1


def booth_serial_cycles(params: EngineParams, a_beats, last) -> int:
    """Busy cycles of a stall-free run of ``mac="booth_serial"`` on the given beats.

    ``a_beats`` is ``(beats, rows, depth)`` (the A operands), ``last`` ends each tile. Beat
    ``b`` takes ``s_b = max(1, nonzero Booth digit positions of its A operands)`` cycles
    (:func:`accelgen.hdl.booth_serial.beat_steps`) and the next beat is accepted in its final
    cycle, so beats are accepted at ``t_{b+1} = t_b + s_b``; a tile's last beat is accepted
    no earlier than ``rows - 1`` cycles after the previous tile's final cycle (so result rows
    leave one per cycle), and the last tile's rows leave ``result_latency`` cycles after its
    final cycle: ``t_last + s_last - 1 + rows + result_latency``. With one cycle per beat
    this is :func:`analytic_cycles`. Exact for the default ``out_fifo_depth``.
    """
    return serial_cycles(params, beat_steps(a_beats, params.a_width, params.a_signed), last)


def serial_cycles(params: EngineParams, steps, last) -> int:
    """Busy cycles of a stall-free run of a serial grid whose beat ``b`` takes ``steps[b] >= 1``
    cycles (the recurrence of :func:`booth_serial_cycles`; e.g. a constant ``steps`` gives a
    fixed-latency bit-serial grid)."""
    import numpy as np

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


def ideal_cycles(params: EngineParams, m: int, n: int, k: int) -> int:
    """Cycles if every multiplier did useful work every cycle: ``M*N*K / (rows*cols*depth)``."""
    return ceil_div(m * n * k, params.macs_per_beat)


class BroadcastEngine(wiring.Component):
    """A ``rows x cols`` grid of dot-product accumulators of ``depth`` products, with the
    common valid/ready stream interface (see the module docstring).

    Members
    -------
    a : In(stream.Signature(StructLayout({"data": ArrayLayout(ArrayLayout(a_shape, depth), rows), "last": 1})))
    b : In(stream.Signature(StructLayout({"data": ArrayLayout(ArrayLayout(b_shape, cols), depth)})))
    c : Out(stream.Signature(StructLayout({"data": ArrayLayout(acc_shape, cols), "last": 1})))
    cycle_count : Out(counter_width)
        Busy cycles since reset.
    mac_count : Out(counter_width)
        Multiply-accumulates performed since reset.

    ``a.ready`` and ``b.ready`` are high together and only while both streams are valid. A
    beat with ``last`` set waits until the result FIFO has room for the whole tile and the
    previous tile ended at least ``rows`` cycles ago, so ``ready`` may depend on
    ``a.payload.last`` (``c.valid`` never depends on ``c.ready``).
    """

    params_class = EngineParams

    def __init__(self, params):
        if not isinstance(params, self.params_class):
            raise TypeError(f"params must be a {self.params_class.__name__}, not {params!r}")
        self.params = params
        p = params
        a_layout = data.StructLayout({"data": data.ArrayLayout(data.ArrayLayout(p.a_shape, p.depth), p.rows), "last": 1})
        b_layout = data.StructLayout({"data": data.ArrayLayout(data.ArrayLayout(p.b_shape, p.cols), p.depth)})
        c_layout = data.StructLayout({"data": data.ArrayLayout(p.acc_shape, p.cols), "last": 1})
        super().__init__(
            {
                "a": In(stream.Signature(a_layout)),
                "b": In(stream.Signature(b_layout)),
                "c": Out(stream.Signature(c_layout)),
                "cycle_count": Out(p.counter_width),
                "mac_count": Out(p.counter_width),
            }
        )

    def manifest(self) -> dict:
        """Timing facts for the per-configuration manifest."""
        p = self.params
        return {
            "acc_width": p.acc_width,
            "acc_signed": p.acc_signed,
            "overflow": p.overflow,
            "mac": p.mac,
            "grid": {"rows": p.rows, "cols": p.cols, "depth": p.depth},
            "latency": {
                "last_beat_to_first_row": p.result_latency,
                "cycles_per_tile": f"max(K, {p.rows})",
                "busy_cycles": f"K + (T-1)*max(K,{p.rows}) + {p.rows + p.result_latency - 1}",
            } if p.mac != "booth_serial" else {
                "last_beat_final_cycle_to_first_row": p.result_latency - 1,
                "cycles_per_beat": "max(1, nonzero Booth digit positions of the beat's A operands)",
                "busy_cycles": "booth_serial_cycles(params, a_beats, last)",
            },
        }

    def elaborate(self, platform):
        p = self.params
        rows, cols, depth, fifo_rows = p.rows, p.cols, p.depth, p.out_fifo_depth
        m = Module()

        # -- admission: a tile's final beat needs result space and spacing ------------------
        reserved = Signal(range(fifo_rows + 1))  # result rows promised to accepted tiles
        is_last = self.a.payload.last
        serial = p.mac == "booth_serial"
        if serial:
            # Digit-serial: a beat stays in the grid for one or more cycles; the next one is
            # taken in its final cycle. A tile ends in the grid's final cycle of its last beat.
            grid = m.submodules.grid = BoothSerialGrid(a_shape=p.a_shape, b_shape=p.b_shape, rows=rows, cols=cols,
                                                       depth=depth, acc_shape=p.acc_shape)
            tile_end_event = grid.tile_end
        if rows > 1:
            since_tile_end = Signal(range(rows + 1), init=rows)
            if serial:
                # The last beat takes >= 1 cycle, so accepting it rows - 1 cycles after the
                # previous tile's final cycle keeps the tiles' final cycles rows apart.
                spaced = (since_tile_end >= rows - 1) & ~grid.tile_end
            else:
                spaced = since_tile_end >= rows
        else:
            spaced = Const(1)
        can_end_tile = spaced & (reserved <= fifo_rows - rows)
        accept = ~is_last | can_end_tile
        if serial:
            accept = accept & grid.ready
        fire = Signal()
        m.d.comb += [
            self.a.ready.eq(self.b.valid & accept),
            self.b.ready.eq(self.a.valid & accept),
            fire.eq(self.a.valid & self.b.valid & accept),
        ]
        ends_tile = fire & is_last
        if not serial:
            tile_end_event = ends_tile
        if rows > 1:
            with m.If(tile_end_event):
                m.d.sync += since_tile_end.eq(1)
            with m.Elif(since_tile_end < rows):
                m.d.sync += since_tile_end.eq(since_tile_end + 1)

        if serial:
            # The grid holds the beat in its own input registers.
            m.d.comb += [
                grid.a.eq(self.a.payload.data),
                grid.b.eq(self.b.payload.data),
                grid.load.eq(fire),
                grid.last.eq(is_last),
            ]
            done = grid.done

            def result_of(field, i, j):
                return grid.result[i][j]
        else:
            # -- input registers (load every cycle; in_valid says whether they hold a beat) --
            in_valid = Signal()
            in_last = Signal()
            in_a = Signal.like(self.a.payload.data, name="in_a")
            in_b = Signal.like(self.b.payload.data, name="in_b")
            m.d.sync += [
                in_valid.eq(fire),
                in_last.eq(is_last),
                in_a.eq(self.a.payload.data),
                in_b.eq(self.b.payload.data),
            ]

            # -- the grid: row i shares in_a[i], column j shares column j of in_b ------------
            units = [[None] * cols for _ in range(rows)]
            for i in range(rows):
                for j in range(cols):
                    unit = m.submodules[f"dot_{i}_{j}"] = DotProductAccumulator(
                        a_shape=p.a_shape, b_shape=p.b_shape, depth=depth, acc_shape=p.acc_shape,
                        overflow=p.overflow, mac=p.mac,
                    )
                    units[i][j] = unit
                    m.d.comb += [unit.valid.eq(in_valid), unit.last.eq(in_last)]
                    for d in range(depth):
                        m.d.comb += [unit.a[d].eq(in_a[i][d]), unit.b[d].eq(in_b[d][j])]
            done = units[0][0].done

            def result_of(field, i, j):
                return getattr(units[i][j], field)

        # -- drain: the finished tile (held in the result registers) moves into the result
        #    FIFO one row per cycle, row 0 in the cycle of `done` ---------------------------
        if rows > 1:
            drain_row = Signal(range(rows), name="drain_row")  # 0: idle, else the next row
            with m.If(done):
                m.d.sync += drain_row.eq(1)
            with m.Elif(drain_row != 0):
                m.d.sync += drain_row.eq(Mux(drain_row == rows - 1, 0, drain_row + 1))
            write = done | (drain_row != 0)
            # Row 0 leaves in the cycle of `done`, row i > 0 when drain_row == i.
            selects = [done] + [~done & (drain_row == i) for i in range(1, rows)]
        else:
            write = done
            selects = [Const(1)]

        def row_mux(field, j):
            values = [result_of(field, i, j).as_unsigned() for i in range(rows)]
            if rows == 1:
                return values[0]
            return functools.reduce(operator.or_, (Mux(select, value, 0) for select, value in zip(selects, values)))

        q = m.submodules.result_fifo = fifo.SyncFIFOBuffered(width=cols * p.acc_width,
                                                             depth=3 if fifo_rows == 2 else fifo_rows)
        if p.mac == "carry_save":
            # The carry-propagate addition of the carry-save pair: one log-depth adder per
            # column, a register after the row select, so that neither is on the longest path
            # (on FPGAs the adder is LUT logic, slower than a carry chain).
            pair_write = Signal(name="pair_write")
            m.d.sync += pair_write.eq(write)
            row_words = []
            for j in range(cols):
                pair_sum = Signal(p.acc_width, name=f"pair_sum_{j}")
                pair_carry = Signal(p.acc_width, name=f"pair_carry_{j}")
                m.d.sync += [pair_sum.eq(row_mux("result_sum", j)), pair_carry.eq(row_mux("result_carry", j))]
                row_words.append(prefix_add(m, pair_sum, pair_carry, p.acc_width, name=f"cpa_{j}"))
            write = pair_write
        else:
            row_words = [row_mux("result", j) for j in range(cols)]
        m.d.comb += [q.w_en.eq(write), q.w_data.eq(Cat(*row_words))]

        transfer = self.c.valid & self.c.ready
        m.d.comb += [
            self.c.valid.eq(q.r_rdy),
            self.c.payload.data.as_value().eq(q.r_data),
            q.r_en.eq(transfer),
        ]
        if rows == 1:
            m.d.comb += self.c.payload.last.eq(1)
        else:
            out_row = Signal(range(rows), name="out_row")
            m.d.comb += self.c.payload.last.eq(out_row == rows - 1)
            with m.If(transfer):
                m.d.sync += out_row.eq(Mux(out_row == rows - 1, 0, out_row + 1))

        m.d.sync += reserved.eq(reserved + Mux(ends_tile, rows, 0) - transfer)

        # -- counters --------------------------------------------------------------------------
        tile_open = Signal()
        with m.If(fire):
            m.d.sync += tile_open.eq(~is_last)
        busy = fire | tile_open | (reserved != 0)
        m.d.sync += [
            self.cycle_count.eq(self.cycle_count + busy),
            self.mac_count.eq(self.mac_count + Mux(fire, Const(p.macs_per_beat), 0)),
        ]
        return m
