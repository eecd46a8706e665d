"""Small integer helpers shared by hardware, parameter classes and models.

Amaranth's :mod:`amaranth.utils` already has the logarithms (re-exported here so that one
import serves); what it lacks is integer ceiling division and the width of a counter.
"""

from amaranth.hdl import Array, Const, Value
from amaranth.utils import bits_for, ceil_log2, exact_log2

__all__ = ["ceil_div", "ceil_log2", "exact_log2", "bits_for", "index_width", "equals", "select", "at_most"]


def ceil_div(numerator: int, denominator: int) -> int:
    """``ceil(numerator / denominator)`` in exact integer arithmetic (``denominator > 0``)."""
    return -(-numerator // denominator)


def index_width(count: int) -> int:
    """Bits of an index over ``count`` values, at least 1 (Amaranth has no zero-width ports
    we want to export): ``max(1, ceil_log2(count))``."""
    return max(1, ceil_log2(count))


def equals(value, constant: int):
    """Amaranth expression ``value == constant``; a comparison with 0 is written as a NOR of the
    bits, because Yosys would emit ``!value``, which Verilator's lint flags on a multi-bit value."""
    return value == constant if constant else ~value.any()


def select(values, index):
    """``values[index]`` as a multiplexer whose cases cover every code of the index: the index
    is cut to ``ceil_log2(len(values))`` bits (it must be in range) and the list is padded to a
    power of two with its last element, so the generated ``case`` is complete."""
    values = list(values)
    bits = max(1, ceil_log2(len(values)))
    values += [values[-1]] * ((1 << bits) - len(values))
    return Array(values)[Value.cast(index)[:bits]]


def at_most(value, constant: int):
    """Amaranth expression ``value <= constant`` for an unsigned ``value``; a constant 1 when every
    code of ``value`` satisfies it (Verilator's lint flags a comparison that is always true)."""
    value = Value.cast(value)
    if constant >= (1 << value.shape().width) - 1:
        return Const(1, 1)
    return value <= constant
