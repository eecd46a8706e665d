# amaranth: UnusedElaboratable=no
"""The stand-alone exp unit (design ``exp``) on Verilator: every input code, bit-exact against
the golden exp, under random stalls and backpressure; parameter errors; ``accelgen run``."""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.generators.exp import ExpParams
from accelgen.sim.cli import main
from accelgen.sim.runner import build, simulate
from accelgen.verif import exp_host

DESIGN = get_design("exp")


@pytest.mark.cocotb
def test_exp_int8_regression(seed, tmp_path):
    params = DESIGN.params(width=8, in_frac=4, exp_frac=16, lanes=2)
    jobs = exp_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert exp_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_exp_range_reduction_every_code(seed, tmp_path):
    """A 12-bit input takes the range-reduction path (the 16-bit one is exhaustive in
    tests/test_softmax_units.py on the Amaranth simulator)."""
    params = DESIGN.params(width=12, in_frac=8, in_scale_num=3, exp_frac=20, lanes=4)
    codes = np.random.default_rng(seed).permutation(1 << 12)
    jobs = [{"name": "every_code", "inputs": {"d": codes}, "stall": 0.1, "backpressure": 0.2}]
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert exp_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_cli_run_exp(tmp_path):
    d = np.arange(256).reshape(16, 16)
    np.savez(tmp_path / "in.npz", d=d)
    args = ["-p", "width=8", "-p", "in_frac=4", "-p", "exp_frac=16", "-p", "lanes=2"]
    assert main(["run", "exp", *args, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")]) == 0
    e = np.load(tmp_path / "out.npz")["e"]
    assert e.shape == d.shape
    # Correctly rounded exp(-d/16) in U1.16.
    assert np.abs(e - np.exp(-d / 16.0) * 2**16).max() <= 0.5


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(lanes=5), "lanes=5 is not legal: must be a power of two"),
        (dict(width=12, approx="ibert"), "approx='ibert' is tabulated: width=12 is out of range"),
        (dict(exp_frac=40), "exp_frac=40 is out of range"),
    ],
)
def test_exp_bad_parameters(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        ExpParams(**overrides)
