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
  ``K + (T - 1) * max(K, rows) + rows + cols + result_latency - 1`` (:meth:`~accelgen.generators.params.TileEngineParams.busy_cycles`).

Two counters make utilization a measurement: ``cycle_count`` counts cycles in which the
array is busy (a tile is being accepted, or results are in flight or waiting to leave) and
``mac_count`` counts the multiply-accumulates performed (``rows * cols`` per accepted beat).

The array is the ``depth = 1`` case of the broadcast engines' interface (except that
``a.data`` is ``[rows]`` and ``b.data`` ``[cols]``) and shares their stream shell
(:class:`~accelgen.generators.engines.TileEngine`); only the skewed grid is its own.
"""


import dataclasses
import functools
import operator

from amaranth.hdl import Signal
from amaranth.lib import data

from ..hdl.delay import DelayLine
from ..hdl.layouts import TileStreamSignature
from ..hdl.pe import OutputStationaryPE
from ..hdl.tile_io import ROW_SELECTS
from . import param, register
from .engines import GridResults, TileEngine
from .params import TileEngineParams

__all__ = ["SystolicParams", "SystolicArray"]


@dataclasses.dataclass(frozen=True)
class SystolicParams(TileEngineParams):
    """Parameters of the output-stationary systolic array (see
    :class:`~accelgen.generators.params.MacArrayParams` for the operand, accumulator and
    interface fields).

    Parameters
    ----------
    rows : int
        Rows of MAC cells = rows of an output tile = operands per ``a`` beat (1..64).
    cols : int
        Columns of MAC cells = columns of an output tile = operands per ``b`` beat (1..64).
    k_max : int
        Longest reduction (beats per tile) the accumulators are sized for (1..65536).
    pipeline_product : bool
        Register each cell's product before the accumulator adder. Takes the multiplier out
        of the accumulate loop (higher Fmax; on FPGAs the register goes into the DSP) for one
        more cycle of latency and no loss of throughput. With ``mac="carry_save"`` the
        cell registers its operands instead (same latency).
    register_partials : bool
        ``mac="carry_save"`` only: each cell compresses its Booth partial products to a pair
        and registers it, so the accumulate loop is a 4:2 compression (two full-adder levels)
        rather than the whole tree. One more cycle of latency (``result_latency``), same
        throughput; about 30 more flip-flops per cell (int8).
    row_select : str
        How each column picks the finished row that leaves: ``"and_or"`` gates every row's
        result with the cell's ``done`` and ORs them (``2 * rows - 1`` two-input gates per
        result bit; on ECP5 a LUT4 takes two rows); ``"mux_tree"`` encodes the ``done`` flags
        into a row index that steers a tree of multiplexers (``rows - 1`` gates per bit: fewer
        gates for an ASIC; on ECP5 the encoder and the index bits' fan-out come before the
        multiplexers and cost the 8x8 array about a fifth of its clock). Same results,
        latency and cycles.
    mac : str
        ``"baseline"`` (multiplier + binary accumulator) or ``"carry_save"`` (radix-4 Booth
        partial products and a carry-save accumulator pair in one compressor tree per cell;
        the pair is added by one adder per column as the result leaves the array). Results are
        identical. ``"same_weight_tree"`` needs several products per output and cycle, which a
        systolic cell never has, and ``"booth_serial"`` a data-dependent number of cycles per
        beat, which the skewed array cannot give: use the ``tree``, ``matrix2d`` or ``cube3d``
        engines for those.
    """

    rows: int = param(4, "rows of MAC cells (output tile rows)", min=1, max=64)
    cols: int = param(4, "columns of MAC cells (output tile columns)", min=1, max=64)
    k_max: int = param(256, "longest reduction (beats per tile) the accumulator is sized for", min=1, max=65536)
    pipeline_product: bool = param(True, "register the product before the accumulator (higher Fmax, +1 cycle latency)")
    register_partials: bool = param(False, "carry_save: register each cell's compressed partial products before "
                                    "the accumulate loop (higher Fmax, +1 cycle latency)")
    row_select: str = param("and_or", "each column's row select: and_or (FPGAs) or mux_tree (an encoded "
                            "multiplexer tree: fewer gates for ASICs)", choices=ROW_SELECTS)

    digest_neutral = {**TileEngineParams.digest_neutral, "register_partials": False, "row_select": "and_or"}

    @property
    def depth(self) -> int:
        """Products per cell and beat: 1."""
        return 1

    @property
    def skew(self) -> int:
        """The last column's results trail the first column's by ``cols`` cycles."""
        return self.cols

    @property
    def result_latency(self) -> int:
        """Cycles from the beat that ends a tile to row 0 of its results on ``c``, less the
        ``cols`` cycles of skew: the input register, the MAC (two cycles with
        ``pipeline_product``, three with ``register_partials`` too), the two stages of the
        column result FIFO, and with ``mac="carry_save"`` the register between the row select
        and the final adder."""
        return 3 + self.pipeline_product + (self.mac == "carry_save") + self.register_partials

    def check(self):
        super().check()
        if self.register_partials and self.mac != "carry_save":
            raise ValueError(f"register_partials=True is not legal with mac={self.mac!r}: it registers the "
                             "carry-save cells' compressed partial products; legal with mac='carry_save' only")

    def mac_rejection(self):
        if self.mac == "booth_serial":
            return ("mac='booth_serial' is not legal for the systolic array: its cycle count depends on the data, "
                    "and the skewed array moves one beat per cycle; legal values: 'baseline', 'carry_save' "
                    "(booth_serial is for the tree, matrix2d and cube3d engines)")
        if self.mac == "same_weight_tree":
            return ("mac='same_weight_tree' is not legal for the systolic array: each cell adds one product "
                    "per cycle, so there are no partial products of several products to merge; legal: "
                    "'baseline', 'carry_save' (same_weight_tree is for the tree and cube3d engines)")
        return None


@register(
    "systolic",
    params=SystolicParams,
    summary="output-stationary systolic array: C = A @ B, tiles streamed back to back",
)
class SystolicArray(TileEngine):
    """Output-stationary systolic array with valid/ready streams (members: see
    :class:`~accelgen.generators.engines.TileEngine`; ``a.data`` is ``[rows]``, ``b.data``
    ``[cols]``).

    Its parameters: :class:`SystolicParams`.
    """

    params_class = SystolicParams
    skewed = True

    def row_select(self) -> str:
        return self.params.row_select

    @classmethod
    def operand_signatures(cls, params):
        return (TileStreamSignature(params.a_shape, params.rows),
                TileStreamSignature(params.b_shape, params.cols, last=False))

    def elaborate_grid(self, m, beat):
        p = self.params
        rows, cols = p.rows, p.cols
        # Input register, then skew: row i late by i cycles, column j late by j cycles. The
        # operand registers load every cycle (in_valid tells whether they hold a beat): an
        # enable would hang all rows + cols operands on the admission logic's output.
        in_valid = Signal()
        in_last = Signal()
        in_a = Signal(data.ArrayLayout(p.a_shape, rows))
        in_b = Signal(data.ArrayLayout(p.b_shape, cols))
        m.d.sync += [
            in_valid.eq(beat.valid & beat.ready),
            in_last.eq(beat.payload.last),
            in_a.eq(beat.payload.a),
            in_b.eq(beat.payload.b),
        ]
        marked = data.StructLayout({"a": p.a_shape, "valid": 1, "last": 1})
        row_skew = []
        for i in range(rows):
            line = m.submodules[f"row_skew_{i}"] = DelayLine(marked, i)
            m.d.comb += [line.i.a.eq(in_a[i]), line.i.valid.eq(in_valid), line.i.last.eq(in_last)]
            row_skew.append(line.o)
        col_skew = []
        for j in range(cols):
            line = m.submodules[f"col_skew_{j}"] = DelayLine(p.b_shape, j)
            m.d.comb += line.i.eq(in_b[j])
            col_skew.append(line.o)

        pes = [[None] * cols for _ in range(rows)]
        for i in range(rows):
            for j in range(cols):
                pe = m.submodules[f"pe_{i}_{j}"] = OutputStationaryPE(
                    a_shape=p.a_shape, b_shape=p.b_shape, acc_shape=p.acc_shape, overflow=p.overflow,
                    pipeline_product=p.pipeline_product, forward_a=j < cols - 1, forward_b=i < rows - 1, mac=p.mac,
                    register_partials=p.register_partials,
                )
                pes[i][j] = pe
                if j == 0:
                    a, valid, last = row_skew[i].a, row_skew[i].valid, row_skew[i].last
                else:
                    a, valid, last = pes[i][j - 1].a_out, pes[i][j - 1].valid_out, pes[i][j - 1].last_out
                m.d.comb += [pe.a_in.eq(a), pe.valid_in.eq(valid), pe.last_in.eq(last),
                             pe.b_in.eq(col_skew[j] if i == 0 else pes[i - 1][j].b_out)]

        # A finished cell passes its sum down to the column's result buffer in the cycle of
        # its `done`; the skew keeps at most one finishing cell per column and cycle.
        if p.mac == "carry_save":
            results = [[(pe.acc_sum, pe.acc_carry) for pe in row] for row in pes]
        else:
            results = [[pe.acc for pe in row] for row in pes]
        select = [[pe.done for pe in row] for row in pes]
        write = [functools.reduce(operator.or_, (pes[i][j].done for i in range(rows))) for j in range(cols)]
        return GridResults(results=results, select=select, write=write)
