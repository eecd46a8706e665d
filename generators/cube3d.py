"""3D-cube engine (design ``cube3d``).

A ``rows x cols x depth`` block of multipliers (TensorCore-like): every beat multiplies a
``rows x depth`` block of ``A`` with a ``depth x cols`` block of ``B``; each of the
``rows x cols`` outputs reduces its ``depth`` products with an adder tree and accumulates
over the beats of a tile.

With ``mac="same_weight_tree"`` each output's ``depth`` products are reduced as one
compressor tree of their partial products (one carry-propagate adder per output); with
``mac="carry_save"`` the accumulator joins that tree as a carry-save pair.

Stream interface, timing and counters: see :mod:`accelgen.generators.engines` (the common
interface of the ``tree``, ``matrix2d`` and ``cube3d`` engines).
"""

import dataclasses

from . import param, register
from .engines import BroadcastEngine, EngineParams

__all__ = ["Cube3DParams", "Cube3DEngine"]


@dataclasses.dataclass(frozen=True)
class Cube3DParams(EngineParams):
    """Parameters of the 3D-cube engine (see :class:`EngineParams` for the rest).

    Parameters
    ----------
    rows, cols : int
        Output tile size (1..64 each).
    depth : int
        Products per output and beat (the K extent of the cube, 1..64).
    """

    rows: int = param(2, "output tile rows", min=1, max=64)
    cols: int = param(2, "output tile columns", min=1, max=64)
    depth: int = param(4, "products per output and beat (K extent of the cube)", min=1, max=64)

    engine = "cube3d"


@register(
    "cube3d",
    params=Cube3DParams,
    summary="3D-cube engine: rows x cols x depth multipliers, an adder tree per output, accumulating",
)
class Cube3DEngine(BroadcastEngine):
    """3D-cube engine; the full interface of :class:`~.engines.BroadcastEngine`."""

    params_class = Cube3DParams
