"""cocotb testbench of the streaming softmax (design ``softmax``).

Each job is a padded matrix of rows (``x``, ``length``, ``mask``; see
:mod:`accelgen.verif.softmax_host`). The bench streams its beats with random source stalls
on ``x`` and random backpressure on ``y``, collects the output beats and, when the job asks
for it, compares them (values and ``last`` flags, in order) with the bit-exact golden model.
"""

import cocotb
import numpy as np

from ..generators.softmax import SoftmaxParams
from .packing import pack_array, unpack_rows
from .softmax_host import beats_to_rows, expected_rows, rows_to_beats
from .streams import Scoreboard, StreamSink, StreamSource, seeded_rng
from .tb_common import run_jobs


def pack_beats(params, beats) -> list[int]:
    """Payload words of ``x``: data, keep, [mask,] last, from bit 0 up."""
    lanes = params.lanes
    words = []
    for data, keep, mask, last in zip(beats["data"], beats["keep"], beats["mask"], beats["last"]):
        offset = lanes * params.width
        word = pack_array(data, params.width) | (pack_array(keep, 1) << offset)
        offset += lanes
        if params.masking:
            word |= pack_array(mask, 1) << offset
            offset += lanes
        words.append(word | (int(last) << offset))
    return words


async def run_softmax_job(bench, config, job, inputs):
    dut = bench.dut
    p = SoftmaxParams(**config["params"])
    beats = rows_to_beats(p, inputs)
    count = len(beats["last"])
    seed = config["seed"]
    x_src = StreamSource(dut, "x", stall=job["stall"], rng=seeded_rng(seed, job["name"], "x"))
    y_sink = StreamSink(dut, "y", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "y"))
    bench.sources.append(x_src)
    bench.sinks.append(y_sink)
    await bench.reset()
    x_src.send(pack_beats(p, beats))
    y_sink.expect_count = count

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d output beats", cycle, len(y_sink.received), count)

    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    budget = int(slowdown * 4 * count) + 6 * p.row_beats + 4 * (p.exp_latency + p.recip_latency) + 400
    cycles = await bench.run(timeout_cycles=budget, progress=progress)
    y_beats, y_last = unpack_rows(y_sink.received, p.out_frac, p.lanes, False, flag_offset=p.lanes * p.out_frac)
    y_beats = y_beats.reshape(len(y_sink.received), p.lanes)
    if job.get("check"):
        Scoreboard(f"{job['name']}: y.last flags").check(list(beats["last"]), list(y_last))
        expected = expected_rows(p, inputs)
        got = beats_to_rows(p, inputs, y_beats)
        Scoreboard(f"{job['name']}: output rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in got])
        dut._log.info("  %d rows, %d beats: bit-exact", len(inputs["length"]), count)
    return {"y_beats": y_beats, "y_last": y_last, "cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_softmax_job)
