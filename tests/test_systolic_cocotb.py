"""Regression of the exported systolic array on Verilator, bit-exact against the golden model.

One Verilator build per configuration; the jobs (``regression_jobs``) cover random tiles of
mixed K including 1 and k_max back to back, extreme operands, random stalls and backpressure,
and a stall-free run whose busy-cycle count must equal the analytic model.
"""

import csv
import json

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.sim.cli import main
from accelgen.sim.runner import build, simulate
from accelgen.sim.sweep import run_sweep
from accelgen.verif import systolic_host

DESIGN = get_design("systolic")

CONFIGS = {
    "1x1_s8": dict(rows=1, cols=1, k_max=16),
    "2x3_u4": dict(rows=2, cols=3, a_width=4, b_width=4, a_signed=False, b_signed=False, k_max=8),
    "3x5_s8u8": dict(rows=3, cols=5, a_signed=True, b_signed=False, k_max=32),
    "4x4_s16": dict(rows=4, cols=4, a_width=16, b_width=16, k_max=64),
    "8x8_s8": dict(rows=8, cols=8, k_max=256),
    "4x4_s8_sat12": dict(rows=4, cols=4, k_max=64, acc_width=12, overflow="saturate"),
    "3x2_u8s4_wrap10_comb": dict(rows=3, cols=2, a_signed=False, b_width=4, acc_width=10, overflow="wrap", k_max=32,
                                 pipeline_product=False),
    # Carry-save accumulators: the same results, bit for bit.
    "3x5_s8u8_carry_save": dict(rows=3, cols=5, a_signed=True, b_signed=False, k_max=32, mac="carry_save"),
    "2x3_u5s7_wrap9_comb_carry_save": dict(rows=2, cols=3, a_width=5, a_signed=False, b_width=7, acc_width=9,
                                           overflow="wrap", k_max=16, pipeline_product=False, mac="carry_save"),
    "2x3_s8u6_carry_save_registered_partials": dict(rows=2, cols=3, b_width=6, b_signed=False, k_max=16,
                                                    mac="carry_save", register_partials=True),
    # Register-steered row multiplexers: 5 rows (not a power of two), both MAC styles.
    "5x2_s8_mux_tree": dict(rows=5, cols=2, k_max=16, row_select="mux_tree"),
    "5x3_s8u8_carry_save_mux_tree": dict(rows=5, cols=3, b_signed=False, k_max=16, mac="carry_save",
                                         row_select="mux_tree"),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(CONFIGS))
def test_systolic_regression(config, seed, tmp_path):
    params = DESIGN.params(**CONFIGS[config])
    jobs = systolic_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    # The testbench's scoreboard compared in the simulation; check the saved outputs again,
    # with the MAC counter and the analytic cycle count.
    assert systolic_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_user_matrices_of_odd_shapes(seed, tmp_path):
    """``accelgen run``'s path: any M, N, K tiled onto the array returns exactly a @ b."""
    params = DESIGN.params(rows=3, cols=4, k_max=64)
    rng = np.random.default_rng(seed)
    arrays = {"a": rng.integers(-128, 128, (7, 13)), "b": rng.integers(-128, 128, (13, 10))}
    outputs = simulate(build(DESIGN, params), systolic_host.user_jobs(params, arrays), seed=seed, workdir=tmp_path)
    result = systolic_host.user_outputs(params, arrays, outputs)
    np.testing.assert_array_equal(result["c"], arrays["a"] @ arrays["b"])


@pytest.mark.cocotb
def test_cli_run_returns_exact_product(seed, tmp_path, capsys):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 16, (5, 9))
    b = rng.integers(-8, 8, (9, 3))
    np.savez(tmp_path / "in.npz", a=a, b=b)
    args = ["-p", "rows=2", "-p", "cols=2", "-p", "a_width=4", "-p", "a_signed=false", "-p", "b_width=4", "-p", "k_max=16"]
    assert main(["run", "systolic", *args, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["c"], a @ b)
    assert out["c"].dtype == np.int64 and int(out["cycles"]) > 0
    # Operands outside the configured widths are refused with a clear message.
    np.savez(tmp_path / "bad.npz", a=a + 16, b=b)
    assert main(["run", "systolic", *args, "--inputs", str(tmp_path / "bad.npz"), "--outputs", str(tmp_path / "x.npz")]) == 2
    assert "outside the unsigned 4-bit range 0..15" in capsys.readouterr().err


@pytest.mark.cocotb
@pytest.mark.synth
def test_sweep_writes_one_verified_row_per_point(tmp_path):

    rows = run_sweep("systolic", ["k_max=4", "a_width=4", "b_width=4"], "rows=1,2 cols=1", out_dir=tmp_path,
                     csv_path=tmp_path / "sweep.csv", jobs=1, seed=3)
    with open(tmp_path / "sweep.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [row["rows"] for row in table] == ["1", "2"]
    assert all(row["bit_exact"] == "True" and int(row["cells"]) > 0 for row in table)
    assert len(rows) == 2


@pytest.mark.cocotb
def test_cli_sim_passes_and_prints_its_seed(capsys):
    assert main(["sim", "systolic", "-p", "rows=1", "-p", "cols=1", "-p", "k_max=16", "--seed", "7"]) == 0
    out = capsys.readouterr().out
    params = get_design("systolic").params(rows=1, cols=1, k_max=16)
    jobs = systolic_host.regression_jobs(params, np.random.default_rng(7))
    assert "seed 7" in out and f"PASS: {len(jobs)} jobs bit-exact" in out


@pytest.mark.synth
def test_cli_synth_writes_a_json_report(tmp_path, capsys):

    assert main(["synth", "systolic", "-p", "rows=1", "-p", "cols=2", "--target", "generic", "-o", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "synth_generic" / "synth_generic.json").read_text())
    assert report["cells"] > 0 and report["logic_depth"] > 0
    assert report["critical_path"]["length"] == report["logic_depth"]
    out = capsys.readouterr().out
    assert "cells=" in out
    path = report["critical_path"]
    assert f"critical_path={path['start']} -> {path['end_ff'] or path['end']} ({report['logic_depth']} cells)" in out
