"""2D-matrix (outer-product broadcast) engine (design ``matrix2d``).

A ``rows x cols`` grid of multiply-accumulate cells, output stationary. Every beat carries a
column of ``A`` (``rows`` operands, each broadcast along its row of cells) and a row of
``B`` (``cols`` operands, each broadcast down its column): the cells add the outer product.
Unlike the systolic array there is no skew, so a tile's results are all final in the same
cycle; they are held and leave one row per cycle while the next tile accumulates.
``depth`` is 1.

Stream interface, timing and counters: see :mod:`accelgen.generators.engines` (the common
interface of the ``tree``, ``matrix2d`` and ``cube3d`` engines); here ``a.data`` is
``[rows][1]`` and ``b.data`` is ``[1][cols]``.
"""

import dataclasses

from . import param, register
from .engines import BroadcastEngine, EngineParams

__all__ = ["Matrix2DParams", "Matrix2DEngine"]


@dataclasses.dataclass(frozen=True)
class Matrix2DParams(EngineParams):
    """Parameters of the 2D-matrix engine (see :class:`EngineParams` for the rest).

    Parameters
    ----------
    rows, cols : int
        Cells per column / per row = output tile size (1..64 each).
    """

    rows: int = param(4, "rows of MAC cells (output tile rows)", min=1, max=64)
    cols: int = param(4, "columns of MAC cells (output tile columns)", min=1, max=64)

    engine = "matrix2d"

    @property
    def depth(self) -> int:
        """One product per cell and beat."""
        return 1


@register(
    "matrix2d",
    params=Matrix2DParams,
    summary="2D-matrix engine: outer product of broadcast A column and B row per beat, output stationary",
)
class Matrix2DEngine(BroadcastEngine):
    """2D-matrix engine; interface of :class:`~.engines.BroadcastEngine` with ``depth = 1``."""

    params_class = Matrix2DParams
