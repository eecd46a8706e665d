# amaranth: UnusedElaboratable=no
"""Regression of the exported attention array on Verilator, bit-exact against the golden model.

Three builds (4 x 4 with p12, 8 x 8 with p8 and two softmax lanes, 2 x 2 with carry-save
multiply-accumulate), many jobs each: odd shapes
back to back under random stalls on q/k/v and backpressure on o, structured logits (all equal,
one dominant key, a maximum growing every tile, the maximum in the first tile only, extreme
codes), one-tile blocks under heavy backpressure, and stall-free jobs whose cycle count must
equal the analytic model; plus ``accelgen run attention`` end to end with grouped-query heads.
"""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.generators.attention import analytic_cycles, useful_macs
from accelgen.sim.cli import main
from accelgen.sim.runner import build, simulate
from accelgen.verif import attention_host
from accelgen.verif.attention_golden import golden_int

DESIGN = get_design("attention")

CONFIGS = {
    "4x4_p12": dict(br=4, bc=4, d_max=16, n_max=64, score_num=45, score_frac=12),
    "8x8_p8_lanes2": dict(br=8, bc=8, d_max=32, n_max=64, p_bits=8, l_extra_bits=2, exp_lanes=2, score_num=1, score_frac=9,
                          out_width=10, out_frac=2),
    "2x2_carry_save": dict(br=2, bc=2, d_max=4, n_max=12, mac="carry_save", o_guard=2, score_num=3, score_frac=9),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(CONFIGS))
def test_attention_regression(config, seed, tmp_path):
    params = DESIGN.params(**CONFIGS[config])
    jobs = attention_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert attention_host.check(params, jobs, outputs) == []
    assert any("shape" in job and job["stall"] == 0 for job in jobs)  # the cycle model was checked


@pytest.mark.cocotb
def test_cli_run_grouped_query_heads(seed, tmp_path, capsys):
    """Four query heads sharing two key/value heads (decoding: nq = 1) run as two packed jobs."""
    params = CONFIGS["4x4_p12"]
    rng = np.random.default_rng(seed)
    q = rng.integers(-128, 128, (4, 1, 9))
    k = rng.integers(-128, 128, (2, 11, 9))
    v = rng.integers(-128, 128, (2, 11, 9))
    inputs, outputs = tmp_path / "qkv.npz", tmp_path / "o.npz"
    np.savez(inputs, q=q, k=k, v=v, causal=np.bool_(True))
    args = ["run", "attention", "--inputs", str(inputs), "--outputs", str(outputs), "--seed", str(seed)]
    args += [f"-p{name}={value}" for name, value in params.items()]
    assert main(args) == 0
    out = np.load(outputs)
    p = DESIGN.params(**params)
    expected = np.stack([golden_int(q[h], k[h // 2], v[h // 2], p, causal=True) for h in range(4)])
    assert out["o"].shape == (4, 1, 9) and np.array_equal(out["o"], expected)
    assert out["job_heads"].tolist() == [[0, 1], [2, 3]]
    assert out["cycle_count"].tolist() == [analytic_cycles(p, 2, 11, 9)] * 2
    assert np.allclose(out["utilization"], useful_macs(2, 11, 9, False) / (16 * out["cycle_count"]))
