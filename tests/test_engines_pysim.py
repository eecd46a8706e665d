# amaranth: UnusedElaboratable=no
"""The broadcast engines (tree, matrix2d, cube3d) in the Amaranth simulator: every MAC style,
streams with stalls and backpressure, counters, the cycle model, mac styles against each other."""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.generators.engines import booth_serial_cycles
from accelgen.verif import golden
from accelgen.verif.engines_host import expected_rows, extreme_beats, matrices_to_beats, random_beats, rows_to_matrix
from accelgen.verif.pysim_streams import run_tile_beats


def simulate(design_name, params, beats, *, stall, backpressure, rng):
    return run_tile_beats(get_design(design_name).component(params), beats, rng=rng, stall=stall,
                          backpressure=backpressure)


# (design, geometry and operand parameters): small, odd shapes.
SHAPES = {
    "tree_d3_c2_s8": ("tree", dict(depth=3, cols=2, k_max=8)),
    "matrix2d_3x2_u5s6": ("matrix2d", dict(rows=3, cols=2, a_width=5, a_signed=False, b_width=6, k_max=8)),
    "cube3d_2x3x2_s4u7": ("cube3d", dict(rows=2, cols=3, depth=2, a_width=4, b_width=7, b_signed=False, k_max=8)),
}
MACS = ["baseline", "carry_save", "same_weight_tree", "booth_serial"]


def configs():
    for name, (design, kwargs) in SHAPES.items():
        for mac in MACS:
            if mac == "same_weight_tree" and design == "matrix2d":
                continue
            yield pytest.param(design, dict(kwargs, mac=mac), id=f"{name}-{mac}")
    # Pipelined reductions (the latency and the default result buffer grow with the stages).
    yield pytest.param("tree", dict(SHAPES["tree_d3_c2_s8"][1], mac="same_weight_tree", pipeline=3),
                       id="tree_d3_c2_s8-same_weight_tree-p3")
    yield pytest.param("cube3d", dict(SHAPES["cube3d_2x3x2_s4u7"][1], mac="carry_save", pipeline=1),
                       id="cube3d_2x3x2_s4u7-carry_save-p1")
    yield pytest.param("matrix2d", dict(SHAPES["matrix2d_3x2_u5s6"][1], mac="baseline", depth_target=8),
                       id="matrix2d_3x2_u5s6-baseline-t8")
    # The synthesis tool's `+` for the final adders and counters (FPGA carry chains).
    yield pytest.param("tree", dict(SHAPES["tree_d3_c2_s8"][1], mac="same_weight_tree", pipeline=2,
                                    final_adder="carry_chain"), id="tree_d3_c2_s8-same_weight_tree-p2-carry_chain")
    yield pytest.param("cube3d", dict(SHAPES["cube3d_2x3x2_s4u7"][1], mac="carry_save", final_adder="carry_chain"),
                       id="cube3d_2x3x2_s4u7-carry_save-carry_chain")


@pytest.mark.parametrize("design,kwargs", list(configs()))
def test_random_and_extreme_tiles_with_stalls(design, kwargs, seed):
    params = get_design(design).params(**kwargs)
    rng = np.random.default_rng(seed)
    for beats in (random_beats(params, rng, [1, 8, 2, 1, 3, 5, 1]), extreme_beats(params, 8)):
        rows, flags, counters = simulate(design, params, beats, stall=0.3, backpressure=0.4, rng=rng)
        np.testing.assert_array_equal(rows, expected_rows(params, beats))
        tiles = int(beats["last"].sum())
        assert list(flags) == ([0] * (params.rows - 1) + [1]) * tiles
        assert counters["macs"] == len(beats["last"]) * params.rows * params.cols * params.depth


@pytest.mark.parametrize("design,kwargs", list(configs()))
def test_cycle_counter_matches_analytic_model(design, kwargs, seed):
    rng = np.random.default_rng(seed)
    params = get_design(design).params(**kwargs)
    for k in (1, 2, 3, 7):
        beats = random_beats(params, rng, [k] * 4)
        rows, _, counters = simulate(design, params, beats, stall=0.0, backpressure=0.0, rng=rng)
        np.testing.assert_array_equal(rows, expected_rows(params, beats))
        if params.mac == "booth_serial":
            assert counters["cycles"] == booth_serial_cycles(params, beats["a_beats"], beats["last"]), k
        else:
            assert counters["cycles"] == params.busy_cycles(tiles=4, k=k), k


@pytest.mark.parametrize("design,kwargs", [
    ("matrix2d", dict(rows=3, cols=2, a_width=5, a_signed=False, b_width=6, k_max=8)),
    ("matrix2d", dict(rows=1, cols=3, a_width=7, b_width=4, k_max=8)),
    ("cube3d", dict(rows=2, cols=2, depth=2, a_width=4, b_width=5, b_signed=False, k_max=8)),
    ("tree", dict(depth=3, cols=2, a_width=6, k_max=8)),
])
def test_booth_serial_cycles_follow_the_data(design, kwargs, seed):
    """Zero-heavy, all-zero and dense A data with mixed tile lengths: the busy cycles of a
    stall-free run equal :func:`booth_serial_cycles` exactly; with all-zero A every beat takes
    one cycle (``params.busy_cycles``)."""
    rng = np.random.default_rng(seed)
    params = get_design(design).params(**kwargs, mac="booth_serial")
    for zeros in (0.0, 0.6, 0.9, 1.0):
        for k_values in ([1, 1, 1, 1], [2, 1, 5, 1, 3], [8, 8]):
            beats = random_beats(params, rng, k_values)
            beats["a_beats"][rng.random(beats["a_beats"].shape) < zeros] = 0
            rows, _, counters = simulate(design, params, beats, stall=0.0, backpressure=0.0, rng=rng)
            np.testing.assert_array_equal(rows, expected_rows(params, beats))
            model = booth_serial_cycles(params, beats["a_beats"], beats["last"])
            assert counters["cycles"] == model, (zeros, k_values)
            if zeros == 1.0 and len(set(k_values)) == 1:
                assert model == params.busy_cycles(tiles=len(k_values), k=k_values[0])


@pytest.mark.parametrize("design,mac,overflow_mode", [
    ("cube3d", "baseline", "saturate"), ("cube3d", "same_weight_tree", "saturate"), ("matrix2d", "baseline", "saturate"),
    ("cube3d", "same_weight_tree", "wrap"), ("tree", "carry_save", "wrap"), ("matrix2d", "carry_save", "wrap"),
])
def test_narrow_accumulators_match_each_other_and_golden(design, mac, overflow_mode, seed):
    """A deliberately narrow accumulator: every mac style gives the golden (and so the same) rows
    (carry_save only wraps: it cannot clamp)."""
    kwargs = {"cube3d": dict(rows=2, cols=2, depth=3), "tree": dict(depth=5, cols=2), "matrix2d": dict(rows=2, cols=3)}[design]
    params = get_design(design).params(**kwargs, a_width=6, b_width=5, k_max=64, acc_width=9, overflow=overflow_mode, mac=mac)
    rng = np.random.default_rng(seed)
    beats = random_beats(params, rng, [5, 64, 1, 20])
    beats["a_beats"][70:] = beats["a_beats"].min()  # long runs of extremes drive into the limits
    beats["b_beats"][70:] = beats["b_beats"].min()
    rows, _, _ = simulate(design, params, beats, stall=0.2, backpressure=0.2, rng=rng)
    np.testing.assert_array_equal(rows, expected_rows(params, beats))


def test_mac_styles_agree_on_a_user_matrix(seed):
    """The same odd-shaped product through every mac style of the cube engine, and the tree."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (3, 11))
    b = rng.integers(-128, 128, (11, 5))
    results = []
    for design, kwargs in [("cube3d", dict(rows=2, cols=2, depth=4)), ("tree", dict(depth=4, cols=3))]:
        for mac in MACS:
            params = get_design(design).params(**kwargs, k_max=4, mac=mac)
            beats = matrices_to_beats(a, b, params.rows, params.cols, params.depth)
            rows, _, _ = simulate(design, params, beats, stall=0.1, backpressure=0.1, rng=rng)
            results.append(rows_to_matrix(rows, 3, 5, params.rows, params.cols))
    for result in results:
        np.testing.assert_array_equal(result, a @ b)


BAD = [
    ("matrix2d", dict(mac="same_weight_tree"), r"mac='same_weight_tree' is not legal for matrix2d with depth=1"),
    ("tree", dict(depth=1, mac="same_weight_tree"), r"mac='same_weight_tree' is not legal for tree with depth=1"),
    ("cube3d", dict(mac="carry_save", acc_width=10, overflow="saturate"), r"overflow='saturate' is not legal with mac='carry_save'"),
    ("cube3d", dict(depth=0), r"depth=0 is out of range: must be an integer in 1\.\.64"),
    ("tree", dict(cols=65), r"cols=65 is out of range: must be an integer in 1\.\.64"),
    ("matrix2d", dict(a_width=17), r"a_width=17 is out of range: must be an integer in 2\.\.16"),
    ("cube3d", dict(acc_width=12), r"acc_width=12 can overflow for k_max=64 \(the safe width is 24\)"),
    ("tree", dict(mac="wallace"), r"mac='wallace' is not legal: must be one of 'baseline', 'carry_save', 'same_weight_tree'"),
    ("matrix2d", dict(mac="booth_serial", acc_width=12, overflow="saturate"),
     r"overflow='saturate' is not legal with mac='booth_serial'"),
    ("matrix2d", dict(rows=8, out_fifo_depth=4), r"out_fifo_depth=4 is out of range: must be an integer in 8\.\.4096"),
]


@pytest.mark.parametrize("design,kwargs,message", BAD)
def test_bad_parameters_raise_value_error(design, kwargs, message):
    with pytest.raises(ValueError, match=message):
        get_design(design).params(**kwargs)


def test_tree_and_matrix2d_fix_their_third_dimension():
    assert get_design("tree").params(depth=7, cols=3).rows == 1
    assert get_design("matrix2d").params(rows=3, cols=5).depth == 1
    for design in ("tree", "matrix2d"):
        fields = {row[0] for row in get_design(design).params.field_docs()}
        assert ("rows" in fields) != (design == "tree") and ("depth" in fields) != (design == "matrix2d")


def test_block_golden_model_reduces_to_the_systolic_one_and_clamps_per_beat(seed):
    rng = np.random.default_rng(seed)
    widths = dict(a_width=8, a_signed=True, b_width=8, b_signed=True, acc_width=12, acc_signed=True)
    a = rng.integers(-128, 128, (9, 3))
    b = rng.integers(-128, 128, (9, 4))
    for overflow in ("wrap", "saturate"):
        # depth = 1: beat k is column k of A and row k of B, exactly the systolic model.
        blocks = golden.block_matmul(a[:, :, None], b[:, None, :], overflow=overflow, **widths)
        np.testing.assert_array_equal(blocks, golden.matmul(a.T, b, overflow=overflow, **widths))
    # Within a beat the depth products are exact; the clamp applies after each beat only.
    a_blocks = np.array([[[127, -128]], [[127, 127]]])  # (K=2, rows=1, depth=2)
    b_blocks = np.array([[[127], [127]], [[1], [0]]])  # (K=2, depth=2, cols=1)
    result = golden.block_matmul(a_blocks, b_blocks, overflow="saturate", **widths)
    assert result.tolist() == [[-127 + 127]]  # beat 0: 127*127 - 128*127 = -127, no clamp inside the beat


@pytest.mark.parametrize("design,kwargs", [
    ("tree", dict(depth=3, cols=2, k_max=8, mac="carry_save")),
    ("matrix2d", dict(rows=3, cols=2, k_max=8, mac="baseline")),
    ("cube3d", dict(rows=2, cols=3, depth=2, k_max=8, mac="carry_save", pipeline=1)),
    ("systolic", dict(rows=3, cols=2, k_max=8, mac="carry_save")),
])
def test_cycle_model_counts_drain_stalls_of_small_result_buffers(design, kwargs, seed):
    """``out_fifo_depth`` of one tile and one row short of the default, tiles of
    :attr:`stall_free_k` beats and one shorter: the busy cycles equal ``busy_cycles`` (which
    counts the final beats' waits for room); tiles of ``stall_free_k`` beats never wait and
    shorter ones do. (Every depth and tile length of these shapes was checked once by hand.)"""
    rng = np.random.default_rng(seed)
    default = get_design(design).params(**kwargs).default_out_fifo_depth
    rows = get_design(design).params(**kwargs).rows
    for depth in sorted({rows, default - 1}):
        params = get_design(design).params(**kwargs, out_fifo_depth=depth)
        free_k = params.stall_free_k
        tiles = 16

        def closed_form(k):
            return k + (tiles - 1) * max(k, params.rows) + params.rows + params.skew + params.result_latency - 1

        assert params.busy_cycles(tiles=tiles, k=free_k) == closed_form(free_k)
        if free_k > 1:
            assert params.busy_cycles(tiles=tiles, k=free_k - 1) > closed_form(free_k - 1), depth
        for k in sorted({max(1, free_k - 1), free_k}):
            beats = random_beats(params, rng, [k] * 6)
            rows_out, _, counters = simulate(design, params, beats, stall=0.0, backpressure=0.0, rng=rng)
            np.testing.assert_array_equal(rows_out, expected_rows(params, beats))
            assert counters["cycles"] == params.busy_cycles(tiles=6, k=k), (depth, k)
