# amaranth: UnusedElaboratable=no
"""Pipelined reductions (accelgen.hdl.trees): stage placement against brute force, the
accumulator bit-exact and on time for every stage count, the engines' pipeline parameters."""

import itertools

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from accelgen.generators import get_design
from accelgen.hdl.mac import FINAL_ADDERS, compress, compress_stages, final_add, partial_products
from accelgen.hdl.trees import DotProductAccumulator, ReductionPlan, place_stages, reduction_plan, stages_for_depth


def _longest(plan, cuts):
    return max(plan.stage_depths(cuts))


@pytest.mark.parametrize("steps", [(6, 3, 3, 3), (5, 1, 7, 2, 2), (32, 34, 36), (4,), (1, 1, 1, 1, 9, 1)])
def test_place_stages_is_optimal_and_ends_at_the_loop(steps):
    plan = ReductionPlan(steps, loop=5)
    for stages in range(len(steps) + 1):
        cuts = place_stages(plan, stages)
        assert len(cuts) == stages
        if stages:
            assert len(steps) - 1 in cuts  # the loop holds only the accumulation
            candidates = [frozenset(c) | {len(steps) - 1}
                          for c in itertools.combinations(range(len(steps) - 1), stages - 1)]
            assert _longest(plan, cuts) == min(_longest(plan, c) for c in candidates)


def test_stages_for_depth_is_the_fewest_that_meet_the_target():
    plan = ReductionPlan((6, 3, 3, 3, 3, 3, 3), loop=7)
    for target in range(4, 40):
        stages = stages_for_depth(plan, target)
        depths = [plan.depth(s) for s in range(len(plan.steps) + 1)]
        if min(depths) <= target:
            assert depths[stages] <= target and all(d > target for d in depths[:stages]), target
        else:  # the loop or one step is deeper than the target: the best depth, with the fewest stages
            assert depths[stages] == min(depths) and all(d > min(depths) for d in depths[:stages])


def test_place_stages_rejects_a_stage_count_out_of_range():
    with pytest.raises(ValueError, match=r"stages=5 is not legal: must be an integer in 0\.\.4"):
        place_stages(ReductionPlan((1, 2, 3, 4), loop=1), 5)


@pytest.mark.parametrize("seed_offset", range(3))
def test_compress_with_registers_is_the_same_sum_later(seed, seed_offset):
    rng = np.random.default_rng(seed + seed_offset)
    a, b = signed(6), unsigned(5)
    m = Module()
    xs = [Signal(a, name=f"x{i}") for i in range(3)]
    ys = [Signal(b, name=f"y{i}") for i in range(3)]
    rows = [row for x, y in zip(xs, ys) for row in partial_products(x, y, 16)]
    stages = compress_stages(rows, 16)
    cuts = sorted(rng.choice(stages + 1, size=2, replace=False).tolist())
    s, c = compress(rows, 16, m=m, name="t", register_after=cuts)
    sim = Simulator(m)
    sim.add_clock(1e-6)
    operands = [(rng.integers(-32, 32, 3), rng.integers(0, 32, 3)) for _ in range(12)]
    got = []

    async def bench(ctx):
        for x_values, y_values in operands + [operands[-1]] * len(cuts):
            for sig, value in zip(xs + ys, list(x_values) + list(y_values)):
                ctx.set(sig, int(value))
            await ctx.tick()
            got.append((ctx.get(s) + ctx.get(c)) % (1 << 16))

    sim.add_testbench(bench)
    sim.run()
    want = [int(np.dot(x, y)) % (1 << 16) for x, y in operands]
    # After the tick of cycle t the registered pair shows the rows of cycle t - len(cuts) + 1.
    assert got[len(cuts) - 1:len(cuts) - 1 + len(want)] == want, (cuts, stages)


def _run_unit(unit, beats, rng, acc_shape, overflow):
    """Drive beats (a, b, last) with random idle cycles; return (results, done cycles, last-beat cycles)."""
    sim = Simulator(unit)
    sim.add_clock(1e-6)
    results, done_cycles, last_cycles = [], [], []

    async def bench(ctx):
        cycle = 0
        for a, b, last in beats:
            while rng.random() < 0.3:
                ctx.set(unit.valid, 0)
                await ctx.tick()
                cycle += 1
                if ctx.get(unit.done):
                    done_cycles.append(cycle)
                    results.append(_read(ctx, unit))
            for d in range(len(a)):
                ctx.set(unit.a[d], int(a[d]))
                ctx.set(unit.b[d], int(b[d]))
            ctx.set(unit.valid, 1)
            ctx.set(unit.last, int(last))
            if last:
                last_cycles.append(cycle)
            await ctx.tick()
            cycle += 1
            if ctx.get(unit.done):
                done_cycles.append(cycle)
                results.append(_read(ctx, unit))
        ctx.set(unit.valid, 0)
        for _ in range(20):
            await ctx.tick()
            cycle += 1
            if ctx.get(unit.done):
                done_cycles.append(cycle)
                results.append(_read(ctx, unit))

    def _read(ctx, unit):
        if hasattr(unit, "result_sum"):
            total = (ctx.get(unit.result_sum) + ctx.get(unit.result_carry)) % (1 << acc_shape.width)
            return total - (1 << acc_shape.width) if acc_shape.signed and total >> (acc_shape.width - 1) else total
        return ctx.get(unit.result)

    sim.add_testbench(bench)
    sim.run()
    return results, done_cycles, last_cycles


def _golden(beats, acc_shape, overflow):
    low = -(1 << (acc_shape.width - 1)) if acc_shape.signed else 0
    high = (1 << (acc_shape.width - 1)) - 1 if acc_shape.signed else (1 << acc_shape.width) - 1
    out, acc = [], 0
    for a, b, last in beats:
        acc += int(np.dot(a.astype(np.int64), b.astype(np.int64)))
        if overflow == "saturate":
            acc = min(max(acc, low), high)
        else:
            acc %= 1 << acc_shape.width
            if acc_shape.signed and acc > high:
                acc -= 1 << acc_shape.width
        if last:
            out.append(acc)
            acc = 0
    return out


@pytest.mark.parametrize("mac,overflow,acc", [
    ("baseline", "wrap", signed(14)), ("baseline", "saturate", signed(10)),
    ("same_weight_tree", "wrap", signed(14)), ("same_weight_tree", "saturate", unsigned(9)),
    ("carry_save", "wrap", signed(12)),
])
def test_every_stage_count_is_exact_and_on_time(mac, overflow, acc, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape, depth = signed(5), (unsigned(4) if not acc.signed else signed(6)), 3
    if not acc.signed:
        a_shape = unsigned(5)
    plan = reduction_plan(a_shape=a_shape, b_shape=b_shape, depth=depth, acc_shape=acc, mac=mac, overflow=overflow)
    low = lambda s: -(1 << (s.width - 1)) if s.signed else 0  # noqa: E731
    high = lambda s: (1 << (s.width - 1)) - 1 if s.signed else (1 << s.width) - 1  # noqa: E731
    for pipeline in range(len(plan.steps) + 1):
        unit = DotProductAccumulator(a_shape=a_shape, b_shape=b_shape, depth=depth, acc_shape=acc, overflow=overflow,
                                     mac=mac, pipeline=pipeline)
        beats = []
        for tile in range(5):
            k = int(rng.integers(1, 5))
            for step in range(k):
                extreme = tile == 4
                a = np.full(depth, high(a_shape)) if extreme else rng.integers(low(a_shape), high(a_shape) + 1, depth)
                b = np.full(depth, high(b_shape)) if extreme else rng.integers(low(b_shape), high(b_shape) + 1, depth)
                beats.append((np.asarray(a), np.asarray(b), step == k - 1))
        results, done_cycles, last_cycles = _run_unit(unit, beats, rng, acc, overflow)
        assert results == _golden(beats, acc, overflow), (mac, pipeline)
        # done follows the last beat by one cycle plus one per stage.
        assert [d - c for d, c in zip(done_cycles, last_cycles)] == [pipeline + 1] * len(last_cycles), pipeline


def test_engine_pipeline_parameters():
    tree = get_design("tree").params
    base = tree(depth=16, cols=4, mac="carry_save")
    assert base.pipeline == 0
    deep = tree(depth=16, cols=4, mac="carry_save", depth_target=12)
    assert deep.pipeline == stages_for_depth(deep.reduction_plan, 12) > 0
    assert deep.result_latency == base.result_latency + deep.pipeline
    assert deep.out_fifo_depth >= base.out_fifo_depth
    # Left at their neutral values the new fields do not change module names.
    assert tree(depth=16, cols=4, mac="carry_save", pipeline=0).digest() == base.digest()
    assert tree(depth=16, cols=4, mac="carry_save", pipeline=1).digest() != base.digest()
    with pytest.raises(ValueError, match=r"pipeline=5 contradicts depth_target=12 \(which derives pipeline=3\)"):
        tree(depth=16, cols=4, mac="carry_save", pipeline=5, depth_target=12)
    # A resolved configuration reads back from its parameters (params.json, the testbench).
    assert tree(**deep.to_dict()) == deep
    with pytest.raises(ValueError, match=r"pipeline=9 is out of range: must be an integer in 0\.\.3"):
        tree(pipeline=9)
    with pytest.raises(ValueError, match=r"pipeline=2 is not legal with mac='booth_serial'"):
        tree(mac="booth_serial", pipeline=2)
    with pytest.raises(ValueError, match=r"depth_target=2 is out of range: must be an integer in 4\.\.512"):
        get_design("cube3d").params(depth_target=2)


@pytest.mark.parametrize("style", FINAL_ADDERS)
def test_final_adders_agree(style, seed):
    rng = np.random.default_rng(seed)
    m = Module()
    a, b = Signal(13), Signal(13)
    total = final_add(m, a, b, 13, style=style, name="t")
    sim = Simulator(m)
    pairs = rng.integers(0, 1 << 13, size=(200, 2)).tolist() + [[0, 0], [8191, 1], [8191, 8191]]

    async def bench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            assert ctx.get(total) == (x + y) % (1 << 13), (style, x, y)

    sim.add_testbench(bench)
    sim.run()
    with pytest.raises(ValueError, match=r"style='kogge' is not legal: must be one of 'prefix', 'carry_chain'"):
        final_add(m, a, b, 13, style="kogge")
