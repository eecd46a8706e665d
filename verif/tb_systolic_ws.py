"""cocotb testbench of the weight-stationary systolic array (design ``systolic_ws``).

Each job streams weight tiles on ``w`` and activation rows on ``a`` with independent random
source stalls, takes the result rows from ``c`` under random backpressure and, when the job
asks for it, compares them (and their ``last`` flags) with the bit-exact golden model.
"""

import cocotb
import numpy as np

from .streams import Scoreboard
from .systolic_ws_host import expected_rows
from .tb_common import JobStreams, run_jobs


async def run_ws_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    p = streams.params
    last = inputs["last"].astype(bool)
    streams.send("w", data=inputs["w_beats"])
    streams.send("a", data=inputs["a_beats"], last=last)
    streams.expect("c", len(last))
    cycles = await streams.run(len(last) + len(inputs["w_beats"]) + int(last.sum()) * (2 * p.rows + p.cols))

    rows = streams.received("c")
    if job.get("check"):
        expected = expected_rows(p, inputs)
        Scoreboard(f"{job['name']}: result rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in rows["data"]])
        Scoreboard(f"{job['name']}: c.last flags").check(list(last.astype(int)), list(rows["last"]))
        streams.dut._log.info("  %d tiles, %d result rows: bit-exact", int(last.sum()), len(rows["data"]))
    return {"c": rows["data"], "c_last": rows["last"], **streams.counters("cycle_count", "mac_count"),
            "bench_cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_ws_job)
