"""Fixed-point narrowing with a named rounding mode, for hardware and golden models alike.

Every narrowing in accelgen (a right shift that drops fraction bits, a division, a real
constant turned into a code) names its rounding mode from :data:`ROUNDING_MODES` and then
saturates explicitly. The integer functions here work on Python ints and on numpy integer
arrays (``int64`` or ``object``), so the generators (which build tables and constants with
them) and the golden models (which replay the datapath with them) share one definition;
:func:`round_shift_expr` is the same operation as an Amaranth expression.
"""

from fractions import Fraction

import numpy as np
from amaranth.hdl import Const, Value

__all__ = [
    "ROUNDING_MODES",
    "check_rounding",
    "round_shift",
    "round_div",
    "round_real",
    "saturate",
    "int_range",
    "assert_fits",
    "round_shift_expr",
]

#: Legal rounding modes. ``"floor"``: toward minus infinity (a plain arithmetic right shift).
#: ``"half_up"``: to nearest, ties toward plus infinity (add half, then floor).
#: ``"half_even"``: to nearest, ties to the even neighbour (unbiased).
ROUNDING_MODES = ("floor", "half_up", "half_even")


def check_rounding(mode: str, name: str = "rounding") -> str:
    """``mode`` if it is a legal rounding mode; ``ValueError`` naming ``name`` otherwise."""
    if mode not in ROUNDING_MODES:
        raise ValueError(f"{name}={mode!r} is not a rounding mode; legal values: {', '.join(ROUNDING_MODES)}")
    return mode


def _is_array(value) -> bool:
    return isinstance(value, np.ndarray)


def round_shift(value, shift: int, mode: str):
    """``value / 2**shift`` rounded to an integer by ``mode`` (``shift >= 0``).

    Parameters
    ----------
    value : int or numpy.ndarray of integers
        Numerator; arrays keep their dtype (use ``int64`` or ``object`` so nothing overflows).
    shift : int
        Number of fraction bits dropped.
    mode : str
        One of :data:`ROUNDING_MODES`.
    """
    check_rounding(mode)
    if shift < 0:
        raise ValueError(f"shift={shift} must be >= 0")
    if shift == 0:
        return value
    floor = value >> shift
    if mode == "floor":
        return floor
    remainder = value - (floor << shift)
    half = 1 << (shift - 1)
    if mode == "half_up":
        up = remainder >= half
    else:
        up = (remainder > half) | ((remainder == half) & ((floor & 1) == 1))
    if _is_array(value):
        return floor + up.astype(floor.dtype)
    return floor + int(up)


def round_div(numerator, denominator: int, mode: str):
    """``numerator / denominator`` rounded to an integer by ``mode`` (``denominator > 0``).

    Works on Python ints and numpy integer arrays (numerator); exact, no floating point.
    """
    check_rounding(mode)
    if denominator <= 0:
        raise ValueError(f"denominator={denominator} must be > 0")
    floor = numerator // denominator
    if mode == "floor":
        return floor
    twice_remainder = 2 * (numerator - floor * denominator)
    if mode == "half_up":
        up = twice_remainder >= denominator
    else:
        up = (twice_remainder > denominator) | ((twice_remainder == denominator) & ((floor & 1) == 1))
    if _is_array(numerator):
        return floor + up.astype(floor.dtype)
    return floor + int(up)


def round_real(value, frac_bits: int, mode: str) -> int:
    """The integer code of real ``value`` with ``frac_bits`` fraction bits, rounded by ``mode``.

    ``value`` is a float, ``Fraction`` or int; floats are taken at their exact binary value,
    so the result is the correctly rounded code of that float.
    """
    check_rounding(mode)
    exact = Fraction(value) * (1 << frac_bits) if frac_bits >= 0 else Fraction(value) / (1 << -frac_bits)
    return round_div(exact.numerator, exact.denominator, mode)


def saturate(value, lo: int, hi: int):
    """``value`` clamped to ``[lo, hi]`` (ints or numpy arrays)."""
    if _is_array(value):
        return np.clip(value, lo, hi)
    return min(max(value, lo), hi)


def int_range(width: int, is_signed: bool) -> tuple[int, int]:
    """Smallest and largest code of a ``width``-bit integer (inclusive)."""
    if is_signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def assert_fits(value, width: int, is_signed: bool, what: str):
    """Return ``value`` after asserting every element fits ``width`` bits.

    Golden models call this after every operation, so a datapath register that is one bit
    too narrow shows up as an assertion naming the operation rather than as a mismatch.
    """
    lo, hi = int_range(width, is_signed)
    if _is_array(value):
        bad = (value < lo) | (value > hi)
        if bad.any():
            raise AssertionError(f"{what}: {value[bad].ravel()[0]} does not fit "
                                 f"{'signed' if is_signed else 'unsigned'}({width})")
    elif not lo <= value <= hi:
        raise AssertionError(f"{what}: {value} does not fit {'signed' if is_signed else 'unsigned'}({width})")
    return value


def round_shift_expr(value: Value, shift: int, mode: str) -> Value:
    """Amaranth expression for :func:`round_shift`: ``value / 2**shift`` rounded by ``mode``.

    The result is one bit wider than ``value >> shift`` for the rounding modes that can round
    up (so the carry of rounding the largest code is kept); saturate it explicitly if needed.
    """
    check_rounding(mode)
    value = Value.cast(value)
    width = value.shape().width
    if not 0 <= shift < width:
        raise ValueError(f"shift={shift} is out of range for a {width}-bit value; legal range: 0..{width - 1}")
    if shift == 0:
        return value
    floor = value >> shift
    if mode == "floor":
        return floor
    half_bit = value[shift - 1]
    if mode == "half_up":
        up = half_bit
    else:
        sticky = value[: shift - 1].any() if shift > 1 else Const(0, 1)
        up = half_bit & (sticky | value[shift])
    # Amaranth widens the sum, so rounding the largest code up does not wrap.
    return floor + up
