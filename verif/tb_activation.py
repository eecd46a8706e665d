"""cocotb testbench of the elementwise activation units (designs ``gelu`` and ``silu``).

Each job is a stream of input beats ``x`` (beats, lanes). The bench sends them with random
source stalls, takes ``y`` with random backpressure, and, when the job asks for it, compares
every output beat in order with the bit-exact golden model (nothing lost, duplicated or
reordered).
"""

import cocotb

from .activation_host import expected_beats
from .streams import Scoreboard
from .tb_common import JobStreams, run_jobs


async def run_activation_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    p = streams.params
    beats = inputs["x"]
    streams.send("x", data=beats)
    streams.expect("y", len(beats))
    cycles = await streams.run(len(beats), margin=4 * p.latency + 100)
    y = streams.received("y")["data"]
    if job.get("check"):
        expected = expected_beats(p, beats)
        Scoreboard(f"{job['name']}: output beats", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in y]
        )
        streams.dut._log.info("  %d beats (%d elements): bit-exact", len(y), y.size)
    return {"y": y, "bench_cycles": cycles}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_activation_job)
