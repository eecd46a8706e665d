"""cocotb testbench of the tiled GEMM engine (design ``gemm``).

Each job streams its descriptors, A words and B words from three independent sources with
random stalls, takes the C beats under random backpressure and, when asked, compares them
and their ``last`` flags with the golden beats.
"""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from ..hdl.util import ceil_div
from .streams import Scoreboard
from .tb_common import JobStreams, run_jobs


async def run_gemm_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    p = streams.params
    desc = inputs["desc"]
    streams.send("desc", m=desc[:, 0], n=desc[:, 1], k=desc[:, 2])
    streams.send("a", data=inputs["a_words"])
    streams.send("b", data=inputs["b_words"])
    expected = inputs["c_expected"]
    streams.expect("c", len(expected))
    macs = sum(ceil_div(int(m), p.rows) * ceil_div(int(n), p.cols) * int(k) for m, n, k in desc)
    macs = max(macs, sum(int(m) * ceil_div(int(n), p.cols) * int(k) for m, n, k in desc))
    work = len(inputs["a_words"]) + len(inputs["b_words"]) + 2 * macs + len(expected) + len(desc) * 4 * (p.rows + p.cols + 8)
    cycles = await streams.run(work, margin=500, factor=2)

    # The job ends with its last tile's final row, which may be padding dropped after the
    # last C beat: let the counters settle.
    await ClockCycles(streams.bench.clock, p.rows + 2)
    rows = streams.received("c")
    if job.get("check"):
        Scoreboard(f"{job['name']}: C beats", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in rows["data"]])
        streams.dut._log.info("  %d jobs, %d C beats: bit-exact", len(desc), len(rows["data"]))
    return {"c": rows["data"], "c_last": rows["last"], **streams.counters("cycle_count", "mac_count"),
            "bench_cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_gemm_job)
