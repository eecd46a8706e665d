"""cocotb testbench of the weight-stationary systolic array (design ``systolic_ws``).

Each job streams weight tiles on ``w`` and activation rows on ``a`` with independent random
source stalls, takes the result rows from ``c`` under random backpressure and, when the job
asks for it, compares them (and their ``last`` flags) with the bit-exact golden model.
"""

import cocotb
import numpy as np

from ..generators.systolic_ws import SystolicWSParams
from .packing import pack_rows, unpack_rows
from .streams import Scoreboard, StreamSink, StreamSource, seeded_rng
from .systolic_ws_host import expected_rows
from .tb_common import run_jobs


async def run_ws_job(bench, config, job, inputs):
    dut = bench.dut
    p = SystolicWSParams(**config["params"])
    last = inputs["last"].astype(bool)
    seed = config["seed"]
    w_src = StreamSource(dut, "w", stall=job["stall"], rng=seeded_rng(seed, job["name"], "w"))
    a_src = StreamSource(dut, "a", stall=job["stall"], rng=seeded_rng(seed, job["name"], "a"))
    c_sink = StreamSink(dut, "c", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "c"))
    bench.sources += [w_src, a_src]
    bench.sinks.append(c_sink)
    await bench.reset()

    w_src.send(pack_rows(inputs["w_beats"], p.b_width))
    a_src.send(pack_rows(inputs["a_beats"], p.a_width, flags=last))
    c_sink.expect_count = len(last)

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d result rows", cycle, len(c_sink.received), c_sink.expect_count)

    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    work = len(last) + len(inputs["w_beats"]) + int(last.sum()) * (2 * p.rows + p.cols)
    cycles = await bench.run(timeout_cycles=int(slowdown * 4 * work) + 200, progress=progress)

    c_rows, c_last = unpack_rows(c_sink.received, p.acc_width, p.cols, p.acc_signed, flag_offset=p.cols * p.acc_width)
    if job.get("check"):
        expected = expected_rows(p, inputs)
        Scoreboard(f"{job['name']}: result rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in c_rows])
        Scoreboard(f"{job['name']}: c.last flags").check(list(last.astype(int)), list(c_last))
        dut._log.info("  %d tiles, %d result rows: bit-exact", int(last.sum()), len(c_rows))
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
    await run_jobs(dut, run_ws_job)
