"""Parameter sweeps: every combination of the given values, verified and synthesized.

Each point is generated, run through its cocotb regression (bit-exact against the golden
model) and synthesized; one CSV row per point. Points run in parallel worker processes.
"""

import concurrent.futures
import csv
import itertools
from pathlib import Path

from ..generators import get_design
from . import flow

__all__ = ["parse_sweep", "sweep_points", "run_point", "run_sweep"]

#: The synthesis columns of a row: the generic flow's, and any other target's (its summary
#: figures, renamed where the CSV names them differently).
GENERIC_COLUMNS = {"cells": "cells", "logic_depth": "logic_depth", "ff": "flip_flops"}
TARGET_COLUMNS = {key: key for key in ("device", "lut4", "ff", "dsp_mult18", "ccu2", "fmax_mhz")}


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
    design = get_design(design_name)
    columns = GENERIC_COLUMNS if target == "generic" else TARGET_COLUMNS
    point = flow.characterize(design, params, Path(out_dir) / f"{design.name}_{params.digest()}", seed=seed,
                              target=target, keys=columns, record_errors=True)
    row = dict(params.to_dict(), module=point.manifest["module"], seed=seed)
    row["bit_exact"] = not point.verdict.problems
    row["sim_problems"] = "; ".join(point.verdict.problems)
    return row | {columns[key]: value for key, value in point.synthesis.summary.items()}


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
