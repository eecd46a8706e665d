"""Small integer helpers shared by hardware, parameter classes and models.

Amaranth's :mod:`amaranth.utils` already has the logarithms (re-exported here so that one
import serves); what it lacks is integer ceiling division and the width of a counter.
"""

from amaranth.utils import bits_for, ceil_log2, exact_log2

__all__ = ["ceil_div", "ceil_log2", "exact_log2", "bits_for", "index_width"]


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` in exact integer arithmetic (``denominator > 0``)."""
    return -(-numerator // denominator)


def index_width(count: int) -> int:
    """Bits of an index over ``count`` values, at least 1 (Amaranth has no zero-width ports
    we want to export): ``max(1, ceil_log2(count))``."""
    return max(1, ceil_log2(count))
