"""cocotb testbench of the streaming softmax (design ``softmax``).

Each job is a padded matrix of rows (``x``, ``length``, ``mask``; see
:mod:`accelgen.verif.softmax_host`). The bench streams its beats with random source stalls
on ``x`` and random backpressure on ``y``, collects the output beats and, when the job asks
for it, compares them (values and ``last`` flags, in order) with the bit-exact golden model.
"""

import cocotb
import numpy as np

from .softmax_host import beats_to_rows, expected_rows, rows_to_beats
from .streams import Scoreboard
from .tb_common import JobStreams, run_jobs


def _lane_mask(bits) -> np.ndarray:
    """Per-lane bits ``(beats, lanes)`` as the ``lanes``-bit field values (lane ``i`` at bit ``i``)."""
    bits = np.asarray(bits, dtype=np.int64)
    return (bits << np.arange(bits.shape[1])).sum(axis=1)


async def run_softmax_job(bench, config, job, inputs):
    streams = JobStreams(bench, config, job)
    p = streams.params
    beats = rows_to_beats(p, inputs)
    count = len(beats["last"])
    flags = {"keep": _lane_mask(beats["keep"])}
    if p.masking:
        flags["mask"] = _lane_mask(beats["mask"])
    streams.send("x", data=beats["data"], last=beats["last"], **flags)
    streams.expect("y", count)
    cycles = await streams.run(count, margin=6 * p.row_beats + 4 * (p.exp_latency + p.recip_latency) + 400)

    y = streams.received("y")
    y_beats, y_last = y["data"], y["last"]
    if job.get("check"):
        Scoreboard(f"{job['name']}: y.last flags").check(list(beats["last"]), list(y_last))
        expected = expected_rows(p, inputs)
        got = beats_to_rows(p, inputs, y_beats)
        Scoreboard(f"{job['name']}: output rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in got])
        streams.dut._log.info("  %d rows, %d beats: bit-exact", len(inputs["length"]), count)
    return {"y_beats": y_beats, "y_last": y_last, "cycles": np.int64(cycles)}


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_softmax_job)
