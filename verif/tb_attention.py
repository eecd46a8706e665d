"""cocotb testbench of the fused attention array (design ``attention``).

Each job streams its descriptors and the ``q``, ``k``, ``v`` beats from four independent
sources with random stalls, takes the ``o`` beats under random backpressure and, when asked,
compares them and their ``last`` flags with the golden beats.
"""

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from ..generators.attention import STALL_COUNTERS
from .streams import Scoreboard
from .tb_common import JobStreams, run_jobs


async def run_attention_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    desc = inputs["desc"]
    streams.send("desc", nq=desc[:, 0], nkv=desc[:, 1], d=desc[:, 2], causal=desc[:, 3])
    streams.send("q", data=inputs["q_words"])
    streams.send("k", data=inputs["k_words"])
    streams.send("v", data=inputs["v_words"])
    expected = inputs["o_expected"]
    streams.expect("o", len(expected))
    # Every k and v beat is one array cycle; each job adds its softmax and pipeline latencies.
    work = len(inputs["k_words"]) + len(inputs["v_words"]) + len(expected) + len(desc) * 400
    cycles = await streams.run(work, margin=1000, factor=3)
    await ClockCycles(streams.bench.clock, 2)
    beats = streams.received("o")
    if job.get("check"):
        Scoreboard(f"{job['name']}: output beats", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in beats["data"]])
        streams.dut._log.info("  %d problems, %d output beats: bit-exact", len(desc), len(beats["data"]))
    return {"o": beats["data"], "o_last": beats["last"],
            **streams.counters("cycle_count", "mac_count", *STALL_COUNTERS), "bench_cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_attention_job)
