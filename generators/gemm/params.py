"""Parameters and cycle models of the tiled GEMM engine (see :mod:`accelgen.generators.gemm`)."""

import dataclasses

from ...hdl.mac import MAC_STYLES
from ...hdl.util import ceil_div
from ..cube3d import Cube3DParams
from ..matrix2d import Matrix2DParams
from ..params import DesignParams, OperandShapes, param
from ..systolic import SystolicParams
from ..systolic_ws import SystolicWSParams
from ..systolic_ws import analytic_cycles as ws_array_cycles
from ..tree import TreeParams

__all__ = ["GemmParams", "ENGINES", "GEMM_MAC_STYLES", "BROADCAST_ENGINES", "A_REUSE_POLICIES", "A_BUFFER_WORDS_MAX",
           "FEED_LATENCY", "WS_COLLECT_LATENCY", "a_stream_passes",
           "analytic_cycles", "scalesim_cycles", "fold_counts"]

#: Legal values of ``engine``.
ENGINES = ("os", "ws", "tree", "matrix2d", "cube3d")
#: Legal values of ``mac``: every style of :data:`accelgen.hdl.mac.MAC_STYLES` whose cycles per
#: beat do not depend on the data (the tile scheduler streams one beat per cycle).
GEMM_MAC_STYLES = tuple(style for style in MAC_STYLES if style != "booth_serial")
#: The broadcast dot-product engines (common interface with a K extent ``depth`` per beat).
BROADCAST_ENGINES = {"tree": TreeParams, "matrix2d": Matrix2DParams, "cube3d": Cube3DParams}

#: Legal values of ``a_reuse``: ``"whole"`` (all of A on chip, streamed once) or
#: ``"row_block"`` (two banks of one row block, A streamed once per column block).
A_REUSE_POLICIES = ("whole", "row_block")
#: Largest ``a_buffer_words`` (its declared maximum).
A_BUFFER_WORDS_MAX = 1 << 24
#: Cycles from the descriptor to the first array beat: descriptor register, buffer write,
#: buffer read.
FEED_LATENCY = 3
#: Extra cycles of the ``ws`` engine's read-modify-write accumulation and its output FIFO.
WS_COLLECT_LATENCY = 3


@dataclasses.dataclass(frozen=True)
class GemmParams(OperandShapes, DesignParams):
    """Parameters of the tiled GEMM engine.

    Parameters
    ----------
    engine : str
        Array architecture: ``"os"`` (output-stationary systolic), ``"ws"``
        (weight-stationary systolic), ``"tree"`` (multiplier-adder trees, ``rows = 1``),
        ``"matrix2d"`` (outer-product broadcast, ``depth = 1``) or ``"cube3d"``.
    mac : str
        Multiply-accumulate style of the array: ``"baseline"`` or ``"carry_save"`` (partial
        sums kept as carry-save pairs, one carry-propagate adder per output); results are
        bit-identical. ``"same_weight_tree"`` applies to tree-style engines only.
    rows, cols : int
        Array size (1..64). ``rows`` is the M extent of a tile (``os``) or its K extent
        (``ws``); ``cols`` is the N extent.
    depth : int
        K extent per beat of the tree and cube engines; must be 1 for the systolic engines
        and ``matrix2d``.
    a_width, b_width : int
        Operand widths in bits (2..16).
    a_signed, b_signed : bool
        Whether the operands are two's complement.
    m_max, n_max, k_max : int
        Largest M, N, K a descriptor may ask for (1..65536). Results are ``acc_width`` bits,
        the narrowest width that cannot overflow for ``k_max`` products.
    a_reuse : str
        How A is held on chip. ``"whole"``: the A buffer holds all of A, which the host streams
        once and the engine reuses for every column block (M·K is bounded by the buffer).
        ``"row_block"`` (output-stationary engines: ``os``, ``tree``, ``matrix2d``,
        ``cube3d``): the A buffer holds two banks of one row block (``rows x k_max``
        operands); the host streams A ``ceil(N/cols)`` times, once per column block, and the
        next row block loads into the free bank while the array uses the other. The buffer
        does not depend on ``m_max``, and the cycle count is the same as with ``"whole"``.
    a_buffer_words : int or None
        A buffer depth in words of ``rows * depth`` operands. ``a_reuse="whole"``: all of A,
        ``ceil(m_max/rows) * ceil(k_max/depth)`` words (``ws``: ``ceil(k_max/rows) * m_max``);
        ``"row_block"``: two banks of one row block, ``2 * ceil(k_max/depth)`` words.
        Default: exactly that.
    b_buffer_words : int or None
        B buffer depth in words of ``depth * cols`` operands: two banks of one ``K x cols``
        block, at least ``2 * ceil(k_max/depth)``. Default: exactly that.
    c_buffer_words : int or None
        C buffer depth in rows of ``cols`` results: the result FIFO of the ``os`` array (at
        least ``rows``, one tile) or the partial sums of the ``ws`` engine (at least
        ``m_max``). Default: the array's stall-free depth (its default ``out_fifo_depth``,
        which depends on the mac style's result latency), or ``m_max``.
    counter_width : int
        Width of ``cycle_count`` and ``mac_count`` (16..64); they wrap.
    """

    engine: str = param("os", "array architecture", choices=ENGINES)
    mac: str = param("baseline", "multiply-accumulate style", choices=GEMM_MAC_STYLES)
    rows: int = param(4, "array rows (os: tile M extent; ws: tile K extent)", min=1, max=64)
    cols: int = param(4, "array columns (tile N extent)", min=1, max=64)
    depth: int = param(1, "K extent of tree and cube engines (1 for systolic engines)", min=1, max=64)
    a_width: int = param(8, "A operand width in bits", min=2, max=16)
    b_width: int = param(8, "B operand width in bits", min=2, max=16)
    a_signed: bool = param(True, "A operands are signed (two's complement)")
    b_signed: bool = param(True, "B operands are signed (two's complement)")
    m_max: int = param(16, "largest M of a descriptor", min=1, max=65536)
    n_max: int = param(16, "largest N of a descriptor", min=1, max=65536)
    k_max: int = param(16, "largest K of a descriptor", min=1, max=65536)
    a_reuse: str = param("whole", "A on chip: whole (all of A, streamed once) or row_block (two banks of one row "
                         "block, A streamed once per column block)", choices=A_REUSE_POLICIES)
    a_buffer_words: int | None = param(None, "A buffer words (rows*depth operands each); default: all of A, or two "
                                       "row blocks with a_reuse=row_block", min=1, max=A_BUFFER_WORDS_MAX)
    b_buffer_words: int | None = param(None, "B buffer words (cols operands each); default: 2 * k_max", min=2, max=1 << 24)
    c_buffer_words: int | None = param(None, "C buffer rows (cols results each)", min=1, max=1 << 24)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)

    digest_neutral = {"a_reuse": "whole"}

    @property
    def reduction_length(self) -> int:
        """Longest dot product of one result: ``k_max`` products."""
        return self.k_max

    @property
    def acc_width(self) -> int:
        """Result width: cannot overflow for ``k_max`` products."""
        return self.safe_acc_width

    @property
    def a_words_needed(self) -> int:
        """Smallest A buffer: every A of up to ``m_max x k_max`` (``a_reuse="whole"``), or two
        banks of one row block (``"row_block"``)."""
        if self.a_reuse == "row_block":
            return 2 * self.k_beats_max
        if self.engine == "ws":
            return ceil_div(self.k_max, self.rows) * self.m_max
        return ceil_div(self.m_max, self.rows) * self.k_beats_max

    @property
    def k_beats_max(self) -> int:
        """Beats of the longest tile: ``ceil(k_max/depth)``."""
        return ceil_div(self.k_max, self.depth)

    def array_params(self):
        """Parameters of the array inside the engine."""
        common = dict(rows=self.rows, cols=self.cols, a_width=self.a_width, b_width=self.b_width,
                      a_signed=self.a_signed, b_signed=self.b_signed)
        if self.engine == "ws":
            return SystolicWSParams(mac=self.mac, **common)
        if self.engine in BROADCAST_ENGINES:
            grid = {"tree": dict(depth=self.depth, cols=self.cols), "matrix2d": dict(rows=self.rows, cols=self.cols),
                    "cube3d": dict(rows=self.rows, cols=self.cols, depth=self.depth)}[self.engine]
            del common["rows"], common["cols"]
            # Padded K lanes are zeros, so k_max products (not k_beats_max * depth) bound the sums.
            return BROADCAST_ENGINES[self.engine](
                k_max=self.k_beats_max, acc_width=self.acc_width, overflow="wrap", mac=self.mac,
                out_fifo_depth=self.c_buffer_words, **grid, **common)
        return SystolicParams(k_max=self.k_max, out_fifo_depth=self.c_buffer_words, mac=self.mac, **common)

    def resolve(self):
        derived = {}
        if self.a_buffer_words is None:
            derived["a_buffer_words"] = self.a_words_needed
        if self.b_buffer_words is None:
            derived["b_buffer_words"] = 2 * self.k_beats_max
        if self.c_buffer_words is None:
            if self.engine == "ws":
                derived["c_buffer_words"] = self.m_max
            else:
                # The array's own stall-free depth, which counts its mac style's result latency
                # (carry_save has one more cycle); parameters the array rejects get a
                # placeholder here and check() names them.
                try:
                    derived["c_buffer_words"] = self.array_params().out_fifo_depth
                except ValueError:
                    derived["c_buffer_words"] = 1 if self.engine == "tree" else self.rows
        return derived

    def check(self):
        legal_macs = ("baseline", "carry_save") if self.engine in ("os", "ws") else GEMM_MAC_STYLES
        if self.engine == "tree" and self.rows != 1:
            raise ValueError(f"rows={self.rows} is out of range for engine='tree': must be 1 (the trees share one "
                             "activation vector; use cols for parallel trees and depth for their K lanes)")
        if self.mac not in legal_macs:
            raise ValueError(
                f"mac={self.mac!r} is not legal with engine={self.engine!r}: same_weight_tree compresses "
                "all K products of an output in one tree, which systolic arrays do not have; legal values: "
                + ", ".join(repr(s) for s in legal_macs)
            )
        if self.depth != 1 and self.engine in ("os", "ws", "matrix2d"):
            raise ValueError(
                f"depth={self.depth} is out of range for engine={self.engine!r}: must be 1 (only the tree "
                "and cube3d engines have a K extent per beat)"
            )
        if self.mac == "same_weight_tree" and self.depth < 2:
            raise ValueError(
                f"mac='same_weight_tree' is not legal with engine={self.engine!r} and depth={self.depth}: it "
                "compresses the partial products of several products per output; needs depth >= 2"
            )
        if self.a_reuse == "row_block" and self.engine == "ws":
            raise ValueError(
                "a_reuse='row_block' is not legal with engine='ws': the weight-stationary engine streams all M "
                "rows of A through each weight tile and keeps M partial sums; legal values for engine='ws': 'whole'"
            )
        if self.a_words_needed > A_BUFFER_WORDS_MAX:
            # The derived default would exceed the field's own maximum: name what sets it.
            raise ValueError(
                f"m_max={self.m_max}, k_max={self.k_max} are out of range together for engine={self.engine!r}: "
                f"all of A needs {self.a_words_needed} buffer words, the legal maximum of a_buffer_words is "
                f"{A_BUFFER_WORDS_MAX}; lower m_max or k_max, or raise rows or depth"
                + ("" if self.engine == "ws" else ", or use a_reuse='row_block' (buffer independent of m_max)")
            )
        if self.a_buffer_words < self.a_words_needed and self.a_reuse == "row_block":
            raise ValueError(
                f"a_buffer_words={self.a_buffer_words} is out of range: must be an integer >= "
                f"{self.a_words_needed} (2 * ceil(k_max/depth) = 2 * {self.k_beats_max}: two banks of one row "
                f"block for k_max={self.k_max}); lower k_max to use a smaller buffer"
            )
        if self.a_buffer_words < self.a_words_needed:
            layout = (f"ceil(k_max/rows) * m_max = {ceil_div(self.k_max, self.rows)} * {self.m_max}"
                      if self.engine == "ws" else
                      f"ceil(m_max/rows) * ceil(k_max/depth) = {ceil_div(self.m_max, self.rows)} * {self.k_beats_max}")
            raise ValueError(
                f"a_buffer_words={self.a_buffer_words} is out of range: must be an integer >= "
                f"{self.a_words_needed} ({layout}: all of A for m_max={self.m_max}, k_max={self.k_max}); "
                "lower m_max or k_max to use a smaller buffer"
                + ("" if self.engine == "ws" else " (or use a_reuse='row_block': two row blocks, any m_max)")
            )
        if self.b_buffer_words < 2 * self.k_beats_max:
            raise ValueError(
                f"b_buffer_words={self.b_buffer_words} is out of range: must be an integer >= {2 * self.k_beats_max} "
                f"(two banks of one k_max x cols block of B, k_max={self.k_max}); lower k_max to use a smaller buffer"
            )
        tile_rows = 1 if self.engine == "tree" else self.rows
        if self.engine != "ws" and not tile_rows <= self.c_buffer_words <= 4096:
            raise ValueError(
                f"c_buffer_words={self.c_buffer_words} is out of range: must be an integer in {tile_rows}..4096 "
                f"(at least one tile of {tile_rows} result rows)"
            )
        if self.engine != "ws":
            self.array_params()  # the array's own checks
        if self.engine == "ws" and self.c_buffer_words < self.m_max:
            raise ValueError(
                f"c_buffer_words={self.c_buffer_words} is out of range: must be an integer >= {self.m_max} "
                f"(the partial sums of M rows, m_max={self.m_max}); lower m_max to use a smaller buffer"
            )

    def check_job(self, m: int, n: int, k: int) -> None:
        """``ValueError`` unless a descriptor ``(m, n, k)`` fits this configuration."""
        for name, value, limit in (("M", m, self.m_max), ("N", n, self.n_max), ("K", k, self.k_max)):
            if not isinstance(value, int) or not 1 <= value <= limit:
                raise ValueError(
                    f"{name}={value} is out of range for this gemm configuration: must be an integer in "
                    f"1..{limit} ({name.lower()}_max={limit}, the size the buffers were built for)"
                )


def a_stream_passes(params: GemmParams, n: int) -> int:
    """How many times the host streams all of A for a job of ``n`` columns: once with
    ``a_reuse="whole"``, once per column block (``ceil(n/cols)``) with ``"row_block"``."""
    return ceil_div(n, params.cols) if params.a_reuse == "row_block" else 1


def fold_counts(params: GemmParams, m: int, n: int, k: int) -> dict:
    """Tile counts of a job: row blocks, column blocks and K blocks."""
    rows = 1 if params.engine == "tree" else params.rows
    return {"m_blocks": ceil_div(m, rows), "n_blocks": ceil_div(n, params.cols),
            "k_blocks": ceil_div(k, params.rows)}


def analytic_cycles(params: GemmParams, m: int, n: int, k: int) -> int:
    """``cycle_count`` of one job with stall-free streams (descriptor to final ``C`` beat).

    ``os``: ``ceil(M/R) * ceil(N/C)`` output tiles of ``K`` beats run back to back, each
    occupying the array ``max(K, R)`` cycles; one fill/drain (``R + C`` plus the array's
    result latency) for the whole job. ``ws``: ``ceil(K/R) * ceil(N/C)`` weight tiles each streaming ``M`` rows, with
    the array's weight loads (``R`` cycles, overlapped with the previous tile's compute when
    ``M >= 2R + C - 2``) and one fill/drain. Both add :data:`FEED_LATENCY` for the
    descriptor and the buffer write/read; A and B arrive one word per cycle, which keeps
    ahead of the array, so the tile loads add nothing else.
    """
    params.check_job(m, n, k)
    folds = fold_counts(params, m, n, k)
    array = params.array_params()
    if params.engine != "ws":
        tiles = folds["m_blocks"] * folds["n_blocks"]
        return FEED_LATENCY + array.busy_cycles(tiles=tiles, k=ceil_div(k, params.depth))
    tiles = folds["k_blocks"] * folds["n_blocks"]
    return FEED_LATENCY + ws_array_cycles(array, [m] * tiles) + WS_COLLECT_LATENCY


def scalesim_cycles(params: GemmParams, m: int, n: int, k: int) -> int:
    """The SCALE-Sim v2 compute-cycle formula of the engine's dataflow, for comparison.

    ``os``: ``ceil(M/R) * ceil(N/C) * (K + R + C - 2)``; ``ws``: ``ceil(K/R) * ceil(N/C) *
    (2R + C + M - 2)``. Neither overlaps one fold's fill and drain with the next, which
    the engine does.
    """
    folds = fold_counts(params, m, n, k)
    r, c = params.rows, params.cols
    if params.engine != "ws":
        return folds["m_blocks"] * folds["n_blocks"] * (ceil_div(k, params.depth) + r + c - 2)
    return folds["k_blocks"] * folds["n_blocks"] * (2 * r + c + m - 2)
