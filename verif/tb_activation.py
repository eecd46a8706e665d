"""cocotb testbench of the elementwise activation units (designs ``gelu`` and ``silu``).

Each job is a stream of input beats ``x`` (beats, lanes). The bench sends them with random
source stalls, takes ``y`` with random backpressure, and, when the job asks for it, compares
every output beat in order with the bit-exact golden model (nothing lost, duplicated or
reordered).
"""

import cocotb

from ..generators import get_design
from .activation_host import expected_beats
from .packing import pack_rows, unpack_rows
from .streams import Scoreboard, StreamSink, StreamSource, seeded_rng
from .tb_common import run_jobs


async def run_activation_job(bench, config, job, inputs):
    dut = bench.dut
    p = get_design(config["design"]).params(**config["params"])
    beats = inputs["x"]
    seed = config["seed"]
    source = StreamSource(dut, "x", stall=job["stall"], rng=seeded_rng(seed, job["name"], "x"))
    sink = StreamSink(dut, "y", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "y"))
    bench.sources.append(source)
    bench.sinks.append(sink)
    await bench.reset()

    source.send(pack_rows(beats, p.width))
    sink.expect_count = len(beats)

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d output beats", cycle, len(sink.received), sink.expect_count)

    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    cycles = await bench.run(timeout_cycles=int(4 * slowdown * len(beats)) + 4 * p.latency + 100, progress=progress)
    y, _ = unpack_rows(sink.received, p.out_width, p.lanes, True)
    if job.get("check"):
        expected = expected_beats(p, beats)
        Scoreboard(f"{job['name']}: output beats", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in y]
        )
        dut._log.info("  %d beats (%d elements): bit-exact", len(y), y.size)
    return {"y": y, "bench_cycles": cycles}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_activation_job)
