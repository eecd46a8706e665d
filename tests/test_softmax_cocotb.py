# amaranth: UnusedElaboratable=no
"""Regression of the exported softmax on Verilator, bit-exact against the golden model.

Few builds (lanes 1, 2 and 4, n_max 24..200), many jobs each: random rows of the corner
lengths (1, 2, P-1, P, P+1, 197, n_max) with random masks, all-equal / one-hot / tied-maxima /
most-negative-maximum / fully masked rows, random source stalls and sink backpressure, and a
stall-free run of back-to-back rows whose cycle count shows one beat per cycle.
"""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.hdl.util import ceil_div
from accelgen.sim.cli import main
from accelgen.sim.runner import build, simulate
from accelgen.verif import softmax_host
from accelgen.verif.softmax_golden import golden_int

DESIGN = get_design("softmax")

CONFIGS = {
    "int8_lanes4": dict(width=8, in_frac=4, out_frac=8, lanes=4, n_max=200),
    "int8_lanes16_short": dict(width=8, in_frac=3, out_frac=8, lanes=16, n_max=40),
    "int16_q12_lanes1": dict(width=16, in_frac=12, out_frac=16, lanes=1, n_max=200),
    "int12_shift_lanes2_nomask": dict(width=12, in_frac=6, out_frac=10, lanes=2, n_max=24, approx="shift",
                                      masking=False),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(CONFIGS))
def test_softmax_regression(config, seed, tmp_path):
    params = DESIGN.params(**CONFIGS[config])
    jobs = softmax_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    # The testbench compared in the simulation; check the saved outputs again with the
    # sustained-throughput bound of the stall-free job.
    assert softmax_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_back_to_back_rows_sustain_one_beat_per_cycle(seed, tmp_path):
    """Twice the rows take exactly twice the beats more cycles: no bubble between rows."""
    params = DESIGN.params(**CONFIGS["int8_lanes16_short"])
    rng = np.random.default_rng(seed)
    jobs = []
    for rows in (8, 16):
        for length in (params.lanes, params.lanes + 1, params.n_max):
            jobs.append({"name": f"rows{rows}_n{length}", "inputs": softmax_host.random_rows(params, rng, [length] * rows),
                         "stall": 0.0, "backpressure": 0.0})
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert softmax_host.check(params, jobs, outputs) == []
    for short, long in zip(range(0, 3), range(3, 6)):
        beats = int(sum(ceil_div(int(n), params.lanes) for n in jobs[short]["inputs"]["length"]))
        assert int(outputs[long]["cycles"]) - int(outputs[short]["cycles"]) == beats


@pytest.mark.cocotb
def test_cli_run_writes_probabilities(seed, tmp_path, capsys):
    params = dict(CONFIGS["int8_lanes4"])
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (5, 37))
    mask = rng.random(x.shape) < 0.2
    np.savez(tmp_path / "in.npz", x=x, mask=mask)
    args = [arg for key, value in params.items() for arg in ("-p", f"{key}={value}")]
    assert main(["run", "softmax", *args, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    out = np.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(out["y"], golden_int(x, DESIGN.params(**params), mask))
    assert out["y"].shape == x.shape and (out["y"][mask] == 0).all()
    # Rows longer than n_max are refused with a clear message.
    np.savez(tmp_path / "long.npz", x=rng.integers(-128, 128, (1, 201)))
    assert main(["run", "softmax", *args, "--inputs", str(tmp_path / "long.npz"), "--outputs", str(tmp_path / "x.npz")]) == 2
    assert "longer than n_max=200" in capsys.readouterr().err
