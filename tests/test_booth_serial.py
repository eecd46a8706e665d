# amaranth: UnusedElaboratable=no
"""The digit-serial Booth MAC grid (``mac="booth_serial"``) in the Amaranth simulator: every
4-bit A code against B corner values, shared digit positions across a grid, cycles per beat
against :func:`beat_steps`, and the Python digit helpers."""

import re

import numpy as np
import pytest
from amaranth.hdl import signed, unsigned
from amaranth.sim import Simulator

from accelgen.generators import get_design
from accelgen.generators.engines import serial_cycles
from accelgen.hdl.booth_serial import BoothSerialGrid, beat_steps, booth_digit_count, booth_digits, nonzero_positions
from accelgen.hdl.trees import DotProductAccumulator
from accelgen.sim.bench import booth_serial as bench
from accelgen.sim.cli import main
from accelgen.sim.lint import lint_design
from accelgen.verif import golden


def run_grid(grid, a_beats, b_beats, last, *, idle=0.0, rng=None):
    """Drive ``grid`` with the beats (loading whenever ready, or skipping a cycle with
    probability ``idle``); return the result rows of each tile and the load cycle of each beat
    plus the cycle after the final beat's last cycle."""
    rows, cols, depth = a_beats.shape[1], b_beats.shape[2], a_beats.shape[2]
    tiles = int(np.sum(last))
    results, loads = [], []
    ends = []

    async def testbench(ctx):
        index = 0
        cycle = 0
        while len(results) < tiles:
            go = index < len(last) and ctx.get(grid.ready) and not (idle and rng.random() < idle)
            ctx.set(grid.load, go)
            if go:
                for i in range(rows):
                    for d in range(depth):
                        ctx.set(grid.a[i][d], int(a_beats[index, i, d]))
                for d in range(depth):
                    for j in range(cols):
                        ctx.set(grid.b[d][j], int(b_beats[index, d, j]))
                ctx.set(grid.last, int(last[index]))
                loads.append(cycle)
                index += 1
            if hasattr(grid, "result_sum"):  # carry-save pairs: sum, then carry, of every output
                outputs = [pair[i][j] for pair in (grid.result_sum, grid.result_carry)
                           for i in range(rows) for j in range(cols)]
            else:
                outputs = [grid.result[i][j] for i in range(rows) for j in range(cols)]
            _, _, done, tile_end, *values = await ctx.tick().sample(grid.done, grid.tile_end, *outputs)
            if hasattr(grid, "result_sum"):
                width = len(grid.result_sum[0][0])
                total = (np.array(values[:rows * cols], dtype=object) + np.array(values[rows * cols:], dtype=object))
                total = total % (1 << width)
                values = [int(v) - (1 << width) if v >> (width - 1) else int(v) for v in total]
            if tile_end:
                ends.append(cycle)
            if done:
                results.append(np.array(values).reshape(rows, cols))
            cycle += 1
            assert cycle < 10000

    sim = Simulator(grid)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return np.concatenate(results), loads, ends


def grid_for(a_width, a_signed, b_width, b_signed, rows, cols, depth, acc_width, carry_save=False):
    shape = lambda width, is_signed: signed(width) if is_signed else unsigned(width)  # noqa: E731
    return BoothSerialGrid(a_shape=shape(a_width, a_signed), b_shape=shape(b_width, b_signed),
                           rows=rows, cols=cols, depth=depth, acc_shape=signed(acc_width), carry_save=carry_save)


def expected(a_beats, b_beats, last, a_width, a_signed, b_width, b_signed, acc_width):
    return golden.engine_tile_rows(a_beats, b_beats, last, a_width=a_width, a_signed=a_signed, b_width=b_width,
                                   b_signed=b_signed, acc_width=acc_width, acc_signed=True, overflow="wrap")


@pytest.mark.parametrize("a_signed", [True, False], ids=["a_signed", "a_unsigned"])
@pytest.mark.parametrize("b_signed", [True, False], ids=["b_signed", "b_unsigned"])
@pytest.mark.parametrize("carry_save", [False, True], ids=["binary", "carry_save"])
def test_every_4bit_a_code_against_b_corners(a_signed, b_signed, carry_save, seed):
    """Each 4-bit A code is a one-beat tile; the columns hold B = 0, min, max and a random
    value; results exact, and each beat takes max(1, nonzero digits) cycles."""
    rng = np.random.default_rng(seed)
    b_lo, b_hi = golden.value_range(6, b_signed)
    a_lo, a_hi = golden.value_range(4, a_signed)
    codes = np.arange(a_lo, a_hi + 1)
    b_row = np.array([0, b_lo, b_hi, rng.integers(b_lo, b_hi, endpoint=True)])
    a_beats = codes.reshape(-1, 1, 1)
    b_beats = np.broadcast_to(b_row, (len(codes), 1, 4))
    last = np.ones(len(codes), dtype=np.int64)
    grid = grid_for(4, a_signed, 6, b_signed, rows=1, cols=4, depth=1, acc_width=12, carry_save=carry_save)
    result, loads, ends = run_grid(grid, a_beats, b_beats, last)
    np.testing.assert_array_equal(result, codes[:, None] * b_row[None, :])
    # Loaded back to back: the beat ends in the cycle the next one is loaded.
    steps = np.diff(loads + [ends[-1]])
    np.testing.assert_array_equal(steps, beat_steps(a_beats, 4, a_signed))
    np.testing.assert_array_equal(ends, np.array(loads) + steps)
    assert set(steps) == set(range(1, booth_digit_count(4, a_signed) + 1))  # every digit count occurs


@pytest.mark.parametrize("carry_save", [False, True], ids=["binary", "carry_save"])
def test_shared_positions_across_a_grid(carry_save, seed):
    """A 2 x 3 grid of depth 2, 7-bit signed A, 5-bit unsigned B: tiles of several beats whose
    A operands have every pattern of nonzero positions (all zero, single, all nonzero,
    spread over different operands); cycles per beat follow the union of the operands'
    positions."""
    rng = np.random.default_rng(seed)
    a_width, positions = 7, booth_digit_count(7, True)
    # One operand per digit pattern (4 positions -> 16 masks), found among all codes.
    by_mask = {}
    for code in range(-64, 64):
        by_mask.setdefault(int(nonzero_positions(code, a_width, True)), code)
    assert len(by_mask) == 1 << positions
    beats = []
    for mask, code in by_mask.items():  # the pattern in one operand, the others zero
        beat = np.zeros((2, 2), dtype=np.int64)
        beat[rng.integers(2), rng.integers(2)] = code
        beats.append(beat)
    for _ in range(24):  # patterns spread over several operands, with zeros
        beat = rng.choice(list(by_mask.values()), size=(2, 2))
        beat[rng.random((2, 2)) < 0.4] = 0
        beats.append(beat)
    beats.append(np.full((2, 2), -64))
    beats.append(np.full((2, 2), 63))
    a_beats = np.array(beats)
    b_beats = rng.integers(0, 32, size=(len(beats), 2, 3))
    b_beats[-2:] = 31
    last = np.zeros(len(beats), dtype=np.int64)
    last[[0, 3, 4, 10, 20, 30, len(beats) - 2, len(beats) - 1]] = 1
    grid = grid_for(a_width, True, 5, False, rows=2, cols=3, depth=2, acc_width=16, carry_save=carry_save)
    want = expected(a_beats, b_beats, last, a_width, True, 5, False, 16)
    result, loads, ends = run_grid(grid, a_beats, b_beats, last)
    np.testing.assert_array_equal(result, want)
    steps = np.diff(loads + [ends[-1]])
    np.testing.assert_array_equal(steps, beat_steps(a_beats, a_width, True))
    assert set(steps) == set(range(1, positions + 1))
    # The same beats with idle cycles between them give the same sums.
    result, _, _ = run_grid(grid, a_beats, b_beats, last, idle=0.4, rng=rng)
    np.testing.assert_array_equal(result, want)


@pytest.mark.parametrize("carry_save", [False, True], ids=["binary", "carry_save"])
def test_narrow_accumulator_wraps(carry_save, seed):
    rng = np.random.default_rng(seed)
    a_beats = rng.integers(-128, 128, size=(40, 1, 3))
    b_beats = rng.integers(-128, 128, size=(40, 3, 2))
    last = np.zeros(40, dtype=np.int64)
    last[[9, 39]] = 1
    grid = grid_for(8, True, 8, True, rows=1, cols=2, depth=3, acc_width=9, carry_save=carry_save)
    result, _, _ = run_grid(grid, a_beats, b_beats, last, idle=0.2, rng=rng)
    np.testing.assert_array_equal(result, expected(a_beats, b_beats, last, 8, True, 8, True, 9))


@pytest.mark.parametrize("width", range(2, 10))
@pytest.mark.parametrize("is_signed", [True, False])
def test_booth_digits_reconstruct_every_code(width, is_signed):
    lo, hi = golden.value_range(width, is_signed)
    codes = np.arange(lo, hi + 1)
    digits = booth_digits(codes, width, is_signed)
    assert len(digits) == booth_digit_count(width, is_signed)
    assert all(set(np.unique(d)) <= {-2, -1, 0, 1, 2} for d in digits)
    np.testing.assert_array_equal(sum(d * 4 ** p for p, d in enumerate(digits)), codes)
    if not is_signed:
        assert (digits[-1] >= 0).all()  # the extra top digit of an unsigned operand
    masks = nonzero_positions(codes[:, None], width, is_signed)
    for code, mask in zip(codes, masks):
        assert mask == sum(1 << p for p, d in enumerate(booth_digits(int(code), width, is_signed)) if d)
    assert beat_steps(np.zeros((3, 2, 2)), width, is_signed).tolist() == [1, 1, 1]


BAD = [
    ("systolic", dict(mac="booth_serial"),
     r"mac='booth_serial' is not legal for the systolic array: .*legal values: 'baseline', 'carry_save'"),
    ("systolic_ws", dict(mac="booth_serial"), r"mac='booth_serial' is not legal: must be one of 'baseline', 'carry_save'"),
    ("gemm", dict(engine="matrix2d", mac="booth_serial"),
     r"mac='booth_serial' is not legal: must be one of 'baseline', 'carry_save', 'same_weight_tree'"),
    ("gemm", dict(engine="os", mac="booth_serial"), r"mac='booth_serial' is not legal: must be one of 'baseline'"),
    ("matrix2d", dict(mac="booth_serial", acc_width=12, overflow="saturate"),
     r"overflow='saturate' is not legal with mac='booth_serial'.*use overflow='wrap'"),
    ("tree", dict(mac="booth_serial", overflow="saturate"), r"overflow='saturate' is not legal with mac='booth_serial'"),
    ("cube3d", dict(mac="booth_serial", acc_width=10, overflow="saturate"),
     r"overflow='saturate' is not legal with mac='booth_serial'"),
]


@pytest.mark.parametrize("design,kwargs,message", BAD)
def test_booth_serial_is_rejected_where_it_cannot_work(design, kwargs, message, capsys, tmp_path):
    """From the API and the CLI alike: a clear one-line error naming parameter, value and the
    legal values, and nothing written."""
    with pytest.raises(ValueError, match=message):
        get_design(design).params(**kwargs)
    args = [f"-p{name}={value}" for name, value in kwargs.items()]
    assert main(["generate", design, *args, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelgen: error: ") and err.count("\n") == 1
    assert re.search(message, err)
    assert not list(tmp_path.iterdir())


def test_booth_serial_is_legal_for_the_broadcast_engines():
    for design in ("tree", "matrix2d", "cube3d"):
        params = get_design(design).params(mac="booth_serial")
        assert params.overflow == "wrap" and params.mac == "booth_serial"
    with pytest.raises(ValueError, match=r"mac='booth_serial' is a grid-level digit-serial unit"):
        DotProductAccumulator(a_shape=signed(8), b_shape=signed(8), depth=1, acc_shape=signed(20), mac="booth_serial")


@pytest.mark.parametrize("design,kwargs", [
    ("matrix2d", dict(rows=1, cols=1, a_width=2, k_max=1)),  # one digit position
    ("tree", dict(depth=1, cols=1, a_width=2, a_signed=False, b_width=16, b_signed=False)),
    ("cube3d", dict(rows=2, cols=3, depth=2, a_width=7, acc_width=9, overflow="wrap")),
])
def test_corner_configurations_are_lint_clean(design, kwargs):
    params = get_design(design).params(**kwargs, mac="booth_serial")
    assert lint_design(get_design(design), params) == []


def test_serial_cycle_model_reduces_to_the_parallel_one():
    """One cycle per beat is the parallel engines' analytic model, for every tile length
    around ``rows`` (the spacing rule) and several tiles."""
    for rows in (1, 2, 3, 5):
        params = get_design("matrix2d").params(rows=rows, cols=2, mac="booth_serial")
        for tiles in (1, 2, 4):
            for k in range(1, 8):
                last = np.tile(np.arange(k) == k - 1, tiles)
                assert serial_cycles(params, 1, last) == params.busy_cycles(tiles=tiles, k=k), (rows, tiles, k)
        # A fixed s cycles per beat: beats back to back, tiles spaced by rows when s*K < rows.
        assert serial_cycles(params, 4, np.tile([0, 0, 1], 3)) == 4 * 9 - 1 + rows + params.result_latency


def test_bench_section_flags_cycle_mismatches_and_renders():
    """The benchmark's bookkeeping (no simulation or synthesis): a model mismatch or a wrong
    result is a failure; the report names every distribution."""
    speed = {"design": "matrix2d", "label": "2D column", "rows": 1, "distribution": "normal20", "operands_per_beat": 1,
             "zero_operands": 0.03, "nonzero_digits_per_operand": 2.3, "steps_per_beat": 2.3, "rtl_cycles": 100,
             "model_cycles": 100, "rtl_cycles_per_beat": 2.4, "parallel_cycles": 40, "fixed_serial_cycles": 160,
             "speedup_vs_fixed_serial": 1.6, "slowdown_vs_parallel": 2.5, "problems": []}
    synth = {"label": "2D column 1x2", "mac": "booth_serial", "generic": {"gates": 800, "ff": 300, "logic_depth": 40},
             "ecp5_nodsp": {"lut4": 200, "ccu2": 30, "ff": 230, "fmax_mhz": 150.0},
             "per_distribution": {d: {"cells_per_mbeat_s": 3.0} for d in bench.DISTRIBUTIONS}}
    result = {"quick": True, "speed": [speed], "synthesis": [synth]}
    assert bench.failures(result) == []
    text = "\n".join(bench.render_markdown(result))
    assert text.startswith("## ") and all(bench.DISTRIBUTION_TEXT[d] in text for d in bench.DISTRIBUTIONS)
    assert bench.failures(dict(result, speed=[dict(speed, rtl_cycles=101)]))
    assert bench.failures(dict(result, speed=[dict(speed, problems=["normal20: result rows differ"])]))
    rng = np.random.default_rng(0)
    for distribution in bench.DISTRIBUTIONS:
        values = bench.draw_a(distribution, rng, (1000,))
        assert values.min() >= -128 and values.max() <= 127
    assert (bench.draw_a("relu_normal20", rng, (1000,)) >= 0).all()
    with pytest.raises(ValueError, match="distribution='cauchy' is not legal"):
        bench.draw_a("cauchy", rng, (3,))
