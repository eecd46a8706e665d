"""Tables and constants of the elementwise activation units (GELU, SiLU), in pure Python.

The generator (:mod:`accelgen.generators.activation`) and the bit-exact golden model
(:mod:`accelgen.verif.activation_golden`) both build their constants here, so the hardware
and the model cannot drift apart. Real values are computed in float64 once, then turned into
codes by a named rounding (:mod:`accelgen.hdl.fixedpoint`) and saturated.

Both functions are written as ``f(x) = ReLU(x) - delta(|x|)``:

- GELU: ``delta(t) = t * (1 - Phi(t)) = t * erfc(t / sqrt 2) / 2`` (bounded by 0.170);
- SiLU: ``delta(t) = t * sigmoid(-t) = t / (1 + e^t)`` (bounded by 0.278).

``delta`` is even in ``x``, smooth, small and decays to 0, which is what makes it cheap to
tabulate (the structure of Edge-MoE's GELU). Three datapaths are described here:

- :func:`exact_table`: every input code's correctly rounded output (for narrow inputs);
- :class:`InterpPlan`: a table of ``delta`` at a uniform step with linear interpolation;
- :class:`IbertPlan` / :class:`HardSigmoidPlan`: the cheaper published approximations
  (I-BERT's integer i-GELU; SiLU with the shift-only hard sigmoid ``clamp(x/4 + 1/2, 0, 1)``).
"""

import dataclasses
import functools
import math
from fractions import Fraction

import numpy as np

from .fixedpoint import int_range, round_div, round_real, round_shift, saturate

__all__ = [
    "FUNCTIONS",
    "delta_real",
    "delta_second_derivative",
    "delta_negligible_beyond",
    "exact_code",
    "exact_table",
    "ReluSplitTable",
    "relu_split_table",
    "InterpPlan",
    "interp_plan",
    "interp_max_error",
    "choose_seg_frac",
    "MAX_TABLE_ENTRIES",
    "IbertPlan",
    "ibert_plan",
    "HardSigmoidPlan",
    "hard_sigmoid_plan",
    "range_bits",
]

#: The elementwise functions.
FUNCTIONS = ("gelu", "silu")

#: Rounding of every table entry and constant of the accurate datapaths.
TABLE_ROUNDING = "half_up"
#: Rounding of every datapath narrowing of the accurate datapaths (``round_half_up``).
OUTPUT_ROUNDING = "half_up"


def _check_kind(kind: str) -> str:
    if kind not in FUNCTIONS:
        raise ValueError(f"kind={kind!r} is not an elementwise function; legal values: {', '.join(FUNCTIONS)}")
    return kind


def delta_real(kind: str, t: float) -> float:
    """``delta(t) = ReLU(t) - f(t)`` for ``t >= 0`` in float64 (accurate in relative terms)."""
    _check_kind(kind)
    if t < 0:
        raise ValueError(f"t={t} must be >= 0")
    if kind == "gelu":
        return t * 0.5 * math.erfc(t / math.sqrt(2.0))
    e = math.exp(-t)
    return t * e / (1.0 + e)


def delta_second_derivative(kind: str, t: float) -> float:
    """``delta''(t)`` (float64): sets the chord error ``h^2 |delta''| / 8`` of a segment."""
    _check_kind(kind)
    if kind == "gelu":
        phi = math.exp(-0.5 * t * t) / math.sqrt(2.0 * math.pi)
        return phi * (t * t - 2.0)
    s = 1.0 / (1.0 + math.exp(t))  # sigmoid(-t)
    ds = -s * (1.0 - s)
    d2s = -ds * (1.0 - 2.0 * s)
    return 2.0 * ds + t * d2s


def delta_negligible_beyond(kind: str, frac_bits: int) -> float:
    """Smallest ``t`` (on a 1/64 grid) from which ``delta(t) < 2**-frac_bits`` for good."""
    t = 0.0
    last_big = 0.0
    while t < 64.0:
        if delta_real(kind, t) >= 2.0 ** -frac_bits:
            last_big = t
        t += 1.0 / 64
    return last_big + 1.0 / 64


def range_bits(lo: int, hi: int) -> tuple[int, bool]:
    """``(width, signed)`` of the narrowest two's-complement / unsigned integer holding ``[lo, hi]``."""
    if lo >= 0:
        return max(1, hi.bit_length()), False
    width = max((-lo - 1).bit_length(), hi.bit_length()) + 1
    return width, True


# -- correctly rounded codes ------------------------------------------------------------------

def exact_code(kind: str, x: int, in_frac: int, out_frac: int, out_lo: int, out_hi: int) -> int:
    """The correctly rounded output code of input code ``x``.

    ``sat(round_half_up(f(x * 2**-in_frac) * 2**out_frac))``: ``ReLU`` is exact (a
    ``Fraction``) and ``delta`` is a float64 with ~1e-16 relative error, far below any rounding
    tie. Where float64 ``delta`` underflows to 0 the true value is still positive, so the
    result is nudged below a possible tie instead of rounding a tie up.
    """
    t = Fraction(abs(x), 1 << in_frac)
    delta = Fraction(delta_real(kind, float(t)))
    if delta == 0 and x != 0:
        delta = Fraction(1, 1 << 4000)
    value = (max(Fraction(x, 1 << in_frac), Fraction(0)) - delta) * (1 << out_frac)
    code = round_div(value.numerator, value.denominator, OUTPUT_ROUNDING)
    return saturate(code, out_lo, out_hi)


def exact_table(kind: str, width: int, in_frac: int, out_width: int, out_frac: int) -> list[int]:
    """Correctly rounded output code of every input code, indexed by the unsigned input code.

    Entry ``u`` (``0 <= u < 2**width``) is the output for the signed input whose two's
    complement bit pattern is ``u``, i.e. exactly what a ROM addressed by the input bits holds.
    """
    _check_kind(kind)
    out_lo, out_hi = int_range(out_width, True)
    table = []
    for u in range(1 << width):
        x = u - (1 << width) if u >> (width - 1) else u
        table.append(exact_code(kind, x, in_frac, out_frac, out_lo, out_hi))
    return table


#: Correction width from which :class:`ReluSplitTable` addresses its table by ``|x|``.
MAGNITUDE_INDEX_MIN_BITS = 4


@dataclasses.dataclass(frozen=True)
class ReluSplitTable:
    """The exact table written as ``y = ReLU'(x) - corrections[x]``.

    ``ReLU'(x)`` is ``ReLU(x)`` moved to ``out_frac`` bits by a plain shift (``floor`` when
    bits are dropped); ``corrections[u] = ReLU'(x) - exact_table[u]`` holds what is left of
    ``delta`` (a few bits wide instead of ``out_width``), so the table shrinks to a small ROM
    plus a subtractor. The subtraction reproduces every entry of :func:`exact_table` exactly.
    """

    relu_shift: int
    relu_width: int
    corrections: tuple
    magnitude_corrections: tuple | None

    @property
    def correction_bits(self) -> tuple[int, bool]:
        """``(width, signed)`` of a correction."""
        return range_bits(min(self.corrections), max(self.corrections))

    @property
    def indexed_by_magnitude(self) -> bool:
        """Address the corrections by ``|x|`` (one address bit fewer, plus an absolute value).

        Only possible when the correction is even in ``x`` (it is when ``out_frac == in_frac``:
        ``correction = ceil(delta(|x|) * 2**out_frac - 1/2)`` on both sides). It pays once the
        table is :data:`MAGNITUDE_INDEX_MIN_BITS` bits wide: measured with ``synth_ice40``, SiLU
        int8 at 2**-5 (4-bit corrections) drops from 71 to 57 LUT4, while 1-3-bit tables grow.
        """
        return self.magnitude_corrections is not None and self.correction_bits[0] >= MAGNITUDE_INDEX_MIN_BITS


def relu_split_table(kind: str, width: int, in_frac: int, out_width: int, out_frac: int) -> ReluSplitTable:
    """:func:`exact_table` as ``ReLU'(x) - corrections[x]`` (see :class:`ReluSplitTable`)."""
    table = exact_table(kind, width, in_frac, out_width, out_frac)
    shift = out_frac - in_frac
    corrections = []
    for u, entry in enumerate(table):
        x = u - (1 << width) if u >> (width - 1) else u
        relu = max(x, 0) << shift if shift >= 0 else max(x, 0) >> -shift
        corrections.append(relu - entry)
    relu_width = max(1, (((1 << (width - 1)) - 1) << max(shift, 0) >> max(-shift, 0)).bit_length())
    by_magnitude = {}
    for u, correction in enumerate(corrections):
        x = u - (1 << width) if u >> (width - 1) else u
        by_magnitude.setdefault(abs(x), set()).add(correction)
    even = all(len(values) == 1 for values in by_magnitude.values())
    magnitude = tuple(by_magnitude[a].pop() for a in range(1 << (width - 1))) if even else None
    if even:
        magnitude += (by_magnitude[1 << (width - 1)].pop(),)
    return ReluSplitTable(shift, relu_width, tuple(corrections), magnitude)


# -- table of delta with linear interpolation -------------------------------------------------

@dataclasses.dataclass(frozen=True)
class InterpPlan:
    """Constants and widths of the ``ReLU(x) - delta(|x|)`` datapath with interpolation.

    With ``a = |x|`` (unsigned, ``width`` bits), ``i = a >> offset_bits`` and
    ``u = a mod 2**offset_bits``, the unit computes (all integers)::

        j     = min(i, segments)                      # beyond the table: delta = 0
        s     = values[j] * 2**offset_bits + slopes[j] * u      # delta, 2**-(value_frac+offset_bits)
        r     = ReLU(x) * 2**relu_shift                          # same scale
        y     = sat(round_half_up((r - s) / 2**out_shift))       # out_frac bits, out_width

    ``values[k]`` is ``delta`` at ``t_k = k * 2**-seg_frac`` lowered by ``h^2 delta''(t_k)/16``
    (half the chord error, which centres the interpolation error of convex/concave pieces),
    rounded half-up to ``value_frac`` bits; ``slopes[k] = values[k+1] - values[k]``. The last
    entry (index ``segments``) is the end node with slope 0: ``delta`` at the largest input
    magnitude when the table reaches it, else 0 (``delta`` is negligible from there on).

    Attributes
    ----------
    kind : str
        ``"gelu"`` or ``"silu"``.
    width, in_frac, out_width, out_frac : int
        Input and output formats.
    seg_frac : int
        Table step ``h = 2**-seg_frac``.
    guard : int
        Extra fraction bits of the table entries beyond ``out_frac``.
    segments : int
        Segments tabulated; ``delta`` is 0 from ``segments * h`` on.
    values, slopes : tuple of int
        Table contents (``segments + 1`` entries each).
    """

    kind: str
    width: int
    in_frac: int
    out_width: int
    out_frac: int
    seg_frac: int
    guard: int
    segments: int
    values: tuple
    slopes: tuple

    @property
    def offset_bits(self) -> int:
        """Bits of ``|x|`` below the segment index (``in_frac - seg_frac``)."""
        return self.in_frac - self.seg_frac

    @property
    def value_frac(self) -> int:
        """Fraction bits of the table entries (``out_frac + guard``, at least ``seg_frac``)."""
        return max(self.out_frac + self.guard, self.seg_frac)

    @property
    def relu_shift(self) -> int:
        """Left shift taking ``ReLU(x)`` (``in_frac`` bits) to the scale of ``s``."""
        return self.value_frac + self.offset_bits - self.in_frac

    @property
    def out_shift(self) -> int:
        """Fraction bits dropped by the final rounding."""
        return self.value_frac + self.offset_bits - self.out_frac

    @property
    def abs_width(self) -> int:
        """Width of ``|x|`` (unsigned; holds ``2**(width-1)`` for the most negative code)."""
        return self.width

    @property
    def index_width(self) -> int:
        """Width of the clamped segment index ``j``."""
        return max(1, self.segments.bit_length())

    @property
    def value_bits(self) -> tuple[int, bool]:
        """``(width, signed)`` of a table value."""
        return range_bits(min(self.values), max(self.values))

    @property
    def slope_bits(self) -> tuple[int, bool]:
        """``(width, signed)`` of a table slope."""
        return range_bits(min(self.slopes), max(self.slopes))

    @property
    def product_range(self) -> tuple[int, int]:
        """Exact range of ``slopes[j] * u``."""
        top = (1 << self.offset_bits) - 1
        return min(min(self.slopes) * top, 0), max(max(self.slopes) * top, 0)

    @property
    def delta_range(self) -> tuple[int, int]:
        """Exact range of ``s`` over every table entry and offset."""
        top = (1 << self.offset_bits) - 1
        ends = [v << self.offset_bits for v in self.values]
        ends += [(v << self.offset_bits) + d * top for v, d in zip(self.values, self.slopes)]
        return min(ends), max(ends)

    @property
    def relu_range(self) -> tuple[int, int]:
        """Exact range of ``r`` (``ReLU(x)`` scaled)."""
        return 0, ((1 << (self.width - 1)) - 1) << self.relu_shift

    @property
    def difference_range(self) -> tuple[int, int]:
        """Exact range of ``r - s``."""
        d_lo, d_hi = self.delta_range
        r_lo, r_hi = self.relu_range
        return r_lo - d_hi, r_hi - d_lo

    @property
    def entries(self) -> int:
        """Table entries (``segments + 1``)."""
        return self.segments + 1


def interp_plan(kind: str, width: int, in_frac: int, out_width: int, out_frac: int,
                seg_frac: int, guard: int = 3) -> InterpPlan:
    """Build the :class:`InterpPlan` of one configuration.

    The table ends where ``delta`` stays below a quarter of an entry LSB, or at the largest
    input magnitude, whichever comes first. ``guard = 3`` keeps the entries' rounding at
    1/16 output LSB; a fourth bit bought nothing measurable at Q3.12 (GELU 0.686 vs 0.693 LSB,
    SiLU 0.654 vs 0.635) and cost ~60-80 iCE40 LUT4.
    """
    _check_kind(kind)
    if not 0 <= seg_frac < in_frac:
        raise ValueError(f"seg_frac={seg_frac} is out of range: must be an integer in 0..{in_frac - 1} "
                         f"(the table step 2**-seg_frac must be coarser than the input step 2**-{in_frac})")
    value_frac = max(out_frac + guard, seg_frac)
    h = 2.0 ** -seg_frac
    max_magnitude = 2.0 ** (width - 1 - in_frac)  # |x| of the most negative code
    end = min(delta_negligible_beyond(kind, value_frac + 2), max_magnitude)
    segments = max(1, math.ceil(end / h))
    values = []
    for k in range(segments):
        t = k * h
        centred = delta_real(kind, t) - h * h * delta_second_derivative(kind, t) / 16.0
        values.append(round_real(centred, value_frac, TABLE_ROUNDING))
    if segments * h >= max_magnitude:
        # The table reaches the largest |x|: its end node is the true function there.
        t = segments * h
        end_value = round_real(delta_real(kind, t) - h * h * delta_second_derivative(kind, t) / 16.0,
                               value_frac, TABLE_ROUNDING)
    else:
        end_value = 0
    slopes = [values[k + 1] - values[k] for k in range(segments - 1)] + [end_value - values[-1]]
    # Index `segments` is reached by |x| >= segments * h: the end node, flat from there on.
    values.append(end_value)
    slopes.append(0)
    return InterpPlan(kind, width, in_frac, out_width, out_frac, seg_frac, guard, segments,
                      tuple(values), tuple(slopes))


#: Largest interpolation table the generator builds (larger ones are slower than a full table).
MAX_TABLE_ENTRIES = 1024
#: Default accuracy of the interpolating datapath: the coarsest table step whose max error over
#: every input code is at most this many output LSB (1 LSB is the requirement, this the stretch).
DEFAULT_ERROR_GOAL = 0.75
#: Largest max error (output LSB) an explicitly chosen table step may have.
MAX_ERROR = 1.0


def interp_max_error(plan: InterpPlan) -> float:
    """Max ``|error|`` in output LSB of ``plan`` over every input code, against float64.

    A design-time search over the table step uses it (numpy, a few ms for 2**16 codes); the
    golden model replays the same datapath independently, with width checks, and the tests
    measure its error against the separate float64 reference.
    """
    lo, hi = int_range(plan.out_width, True)
    x = np.arange(-(1 << (plan.width - 1)), 1 << (plan.width - 1), dtype=np.int64)
    magnitude = np.abs(x)
    index = np.minimum(magnitude >> plan.offset_bits, plan.segments)
    offset = magnitude & ((1 << plan.offset_bits) - 1)
    values = np.array(plan.values, dtype=np.int64)
    slopes = np.array(plan.slopes, dtype=np.int64)
    delta = (values[index] << plan.offset_bits) + slopes[index] * offset
    y = np.clip(round_shift((np.maximum(x, 0) << plan.relu_shift) - delta, plan.out_shift, OUTPUT_ROUNDING), lo, hi)
    t = magnitude * 2.0 ** -plan.in_frac
    real_delta = np.array([delta_real(plan.kind, v) for v in np.unique(t)])
    real = np.maximum(x, 0) * 2.0 ** -plan.in_frac - real_delta[np.searchsorted(np.unique(t), t)]
    ideal = np.clip(real * 2.0 ** plan.out_frac, lo, hi)
    return float(np.abs(y - ideal).max())


@functools.lru_cache(maxsize=256)
def choose_seg_frac(kind: str, width: int, in_frac: int, out_width: int, out_frac: int,
                    goal: float = DEFAULT_ERROR_GOAL) -> int:
    """Coarsest table step ``2**-seg_frac`` whose max error is at most ``goal`` LSB.

    Falls back to the best step reaching :data:`MAX_ERROR`; raises ``ValueError`` naming the
    formats when no step with at most :data:`MAX_TABLE_ENTRIES` entries reaches it.
    """
    best = None
    for seg_frac in range(0, in_frac):
        plan = interp_plan(kind, width, in_frac, out_width, out_frac, seg_frac)
        if plan.entries > MAX_TABLE_ENTRIES:
            break
        error = interp_max_error(plan)
        if error <= goal:
            return seg_frac
        if error <= MAX_ERROR and best is None:
            best = seg_frac
    if best is not None:
        return best
    raise ValueError(
        f"out_frac={out_frac} with in_frac={in_frac}, width={width}: no {kind} interpolation table of at most "
        f"{MAX_TABLE_ENTRIES} entries reaches {MAX_ERROR} output LSB; use fewer output fraction bits, "
        f"more input fraction bits, or method='table' (width <= 12)"
    )


# -- I-BERT integer GELU (i-GELU) -------------------------------------------------------------

#: I-BERT's erf polynomial ``L(z) = sgn(z) [a (min(|z|, -b) + b)^2 + 1]`` and its sqrt(2).
IBERT_A = -0.2888
IBERT_B = -1.769
IBERT_SQRT2 = 1.4142
#: Bits the erf term keeps after I-BERT's overflow shift (I-BERT shifts by a fixed 14 for
#: its 32-bit inputs; here the shift is chosen so that the term "1.0" is about 2**14).
IBERT_ERF_BITS = 14
#: Fraction bits of the requantizing multiplier constant.
IBERT_REQUANT_BITS = 16


@dataclasses.dataclass(frozen=True)
class IbertPlan:
    """Integer constants of I-BERT's i-GELU (kssteven418/I-BERT ``IntGELU``) plus a requantizer.

    Datapath (integers; ``floor`` is an arithmetic shift / floor division as in I-BERT)::

        a    = min(|x|, -b_int)
        erf  = sgn(x) * ((a + b_int)^2 + c_int)
        erf  = floor(erf / 2**shift)
        p    = x * (erf + one)                      # one = floor(1 / sigmoid_scale)
        y    = sat(round_half_up(p * multiplier / 2**requant_shift))

    ``b_int = floor(b / S')``, ``c_int = floor((1/a) / S'^2)`` with ``S' = 2**-in_frac / 1.4142``
    are floored like I-BERT's code; ``multiplier`` rounds the real output scale
    ``S * sigmoid_scale / 2 / S_out`` half-up to ``requant_shift`` fraction bits.
    """

    width: int
    in_frac: int
    out_width: int
    out_frac: int
    b_int: int
    c_int: int
    shift: int
    one: int
    multiplier: int
    requant_shift: int


def ibert_plan(width: int, in_frac: int, out_width: int, out_frac: int) -> IbertPlan:
    """The :class:`IbertPlan` of one configuration (constants in float64, then ``floor``)."""
    scale = 2.0 ** -in_frac
    scale_erf = scale / IBERT_SQRT2
    b_int = round_real(IBERT_B / scale_erf, 0, "floor")
    c_int = round_real((1.0 / IBERT_A) / scale_erf ** 2, 0, "floor")
    shift = max(0, abs(c_int).bit_length() - 1 - IBERT_ERF_BITS)
    sigmoid_scale = scale_erf ** 2 * IBERT_A * 2.0 ** shift
    one = round_real(1.0 / sigmoid_scale, 0, "floor")
    real_multiplier = scale * sigmoid_scale / 2.0 / 2.0 ** -out_frac
    # Enough fraction bits that the multiplier keeps IBERT_REQUANT_BITS significant bits.
    requant_shift = max(0, IBERT_REQUANT_BITS - 1 - math.floor(math.log2(abs(real_multiplier))))
    multiplier = round_real(real_multiplier, requant_shift, TABLE_ROUNDING)
    return IbertPlan(width, in_frac, out_width, out_frac, b_int, c_int, shift, one, multiplier, requant_shift)


# -- SiLU with the shift-only hard sigmoid ----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class HardSigmoidPlan:
    """SiLU as ``x * clamp(x/4 + 1/2, 0, 1)`` (hard sigmoid with sigmoid's slope at 0; no table).

    Datapath (integers)::

        g = clamp(x + 2**(in_frac+1), 0, 2**(in_frac+2))   # sigma_hard(x), 2**-(in_frac+2)
        p = x * g                                           # 2**-(2 in_frac + 2)
        y = sat(round_half_up(p / 2**out_shift))           # or p * 2**-out_shift if negative
    """

    width: int
    in_frac: int
    out_width: int
    out_frac: int

    @property
    def gate_max(self) -> int:
        """Code of ``sigma_hard = 1``."""
        return 1 << (self.in_frac + 2)

    @property
    def out_shift(self) -> int:
        """Fraction bits dropped by the final rounding (``2 in_frac + 2 - out_frac``)."""
        return 2 * self.in_frac + 2 - self.out_frac


def hard_sigmoid_plan(width: int, in_frac: int, out_width: int, out_frac: int) -> HardSigmoidPlan:
    """The :class:`HardSigmoidPlan` of one configuration."""
    plan = HardSigmoidPlan(width, in_frac, out_width, out_frac)
    if plan.out_shift < 0:
        raise ValueError(f"out_frac={out_frac} is out of range for approx='hard_sigmoid': must be "
                         f"<= 2*in_frac+2 = {2 * in_frac + 2}")
    return plan
