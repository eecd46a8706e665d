"""What every cocotb testbench of accelgen shares: its configuration and its job loop.

:mod:`accelgen.sim.runner` writes a JSON configuration and passes its path as the plusarg
``+accelgen_config=PATH`` (the cocotb runner lets the parent environment override
``extra_env``, so parameters never travel in environment variables). A configuration holds
the design parameters, the seed and a list of jobs; each job names an ``.npz`` of inputs,
where to write the ``.npz`` of outputs, the stall / backpressure probabilities, and whether
to check the outputs against the golden model inside the simulation.
"""

import json
from pathlib import Path

import cocotb
import numpy as np

from .packing import unpack_rows
from .streams import Scoreboard, StreamBench

__all__ = ["load_config", "run_jobs", "collect_tile_rows"]


def load_config() -> dict:
    """The configuration written by the runner for this simulation."""
    path = cocotb.plusargs.get("accelgen_config")
    if not path:
        raise RuntimeError("missing plusarg +accelgen_config=PATH (run through accelgen.sim.runner)")
    return json.loads(Path(path).read_text())


async def run_jobs(dut, run_job) -> None:
    """Run every job of the configuration through ``await run_job(bench, config, job, inputs)``.

    One :class:`~accelgen.verif.streams.StreamBench` (one clock) serves all jobs; each job
    resets the design and installs its own sources and sinks. ``run_job`` returns a dict of
    arrays, saved to the job's output ``.npz``.
    """
    config = load_config()
    bench = StreamBench(dut)
    dut._log.info("accelgen: seed %s, %d job(s)", config["seed"], len(config["jobs"]))
    for index, job in enumerate(config["jobs"]):
        dut._log.info("job %d/%d: %s", index + 1, len(config["jobs"]), job["name"])
        with np.load(job["inputs"]) as npz:
            inputs = {key: npz[key] for key in npz.files}
        bench.sources.clear()
        bench.sinks.clear()
        outputs = await run_job(bench, config, job, inputs)
        np.savez(job["outputs"], **outputs)


def collect_tile_rows(dut, params, job: dict, c_sink, expected, cycles: int) -> dict:
    """Outputs of a tile engine's job (result rows on ``c``, ``rows`` rows per tile).

    Unpacks the received ``c`` beats (``cols`` accumulators of ``params.acc_width`` bits, then
    ``last``); when ``expected`` rows are given, checks them and the ``last`` flags (set on
    each tile's final row) with scoreboards. Returns the job's output arrays: ``c``,
    ``c_last``, the design's ``cycle_count`` and ``mac_count``, and the bench's cycles.
    """
    p = params
    c_rows, c_last = unpack_rows(
        c_sink.received, p.acc_width, p.cols, p.acc_signed, flag_offset=p.cols * p.acc_width
    )
    if expected is not None:
        row_in_tile = np.arange(len(c_sink.received)) % p.rows
        Scoreboard(f"{job['name']}: result rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in c_rows]
        )
        Scoreboard(f"{job['name']}: c.last flags").check(
            list((row_in_tile == p.rows - 1).astype(int)), list(c_last)
        )
        dut._log.info("  %d result rows: bit-exact", len(c_rows))
    return {
        "c": c_rows,
        "c_last": c_last,
        "cycle_count": np.int64(dut.cycle_count.value.to_unsigned()),
        "mac_count": np.int64(dut.mac_count.value.to_unsigned()),
        "bench_cycles": np.int64(cycles),
    }
