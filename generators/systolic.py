"""Output-stationary systolic array (design ``systolic``).

A ``rows x cols`` grid of MAC cells computes one ``rows x cols`` output tile ``C = A @ B`` per
tile of ``K`` streamed beats. Beat ``k`` of a tile carries column ``k`` of ``A`` (``rows``
operands, on stream ``a``) and row ``k`` of ``B`` (``cols`` operands, on stream ``b``); ``a``
marks the tile's final beat with ``last``. The array skews the operands internally, so the
streams carry plain, unskewed data.

Results leave on stream ``c`` one row per beat (row 0 first), ``last`` set on the tile's final
row. Tiles run back to back: the drain of tile ``t`` overlaps the compute of tile ``t + 1``.

Timing (no stalls on either side):

- a tile occupies the input for ``max(K, rows)`` cycles: ``K`` beats, and tile ends at
  least ``rows`` cycles apart so that results leave each column one per cycle;
- the first row of a tile is valid ``cols + result_latency`` cycles after its last beat was
  accepted (``result_latency`` is 3, plus 1 with ``pipeline_product``, plus 1 with
  ``mac="carry_save"``), and one row follows per cycle;
- busy cycles for ``T`` tiles of ``K`` beats:
  ``K + (T - 1) * max(K, rows) + rows + cols + result_latency - 1`` (see :func:`analytic_cycles`).

Two counters make utilization a measurement: ``cycle_count`` counts cycles in which the
array is busy (a tile is being accepted, or results are in flight or waiting to leave) and
``mac_count`` counts the multiply-accumulates performed (``rows * cols`` per accepted beat).
"""

import dataclasses
import functools
import operator

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.arith import OVERFLOW_MODES
from ..hdl.delay import DelayLine
from ..hdl.mac import MAC_STYLES, prefix_add
from ..hdl.pe import OutputStationaryPE
from ..hdl.util import ceil_div
from . import DesignParams, param, register
from .params import OperandShapes

__all__ = ["SystolicParams", "SystolicArray", "analytic_cycles", "ideal_cycles"]


@dataclasses.dataclass(frozen=True)
class SystolicParams(OperandShapes, DesignParams):
    """Parameters of the output-stationary systolic array.

    Parameters
    ----------
    rows : int
        Rows of MAC cells = rows of an output tile = operands per ``a`` beat (1..64).
    cols : int
        Columns of MAC cells = columns of an output tile = operands per ``b`` beat (1..64).
    a_width, b_width : int
        Operand widths in bits (2..16).
    a_signed, b_signed : bool
        Whether operands are two's complement (else unsigned).
    k_max : int
        Longest reduction (beats per tile) the accumulators are sized for (1..65536).
    acc_width : int or None
        Accumulator and result width (2..64). Default: the narrowest width that cannot
        overflow for ``k_max`` beats. A narrower width needs an explicit ``overflow``.
    overflow : str or None
        What the accumulator does when a sum does not fit: ``"wrap"`` (two's complement
        modulo ``2**acc_width``) or ``"saturate"`` (clamp after every addition). Must be given
        when ``acc_width`` is narrower than the safe width; otherwise defaults to ``"wrap"``,
        which then only matters for tiles longer than ``k_max``.
    out_fifo_depth : int or None
        Result rows buffered per column (``rows``..4096). Default: enough that back-to-back
        tiles never wait for the result drain when ``c`` is always ready.
    counter_width : int
        Width of ``cycle_count`` and ``mac_count`` (16..64); they wrap.
    pipeline_product : bool
        Register each cell's product before the accumulator adder. Takes the multiplier out
        of the accumulate loop (higher Fmax; on FPGAs the register goes into the DSP) for one
        more cycle of latency and no loss of throughput. With ``mac="carry_save"`` the
        cell registers its operands instead (same latency).
    mac : str
        MAC micro-architecture (:data:`accelgen.hdl.mac.MAC_STYLES`): ``"baseline"``
        (multiplier + binary accumulator) or ``"carry_save"`` (radix-4 Booth partial products
        and a carry-save accumulator pair in one compressor tree per cell; the pair is added
        by one adder per column as the result leaves the array). Results are identical.
        ``"carry_save"`` needs ``overflow="wrap"`` (a carry-save sum cannot be clamped after
        every addition). ``"same_weight_tree"`` needs several products per output and cycle,
        which a systolic cell never has: use the ``tree`` or ``cube3d`` engine.
    """

    rows: int = param(4, "rows of MAC cells (output tile rows)", min=1, max=64)
    cols: int = param(4, "columns of MAC cells (output tile columns)", min=1, max=64)
    a_width: int = param(8, "A operand width in bits", min=2, max=16)
    b_width: int = param(8, "B operand width in bits", min=2, max=16)
    a_signed: bool = param(True, "A operands are signed (two's complement)")
    b_signed: bool = param(True, "B operands are signed (two's complement)")
    k_max: int = param(256, "longest reduction (beats per tile) the accumulator is sized for", min=1, max=65536)
    acc_width: int | None = param(None, "accumulator/result width; default: never overflows for k_max", min=2, max=64)
    overflow: str | None = param(None, "accumulator overflow mode", choices=OVERFLOW_MODES)
    out_fifo_depth: int | None = param(None, "result rows buffered per column; default: no drain stalls", min=1, max=4096)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)
    pipeline_product: bool = param(True, "register the product before the accumulator (higher Fmax, +1 cycle latency)")
    mac: str = param("baseline", "MAC micro-architecture: baseline or carry_save (bit-identical results)",
                     choices=MAC_STYLES)

    @property
    def result_latency(self) -> int:
        """Cycles from the beat that ends a tile to row 0 of its results on ``c``, less the
        ``cols`` cycles of skew: the input register, the MAC (two cycles with
        ``pipeline_product``), the two stages of the column result FIFO, and with
        ``mac="carry_save"`` the register between the row select and the final adder."""
        return 3 + self.pipeline_product + (self.mac == "carry_save")

    @property
    def reduction_length(self) -> int:
        """Longest dot product of one accumulator: ``k_max`` beats."""
        return self.k_max

    @property
    def depth(self) -> int:
        """Products per cell and beat: 1 (the broadcast engines' beat interface with
        ``depth = 1``, except that ``a.data`` is ``[rows]`` and ``b.data`` ``[cols]``)."""
        return 1

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates per accepted beat: ``rows * cols``."""
        return self.rows * self.cols

    def resolve(self):
        derived = {}
        if self.acc_width is None:
            derived["acc_width"] = self.safe_acc_width
        if self.out_fifo_depth is None:
            # Results of a tile stay reserved from its last beat until its last row leaves,
            # i.e. for cols + result_latency + rows cycles; tiles end >= rows cycles apart.
            in_flight = ceil_div(self.cols + self.result_latency + self.rows, self.rows)
            derived["out_fifo_depth"] = self.rows * in_flight
        if self.overflow is None and (self.acc_width is None or self.acc_width >= self.safe_acc_width):
            derived["overflow"] = "wrap"
        return derived

    def check(self):
        if self.mac == "booth_serial":
            raise ValueError(
                "mac='booth_serial' is not legal for the systolic array: its cycle count depends on the data, "
                "and the skewed array moves one beat per cycle; legal values: 'baseline', 'carry_save' "
                "(booth_serial is for the tree, matrix2d and cube3d engines)"
            )
        if self.mac == "same_weight_tree":
            raise ValueError(
                "mac='same_weight_tree' is not legal for the systolic array: each cell adds one product "
                "per cycle, so there are no partial products of several products to merge; legal: "
                "'baseline', 'carry_save' (same_weight_tree is for the tree and cube3d engines)"
            )
        if self.overflow is None:
            raise ValueError(
                f"acc_width={self.acc_width} can overflow for k_max={self.k_max} (the safe width is "
                f"{self.safe_acc_width}); set overflow to 'wrap' or 'saturate'"
            )
        if self.mac == "carry_save" and self.overflow == "saturate":
            raise ValueError(
                "overflow='saturate' is not legal with mac='carry_save': a carry-save accumulator cannot be "
                "clamped after every addition; use overflow='wrap' (with acc_width >= the safe width "
                f"{self.safe_acc_width} nothing wraps for k_max={self.k_max}) or mac='baseline'"
            )
        if self.out_fifo_depth < self.rows:
            raise ValueError(
                f"out_fifo_depth={self.out_fifo_depth} is out of range: must be an integer in "
                f"{self.rows}..4096 (at least rows={self.rows}, one tile of results)"
            )


def analytic_cycles(params: SystolicParams, tiles: int, k: int) -> int:
    """Busy cycles for ``tiles`` back-to-back tiles of ``k`` beats with no stalls.

    Exact for the default ``out_fifo_depth``; a smaller result FIFO can add drain stalls.

    The array accepts one beat per cycle; tile ends are at least ``rows`` cycles apart; the
    last tile's rows leave ``cols + result_latency`` cycles after its final beat, one per
    cycle. This is the SCALE-Sim v2 output-stationary fold (``K + R + C - 2``) with the
    drain of one tile hidden under the next, plus the array's fixed I/O latency.
    """
    return k + (tiles - 1) * max(k, params.rows) + params.rows + params.cols + params.result_latency - 1


def ideal_cycles(params: SystolicParams, m: int, n: int, k: int) -> int:
    """Cycles if every MAC cell did useful work every cycle: ``M*N*K / (rows*cols)``."""
    return ceil_div(m * n * k, params.rows * params.cols)


@register(
    "systolic",
    params=SystolicParams,
    summary="output-stationary systolic array: C = A @ B, tiles streamed back to back",
)
class SystolicArray(wiring.Component):
    """Output-stationary systolic array with valid/ready streams.

    Parameters
    ----------
    params : SystolicParams
        The configuration (validated on construction).

    Members
    -------
    a : In(stream.Signature(StructLayout({"data": ArrayLayout(a_shape, rows), "last": 1})))
        Column ``k`` of the A tile per beat; ``last`` on the tile's final beat.
    b : In(stream.Signature(StructLayout({"data": ArrayLayout(b_shape, cols)})))
        Row ``k`` of the B tile per beat; transferred together with the matching ``a`` beat.
    c : Out(stream.Signature(StructLayout({"data": ArrayLayout(acc_shape, cols), "last": 1})))
        One row of the result tile per beat, row 0 first; ``last`` on the final row.

    ``a.ready`` and ``b.ready`` are high together and only while both streams are valid.
    A beat with ``last`` set waits until the result FIFOs have room for the whole tile and
    the previous tile ended at least ``rows`` cycles ago, so ``ready`` may depend on
    ``a.payload.last`` (never the other way round: ``c.valid`` does not depend on ``c.ready``).
    cycle_count : Out(counter_width)
        Busy cycles since reset.
    mac_count : Out(counter_width)
        Multiply-accumulates performed since reset.
    """

    def __init__(self, params: SystolicParams):
        if not isinstance(params, SystolicParams):
            raise TypeError(f"params must be a SystolicParams, not {params!r}")
        self.params = params
        p = params
        a_layout = data.StructLayout({"data": data.ArrayLayout(p.a_shape, p.rows), "last": 1})
        b_layout = data.StructLayout({"data": data.ArrayLayout(p.b_shape, p.cols)})
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
            "latency": {
                "last_beat_to_first_row": p.cols + p.result_latency,
                "cycles_per_tile": f"max(K, {p.rows})",
                "busy_cycles": f"K + (T-1)*max(K,{p.rows}) + {p.rows + p.cols + p.result_latency - 1}",
            },
        }

    def elaborate(self, platform):
        p = self.params
        rows, cols, depth = p.rows, p.cols, p.out_fifo_depth
        m = Module()

        # -- admission: a tile's final beat needs result space and spacing ------------------
        reserved = Signal(range(depth + 1))  # result rows promised to accepted tiles
        since_tile_end = Signal(range(rows + 1), init=rows)
        is_last = self.a.payload.last
        # Tile ends >= rows cycles apart keep at most one finishing cell per column and cycle.
        can_end_tile = (since_tile_end >= rows) & (reserved <= depth - rows)
        accept = ~is_last | can_end_tile
        fire = Signal()
        m.d.comb += [
            self.a.ready.eq(self.b.valid & accept),
            self.b.ready.eq(self.a.valid & accept),
            fire.eq(self.a.valid & self.b.valid & accept),
        ]
        ends_tile = fire & is_last
        with m.If(ends_tile):
            m.d.sync += since_tile_end.eq(1)
        with m.Elif(since_tile_end < rows):
            m.d.sync += since_tile_end.eq(since_tile_end + 1)

        # -- input register, then skew: row i late by i cycles, column j late by j cycles ------
        beat_layout = data.StructLayout({"a": p.a_shape, "valid": 1, "last": 1})
        in_valid = Signal()
        in_last = Signal()
        in_a = Signal(data.ArrayLayout(p.a_shape, rows))
        in_b = Signal(data.ArrayLayout(p.b_shape, cols))
        # The operand registers load every cycle (in_valid tells whether they hold a beat):
        # an enable would hang all rows + cols operands on the admission logic's output.
        m.d.sync += [
            in_valid.eq(fire),
            in_last.eq(is_last),
            in_a.eq(self.a.payload.data),
            in_b.eq(self.b.payload.data),
        ]

        row_skew = []
        for i in range(rows):
            line = m.submodules[f"row_skew_{i}"] = DelayLine(beat_layout, i)
            m.d.comb += [line.i.a.eq(in_a[i]), line.i.valid.eq(in_valid), line.i.last.eq(in_last)]
            row_skew.append(line.o)
        col_skew = []
        for j in range(cols):
            line = m.submodules[f"col_skew_{j}"] = DelayLine(p.b_shape, j)
            m.d.comb += line.i.eq(in_b[j])
            col_skew.append(line.o)

        # -- the grid ------------------------------------------------------------------------
        pes = [[None] * cols for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = m.submodules[f"pe_{i}_{j}"] = OutputStationaryPE(
                    a_shape=p.a_shape,
                    b_shape=p.b_shape,
                    acc_shape=p.acc_shape,
                    overflow=p.overflow,
                    pipeline_product=p.pipeline_product,
                    forward_a=j < cols - 1,
                    forward_b=i < rows - 1,
                    mac=p.mac,
                )
                pes[i][j] = pe
                if j == 0:
                    m.d.comb += [
                        pe.a_in.eq(row_skew[i].a),
                        pe.valid_in.eq(row_skew[i].valid),
                        pe.last_in.eq(row_skew[i].last),
                    ]
                else:
                    left = pes[i][j - 1]
                    m.d.comb += [
                        pe.a_in.eq(left.a_out),
                        pe.valid_in.eq(left.valid_out),
                        pe.last_in.eq(left.last_out),
                    ]
                m.d.comb += pe.b_in.eq(col_skew[j] if i == 0 else pes[i - 1][j].b_out)

        # -- drain: finished cells of a column pass, one per cycle, into its result FIFO ----
        out_fifos = []
        for j in range(cols):
            # SyncFIFOBuffered(depth=2) can refuse a write while its output register is still
            # empty; the credit count assumes every entry usable, so give it one spare entry.
            fifo_depth = 3 if depth == 2 else depth
            q = m.submodules[f"result_fifo_{j}"] = fifo.SyncFIFOBuffered(width=p.acc_width, depth=fifo_depth)
            column = [pes[i][j] for i in range(rows)]
            # At most one cell per column finishes per cycle, so OR-ing the gated sums selects it.
            def select(field):
                return functools.reduce(operator.or_, (Mux(pe.done, getattr(pe, field).as_unsigned(), 0) for pe in column))

            any_done = functools.reduce(operator.or_, (pe.done for pe in column))
            if p.mac == "carry_save":
                # The carry-propagate addition of the carry-save pair: one log-depth adder per
                # column, a register after the row select, so that neither is on the longest
                # path (on FPGAs the adder is LUT logic, slower than a carry chain).
                pair_valid = Signal(name=f"pair_valid_{j}")
                pair_sum = Signal(p.acc_width, name=f"pair_sum_{j}")
                pair_carry = Signal(p.acc_width, name=f"pair_carry_{j}")
                m.d.sync += [pair_valid.eq(any_done), pair_sum.eq(select("acc_sum")), pair_carry.eq(select("acc_carry"))]
                w_en = pair_valid
                w_data = prefix_add(m, pair_sum, pair_carry, p.acc_width, name=f"cpa_{j}")
            else:
                w_en, w_data = any_done, select("acc")
            m.d.comb += [q.w_en.eq(w_en), q.w_data.eq(w_data)]
            out_fifos.append(q)

        # Column j receives each row j cycles after column 0 and all columns pop together, so
        # whenever the last column holds a row every other column holds it too.
        row_ready = out_fifos[-1].r_rdy
        transfer = self.c.valid & self.c.ready
        m.d.comb += self.c.valid.eq(row_ready)
        for j, q in enumerate(out_fifos):
            m.d.comb += [self.c.payload.data[j].eq(q.r_data), q.r_en.eq(transfer)]
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
            self.mac_count.eq(self.mac_count + Mux(fire, Const(rows * cols), 0)),
        ]
        return m
