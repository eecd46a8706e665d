"""Regression of the exported broadcast engines (tree, matrix2d, cube3d) on Verilator, for every
MAC style, bit-exact against the golden model; the styles are also compared with each other.

One small Verilator build per engine and MAC style; the jobs (``regression_jobs``) cover random
tiles of mixed K including 1 and k_max back to back, extreme operands, random stalls and
backpressure, and stall-free runs whose busy-cycle count must equal the analytic model (for
``booth_serial``, whose cycles depend on the A data: ``booth_serial_cycles``, also on zero-heavy
and all-zero data).
"""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.sim.runner import build, simulate
from accelgen.verif import engines_host

# Odd shapes, mixed signedness and widths; one configuration per engine and MAC style.
CONFIGS = {
    "tree_d5_c3_s8-baseline": ("tree", dict(depth=5, cols=3, k_max=8)),
    "tree_d5_c3_s8-carry_save": ("tree", dict(depth=5, cols=3, k_max=8, mac="carry_save")),
    "tree_d4_c2_u3s16-same_weight_tree": ("tree", dict(depth=4, cols=2, a_width=3, a_signed=False, b_width=16, k_max=8,
                                                      mac="same_weight_tree")),
    "matrix2d_3x2_u7s5_sat12-baseline": ("matrix2d", dict(rows=3, cols=2, a_width=7, a_signed=False, b_width=5,
                                                          k_max=16, acc_width=12, overflow="saturate")),
    "matrix2d_3x2_s8u8-carry_save": ("matrix2d", dict(rows=3, cols=2, b_signed=False, k_max=16, mac="carry_save")),
    "cube3d_2x3x3_s6s4_sat10-baseline": ("cube3d", dict(rows=2, cols=3, depth=3, a_width=6, b_width=4, k_max=8,
                                                        acc_width=10, overflow="saturate")),
    "cube3d_3x2x2_u8u8_wrap12-carry_save": ("cube3d", dict(rows=3, cols=2, depth=2, a_signed=False, b_signed=False,
                                                           k_max=8, acc_width=12, overflow="wrap", mac="carry_save")),
    "cube3d_2x3x3_s6s4_sat10-same_weight_tree": ("cube3d", dict(rows=2, cols=3, depth=3, a_width=6, b_width=4, k_max=8,
                                                                acc_width=10, overflow="saturate",
                                                                mac="same_weight_tree")),
    # Pipelined reductions: every style, explicit stage counts and a depth target.
    "tree_d5_c3_s8-carry_save-p2": ("tree", dict(depth=5, cols=3, k_max=8, mac="carry_save", pipeline=2)),
    "cube3d_2x3x3_s6s4_sat10-same_weight_tree-t12": ("cube3d", dict(rows=2, cols=3, depth=3, a_width=6, b_width=4,
                                                                    k_max=8, acc_width=10, overflow="saturate",
                                                                    mac="same_weight_tree", depth_target=12)),
    "matrix2d_3x2_u7s5_sat12-baseline-p1": ("matrix2d", dict(rows=3, cols=2, a_width=7, a_signed=False, b_width=5,
                                                             k_max=16, acc_width=12, overflow="saturate", pipeline=1)),
    "matrix2d_3x2_s8u8-carry_save-carry_chain": ("matrix2d", dict(rows=3, cols=2, b_signed=False, k_max=16,
                                                                 mac="carry_save", final_adder="carry_chain")),
    # Digit-serial: odd widths (5-bit unsigned A: 3 digit positions, 7-bit signed A: 4).
    "matrix2d_2x3_u5s6-booth_serial": ("matrix2d", dict(rows=2, cols=3, a_width=5, a_signed=False, b_width=6, k_max=6,
                                                        mac="booth_serial")),
    "tree_d3_c2_s7u4-booth_serial": ("tree", dict(depth=3, cols=2, a_width=7, b_width=4, b_signed=False, k_max=6,
                                                  mac="booth_serial")),
    "cube3d_2x2x2_s7s5_wrap9-booth_serial": ("cube3d", dict(rows=2, cols=2, depth=2, a_width=7, b_width=5, k_max=6,
                                                            acc_width=9, overflow="wrap", mac="booth_serial")),
}


@pytest.mark.cocotb
@pytest.mark.parametrize("config", list(CONFIGS))
def test_engine_regression(config, seed, tmp_path):
    design_name, kwargs = CONFIGS[config]
    design = get_design(design_name)
    params = design.params(**kwargs)
    jobs = engines_host.regression_jobs(params, np.random.default_rng(seed))
    outputs = simulate(build(design, params), jobs, seed=seed, workdir=tmp_path)
    assert engines_host.check(params, jobs, outputs) == []


@pytest.mark.cocotb
@pytest.mark.parametrize("pair", [
    ("cube3d_2x3x3_s6s4_sat10-baseline", "cube3d_2x3x3_s6s4_sat10-same_weight_tree"),
    ("tree_d5_c3_s8-baseline", "tree_d5_c3_s8-carry_save"),
])
def test_mac_styles_agree_on_user_matrices(pair, seed, tmp_path):
    """``accelgen run``'s path on two MAC styles of one shape: any M, N, K gives the same,
    exact product (saturating configurations use operands that stay in range)."""
    rng = np.random.default_rng(seed)
    results = []
    for index, config in enumerate(pair):
        design_name, kwargs = CONFIGS[config]
        design = get_design(design_name)
        params = design.params(**kwargs)
        lo_a, hi_a = (-(1 << (params.a_width - 1)), 1 << (params.a_width - 1)) if params.a_signed else (0, 1 << params.a_width)
        lo_b, hi_b = (-(1 << (params.b_width - 1)), 1 << (params.b_width - 1)) if params.b_signed else (0, 1 << params.b_width)
        if index == 0:
            arrays = {"a": rng.integers(lo_a, hi_a, (7, 13)), "b": rng.integers(lo_b, hi_b, (13, 5))}
            if params.overflow == "saturate":
                arrays["a"] //= 8  # 13 products of |a| <= 4, |b| <= 8 stay within 10 bits
        jobs = engines_host.user_jobs(params, arrays)
        outputs = simulate(build(design, params), jobs, seed=seed, workdir=tmp_path / config)
        results.append(engines_host.user_outputs(params, arrays, outputs)["c"])
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], arrays["a"] @ arrays["b"])
