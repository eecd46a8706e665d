# amaranth: UnusedElaboratable=no
"""Weight-stationary systolic array: Amaranth-simulator unit tests, parameter errors, and the
Verilator/cocotb regression (bit-exact, random stalls and backpressure, cycle model)."""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.generators.systolic_ws import SystolicWSArray, SystolicWSParams, analytic_cycles
from accelgen.sim.cli import main
from accelgen.sim.lint import lint_design
from accelgen.sim.runner import build, simulate
from accelgen.verif import systolic_ws_host
from accelgen.verif.packing import pack_beats, stream_layouts, unpack_beats
from accelgen.verif.pysim_streams import run_streams

DESIGN = get_design("systolic_ws")


def pysim(params, job, *, stall, backpressure, rng):
    """Stream a job through the array in the Amaranth simulator; rows, last flags, counters."""
    dut = SystolicWSArray(params)
    layouts = stream_layouts(dut)
    words = {"w": pack_beats(layouts["w"], data=job["w_beats"]),
             "a": pack_beats(layouts["a"], data=job["a_beats"], last=job["last"])}
    received, values = run_streams(dut, words, expect=len(words["a"]), rng=rng, stall=stall,
                                   backpressure=backpressure)
    rows = unpack_beats(layouts["c"], received)
    return rows["data"], rows["last"], {"cycles": values["cycle_count"], "macs": values["mac_count"]}


@pytest.mark.parametrize("config", [dict(rows=3, cols=2), dict(rows=1, cols=1), dict(rows=2, cols=3, a_signed=False)])
def test_cycle_counter_matches_analytic_model(config, seed):
    """Short tiles expose the weight loads and bank drains, long ones hide them: both exact."""
    params = SystolicWSParams(**config)
    rng = np.random.default_rng(seed)
    r, c = params.rows, params.cols
    for tile_rows in ([1, 1, 1, 1], [1, 5, 2, 9, 1], [r] * 4, [2 * r + c - 2] * 3, [max(1, 2 * r + c - 3)] * 3):
        job = systolic_ws_host.random_job(params, rng, tile_rows)
        rows, flags, counters = pysim(params, job, stall=0.0, backpressure=0.0, rng=rng)
        np.testing.assert_array_equal(rows, systolic_ws_host.expected_rows(params, job))
        assert counters["cycles"] == analytic_cycles(params, tile_rows), tile_rows
        assert counters["macs"] == sum(tile_rows) * r * c


def test_weight_loads_hide_under_long_tiles():
    params = SystolicWSParams(rows=4, cols=4)
    m = 2 * 4 + 4 - 2
    assert analytic_cycles(params, [m] * 5) == 4 + 5 * m + 4 + 4 + params.result_latency
    # One row shorter and every reload shows.
    assert analytic_cycles(params, [m - 1] * 5) > 4 + 5 * (m - 1) + 4 + 4 + params.result_latency


@pytest.mark.parametrize("config", [dict(rows=3, cols=2), dict(rows=2, cols=4, acc_width=9, overflow="saturate", a_width=6),
                                    dict(rows=2, cols=2, out_fifo_depth=2), dict(rows=1, cols=1, mac="carry_save"),
                                    dict(rows=4, cols=3, a_signed=False, b_width=5, acc_width=9, overflow="wrap",
                                         mac="carry_save")])
def test_random_tiles_with_stalls_and_backpressure(config, seed):
    params = SystolicWSParams(**config)
    rng = np.random.default_rng(seed)
    job = systolic_ws_host.random_job(params, rng, [1, 3, 1, 7, 2, 1, 4])
    rows, flags, counters = pysim(params, job, stall=0.3, backpressure=0.5, rng=rng)
    np.testing.assert_array_equal(rows, systolic_ws_host.expected_rows(params, job))
    np.testing.assert_array_equal(flags, job["last"])
    assert counters["macs"] == len(job["last"]) * params.rows * params.cols


def test_saturation_is_exercised():
    """The saturating configuration's extreme tiles really clamp (the golden model agrees)."""
    params = SystolicWSParams(rows=2, cols=4, acc_width=9, overflow="saturate", a_width=6)
    job = systolic_ws_host.extreme_job(params, 2)
    expected = systolic_ws_host.expected_rows(params, job)
    assert expected.max() == 255 and expected.min() == -256


@pytest.mark.parametrize("config", [dict(rows=2, cols=3, a_width=5, b_width=6), dict(rows=2, cols=2, a_signed=False, b_width=3, acc_width=6,
                                                                overflow="wrap")])
def test_mac_styles_agree_bit_for_bit(config, seed):
    """Carry-save partial sums give exactly the baseline's rows and cycle counts."""
    rng = np.random.default_rng(seed)
    results = []
    for mac in ("baseline", "carry_save"):
        params = SystolicWSParams(mac=mac, **config)
        job = systolic_ws_host.random_job(params, np.random.default_rng(seed), [1, 6, 2])
        job_extreme = systolic_ws_host.extreme_job(params, 2)
        runs = [pysim(params, j, stall=0.0, backpressure=0.0, rng=rng) for j in (job, job_extreme)]
        for j, (rows, _, _) in zip((job, job_extreme), runs):
            np.testing.assert_array_equal(rows, systolic_ws_host.expected_rows(params, j))
        results.append([(rows.tolist(), counters["cycles"]) for rows, _, counters in runs])
    assert results[0] == results[1]


BAD_PARAMS = [
    (dict(mac="same_weight_tree"), r"mac='same_weight_tree' is not legal for the weight-stationary systolic array.*'baseline', 'carry_save'"),
    (dict(mac="booth"), r"mac='booth' is not legal: must be one of 'baseline', 'carry_save', 'same_weight_tree'"),
    (dict(rows=0), r"rows=0 is out of range: must be an integer in 1\.\.64"),
    (dict(a_width=17), r"a_width=17 is out of range: must be an integer in 2\.\.16"),
    (dict(acc_width=12), r"acc_width=12 can overflow for rows=4 \(the safe width is 18\); set overflow"),
    (dict(acc_width=12, overflow="saturate", mac="carry_save"), r"overflow='saturate' is not legal with mac='carry_save'"),
    (dict(out_fifo_depth=1), r"out_fifo_depth=1 is out of range: must be an integer in 2\.\.4096"),
]


@pytest.mark.parametrize("kwargs,message", BAD_PARAMS)
def test_bad_parameters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SystolicWSParams(**kwargs)


COCOTB_CONFIGS = {
    "3x2_s8": dict(rows=3, cols=2),
    "4x3_u4s8_sat": dict(rows=4, cols=3, a_width=4, a_signed=False, acc_width=12, overflow="saturate"),
    "2x2_s4_carry_save": dict(rows=2, cols=2, a_width=4, b_width=4, mac="carry_save"),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(COCOTB_CONFIGS))
def test_systolic_ws_regression(config, seed, tmp_path):
    params = DESIGN.params(**COCOTB_CONFIGS[config])
    jobs = systolic_ws_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert systolic_ws_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_cli_run_returns_exact_product(seed, tmp_path):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (5, 7))
    b = rng.integers(-128, 128, (7, 3))
    np.savez(tmp_path / "in.npz", a=a, b=b)
    args = ["-p", "rows=3", "-p", "cols=2"]
    assert main(["run", "systolic_ws", *args, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["c"], a @ b)
    assert int(out["cycles"]) > 0


@pytest.mark.parametrize("overrides", [dict(rows=1, cols=1), dict(rows=3, cols=5, a_signed=False, b_signed=False, a_width=2, b_width=16),
                                       dict(rows=2, cols=3, mac="carry_save", a_signed=False),
                                       dict(rows=2, cols=2, acc_width=9, overflow="saturate", out_fifo_depth=2)])
def test_corner_configurations_are_lint_clean(overrides):
    assert lint_design(DESIGN, SystolicWSParams(**overrides)) == []
