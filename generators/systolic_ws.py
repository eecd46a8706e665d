"""Weight-stationary systolic array (design ``systolic_ws``).

A ``rows x cols`` grid of cells holds one ``rows x cols`` tile ``W`` of the weight matrix
(``rows`` is the reduction extent K of the tile, ``cols`` the output width). Activations
stream through it one row of ``A`` per beat, and each beat produces one row of
``C = A_tile @ W``: activations move right, partial sums move down the columns, and the sums
leave at the bottom edge of the array.

Streams:

- ``w``: one row of the weight tile per beat (``cols`` operands), row 0 first; ``rows``
  beats make a tile. Weights are shifted into the cells from the bottom of each column.
- ``a``: one row of activations per beat (``rows`` operands, element ``i`` meets weight
  row ``i``); ``last`` marks the final beat that uses the current weight tile, after which
  the array moves on to the next tile.
- ``c``: one row of results per ``a`` beat (``cols`` sums), in order, ``last`` copied from
  the matching ``a`` beat.

Every cell has two weight registers. While one bank computes, the next tile is shifted into
the other one, so weight reloads overlap compute. The bank select travels with each
activation, so the switch from one tile to the next happens in the same diagonal wavefront
as the data and needs no bubble. A bank is reloaded only after the last activation that uses
it has passed every cell (``rows + cols - 2`` cycles after it entered).

Timing (no stalls on either side), cycle 0 being the first weight beat:

- the weight loader takes ``rows`` cycles per tile; tile ``t``'s load starts once the
  loader is free and tile ``t - 2`` (same bank) has drained;
- activations of tile ``t`` start once it is loaded and tile ``t - 1`` has ended, one per
  cycle;
- a result row leaves ``rows + cols + result_latency`` cycles after its activation beat
  was accepted.

:func:`analytic_cycles` evaluates these rules; with tiles of at least ``2*rows + cols``
activation rows the weight loads are completely hidden and the array is busy
``rows + sum(M_t) + rows + cols + result_latency`` cycles.

Two counters make utilization a measurement: ``cycle_count`` counts busy cycles (a weight
tile being loaded, activations being accepted, or results in flight / waiting to leave)
and ``mac_count`` counts multiply-accumulates (``rows * cols`` per accepted ``a`` beat).
"""

import dataclasses

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.arith import OVERFLOW_MODES
from ..hdl.delay import DelayLine
from ..hdl.mac import prefix_add
from ..hdl.ws_pe import WeightStationaryPE
from . import DesignParams, param, register
from .params import OperandShapes

__all__ = ["SystolicWSParams", "SystolicWSArray", "WS_MAC_STYLES", "analytic_cycles", "tile_schedule"]

#: Multiply-accumulate styles of the weight-stationary array. ``same_weight_tree`` (one
#: compressor tree across the K products of an output) needs all K products in one place,
#: which a systolic column does not have, so it is not offered here.
WS_MAC_STYLES = ("baseline", "carry_save")


@dataclasses.dataclass(frozen=True)
class SystolicWSParams(OperandShapes, DesignParams):
    """Parameters of the weight-stationary systolic array.

    Parameters
    ----------
    rows : int
        Rows of cells = weight tile rows = the reduction extent K of a tile = operands per
        ``a`` beat (1..64).
    cols : int
        Columns of cells = weight tile columns = results per ``c`` beat (1..64).
    a_width, b_width : int
        Activation (A) and weight (B) widths in bits (2..16).
    a_signed, b_signed : bool
        Whether the operands are two's complement (else unsigned).
    mac : str
        ``"baseline"`` (multiply, then add in each cell) or ``"carry_save"`` (the partial
        sum travels down a column as a sum/carry pair; one adder per column at the edge).
        ``"same_weight_tree"`` is refused: it applies to tree-style engines only.
    acc_width : int or None
        Partial sum and result width (2..64). Default: the narrowest width that cannot
        overflow for a ``rows``-long dot product. A narrower width needs ``overflow``.
    overflow : str or None
        ``"wrap"`` (two's complement modulo ``2**acc_width``) or ``"saturate"`` (clamp after
        every addition, in row order). Required when ``acc_width`` is narrower than the safe
        width; otherwise ``"wrap"``. ``carry_save`` supports ``"wrap"`` only.
    out_fifo_depth : int or None
        Result rows buffered at the bottom edge (2..4096). Default: enough that the array
        never waits for credit while ``c`` is always ready.
    counter_width : int
        Width of ``cycle_count`` and ``mac_count`` (16..64); they wrap.
    """

    rows: int = param(4, "rows of cells (weight tile rows = reduction extent K)", min=1, max=64)
    cols: int = param(4, "columns of cells (weight tile columns = outputs per row)", min=1, max=64)
    a_width: int = param(8, "activation (A) width in bits", min=2, max=16)
    b_width: int = param(8, "weight (B) width in bits", min=2, max=16)
    a_signed: bool = param(True, "activations are signed (two's complement)")
    b_signed: bool = param(True, "weights are signed (two's complement)")
    mac: str = param("baseline", "multiply-accumulate style", choices=("baseline", "carry_save", "same_weight_tree"))
    acc_width: int | None = param(None, "partial sum/result width; default: never overflows for rows products", min=2, max=64)
    overflow: str | None = param(None, "partial sum overflow mode", choices=OVERFLOW_MODES)
    out_fifo_depth: int | None = param(None, "result rows buffered at the array edge; default: no credit stalls", min=2, max=4096)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)

    #: Cycles from accepting an ``a`` beat to transferring its result row on ``c``, less
    #: ``rows + cols``: the output FIFO's two stages.
    result_latency = 2

    @property
    def reduction_length(self) -> int:
        """Longest partial sum: ``rows`` products down a column."""
        return self.rows

    @property
    def drain_cycles(self) -> int:
        """Cycles after a tile's last activation enters before its bank may be reloaded."""
        return self.rows + self.cols - 2

    def resolve(self):
        derived = {}
        if self.acc_width is None:
            derived["acc_width"] = self.safe_acc_width
        if self.out_fifo_depth is None:
            # A beat holds its credit from acceptance until its row leaves the FIFO.
            derived["out_fifo_depth"] = self.rows + self.cols + self.result_latency + 2
        if self.overflow is None and (self.acc_width is None or self.acc_width >= self.safe_acc_width):
            derived["overflow"] = "wrap"
        return derived

    def check(self):
        if self.mac == "same_weight_tree":
            raise ValueError(
                "mac='same_weight_tree' is not legal for the weight-stationary systolic array: it "
                "compresses all K products of an output in one tree, which only tree-style engines "
                f"have; legal values: {', '.join(repr(s) for s in WS_MAC_STYLES)}"
            )
        if self.overflow is None:
            raise ValueError(
                f"acc_width={self.acc_width} can overflow for rows={self.rows} (the safe width is "
                f"{self.safe_acc_width}); set overflow to 'wrap' or 'saturate'"
            )
        if self.mac == "carry_save" and self.overflow == "saturate":
            raise ValueError(
                "overflow='saturate' is not legal with mac='carry_save': a carry-save partial sum "
                "has no value to clamp until it is resolved; use overflow='wrap' or mac='baseline'"
            )


def tile_schedule(params: SystolicWSParams, tile_rows: list[int]) -> list[tuple[int, int, int]]:
    """``(load start, first activation, last activation)`` cycle of every tile, no stalls.

    Cycle 0 is the first weight beat; ``tile_rows[t]`` is the number of activation beats of
    tile ``t``. The loader shifts one weight row per cycle and may start tile ``t`` once
    tile ``t - 1`` is loaded and tile ``t - 2`` (same bank) has drained; activations of tile
    ``t`` follow tile ``t - 1``'s and wait for tile ``t``'s weights.
    """
    r = params.rows
    schedule = []
    for t, m in enumerate(tile_rows):
        if m < 1:
            raise ValueError(f"tile {t} has {m} activation rows; every tile needs at least 1")
        load = 0 if t == 0 else schedule[-1][0] + r
        if t >= 2:
            load = max(load, schedule[t - 2][2] + 1 + params.drain_cycles)
        first = load + r if t == 0 else max(schedule[-1][2] + 1, load + r)
        schedule.append((load, first, first + m - 1))
    return schedule


def analytic_cycles(params: SystolicWSParams, tile_rows: list[int]) -> int:
    """Busy cycles for weight tiles with ``tile_rows[t]`` activation rows each, no stalls.

    Exact for the default ``out_fifo_depth`` when ``c`` is always ready (see
    :func:`tile_schedule`). With every tile at least ``2*rows + cols - 2`` rows long the
    loads hide under compute and this is ``rows + sum(tile_rows) + rows + cols +
    result_latency``; the SCALE-Sim weight-stationary fold ``2R + C + M - 2`` counts a
    load that does not overlap compute.
    """
    last = tile_schedule(params, tile_rows)[-1][2]
    return last + params.rows + params.cols + params.result_latency + 1


@register(
    "systolic_ws",
    params=SystolicWSParams,
    summary="weight-stationary systolic array: stationary weight tiles, streamed activations, double-buffered weights",
)
class SystolicWSArray(wiring.Component):
    """Weight-stationary systolic array with valid/ready streams.

    Parameters
    ----------
    params : SystolicWSParams
        The configuration (validated on construction).

    Members
    -------
    w : In(stream.Signature(StructLayout({"data": ArrayLayout(b_shape, cols)})))
        One weight row per beat, row 0 first; ``rows`` beats per tile.
    a : In(stream.Signature(StructLayout({"data": ArrayLayout(a_shape, rows), "last": 1})))
        One activation row per beat; ``last`` on the final beat of the current weight tile.
    c : Out(stream.Signature(StructLayout({"data": ArrayLayout(acc_shape, cols), "last": 1})))
        One result row per ``a`` beat, in order; ``last`` as on the ``a`` beat.

    ``w.ready`` is high while a weight bank is free (not holding a tile that still has to
    compute, and drained). ``a.ready`` is high while the current tile's weights are loaded
    and the output FIFO has room for the result.
    cycle_count : Out(counter_width)
        Busy cycles since reset.
    mac_count : Out(counter_width)
        Multiply-accumulates performed since reset.
    """

    def __init__(self, params: SystolicWSParams):
        if not isinstance(params, SystolicWSParams):
            raise TypeError(f"params must be a SystolicWSParams, not {params!r}")
        self.params = params
        p = params
        w_layout = data.StructLayout({"data": data.ArrayLayout(p.b_shape, p.cols)})
        a_layout = data.StructLayout({"data": data.ArrayLayout(p.a_shape, p.rows), "last": 1})
        c_layout = data.StructLayout({"data": data.ArrayLayout(p.acc_shape, p.cols), "last": 1})
        super().__init__(
            {
                "w": In(stream.Signature(w_layout)),
                "a": In(stream.Signature(a_layout)),
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
            "latency": {
                "a_beat_to_result_row": p.rows + p.cols + p.result_latency,
                "weight_load_cycles": p.rows,
                "bank_drain_cycles": p.drain_cycles,
            },
        }

    def elaborate(self, platform):
        p = self.params
        rows, cols, depth = p.rows, p.cols, p.out_fifo_depth
        m = Module()

        # -- weight loader: shifts a tile into the free bank, one row per beat ----------------
        loaded = Signal(2)  # bank holds a complete tile not yet used up
        load_bank = Signal()
        load_row = Signal(range(rows)) if rows > 1 else Const(0)
        last_row = (load_row == rows - 1) if rows > 1 else Const(1)
        drains = []
        for bank in range(2):
            if p.drain_cycles:
                timer = Signal(range(p.drain_cycles + 1), name=f"drain{bank}")
                drains.append(timer)
            else:
                drains.append(None)

        def drained(bank):
            return Const(1) if drains[bank] is None else ~drains[bank].any()

        bank_free = Mux(load_bank, ~loaded[1] & drained(1), ~loaded[0] & drained(0))
        m.d.comb += self.w.ready.eq(bank_free)
        w_fire = self.w.valid & self.w.ready
        with m.If(w_fire):
            if rows > 1:
                m.d.sync += load_row.eq(Mux(load_row == rows - 1, 0, load_row + 1))
            with m.If(last_row):
                m.d.sync += load_bank.eq(~load_bank)
                with m.If(load_bank):
                    m.d.sync += loaded[1].eq(1)
                with m.Else():
                    m.d.sync += loaded[0].eq(1)

        # -- activation admission: weights present and a result slot reserved -------------------
        compute_bank = Signal()
        reserved = Signal(range(depth + 1))
        a_ready = Mux(compute_bank, loaded[1], loaded[0]) & (reserved < depth)
        m.d.comb += self.a.ready.eq(a_ready)
        a_fire = self.a.valid & a_ready
        is_last = self.a.payload.last
        with m.If(a_fire & is_last):
            m.d.sync += compute_bank.eq(~compute_bank)
            for bank in range(2):
                with m.If(compute_bank == bank):
                    m.d.sync += loaded[bank].eq(0)
                    if drains[bank] is not None:
                        m.d.sync += drains[bank].eq(p.drain_cycles)
        for bank in range(2):
            if drains[bank] is not None:
                with m.If(~(a_fire & is_last & (compute_bank == bank)) & (drains[bank] != 0)):
                    m.d.sync += drains[bank].eq(drains[bank] - 1)

        # -- input register and row skew: row i is late by i cycles ----------------------------
        in_a = Signal(data.ArrayLayout(p.a_shape, rows))
        in_sel = Signal()
        in_valid = Signal()
        in_last = Signal()
        m.d.sync += [
            in_a.eq(self.a.payload.data),
            in_sel.eq(compute_bank),
            in_valid.eq(a_fire),
            in_last.eq(is_last),
        ]
        skew_layout = data.StructLayout({"a": p.a_shape, "sel": 1})
        row_inputs = []
        for i in range(rows):
            line = m.submodules[f"row_skew_{i}"] = DelayLine(skew_layout, i)
            m.d.comb += [line.i.a.eq(in_a[i]), line.i.sel.eq(in_sel)]
            row_inputs.append(line.o)

        # -- the grid ----------------------------------------------------------------------------
        load = Signal(2)
        m.d.comb += load.eq(Mux(w_fire, Mux(load_bank, 0b10, 0b01), 0))
        pes = [[None] * cols for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = m.submodules[f"pe_{i}_{j}"] = WeightStationaryPE(
                    a_shape=p.a_shape, w_shape=p.b_shape, acc_shape=p.acc_shape, overflow=p.overflow,
                    first_row=i == 0, forward_a=j < cols - 1, mac=p.mac,
                )
                pes[i][j] = pe
                m.d.comb += pe.load.eq(load)
                if j == 0:
                    m.d.comb += [pe.a_in.eq(row_inputs[i].a), pe.sel_in.eq(row_inputs[i].sel)]
                else:
                    m.d.comb += [pe.a_in.eq(pes[i][j - 1].a_out), pe.sel_in.eq(pes[i][j - 1].sel_out)]
                if i > 0 and p.mac == "carry_save":
                    m.d.comb += [pe.sum_in.eq(pes[i - 1][j].sum_out), pe.carry_in.eq(pes[i - 1][j].carry_out)]
                elif i > 0:
                    m.d.comb += pe.psum_in.eq(pes[i - 1][j].psum_out)
        # Weights enter at the bottom and shift up: after `rows` beats row 0 holds the first.
        for i in range(rows):
            for j in range(cols):
                source = self.w.payload.data[j] if i == rows - 1 else pes[i + 1][j].w_out
                m.d.comb += pes[i][j].w_in.eq(source)

        # -- bottom edge: column j finishes j cycles late; delay the others to align them --------
        out_layout = data.StructLayout({"data": data.ArrayLayout(p.acc_shape, cols), "last": 1})
        aligned = Signal(out_layout)
        for j in range(cols):
            bottom = pes[rows - 1][j]
            if p.mac == "carry_save":
                # The one carry-propagate adder of the column (modulo 2**acc_width), log-depth
                # so that the deferred addition is not the longest path.
                column_sum = prefix_add(m, bottom.sum_out, bottom.carry_out, p.acc_width, name=f"cpa_{j}")
            else:
                column_sum = bottom.psum_out
            line = m.submodules[f"col_deskew_{j}"] = DelayLine(p.acc_shape, cols - 1 - j)
            m.d.comb += [line.i.eq(column_sum), aligned.data[j].eq(line.o)]
        marker = m.submodules.result_marker = DelayLine(data.StructLayout({"valid": 1, "last": 1}), rows + cols - 1)
        m.d.comb += [marker.i.valid.eq(in_valid), marker.i.last.eq(in_last), aligned.last.eq(marker.o.last)]

        # SyncFIFOBuffered(depth=2) can refuse a write while its output register is still
        # empty; the credit count assumes every entry usable, so give it one spare entry.
        q = m.submodules.result_fifo = fifo.SyncFIFOBuffered(
            width=out_layout.size, depth=3 if depth == 2 else depth)
        m.d.comb += [
            q.w_en.eq(marker.o.valid),
            q.w_data.eq(aligned.as_value()),
            self.c.valid.eq(q.r_rdy),
            self.c.payload.eq(q.r_data),
            q.r_en.eq(self.c.ready),
        ]
        c_fire = self.c.valid & self.c.ready
        m.d.sync += reserved.eq(reserved + a_fire - c_fire)

        # -- counters ------------------------------------------------------------------------------
        tile_open = Signal()  # activations of a tile accepted, its last one not yet
        with m.If(a_fire):
            m.d.sync += tile_open.eq(~is_last)
        busy = w_fire | (load_row != 0) | a_fire | tile_open | (reserved != 0)
        m.d.sync += [
            self.cycle_count.eq(self.cycle_count + busy),
            self.mac_count.eq(self.mac_count + Mux(a_fire, Const(rows * cols), 0)),
        ]
        return m
