"""What every cocotb testbench of accelgen shares: its configuration, its job loop, the
streams of a job, and the check of a tile engine's result rows.

:mod:`accelgen.sim.runner` writes a JSON configuration and passes its path as the plusarg
``+accelgen_config=PATH`` (the cocotb runner lets the parent environment override
``extra_env``, so parameters never travel in environment variables). A configuration holds
the design name, its generator module and parameters, the seed and a list of jobs; each job
names an ``.npz`` of inputs, where to write the ``.npz`` of outputs, the stall / backpressure
probabilities, and whether to check the outputs against the golden model inside the
simulation.
"""

import functools
import importlib
import json
from pathlib import Path

import cocotb
import numpy as np

from ..generators import get_design
from .packing import pack_beats, stream_layouts, unpack_beats
from .streams import Scoreboard, StreamBench, reset_trigger, seeded_rng

__all__ = ["load_config", "design_params", "payload_layouts", "run_jobs", "JobStreams", "collect_tile_rows"]


def load_config() -> dict:
    """The configuration written by the runner for this simulation."""
    path = cocotb.plusargs.get("accelgen_config")
    if not path:
        raise RuntimeError("missing plusarg +accelgen_config=PATH (run through accelgen.sim.runner)")
    return json.loads(Path(path).read_text())


def _design(config: dict):
    # Importing the family's own module registers it, so the lookup need not import every
    # family (a quarter second of each simulation's start-up when bytecode is not cached).
    if "generator" in config:
        importlib.import_module(config["generator"])
    return get_design(config["design"])


def design_params(config: dict):
    """The parameters of the simulated configuration."""
    return _design(config).params(**config["params"])


@functools.cache
def _layouts(design: str, params_json: str) -> dict:
    params = get_design(design).params(**json.loads(params_json))
    return stream_layouts(get_design(design).component(params))


def payload_layouts(config: dict) -> dict:
    """The payload layout of every stream of the simulated design, by stream name: the
    component's own layouts, so packing can never disagree with the hardware."""
    _design(config)
    return _layouts(config["design"], json.dumps(config["params"], sort_keys=True))


async def run_jobs(dut, run_job) -> None:
    """Run every job of the configuration through ``await run_job(bench, config, job, inputs)``.

    One :class:`~accelgen.verif.streams.StreamBench` (one clock) serves all jobs; each job
    resets the design and installs its own sources and sinks. ``run_job`` returns a dict of
    arrays, saved to the job's output ``.npz`` with the beats that crossed the ports
    (``stream_beats_in``, ``stream_beats_out``) and the job's clock cycles (``stream_cycles``).
    """
    config = load_config()
    params = config["params"]
    bench = StreamBench(dut, interface=params.get("interface", "native"), axis_reset=params.get("axis_reset", "aresetn"),
                        layouts=payload_layouts(config))
    dut._log.info("accelgen: seed %s, %d job(s)", config["seed"], len(config["jobs"]))
    for index, job in enumerate(config["jobs"]):
        dut._log.info("job %d/%d: %s", index + 1, len(config["jobs"]), job["name"])
        with np.load(job["inputs"]) as npz:
            inputs = {key: npz[key] for key in npz.files}
        bench.sources.clear()
        bench.sinks.clear()
        start = bench.cycle
        outputs = await run_job(bench, config, job, inputs)
        # What went through the ports (the soak's accounting): beats in and out, clock cycles.
        outputs |= {"stream_beats_in": np.int64(sum(source.sent for source in bench.sources)),
                    "stream_beats_out": np.int64(sum(len(sink.received) for sink in bench.sinks)),
                    "stream_cycles": np.int64(bench.cycle - start)}
        if bench.reset_report is not None:
            outputs |= {key: np.int64(value) for key, value in bench.reset_report.items()}
            bench.reset_report = None
        np.savez(job["outputs"], **outputs)


class JobStreams:
    """The streams of one job: a source per input stream and a sink per output stream, with the
    job's stall and backpressure probabilities and patterns seeded by (seed, job, stream), and
    payloads packed and unpacked by the design's own layouts.

    Parameters
    ----------
    bench : StreamBench
    config : dict
        The simulation's configuration.
    job : dict
        The job (``name``, ``stall``, ``backpressure``).
    """

    def __init__(self, bench: StreamBench, config: dict, job: dict):
        self.bench = bench
        self.dut = bench.dut
        self.job = job
        self.params = design_params(config)
        self.layouts = payload_layouts(config)
        self._seed = config["seed"]
        self._sinks = {}
        self._sends, self._expects = [], []  # replayed after a reset in mid-stream

    def _rng(self, stream: str):
        return seeded_rng(self._seed, self.job["name"], stream)

    def send(self, stream: str, **fields) -> None:
        """Queue the beats of input ``stream`` (fields as for :func:`~accelgen.verif.packing.pack_beats`)."""
        self._sends.append((stream, fields))
        source = self.bench.source(stream, stall=self.job["stall"], rng=self._rng(stream))
        source.send(pack_beats(self.layouts[stream], **fields))
        self.bench.sources.append(source)

    def expect(self, stream: str, count: int) -> None:
        """Take ``count`` beats from output ``stream``."""
        self._expects.append((stream, count))
        sink = self.bench.sink(stream, backpressure=self.job["backpressure"], rng=self._rng(stream))
        sink.expect_count = count
        self.bench.sinks.append(sink)
        self._sinks[stream] = sink

    async def run(self, work: int, margin: int = 200, factor: int = 4) -> int:
        """Reset the design and run until every beat is sent and received; return the cycles.

        The timeout is ``factor * work`` cycles, stretched by the stall and backpressure
        probabilities, plus ``margin`` (fill and drain). A job with ``reset_at = (beats,
        delay)`` is first run until that point (:func:`~accelgen.verif.streams.reset_trigger`),
        then the design is reset in mid-stream and the job runs again from its first beat on
        fresh sources and sinks: its results must be exact, with no beat left over from
        before the reset.
        """
        timeout = int(work * factor / max(0.05, (1 - self.job["stall"]) * (1 - self.job["backpressure"]))) + margin

        def progress(cycle):
            counts = ", ".join(f"{len(sink.received)}/{sink.expect_count} on {name}" for name, sink in self._sinks.items())
            self.dut._log.info("  cycle %d: %s", cycle, counts)

        if self.job.get("reset_at"):
            await self.bench.reset()
            await self.bench.run(timeout_cycles=timeout, progress=progress,
                                 stop=reset_trigger(self.bench, self.job["reset_at"]))
            self.dut._log.info("  reset in mid-stream: %s", self.bench.reset_report)
            self._replay()
        await self.bench.reset()
        return await self.bench.run(timeout_cycles=timeout, progress=progress)

    def _replay(self) -> None:
        """Fresh sources and sinks with the job's beats from the start (patterns re-seeded)."""
        sends, expects = self._sends, self._expects
        self.bench.sources.clear()
        self.bench.sinks.clear()
        self._sinks, self._sends, self._expects = {}, [], []
        for stream, fields in sends:
            self.send(stream, **fields)
        for stream, count in expects:
            self.expect(stream, count)

    def received(self, stream: str) -> dict:
        """The beats received on ``stream``, unpacked field by field."""
        return unpack_beats(self.layouts[stream], self._sinks[stream].received)

    def counters(self, *names) -> dict:
        """The design's counter outputs (``cycle_count``, ``mac_count``, ...) as int64 scalars."""
        return {name: np.int64(getattr(self.dut, name).value.to_unsigned()) for name in names}


def collect_tile_rows(streams: JobStreams, expected, cycles: int) -> dict:
    """Outputs of a tile engine's job (result rows on ``c``, ``rows`` rows per tile).

    When ``expected`` rows are given, checks them and the ``last`` flags (set on each tile's
    final row) with scoreboards. Returns the job's output arrays: ``c``, ``c_last``, the
    design's ``cycle_count`` and ``mac_count``, and the bench's cycles.
    """
    p, name = streams.params, streams.job["name"]
    rows = streams.received("c")
    c_rows, c_last = rows["data"], rows["last"]
    if expected is not None:
        row_in_tile = np.arange(len(c_rows)) % p.rows
        Scoreboard(f"{name}: result rows", describe=lambda row: list(row)).check(
            [tuple(row) for row in expected], [tuple(row) for row in c_rows]
        )
        Scoreboard(f"{name}: c.last flags").check(list((row_in_tile == p.rows - 1).astype(int)), list(c_last))
        streams.dut._log.info("  %d result rows: bit-exact", len(c_rows))
    return {"c": c_rows, "c_last": c_last, **streams.counters("cycle_count", "mac_count"),
            "bench_cycles": np.int64(cycles)}
