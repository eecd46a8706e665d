"""Golden models of the elementwise activation units (designs ``gelu`` and ``silu``).

Two references per unit:

- :func:`golden_int` is integer-only and bit-exact: it replays the hardware datapath of the
  configuration (table lookup, interpolation, I-BERT i-GELU or hard-sigmoid SiLU) on numpy
  ``int64`` arrays, asserting after every operation that the value fits the width of the
  corresponding hardware signal. The RTL must equal it on every input code.
- :func:`reference_real` is the mathematical function in float64
  (``GELU(x) = x/2 (1 + erf(x/sqrt 2))``, ``SiLU(x) = x / (1 + e^-x)``), written independently
  of the ``ReLU - delta`` form the tables use.

:func:`error_report` measures ``golden_int`` against ``reference_real`` on every input code, in
output LSBs: max ``|error|``, mean signed error (bias) and the worst input.
"""

import math

import numpy as np

from ..hdl import activation_tables as tables
from ..hdl.fixedpoint import assert_fits, int_range, round_shift, saturate

__all__ = ["all_codes", "golden_int", "reference_real", "ideal_codes", "error_report"]


def all_codes(width: int) -> np.ndarray:
    """Every signed ``width``-bit input code, ascending (``int64``)."""
    lo, hi = int_range(width, True)
    return np.arange(lo, hi + 1, dtype=np.int64)


def _fits(value, bits: tuple[int, bool], what: str):
    return assert_fits(value, bits[0], bits[1], what)


def _golden_table(p, x):
    split = tables.relu_split_table(p.kind, p.width, p.in_frac, p.out_width, p.out_frac)
    if split.indexed_by_magnitude:
        magnitude = _fits(np.abs(x), (p.width, False), "|x|")
        correction = np.array(split.magnitude_corrections, dtype=np.int64)[magnitude]
    else:
        correction = np.array(split.corrections, dtype=np.int64)[x & ((1 << p.width) - 1)]
    correction = _fits(correction, split.correction_bits, "table correction")
    relu = np.maximum(x, 0)
    relu = relu << split.relu_shift if split.relu_shift >= 0 else relu >> -split.relu_shift
    relu = _fits(relu, (split.relu_width, False), "ReLU(x) at out_frac")
    return _fits(relu - correction, (p.out_width, True), "ReLU(x) - correction")


def _golden_interp(p, x):
    plan = p.interp_plan
    values = np.array(plan.values, dtype=np.int64)
    slopes = np.array(plan.slopes, dtype=np.int64)
    magnitude = _fits(np.abs(x), (plan.abs_width, False), "|x|")
    index = _fits(np.minimum(magnitude >> plan.offset_bits, plan.segments), (plan.index_width, False), "segment index")
    offset = _fits(magnitude & ((1 << plan.offset_bits) - 1), (plan.offset_bits, False), "offset in segment")
    value = _fits(values[index], plan.value_bits, "table value")
    slope = _fits(slopes[index], plan.slope_bits, "table slope")
    product = _fits(slope * offset, tables.range_bits(*plan.product_range), "slope * offset")
    relu = _fits(np.maximum(x, 0) << plan.relu_shift, tables.range_bits(*plan.relu_range), "ReLU(x)")
    difference = _fits(relu - (value << plan.offset_bits) - product, tables.range_bits(*plan.difference_range),
                       "ReLU(x) - value - slope * offset")
    rounded = round_shift(difference, plan.out_shift, tables.OUTPUT_ROUNDING)
    lo, hi = int_range(p.out_width, True)
    return saturate(rounded, lo, hi)


def _golden_ibert(p, x):
    plan = p.ibert_plan
    w = p.ibert_widths
    magnitude = _fits(np.minimum(np.abs(x), -plan.b_int), w["clipped"], "min(|x|, -b)")
    shifted = _fits(magnitude + plan.b_int, w["shifted"], "min(|x|, -b) + b")
    square = _fits(shifted * shifted, w["square"], "(min(|x|, -b) + b)^2")
    poly = _fits(square + plan.c_int, w["poly"], "square + c")
    erf = _fits(np.sign(x) * poly, w["erf"], "sgn(x) * poly")
    erf = _fits(erf >> plan.shift, w["erf_shifted"], "erf >> shift (floor)")
    gate = _fits(erf + plan.one, w["gate"], "erf + one")
    product = _fits(x * gate, w["product"], "x * (erf + one)")
    scaled = _fits(product * plan.multiplier, w["scaled"], "product * multiplier")
    rounded = round_shift(scaled, plan.requant_shift, tables.OUTPUT_ROUNDING)
    lo, hi = int_range(p.out_width, True)
    return saturate(rounded, lo, hi)


def _golden_hard_sigmoid(p, x):
    plan = p.hard_sigmoid_plan
    w = p.hard_sigmoid_widths
    biased = _fits(x + (1 << (p.in_frac + 1)), w["biased"], "x + 1/2")
    gate = _fits(np.clip(biased, 0, plan.gate_max), w["gate"], "clamp(x/4 + 1/2, 0, 1)")
    product = _fits(x * gate, w["product"], "x * gate")
    rounded = round_shift(product, plan.out_shift, tables.OUTPUT_ROUNDING)
    lo, hi = int_range(p.out_width, True)
    return saturate(rounded, lo, hi)


def golden_int(params, x) -> np.ndarray:
    """Bit-exact output codes of configuration ``params`` for input codes ``x`` (any shape).

    Raises ``ValueError`` when a code is outside the signed ``width``-bit range and
    ``AssertionError`` when an intermediate value does not fit its hardware signal.
    """
    x = np.asarray(x, dtype=np.int64)
    _fits(x, (params.width, True), "input x")
    datapath = {
        "table": _golden_table,
        "interp": _golden_interp,
        "ibert": _golden_ibert,
        "hard_sigmoid": _golden_hard_sigmoid,
    }[params.datapath]
    y = datapath(params, x)
    return _fits(np.asarray(y, dtype=np.int64), (params.out_width, True), "output y")


_erf = np.frompyfunc(math.erf, 1, 1)


def reference_real(kind: str, x) -> np.ndarray:
    """The mathematical function in float64: ``GELU(x)`` or ``SiLU(x)`` of real ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if kind == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))
    if kind == "silu":
        # x * sigmoid(x), written so that exp never overflows.
        e = np.exp(-np.abs(x))
        return np.where(x >= 0, x / (1.0 + e), x * e / (1.0 + e))
    raise ValueError(f"kind={kind!r} is not an elementwise function; legal values: gelu, silu")


def ideal_codes(params, x) -> np.ndarray:
    """``f(x)`` in output LSBs (float64), saturated to the output range: what no unit can beat."""
    lo, hi = int_range(params.out_width, True)
    real = reference_real(params.kind, np.asarray(x, dtype=np.int64) * 2.0 ** -params.in_frac)
    return np.clip(real * 2.0 ** params.out_frac, lo, hi)


def error_report(params, x=None) -> dict:
    """Error of :func:`golden_int` against float64 on every input code (or on ``x``), in output LSB.

    The reference is ``f(x)`` saturated to the output range, so a configuration whose outputs
    saturate is judged on the codes it can represent.

    Returns
    -------
    dict
        ``max_abs_lsb``, ``bias_lsb`` (mean signed error ``y - f``), ``rms_lsb``,
        ``worst_code`` (input code of the largest error), ``worst_x`` (its real value),
        ``worst_error_lsb`` (signed), ``codes`` (inputs evaluated).
    """
    x = all_codes(params.width) if x is None else np.asarray(x, dtype=np.int64).ravel()
    error = golden_int(params, x).astype(np.float64) - ideal_codes(params, x)
    worst = int(np.argmax(np.abs(error)))
    return {
        "max_abs_lsb": float(np.abs(error).max()),
        "bias_lsb": float(error.mean()),
        "rms_lsb": float(np.sqrt((error ** 2).mean())),
        "worst_code": int(x[worst]),
        "worst_x": float(x[worst] * 2.0 ** -params.in_frac),
        "worst_error_lsb": float(error[worst]),
        "codes": int(x.size),
    }
