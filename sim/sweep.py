"""Parameter sweeps: every combination of the given values, verified and synthesized.

Each point is generated, run through its cocotb regression (bit-exact against the golden
model) and synthesized; one CSV row per point. Points run in parallel worker processes.
"""

import concurrent.futures
import csv
import itertools
from pathlib import Path

import numpy as np

from ..generators import get_design
from ..verif import plan_for

__all__ = ["parse_sweep", "sweep_points", "run_point", "run_sweep"]


def parse_sweep(text: str) -> dict[str, list[str]]:
    """``"rows=2,4 cols=8"`` -> ``{"rows": ["2", "4"], "cols": ["8"]}``."""
    axes = {}
    for item in text.split():
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"sweep axis {item!r} must be written NAME=V1,V2,...")
        axes[name] = [value for value in values.split(",") if value]
    return axes


def sweep_points(design_name: str, fixed: list[str], sweep: str) -> list:
    """All parameter objects of the sweep (validated before anything runs)."""
    design = get_design(design_name)
    axes = parse_sweep(sweep)
    points = []
    for combo in itertools.product(*axes.values()):
        assignments = list(fixed) + [f"{name}={value}" for name, value in zip(axes, combo)]
        points.append(design.params.from_strings(assignments))
    return points


def run_point(design_name: str, params, out_dir: Path, target: str, seed: int) -> dict:
    """Generate, verify and synthesize one point; return its CSV row."""
    from ..generators.export import write_design
    from ..synth import run_flow
    from .runner import build, simulate

    design = get_design(design_name)
    point_dir = Path(out_dir) / f"{design.name}_{params.digest()}"
    manifest = write_design(design, params, point_dir)
    row = dict(params.to_dict(), module=manifest["module"], seed=seed)
    host = plan_for(design.name).host
    jobs = host.regression_jobs(params, np.random.default_rng(seed))
    try:
        outputs = simulate(build(design, params), jobs, seed=seed, workdir=point_dir / "sim")
        problems = host.check(params, jobs, outputs)
    except AssertionError as error:
        problems = [str(error).splitlines()[0]]
    row["bit_exact"] = not problems
    row["sim_problems"] = "; ".join(problems)
    report = run_flow(point_dir / manifest["verilog"], manifest["module"], point_dir / f"synth_{target}", target)
    if target == "generic":
        row |= {"cells": report["cells"], "logic_depth": report["logic_depth"],
                "flip_flops": sum(n for cell, n in report["cells_by_type"].items() if "DFF" in cell)}
    else:
        row |= {key: report.get(key) for key in ("device", "lut4", "ff", "dsp_mult18", "ccu2", "fmax_mhz")}
    return row


def run_sweep(design_name: str, fixed: list[str], sweep: str, *, out_dir: Path, csv_path: Path,
              target: str = "generic", jobs: int = 1, seed: int = 1) -> list[dict]:
    """Run every point (``jobs`` in parallel) and write one CSV."""
    points = sweep_points(design_name, fixed, sweep)
    print(f"{design_name}: {len(points)} point(s), {jobs} in parallel, seed {seed}", flush=True)
    rows = []
    with concurrent.futures.ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(run_point, design_name, p, out_dir, target, seed): p for p in points}
        for future in concurrent.futures.as_completed(futures):
            row = future.result()
            rows.append(row)
            print(f"  [{len(rows)}/{len(points)}] {row['module']}: bit_exact={row['bit_exact']}", flush=True)
    order = {p.digest(): index for index, p in enumerate(points)}
    rows.sort(key=lambda row: order[row["module"].rsplit("_", 1)[-1]])
    csv_path = Path(csv_path)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(csv_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {csv_path}")
    return rows
