"""cocotb testbench of the tiled GEMM engine (design ``gemm``).

Each job streams its descriptors, A words and B words from three independent sources with
random stalls, takes the C beats under random backpressure and, when asked, compares them
and their ``last`` flags with the golden beats.
"""

import cocotb
from cocotb.triggers import ClockCycles
import numpy as np
from ..hdl.util import ceil_div

from ..generators.gemm import GemmParams
from .packing import pack_rows, unpack_rows
from .streams import Scoreboard, StreamSink, StreamSource, seeded_rng
from .tb_common import run_jobs


def pack_descriptors(p, desc) -> list[int]:
    """Descriptor payloads: ``m`` at bit 0, then ``n``, then ``k``."""
    m_bits, n_bits = p.m_max.bit_length(), p.n_max.bit_length()
    return [int(m) | (int(n) << m_bits) | (int(k) << (m_bits + n_bits)) for m, n, k in desc]


async def run_gemm_job(bench, config, job, inputs):
    dut = bench.dut
    p = GemmParams(**config["params"])
    seed = config["seed"]
    sources = {name: StreamSource(dut, name, stall=job["stall"], rng=seeded_rng(seed, job["name"], name))
               for name in ("desc", "a", "b")}
    c_sink = StreamSink(dut, "c", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "c"))
    bench.sources += list(sources.values())
    bench.sinks.append(c_sink)
    await bench.reset()

    sources["desc"].send(pack_descriptors(p, inputs["desc"]))
    sources["a"].send(pack_rows(inputs["a_words"], p.a_width))
    sources["b"].send(pack_rows(inputs["b_words"], p.b_width))
    expected = inputs["c_expected"]
    c_sink.expect_count = len(expected)

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d C beats", cycle, len(c_sink.received), c_sink.expect_count)

    macs = sum(ceil_div(int(m), p.rows) * ceil_div(int(n), p.cols) * int(k) for m, n, k in inputs["desc"])
    macs = max(macs, sum(int(m) * ceil_div(int(n), p.cols) * int(k) for m, n, k in inputs["desc"]))
    work = len(inputs["a_words"]) + len(inputs["b_words"]) + 2 * macs + len(expected) \
        + len(inputs["desc"]) * 4 * (p.rows + p.cols + 8)
    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    cycles = await bench.run(timeout_cycles=int(slowdown * 2 * work) + 500, progress=progress)

    # The job ends with its last tile's final row, which may be padding dropped after the
    # last C beat: let the counters settle.
    await ClockCycles(dut.clk, p.rows + 2)
    c_rows, c_last = unpack_rows(c_sink.received, p.acc_width, p.cols, p.acc_signed, flag_offset=p.cols * p.acc_width)
    if job.get("check"):
        Scoreboard(f"{job['name']}: C beats", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in c_rows])
        dut._log.info("  %d jobs, %d C beats: bit-exact", len(inputs["desc"]), len(c_rows))
    return {
        "c": c_rows,
        "c_last": c_last,
        "cycle_count": np.int64(dut.cycle_count.value.to_unsigned()),
        "mac_count": np.int64(dut.mac_count.value.to_unsigned()),
        "bench_cycles": np.int64(cycles),
    }


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_gemm_job)
