"""cocotb testbench of the stand-alone exp unit (design ``exp``): streams ``d`` codes with
random stalls, takes ``e`` with random backpressure, and compares with the golden exp."""

import cocotb
import numpy as np

from ..generators.exp import ExpParams
from .exp_host import to_beats
from .packing import pack_rows, unpack_rows
from .softmax_golden import exp_int
from .streams import Scoreboard, StreamSink, StreamSource, seeded_rng
from .tb_common import run_jobs


async def run_exp_job(bench, config, job, inputs):
    dut = bench.dut
    p = ExpParams(**config["params"])
    beats = to_beats(p, inputs["d"])
    seed = config["seed"]
    source = StreamSource(dut, "d", stall=job["stall"], rng=seeded_rng(seed, job["name"], "d"))
    sink = StreamSink(dut, "e", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "e"))
    bench.sources.append(source)
    bench.sinks.append(sink)
    await bench.reset()
    source.send(pack_rows(beats, p.width))
    sink.expect_count = len(beats)
    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    cycles = await bench.run(timeout_cycles=int(slowdown * 4 * len(beats)) + 200)
    e_beats, _ = unpack_rows(sink.received, p.exp_frac + 1, p.lanes, False)
    e = e_beats.reshape(len(sink.received), p.lanes)
    if job.get("check"):
        count = len(inputs["d"])
        Scoreboard(f"{job['name']}: e codes", describe=int).check(
            exp_int(inputs["d"], p.spec).tolist(), e.ravel()[:count].tolist())
        dut._log.info("  %d codes: bit-exact", count)
    return {"e": e, "cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_exp_job)
