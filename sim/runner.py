"""Simulation runner: Verilog -> Verilator build (cached) -> cocotb testbench -> outputs.

- :func:`build` exports a configuration and builds it with Verilator once: the build folder is
  named by a hash of the Verilog text and the build flags, and reused by every later test,
  sweep or CLI call (parallel pytest workers wait on a file lock instead of building twice).
- :func:`simulate` runs the design's cocotb testbench (:func:`accelgen.verif.plan_for`) on a list of
  jobs: ``.npz`` inputs in, ``.npz`` outputs back. Parameters reach the testbench in a JSON
  file named by a plusarg, never in environment variables (the cocotb runner lets the parent
  environment override them).
- ``WAVES=1`` in the environment (or ``waves=True``) records a waveform (``dump.fst``, or
  ``dump.vcd`` where the lz4 headers that Verilator's FST writer needs are missing) in the
  run's folder; ``waves=WaveOptions(depth, start, stop)`` limits the traced module levels
  and keeps a window of clock cycles (``dump_window.vcd``, :mod:`accelgen.sim.waves`).
- ``ACCELGEN_SIM_CXX_OPT`` (e.g. ``-O0``) sets the C++ optimization of the model (default:
  Verilator's ``-Os``). The test suite uses ``-O0``: its runs are short, and compiling the
  model took most of their time (a carry-save tree: 115 s at ``-Os``, 31 s at ``-O0``).
"""

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
from cocotb_tools.runner import get_runner

from ..generators import Design, DesignParams
from ..generators.export import to_verilog
from ..verif import plan_for
from .toolchain import WAIVER_FILE, fst_supported, prepare_verilator_env
from .waves import WaveOptions, window_vcd

__all__ = ["Build", "SimulationError", "build", "simulate", "build_root", "BUILD_ARGS", "cxx_opt_args"]

#: Verilator flags of every build (the waiver file is added as a source).
BUILD_ARGS = ("-O2", "--x-assign", "fast", "--x-initial", "fast")
#: Extra flags when waveforms are requested (FST when the lz4 headers exist, else VCD).
FST_ARGS = ("--trace-fst", "--trace-structs")
VCD_ARGS = ("--trace-structs",)
#: Legal values of ``ACCELGEN_SIM_CXX_OPT``: a C++ compiler optimization flag.
CXX_OPT_RE = re.compile(r"-O[0-3sgz]?|-Ofast")


def cxx_opt_args(env=None) -> list[str]:
    """The Verilator flags that set the model's C++ optimization from ``ACCELGEN_SIM_CXX_OPT``
    (none when unset: Verilator's own ``-Os``). They are build flags, so part of the build's hash.
    """
    value = (os.environ if env is None else env).get("ACCELGEN_SIM_CXX_OPT", "").strip()
    if not value:
        return []
    if not CXX_OPT_RE.fullmatch(value):
        raise ValueError(f"ACCELGEN_SIM_CXX_OPT={value!r} is not legal: must be a C++ optimization flag "
                         "(-O0, -O1, -O2, -O3, -Os, -Og, -Oz or -Ofast)")
    # -CFLAGS land after Verilator's OPT_FAST/OPT_SLOW in every compile rule, so they win.
    return ["-CFLAGS", value]


class SimulationError(AssertionError):
    """The testbench failed (mismatch, protocol error, timeout) or the simulator crashed."""


@dataclasses.dataclass(frozen=True)
class Build:
    """A built configuration: its Verilog and the Verilator build folder."""

    design: Design
    params: DesignParams
    module: str
    verilog: Path
    build_dir: Path
    waves: bool
    wave_options: WaveOptions | None = None


def build_root() -> Path:
    """Where builds are cached: ``$ACCELGEN_BUILD_DIR``, else ``./build`` under the current folder."""
    return Path(os.environ.get("ACCELGEN_BUILD_DIR", Path.cwd() / "build")).resolve()


def _waves_requested(waves) -> WaveOptions | None:
    """``waves`` as options (``None``: no waveform); ``WAVES=1`` in the environment when unset."""
    if isinstance(waves, WaveOptions):
        return waves
    if waves is None:
        waves = os.environ.get("WAVES", "0") not in ("", "0")
    return WaveOptions() if waves else None


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build(design: Design, params: DesignParams, *, waves: bool | WaveOptions | None = None) -> Build:
    """Export and Verilator-build one configuration, or reuse the cached build.

    ``waves``: ``True`` or :class:`~accelgen.sim.waves.WaveOptions` (depth, cycle window) to
    record a waveform; ``None`` follows ``WAVES`` in the environment.
    """
    options = _waves_requested(waves)
    waves = options is not None
    module, text = to_verilog(design, params)
    args = list(BUILD_ARGS) + cxx_opt_args()
    if waves:
        # A window is cut from a VCD (text); otherwise FST where Verilator can write it.
        args += FST_ARGS if fst_supported() and not options.windowed else VCD_ARGS
        args += options.build_args()
    key = hashlib.sha256(
        "\n".join([text, WAIVER_FILE.read_text(), *args]).encode()
    ).hexdigest()[:12]
    build_dir = build_root() / "sim" / f"{module}-{key}"
    verilog_path = build_dir / f"{module}.v"
    stamp = build_dir / "built.stamp"
    with _locked(build_root() / "sim" / f"{module}-{key}.lock"):
        if not stamp.exists():
            if build_dir.exists():
                shutil.rmtree(build_dir)  # an interrupted build
            build_dir.mkdir(parents=True)
            verilog_path.write_text(text)
            prepare_verilator_env()
            runner = get_runner("verilator")
            log = build_dir / "build.log"
            try:
                runner.build(
                    sources=[WAIVER_FILE, verilog_path],
                    hdl_toplevel=module,
                    build_dir=build_dir,
                    build_args=args,
                    waves=waves,
                    always=True,
                    log_file=log,
                )
            except RuntimeError as error:
                raise RuntimeError(f"Verilator build of {module} failed{_log_tail(log)}") from error
            stamp.write_text(module + "\n")
    return Build(design, params, module, verilog_path, build_dir, waves, options)


def _log_tail(log: Path, lines: int = 40) -> str:
    if not log.exists():
        return ""
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return f"\n--- last lines of {log} ---\n{tail}"


def _failures(results_xml: Path) -> list[str]:
    if not results_xml.exists():
        return ["the simulator wrote no results (crashed?)"]
    messages = []
    for case in ElementTree.parse(results_xml).iter("testcase"):
        for failure in list(case.iter("failure")) + list(case.iter("error")):
            messages.append(f"{case.get('name')}: {failure.get('message') or failure.text or 'failed'}")
    return messages


def simulate(
    built: Build,
    jobs: list[dict],
    *,
    seed: int,
    workdir: Path | None = None,
) -> list[dict]:
    """Run the design's testbench on ``jobs``; return each job's output arrays.

    Each job is a dict with ``name``, ``inputs`` (dict of arrays), ``stall`` and
    ``backpressure`` (probabilities) and ``check`` (compare with the golden model in the
    testbench). Raises :class:`SimulationError` with the testbench's message on failure.
    The simulator's log is ``workdir/sim.log`` (the testbench reports progress there).
    """
    # The simulator runs inside workdir: every path handed to it must be absolute.
    workdir = Path(workdir).resolve() if workdir is not None else Path(tempfile.mkdtemp(prefix="run-", dir=built.build_dir))
    workdir.mkdir(parents=True, exist_ok=True)
    config_jobs = []
    for index, job in enumerate(jobs):
        inputs = workdir / f"job{index}_in.npz"
        np.savez(inputs, **job["inputs"])
        config_jobs.append(
            {
                "name": job["name"],
                "inputs": str(inputs),
                "outputs": str(workdir / f"job{index}_out.npz"),
                "stall": float(job.get("stall", 0.0)),
                "backpressure": float(job.get("backpressure", 0.0)),
                "check": bool(job.get("check", True)),
                # (beats, delay): reset the design in mid-stream, then run the job again.
                "reset_at": [int(v) for v in job["reset_at"]] if job.get("reset_at") else None,
            }
        )
    config = {
        "design": built.design.name,
        "generator": built.design.build.__module__,
        "params": built.params.to_dict(),
        "seed": seed,
        "jobs": config_jobs,
    }
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config, indent=2))

    prepare_verilator_env()
    runner = get_runner("verilator")
    results_xml = workdir / "results.xml"
    log = workdir / "sim.log"
    try:
        runner.test(
            test_module=plan_for(built.design.name).testbench,
            hdl_toplevel=built.module,
            hdl_toplevel_lang="verilog",
            build_dir=built.build_dir,
            test_dir=workdir,
            results_xml=str(results_xml),
            plusargs=[f"+accelgen_config={config_path}"],
            # cocotb rewrites the assertions of every module the simulation imports
            # (pattern "*.py"), recompiling the whole generator library in each run when
            # bytecode is not cached; only the testbenches need it. The user's environment
            # still overrides this default.
            extra_env={"COCOTB_REWRITE_ASSERTION_FILES": "tb_*.py"},
            seed=seed,
            waves=built.waves,
            log_file=log,
        )
    except SystemExit:
        pass  # under pytest the cocotb runner exits on failure; the results file says why
    failures = _failures(results_xml)
    if failures:
        raise SimulationError(
            f"{built.design.name} ({built.module}), seed {seed}: " + "\n".join(failures) + _log_tail(log, 25)
        )
    options = built.wave_options
    if options is not None and options.windowed and (workdir / "dump.vcd").exists():
        window_vcd(workdir / "dump.vcd", workdir / "dump_window.vcd", options.start, options.stop)
        (workdir / "dump.vcd").unlink()  # the whole run's trace is what the window avoids keeping
    outputs = []
    for job in config_jobs:
        with np.load(job["outputs"]) as npz:
            outputs.append({key: npz[key] for key in npz.files})
    return outputs
