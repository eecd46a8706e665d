"""cocotb testbench of the broadcast engines (designs ``tree``, ``matrix2d``, ``cube3d``).

Each job is a stream of beats: ``a_beats`` (beats, rows, depth), ``b_beats`` (beats, depth,
cols) and ``last`` (beats,), which ends a tile. The bench streams them with random source
stalls on ``a`` and ``b`` (independently) and random backpressure on ``c``, collects the result
rows, and, when the job asks for it, compares them with the bit-exact golden model.
"""

import cocotb

from ..generators import get_design
from .engines_host import expected_rows
from .packing import pack_rows
from .streams import StreamSink, StreamSource, seeded_rng
from .tb_common import collect_tile_rows, run_jobs


async def run_tile_job(bench, config, job, inputs, *, params, golden_rows, skew: int = 0):
    """One job of a tile engine with ``a``/``b`` beat streams and ``c`` result rows (the
    broadcast engines, and the systolic array with ``skew = cols``): stream the beats with
    random stalls and backpressure, collect the rows, compare them with ``golden_rows(params,
    inputs)`` when the job asks for it."""
    dut = bench.dut
    p = params
    last = inputs["last"].astype(bool)
    beats = len(last)
    tiles = int(last.sum())
    a_beats = inputs["a_beats"].reshape(beats, p.rows * p.depth)
    b_beats = inputs["b_beats"].reshape(beats, p.depth * p.cols)

    seed = config["seed"]
    a_src = StreamSource(dut, "a", stall=job["stall"], rng=seeded_rng(seed, job["name"], "a"))
    b_src = StreamSource(dut, "b", stall=job["stall"], rng=seeded_rng(seed, job["name"], "b"))
    c_sink = StreamSink(dut, "c", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "c"))
    bench.sources += [a_src, b_src]
    bench.sinks.append(c_sink)
    await bench.reset()

    a_src.send(pack_rows(a_beats, p.a_width, flags=last))
    b_src.send(pack_rows(b_beats, p.b_width))
    c_sink.expect_count = tiles * p.rows

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d result rows", cycle, len(c_sink.received), c_sink.expect_count)

    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    budget = int(slowdown * 4 * (beats + tiles * p.rows)) + 4 * (p.rows + skew) + 200
    cycles = await bench.run(timeout_cycles=budget, progress=progress)

    expected = golden_rows(p, inputs) if job.get("check") else None
    return collect_tile_rows(dut, p, job, c_sink, expected, cycles)


async def run_engine_job(bench, config, job, inputs):
    params = get_design(config["design"]).params(**config["params"])
    return await run_tile_job(bench, config, job, inputs, params=params, golden_rows=expected_rows)


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_engine_job)
