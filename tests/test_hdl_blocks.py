# amaranth: UnusedElaboratable=no
"""Amaranth-simulator unit tests of the hdl/ blocks (no Verilog, no build step)."""


import itertools
import random

import numpy as np
import pytest
from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from accelgen.hdl.arith import clamp, dot_product_range, product_range, shape_for_range, shape_range, split_product
from accelgen.hdl.delay import DelayLine
from accelgen.hdl.fixedpoint import round_shift, round_shift_expr
from accelgen.hdl.pe import OutputStationaryPE
from accelgen.hdl.queues import BlockRamFIFO, BypassFIFO, TwoRegisterFIFO
from accelgen.hdl.trees import pipelined_tree, pipelined_tree_latency
from accelgen.hdl.util import equals, select
from accelgen.verif import golden


def run(dut, testbench, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def test_delay_line_of_depth_zero_is_a_wire():
    dut = DelayLine(unsigned(8), 0)

    async def testbench(ctx):
        for value in (0, 17, 255):
            ctx.set(dut.i, value)
            assert ctx.get(dut.o) == value

    run(dut, testbench, clocked=False)


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_delay_line_delays_exactly(depth, seed):
    rng = random.Random(seed)
    values = [rng.randrange(256) for _ in range(40)]
    dut = DelayLine(unsigned(8), depth)
    seen = []

    async def testbench(ctx):
        for value in values + [0] * depth:
            ctx.set(dut.i, value)
            seen.append(ctx.get(dut.o))  # combinational view before the edge
            await ctx.tick()

    run(dut, testbench)
    assert seen[depth:depth + len(values)] == values


def test_delay_line_rejects_negative_depth():
    with pytest.raises(ValueError, match="depth must be a non-negative integer, not -1"):
        DelayLine(unsigned(4), -1)


@pytest.mark.parametrize("pipeline_product", [False, True])
@pytest.mark.parametrize("a_signed,b_signed", [(True, True), (False, False), (True, False)])
def test_pe_every_4bit_product(a_signed, b_signed, pipeline_product):
    """Every pair of 4-bit operand codes, each as a one-product dot product (K = 1)."""
    a_shape = signed(4) if a_signed else unsigned(4)
    b_shape = signed(4) if b_signed else unsigned(4)
    acc_shape = shape_for_range(*product_range(a_shape, b_shape))
    dut = OutputStationaryPE(a_shape=a_shape, b_shape=b_shape, acc_shape=acc_shape, pipeline_product=pipeline_product)
    a_lo, a_hi = shape_range(a_shape)
    b_lo, b_hi = shape_range(b_shape)
    pairs = list(itertools.product(range(a_lo, a_hi + 1), range(b_lo, b_hi + 1)))
    results = []

    async def testbench(ctx):
        ctx.set(dut.valid_in, 1)
        ctx.set(dut.last_in, 1)
        for a, b in pairs + [(0, 0)] * 2:
            if ctx.get(dut.done):
                results.append(ctx.get(dut.acc))
            ctx.set(dut.a_in, a)
            ctx.set(dut.b_in, b)
            await ctx.tick()

    run(dut, testbench)
    assert results[:len(pairs)] == [a * b for a, b in pairs]


@pytest.mark.parametrize("pipeline_product", [False, True])
@pytest.mark.parametrize("overflow", ["wrap", "saturate"])
def test_pe_accumulates_with_overflow_mode(overflow, pipeline_product, seed):
    """Random dot products with bubbles into a deliberately narrow accumulator."""
    rng = np.random.default_rng(seed)
    acc_shape = signed(10)
    dut = OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=acc_shape, overflow=overflow,
                             pipeline_product=pipeline_product)
    lengths = [1, 5, 2, 17, 1, 8]
    a_all = rng.integers(-128, 128, sum(lengths))
    b_all = rng.integers(-128, 128, sum(lengths))
    expected = []
    start = 0
    for length in lengths:
        a, b = a_all[start:start + length], b_all[start:start + length]
        expected.append(int(golden.matmul(a[None, :], b[:, None], a_width=8, a_signed=True, b_width=8,
                                          b_signed=True, acc_width=10, acc_signed=True, overflow=overflow)[0, 0]))
        start += length
    lasts = np.zeros(sum(lengths), dtype=bool)
    lasts[np.cumsum(lengths) - 1] = True
    results = []

    async def testbench(ctx):
        index = 0
        while len(results) < len(lengths):
            if ctx.get(dut.done):
                results.append(ctx.get(dut.acc))
            if index < len(a_all) and rng.random() < 0.7:
                ctx.set(dut.valid_in, 1)
                ctx.set(dut.a_in, int(a_all[index]))
                ctx.set(dut.b_in, int(b_all[index]))
                ctx.set(dut.last_in, int(lasts[index]))
                index += 1
            else:
                ctx.set(dut.valid_in, 0)
            await ctx.tick()

    run(dut, testbench)
    assert results == expected


def test_pe_forwards_operands_and_markers():
    dut = OutputStationaryPE(a_shape=signed(8), b_shape=unsigned(8), acc_shape=signed(20))

    async def testbench(ctx):
        ctx.set(dut.a_in, -5)
        ctx.set(dut.b_in, 200)
        ctx.set(dut.valid_in, 1)
        ctx.set(dut.last_in, 1)
        await ctx.tick()
        assert (ctx.get(dut.a_out), ctx.get(dut.b_out), ctx.get(dut.valid_out), ctx.get(dut.last_out)) == (-5, 200, 1, 1)

    run(dut, testbench)


def test_edge_pe_has_no_forwarding_ports():
    dut = OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(20), forward_a=False, forward_b=False)
    assert not hasattr(dut, "a_out") and not hasattr(dut, "b_out")


def test_widths_and_ranges():
    assert product_range(signed(8), signed(8)) == (-128 * 127, 128 * 128)
    assert product_range(unsigned(4), signed(4)) == (15 * -8, 15 * 7)
    assert dot_product_range(signed(8), signed(8), 256) == (-256 * 128 * 127, 256 * 128 * 128)
    # 256 * 2**14 = 2**22 needs 24 signed bits; the range is tight on both sides.
    assert shape_for_range(*dot_product_range(signed(8), signed(8), 256)) == signed(24)
    assert shape_for_range(0, 255) == unsigned(8)


def test_clamp_saturates_both_ends():
    dut = DelayLine(signed(12), 0)  # a wire, to host the expression in a simulation
    results = []

    async def testbench(ctx):
        for value in (-2000, -512, 0, 511, 2000):
            results.append(ctx.get(clamp(Const(value, signed(12)), signed(10))))

    run(dut, testbench, clocked=False)
    assert results == [-512, -512, 0, 511, 511]


@pytest.mark.parametrize("mode", ["floor", "half_up", "half_even"])
@pytest.mark.parametrize("is_signed", [False, True])
def test_round_shift_expr_matches_round_shift_on_every_code(mode, is_signed):
    width = 6
    for shift in (1, 2, 5):
        dut = Module()
        value = Signal(signed(width) if is_signed else unsigned(width))
        rounded = round_shift_expr(value, shift, mode)
        result = Signal(rounded.shape())
        dut.d.comb += result.eq(rounded)
        codes = range(-(1 << (width - 1)), 1 << (width - 1)) if is_signed else range(1 << width)

        async def testbench(ctx):
            for code in codes:
                ctx.set(value, code)
                assert ctx.get(result) == round_shift(code, shift, mode), (code, shift)

        run(dut, testbench, clocked=False)


@pytest.mark.parametrize("pipeline_product,register_partials", [(False, False), (True, False), (True, True),
                                                                (False, True)])
@pytest.mark.parametrize("a_signed,b_signed", [(True, True), (False, False), (False, True)])
def test_carry_save_pe_accumulates_like_the_golden_model(a_signed, b_signed, pipeline_product, register_partials,
                                                          seed):
    """Random dot products with bubbles into a narrow wrapping carry-save accumulator: the
    pair's sum, wrapped, is the golden result (also with the partial products' pair registered
    before the loop)."""
    rng = np.random.default_rng(seed)
    a_shape = signed(7) if a_signed else unsigned(7)
    b_shape = signed(5) if b_signed else unsigned(5)
    width = 11
    acc_signed = a_signed or b_signed
    dut = OutputStationaryPE(a_shape=a_shape, b_shape=b_shape, acc_shape=signed(width) if acc_signed else unsigned(width),
                             pipeline_product=pipeline_product, mac="carry_save", register_partials=register_partials)
    lengths = [1, 5, 2, 17, 1, 8, 40]
    a_lo, a_hi = shape_range(a_shape)
    b_lo, b_hi = shape_range(b_shape)
    a_all = rng.integers(a_lo, a_hi + 1, sum(lengths))
    b_all = rng.integers(b_lo, b_hi + 1, sum(lengths))
    a_all[-40:], b_all[-40:] = a_lo, b_lo  # extremes, long enough to wrap
    expected, start = [], 0
    for length in lengths:
        a, b = a_all[start:start + length], b_all[start:start + length]
        expected.append(int(golden.matmul(a[None, :], b[:, None], a_width=7, a_signed=a_signed, b_width=5,
                                          b_signed=b_signed, acc_width=width, acc_signed=acc_signed,
                                          overflow="wrap")[0, 0]))
        start += length
    lasts = np.zeros(sum(lengths), dtype=bool)
    lasts[np.cumsum(lengths) - 1] = True
    results = []

    async def testbench(ctx):
        index = 0
        while len(results) < len(lengths):
            if ctx.get(dut.done):
                total = (ctx.get(dut.acc_sum) + ctx.get(dut.acc_carry)) % (1 << width)
                if acc_signed and total >= 1 << (width - 1):
                    total -= 1 << width
                results.append(total)
            if index < len(a_all) and rng.random() < 0.7:
                ctx.set(dut.valid_in, 1)
                ctx.set(dut.a_in, int(a_all[index]))
                ctx.set(dut.b_in, int(b_all[index]))
                ctx.set(dut.last_in, int(lasts[index]))
                index += 1
            else:
                ctx.set(dut.valid_in, 0)
            await ctx.tick()

    run(dut, testbench)
    assert results == expected


def test_carry_save_pe_refuses_saturation_and_unknown_styles():
    with pytest.raises(ValueError, match="cannot saturate: overflow must be 'wrap'"):
        OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(12), overflow="saturate", mac="carry_save")
    with pytest.raises(ValueError, match="mac='same_weight_tree' is not legal for a PE"):
        OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(12), mac="same_weight_tree")


@pytest.mark.parametrize("a_shape,b_shape", [(signed(34), unsigned(17)), (unsigned(26), unsigned(17)),
                                             (signed(17), unsigned(18)), (signed(5), unsigned(3)),
                                             (signed(52), signed(9))])
def test_split_product_is_exact_one_cycle_later(a_shape, b_shape, seed):
    rng = random.Random(seed)
    m = Module()
    a, b, out = Signal(a_shape), Signal(b_shape), Signal(signed(a_shape.width + b_shape.width + 1))
    m.d.comb += out.eq(split_product(m, a, b, "p"))
    a_lo, a_hi = shape_range(a_shape)
    b_lo, b_hi = shape_range(b_shape)
    cases = [(x, y) for x in (a_lo, a_hi, 0, -1 if a_shape.signed else 1) for y in (b_lo, b_hi, 1)]
    cases += [(rng.randint(a_lo, a_hi), rng.randint(b_lo, b_hi)) for _ in range(200)]

    async def testbench(ctx):
        for x, y in cases:
            ctx.set(a, x)
            ctx.set(b, y)
            await ctx.tick()
            assert ctx.get(out) == x * y, (x, y)

    run(m, testbench)


def test_select_and_equals_cover_every_index():
    m = Module()
    index, out, hit = Signal(3), Signal(8), Signal()
    values = [Const(10 * i, 8) for i in range(5)]
    m.d.comb += [out.eq(select(values, index)), hit.eq(equals(index, 0))]

    async def testbench(ctx):
        for i in range(5):
            ctx.set(index, i)
            assert (ctx.get(out), ctx.get(hit)) == (10 * i, int(i == 0))

    run(m, testbench, clocked=False)


@pytest.mark.parametrize("count, levels_per_stage, register_inputs",
                         [(1, 1, True), (1, 2, False), (4, 1, True), (4, 2, False), (5, 2, True), (16, 2, False),
                          (16, 3, True), (7, 1, False)])
def test_pipelined_tree_sums_in_its_stated_latency(count, levels_per_stage, register_inputs, seed):
    m = Module()
    inputs = [Signal(8, name=f"in_{i}") for i in range(count)]
    out = pipelined_tree(m, inputs, lambda a, b: a + b, unsigned(12), "t", levels_per_stage=levels_per_stage,
                         register_inputs=register_inputs)
    latency = pipelined_tree_latency(count, levels_per_stage, register_inputs)
    rng = random.Random(seed)
    stream = [[rng.randrange(256) for _ in range(count)] for _ in range(12)]

    async def testbench(ctx):
        for cycle in range(len(stream) + latency):
            for signal, value in zip(inputs, stream[cycle] if cycle < len(stream) else [0] * count):
                ctx.set(signal, value)
            if cycle >= latency:
                assert ctx.get(out) == sum(stream[cycle - latency])
            await ctx.tick()

    run(m, testbench)


def _drive_queue(dut, writes, ready_pattern, cycles):
    """Write ``writes`` (one per cycle while ready), read under ``ready_pattern``; the reads
    and, per entry, its write and read cycles."""
    log = {"read": [], "w_cycle": [], "r_cycle": []}

    async def testbench(ctx):
        index = 0
        for cycle in range(cycles):
            ctx.set(dut.w.valid, index < len(writes))
            ctx.set(dut.w.payload, writes[index] if index < len(writes) else 0)
            ctx.set(dut.r.ready, ready_pattern(cycle))
            if ctx.get(dut.r.valid) and ctx.get(dut.r.ready):
                log["read"].append(ctx.get(dut.r.payload))
                log["r_cycle"].append(cycle)
            if index < len(writes) and ctx.get(dut.w.ready):
                log["w_cycle"].append(cycle)
                index += 1
            await ctx.tick()

    run(dut, testbench)
    return log


@pytest.mark.parametrize("queue", ["bypass", "block_ram", "two_registers"])
def test_queues_keep_order_under_backpressure(queue, seed):
    rng = random.Random(seed)
    writes = [rng.randrange(256) for _ in range(40)]
    dut = {"bypass": BypassFIFO(8, 4), "block_ram": BlockRamFIFO(8, 6), "two_registers": TwoRegisterFIFO(8)}[queue]
    log = _drive_queue(dut, writes, lambda cycle: rng.random() < 0.6, 400)
    assert log["read"] == writes


def test_queue_latencies():
    # Bypass: an entry written to an empty queue is read in its write cycle.
    log = _drive_queue(BypassFIFO(8, 2), [5, 6], lambda cycle: cycle >= 0, 10)
    assert log["read"] == [5, 6] and log["r_cycle"] == log["w_cycle"]
    # Block RAM: BlockRamFIFO.latency cycles from write to read.
    log = _drive_queue(BlockRamFIFO(8, 4), [7], lambda cycle: True, 10)
    assert log["r_cycle"][0] - log["w_cycle"][0] == BlockRamFIFO.latency
    log = _drive_queue(TwoRegisterFIFO(8), [3, 4, 5], lambda cycle: cycle >= 4, 12)
    assert log["read"] == [3, 4, 5] and log["w_cycle"] == [0, 1, 5] and log["r_cycle"] == [4, 5, 6]
    with pytest.raises(ValueError, match="register_partials=True needs mac='carry_save', not mac='baseline'"):
        OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(12), register_partials=True)
