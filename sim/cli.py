"""The ``accelgen`` command line.

::

    accelgen list
    accelgen generate DESIGN [-p NAME=VALUE ...] [-o DIR]
    accelgen sim      DESIGN [-p NAME=VALUE ...] [--seed N] [--waves]
    accelgen synth    DESIGN [-p NAME=VALUE ...] [--target generic|ecp5] [-o DIR]
    accelgen run      DESIGN [-p NAME=VALUE ...] --inputs IN.npz --outputs OUT.npz
    accelgen sweep    DESIGN [-p NAME=VALUE ...] --sweep "NAME=V1,V2 ..." [-j N] [--csv FILE]
    accelgen report   [-o DIR]
    accelgen lint     [DESIGN ...]

Invalid parameters or inputs print one line (``accelgen: error: ...``) and exit with status 2.
"""

import argparse
import random
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..generators import all_designs, get_design
from ..verif import plan_for

__all__ = ["main"]


def _params(design, assignments):
    return design.params.from_strings(assignments or [])


def cmd_list(args) -> int:
    for name, design in all_designs().items():
        print(f"{name}: {design.summary}")
        if args.verbose:
            for field, kind, default, doc in design.params.field_docs():
                print(f"    {field} ({kind}, default {default}): {doc}")
    return 0


def cmd_generate(args) -> int:
    from ..generators.export import write_design

    design = get_design(args.design)
    params = _params(design, args.param)
    out_dir = Path(args.output or Path("out") / design.name)
    manifest = write_design(design, params, out_dir)
    print(f"{design.name}: wrote {out_dir / manifest['verilog']} (module {manifest['module']}), "
          f"params.json, manifest.json")
    return 0


_PROGRESS = re.compile(r"(job \d+/\d+: .*|cycle \d+: .*)$")


def _tail_progress(log: Path, stop: threading.Event) -> None:
    """Echo the testbench's progress lines from the simulator log while it runs."""
    position = 0
    while not stop.wait(1.0):
        if not log.exists():
            continue
        with open(log, errors="replace") as handle:
            handle.seek(position)
            for line in handle:
                match = _PROGRESS.search(line)
                if match:
                    print("  " + match.group(0), flush=True)
            position = handle.tell()


def _simulate_with_progress(built, jobs, seed, workdir):
    from ..sim.runner import simulate

    stop = threading.Event()
    watcher = threading.Thread(target=_tail_progress, args=(workdir / "sim.log", stop), daemon=True)
    watcher.start()
    try:
        return simulate(built, jobs, seed=seed, workdir=workdir)
    finally:
        stop.set()
        watcher.join()


def _workdir(built, label) -> Path:
    path = built.build_dir / f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{random.randrange(1 << 16):04x}"
    path.mkdir(parents=True)
    return path


def cmd_sim(args) -> int:
    from ..sim.runner import build

    design = get_design(args.design)
    params = _params(design, args.param)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print(f"{design.name} {params.to_dict()}\nseed {seed}", flush=True)
    built = build(design, params, waves=args.waves or None)
    host = plan_for(design.name).host
    jobs = host.regression_jobs(params, np.random.default_rng(seed))
    workdir = _workdir(built, "sim")
    outputs = _simulate_with_progress(built, jobs, seed, workdir)
    problems = host.check(params, jobs, outputs)
    for job, out in zip(jobs, outputs):
        extra = f", {int(out['cycle_count'])} busy cycles" if "cycle_count" in out else ""
        # The first output array holds the result beats (systolic: c, softmax: y_beats).
        beats = out["c"] if "c" in out else next(iter(out.values()))
        print(f"  {job['name']}: {len(beats)} result beats{extra}")
    if built.waves:
        for wave in sorted(workdir.glob("*.[fv][sc][td]")):
            print(f"waveform: {wave}")
    if problems:
        print("FAIL\n  " + "\n  ".join(problems))
        return 1
    print(f"PASS: {len(jobs)} jobs bit-exact against the golden model (seed {seed})")
    return 0


def cmd_synth(args) -> int:
    from ..generators.export import write_design
    from ..synth import run_flow

    design = get_design(args.design)
    params = _params(design, args.param)
    out_dir = Path(args.output or Path("out") / f"{design.name}_{params.digest()}")
    manifest = write_design(design, params, out_dir)
    report = run_flow(out_dir / manifest["verilog"], manifest["module"], out_dir / f"synth_{args.target}", args.target)
    keys = {"generic": ("cells", "logic_depth"), "ecp5": ("device", "lut4", "ff", "dsp_mult18", "fmax_mhz"),
            "ice40": ("lut4", "carry", "ff", "dsp_mac16")}[args.target]
    print(f"{design.name} {args.target}: " + ", ".join(f"{key}={report.get(key)}" for key in keys))
    print(f"report: {out_dir / f'synth_{args.target}' / f'synth_{args.target}.json'}")
    return 0


def cmd_run(args) -> int:
    from ..sim.runner import build

    design = get_design(args.design)
    params = _params(design, args.param)
    try:
        with np.load(args.inputs) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise ValueError(f"--inputs {args.inputs}: {error}") from None
    host = plan_for(design.name).host
    jobs = host.user_jobs(params, arrays)
    beats = sum(len(next(iter(job["inputs"].values()))) for job in jobs)
    print(f"{design.name}: {beats} input beats", flush=True)
    built = build(design, params)
    outputs = _simulate_with_progress(built, jobs, seed=args.seed, workdir=_workdir(built, "run"))
    result = host.user_outputs(params, arrays, outputs)
    np.savez(args.outputs, **result)
    summary = ", ".join(f"{key}{list(value.shape) if value.ndim else '=' + str(value)}" for key, value in result.items())
    print(f"wrote {args.outputs}: {summary}")
    return 0


def cmd_lint(args) -> int:
    from ..sim.lint import lint_design

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
    from .sweep import run_sweep

    out_dir = Path(args.output or Path("out") / f"sweep_{args.design}")
    rows = run_sweep(args.design, args.param or [], args.sweep, out_dir=out_dir,
                     csv_path=args.csv or out_dir / "sweep.csv", target=args.target, jobs=args.jobs, seed=args.seed)
    return 0 if all(row["bit_exact"] for row in rows) else 1


def cmd_report(args) -> int:
    from ..generators.export import write_design
    from ..synth import run_flow
    from .runner import build, simulate

    out_dir = Path(args.output)
    lines = ["# accelgen: default designs", "",
             "| design | module | parameters | regression | generic cells | logic depth |",
             "|---|---|---|---|---|---|"]
    failed = False
    for name, design in all_designs().items():
        params = design.params()
        manifest = write_design(design, params, out_dir / name)
        print(f"{name}: generated {out_dir / name / manifest['verilog']}", flush=True)
        host = plan_for(design.name).host
        jobs = host.regression_jobs(params, np.random.default_rng(args.seed))
        outputs = simulate(build(design, params), jobs, seed=args.seed, workdir=out_dir / name / "sim")
        problems = host.check(params, jobs, outputs)
        failed |= bool(problems)
        verdict = f"{len(jobs)} jobs bit-exact (seed {args.seed})" if not problems else "FAIL: " + "; ".join(problems)
        print(f"{name}: regression {verdict}", flush=True)
        report = run_flow(out_dir / name / manifest["verilog"], manifest["module"], out_dir / name / "synth_generic", "generic")
        print(f"{name}: {report['cells']} generic cells, logic depth {report['logic_depth']}", flush=True)
        summary = ", ".join(f"{k}={v}" for k, v in params.to_dict().items())
        lines.append(f"| {name} | `{manifest['module']}` | {summary} | {verdict} | {report['cells']} | {report['logic_depth']} |")
    (out_dir / "REPORT.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[2:]))
    print(f"report: {out_dir / 'REPORT.md'}")
    return 1 if failed else 0


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

    cmd = design_command("generate", "write Verilog, params.json and manifest.json", cmd_generate)
    cmd.add_argument("-o", "--output", help="output folder (default: out/DESIGN)")

    cmd = design_command("sim", "run the cocotb regression of one configuration on Verilator", cmd_sim)
    cmd.add_argument("--seed", type=int, help="stimulus seed (default: random, printed)")
    cmd.add_argument("--waves", action="store_true", help="record a waveform (FST, or VCD without the lz4 headers)")

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
    cmd.add_argument("-j", "--jobs", type=int, default=1, help="points run in parallel")
    cmd.add_argument("--seed", type=int, default=1)
    cmd.add_argument("--csv", help="CSV to write (default: OUTPUT/sweep.csv)")
    cmd.add_argument("-o", "--output", help="output folder (default: out/sweep_DESIGN)")

    cmd = sub.add_parser("report", help="generate, verify and synthesize every design's default configuration")
    cmd.add_argument("-o", "--output", default="out", help="output folder (default: out)")
    cmd.add_argument("--seed", type=int, default=1)
    cmd.set_defaults(func=cmd_report)

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
        print(f"accelgen: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
