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

from .streams import StreamBench

__all__ = ["load_config", "run_jobs"]


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
