"""Constants and tables of the exp unit: one definition for the hardware and the golden model.

The exp unit maps ``d = max - x >= 0`` (an unsigned input code, real value ``d * S`` with the
input scale ``S = in_scale_num * 2**-in_frac``) to ``e ~= exp(-d * S)`` as an unsigned fixed
point code with ``exp_frac`` fraction bits (U1.E: ``e = 2**E`` is 1.0, and ``d = 0`` gives
exactly ``2**E``). Every real constant is turned into a code by
:func:`accelgen.hdl.fixedpoint.round_real` with a named rounding, and every table is built
here, so :mod:`accelgen.hdl.exp_unit` (hardware) and :mod:`accelgen.verif.softmax_golden`
(golden model) cannot disagree about a constant.

Variants (``approx``):

``"accurate"``
    ``width <= 8``: a table of ``round_half_up(2**E * exp(-d*S))`` over every code (exact,
    correctly rounded). Wider inputs: base-2 range reduction. ``t = d * S * log2(e)`` is
    formed with one constant multiply and rounded to ``t_frac`` fraction bits; its integer
    part ``n`` is a right shift, its fraction ``f`` indexes a ``2**table_bits``-segment chord
    table of ``2**-f`` (base and slope per segment) with linear interpolation; the final
    shift by ``n`` rounds half up.
``"shift"``
    The shift-only exp of I-ViT's Shiftmax: ``t = d + (d >> 1) - (d >> 4)`` (``log2 e``
    approximated by 1.4375), ``2**-frac ~= 1 - frac/2``, then a rounding shift. No multiplier.
``"ibert"``
    I-BERT's integer i-exp (second-order polynomial on ``[-ln 2, 0]`` with I-BERT's floored
    integer constants), scaled to U1.E with half-up rounding. Tabulated, so ``width <= 8``.
"""

import dataclasses
import functools
import math
from fractions import Fraction

from .fixedpoint import round_div, round_real, round_shift
from .util import ceil_log2

__all__ = ["APPROX_MODES", "ExpSpec", "exp_code", "exp_table", "ibert_exp_code", "shift_exp_code"]

#: Legal values of ``approx``: the accurate default and two cheaper published variants.
APPROX_MODES = ("accurate", "shift", "ibert")

#: Guard bits of the interpolation table below the output's fraction bits.
INTERP_GUARD = 2


@dataclasses.dataclass(frozen=True)
class ExpSpec:
    """Everything that defines the exp unit's integer function.

    Parameters
    ----------
    width : int
        Bits of ``d`` (unsigned; ``d <= 2**width - 1``).
    in_frac : int
        Input scale exponent: ``S = in_scale_num * 2**-in_frac``.
    in_scale_num : int
        Odd-or-any positive integer multiplying the power-of-two scale (1: power-of-two scale).
    exp_frac : int
        ``E``, fraction bits of the output ``e`` (U1.E, ``0 <= e <= 2**E``).
    out_frac : int
        Fraction bits of the softmax output; sizes the range-reduction precision.
    approx : str
        One of :data:`APPROX_MODES`.
    table_bits : int
        Index bits of the ``2**-f`` chord table (range reduction only).
    """

    width: int
    in_frac: int
    in_scale_num: int
    exp_frac: int
    out_frac: int
    approx: str = "accurate"
    table_bits: int = 7

    @property
    def scale(self) -> Fraction:
        """The input scale ``S`` as an exact fraction."""
        return Fraction(self.in_scale_num, 1 << self.in_frac)

    @property
    def kind(self) -> str:
        """``"table"`` (any mode, width <= 8), ``"range"`` (accurate, wider) or ``"shift"`` (wider)."""
        if self.width <= 8:
            return "table"
        return "range" if self.approx == "accurate" else "shift"

    @property
    def one(self) -> int:
        """The code of 1.0: ``2**E``."""
        return 1 << self.exp_frac

    # -- range reduction (accurate, width > 8) ------------------------------------------------
    @property
    def t_frac(self) -> int:
        """Fraction bits of ``t = d*S*log2(e)``: an error of one unit moves a term by
        ``0.7 * 2**-(out_frac + 6)`` relative, far below an output LSB."""
        return self.out_frac + 6

    @property
    def d_relevant(self) -> int:
        """Largest ``d`` whose term can be non-zero (beyond it ``e`` rounds to 0)."""
        limit = math.ceil((self.exp_frac + 3) / float(self.scale * Fraction(math.log2(math.e))))
        return min((1 << self.width) - 1, max(1, limit))

    @property
    def log2e_shift(self) -> int:
        """Extra fraction bits of the ``S*log2(e)`` constant, dropped (rounded) after the
        multiply: enough that the constant's own rounding moves ``t`` by at most half a unit
        for every relevant ``d``."""
        return ceil_log2(self.d_relevant + 1)

    @property
    def log2e_const(self) -> int:
        """``round_half_up(S * log2(e) * 2**(t_frac + log2e_shift))``."""
        return round_real(self.scale * Fraction(math.log2(math.e)), self.t_frac + self.log2e_shift, "half_up")

    @property
    def shift_cap(self) -> int:
        """Integer parts ``n`` at or above this give ``e = 0``; ``n`` saturates to it."""
        return self.exp_frac + 2

    @property
    def interp_bits(self) -> int:
        """Bits of ``f`` below the table index (the interpolation weight)."""
        return self.t_frac - self.table_bits

    def pow2_table(self) -> list[int]:
        """``round_half_up(2**-(i / 2**table_bits) * 2**(E + guard))`` for ``i = 0..2**table_bits``."""
        return list(_pow2_table(self.table_bits, self.exp_frac + INTERP_GUARD))

    def interp_tables(self) -> tuple[list[int], list[int]]:
        """``(base, slope)`` per segment: ``base[i] = pow2[i]``, ``slope[i] = pow2[i] - pow2[i+1] >= 0``."""
        pow2 = _pow2_table(self.table_bits, self.exp_frac + INTERP_GUARD)
        return list(pow2[:-1]), [pow2[i] - pow2[i + 1] for i in range(len(pow2) - 1)]

    # -- shift-only exp (approx="shift") -----------------------------------------------------
    @property
    def shift_unit(self) -> int:
        """``x0 = floor(1/S)``: the input code of 1.0 (I-ViT); a power of two when ``S`` is."""
        return max(1, int(1 / self.scale))


@functools.lru_cache(maxsize=64)
def _pow2_table(table_bits: int, frac_bits: int) -> tuple[int, ...]:
    steps = 1 << table_bits
    return tuple(round_real(2.0 ** (-i / steps), frac_bits, "half_up") for i in range(steps + 1))


def _range_exp(d: int, spec: ExpSpec) -> int:
    t = round_shift(d * spec.log2e_const, spec.log2e_shift, "half_up")
    n = min(t >> spec.t_frac, spec.shift_cap)
    f = t & ((1 << spec.t_frac) - 1)
    base, slope = spec.interp_tables()
    index, weight = f >> spec.interp_bits, f & ((1 << spec.interp_bits) - 1)
    v = base[index] - round_shift(slope[index] * weight, spec.interp_bits, "half_up")
    # Half-up rounding shift by n + guard: floor by one bit less, then add one and halve.
    return ((v >> (n + INTERP_GUARD - 1)) + 1) >> 1


def shift_exp_code(d: int, spec: ExpSpec) -> int:
    """The shift-only exp (I-ViT Shiftmax) of ``d``, as a U1.E code."""
    t = d + (d >> 1) - (d >> 4)
    x0 = spec.shift_unit
    q, r = divmod(t, x0)
    if q > spec.exp_frac + 1:
        return 0
    # 2**-(q + r/x0) ~= (1 - r/(2*x0)) / 2**q, rounded half up at 2**-E.
    return round_div((2 * x0 - r) << spec.exp_frac, x0 << (q + 1), "half_up")


def ibert_exp_code(d: int, spec: ExpSpec) -> int:
    """I-BERT's integer i-exp of ``-d*S`` (constants floored as in I-BERT), as a U1.E code."""
    s = float(spec.scale)
    x0_int = math.floor(-0.6931 / s)
    b_int = math.floor(0.96963238 / 0.35815147 / s)
    c_int = math.floor(1 / 0.35815147 / s**2)
    x_int = -d
    q = math.floor(Fraction(x_int, x0_int))
    r = x_int - x0_int * q
    poly = r * (r + b_int) + c_int
    # exp_int = max(floor(poly * 2**(30 - q)), 0), real value exp_int * 0.35815147 * S**2 / 2**30.
    exp_int = max(math.floor(Fraction(poly) * Fraction(2) ** (30 - q)), 0)
    value = Fraction(exp_int) * Fraction(0.35815147) * Fraction(s) ** 2 / (1 << 30)
    return min(round_real(value, spec.exp_frac, "half_up"), spec.one)


def exp_code(d: int, spec: ExpSpec) -> int:
    """``e(d)`` as the hardware computes it (scalar reference of every variant)."""
    if not 0 <= d < (1 << spec.width):
        raise ValueError(f"d={d} is outside 0..{(1 << spec.width) - 1}")
    if spec.approx == "ibert":
        return ibert_exp_code(d, spec)
    if spec.approx == "shift":
        return shift_exp_code(d, spec)
    if spec.kind == "table":
        return round_real(math.exp(-float(d * spec.scale)), spec.exp_frac, "half_up")
    return _range_exp(d, spec)


def exp_table(spec: ExpSpec) -> list[int]:
    """``exp_code(d)`` for every ``d`` (the ROM contents of a tabulated exp unit)."""
    return [exp_code(d, spec) for d in range(1 << spec.width)]
