# amaranth: UnusedElaboratable=no
"""The systolic array in the Amaranth simulator: streams with stalls, counters, admission rules."""


import numpy as np
import pytest

from accelgen.generators.systolic import SystolicArray, SystolicParams
from accelgen.verif.pysim_streams import run_tile_beats
from accelgen.verif.systolic_host import expected_rows, random_beats


def simulate(params, beats, *, stall, backpressure, rng):
    return run_tile_beats(SystolicArray(params), beats, rng=rng, stall=stall, backpressure=backpressure)


@pytest.mark.parametrize("row_select", ["and_or", "mux_tree"])
@pytest.mark.parametrize("mac", ["baseline", "carry_save"])
def test_random_tiles_with_stalls_and_backpressure(mac, row_select, seed):
    params = SystolicParams(rows=3, cols=2, k_max=16, mac=mac, row_select=row_select)
    rng = np.random.default_rng(seed)
    beats = random_beats(params, rng, [1, 16, 2, 1, 3, 5])
    rows, flags, counters = simulate(params, beats, stall=0.3, backpressure=0.4, rng=rng)
    np.testing.assert_array_equal(rows, expected_rows(params, beats))
    assert list(flags) == [0, 0, 1] * 6
    assert counters["macs"] == len(beats["last"]) * 6


@pytest.mark.parametrize("mac,register_partials,row_select", [
    ("baseline", False, "and_or"), ("carry_save", False, "and_or"), ("carry_save", True, "and_or"),
    ("baseline", False, "mux_tree"), ("carry_save", True, "mux_tree")])
@pytest.mark.parametrize("pipeline_product", [False, True])
def test_cycle_counter_matches_analytic_model(pipeline_product, mac, register_partials, row_select, seed):
    rng = np.random.default_rng(seed)
    for k in (1, 2, 4, 9):
        params = SystolicParams(rows=4, cols=3, k_max=16, pipeline_product=pipeline_product, mac=mac,
                                register_partials=register_partials, row_select=row_select)
        beats = random_beats(params, rng, [k] * 5)
        rows, _, counters = simulate(params, beats, stall=0.0, backpressure=0.0, rng=rng)
        np.testing.assert_array_equal(rows, expected_rows(params, beats))
        assert counters["cycles"] == params.busy_cycles(tiles=5, k=k), k


def test_small_result_fifo_still_correct_under_backpressure(seed):
    params = SystolicParams(rows=2, cols=4, k_max=8, out_fifo_depth=2)
    rng = np.random.default_rng(seed)
    beats = random_beats(params, rng, [1, 1, 1, 2, 8, 1])
    rows, _, _ = simulate(params, beats, stall=0.1, backpressure=0.7, rng=rng)
    np.testing.assert_array_equal(rows, expected_rows(params, beats))


def test_carry_save_and_baseline_agree_on_wrapping_sums(seed):
    """A narrow wrapping accumulator: both MAC styles give the same rows (and the golden ones)."""
    rng = np.random.default_rng(seed)
    results = []
    for mac in ("baseline", "carry_save"):
        params = SystolicParams(rows=2, cols=2, a_width=6, b_width=5, b_signed=False, k_max=64, acc_width=7,
                                overflow="wrap", mac=mac)
        beats = random_beats(params, np.random.default_rng(seed), [7, 64, 1, 30])
        rows, _, _ = simulate(params, beats, stall=0.2, backpressure=0.2, rng=rng)
        np.testing.assert_array_equal(rows, expected_rows(params, beats))
        results.append(rows)
    np.testing.assert_array_equal(results[0], results[1])


def test_register_partials_needs_carry_save():
    with pytest.raises(ValueError, match=r"register_partials=True is not legal with mac='baseline'.*carry_save"):
        SystolicParams(register_partials=True)
    assert SystolicParams(mac="carry_save", register_partials=True).result_latency == \
        SystolicParams(mac="carry_save").result_latency + 1
