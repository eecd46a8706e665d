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
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.delay import DelayLine
from ..hdl.layouts import TileStreamSignature
from ..hdl.mac import prefix_add
from ..hdl.tile_io import BusyCounters, ResultRows, engine_outputs
from ..hdl.ws_pe import WeightStationaryPE
from . import DesignComponent, param, register
from .params import MacArrayParams

__all__ = ["SystolicWSParams", "SystolicWSArray", "WS_MAC_STYLES", "analytic_cycles", "tile_schedule"]

#: Multiply-accumulate styles of the weight-stationary array. ``same_weight_tree`` (one
#: compressor tree across the K products of an output) needs all K products in one place,
#: which a systolic column does not have, and ``booth_serial`` a data-dependent number of
#: cycles per beat, which the skewed array cannot give.
WS_MAC_STYLES = ("baseline", "carry_save")


@dataclasses.dataclass(frozen=True)
class SystolicWSParams(MacArrayParams):
    """Parameters of the weight-stationary systolic array (see
    :class:`~accelgen.generators.params.MacArrayParams` for the operand, accumulator and
    interface fields; A is the activation, B the weight).

    Parameters
    ----------
    rows : int
        Rows of cells = weight tile rows = the reduction extent K of a tile = operands per
        ``a`` beat (1..64).
    cols : int
        Columns of cells = weight tile columns = results per ``c`` beat (1..64).
    mac : str
        ``"baseline"`` (multiply, then add in each cell) or ``"carry_save"`` (the partial
        sum travels down a column as a sum/carry pair; one adder per column at the edge).
    acc_width : int or None
        Partial sum and result width. Default: the narrowest width that cannot overflow for a
        ``rows``-long dot product.
    overflow : str or None
        ``"saturate"`` clamps after every addition, in row order.
    out_fifo_depth : int or None
        Result rows buffered at the bottom edge (2..4096). Default: enough that the array
        never waits for credit while ``c`` is always ready.
    """

    rows: int = param(4, "rows of cells (weight tile rows = reduction extent K)", min=1, max=64)
    cols: int = param(4, "columns of cells (weight tile columns = outputs per row)", min=1, max=64)
    out_fifo_depth: int | None = param(None, "result rows buffered at the array edge; default: no credit stalls",
                                       min=2, max=4096)
    # booth_serial is not offered at all (its cycles per beat depend on the data);
    # same_weight_tree is, and refused with the reason (mac_rejection).
    mac: str = param("baseline", "multiply-accumulate style", choices=("baseline", "carry_save", "same_weight_tree"))

    #: Cycles from accepting an ``a`` beat to transferring its result row on ``c``, less
    #: ``rows + cols``: the output FIFO's two stages.
    result_latency = 2

    @property
    def reduction_length(self) -> int:
        """Longest partial sum: ``rows`` products down a column."""
        return self.rows

    @property
    def reduction_text(self) -> str:
        return f"rows={self.rows}"

    @property
    def default_out_fifo_depth(self) -> int:
        # A beat holds its credit from acceptance until its row leaves the FIFO.
        return self.rows + self.cols + self.result_latency + 2

    @property
    def drain_cycles(self) -> int:
        """Cycles after a tile's last activation enters before its bank may be reloaded."""
        return self.rows + self.cols - 2

    def mac_rejection(self):
        if self.mac not in WS_MAC_STYLES:
            return (f"mac={self.mac!r} is not legal for the weight-stationary systolic array: it compresses all K "
                    "products of an output in one tree, which only tree-style engines have; legal values: "
                    f"{', '.join(repr(s) for s in WS_MAC_STYLES)}")
        return None


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


class WeightBanks(wiring.Component):
    """The two weight banks of the array: which one is loaded, computing, free or draining.

    The loader shifts one weight row per accepted ``w`` beat into the free bank (``rows``
    beats per tile), then moves on to the other bank. A bank becomes free again
    ``drain_cycles`` cycles after the last activation of its tile entered the array.

    Parameters
    ----------
    rows : int
        Weight rows per tile.
    drain_cycles : int
        Cycles from a tile's last activation to its bank being free.

    Members
    -------
    w_valid : In(1)
        A weight row is offered.
    w_ready : Out(1)
        The loader's bank is free (not holding a tile that still has to compute, drained).
    load : Out(2)
        One-hot: the bank that shifts in the offered row this cycle.
    loading : Out(1)
        A tile's load has begun and is not complete.
    tile_done : In(1)
        The computing tile's last activation is accepted this cycle.
    weights_ready : Out(1)
        The computing bank holds a complete tile.
    compute_bank : Out(1)
        The bank the next activation uses.
    """

    def __init__(self, *, rows: int, drain_cycles: int):
        self._rows = rows
        self._drain_cycles = drain_cycles
        super().__init__({"w_valid": In(1), "w_ready": Out(1), "load": Out(2), "loading": Out(1),
                          "tile_done": In(1), "weights_ready": Out(1), "compute_bank": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rows, drain_cycles = self._rows, self._drain_cycles
        loaded = Signal(2)  # bank holds a complete tile not yet used up
        load_bank = Signal()
        load_row = Signal(range(rows)) if rows > 1 else Const(0)
        last_row = (load_row == rows - 1) if rows > 1 else Const(1)
        drains = [Signal(range(drain_cycles + 1), name=f"drain{bank}") if drain_cycles else None for bank in range(2)]

        def drained(bank):
            return Const(1) if drains[bank] is None else ~drains[bank].any()

        m.d.comb += self.w_ready.eq(Mux(load_bank, ~loaded[1] & drained(1), ~loaded[0] & drained(0)))
        w_fire = self.w_valid & self.w_ready
        with m.If(w_fire):
            if rows > 1:
                m.d.sync += load_row.eq(Mux(load_row == rows - 1, 0, load_row + 1))
            with m.If(last_row):
                m.d.sync += load_bank.eq(~load_bank)
                with m.If(load_bank):
                    m.d.sync += loaded[1].eq(1)
                with m.Else():
                    m.d.sync += loaded[0].eq(1)

        compute_bank = self.compute_bank
        m.d.comb += self.weights_ready.eq(Mux(compute_bank, loaded[1], loaded[0]))
        with m.If(self.tile_done):
            m.d.sync += compute_bank.eq(~compute_bank)
            for bank in range(2):
                with m.If(compute_bank == bank):
                    m.d.sync += loaded[bank].eq(0)
                    if drains[bank] is not None:
                        m.d.sync += drains[bank].eq(drain_cycles)
        for bank in range(2):
            if drains[bank] is not None:
                with m.If(~(self.tile_done & (compute_bank == bank)) & (drains[bank] != 0)):
                    m.d.sync += drains[bank].eq(drains[bank] - 1)
        m.d.comb += [self.load.eq(Mux(w_fire, Mux(load_bank, 0b10, 0b01), 0)), self.loading.eq(load_row != 0)]
        return m


@register(
    "systolic_ws",
    params=SystolicWSParams,
    summary="weight-stationary systolic array: stationary weight tiles, streamed activations, double-buffered weights",
)
class SystolicWSArray(DesignComponent):
    """Weight-stationary systolic array with valid/ready streams, built from a
    :class:`SystolicWSParams` (validated on construction).

    Members
    -------
    w : In(TileStreamSignature(b_shape, cols, last=False))
        One weight row per beat, row 0 first; ``rows`` beats per tile.
    a : In(TileStreamSignature(a_shape, rows))
        One activation row per beat; ``last`` on the final beat of the current weight tile.
    c : Out(TileStreamSignature(acc_shape, cols))
        One result row per ``a`` beat, in order; ``last`` as on the ``a`` beat.

    ``w.ready`` is high while a weight bank is free (not holding a tile that still has to
    compute, and drained). ``a.ready`` is high while the current tile's weights are loaded
    and the output FIFO has room for the result.
    cycle_count : Out(counter_width)
        Busy cycles since reset.
    mac_count : Out(counter_width)
        Multiply-accumulates performed since reset.
    """

    params_class = SystolicWSParams

    def members(self):
        p = self.params
        return {
            "w": In(TileStreamSignature(p.b_shape, p.cols, last=False)),
            "a": In(TileStreamSignature(p.a_shape, p.rows)),
            **engine_outputs(p.acc_shape, p.cols, p.counter_width),
        }

    def manifest(self) -> dict:
        """Timing facts for the per-configuration manifest."""
        p = self.params
        return {
            **p.result_facts(),
            "latency": {
                "a_beat_to_result_row": p.rows + p.cols + p.result_latency,
                "weight_load_cycles": p.rows,
                "bank_drain_cycles": p.drain_cycles,
            },
        }

    def elaborate(self, platform):
        p = self.params
        m = Module()
        banks = m.submodules.weight_banks = WeightBanks(rows=p.rows, drain_cycles=p.drain_cycles)
        m.d.comb += [banks.w_valid.eq(self.w.valid), self.w.ready.eq(banks.w_ready)]

        # Activation admission: weights present and a result slot reserved.
        reserved = Signal(range(p.out_fifo_depth + 1))
        a_ready = banks.weights_ready & (reserved < p.out_fifo_depth)
        a_fire = self.a.valid & a_ready
        is_last = self.a.payload.last
        m.d.comb += [self.a.ready.eq(a_ready), banks.tile_done.eq(a_fire & is_last)]

        # Input register and row skew: row i is late by i cycles. The bank select travels with
        # the activations, so a tile switch happens in the data's own wavefront.
        in_a = Signal(data.ArrayLayout(p.a_shape, p.rows))
        in_sel = Signal()
        in_valid = Signal()
        in_last = Signal()
        m.d.sync += [in_a.eq(self.a.payload.data), in_sel.eq(banks.compute_bank), in_valid.eq(a_fire),
                     in_last.eq(is_last)]
        skew_layout = data.StructLayout({"a": p.a_shape, "sel": 1})
        row_inputs = []
        for i in range(p.rows):
            line = m.submodules[f"row_skew_{i}"] = DelayLine(skew_layout, i)
            m.d.comb += [line.i.a.eq(in_a[i]), line.i.sel.eq(in_sel)]
            row_inputs.append(line.o)
        bottom = self._grid(m, row_inputs, banks.load)

        # The bottom edge: column j finishes j cycles late; delay the others to align them.
        rows_out = m.submodules.result_rows = ResultRows(p.acc_shape, rows=None, cols=p.cols,
                                                         depth=p.out_fifo_depth)
        for j in range(p.cols):
            line = m.submodules[f"col_deskew_{j}"] = DelayLine(p.acc_shape, p.cols - 1 - j)
            m.d.comb += [line.i.eq(bottom[j]), rows_out.results[0][j].eq(line.o), rows_out.select[0][j].eq(1)]
        marker = m.submodules.result_marker = DelayLine(data.StructLayout({"valid": 1, "last": 1}),
                                                        p.rows + p.cols - 1)
        m.d.comb += [marker.i.valid.eq(in_valid), marker.i.last.eq(in_last),
                     rows_out.write.eq(marker.o.valid), rows_out.last.eq(marker.o.last)]
        wiring.connect(m, rows_out.c, wiring.flipped(self.c))
        m.d.sync += reserved.eq(reserved + a_fire - rows_out.row_out)

        counters = m.submodules.counters = BusyCounters(counter_width=p.counter_width, macs_per_beat=p.rows * p.cols)
        m.d.comb += [
            counters.beat.eq(a_fire),
            counters.last.eq(is_last),
            counters.in_flight.eq((self.w.valid & self.w.ready) | banks.loading | (reserved != 0)),
            self.cycle_count.eq(counters.cycle_count),
            self.mac_count.eq(counters.mac_count),
        ]
        return m

    def _grid(self, m, row_inputs, load):
        """The cells; returns the partial sums leaving each column at the bottom edge."""
        p = self.params
        rows, cols = p.rows, p.cols
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
        bottom = []
        for j in range(cols):
            edge = pes[rows - 1][j]
            if p.mac == "carry_save":
                # The one carry-propagate adder of the column (modulo 2**acc_width), log-depth
                # so that the deferred addition is not the longest path.
                bottom.append(prefix_add(m, edge.sum_out, edge.carry_out, p.acc_width, name=f"cpa_{j}"))
            else:
                bottom.append(edge.psum_out)
        return bottom
