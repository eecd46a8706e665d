"""The ``accelgen`` command line.

::

    accelgen list
    accelgen generate DESIGN [-p NAME=VALUE ...] [-o DIR]
    accelgen sim      DESIGN [-p NAME=VALUE ...] [--seed N] [--waves] [--trace-depth N]
                      [--waves-from CYCLE] [--waves-to CYCLE]
    accelgen synth    DESIGN [-p NAME=VALUE ...] [--target generic|ecp5] [-o DIR]
    accelgen run      DESIGN [-p NAME=VALUE ...] --inputs IN.npz --outputs OUT.npz
    accelgen sweep    DESIGN [-p NAME=VALUE ...] --sweep "NAME=V1,V2 ..." [-j N] [--csv FILE]
                      [--backend local|dask] [--address URL | --cluster slurm|pbs|lsf ...]
                      [--retries N] [--timeout S] [--cache-dir DIR | --no-cache] [--resume]
    accelgen report   [-o DIR]
    accelgen lint     [DESIGN ...]
    accelgen estimate DESIGN [-p NAME=VALUE ...] [--workload K=V,...] [--json]
    accelgen formal   DESIGN [-p NAME=VALUE ...] [--mode prove|bmc|cover] [--depth N] [-o DIR]

Invalid parameters or inputs print one line (``accelgen: error: ...``) and exit with status 2.
``accelgen sweep`` exits with status 1 when a point failed (``N of M points failed``; see
``docs/sweeps.md``).
"""

import argparse
import json
import os
import random
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..generators import all_designs, get_design
from . import flow
from .estimate import estimate, format_estimate
from .formal import design_spec, pim_timing_spec, run_proof
from .fusesoc import core_name
from .lint import lint_design
from .sweep import failed_rows, run_sweep
from .sweep_backends import BACKENDS, CLUSTERS, Backend
from .waves import WaveOptions

__all__ = ["main"]


def _params(design, assignments):
    return design.params.from_strings(assignments or [])


def _echo_progress(line: str) -> None:
    print("  " + line, flush=True)


def cmd_list(args) -> int:
    for name, design in all_designs().items():
        print(f"{name}: {design.summary}")
        if args.verbose:
            for field, kind, default, doc in design.params.field_docs():
                print(f"    {field} ({kind}, default {default}): {doc}")
    return 0


def cmd_generate(args) -> int:
    design = get_design(args.design)
    params = _params(design, args.param)
    out_dir = Path(args.output or Path("out") / design.name)
    manifest = flow.generate(design, params, out_dir)
    print(f"{design.name}: wrote {out_dir / manifest['verilog']} (module {manifest['module']}), "
          f"params.json, manifest.json")
    print(f"FuseSoC core: {out_dir / manifest['core']} ({core_name(manifest)})")
    return 0


def cmd_sim(args) -> int:
    design = get_design(args.design)
    params = _params(design, args.param)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"{design.name} {params.to_dict()}\nseed {seed}", flush=True)
    waves = None
    if args.waves or args.trace_depth is not None or args.waves_from is not None or args.waves_to is not None:
        waves = WaveOptions(depth=args.trace_depth, start=args.waves_from, stop=args.waves_to)
    verdict = flow.verify(design, params, seed=seed, waves=waves, progress=_echo_progress)
    for job, out in zip(verdict.jobs, verdict.outputs):
        extra = f", {int(out['cycle_count'])} busy cycles" if "cycle_count" in out else ""
        # The first output array holds the result beats (systolic: c, softmax: y_beats).
        beats = out["c"] if "c" in out else next(iter(out.values()))
        print(f"  {job['name']}: {len(beats)} result beats{extra}")
    if verdict.simulation.built.waves:
        for wave in sorted(verdict.simulation.workdir.glob("*.[fv][sc][td]")):
            print(f"waveform: {wave} ({wave.stat().st_size / 1e6:.2f} MB)")
    if verdict.problems:
        print("FAIL\n  " + "\n  ".join(verdict.problems))
        return 1
    print(f"PASS: {len(verdict.jobs)} jobs bit-exact against the golden model (seed {seed})")
    return 0


def _figure_text(key: str, value) -> str:
    """``key=value`` of a synthesis figure; a critical path as ``start -> end (length or delay)``."""
    if key == "critical_path" and isinstance(value, dict):
        end = value.get("end_ff") or value.get("end")
        size = f"{value['length']} cells" if "length" in value else f"{value.get('delay_ns')} ns"
        return f"{key}={value.get('start')} -> {end} ({size})"
    return f"{key}={value}"


def cmd_synth(args) -> int:
    design = get_design(args.design)
    params = _params(design, args.param)
    out_dir = Path(args.output or Path("out") / f"{design.name}_{params.digest()}")
    synthesis = flow.synthesize(out_dir, flow.generate(design, params, out_dir), args.target)
    print(f"{design.name} {args.target}: " + ", ".join(_figure_text(key, value)
                                                       for key, value in synthesis.summary.items()))
    print(f"report: {synthesis.path}")
    return 0


def _load_inputs(path: str) -> dict:
    """The named arrays of an ``.npz`` file; ``ValueError`` for anything else (one line)."""
    try:
        # allow_pickle=False: an input file must not run code (object arrays are refused).
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise ValueError(f"--inputs {path}: cannot be read as an .npz file of named arrays ({error})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"--inputs {path}: holds a single array, not an .npz file of named arrays "
                         "(write it with numpy.savez(path, name=array, ...))")
    with loaded:
        arrays = {}
        for key in loaded.files:
            try:
                arrays[key] = loaded[key]
            except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
                raise ValueError(f"--inputs {path}: array '{key}' cannot be read ({error})") from None
    return arrays


def _output_path(text: str) -> Path:
    """Where ``--outputs`` goes (numpy's rule: ``.npz`` appended when missing); ``ValueError``
    before any simulation when it cannot be written there."""
    path = Path(text if text.endswith(".npz") else text + ".npz")
    if path.is_dir() or Path(text).is_dir():
        raise ValueError(f"--outputs {text}: is a directory; give a file name, e.g. {Path(text) / 'out.npz'}")
    if not path.parent.is_dir():
        raise ValueError(f"--outputs {text}: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ValueError(f"--outputs {text}: the folder {path.parent} is not writable")
    return path


def _write_outputs(path: Path, result: dict) -> None:
    """Write ``result`` to ``path`` through a temporary file, so a failure leaves nothing."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **result)
        os.replace(temporary, path)
    except OSError as error:
        raise ValueError(f"--outputs {path}: cannot be written ({error})") from None
    finally:
        temporary.unlink(missing_ok=True)


def cmd_run(args) -> int:
    design = get_design(args.design)
    params = _params(design, args.param)
    outputs = _output_path(args.outputs)
    arrays = _load_inputs(args.inputs)
    jobs = flow.user_jobs(design, params, arrays)
    beats = sum(len(next(iter(job["inputs"].values()))) for job in jobs)
    print(f"{design.name}: {beats} input beats", flush=True)
    result = flow.run_user(design, params, arrays, seed=args.seed, jobs=jobs, progress=_echo_progress)
    _write_outputs(outputs, result)
    summary = ", ".join(f"{key}{list(value.shape) if value.ndim else '=' + str(value)}" for key, value in result.items())
    print(f"wrote {outputs}: {summary}")
    return 0


def cmd_lint(args) -> int:
    names = args.designs or list(all_designs())
    failed = 0
    for name in names:
        design = get_design(name)
        params = _params(design, args.param)
        problems = lint_design(design, params)
        print(f"{name}: {'clean' if not problems else f'{len(problems)} warning(s)'}")
        for line in problems:
            print("  " + line)
        failed += bool(problems)
    return 1 if failed else 0


def cmd_sweep(args) -> int:
    out_dir = Path(args.output or Path("out") / f"sweep_{args.design}")
    # --address or --cluster alone mean Dask; an explicit --backend local with them is refused.
    kind = args.backend or ("dask" if args.address or args.cluster else "local")
    backend = Backend(kind, jobs=args.jobs, retries=args.retries, timeout=args.timeout, address=args.address,
                      cluster=args.cluster, cluster_opts=tuple(args.cluster_opt or ()), max_workers=args.max_workers)
    rows = run_sweep(args.design, args.param or [], args.sweep, out_dir=out_dir, csv_path=args.csv,
                     target=args.target, seed=args.seed, backend=backend, cache_dir=args.cache_dir,
                     use_cache=not args.no_cache, resume=args.resume)
    failed = failed_rows(rows)
    if failed:
        print(f"{len(failed)} of {len(rows)} points failed")
        return 1
    print(f"all {len(rows)} points ok")
    return 0


def _verdict_text(verdict: flow.Verdict) -> str:
    if verdict.problems:
        return "FAIL: " + "; ".join(verdict.problems)
    return f"{len(verdict.jobs)} jobs bit-exact (seed {verdict.seed})"


def _report_progress(name: str, folder: Path):
    """The console line of ``accelgen report`` after each step of one design."""
    def show(step: str, result) -> None:
        if step == "generated":
            print(f"{name}: generated {folder / result['verilog']}", flush=True)
        elif step == "verified":
            print(f"{name}: regression {_verdict_text(result)}", flush=True)
        else:
            figures = result.summary
            print(f"{name}: {figures['cells']} generic cells, logic depth {figures['logic_depth']}", flush=True)
    return show


def cmd_report(args) -> int:
    out_dir = Path(args.output)
    lines = ["# accelgen: default designs", "",
             "Each family's default configuration, or a smaller one where the default takes long to "
             "synthesize (its parameters are listed).", "",
             "| design | module | parameters | regression | generic cells | logic depth |",
             "|---|---|---|---|---|---|"]
    failed = False
    for name, design in all_designs().items():
        params = design.params(**dict(design.report_config))
        point = flow.characterize(design, params, out_dir / name, seed=args.seed,
                                  on_step=_report_progress(name, out_dir / name))
        failed |= bool(point.verdict.problems)
        figures = point.synthesis.summary
        summary = ", ".join(f"{k}={v}" for k, v in params.to_dict().items())
        lines.append(f"| {name} | `{point.manifest['module']}` | {summary} | {_verdict_text(point.verdict)} "
                     f"| {figures['cells']} | {figures['logic_depth']} |")
    (out_dir / "REPORT.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    print(f"report: {out_dir / 'REPORT.md'}")
    return 1 if failed else 0


def cmd_estimate(args) -> int:
    """Cycles and area of one configuration without running a tool."""
    design = get_design(args.design)
    params = _params(design, args.param)
    result = estimate(design.name, params, args.workload)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("\n".join(format_estimate(result)))
    return 0


def cmd_formal(args) -> int:
    """The stream contract of one configuration (and, for ``pim_ctrl``, its timing table)."""
    design = get_design(args.design)
    params = _params(design, args.param)
    if args.properties == "timing":
        if design.name != "pim_ctrl":
            raise ValueError("--properties timing is the PIM controller's timing table: design must be pim_ctrl")
        spec = pim_timing_spec(params, covers=("gemv", "ref") if args.mode == "cover" else ())
    else:
        groups = {"all": ("handshake", "counts", "last", "cover")}.get(args.properties, (args.properties,))
        if args.mode == "cover":
            groups = ("cover",)
        spec = design_spec(design.name, params, groups=groups)
    folder = Path(args.output or Path("build") / "formal" / f"{design.name}_{args.properties}_{args.mode}")
    result = run_proof(spec, folder, mode=args.mode, depth=args.depth)
    (folder / "formal.json").write_text(json.dumps({"design": design.name, "params": params.to_dict(),
                                                     "properties": args.properties, **result}, indent=2) + "\n")
    trace = f", trace {folder / result['trace']}" if result["trace"] else ""
    print(f"{design.name} {args.properties} {args.mode} depth {args.depth}: {result['status']} "
          f"({result['solve_s']} s){trace}")
    for line in result["failed"]:
        print(f"  {'unreached' if args.mode == 'cover' else 'failed'}: {line}")
    return 0 if result["status"] == "PASS" else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="accelgen", description="Verified RTL generators for AI accelerators.")
    sub = parser.add_subparsers(dest="command", required=True)

    def design_command(name, help_text, func):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("design", help="design name (see `accelgen list`)")
        cmd.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="set a parameter (repeatable)")
        cmd.set_defaults(func=func)
        return cmd

    cmd = sub.add_parser("list", help="list the designs and their parameters")
    cmd.add_argument("-v", "--verbose", action="store_true", help="show every parameter")
    cmd.set_defaults(func=cmd_list)

    cmd = design_command("generate", "write Verilog, params.json, manifest.json and a FuseSoC core", cmd_generate)
    cmd.add_argument("-o", "--output", help="output folder (default: out/DESIGN)")

    cmd = design_command("sim", "run the cocotb regression of one configuration on Verilator", cmd_sim)
    cmd.add_argument("--seed", type=int, help="stimulus seed (default: random, printed)")
    cmd.add_argument("--waves", action="store_true", help="record a waveform (FST, or VCD without the lz4 headers)")
    cmd.add_argument("--trace-depth", type=int, metavar="N",
                     help="trace N module levels only (1 = top-level ports); implies --waves")
    cmd.add_argument("--waves-from", type=int, metavar="CYCLE",
                     help="keep the waveform from this clock cycle on (a VCD); implies --waves")
    cmd.add_argument("--waves-to", type=int, metavar="CYCLE",
                     help="keep the waveform up to (not including) this clock cycle; implies --waves")

    cmd = design_command("synth", "synthesize one configuration and write a JSON report", cmd_synth)
    cmd.add_argument("--target", default="generic", choices=("generic", "ecp5", "ice40"),
                     help="generic cells, ECP5 LUT/FF/DSP/Fmax, or iCE40 LUT4 count")
    cmd.add_argument("-o", "--output", help="output folder (default: out/DESIGN_HASH)")

    cmd = design_command("run", "run your own tensors through the RTL simulation", cmd_run)
    cmd.add_argument("--inputs", required=True, help=".npz with the design's input arrays (systolic: a, b)")
    cmd.add_argument("--outputs", required=True, help=".npz to write (systolic: c, cycles)")
    cmd.add_argument("--seed", type=int, default=0, help="seed of the (stall-free) run")

    cmd = design_command("sweep", "verify and synthesize every combination of parameter values", cmd_sweep)
    cmd.add_argument("--sweep", required=True, metavar='"NAME=V1,V2 ..."', help="the axes of the sweep")
    cmd.add_argument("--target", default="generic", choices=("generic", "ecp5"))
    cmd.add_argument("-j", "--jobs", type=int, default=1,
                     help="points run in parallel (local processes, or the workers of a local Dask cluster)")
    cmd.add_argument("--seed", type=int, default=1)
    cmd.add_argument("--csv", help="CSV to write, a row as each point finishes (default: OUTPUT/sweep.csv)")
    cmd.add_argument("-o", "--output", help="output folder (default: out/sweep_DESIGN)")
    cmd.add_argument("--backend", choices=BACKENDS,
                     help="local processes (default), or Dask (default with --address/--cluster; accelgen[dask])")
    cmd.add_argument("--address", metavar="tcp://HOST:PORT", help="a running Dask scheduler")
    cmd.add_argument("--cluster", choices=tuple(CLUSTERS), help="a batch cluster through dask-jobqueue")
    cmd.add_argument("--cluster-opt", action="append", metavar="KEY=VALUE",
                     help="a dask-jobqueue cluster option, e.g. queue=cpu walltime=02:00:00 (repeatable)")
    cmd.add_argument("--max-workers", type=int, help="at most this many batch jobs (default: -j)")
    cmd.add_argument("--retries", type=int, default=2,
                     help="extra attempts after a lost worker or a timeout (default: 2)")
    cmd.add_argument("--timeout", type=float, metavar="SECONDS", help="limit of one attempt at one point")
    cmd.add_argument("--cache-dir", help="cached rows of finished points (default: OUTPUT/cache)")
    cmd.add_argument("--no-cache", action="store_true", help="neither use nor fill the result cache")
    cmd.add_argument("--resume", action="store_true", help="continue a sweep: its cache must exist")

    cmd = design_command("estimate", "cycles of a workload (analytic model) and area (fitted model), no tools run",
                         cmd_estimate)
    cmd.add_argument("--workload", metavar="K=V,...", help="workload, e.g. m=256,n=256,k=256 for gemm "
                     "(default: the family's default workload, printed)")
    cmd.add_argument("--json", action="store_true", help="print the estimate as JSON")

    cmd = sub.add_parser("report", help="generate, verify and synthesize every design's default configuration")
    cmd.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    cmd.add_argument("--seed", type=int, default=1)
    cmd.set_defaults(func=cmd_report)

    cmd = design_command("formal", "prove properties of one configuration with SymbiYosys (yowasp-sby, yices)",
                         cmd_formal)
    cmd.add_argument("--mode", default="prove", choices=("prove", "bmc", "cover"),
                     help="k-induction (prove), bounded model check (bmc) or reach the covers (cover)")
    cmd.add_argument("--depth", type=int, default=20, help="induction / BMC / cover depth in cycles (default: 20)")
    cmd.add_argument("--properties", default="all",
                     choices=("all", "handshake", "counts", "last", "cover", "timing"),
                     help="property group (timing: the PIM controller's timing table)")
    cmd.add_argument("-o", "--output", help="proof folder (default: build/formal/DESIGN_PROPERTIES_MODE)")

    cmd = sub.add_parser("lint", help="Verilator --lint-only -Wall with the documented waivers")
    cmd.add_argument("designs", nargs="*", help="designs to lint (default: all, default parameters)")
    cmd.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", help="set a parameter (repeatable)")
    cmd.set_defaults(func=cmd_lint)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as error:
        # One line, whatever the message: a numpy message may span several.
        text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
        print(f"accelgen: error: {text}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
