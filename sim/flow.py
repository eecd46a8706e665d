"""The pipeline of one configuration: generate -> build -> simulate -> check -> synthesize.

Every command, sweep and benchmark runs its configurations through these functions:

- :func:`generate`: Verilog, ``params.json``, ``manifest.json`` and the FuseSoC core
  (:mod:`accelgen.sim.fusesoc`) in a folder;
- :func:`run_jobs`: the Verilator build (cached) and the cocotb testbench on a list of jobs;
- :func:`verify`: :func:`run_jobs` on the design's regression (or the caller's jobs), then the
  host model's check against the golden model: a :class:`Verdict`;
- :func:`run_user`: the user's own tensors through the RTL;
- :func:`synthesize`: one synthesis flow on a generated design: a :class:`Synthesis` (the report
  and its summary from :func:`accelgen.synth.summary`);
- :func:`characterize`: generate, verify and synthesize one configuration in one folder.

The host model and testbench of a design come from :func:`accelgen.verif.plan_for`.
"""

import dataclasses
import random
import re
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np

from ..generators import Design, DesignParams, get_design
from ..generators.export import write_design, write_manifest
from ..synth import run_flow, summary
from ..verif import plan_for
from ..verif.protocol import check_user_arrays
from .fusesoc import write_core
from .runner import Build, build, simulate

__all__ = ["Simulation", "Verdict", "Synthesis", "Characterization", "generate", "run_jobs", "verify", "user_jobs",
           "run_user", "synthesize", "characterize"]

#: Lines of the simulator log that report the testbench's progress.
_PROGRESS = re.compile(r"(job \d+/\d+: .*|cycle \d+: .*)$")


@dataclasses.dataclass(frozen=True)
class Simulation:
    """Jobs run on a built configuration.

    Attributes
    ----------
    built : accelgen.sim.runner.Build
        The Verilator build (Verilog, build folder, waveform flag).
    workdir : pathlib.Path
        The run's folder: job inputs and outputs, ``sim.log``, waveforms.
    jobs : list of dict
        The jobs, as given.
    outputs : list of dict
        Each job's output arrays.
    """

    built: Build
    workdir: Path
    jobs: list
    outputs: list


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of verifying one configuration.

    Attributes
    ----------
    seed : int
        Seed of the stimulus and of the simulation.
    jobs : list of dict
        The jobs that ran.
    outputs : list of dict
        Each job's output arrays; empty if the simulation failed (see ``problems``).
    problems : list of str
        Mismatches against the golden model and the cycle models, or the simulation's error;
        empty when everything was exact.
    job_problems : list of list of str or None
        The problems of each job, when the jobs were checked one by one (``per_job=True``).
    simulation : Simulation or None
        The run, or ``None`` if it failed.
    """

    seed: int
    jobs: list
    outputs: list
    problems: list
    job_problems: list | None = None
    simulation: Simulation | None = None

    @property
    def passed(self) -> bool:
        """Whether the simulation ran and every check held."""
        return self.simulation is not None and not self.problems


@dataclasses.dataclass(frozen=True)
class Synthesis:
    """One synthesis flow's result.

    Attributes
    ----------
    target : str
        The flow (:data:`accelgen.synth.TARGETS`).
    report : dict
        Everything the flow reports.
    summary : dict
        The figures that matter (:func:`accelgen.synth.summary`).
    path : pathlib.Path
        The report's JSON file.
    """

    target: str
    report: dict
    summary: dict
    path: Path


@dataclasses.dataclass(frozen=True)
class Characterization:
    """A configuration generated, verified and synthesized (:func:`characterize`)."""

    manifest: dict
    verdict: Verdict
    synthesis: Synthesis


def _design(design: Design | str) -> Design:
    return get_design(design) if isinstance(design, str) else design


def generate(design: Design | str, params: DesignParams, out_dir: Path, *, vlnv: str | None = None) -> dict:
    """Write the Verilog, ``params.json``, ``manifest.json`` and the FuseSoC core
    (``<module>.core`` and its waiver file ``<module>.vlt``) of one configuration into
    ``out_dir``; return the manifest (``verilog``: file name, ``module``: top module,
    ``core``: the core's file name). ``vlnv`` names the core (default
    :func:`accelgen.sim.fusesoc.core_name`)."""
    out_dir = Path(out_dir)
    manifest = write_design(_design(design), params, out_dir)
    manifest["core"] = write_core(manifest, out_dir, name=vlnv).name
    write_manifest(manifest, out_dir)
    return manifest


def _new_workdir(built: Build, label: str) -> Path:
    path = built.build_dir / f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(1 << 16):04x}"
    path.mkdir(parents=True)
    return path


def _tail_progress(log: Path, stop: threading.Event, progress: Callable[[str], None]) -> None:
    """Hand the testbench's progress lines from the simulator log to ``progress`` while it runs."""
    position = 0
    while not stop.wait(1.0):
        if not log.exists():
            continue
        with open(log, errors="replace") as handle:
            handle.seek(position)
            for line in handle:
                match = _PROGRESS.search(line)
                if match:
                    progress(match.group(0))
            position = handle.tell()


def run_jobs(design: Design | str, params: DesignParams, jobs: list[dict], *, seed: int,
             workdir: Path | None = None, label: str = "run", waves=None,
             progress: Callable[[str], None] | None = None) -> Simulation:
    """Build one configuration (or reuse its cached build) and run its testbench on ``jobs``.

    Parameters
    ----------
    design : Design or str
        The design (or its registry name).
    params : DesignParams
        Its configuration.
    jobs : list of dict
        Simulation jobs (:mod:`accelgen.verif.protocol`).
    seed : int
        Seed of the simulation (stalls and backpressure).
    workdir : pathlib.Path, optional
        The run's folder (default: a new folder ``<label>-<date>-<time>-<random>`` in the build
        folder).
    label : str, optional
        First part of the default folder's name.
    waves : bool or accelgen.sim.waves.WaveOptions, optional
        Record a waveform, optionally of limited depth and a window of cycles (default:
        ``WAVES`` in the environment).
    progress : callable, optional
        Called with each progress line of the testbench (``job i/n: ...``) while it runs.

    Raises
    ------
    accelgen.sim.runner.SimulationError
        If the testbench fails or the simulator crashes.
    """
    built = build(_design(design), params, waves=waves)
    workdir = _new_workdir(built, label) if workdir is None else Path(workdir)
    if progress is None:
        return Simulation(built, workdir, jobs, simulate(built, jobs, seed=seed, workdir=workdir))
    stop = threading.Event()
    watcher = threading.Thread(target=_tail_progress, args=(workdir / "sim.log", stop, progress), daemon=True)
    watcher.start()
    try:
        return Simulation(built, workdir, jobs, simulate(built, jobs, seed=seed, workdir=workdir))
    finally:
        stop.set()
        watcher.join()


def verify(design: Design | str, params: DesignParams, *, seed: int, jobs: list[dict] | None = None,
           workdir: Path | None = None, label: str = "sim", waves=None,
           progress: Callable[[str], None] | None = None, per_job: bool = False,
           record_errors: bool = False) -> Verdict:
    """Simulate one configuration and check it against the golden model.

    Parameters
    ----------
    design, params, seed, workdir, label, waves, progress
        As for :func:`run_jobs`.
    jobs : list of dict, optional
        The jobs to run (default: the host model's regression jobs, from
        ``numpy.random.default_rng(seed)``).
    per_job : bool, optional
        Check each job on its own and keep its problems in :attr:`Verdict.job_problems`.
    record_errors : bool, optional
        A failing testbench (:class:`~accelgen.sim.runner.SimulationError`) or check becomes
        the verdict's problem (its first line) instead of an exception.

    Returns
    -------
    Verdict
    """
    design = _design(design)
    host = plan_for(design.name).host
    if jobs is None:
        jobs = host.regression_jobs(params, np.random.default_rng(seed))
    try:
        run = run_jobs(design, params, jobs, seed=seed, workdir=workdir, label=label, waves=waves, progress=progress)
        if per_job:
            job_problems = [host.check(params, [job], [out]) for job, out in zip(jobs, run.outputs)]
            problems = [problem for found in job_problems for problem in found]
        else:
            job_problems, problems = None, host.check(params, jobs, run.outputs)
    except AssertionError as error:
        if not record_errors:
            raise
        return Verdict(seed, jobs, [], [str(error).splitlines()[0]])
    return Verdict(seed, jobs, run.outputs, problems, job_problems, run)


def user_jobs(design: Design | str, params: DesignParams, arrays: dict) -> list[dict]:
    """The jobs that compute the user's tensors ``arrays``; ``ValueError`` if they do not fit
    (unknown names, non-numeric, empty or non-finite arrays are refused before the host model
    sees them: :func:`accelgen.verif.protocol.check_user_arrays`)."""
    host = plan_for(_design(design).name).host
    check_user_arrays(host, arrays)
    return host.user_jobs(params, arrays)


def run_user(design: Design | str, params: DesignParams, arrays: dict, *, seed: int, jobs: list[dict] | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
    """The user's tensors through the RTL: the arrays of the output file (results and counters).

    ``jobs`` are :func:`user_jobs` of ``arrays`` (computed when not given); the run's folder is
    a new ``run-...`` folder in the build folder.
    """
    design = _design(design)
    jobs = user_jobs(design, params, arrays) if jobs is None else jobs
    run = run_jobs(design, params, jobs, seed=seed, label="run", progress=progress)
    return plan_for(design.name).host.user_outputs(params, arrays, run.outputs)


def synthesize(out_dir: Path, manifest: dict, target: str, *, workdir: Path | None = None,
               keys=None) -> Synthesis:
    """Run the ``target`` flow on the design :func:`generate` wrote into ``out_dir``.

    The flow works in ``workdir`` (default ``out_dir/synth_<target>``) and saves its report
    there as ``synth_<target>.json``; ``keys`` choose the summary's figures (default: the
    target's headline, see :func:`accelgen.synth.summary`).
    """
    out_dir = Path(out_dir)
    workdir = out_dir / f"synth_{target}" if workdir is None else Path(workdir)
    report = run_flow(out_dir / manifest["verilog"], manifest["module"], workdir, target)
    return Synthesis(target, report, summary(report, target, keys), workdir / f"synth_{target}.json")


def characterize(design: Design | str, params: DesignParams, out_dir: Path, *, seed: int, target: str = "generic",
                 keys=None, record_errors: bool = False,
                 on_step: Callable[[str, object], None] | None = None) -> Characterization:
    """Generate, verify and synthesize one configuration, all in ``out_dir``.

    The design goes to ``out_dir``, the regression runs in ``out_dir/sim`` (:func:`verify` with
    ``seed``; ``record_errors`` as there), the ``target`` flow in ``out_dir/synth_<target>``
    (:func:`synthesize` with ``keys``). ``on_step(step, result)``, if given, is called after
    each step: ``("generated", manifest)``, ``("verified", verdict)``,
    ``("synthesized", synthesis)``.
    """
    out_dir = Path(out_dir)
    notify = on_step or (lambda step, result: None)
    manifest = generate(design, params, out_dir)
    notify("generated", manifest)
    verdict = verify(design, params, seed=seed, workdir=out_dir / "sim", record_errors=record_errors)
    notify("verified", verdict)
    synthesis = synthesize(out_dir, manifest, target, keys=keys)
    notify("synthesized", synthesis)
    return Characterization(manifest, verdict, synthesis)
