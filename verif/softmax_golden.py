"""Golden models of the softmax design: bit-exact integer model and float64 reference.

:func:`golden_int` replays the hardware's datapath on numpy ``int64`` arrays (Python ints
where a product could pass 62 bits) and asserts the declared width after every operation with
:func:`~accelgen.hdl.fixedpoint.assert_fits`, so an undersized register in the generator shows
up here as an assertion naming the operation. :func:`reference_real` is the mathematical
softmax of the real inputs. :func:`accuracy` compares the two in output LSB.

Conventions: ``x`` is ``(rows, N)`` signed input codes, ``mask`` is ``(rows, N)`` booleans
(``True`` = masked: contributes nothing, outputs exactly 0), outputs are unsigned codes with
``out_frac`` fraction bits, saturated to ``2**out_frac - 1`` (a probability of 1.0 reads 255/256
at U0.8, the TFLite int8 softmax convention with zero point -128 removed).
"""

import numpy as np

from ..hdl.exp_tables import INTERP_GUARD, ExpSpec, exp_table
from ..hdl.fixedpoint import assert_fits, round_div, round_shift, saturate

__all__ = ["exp_int", "golden_int", "reference_real", "accuracy"]


def _as_object(values) -> np.ndarray:
    return np.asarray(values).astype(object)


def exp_int(d, spec: ExpSpec) -> np.ndarray:
    """``e(d)`` for an array of ``d`` codes, the hardware's exp unit replayed with width checks."""
    d = assert_fits(np.asarray(d, dtype=np.int64), spec.width, False, "exp: d = max - x")
    if spec.kind == "table":
        table = np.array(exp_table(spec), dtype=np.int64)
        return assert_fits(table[d], spec.exp_frac + 1, False, "exp: table")
    if spec.kind == "shift":
        t = assert_fits(d + (d >> 1) - (d >> 4), spec.width + 1, False, "exp: t = d*1.4375")
        # x0 = 2**in_frac (power-of-two scale): 2**-(q + r/x0) ~= (1 - r/(2*x0)) / 2**q.
        x0 = spec.shift_unit
        q = np.minimum(t >> spec.in_frac, spec.exp_frac + 2)
        r = assert_fits(t & (x0 - 1), max(1, spec.in_frac), False, "exp: r = t mod x0")
        v = assert_fits((2 * x0 - r) << spec.exp_frac, spec.in_frac + spec.exp_frac + 2, False, "exp: 1 - r/(2*x0)")
        e = ((v >> (spec.in_frac + q)) + 1) >> 1  # half-up rounding shift by in_frac + q + 1
        return assert_fits(e, spec.exp_frac + 1, False, "exp: shift exp")
    c = spec.log2e_const
    product = assert_fits(_as_object(d) * c, spec.width + c.bit_length(), False, "exp: d * S*log2(e)")
    t = round_shift(product, spec.log2e_shift, "half_up")
    t = assert_fits(t, spec.width + c.bit_length() - spec.log2e_shift + 1, False, "exp: t")
    n = np.minimum(t >> spec.t_frac, spec.shift_cap)
    f = t & ((1 << spec.t_frac) - 1)
    index, weight = f >> spec.interp_bits, f & ((1 << spec.interp_bits) - 1)
    base, slope = spec.interp_tables()
    base_v = np.array(base, dtype=object)[index.astype(np.int64)]
    slope_v = np.array(slope, dtype=object)[index.astype(np.int64)]
    step = assert_fits(slope_v * weight, max(slope).bit_length() + spec.interp_bits, False, "exp: slope * weight")
    v = assert_fits(base_v - round_shift(step, spec.interp_bits, "half_up"),
                    spec.exp_frac + 2 + 1, False, "exp: interpolated 2**-f")
    e = ((v >> (n + INTERP_GUARD - 1)) + 1) >> 1  # half-up rounding shift by n + guard bits
    return assert_fits(e.astype(np.int64), spec.exp_frac + 1, False, "exp: e")


def golden_int(x, params, mask=None) -> np.ndarray:
    """Bit-exact output codes of the softmax design for rows ``x`` (``(rows, N)``).

    Parameters
    ----------
    x : array of int, shape (rows, N)
        Signed input codes (``width`` bits).
    params : SoftmaxParams
        The configuration.
    mask : array of bool, shape (rows, N), optional
        ``True`` where an element is masked out.
    """
    p = params
    x = assert_fits(np.asarray(x, dtype=np.int64), p.width, True, "x")
    if x.ndim != 2:
        raise ValueError(f"x must be (rows, N), not shape {x.shape}")
    active = np.ones(x.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    lo = -(1 << (p.width - 1))
    row_max = np.where(active, x, lo).max(axis=1, keepdims=True)
    d = np.where(active, row_max - x, 0)
    d = assert_fits(d, p.width, False, "d = max - x")
    e = np.where(active, exp_int(d, p.exp_spec), 0)
    e = assert_fits(e, p.exp_frac + 1, False, "e (U1.E)")
    s = assert_fits(e.sum(axis=1, keepdims=True), p.sum_width, False, "row sum")
    # One reciprocal per row, rounded half up: recip = round(2**K / s); an all-masked row has s = 0.
    recip = np.array([[round_div(1 << p.recip_shift, int(v), "half_up") if v else 0] for v in s[:, 0]], dtype=object)
    recip = assert_fits(recip, p.recip_width, False, "reciprocal")
    product = assert_fits(_as_object(e) * recip, p.exp_frac + 1 + p.recip_width, False, "e * reciprocal")
    y = round_shift(product, p.recip_shift - p.out_frac, "half_up")
    y = saturate(y, 0, (1 << p.out_frac) - 1)
    return assert_fits(y.astype(np.int64), p.out_frac, False, "y")


def reference_real(x, params, mask=None) -> np.ndarray:
    """float64 softmax of ``x * S`` over the unmasked elements (masked and all-masked: 0)."""
    p = params
    real = np.asarray(x, dtype=np.float64) * (p.in_scale_num / 2.0**p.in_frac)
    active = np.ones(real.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    shifted = np.where(active, real, -np.inf)
    peak = shifted.max(axis=1, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    terms = np.where(active, np.exp(shifted - peak), 0.0)
    total = terms.sum(axis=1, keepdims=True)
    return np.divide(terms, total, out=np.zeros_like(terms), where=total > 0)


def accuracy(x, params, mask=None) -> dict:
    """``golden_int`` against ``reference_real`` in output LSB.

    Returns max |error|, mean signed error (bias) over unmasked elements, and the worst input
    (row index and element).
    """
    y = golden_int(x, params, mask)
    ideal = reference_real(x, params, mask) * (1 << params.out_frac)
    error = y - ideal
    active = np.ones(error.shape, dtype=bool) if mask is None else ~np.asarray(mask, dtype=bool)
    flat = np.where(active, np.abs(error), -1.0)
    worst = np.unravel_index(int(np.argmax(flat)), flat.shape)
    return {
        "max_abs_lsb": float(np.abs(error[active]).max()) if active.any() else 0.0,
        "bias_lsb": float(error[active].mean()) if active.any() else 0.0,
        "worst_row": int(worst[0]),
        "worst_element": int(worst[1]),
        "worst_output": int(y[worst]),
        "worst_ideal": float(ideal[worst]),
        "elements": int(active.sum()),
    }
