# amaranth: UnusedElaboratable=no
"""Partial products and carry-save compressors (accelgen.hdl.mac).

The expressions are evaluated for every operand code at once by a small numpy interpreter of
the Amaranth expression tree (exhaustive 4- and 8-bit operands, random 16-bit ones); the
interpreter itself is checked against the Amaranth simulator.
"""

import itertools
import random

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Const, Module, Signal, _ast, signed, unsigned
from amaranth.hdl._ast import SignalDict
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from accelgen.hdl.mac import MAC_STYLE_DOCS, MAC_STYLES, PP_ENCODINGS, compress, partial_products, prefix_add


def evaluate(value, env: dict, cache=None) -> np.ndarray:
    """Raw bits (unsigned, masked to the value's width) of ``value`` for every sample in ``env``
    (a SignalDict: Signal -> array of codes). Shared sub-expressions are evaluated once."""
    cache = {} if cache is None else cache
    key = id(value)
    if key in cache:
        return cache[key][0]
    width = len(value)
    mask = np.int64((1 << width) - 1)
    if isinstance(value, Const):
        result = np.int64(value.value) & mask
    elif isinstance(value, Signal):
        result = np.asarray(env[value], dtype=np.int64) & mask
    elif isinstance(value, _ast.Slice):
        inner = evaluate(value.value, env, cache)
        result = (inner >> value.start) & mask
    elif isinstance(value, _ast.Concat):
        result = np.int64(0)
        offset = 0
        for part in value.parts:
            result = result | (evaluate(part, env, cache) << offset)
            offset += len(part)
    elif isinstance(value, _ast.Operator):
        ops = [evaluate(operand, env, cache) for operand in value.operands]
        if value.operator == "~":
            result = ~ops[0] & mask
        elif value.operator in ("u", "s"):
            result = ops[0] & mask
        elif value.operator == "^":
            result = (ops[0] ^ ops[1]) & mask
        elif value.operator == "&":
            result = ops[0] & ops[1] & mask
        elif value.operator == "|":
            result = (ops[0] | ops[1]) & mask
        else:
            raise AssertionError(f"unexpected operator {value.operator!r} in a compressor tree")
    else:
        raise AssertionError(f"unexpected value {value!r}")
    cache[key] = (result, value)  # keep `value` alive so its id stays unique
    return result


def codes(shape) -> np.ndarray:
    shape = unsigned(shape) if isinstance(shape, int) else shape
    if shape.signed:
        return np.arange(-(1 << (shape.width - 1)), 1 << (shape.width - 1), dtype=np.int64)
    return np.arange(0, 1 << shape.width, dtype=np.int64)


def operand_grid(a_shape, b_shape):
    """Every pair of operand codes."""
    a, b = np.meshgrid(codes(a_shape), codes(b_shape), indexing="ij")
    return a.ravel(), b.ravel()


def random_operands(rng, shape, count):
    lo = -(1 << (shape.width - 1)) if shape.signed else 0
    values = rng.integers(lo, lo + (1 << shape.width), size=count, dtype=np.int64)
    # The extreme codes are where sign handling goes wrong: always include them.
    extremes = np.array([lo, lo + 1, -1 if shape.signed else 1, 0, lo + (1 << shape.width) - 1], dtype=np.int64)
    return np.concatenate([extremes, values])


def shape_of(width, is_signed):
    return signed(width) if is_signed else unsigned(width)


def rows_sum(rows, env, width):
    total = np.zeros(len(next(iter(env.values()))), dtype=np.int64)
    cache = {}
    for row in rows:
        assert len(row) == width
        total = (total + evaluate(row, env, cache)) & ((1 << width) - 1)
    return total


SIGNS = list(itertools.product([False, True], repeat=2))


@pytest.mark.parametrize("encoding", PP_ENCODINGS)
@pytest.mark.parametrize("a_signed,b_signed", SIGNS)
@pytest.mark.parametrize("a_width,b_width", [(4, 4), (8, 8), (2, 2), (3, 5), (7, 4), (5, 8), (8, 3)])
def test_partial_products_every_operand_code(a_width, b_width, a_signed, b_signed, encoding):
    a_shape, b_shape = shape_of(a_width, a_signed), shape_of(b_width, b_signed)
    a_sig, b_sig = Signal(a_shape, name="a"), Signal(b_shape, name="b")
    a, b = operand_grid(a_shape, b_shape)
    env = SignalDict([(a_sig, a), (b_sig, b)])
    product = a * b
    # The full product width, and narrower / wider rows (the sum is modulo 2**width).
    for width in (a_width + b_width, a_width + b_width - 3, a_width + b_width + 5):
        if width < 1:
            continue
        rows = partial_products(a_sig, b_sig, width, encoding=encoding)
        got = rows_sum(rows, env, width)
        np.testing.assert_array_equal(got, product & ((1 << width) - 1), err_msg=f"width={width}")
        s, c = compress(rows, width)
        total = (evaluate(s, env) + evaluate(c, env)) & ((1 << width) - 1)
        np.testing.assert_array_equal(total, product & ((1 << width) - 1), err_msg=f"compressed, width={width}")


@pytest.mark.parametrize("a_signed,b_signed", SIGNS)
@pytest.mark.parametrize("a_width,b_width", [(16, 16), (16, 9), (11, 16), (13, 15)])
def test_partial_products_random_wide(a_width, b_width, a_signed, b_signed, seed):
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shape_of(a_width, a_signed), shape_of(b_width, b_signed)
    a_sig, b_sig = Signal(a_shape, name="a"), Signal(b_shape, name="b")
    a = random_operands(rng, a_shape, 4000)
    b = random_operands(rng, b_shape, 4000)
    a, b = np.meshgrid(a, b[:5], indexing="ij")  # every extreme of b against every a
    a = np.concatenate([a.ravel(), random_operands(rng, a_shape, 4000)])
    b = np.concatenate([b.ravel(), random_operands(rng, b_shape, 4000)])
    env = SignalDict([(a_sig, a), (b_sig, b)])
    width = a_width + b_width + 4
    rows = partial_products(a_sig, b_sig, width)
    np.testing.assert_array_equal(rows_sum(rows, env, width), (a * b) & ((1 << width) - 1))
    s, c = compress(rows, width)
    np.testing.assert_array_equal((evaluate(s, env) + evaluate(c, env)) & ((1 << width) - 1), (a * b) & ((1 << width) - 1))


@pytest.mark.parametrize("a_width", [2, 3, 4, 7, 8, 9, 16])
@pytest.mark.parametrize("a_signed", [False, True])
def test_booth_row_count(a_width, a_signed):
    """Radix-4 Booth about halves the rows: one per digit, plus at most two for the last
    ``+1`` and the folded sign-extension constant; never more than the plain AND array."""
    digits = -(-(a_width + (0 if a_signed else 1)) // 2)
    a, b = Signal(shape_of(a_width, a_signed)), Signal(signed(16))
    booth = partial_products(a, b, 40)
    assert len(booth) <= digits + 2
    assert len(booth) <= len(partial_products(a, b, 40, encoding="and_array"))
    if (a_width, a_signed) == (8, True):
        assert len(booth) == 5  # 4 digits + the last digit's +1


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 12, 19])
def test_compress_random_rows(count, seed):
    """Rows of mixed widths and signedness (narrower and wider than the result), constants
    included: sum + carry equals the wrapped sum."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    width = rng.choice([5, 12, 20, 33])
    rows, env, expected = [], SignalDict(), np.zeros(3000, dtype=np.int64)
    for index in range(count):
        if rng.random() < 0.15:
            value = rng.randrange(-40, 1 << 10)
            row = Const(value, signed(12) if value < 0 else unsigned(12))
            rows.append(row)
            expected += row.value
            continue
        shape = shape_of(rng.randrange(1, 40), rng.random() < 0.5)
        sig = Signal(shape, name=f"r{index}")
        values = random_operands(nrng, shape, 3000 - 5)
        env[sig] = values
        rows.append(sig)
        expected += values
    if not env:
        env[Signal(1)] = np.zeros(3000, dtype=np.int64)
    s, c = compress(rows, width)
    assert len(s) == len(c) == width
    mask = (1 << width) - 1
    np.testing.assert_array_equal((evaluate(s, env) + evaluate(c, env)) & mask, expected & mask)


def test_compress_accumulates_in_carry_save_form(seed):
    """The carry-save accumulator loop: (sum, carry) <- compress(pp(a, b) + [sum, carry])
    over a random dot product, in the Amaranth simulator, equals the exact sum mod 2**w."""
    rng = random.Random(seed)
    width = 20
    a, b = Signal(signed(8), name="a"), Signal(unsigned(7), name="b")
    acc_sum, acc_carry = Signal(width, name="acc_sum"), Signal(width, name="acc_carry")
    m = Module()
    s, c = compress(partial_products(a, b, width) + [acc_sum, acc_carry], width, m=m, name="tree")
    m.d.sync += [acc_sum.eq(s), acc_carry.eq(c)]
    pairs = [(rng.randrange(-128, 128), rng.randrange(128)) for _ in range(60)] + [(-128, 127)] * 40
    seen = []

    async def testbench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            await ctx.tick()
            seen.append((ctx.get(acc_sum) + ctx.get(acc_carry)) % (1 << width))

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    expected = np.cumsum([x * y for x, y in pairs]) % (1 << width)
    assert seen == list(expected)


def test_evaluator_matches_the_amaranth_simulator(seed):
    """The numpy interpreter used above agrees with the Amaranth simulator."""
    rng = random.Random(seed)
    a, b = Signal(signed(6), name="a"), Signal(unsigned(5), name="b")
    extra = Signal(signed(9), name="extra")
    width = 14
    m = Module()
    s, c = compress(partial_products(a, b, width) + [extra], width)
    s_out, c_out = Signal(width), Signal(width)
    m.d.comb += [s_out.eq(s), c_out.eq(c)]
    samples = [(rng.randrange(-32, 32), rng.randrange(32), rng.randrange(-256, 256)) for _ in range(50)]
    env = SignalDict([(a, np.array([x for x, _, _ in samples])), (b, np.array([y for _, y, _ in samples])),
                     (extra, np.array([z for _, _, z in samples]))])
    expected = list(zip(evaluate(s, env), evaluate(c, env)))
    seen = []

    async def testbench(ctx):
        for x, y, z in samples:
            ctx.set(a, x)
            ctx.set(b, y)
            ctx.set(extra, z)
            seen.append((ctx.get(s_out), ctx.get(c_out)))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert seen == [(int(x), int(y)) for x, y in expected]


def test_compressor_is_explicit_logic():
    """Synthesis sees XOR / AND / OR gates: no adder or multiplier cell in the netlist."""
    class Tree(wiring.Component):
        a: In(signed(8))
        b: In(signed(8))
        acc: In(20)
        s: Out(20)
        c: Out(20)

        def elaborate(self, platform):
            m = Module()
            s, c = compress(partial_products(self.a, self.b, 20) + [self.acc], 20, m=m)
            m.d.comb += [self.s.eq(s), self.c.eq(c)]
            return m

    text = rtlil.convert(Tree())
    for cell in ("$add", "$sub", "$mul", "$neg"):
        assert cell not in text


def _prefix_adder_outputs(width, a_width, b_width, pairs):
    """Run ``pairs`` through a ``prefix_add`` of the given widths in the Amaranth simulator."""
    a, b = Signal(a_width, name="a"), Signal(b_width, name="b")
    m = Module()
    total = prefix_add(m, a, b, width)
    seen = []

    async def testbench(ctx):
        for x, y in pairs:
            ctx.set(a, x)
            ctx.set(b, y)
            seen.append(ctx.get(total))

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    return seen


@pytest.mark.parametrize("width", [1, 2, 3, 5, 6])
def test_prefix_add_every_operand_pair(width):
    pairs = list(itertools.product(range(1 << width), repeat=2))
    assert _prefix_adder_outputs(width, width, width, pairs) == [(x + y) % (1 << width) for x, y in pairs]


@pytest.mark.parametrize("width", [13, 32, 47])
def test_prefix_add_random_wide(width, seed):
    rng = random.Random(seed)
    top = (1 << width) - 1
    # All-ones plus one carries through every bit: the longest carry chain.
    pairs = [(top, 1), (1, top), (top, top), (0, 0), (top >> 1, (top >> 1) + 1)]
    pairs += [(rng.randrange(1 << width), rng.randrange(1 << width)) for _ in range(300)]
    assert _prefix_adder_outputs(width, width, width, pairs) == [(x + y) % (1 << width) for x, y in pairs]


def test_prefix_add_truncates_wider_and_extends_narrower_operands():
    pairs = [(x, y) for x in (0, 1, 255, 256, 511) for y in (0, 1, 7)]
    assert _prefix_adder_outputs(8, 9, 3, pairs) == [(x + y) % 256 for x, y in pairs]


def test_prefix_adder_is_explicit_logic():
    a, b = Signal(16), Signal(16)
    m = Module()
    out = Signal(16)
    m.d.comb += out.eq(prefix_add(m, a, b, 16))
    text = rtlil.convert(m, ports=[a, b, out])
    for cell in ("$add", "$sub", "$alu"):
        assert cell not in text


def test_bad_arguments_are_rejected():
    a, b = Signal(signed(8)), Signal(signed(8))
    with pytest.raises(ValueError, match="encoding='wallace' is not legal: must be one of 'booth_radix4', 'and_array'"):
        partial_products(a, b, 16, encoding="wallace")
    with pytest.raises(ValueError, match="width=0 is not legal"):
        partial_products(a, b, 0)
    with pytest.raises(ValueError, match="width=0 is not legal"):
        compress([a], 0)
    with pytest.raises(ValueError, match="width=0 is not legal"):
        prefix_add(Module(), a, b, 0)


def test_every_mac_style_is_documented():
    assert set(MAC_STYLE_DOCS) == set(MAC_STYLES)
    assert MAC_STYLES[0] == "baseline"
