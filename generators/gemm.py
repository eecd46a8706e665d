"""Tiled GEMM engine (design ``gemm``): on-chip buffers and a tile scheduler around an array.

``C = A @ B`` for any ``M x K`` times ``K x N`` (up to ``m_max``, ``k_max``, ``n_max``) on a
``rows x cols`` array. A job starts with one descriptor beat ``{m, n, k}``; the engine then
takes ``A`` and ``B`` on their streams, writes them into on-chip buffers
(``amaranth.lib.memory``), feeds the array tile by tile, and sends ``C`` on its stream.
Loading and compute overlap at the word level: a tile's beat is fed as soon as the words it
needs have arrived, and the next ``B`` block is loaded into the second bank of the ``B``
buffer while the current one computes.

Engines (``engine``):

``os``
    The output-stationary array (:class:`~accelgen.generators.systolic.SystolicArray`). Each
    output tile ``(nt, mt)`` streams ``K`` beats: column ``k`` of the A row block and row ``k``
    of the B column block. All of ``A`` stays in the A buffer (reused for every column block);
    ``B`` goes through the double-buffered B buffer one ``K x cols`` block at a time. The
    ``C`` buffer is the array's result FIFOs (``c_buffer_words`` rows).
``ws``
    The weight-stationary array (:class:`~accelgen.generators.systolic_ws.SystolicWSArray`).
    Each ``rows x cols`` block of ``B`` (``K`` padded to a multiple of ``rows`` with zeros) is
    a weight tile; all ``M`` rows of the matching slice of ``A`` stream through it. The
    partial sums of the K blocks accumulate in the ``C`` buffer (``c_buffer_words`` rows of
    ``cols`` sums, read-modify-write); the last K block's sums go straight to ``C``.
``tree``, ``matrix2d``, ``cube3d``
    The broadcast dot-product engines (:mod:`accelgen.generators.engines`), driven exactly like
    ``os`` but with ``depth`` K lanes per beat: each output tile streams ``ceil(K/depth)``
    beats of a ``rows x depth`` block of A and a ``depth x cols`` block of B (K padded with
    zeros). ``tree`` has ``rows = 1``; ``matrix2d`` has ``depth = 1``.

Stream formats (``a`` and ``b`` beats are rows of ``rows`` / ``cols`` operands; lanes past
the matrix edge are ignored, the engine pads with zeros itself):

- ``desc``: ``{m, n, k}``, one beat per job; accepted when the previous job has finished.
- ``b`` (both engines): for each column block ``nt``, for ``k`` in ``0..K-1``:
  ``B[k, nt*cols : (nt+1)*cols]``.
- ``b`` with ``depth > 1``: for each column block ``nt``, for each K group ``kg``:
  ``B[kg*depth : (kg+1)*depth, nt*cols : (nt+1)*cols]`` as ``[depth][cols]``.
- ``a``, engine ``os`` (and ``tree``, ``matrix2d``, ``cube3d``): for each row block ``mt``, for
  each K group ``kg``: ``A[mt*rows : (mt+1)*rows, kg*depth : (kg+1)*depth]`` as
  ``[rows][depth]`` (with ``depth = 1``: a column segment).
- ``a``, engine ``ws``: for each K block ``kt``, for ``m`` in ``0..M-1``:
  ``A[m, kt*rows : (kt+1)*rows]`` (a row segment).
- ``c``: for each column block ``nt``, for ``m`` in ``0..M-1``: ``C[m, nt*cols : (nt+1)*cols]``
  (columns past ``N`` are zero); ``last`` on the job's final beat.

``cycle_count`` counts the cycles of each job from the descriptor to the final ``C`` beat;
``mac_count`` the array's multiply-accumulates (padding included). :func:`analytic_cycles`
predicts ``cycle_count`` for stall-free streams (SCALE-Sim-style fold formulas with the
array's fill and drain and the buffer pipeline).
"""

import dataclasses

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..hdl.mac import MAC_STYLES
from ..hdl.util import ceil_div

from . import DesignParams, param, register
from .params import OperandShapes
from .systolic import SystolicArray, SystolicParams
from .systolic import analytic_cycles as os_array_cycles
from .systolic_ws import SystolicWSArray, SystolicWSParams
from .systolic_ws import analytic_cycles as ws_array_cycles
from .engines import analytic_cycles as broadcast_cycles
from .cube3d import Cube3DEngine, Cube3DParams
from .matrix2d import Matrix2DEngine, Matrix2DParams
from .tree import TreeEngine, TreeParams

__all__ = ["GemmParams", "GemmEngine", "ENGINES", "GEMM_MAC_STYLES", "analytic_cycles", "scalesim_cycles", "fold_counts"]

#: Legal values of ``engine``.
ENGINES = ("os", "ws", "tree", "matrix2d", "cube3d")
#: Legal values of ``mac``: every style of :data:`accelgen.hdl.mac.MAC_STYLES` whose cycles per
#: beat do not depend on the data (the tile scheduler streams one beat per cycle).
GEMM_MAC_STYLES = tuple(style for style in MAC_STYLES if style != "booth_serial")
#: The broadcast dot-product engines (common interface with a K extent ``depth`` per beat).
BROADCAST_ENGINES = {"tree": (TreeEngine, TreeParams), "matrix2d": (Matrix2DEngine, Matrix2DParams),
                     "cube3d": (Cube3DEngine, Cube3DParams)}

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
    a_buffer_words : int or None
        A buffer depth in words of ``rows * depth`` operands; it holds all of A:
        ``ceil(m_max/rows) * ceil(k_max/depth)`` words (``ws``: ``ceil(k_max/rows) * m_max``).
        Default: exactly that.
    b_buffer_words : int or None
        B buffer depth in words of ``depth * cols`` operands: two banks of one ``K x cols``
        block, at least ``2 * ceil(k_max/depth)``. Default: exactly that.
    c_buffer_words : int or None
        C buffer depth in rows of ``cols`` results: the result FIFO of the ``os`` array (at
        least ``rows``, one tile) or the partial sums of the ``ws`` engine (at least
        ``m_max``). Default: the ``os`` array's stall-free depth, or ``m_max``.
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
    a_buffer_words: int | None = param(None, "A buffer words (rows operands each); default: all of A", min=1, max=1 << 24)
    b_buffer_words: int | None = param(None, "B buffer words (cols operands each); default: 2 * k_max", min=2, max=1 << 24)
    c_buffer_words: int | None = param(None, "C buffer rows (cols results each)", min=1, max=1 << 24)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)

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
        """A buffer words that hold every A of up to ``m_max x k_max``."""
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
            return BROADCAST_ENGINES[self.engine][1](
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
            elif self.engine in BROADCAST_ENGINES:
                rows = 1 if self.engine == "tree" else self.rows
                derived["c_buffer_words"] = rows * ceil_div(rows + 4, rows)
            else:
                probe = SystolicParams(rows=self.rows, cols=self.cols, a_width=self.a_width, b_width=self.b_width,
                                       a_signed=self.a_signed, b_signed=self.b_signed, k_max=self.k_max)
                derived["c_buffer_words"] = probe.out_fifo_depth
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
        if self.a_buffer_words < self.a_words_needed:
            layout = (f"ceil(k_max/rows) * m_max = {ceil_div(self.k_max, self.rows)} * {self.m_max}"
                      if self.engine == "ws" else
                      f"ceil(m_max/rows) * ceil(k_max/depth) = {ceil_div(self.m_max, self.rows)} * {self.k_beats_max}")
            raise ValueError(
                f"a_buffer_words={self.a_buffer_words} is out of range: must be an integer >= "
                f"{self.a_words_needed} ({layout}: all of A for m_max={self.m_max}, k_max={self.k_max}); "
                "lower m_max or k_max to use a smaller buffer"
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
    if params.engine in BROADCAST_ENGINES:
        tiles = folds["m_blocks"] * folds["n_blocks"]
        return FEED_LATENCY + broadcast_cycles(params.array_params(), tiles=tiles, k=ceil_div(k, params.depth))
    if params.engine == "os":
        array = params.array_params()
        tiles = folds["m_blocks"] * folds["n_blocks"]
        return FEED_LATENCY + os_array_cycles(array, tiles=tiles, k=k)
    array = params.array_params()
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


@register(
    "gemm",
    params=GemmParams,
    summary="tiled GEMM engine: A/B/C buffers, tile scheduler for any M, N, K, around an OS or WS array",
)
class GemmEngine(wiring.Component):
    """Tiled GEMM engine with descriptor, operand and result streams.

    Parameters
    ----------
    params : GemmParams
        The configuration (validated on construction).

    Members
    -------
    desc : In(stream.Signature(StructLayout({"m": ..., "n": ..., "k": ...})))
        One beat per job; ready while no job is running.
    a : In(stream.Signature(StructLayout({"data": ArrayLayout(a_shape, rows * depth)})))
        A words in the engine's order (see the module documentation).
    b : In(stream.Signature(StructLayout({"data": ArrayLayout(b_shape, depth * cols)})))
        B words (``depth`` rows of a column block each), column block by column block.
    c : Out(stream.Signature(StructLayout({"data": ArrayLayout(acc_shape, cols), "last": 1})))
        C rows, column block by column block; ``last`` on the job's final beat.
    cycle_count : Out(counter_width)
        Cycles spent on jobs since reset.
    mac_count : Out(counter_width)
        The array's multiply-accumulates since reset.
    """

    def __init__(self, params: GemmParams):
        if not isinstance(params, GemmParams):
            raise TypeError(f"params must be a GemmParams, not {params!r}")
        self.params = p = params
        desc_layout = data.StructLayout({
            "m": unsigned(p.m_max.bit_length()),
            "n": unsigned(p.n_max.bit_length()),
            "k": unsigned(p.k_max.bit_length()),
        })
        super().__init__({
            "desc": In(stream.Signature(desc_layout)),
            "a": In(stream.Signature(data.StructLayout({"data": data.ArrayLayout(p.a_shape, p.rows * p.depth)}))),
            "b": In(stream.Signature(data.StructLayout({"data": data.ArrayLayout(p.b_shape, p.depth * p.cols)}))),
            "c": Out(stream.Signature(data.StructLayout({"data": data.ArrayLayout(p.acc_shape, p.cols), "last": 1}))),
            "cycle_count": Out(p.counter_width),
            "mac_count": Out(p.counter_width),
        })

    def manifest(self) -> dict:
        """Facts for the per-configuration manifest."""
        p = self.params
        return {
            "engine": p.engine,
            "acc_width": p.acc_width,
            "acc_signed": p.acc_signed,
            "buffers": {"a_words": p.a_buffer_words, "b_words": p.b_buffer_words, "c_words": p.c_buffer_words},
        }

    def elaborate(self, platform):
        p = self.params
        rows, cols = p.rows, p.cols
        ws = p.engine == "ws"
        # Row block height of the array's tiles (the tree engine has one row).
        a_rows = 1 if p.engine == "tree" else rows
        m = Module()

        # -- job descriptor ------------------------------------------------------------------------
        active = Signal()
        M = Signal(self.desc.payload.m.shape(), name="job_m")
        N = Signal(self.desc.payload.n.shape(), name="job_n")
        K = Signal(self.desc.payload.k.shape(), name="job_k")
        m.d.comb += self.desc.ready.eq(~active)
        start = self.desc.valid & self.desc.ready
        with m.If(start):
            m.d.sync += [active.eq(1), M.eq(self.desc.payload.m), N.eq(self.desc.payload.n), K.eq(self.desc.payload.k)]
        job_end = Signal()  # the job's final C beat transfers this cycle
        with m.If(job_end):
            m.d.sync += active.eq(0)

        # -- A buffer: all of A, written in arrival order -----------------------------------------
        # (Memories get at least two words: a one-word memory would have a zero-width address.)
        depth = p.depth
        a_mem = m.submodules.a_buffer = Memory(shape=unsigned(rows * depth * p.a_width),
                                               depth=max(2, p.a_buffer_words), init=[])
        a_wr = a_mem.write_port()
        a_count = Signal(range(p.a_buffer_words + 1))
        a_done = Signal()
        # os-like: row blocks of K groups (depth K steps per word); ws: K blocks of M row segments.
        a_outer_extent, a_inner_extent, a_step = (K, M, 1) if ws else (M, K, depth)
        a_outer = Signal(range(max(p.m_max, p.k_max) + rows + 1))
        a_inner = Signal(range(max(p.m_max, p.k_max) + depth + 1))
        a_fire = self.a.valid & self.a.ready
        m.d.comb += [
            self.a.ready.eq(active & ~a_done),
            a_wr.addr.eq(a_count),
            a_wr.data.eq(self.a.payload.data.as_value()),
            a_wr.en.eq(a_fire),
        ]
        with m.If(a_fire):
            m.d.sync += [a_count.eq(a_count + 1), a_inner.eq(a_inner + a_step)]
            with m.If(a_inner + a_step >= a_inner_extent):
                m.d.sync += a_inner.eq(0)
                with m.If(a_outer + a_rows >= a_outer_extent):
                    m.d.sync += a_done.eq(1)
                with m.Else():
                    m.d.sync += a_outer.eq(a_outer + a_rows)
        with m.If(start):
            m.d.sync += [a_count.eq(0), a_done.eq(0), a_outer.eq(0), a_inner.eq(0)]

        # -- B buffer: two banks of one K x cols block -----------------------------------------------
        bank_words = p.b_buffer_words // 2
        b_mem = m.submodules.b_buffer = Memory(shape=unsigned(depth * cols * p.b_width), depth=2 * bank_words, init=[])
        b_wr = b_mem.write_port()
        b_filled = [Signal(range(bank_words + 1), name=f"b_bank{bank}_words") for bank in range(2)]
        b_full = Signal(2)  # the bank holds a complete block the feeder has not released
        b_bank = Signal()
        b_word = Signal(range(bank_words + 1))
        b_k = Signal(range(p.k_max + depth + 1))
        b_nbase = Signal(range(p.n_max + cols + 1))
        b_done = Signal()
        b_fire = self.b.valid & self.b.ready
        # Columns past N and K steps past K are zeroed on the way in: padding contributes nothing.
        b_masked = Signal(data.ArrayLayout(p.b_shape, depth * cols))
        n_left = Signal(range(p.n_max + 1))
        k_left = Signal(range(p.k_max + 1))
        m.d.comb += [n_left.eq(N - b_nbase), k_left.eq(K - b_k)]
        for d in range(depth):
            for j in range(cols):
                lane = d * cols + j
                if j >= p.n_max or d >= p.k_max:
                    continue  # a lane no job can use stays zero
                keep = (n_left > j) & (k_left > d) if depth > 1 else (n_left > j)
                m.d.comb += b_masked[lane].eq(Mux(keep, self.b.payload.data[lane], 0))
        m.d.comb += [
            self.b.ready.eq(active & ~b_done & ~Mux(b_bank, b_full[1], b_full[0])),
            b_wr.addr.eq(Mux(b_bank, bank_words, 0) + b_word),
            b_wr.data.eq(b_masked.as_value()),
            b_wr.en.eq(b_fire),
        ]
        b_release = Signal()  # the feeder is done with bank `f_bank`
        f_bank = Signal()
        with m.If(b_fire):
            m.d.sync += [b_k.eq(b_k + depth), b_word.eq(b_word + 1)]
            for bank in range(2):
                with m.If(b_bank == bank):
                    m.d.sync += b_filled[bank].eq(b_filled[bank] + 1)
            with m.If(b_k + depth >= K):
                m.d.sync += [b_k.eq(0), b_word.eq(0), b_bank.eq(~b_bank)]
                for bank in range(2):
                    with m.If(b_bank == bank):
                        m.d.sync += b_full[bank].eq(1)
                with m.If(b_nbase + cols >= N):
                    m.d.sync += b_done.eq(1)
                with m.Else():
                    m.d.sync += b_nbase.eq(b_nbase + cols)
        # A bank is released only when full, and the loader only writes banks that are not.
        for bank in range(2):
            with m.If(b_release & (f_bank == bank)):
                m.d.sync += [b_filled[bank].eq(0), b_full[bank].eq(0)]
        with m.If(start):
            m.d.sync += [b_k.eq(0), b_word.eq(0), b_bank.eq(0), b_nbase.eq(0), b_done.eq(0)]
        b_ready_words = Mux(f_bank, b_filled[1], b_filled[0])

        a_rd = a_mem.read_port()
        b_rd = b_mem.read_port()
        if p.engine in BROADCAST_ENGINES:
            array_class = BROADCAST_ENGINES[p.engine][0]
        else:
            array_class = SystolicWSArray if ws else SystolicArray
        array = m.submodules.array = array_class(p.array_params())
        m.d.comb += self.mac_count.eq(array.mac_count)

        if ws:
            self._ws_datapath(m, array, M, N, K, start, active, a_count, a_rd, b_rd, f_bank, b_release,
                              b_ready_words, bank_words, job_end)
        else:
            self._os_datapath(m, array, M, N, K, start, active, a_count, a_rd, b_rd, f_bank, b_release,
                              b_ready_words, bank_words, job_end)

        m.d.sync += self.cycle_count.eq(self.cycle_count + (active | start))
        return m

    # -- output-stationary engine ----------------------------------------------------------------------
    def _os_datapath(self, m, array, M, N, K, start, active, a_count, a_rd, b_rd, f_bank, b_release,
                     b_ready_words, bank_words, job_end):
        p = self.params
        cols, depth = p.cols, p.depth
        rows = 1 if p.engine == "tree" else p.rows
        # Feeder: tiles (nt, mt) of ceil(K/depth) beats, read from the buffers one beat per
        # cycle. Within a column block the A words are read in the order they were written.
        f_k = Signal(range(p.k_max + depth + 1))  # first K step of the beat
        f_beat = Signal(range(p.k_beats_max + 1))  # beat within the tile = B word in the bank
        f_mbase = Signal(range(p.m_max + rows + 1))
        f_nbase = Signal(range(p.n_max + cols + 1))
        f_done = Signal()
        a_addr = Signal(range(p.a_buffer_words + 1))
        tile_end = f_k + depth >= K
        beat_ready = active & ~f_done & (a_count > a_addr) & (b_ready_words > f_beat)
        out_valid = Signal()
        out_last = Signal()
        advance = ~out_valid | array.a.ready
        m.d.comb += [
            a_rd.addr.eq(a_addr), a_rd.en.eq(advance),
            b_rd.addr.eq(Mux(f_bank, bank_words, 0) + f_beat), b_rd.en.eq(advance),
            array.a.valid.eq(out_valid), array.b.valid.eq(out_valid),
            array.a.payload.data.eq(a_rd.data), array.a.payload.last.eq(out_last),
            array.b.payload.data.eq(b_rd.data),
        ]
        step = advance & beat_ready
        with m.If(advance):
            m.d.sync += [out_valid.eq(beat_ready), out_last.eq(tile_end)]
        with m.If(step):
            m.d.sync += [f_k.eq(f_k + depth), f_beat.eq(f_beat + 1), a_addr.eq(a_addr + 1)]
            with m.If(tile_end):
                m.d.sync += [f_k.eq(0), f_beat.eq(0)]
                with m.If(f_mbase + rows >= M):
                    m.d.sync += [f_mbase.eq(0), a_addr.eq(0), f_bank.eq(~f_bank)]
                    m.d.comb += b_release.eq(1)
                    with m.If(f_nbase + cols >= N):
                        m.d.sync += f_done.eq(1)
                    with m.Else():
                        m.d.sync += f_nbase.eq(f_nbase + cols)
                with m.Else():
                    m.d.sync += f_mbase.eq(f_mbase + rows)
        with m.If(start):
            m.d.sync += [f_k.eq(0), f_beat.eq(0), f_mbase.eq(0), f_nbase.eq(0), a_addr.eq(0), f_done.eq(0),
                         f_bank.eq(0)]

        # Collector: result rows in tile order; rows past M (padding of the last row block) dropped.
        o_row = Signal(range(rows)) if rows > 1 else Const(0)
        o_mbase = Signal(range(p.m_max + rows + 1))
        o_nbase = Signal(range(p.n_max + cols + 1))
        o_m = o_mbase + o_row
        keep = o_m < M
        final = (o_nbase + cols >= N) & (o_m == M - 1)
        m.d.comb += [
            self.c.valid.eq(array.c.valid & keep),
            self.c.payload.data.eq(array.c.payload.data),
            self.c.payload.last.eq(final),
            array.c.ready.eq(self.c.ready | ~keep),
        ]
        # The job ends with its last tile's last row, dropped or not, so that no row of it is
        # left in the array when the next job starts.
        last_tile = (o_mbase + rows >= M) & (o_nbase + cols >= N)
        m.d.comb += job_end.eq(array.c.valid & array.c.ready & last_tile & (o_row == rows - 1))
        with m.If(array.c.valid & array.c.ready):
            if rows > 1:
                m.d.sync += o_row.eq(o_row + 1)
            with m.If(o_row == rows - 1):
                if rows > 1:
                    m.d.sync += o_row.eq(0)
                with m.If(o_mbase + rows >= M):
                    m.d.sync += [o_mbase.eq(0), o_nbase.eq(o_nbase + cols)]
                with m.Else():
                    m.d.sync += o_mbase.eq(o_mbase + rows)
        with m.If(start):
            m.d.sync += [o_mbase.eq(0), o_nbase.eq(0)]
            if rows > 1:
                m.d.sync += o_row.eq(0)

    # -- weight-stationary engine ----------------------------------------------------------------------
    def _ws_datapath(self, m, array, M, N, K, start, active, a_count, a_rd, b_rd, f_bank, b_release,
                     b_ready_words, bank_words, job_end):
        p = self.params
        rows, cols = p.rows, p.cols
        # Weight feeder: tiles (nt, kt), rows weight rows each; rows past K are zeros.
        w_r = Signal(range(rows)) if rows > 1 else Const(0)
        w_kbase = Signal(range(p.k_max + rows + 1))
        w_nbase = Signal(range(p.n_max + cols + 1))
        w_done = Signal()
        w_k = Signal(range(p.k_max + rows + 1))
        m.d.comb += w_k.eq(w_kbase + w_r)
        w_pad = w_k >= K
        w_ready = active & ~w_done & (w_pad | (b_ready_words > w_k))
        w_valid = Signal()
        w_zero = Signal()
        w_advance = ~w_valid | array.w.ready
        m.d.comb += [
            b_rd.addr.eq(Mux(f_bank, bank_words, 0) + w_k), b_rd.en.eq(w_advance),
            array.w.valid.eq(w_valid),
            array.w.payload.data.eq(Mux(w_zero, 0, b_rd.data)),
        ]
        with m.If(w_advance):
            m.d.sync += [w_valid.eq(w_ready), w_zero.eq(w_pad)]
        with m.If(w_advance & w_ready):
            if rows > 1:
                m.d.sync += w_r.eq(w_r + 1)
            with m.If(w_r == rows - 1):
                if rows > 1:
                    m.d.sync += w_r.eq(0)
                with m.If(w_kbase + rows >= K):
                    m.d.sync += [w_kbase.eq(0), f_bank.eq(~f_bank)]
                    m.d.comb += b_release.eq(1)
                    with m.If(w_nbase + cols >= N):
                        m.d.sync += w_done.eq(1)
                    with m.Else():
                        m.d.sync += w_nbase.eq(w_nbase + cols)
                with m.Else():
                    m.d.sync += w_kbase.eq(w_kbase + rows)
        with m.If(start):
            if rows > 1:
                m.d.sync += w_r.eq(0)
            m.d.sync += [w_kbase.eq(0), w_nbase.eq(0), w_done.eq(0), f_bank.eq(0)]

        # Activation feeder: tiles (nt, kt), all M rows of the K block each.
        x_m = Signal(range(p.m_max + 1))
        x_kbase = Signal(range(p.k_max + rows + 1))
        x_base = Signal(range(p.a_buffer_words + p.m_max + 1))
        x_nbase = Signal(range(p.n_max + cols + 1))
        x_done = Signal()
        x_addr = Signal(range(p.a_buffer_words + p.m_max + 1))
        m.d.comb += x_addr.eq(x_base + x_m)
        x_ready = active & ~x_done & (a_count > x_addr)
        x_valid = Signal()
        x_last = Signal()
        x_advance = ~x_valid | array.a.ready
        m.d.comb += [
            a_rd.addr.eq(x_addr), a_rd.en.eq(x_advance),
            array.a.valid.eq(x_valid), array.a.payload.data.eq(a_rd.data), array.a.payload.last.eq(x_last),
        ]
        with m.If(x_advance):
            m.d.sync += [x_valid.eq(x_ready), x_last.eq(x_m == M - 1)]
        with m.If(x_advance & x_ready):
            m.d.sync += x_m.eq(x_m + 1)
            with m.If(x_m == M - 1):
                m.d.sync += x_m.eq(0)
                with m.If(x_kbase + rows >= K):
                    m.d.sync += [x_kbase.eq(0), x_base.eq(0)]
                    with m.If(x_nbase + cols >= N):
                        m.d.sync += x_done.eq(1)
                    with m.Else():
                        m.d.sync += x_nbase.eq(x_nbase + cols)
                with m.Else():
                    m.d.sync += [x_kbase.eq(x_kbase + rows), x_base.eq(x_base + M)]
        with m.If(start):
            m.d.sync += [x_m.eq(0), x_kbase.eq(0), x_base.eq(0), x_nbase.eq(0), x_done.eq(0)]

        # Collector: partial sums of the K blocks accumulate in the C buffer (read, add, write);
        # the last K block's sums leave on c. A row read in the cycle its address is written
        # sees the new sum (transparent read port), so back-to-back tiles need no bubble.
        acc_shape = p.acc_shape
        row_layout = data.ArrayLayout(acc_shape, cols)
        c_mem = m.submodules.c_buffer = Memory(shape=unsigned(cols * p.acc_width), depth=max(2, p.c_buffer_words), init=[])
        c_wr = c_mem.write_port()
        c_rd = c_mem.read_port(transparent_for=(c_wr,))
        y_m = Signal(range(p.m_max + 1))
        y_kbase = Signal(range(p.k_max + rows + 1))
        y_nbase = Signal(range(p.n_max + cols + 1))
        s_valid = Signal()
        s_first = Signal()
        s_final = Signal()
        s_last = Signal()
        s_m = Signal(range(p.m_max + 1))
        s_row = Signal(data.ArrayLayout(array.params.acc_shape, cols))
        out_fifo = m.submodules.c_fifo = fifo.SyncFIFOBuffered(width=cols * p.acc_width + 1, depth=4)
        s_go = ~s_final | out_fifo.w_rdy
        y_advance = ~s_valid | s_go
        m.d.comb += [
            array.c.ready.eq(y_advance),
            c_rd.addr.eq(y_m), c_rd.en.eq(y_advance),
        ]
        y_fire = array.c.valid & y_advance
        with m.If(y_advance):
            m.d.sync += [
                s_valid.eq(array.c.valid),
                s_row.eq(array.c.payload.data),
                s_first.eq(~y_kbase.any()),
                s_final.eq(y_kbase + rows >= K),
                s_last.eq((y_kbase + rows >= K) & (y_nbase + cols >= N) & (y_m == M - 1)),
                s_m.eq(y_m),
            ]
        with m.If(y_fire):
            m.d.sync += y_m.eq(y_m + 1)
            with m.If(y_m == M - 1):
                m.d.sync += y_m.eq(0)
                with m.If(y_kbase + rows >= K):
                    m.d.sync += [y_kbase.eq(0), y_nbase.eq(y_nbase + cols)]
                with m.Else():
                    m.d.sync += y_kbase.eq(y_kbase + rows)
        with m.If(start):
            m.d.sync += [y_m.eq(0), y_kbase.eq(0), y_nbase.eq(0)]

        previous = data.ArrayLayout(acc_shape, cols)(c_rd.data)
        total = Signal(row_layout)
        for j in range(cols):
            m.d.comb += total[j].eq(Mux(s_first, 0, previous[j]) + s_row[j])
        retire = s_valid & s_go
        m.d.comb += [
            c_wr.addr.eq(s_m), c_wr.data.eq(total.as_value()), c_wr.en.eq(retire & ~s_final),
            out_fifo.w_en.eq(s_valid & s_final),
            out_fifo.w_data.eq(Cat(total.as_value(), s_last)),
            self.c.valid.eq(out_fifo.r_rdy),
            self.c.payload.eq(out_fifo.r_data),
            out_fifo.r_en.eq(self.c.ready),
            job_end.eq(self.c.valid & self.c.ready & self.c.payload.last),
        ]
