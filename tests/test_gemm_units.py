# amaranth: UnusedElaboratable=no
"""Unit tests of the GEMM engine's units in the Amaranth simulator, each against an independent
Python model of what it must do: the banked B buffer (padding zeroed, banks alternate, a bank
is read only once filled) and the tile collector (padding rows dropped, ``last`` and the end
of the job)."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from accelgen.generators.gemm import GemmParams
from accelgen.generators.gemm.buffers import BBuffer
from accelgen.generators.gemm.collectors import TileCollector
from accelgen.generators.systolic import SystolicArray
from accelgen.hdl.layouts import TileStreamSignature
from accelgen.hdl.util import ceil_div
from accelgen.verif.packing import pack_beats, unpack_beats


def run(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()


def start_job(ctx, job, m, n, k):
    ctx.set(job.m, m)
    ctx.set(job.n, n)
    ctx.set(job.k, k)
    ctx.set(job.start, 1)
    ctx.set(job.active, 0)


@pytest.mark.parametrize("depth,n,k", [(1, 5, 3), (2, 7, 5), (3, 3, 1)])
def test_b_buffer_zeroes_padding_and_alternates_banks(depth, n, k, seed):
    rng = random.Random(seed)
    engine = "os" if depth == 1 else "cube3d"
    p = GemmParams(engine=engine, rows=2, cols=3, depth=depth, m_max=4, n_max=7, k_max=5)
    b_signature = TileStreamSignature(p.b_shape, p.depth * p.cols, last=False)
    dut = BBuffer(p, b_signature, range(p.k_beats_max + 1))
    blocks = ceil_div(n, p.cols)
    words_per_block = ceil_div(k, depth)
    # B with junk in the lanes past N and the K steps past K: the buffer must zero them.
    b = np.array([[rng.randrange(-128, 128) for _ in range(blocks * p.cols)] for _ in range(words_per_block * depth)])
    words, expected = [], []
    for nt in range(blocks):
        for kg in range(words_per_block):
            lanes = b[kg * depth:(kg + 1) * depth, nt * p.cols:(nt + 1) * p.cols]
            words.append(lanes)
            kept = lanes.copy()
            for d in range(depth):
                for j in range(p.cols):
                    if kg * depth + d >= k or nt * p.cols + j >= n:
                        kept[d, j] = 0
            expected.append(kept)
    payloads = pack_beats(b_signature.payload_layout, data=np.array(words))

    async def testbench(ctx):
        start_job(ctx, dut.job, 4, n, k)
        await ctx.tick()
        ctx.set(dut.job.start, 0)
        ctx.set(dut.job.active, 1)
        sent, block, word, checked = 0, 0, 0, 0
        reading = None  # (block, word) read last cycle
        for _ in range(400):
            ctx.set(dut.b.valid, sent < len(payloads) and rng.random() < 0.7)
            ctx.set(dut.b.payload.as_value(), payloads[min(sent, len(payloads) - 1)])
            ready_words = ctx.get(dut.ready_words)
            assert ready_words <= words_per_block
            # Read the next word of the bank in use once it has arrived; release a full bank
            # after its last word.
            release = block < blocks and word == words_per_block and rng.random() < 0.5
            read = block < blocks and word < ready_words and rng.random() < 0.8
            ctx.set(dut.release, release)
            ctx.set(dut.read.word, word if read else 0)
            ctx.set(dut.read.en, read)
            _, _, taken, data = await ctx.tick().sample(dut.b.valid & dut.b.ready, dut.read.data)
            if reading is not None:
                got = unpack_beats(b_signature.payload_layout, [data])["data"].reshape(depth, p.cols)
                np.testing.assert_array_equal(got, expected[reading[0] * words_per_block + reading[1]])
                checked += 1
            reading = (block, word) if read else None
            sent += taken
            if read:
                word += 1
            if release:
                block, word = block + 1, 0
        assert block == blocks and checked == len(payloads)

    run(dut, testbench)


@pytest.mark.parametrize("rows,m,n", [(2, 3, 5), (3, 3, 2), (1, 2, 4)])
def test_tile_collector_drops_padding_rows(rows, m, n, seed):
    rng = random.Random(seed)
    p = GemmParams(engine="os", rows=rows, cols=2, m_max=4, n_max=5, k_max=2)
    array = SystolicArray(p.array_params())
    c_signature = TileStreamSignature(p.acc_shape, p.cols)
    dut = TileCollector(p, array, c_signature)
    layout = c_signature.payload_layout
    row_blocks, col_blocks = ceil_div(m, rows), ceil_div(n, p.cols)
    # The array's rows in tile order (nt, mt), rows of a tile in order; `index` tags each row.
    array_rows = [(nt, mt * rows + i) for nt in range(col_blocks) for mt in range(row_blocks) for i in range(rows)]
    values = [[rng.randrange(-1000, 1000) for _ in range(p.cols)] for _ in array_rows]
    kept = [(values[r], int(nt == col_blocks - 1 and index == m - 1))
            for r, (nt, index) in enumerate(array_rows) if index < m]

    async def testbench(ctx):
        start_job(ctx, dut.job, m, n, 2)
        await ctx.tick()
        ctx.set(dut.job.start, 0)
        ctx.set(dut.job.active, 1)
        given, received, done_at = 0, [], []
        for cycle in range(300):
            ctx.set(dut.rows.valid, given < len(array_rows) and rng.random() < 0.7)
            words = pack_beats(layout, data=[values[min(given, len(values) - 1)]], last=[0])
            ctx.set(dut.rows.payload.as_value(), words[0])
            ctx.set(dut.c.ready, rng.random() < 0.6)
            _, _, taken, out_valid, out_ready, payload, done = await ctx.tick().sample(
                dut.rows.valid & dut.rows.ready, dut.c.valid, dut.c.ready, dut.c.payload.as_value(), dut.job_done)
            if out_valid and out_ready:
                beat = unpack_beats(layout, [payload])
                received.append((list(beat["data"][0]), int(beat["last"][0])))
            if done:
                done_at.append(given)
            given += taken
        assert received == kept
        assert done_at == [len(array_rows) - 1]  # with the job's last array row, dropped or not

    run(dut, testbench)
