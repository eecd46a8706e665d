"""cocotb testbench of the broadcast engines (designs ``tree``, ``matrix2d``, ``cube3d``).

Each job is a stream of beats: ``a_beats`` (beats, rows, depth), ``b_beats`` (beats, depth,
cols) and ``last`` (beats,), which ends a tile. The bench streams them with random source
stalls on ``a`` and ``b`` (independently) and random backpressure on ``c``, collects the result
rows, and, when the job asks for it, compares them with the bit-exact golden model.
"""

import cocotb

from .engines_host import expected_rows
from .tb_common import JobStreams, collect_tile_rows, run_jobs


async def run_tile_job(bench, config, job, inputs, *, golden_rows=expected_rows, skew: int = 0):
    """One job of a tile engine with ``a``/``b`` beat streams and ``c`` result rows (the
    broadcast engines, and the systolic array with ``skew = cols``): stream the beats with
    random stalls and backpressure, collect the rows, compare them with ``golden_rows(params,
    inputs)`` when the job asks for it."""
    streams = JobStreams(bench, config, job)
    p = streams.params
    last = inputs["last"].astype(bool)
    tiles = int(last.sum())
    streams.send("a", data=inputs["a_beats"], last=last)
    streams.send("b", data=inputs["b_beats"])
    streams.expect("c", tiles * p.rows)
    cycles = await streams.run(len(last) + tiles * p.rows, margin=4 * (p.rows + skew) + 200)
    expected = golden_rows(p, inputs) if job.get("check") else None
    return collect_tile_rows(streams, expected, cycles)


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_tile_job)
