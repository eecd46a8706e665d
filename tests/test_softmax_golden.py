"""Accuracy of the softmax golden model against float64, and properties of its outputs.

Pure numpy: many random rows per configuration plus the corner rows, against the targets of
the design (int8 -> U0.8: max |error| <= 1 LSB, |bias| <= 0.3 LSB; int16 -> U0.16:
<= 2 LSB, |bias| <= 0.15 LSB; N up to 4096). The cheaper variants are checked to be what
they are documented to be (several LSB), so the accuracy assertions can tell them apart.
"""

import numpy as np
import pytest

from accelgen.generators.softmax import SoftmaxParams
from accelgen.verif.softmax_golden import accuracy, golden_int, reference_real
from accelgen.verif.softmax_host import corner_rows, padded_inactive

INT8 = dict(width=8, in_frac=4, out_frac=8, n_max=4096, lanes=4)
INT16 = dict(width=16, in_frac=12, out_frac=16, n_max=4096, lanes=4)


def gaussian_rows(params, rng, n, count):
    lo, hi = -(1 << (params.width - 1)), (1 << (params.width - 1)) - 1
    centre = rng.integers(lo, hi, (count, 1), endpoint=True)
    return np.clip(np.round(rng.normal(centre, (hi - lo) / 6, (count, n))), lo, hi).astype(np.int64)


def uniform_rows(params, rng, n, count):
    lo, hi = -(1 << (params.width - 1)), (1 << (params.width - 1)) - 1
    return rng.integers(lo, hi, (count, n), endpoint=True)


CASES = [
    ("int8_s16", INT8, 1.0, 0.3),
    ("int8_s8", dict(INT8, in_frac=3), 1.0, 0.3),
    ("int8_s32", dict(INT8, in_frac=5), 1.0, 0.3),
    ("int8_scale3_64", dict(INT8, in_frac=6, in_scale_num=3), 1.0, 0.3),
    ("int16_q12", INT16, 2.0, 0.15),
    ("int16_q10", dict(INT16, in_frac=10), 2.0, 0.15),
]


@pytest.mark.parametrize("name,config,max_lsb,bias_lsb", CASES, ids=[case[0] for case in CASES])
def test_accuracy_targets_hold_over_random_rows(name, config, max_lsb, bias_lsb, seed):
    params = SoftmaxParams(**config)
    rng = np.random.default_rng(seed)
    for n in (1, 2, 3, 8, 64, 197, 1024, 4096):
        count = max(8, 24000 // n)
        for make in (gaussian_rows, uniform_rows):
            x = make(params, rng, n, count)
            mask = rng.random(x.shape) < 0.1 if n > 2 else None
            result = accuracy(x, params, mask)
            assert result["max_abs_lsb"] <= max_lsb, (n, make.__name__, result)
            if n >= 8:
                assert abs(result["bias_lsb"]) <= bias_lsb, (n, make.__name__, result)


@pytest.mark.parametrize("name,config,max_lsb", [(c[0], c[1], c[2]) for c in CASES[:2] + CASES[4:5]],
                         ids=[c[0] for c in CASES[:2] + CASES[4:5]])
def test_accuracy_holds_for_worst_case_rounding_rows(name, config, max_lsb):
    """One maximum and n_max - 1 elements at the same distance d, for every d that gives a
    non-zero term: the terms' rounding errors all point the same way (worst case of the sum)."""
    params = SoftmaxParams(**config)
    hi = (1 << (params.width - 1)) - 1
    limit = min((1 << params.width) - 1, params.exp_spec.d_relevant)
    for d in range(1, limit + 1, max(1, limit // 300)):
        x = np.full((1, params.n_max), hi - d, dtype=np.int64)
        x[0, 0] = hi
        result = accuracy(x, params)
        assert result["max_abs_lsb"] <= max_lsb, (d, result)


def test_cheaper_variants_are_several_lsb_off(seed):
    rng = np.random.default_rng(seed)
    x = gaussian_rows(SoftmaxParams(**INT8), rng, 64, 400)
    ibert = accuracy(x, SoftmaxParams(**INT8, approx="ibert"))["max_abs_lsb"]
    shift = accuracy(x, SoftmaxParams(**INT8, approx="shift"))["max_abs_lsb"]
    accurate = accuracy(x, SoftmaxParams(**INT8))["max_abs_lsb"]
    assert accurate <= 1.0 < shift < ibert
    assert ibert > 8  # I-BERT's floored ln2 constant at S = 1/16 (published: 17-21 LSB)


@pytest.mark.parametrize("config", [INT8, INT16], ids=["int8", "int16"])
def test_output_properties(config, seed):
    params = SoftmaxParams(**config)
    rng = np.random.default_rng(seed)
    n = 197
    x = gaussian_rows(params, rng, n, 200)
    y = golden_int(x, params)
    top = 1 << params.out_frac
    # Probabilities add up to 1 within one LSB per element.
    assert (np.abs(y.sum(axis=1) - top) <= n).all()
    # Order preserving: x_i >= x_j implies y_i >= y_j.
    order = np.argsort(x, axis=1, kind="stable")
    assert (np.diff(np.take_along_axis(y, order, axis=1), axis=1) >= 0).all()
    # Order independent: permuting a row permutes its outputs.
    permutation = rng.permutation(n)
    np.testing.assert_array_equal(golden_int(x[:, permutation], params), y[:, permutation])
    # All-equal rows give 1/N each (rounded), a single element gives the saturated 1.0.
    equal = golden_int(np.zeros((1, n), dtype=np.int64), params)
    assert (equal == round(top / n)).all()
    assert golden_int(np.array([[5]]), params)[0, 0] == top - 1


def test_masked_elements_output_zero_and_contribute_nothing(seed):
    params = SoftmaxParams(**INT8)
    rng = np.random.default_rng(seed)
    x = gaussian_rows(params, rng, 50, 40)
    mask = rng.random(x.shape) < 0.3
    mask[0] = True  # a fully masked row
    y = golden_int(x, params, mask)
    assert (y[mask] == 0).all() and (y[0] == 0).all()
    # Masking equals dropping the element.
    row = 3
    kept = ~mask[row]
    np.testing.assert_array_equal(golden_int(x[row:row + 1, kept], params)[0], y[row, kept])
    assert (reference_real(x, params, mask)[mask] == 0).all()


def test_corner_rows_are_within_the_targets(seed):
    for config, max_lsb in ((dict(INT8, n_max=200), 1.0), (dict(INT16, n_max=200), 2.0)):
        params = SoftmaxParams(**config)
        job = corner_rows(params, np.random.default_rng(seed))
        result = accuracy(job["x"], params, padded_inactive(job))
        assert result["max_abs_lsb"] <= max_lsb, result


def test_golden_model_asserts_register_widths():
    """An exp term wider than its declared register is caught by the width assertions."""
    params = SoftmaxParams(**dict(INT8, n_max=16))
    with pytest.raises(AssertionError, match="x"):
        golden_int(np.array([[200]]), params)  # not an int8 code
