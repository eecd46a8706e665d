"""Golden models of the attention design: bit-exact integer model, float64 reference, helpers.

:func:`golden_int` replays the bit-exact algorithm of the specification (one head,
``O = softmax(S * Q K^T) V`` with an online softmax over key tiles of ``bc`` keys) on numpy
``int64`` arrays (Python ints for a product that can pass 63 bits), vectorised over every query
row and output feature and looping over the tiles only. After every operation it asserts the
declared width of the register that holds the value
(:func:`~accelgen.hdl.fixedpoint.assert_fits`), so a width of
:class:`~accelgen.generators.attention_params.AttentionParams` that is one bit short shows up
as an assertion naming the operation. :func:`golden_int_blocked` computes the same result
block by block with the hardware's causal tile skipping (it must be equal: skipping is a
no-op). :func:`reference_real` is the float64 attention of the same codes and scale,
:func:`accuracy` compares the two in output LSB, and :func:`ita_style` is a bench reference
point (ITA's shift-only integer softmax inside attention; not verified hardware).

Conventions: ``q`` is ``(nq, D)``, ``k`` and ``v`` are ``(nkv, D)`` signed codes; the real
logit of a ``q . k`` code is ``S = score_num * 2**-score_frac``; output codes are signed
``out_width`` bits with ``o_real = code * s_v * 2**-out_frac``. The causal mask is bottom-right
aligned: query ``i`` sees the keys ``key <= i + nkv - nq``; a row that sees no key outputs 0.

The helpers :func:`score_scale_code`, :func:`quantize_symmetric` and
:func:`quantize_attention` turn float tensors into the codes and the scale code the design
takes.
"""

import dataclasses
import functools
import math
from fractions import Fraction

import numpy as np

from ..generators.attention_params import AttentionParams, tiles_per_block, useful_macs
from ..hdl.exp_tables import ExpSpec
from ..hdl.fixedpoint import assert_fits, round_real, round_shift, saturate
from ..hdl.util import ceil_div
from .golden import check_fits
from .softmax_golden import exp_int

__all__ = [
    "golden_int",
    "golden_int_blocked",
    "reference_real",
    "accuracy",
    "ita_style",
    "score_scale_code",
    "quantize_symmetric",
    "quantize_attention",
    "useful_macs",
]

#: Largest exp lookup table built (entries); wider distance codes fall back to ``exp_int``.
_TABLE_LIMIT = 1 << 18
#: Scores per matrix product of the integer model (several key tiles at once).
_GROUP_ELEMENTS = 1 << 21
#: Query rows per chunk of the float64 models (bounds their ``rows x nkv`` temporaries).
_CHUNK_ROWS = 256
#: Largest ``score_num`` of :func:`score_scale_code` (16 significant bits) and its exponents.
_SCORE_NUM_MAX = 65535
_SCORE_FRAC_MAX = 40


# -- inputs ---------------------------------------------------------------------------------------
def _inputs(q, k, v, params: AttentionParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``q``, ``k``, ``v`` as int64 after checking types, shapes, code ranges and the job size."""
    if not isinstance(params, AttentionParams):
        raise TypeError(f"params must be AttentionParams, not {type(params).__name__}")
    q = check_fits("q", q, params.q_width, True)
    k = check_fits("k", k, params.k_width, True)
    v = check_fits("v", v, params.v_width, True)
    for name, array, rows in (("q", q, "nq"), ("k", k, "nkv"), ("v", v, "nkv")):
        if array.ndim != 2:
            raise ValueError(f"{name} must be a 2-D array ({rows}, D), not shape {array.shape}")
    if k.shape[1] != q.shape[1]:
        raise ValueError(f"k has shape {k.shape}: must be (nkv, D) with D={q.shape[1]} as q {q.shape}")
    if v.shape != k.shape:
        raise ValueError(f"v has shape {v.shape}: must be (nkv, D) = {k.shape} as k")
    params.check_job(int(q.shape[0]), int(k.shape[0]), int(q.shape[1]))
    return q, k, v


def _last_key(rows: np.ndarray, nq: int, nkv: int, causal: bool) -> np.ndarray:
    """Last key each query row sees (bottom-right aligned causal mask); ``< 0``: none."""
    if causal:
        return rows + (nkv - nq)
    return np.full(rows.shape, nkv - 1, dtype=np.int64)


# -- exp ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _exp_table(spec: ExpSpec) -> np.ndarray:
    """``exp_int`` of every distance code ``0..min(2**width, limit) - 1``, built once per spec."""
    size = min(1 << spec.width, _TABLE_LIMIT)
    table = exp_int(np.arange(size, dtype=np.int64), spec)
    table.setflags(write=False)
    return table


def _exp(d: np.ndarray, spec: ExpSpec) -> np.ndarray:
    """The exp unit on clamped distance codes ``d``: table look-up, ``exp_int`` past the table."""
    table = _exp_table(spec)
    if len(table) == 1 << spec.width:
        return table[d]
    # A very small logit scale makes the distance code too wide to tabulate: compute the
    # codes past the table with the golden exp itself, once per distinct value.
    out = np.empty_like(d)
    inside = d < len(table)
    out[inside] = table[d[inside]]
    if not inside.all():
        values, inverse = np.unique(d[~inside], return_inverse=True)
        out[~inside] = exp_int(values, spec)[inverse.ravel()]
    return out


# -- the bit-exact datapath ----------------------------------------------------------------------
@dataclasses.dataclass
class _RowState:
    """The per-row state of the online softmax: running max ``m`` (valid or not), ``l``, ``O``."""

    m: np.ndarray
    m_valid: np.ndarray
    l: np.ndarray
    o: np.ndarray

    @classmethod
    def empty(cls, rows: int, d: int) -> "_RowState":
        return cls(np.zeros(rows, np.int64), np.zeros(rows, bool), np.zeros(rows, np.int64),
                   np.zeros((rows, d), np.int64))


def _multiply(a: np.ndarray, b: np.ndarray, bits: int, is_signed: bool, what: str) -> np.ndarray:
    """``a * b`` asserted at its declared ``bits``; on Python ints (``object``) when the product can
    pass int64, so a wide configuration is exact rather than wrapped."""
    if bits > 63:
        a = a.astype(object)
    return assert_fits(a * b, bits, is_signed, what)


def _narrow(value: np.ndarray) -> np.ndarray:
    """A rounded, asserted result back to int64 (it fits: it was asserted at <= 63 bits)."""
    return value.astype(np.int64) if value.dtype == object else value


def _exact_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` of integer arrays through float64 BLAS, exact: every partial sum of a dot
    product is bounded by the declared accumulator range, at most 2**40 here (< 2**53)."""
    return (a.astype(np.float64, copy=False) @ b.astype(np.float64, copy=False)).astype(np.int64)


def _tile_scores(q_rows: np.ndarray, k: np.ndarray, bc: int, tiles: int):
    """``(keys, s)`` of tiles ``0..tiles-1``: the exact scores ``q . k`` of each tile's keys.

    Several tiles share one matrix product (bounded to about ``_GROUP_ELEMENTS`` scores), which
    is much faster than one small product per tile."""
    nkv = k.shape[0]
    qf, kf = q_rows.astype(np.float64), k.astype(np.float64)
    group = max(1, _GROUP_ELEMENTS // max(1, len(q_rows) * bc))
    for first in range(0, tiles, group):
        start, stop = first * bc, min(nkv, min(tiles, first + group) * bc)
        scores = _exact_matmul(qf, kf[start:stop].T)
        for j in range(first, min(tiles, first + group)):
            lo, hi = j * bc - start, min(nkv, (j + 1) * bc) - start
            yield np.arange(j * bc, min(nkv, (j + 1) * bc)), scores[:, lo:hi]


def _run_tiles(state: _RowState, q_rows, rows, k, v, p: AttentionParams, nq: int, causal: bool, tiles: int,
               taps) -> None:
    """Run key tiles ``0..tiles-1`` of the online softmax for the query rows ``rows`` (in place)."""
    nkv = k.shape[0]
    last_key = _last_key(rows, nq, nkv, causal)
    d_p_max, d_a_max = (1 << p.p_distance_width) - 1, (1 << p.alpha_distance_width) - 1
    a_frac, guard = p.alpha_frac, p.o_guard
    lowest = np.iinfo(np.int64).min
    vf = v.astype(np.float64)
    for j, (keys, s) in enumerate(_tile_scores(q_rows, k, p.bc, tiles)):
        s = assert_fits(s, p.score_width, True, "s = q . k")
        ok = keys[None, :] <= last_key[:, None]
        any_ok = ok.any(axis=1)
        t = np.where(ok, s, lowest).max(axis=1)
        m_new = np.where(any_ok, np.where(state.m_valid, np.maximum(state.m, t), t), state.m)
        valid_new = state.m_valid | any_ok
        # alpha = 0 at a row's first key (nothing to rescale); exactly 2**A when m is unchanged.
        d_a = np.where(state.m_valid, np.minimum(m_new - state.m, d_a_max), 0)
        d_a = assert_fits(d_a, p.alpha_distance_width, False, "d = m_new - m (clamped)")
        alpha = assert_fits(np.where(state.m_valid, _exp(d_a, p.alpha_spec), 0), a_frac + 1, False, "alpha (U1.A)")
        d_p = np.where(ok, np.minimum(m_new[:, None] - s, d_p_max), 0)
        d_p = assert_fits(d_p, p.p_distance_width, False, "d = m_new - s (clamped)")
        # P_hi at p + X fraction bits goes into l; P V uses it rounded to p bits (FA2-style).
        extra = p.l_extra_bits
        prob_hi = assert_fits(np.where(ok, np.minimum(_exp(d_p, p.p_spec), p.p_hi_max), 0), p.p_bits + extra,
                              False, "P_hi (U0.(p+X))")
        prob = assert_fits(np.minimum(round_shift(prob_hi, extra, "half_up"), p.p_max), p.p_bits, False, "P (U0.p)")
        l_scaled = _multiply(state.l, alpha, p.l_width + a_frac + 1, False, "l * alpha")
        l_new = round_shift(l_scaled, a_frac, "half_up") + (prob_hi.sum(axis=1) << guard)
        l_new = _narrow(assert_fits(l_new, p.l_width, False, "l"))
        colsum = assert_fits(_exact_matmul(prob, vf[keys]), p.colsum_width, True, "sum_m P * v")
        o_scaled = _multiply(state.o, alpha[:, None], p.o_width + a_frac + 1, True, "O * alpha")
        o_new = round_shift(o_scaled, a_frac, "half_up") + (colsum << (guard + extra))
        o_new = _narrow(assert_fits(o_new, p.o_width, True, "O"))
        state.m, state.m_valid, state.l, state.o = m_new, valid_new, l_new, o_new
        if taps is not None:
            taps.append({"tile": j, "rows": rows.copy(), "keys": keys, "s": s, "ok": ok, "m": m_new.copy(),
                         "m_valid": valid_new.copy(), "alpha": alpha, "p": prob, "p_hi": prob_hi, "l": l_new.copy(),
                         "o": o_new.copy()})


def _bit_length(x: np.ndarray) -> np.ndarray:
    """``int.bit_length`` of non-negative int64 values, exactly."""
    _, exponent = np.frexp(x.astype(np.float64))
    exponent = exponent.astype(np.int64)
    # The float can round up to the next power of two: then the exponent is one too large.
    over = (exponent > 0) & ((x >> np.maximum(exponent - 1, 0)) == 0)
    return exponent - over


def _normalise(state: _RowState, p: AttentionParams, taps) -> np.ndarray:
    """Output codes from the final ``l`` and ``O``: normalised reciprocal, then one multiply."""
    l, k_shift = state.l, p.recip_shift
    active = l > 0
    sh = assert_fits(np.maximum(0, _bit_length(l) - p.norm_width), p.shift_width, False, "sh")
    den = assert_fits(l >> sh, p.norm_width, False, "l >> sh")
    safe = np.where(active, den, 1)
    # round_half_up(2**K / den) = floor((2**(K+1) + den) / (2*den)); 0 for a row with no key.
    r = np.where(active, ((1 << (k_shift + 1)) + safe) // (2 * safe), 0)
    r = assert_fits(r, p.recip_width, False, "r = round(2**K / (l >> sh))")
    product = _multiply(state.o >> sh[:, None], r[:, None], p.o_width + p.recip_width, True, "(O >> sh) * r")
    o = _narrow(saturate(round_shift(product, k_shift - p.out_frac, "half_up"), *_out_range(p)))
    o = assert_fits(np.where(active[:, None], o, 0), p.out_width, True, "o")
    if taps is not None:
        taps.append({"final": True, "l": l.copy(), "sh": sh, "den": den, "r": r, "o": o})
    return o


def _out_range(p: AttentionParams) -> tuple[int, int]:
    return -(1 << (p.out_width - 1)), (1 << (p.out_width - 1)) - 1


def golden_int(q, k, v, params: AttentionParams, *, causal: bool = False, taps: list | None = None) -> np.ndarray:
    """Bit-exact output codes ``(nq, D)`` of the attention design (int64).

    Every query row runs the online softmax over all ``ceil(nkv / bc)`` key tiles (the tiles the
    hardware skips under ``causal`` are exact no-ops there: ``alpha = 2**A``, ``P = 0``):
    per tile the exact scores ``s``, the running max ``m``, ``alpha = exp(-(m_new - m) S)`` (U1.A),
    ``P_hi = min(exp(-(m_new - s) S), 2**(p+X) - 1)`` (U0.(p+X), ``X = l_extra_bits``),
    ``P = min(round_half_up(P_hi, X), 2**p - 1)`` (U0.p), ``l`` and ``O`` rescaled by ``alpha``
    with half-up rounding plus ``sum P_hi << G`` and ``sum P v << (G + X)``; at the end
    ``sh = max(0, bitlen(l) - N_L)``, ``r = round_half_up(2**K / (l >> sh))`` and
    ``o = sat(round_half_up((O >> sh) * r, K - out_frac))``. ``br`` plays no part.

    Parameters
    ----------
    q : array of int, shape (nq, D)
        Signed query codes (``q_width`` bits).
    k, v : array of int, shape (nkv, D)
        Signed key and value codes (``k_width``, ``v_width`` bits).
    params : AttentionParams
        The configuration; ``1 <= nq, nkv <= n_max`` and ``1 <= D <= d_max``.
    causal : bool
        Bottom-right aligned causal mask (query ``i`` sees keys ``<= i + nkv - nq``).
    taps : list, optional
        If given, one dict per tile (``s``, ``ok``, ``m``, ``alpha``, ``p``, ``l``, ``o`` ...) and a
        final dict (``l``, ``sh``, ``den``, ``r``, ``o``) are appended, for tests.

    Raises
    ------
    ValueError
        An array of the wrong shape or with codes out of range (named), or a job size out of range.
    """
    q, k, v = _inputs(q, k, v, params)
    nq, nkv, d = q.shape[0], k.shape[0], q.shape[1]
    state = _RowState.empty(nq, d)
    _run_tiles(state, q, np.arange(nq), k, v, params, nq, causal, ceil_div(nkv, params.bc), taps)
    return _normalise(state, params, taps)


def golden_int_blocked(q, k, v, params: AttentionParams, *, causal: bool = False,
                       taps: list | None = None) -> np.ndarray:
    """:func:`golden_int` computed as the hardware schedules it: block by block of ``br`` queries,
    each running only its ``T_b`` key tiles (``tiles_per_block``: causal tile skipping).

    Equal to :func:`golden_int` for every input (the skipped tiles are no-ops); the invariance
    tests check it. Slower (a Python loop over blocks and tiles): meant for small jobs.
    """
    q, k, v = _inputs(q, k, v, params)
    nq, nkv, d = q.shape[0], k.shape[0], q.shape[1]
    blocks = []
    for b, tiles in enumerate(tiles_per_block(nq, nkv, params.br, params.bc, causal)):
        rows = np.arange(b * params.br, min(nq, (b + 1) * params.br))
        state = _RowState.empty(len(rows), d)
        _run_tiles(state, q[rows], rows, k, v, params, nq, causal, tiles, taps)
        blocks.append(_normalise(state, params, taps))
    return np.concatenate(blocks, axis=0)


# -- float64 reference and accuracy --------------------------------------------------------------
def reference_real(q, k, v, params: AttentionParams, *, causal: bool = False) -> np.ndarray:
    """float64 ``softmax(S * q k^T) v`` of the codes, in output codes (times ``2**out_frac``).

    Same mask as :func:`golden_int`; a row that sees no key is 0. Not rounded, not saturated.
    """
    q, k, v = _inputs(q, k, v, params)
    nq, nkv = q.shape[0], k.shape[0]
    scale = float(params.score_scale)
    kf, vf = k.astype(np.float64), v.astype(np.float64)
    out = np.zeros((nq, v.shape[1]), dtype=np.float64)
    for start in range(0, nq, _CHUNK_ROWS):
        rows = np.arange(start, min(nq, start + _CHUNK_ROWS))
        visible = np.arange(nkv)[None, :] <= _last_key(rows, nq, nkv, causal)[:, None]
        logits = np.where(visible, (q[rows].astype(np.float64) @ kf.T) * scale, -np.inf)
        peak = logits.max(axis=1, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0.0)
        weights = np.where(visible, np.exp(logits - peak), 0.0)
        total = weights.sum(axis=1, keepdims=True)
        out[rows] = np.divide(weights @ vf, total, out=np.zeros((len(rows), vf.shape[1])), where=total > 0)
    return out * float(1 << params.out_frac)


def accuracy(q, k, v, params: AttentionParams, *, causal: bool = False) -> dict:
    """:func:`golden_int` against :func:`reference_real` in output LSB.

    Over the rows that see at least one key: ``max_abs_lsb``, ``rms_lsb``, ``bias_lsb`` (mean
    signed error), ``rel_frobenius`` (``||golden - ref|| / ||ref||``), ``worst`` = ``(row, col,
    golden code, ideal value)`` of the largest error, and ``elements`` compared.
    """
    golden = golden_int(q, k, v, params, causal=causal)
    ideal = reference_real(q, k, v, params, causal=causal)
    nq, nkv = golden.shape[0], np.shape(k)[0]
    active = _last_key(np.arange(nq), nq, nkv, causal) >= 0
    error = (golden - ideal)[active]
    if error.size == 0:
        return {"max_abs_lsb": 0.0, "rms_lsb": 0.0, "bias_lsb": 0.0, "rel_frobenius": 0.0, "worst": None,
                "elements": 0}
    rows = np.flatnonzero(active)
    r, c = np.unravel_index(int(np.argmax(np.abs(error))), error.shape)
    ref_norm = float(np.linalg.norm(ideal[active]))
    err_norm = float(np.linalg.norm(error))
    return {
        "max_abs_lsb": float(np.abs(error).max()),
        "rms_lsb": float(np.sqrt(np.mean(error**2))),
        "bias_lsb": float(error.mean()),
        "rel_frobenius": err_norm / ref_norm if ref_norm else (0.0 if err_norm == 0 else math.inf),
        "worst": (int(rows[r]), int(c), int(golden[rows[r], c]), float(ideal[rows[r], c])),
        "elements": int(error.size),
    }


def ita_style(q, k, v, params: AttentionParams, *, causal: bool = False) -> np.ndarray:
    """Output codes of attention with ITA's shift-only integer softmax (a bench reference point).

    Re-implemented from ITA (pulp-platform/ITA, ``PyITA/softmax.py`` and ``src/ita_softmax.sv``)
    with one global row max, as ``fastSoftmax`` does; not verified hardware. Per row ``i``, over
    its visible keys (masked keys give ``P = A = 0``; a row with none outputs 0):

    - ``a = clip(floor(S * s * log2(e) + 1/2), -128, 127)``: the logit requantized to int8 with
      one code per log2 unit (ITA's ``SoftmaxShift = 0``), rounded half up then saturated;
    - ``shift = max(a) - a`` (0..255);
    - ``P = 256 >> shift`` (as the RTL's ``9'h100 >> shift``: 1 at ``shift = 8``, 0 from 9 on),
      ``total = sum P`` (>= 256);
    - ``inv = floor(255 * 256 / total)``, ``A = inv >> shift`` (U0.8, <= 255, 0 from ``shift = 8``);
    - ``o = sat(round_half_up(sum_k A * v * 2**out_frac / 2**8))`` to ``out_width`` signed bits.

    ``A`` is read as a U0.8 probability (``/ 2**8``), so the ``255/256`` of ``inv`` is part of its
    error. ITA's streaming variant also floors the running sum by ``>> delta max`` at every
    16-key group; this single-max version leaves that out (it can only lose more).
    """
    q, k, v = _inputs(q, k, v, params)
    nq, nkv = q.shape[0], k.shape[0]
    scale = float(params.score_scale) * math.log2(math.e)
    kf = k.astype(np.float64)
    out = np.zeros((nq, v.shape[1]), dtype=np.int64)
    for start in range(0, nq, _CHUNK_ROWS):
        rows = np.arange(start, min(nq, start + _CHUNK_ROWS))
        visible = np.arange(nkv)[None, :] <= _last_key(rows, nq, nkv, causal)[:, None]
        a = np.clip(np.floor((q[rows].astype(np.float64) @ kf.T) * scale + 0.5), -128, 127).astype(np.int64)
        peak = np.where(visible, a, -128).max(axis=1, keepdims=True)
        # Shifts past 15 give 0 for both 256 >> shift and inv >> shift (inv <= 255); clamp so
        # numpy never shifts by 64 or more.
        shift = np.clip(peak - a, 0, 15)
        prob = np.where(visible, 256 >> shift, 0)
        total = prob.sum(axis=1, keepdims=True)
        inv = (255 * 256) // np.maximum(total, 1)
        weight = np.where(visible, inv >> shift, 0)
        acc = _exact_matmul(weight, v) << params.out_frac
        o = saturate(round_shift(acc, 8, "half_up"), *_out_range(params))
        out[rows] = np.where(total > 0, o, 0)
    return out


# -- scales and quantization -----------------------------------------------------------------------
def score_scale_code(scale: float) -> tuple[int, int]:
    """``(score_num, score_frac)`` with ``score_num * 2**-score_frac`` closest to ``scale``.

    ``score_num`` has at most 16 significant bits (``<= 65535``) and is rounded half up at the
    finest exponent ``score_frac`` in ``0..40`` that keeps it there; trailing zero bits are then
    dropped (``2**-13`` gives ``(1, 13)``). ``ValueError`` naming ``scale`` unless it is a finite
    number that rounds to a non-zero code at ``2**-40`` and is at most ``65535``.
    """
    try:
        value = Fraction(scale)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"scale={scale!r} is not a finite real number") from None
    if value <= 0:
        raise ValueError(f"scale={scale!r} is out of range: must be > 0")
    for frac in range(_SCORE_FRAC_MAX, -1, -1):
        num = round_real(value, frac, "half_up")
        if num <= _SCORE_NUM_MAX:
            break
    else:
        raise ValueError(f"scale={scale!r} is out of range: must be at most {_SCORE_NUM_MAX} "
                         f"(score_num <= {_SCORE_NUM_MAX} at score_frac = 0)")
    if num == 0:
        raise ValueError(f"scale={scale!r} is out of range: too small, it rounds to 0 at 2**-{_SCORE_FRAC_MAX} "
                         f"(smallest {2.0 ** -(_SCORE_FRAC_MAX + 1):.3g})")
    while num % 2 == 0 and frac > 0:
        num, frac = num // 2, frac - 1
    return num, frac


def quantize_symmetric(x, bits: int) -> tuple[np.ndarray, float]:
    """Symmetric per-tensor quantization of real ``x`` to signed ``bits``-bit codes.

    ``scale = max|x| / (2**(bits-1) - 1)`` (1.0 for an all-zero ``x``), ``codes =
    clip(rint(x / scale), -(2**(bits-1) - 1), 2**(bits-1) - 1)`` (int64; ``rint`` rounds ties to
    even; ``-2**(bits-1)`` is never used). ``x ~= codes * scale``.
    """
    if not isinstance(bits, int) or isinstance(bits, bool) or not 2 <= bits <= 32:
        raise ValueError(f"bits={bits!r} is out of range: must be an integer in 2..32")
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("x holds non-finite values (nan or inf)")
    top = (1 << (bits - 1)) - 1
    peak = float(np.abs(x).max()) if x.size else 0.0
    scale = peak / top if peak > 0 else 1.0
    return np.clip(np.rint(x / scale), -top, top).astype(np.int64), scale


def quantize_attention(Q, K, V, *, bits: int = 8, params: AttentionParams | None = None) -> dict:
    """Quantize float ``Q``, ``K``, ``V`` for the attention design (per-tensor, symmetric).

    ``Q`` is ``(nq, D)`` or ``(H, nq, D)``; ``K``, ``V`` are ``(nkv, D)`` or ``(H, nkv, D)``.
    Each tensor gets one scale over all heads. Returns a dict with ``q``, ``k``, ``v`` (int64
    codes), ``scales`` = ``(s_q, s_k, s_v)``, ``score_num`` and ``score_frac`` (the code of
    ``s_q * s_k / sqrt(D)``, :func:`score_scale_code`) and ``params``: ``None``, or when
    ``params`` is given, a copy of it with that score scale (then the widths are ``q_width``,
    ``k_width``, ``v_width`` of ``params`` instead of ``bits``). Output codes of the design are at
    ``s_v * 2**-out_frac``.

    Example::

        qa = quantize_attention(Q, K, V, params=AttentionParams(n_max=256))
        o = golden_int(qa["q"], qa["k"], qa["v"], qa["params"]) * qa["scales"][2]  # ~ softmax(QK^T/sqrt(D)) V
    """
    arrays = {name: np.asarray(value, dtype=np.float64) for name, value in (("Q", Q), ("K", K), ("V", V))}
    for name, array in arrays.items():
        if array.ndim not in (2, 3) or 0 in array.shape:
            raise ValueError(f"{name} must be a non-empty (N, D) or (H, N, D) array, not shape {array.shape}")
    q_arr, k_arr, v_arr = arrays["Q"], arrays["K"], arrays["V"]
    if not q_arr.ndim == k_arr.ndim == v_arr.ndim:
        raise ValueError(f"Q {q_arr.shape}, K {k_arr.shape} and V {v_arr.shape} must all be (N, D) or all (H, N, D)")
    if k_arr.shape != v_arr.shape or q_arr.shape[-1] != k_arr.shape[-1] or q_arr.shape[:-2] != k_arr.shape[:-2]:
        raise ValueError(f"Q {q_arr.shape}, K {k_arr.shape} and V {v_arr.shape} must share D (and H), "
                         "and K and V the same shape")
    widths = (bits, bits, bits) if params is None else (params.q_width, params.k_width, params.v_width)
    (q, s_q), (k, s_k), (v, s_v) = (quantize_symmetric(a, w) for a, w in zip((q_arr, k_arr, v_arr), widths))
    num, frac = score_scale_code(s_q * s_k / math.sqrt(q_arr.shape[-1]))
    scaled = None if params is None else dataclasses.replace(params, score_num=num, score_frac=frac)
    return {"q": q, "k": k, "v": v, "scales": (s_q, s_k, s_v), "score_num": num, "score_frac": frac,
            "params": scaled}
