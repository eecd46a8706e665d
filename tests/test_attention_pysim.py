# amaranth: UnusedElaboratable=no
"""The attention array's units and small engines in the Amaranth simulator.

The tile walker against the tile schedule of the parameters module (computed with divisions,
the walker only counts); the score array's two phases against numpy; and whole 2 x 2 .. 4 x 3
engines, bit-exact against the golden model, with ``cycle_count`` equal to the analytic model
and the stall identity on stall-free jobs, and under random stalls and backpressure.
"""

import random

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.sim import Simulator

from accelgen.generators.attention import Attention, AttentionParams, STALL_COUNTERS, analytic_cycles, latencies
from accelgen.generators.attention_params import tile_order
from accelgen.hdl.attention_array import ScoreArray
from accelgen.hdl.attention_control import TileWalker
from accelgen.verif import attention_host
from accelgen.verif.packing import pack_beats, stream_layouts, unpack_beats
from accelgen.verif.pysim_streams import run_streams


def simulate(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


@pytest.mark.parametrize("br,bc", [(1, 1), (2, 3), (4, 4), (3, 2)])
def test_tile_walker_follows_the_tile_schedule(br, bc, seed):
    rng = random.Random(seed)
    dut = TileWalker(rows=bc, cols=br, n_bits=5)
    cases = [(rng.randint(1, 20), rng.randint(1, 20), rng.random() < 0.5) for _ in range(12)]
    cases += [(1, 1, True), (7, 3, True), (3, 7, True), (20, 20, True)]

    async def testbench(ctx):
        for nq, nkv, causal in cases:
            expected = tile_order(nq, nkv, br, bc, causal)
            ctx.set(dut.nq, nq)
            ctx.set(dut.nkv, nkv)
            ctx.set(dut.causal, causal)
            ctx.set(dut.causal_now, causal)
            ctx.set(dut.load, 1)
            await ctx.tick()
            ctx.set(dut.load, 0)
            seen = []
            for g, (b, j) in enumerate(expected):
                t = dut.tile
                got = (ctx.get(t.qb) // br, ctx.get(t.kb) // bc, ctx.get(t.first), ctx.get(t.last),
                       ctx.get(t.job_last), ctx.get(t.tpar), ctx.get(t.bpar))
                last = g + 1 == len(expected) or expected[g + 1][0] != b
                seen.append(got)
                assert got == (b, j, int(j == 0), int(last), int(g + 1 == len(expected)), g % 2, b % 2), \
                    (nq, nkv, causal, g)
                ctx.set(dut.advance, 1)
                await ctx.tick()
                ctx.set(dut.advance, 0)

    simulate(dut, testbench)


def test_score_array_phases_against_numpy(seed):
    """QK accumulates q k^T into a bank; the softmax port reads it; probabilities written back
    through the port give the column sums P^T v in the PV phase."""
    rng = np.random.default_rng(seed)
    rows, cols, d, p_bits = 3, 2, 5, 6
    dut = ScoreArray(rows=rows, cols=cols, q_shape=signed(8), bus_shape=signed(8), score_width=20, p_bits=p_bits,
                     colsum_width=18, lanes=1)
    q = rng.integers(-127, 128, (cols, d))  # negated for bank 1
    k, v = rng.integers(-128, 128, (rows, d)), rng.integers(-128, 128, (rows, d))
    probs = rng.integers(0, 1 << p_bits, (rows, cols))

    async def testbench(ctx):
        beat = dut.beat
        for bank in (0, 1):
            for e in range(d):   # bank 1 gets -q: the banks must not mix
                ctx.set(beat.valid, 1)
                ctx.set(beat.pv, 0)
                ctx.set(beat.first, e == 0)
                ctx.set(beat.bank, bank)
                for r in range(rows):
                    ctx.set(beat.bus[r], int(k[r, e]))
                for c in range(cols):
                    ctx.set(beat.q[c], int(q[c, e]) * (1 - 2 * bank))
                await ctx.tick()
        ctx.set(beat.valid, 0)
        await ctx.tick().repeat(dut.qk_latency - 1)
        for bank in (0, 1):
            ctx.set(dut.sm.rd_bank, bank)
            for r in range(rows):
                ctx.set(dut.sm.rd_row, r)
                got = [ctx.get(dut.sm.rd_data[0][c]) for c in range(cols)]
                assert got == list((1 - 2 * bank) * (k[r] @ q.T)), (bank, r)
        for r in range(rows):  # probabilities into bank 1
            ctx.set(dut.sm.wr_en, 1)
            ctx.set(dut.sm.wr_bank, 1)
            ctx.set(dut.sm.wr_row, r)
            for c in range(cols):
                ctx.set(dut.sm.wr_data[0][c], int(probs[r, c]))
            await ctx.tick()
        ctx.set(dut.sm.wr_en, 0)
        sums = []
        for f in range(d + dut.pv_latency):
            ctx.set(beat.valid, f < d)
            ctx.set(beat.pv, 1)
            ctx.set(beat.bank, 1)
            for r in range(rows):
                ctx.set(beat.bus[r], int(v[r, f]) if f < d else 0)
            await ctx.tick()
            if f + 1 >= dut.pv_latency:
                sums.append([ctx.get(dut.colsum[c]) for c in range(cols)])
        assert np.array_equal(np.array(sums[:d]), (probs.T @ v).T)

    simulate(dut, testbench)


def run_engine(params, problems, *, seed, stall=0.0, backpressure=0.0):
    """Stream ``problems`` through an :class:`Attention` engine; return (job, output beats, counters)."""
    dut = Attention(params)
    rng = np.random.default_rng(seed)
    job = attention_host.make_job(params, "pysim", problems, rng=rng)
    inputs, layouts = job["inputs"], stream_layouts(dut)
    desc = inputs["desc"]
    words = {"desc": pack_beats(layouts["desc"], nq=desc[:, 0], nkv=desc[:, 1], d=desc[:, 2], causal=desc[:, 3]),
             "q": pack_beats(layouts["q"], data=inputs["q_words"]), "k": pack_beats(layouts["k"], data=inputs["k_words"]),
             "v": pack_beats(layouts["v"], data=inputs["v_words"])}
    received, counters = run_streams(dut, words, expect=len(inputs["o_expected"]), rng=random.Random(seed),
                                     stall=stall, backpressure=backpressure, output="o", settle_cycles=2,
                                     counters=("cycle_count", "mac_count", *STALL_COUNTERS), max_cycles=100000)
    return job, unpack_beats(layouts["o"], received), counters


CONFIGS = [
    dict(br=2, bc=2, d_max=4, n_max=16),
    dict(br=4, bc=3, d_max=5, n_max=32, p_bits=8, out_frac=3, o_guard=2, score_num=37, score_frac=9, l_extra_bits=0),
    dict(br=3, bc=4, d_max=3, n_max=20, exp_lanes=2, out_width=12, out_frac=4),
    dict(br=3, bc=3, d_max=4, n_max=16, mac="carry_save"),
    dict(br=2, bc=4, d_max=3, n_max=16, mac="carry_save", exp_lanes=4, p_bits=7, q_width=5, v_width=11),
]


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_engine_is_exact_and_meets_the_cycle_model(config, seed):
    params = AttentionParams(**CONFIGS[config])
    rng = np.random.default_rng(seed)
    for trial in range(4):
        nq, nkv = int(rng.integers(1, 3 * params.br + 2)), int(rng.integers(1, 3 * params.bc + 2))
        d, causal = int(rng.integers(1, params.d_max + 1)), bool(trial % 2)
        problem = attention_host.random_problem(params, rng, nq, nkv, d, causal)
        job, beats, counters = run_engine(params, [problem], seed=seed + trial)
        job["stall"] = job["backpressure"] = 0.0
        outputs = {"o": beats["data"], "o_last": beats["last"], **counters}
        assert attention_host.check(params, [job], [outputs]) == [], (nq, nkv, d, causal)
        assert counters["cycle_count"] == analytic_cycles(params, nq, nkv, d, causal)
        beats_issued = 2 * d * len(tile_order(nq, nkv, params.br, params.bc, causal))
        assert counters["cycle_count"] == (latencies(params)["feed"] + beats_issued + counters["sm_stall_count"]
                                           + latencies(params)["out"] - 1)


@pytest.mark.parametrize("config", range(len(CONFIGS)))
def test_engine_back_to_back_under_stalls(config, seed):
    params = AttentionParams(**CONFIGS[config])
    rng = np.random.default_rng(seed)
    problems = [attention_host.random_problem(params, rng, int(rng.integers(1, 2 * params.br + 2)),
                                       int(rng.integers(1, 2 * params.bc + 2)), int(rng.integers(1, params.d_max + 1)),
                                       bool(rng.integers(2))) for _ in range(3)]
    job, beats, counters = run_engine(params, problems, seed=seed, stall=0.3, backpressure=0.5)
    assert np.array_equal(beats["data"], job["inputs"]["o_expected"])
    assert counters["in_stall_count"] > 0


def test_default_output_fifo_never_stalls_one_tile_blocks(seed):
    """One-tile blocks end a job with two PV phases that both fill the output FIFO; with D
    longer than the softmax the second starts while the first's beats are in flight. The
    default depth (d_max + output latency + 2) holds both: no stall, cycles = model."""
    params = AttentionParams(br=2, bc=2, d_max=64, n_max=16)
    rng = np.random.default_rng(seed)
    job, beats, counters = run_engine(params, [attention_host.random_problem(params, rng, 5, 2, 64, False)], seed=seed)
    assert np.array_equal(beats["data"], job["inputs"]["o_expected"])
    assert counters["out_stall_count"] == 0
    assert counters["cycle_count"] == analytic_cycles(params, 5, 2, 64)
