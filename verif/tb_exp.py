"""cocotb testbench of the stand-alone exp unit (design ``exp``): streams ``d`` codes with
random stalls, takes ``e`` with random backpressure, and compares with the golden exp."""

import cocotb
import numpy as np

from .exp_host import to_beats
from .softmax_golden import exp_int
from .streams import Scoreboard
from .tb_common import JobStreams, run_jobs


async def run_exp_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    p = streams.params
    beats = to_beats(p, inputs["d"])
    streams.send("d", data=beats)
    streams.expect("e", len(beats))
    cycles = await streams.run(len(beats))
    e = streams.received("e")["data"]
    if job.get("check"):
        count = len(inputs["d"])
        Scoreboard(f"{job['name']}: e codes", describe=int).check(
            exp_int(inputs["d"], p.spec).tolist(), e.ravel()[:count].tolist())
        streams.dut._log.info("  %d codes: bit-exact", count)
    return {"e": e, "cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_exp_job)
