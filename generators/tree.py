"""Multiplier-adder tree engine (design ``tree``).

``cols`` dot-product trees of ``depth`` products each; all trees share one activation
vector per beat (``a.data[0]``, ``depth`` operands, broadcast) and each has its own
``depth`` B operands (a column of ``b.data``). Every beat, each tree reduces its ``depth``
products and adds them to its accumulator; a tile of ``K`` beats computes one row of
``C = A @ B`` with ``K * depth`` reduction steps (``A``: 1 x ``K*depth``, ``B``: ``K*depth``
x ``cols``). ``rows`` is 1.

With ``mac="same_weight_tree"`` the partial products of all ``depth`` products of a tree are
compressed together by bit weight, with one carry-propagate adder per tree; with
``mac="carry_save"`` the accumulator joins that compressor as a carry-save pair and the
only carry-propagate adder is on the way out. The Booth recoding of the shared activations
is the same logic for every tree, so synthesis shares it.

Stream interface, timing and counters: see :mod:`accelgen.generators.engines` (the common
interface of the ``tree``, ``matrix2d`` and ``cube3d`` engines).
"""

import dataclasses

from . import param, register
from .engines import BroadcastEngine, EngineParams

__all__ = ["TreeParams", "TreeEngine"]


@dataclasses.dataclass(frozen=True)
class TreeParams(EngineParams):
    """Parameters of the multiplier-adder tree engine (see :class:`EngineParams` for the rest).

    Parameters
    ----------
    depth : int
        Products per tree and beat (the K extent of the tree, 1..64).
    cols : int
        Trees in parallel, sharing the activation vector (1..64).
    """

    depth: int = param(4, "products per tree and beat (K lanes)", min=1, max=64)
    cols: int = param(4, "trees in parallel (outputs per beat), sharing the activations", min=1, max=64)

    engine = "tree"

    @property
    def rows(self) -> int:
        """One row: all trees share one activation vector."""
        return 1


@register(
    "tree",
    params=TreeParams,
    summary="multiplier-adder tree engine: cols dot products of depth lanes per beat, shared activations",
)
class TreeEngine(BroadcastEngine):
    """Multiplier-adder tree engine; interface of :class:`~.engines.BroadcastEngine` with ``rows = 1``."""

    params_class = TreeParams
