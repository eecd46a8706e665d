# amaranth: UnusedElaboratable=no
"""Amaranth-simulator tests of the softmax's hdl/ blocks: the exp unit over every input code
of each variant, and the pipelined reciprocal against the exact rounded division."""

import math
import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from accelgen.hdl.exp_tables import ExpSpec, exp_code, exp_table
from accelgen.hdl.exp_unit import ExpUnit
from accelgen.hdl.fixedpoint import round_div
from accelgen.hdl.reciprocal import PipelinedReciprocal
from accelgen.verif.softmax_golden import exp_int

# (width, in_frac, in_scale_num, exp_frac, out_frac, approx, table_bits)
EXP_SPECS = {
    "int8_s16_accurate": ExpSpec(8, 4, 1, 21, 8, "accurate"),
    "int8_scale3_accurate": ExpSpec(8, 5, 3, 14, 8, "accurate"),
    "int8_ibert": ExpSpec(8, 4, 1, 17, 8, "ibert"),
    "int8_shift": ExpSpec(8, 4, 1, 17, 8, "shift"),
    "int16_q12_accurate": ExpSpec(16, 12, 1, 29, 16, "accurate", 7),
    "int12_q6_accurate": ExpSpec(12, 6, 5, 19, 8, "accurate", 3),
    "int16_q12_shift": ExpSpec(16, 12, 1, 29, 16, "shift"),
}


def simulate_exp(spec: ExpSpec, codes, pipelined: bool = False) -> list[int]:
    """Stream ``codes`` through an :class:`ExpUnit`, one per cycle; the outputs in order."""
    dut = ExpUnit(spec, pipelined=pipelined)
    outputs = []

    async def testbench(ctx):
        # After the tick that loads code i, e shows code i - latency + 1.
        for index, code in enumerate(list(codes) + [0] * dut.latency):
            ctx.set(dut.d, code)
            await ctx.tick()
            if index >= dut.latency - 1 and len(outputs) < len(codes):
                outputs.append(ctx.get(dut.e))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return outputs


@pytest.mark.parametrize("name", list(EXP_SPECS))
def test_exp_unit_matches_the_scalar_definition_on_every_code(name):
    spec = EXP_SPECS[name]
    codes = range(1 << spec.width)
    expected = [exp_code(d, spec) for d in codes]
    assert simulate_exp(spec, codes) == expected
    # The golden model's vectorised exp (width-asserted) is the same function.
    assert exp_int(np.arange(1 << spec.width), spec).tolist() == expected


@pytest.mark.parametrize("name", [name for name, spec in EXP_SPECS.items() if spec.kind == "range"])
def test_pipelined_exp_unit_is_the_same_function(name):
    spec = EXP_SPECS[name]
    codes = range(1 << spec.width)
    assert ExpUnit(spec, pipelined=True).latency == ExpUnit(spec).latency + 2
    assert simulate_exp(spec, codes, pipelined=True) == [exp_code(d, spec) for d in codes]


@pytest.mark.parametrize("name", ["int8_s16_accurate", "int8_scale3_accurate"])
def test_int8_exp_table_is_correctly_rounded(name):
    spec = EXP_SPECS[name]
    table = exp_table(spec)
    for d, code in enumerate(table):
        exact = math.exp(-d * float(spec.scale)) * 2**spec.exp_frac
        assert abs(code - exact) <= 0.5 + 1e-9
    assert table[0] == 1 << spec.exp_frac


def test_wide_exp_relative_error_is_far_below_an_output_lsb():
    spec = EXP_SPECS["int16_q12_accurate"]
    d = np.arange(1 << 16)
    exact = np.exp(-d / 4096.0) * 2.0**spec.exp_frac
    error = np.abs(exp_int(d, spec) - exact)
    # A relative error far below an output LSB, plus the final half-unit rounding.
    allowed = exact * 2.0**-(spec.out_frac + 2) + 0.5 + 1e-9
    assert (error <= allowed).all(), int(d[np.argmax(error / allowed)])


def test_reciprocal_is_the_rounded_division(seed):
    rng = random.Random(seed)
    den_width, shift, den_min = 20, 30, 1 << 14
    dut = PipelinedReciprocal(den_width, shift, den_min)
    values = [0, den_min, den_min + 1, (1 << den_width) - 1, 3 << 14]
    values += [rng.randrange(den_min, 1 << den_width) for _ in range(300)]
    for _ in range(20):  # zero divisors between others: the zero flag travels with its request
        values.insert(rng.randrange(len(values)), 0)
    got = []

    async def testbench(ctx):
        for index, value in enumerate(values + [0] * dut.latency):
            ctx.set(dut.s, value)
            ctx.set(dut.s_valid, index < len(values))
            await ctx.tick()
            if ctx.get(dut.recip_valid) and len(got) < len(values):
                got.append(ctx.get(dut.recip))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    expected = [round_div(1 << shift, value, "half_up") if value else 0 for value in values]
    assert got == expected


def test_reciprocal_rejects_an_impossible_minimum():
    with pytest.raises(ValueError, match="den_min=0"):
        PipelinedReciprocal(8, 10, 0)


def test_pipelined_exp_unit_with_a_scale_that_rounds_to_zero():
    """S*log2(e) rounds to 0 (attention with score_frac=40): the constant is zero bits wide and
    the pipelined multiply has no partial products; every exp is 1.0 (found by the fuzz)."""
    spec = ExpSpec(10, 40, 1, 16, 16, "accurate", 7)
    assert spec.log2e_const == 0
    codes = range(1 << spec.width)
    assert simulate_exp(spec, codes, pipelined=True) == [exp_code(d, spec) for d in codes]
