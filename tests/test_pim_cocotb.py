"""Regression of the exported PIM controller on Verilator against the channel model.

Every run feeds every channel's command slot, every cycle, into the behavioural PIM-DRAM model
whose checker has its own timing table (any violation fails the run), and compares every
result beat with numpy ``W @ x`` (int8 exact; bf16 bit-exact in the ISA's accumulation order). Tiny organisations and timings keep the
runs short; the full presets run in the benchmark.
"""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.sim.runner import SimulationError, build, simulate
from accelgen.verif import pim_host

DESIGN = get_design("pim_ctrl")

#: A tiny channel: 4 banks, 64-byte rows of 8 columns, short but distinct timing values.
TINY = dict(bank_groups=2, banks_per_group=2, rows=1024, row_bytes=64, col_bytes=8,
            tRCD_MAC=6, tRP=4, tRAS=8, tRC=13, tRTP=3, tCCD_S=1, tCCD_L=2, tCCD_MAC=2, tRRD_S=2, tRRD_L=3,
            tFAW=10, faw_weight_actab=1, tWTR_S=2, tWTR_L=3, tRTW=6, CL=5, CWL=2, BL=2, tREFI=400, tRFC=20,
            tRCD=5, tRCDWR=4, tWR=4, m_max=40, k_max=200)

CONFIGS = {
    "2ch_stock": dict(TINY, channels=2),
    "1ch_2slots_4acc_postpone": dict(TINY, channels=1, gb_slots=2, n_acc=4, refresh_postpone=2),
    "3ch_dual_faw4": dict(TINY, channels=3, dual_row_buffer=True, faw_weight_actab=4, tFAW=16, n_acc=2),
    "1ch_slow_mac_bus": dict(TINY, channels=1, tCCD_MAC=3, BL=3, tCCD_S=2, CL=9, refresh_mode="off"),
    "2ch_bf16_2acc": dict(TINY, channels=2, elem="bf16", n_acc=2),
    "2ch_reduce_2acc": dict(TINY, channels=2, reduce_channels=True, n_acc=2),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(CONFIGS))
def test_pim_regression(config, seed, tmp_path):
    params = DESIGN.params(**CONFIGS[config])
    jobs = pim_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
    assert pim_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
def test_user_gemv_and_trace(seed, tmp_path):
    """``accelgen run``'s path: any M, K returns exactly w @ x, with the command trace."""
    params = DESIGN.params(**CONFIGS["2ch_stock"])
    rng = np.random.default_rng(seed)
    arrays = {"w": rng.integers(-128, 128, (13, 150)), "x": rng.integers(-128, 128, 150)}
    outputs = simulate(build(DESIGN, params), pim_host.user_jobs(params, arrays), seed=seed, workdir=tmp_path)
    result = pim_host.user_outputs(params, arrays, outputs)
    np.testing.assert_array_equal(result["y"], arrays["w"] @ arrays["x"])
    trace = result["trace"]
    assert trace.shape[1] == 7 and len(trace) > 0
    macs = trace[trace[:, 2] == 8]
    # 13 outputs on 2 channels of 4 banks: 2 groups x 3 segments per channel, 8 + 8 + 3 columns.
    assert len(macs) == 2 * 2 * (8 + 8 + 3)
    assert result["cycles"] > 0


@pytest.mark.cocotb
def test_user_gemv_split_k(seed, tmp_path):
    """Split-K across channels: one beat per output group, the channels' partial sums added."""
    params = DESIGN.params(**CONFIGS["2ch_reduce_2acc"])
    rng = np.random.default_rng(seed)
    arrays = {"w": rng.integers(-128, 128, (13, 150)), "x": rng.integers(-128, 128, 150)}
    outputs = simulate(build(DESIGN, params), pim_host.user_jobs(params, arrays), seed=seed, workdir=tmp_path)
    result = pim_host.user_outputs(params, arrays, outputs)
    np.testing.assert_array_equal(result["y"], arrays["w"] @ arrays["x"])
    assert len(outputs[0]["index"]) == 4   # ceil(13 / 4 banks) beats, not one per channel
    macs = result["trace"][result["trace"][:, 2] == 8]
    # 19 columns of x split over 2 channels: 10 local columns = 2 segments (8 + 2) per group,
    # 4 groups, on each channel.
    assert len(macs) == 2 * 4 * (8 + 2)


@pytest.mark.cocotb
@pytest.mark.parametrize("config, mutated", [("2ch_stock", "tRCD_MAC"), ("2ch_stock", "tRP"),
                                             ("2ch_stock", "CL"), ("2ch_reduce_2acc", "CL")])
def test_mutated_timing_is_caught(config, mutated, seed, tmp_path):
    """A controller built with one timing value one cycle short fails the regression."""
    params = DESIGN.params(**CONFIGS[config], mutate=mutated)
    jobs = pim_host.regression_jobs(params, np.random.default_rng(seed))
    with pytest.raises(SimulationError, match=r"violates|differs"):
        simulate(build(DESIGN, params), jobs, seed=seed, workdir=tmp_path)
