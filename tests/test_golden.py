"""The golden models themselves: against float64 / Python-int references, and their input checks."""

from fractions import Fraction

import numpy as np
import pytest

from accelgen.hdl.fixedpoint import ROUNDING_MODES, round_div, round_real, round_shift, saturate
from accelgen.verif import golden
from accelgen.verif.packing import pack_array, unpack_array
from accelgen.verif.systolic_host import matrices_to_beats, rows_to_matrix


def test_matmul_wrap_equals_exact_product_modulo(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (5, 40))
    b = rng.integers(-128, 128, (40, 3))
    exact = [[sum(int(a[i, k]) * int(b[k, j]) for k in range(40)) for j in range(3)] for i in range(5)]
    got = golden.matmul(a, b, a_width=8, a_signed=True, b_width=8, b_signed=True,
                        acc_width=12, acc_signed=True, overflow="wrap")
    for i in range(5):
        for j in range(3):
            wrapped = ((exact[i][j] + 2048) % 4096) - 2048
            assert got[i, j] == wrapped


def test_matmul_saturate_clamps_every_step():
    a = np.array([[100, 100, -100]])
    b = np.array([[100], [100], [100]])
    # acc_width 15 holds -16384..16383: the running sum goes 10000, 16383 (clamped), 6383.
    got = golden.matmul(a, b, a_width=8, a_signed=True, b_width=8, b_signed=True,
                        acc_width=15, acc_signed=True, overflow="saturate")
    assert got[0, 0] == 16383 - 10000
    wrapped = golden.matmul(a, b, a_width=8, a_signed=True, b_width=8, b_signed=True,
                            acc_width=15, acc_signed=True, overflow="wrap")
    assert wrapped[0, 0] == 10000


def test_matmul_matches_float64_when_wide_enough(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(-2**15, 2**15, (4, 64))
    b = rng.integers(0, 2**16, (64, 6))
    got = golden.matmul(a, b, a_width=16, a_signed=True, b_width=16, b_signed=False,
                        acc_width=64, acc_signed=True, overflow="wrap")
    reference = a.astype(np.float64) @ b.astype(np.float64)
    assert np.all(np.abs(got - reference) <= np.abs(reference) * 2**-52 * 64)


def test_operands_out_of_range_are_rejected():
    with pytest.raises(ValueError, match=r"a has values in -129\.\.0, outside the signed 8-bit range -128\.\.127"):
        golden.matmul(np.array([[-129, 0]]), np.zeros((2, 1), dtype=int), a_width=8, a_signed=True, b_width=8,
                      b_signed=True, acc_width=24, acc_signed=True, overflow="wrap")
    with pytest.raises(ValueError, match="must hold integers"):
        golden.check_fits("a", np.array([0.5]), 8, True)


@pytest.mark.parametrize("width,is_signed", [(4, True), (4, False), (7, True)])
def test_packing_round_trips_every_code(width, is_signed):
    lo, hi = golden.value_range(width, is_signed)
    codes = list(range(lo, hi + 1))
    assert unpack_array(pack_array(codes, width), width, len(codes), is_signed) == codes


def test_tiling_round_trip_for_odd_shapes(seed):
    rng = np.random.default_rng(seed)
    for m, k, n, rows, cols in [(7, 13, 10, 3, 4), (1, 1, 1, 2, 2), (9, 2, 5, 4, 1)]:
        a = rng.integers(-8, 8, (m, k))
        b = rng.integers(-8, 8, (k, n))
        beats = matrices_to_beats(a, b, rows, cols)
        c_rows = golden.tile_matmul(beats["a_beats"], beats["b_beats"], beats["last"], a_width=4, a_signed=True,
                                    b_width=4, b_signed=True, acc_width=32, acc_signed=True, overflow="wrap")
        np.testing.assert_array_equal(rows_to_matrix(c_rows, m, n, rows, cols), a @ b)


# -- fixed-point rounding (accelgen.hdl.fixedpoint) -----------------------------------------


def _reference_round(exact: Fraction, mode: str) -> int:
    # Independent of the implementation: from the definition of each mode.
    floor = exact.numerator // exact.denominator
    frac = exact - floor
    if mode == "floor":
        return floor
    if frac > Fraction(1, 2):
        return floor + 1
    if frac < Fraction(1, 2):
        return floor
    return floor + 1 if mode == "half_up" else floor + (floor & 1)


@pytest.mark.parametrize("mode", ROUNDING_MODES)
def test_round_shift_and_div_match_the_definition(mode):
    values = np.arange(-300, 301, dtype=np.int64)
    for shift in range(0, 6):
        expected = [_reference_round(Fraction(int(v), 1 << shift), mode) for v in values]
        assert round_shift(values, shift, mode).tolist() == expected
        assert [round_shift(int(v), shift, mode) for v in values] == expected
    for den in (1, 3, 6, 7, 10):
        expected = [_reference_round(Fraction(int(v), den), mode) for v in values]
        assert round_div(values, den, mode).tolist() == expected


def test_round_real_and_saturate():
    assert round_real(0.5, 0, "half_even") == 0 and round_real(1.5, 0, "half_even") == 2
    assert round_real(-0.5, 0, "half_up") == 0 and round_real(-0.75, 1, "floor") == -2
    assert round_real(0.3, 8, "half_up") == 77  # 0.3 * 256 = 76.8
    assert saturate(300, -128, 127) == 127
    assert saturate(np.array([-200, 5]), -128, 127).tolist() == [-128, 5]
    with pytest.raises(ValueError, match="rounding='nearest'"):
        round_shift(1, 1, "nearest")
