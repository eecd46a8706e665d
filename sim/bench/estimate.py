"""Benchmark section ``estimate``: the area estimate of ``accelgen estimate`` against synthesis
on configurations that are not in its fit data.

Two held-out sets:

- **synthesized here**: :data:`HELD_OUT` (every family, sizes and widths between and beyond
  the fit points), generated and run through the generic Yosys flow;
- **recorded**: configurations other sections synthesized (``systolic``, ``tpe``,
  ``activation`` section files in the same results folder), larger than the fit points; their
  generic cells and, where recorded, ECP5 LUT4 / FF / MULT18X18D.

Per configuration: estimate, measurement and relative error; per family and overall: the
median and worst absolute relative error of the generic cells, against the targets
(:data:`TARGETS`). The cycle estimates need no bench: they are the analytic models the
regressions check the RTL against (``tests/test_estimate.py`` compares them to the recorded
RTL counts).
"""

import functools
import json
from pathlib import Path

import numpy as np

from ...generators import get_design
from .. import estimate as est
from . import BenchSection
from ._common import pct, run_parallel

__all__ = ["HELD_OUT", "TARGETS", "SECTION", "run_bench", "summarize", "recorded_rows", "compare", "render_markdown", "failures"]

#: Targets on the generic cells: median and worst absolute relative error.
TARGETS = {"median": 0.10, "worst": 0.25}

#: Configurations synthesized by this section (none is in the fit data).
HELD_OUT = [
    ("systolic", dict(rows=3, cols=5)), ("systolic", dict(rows=6, cols=6)),
    ("systolic", dict(rows=2, cols=3, a_width=12, b_width=12)), ("systolic", dict(rows=4, cols=4, mac="carry_save")),
    ("matrix2d", dict(rows=3, cols=5)), ("matrix2d", dict(rows=6, cols=6)),
    ("matrix2d", dict(rows=2, cols=3, a_width=12, b_width=8)),
    ("tree", dict(depth=4, cols=3)), ("tree", dict(depth=16, cols=1)), ("tree", dict(depth=6, cols=4, a_width=6)),
    ("cube3d", dict(rows=2, cols=3, depth=2)), ("cube3d", dict(rows=3, cols=3, depth=3)),
    ("cube3d", dict(rows=1, cols=4, depth=4, a_width=4, b_width=4)),
    ("systolic_ws", dict(rows=3, cols=5)), ("systolic_ws", dict(rows=6, cols=6)),
    ("systolic_ws", dict(rows=2, cols=6, a_width=4)),
    ("gemm", dict(rows=3, cols=5)), ("gemm", dict(rows=4, cols=4, m_max=32, n_max=32, k_max=32)),
    ("gemm", dict(rows=2, cols=6, a_width=4, b_width=4)), ("gemm", dict(engine="ws", rows=3, cols=3)),
    ("gemm", dict(rows=3, cols=3, mac="carry_save")),
    ("exp", dict(lanes=8)), ("exp", dict(lanes=2, width=10)), ("exp", dict(lanes=4, width=14)),
    ("gelu", dict(lanes=8)), ("gelu", dict(lanes=2, width=10)), ("gelu", dict(lanes=4, width=14)),
    ("silu", dict(lanes=8)), ("silu", dict(lanes=2, width=10)), ("silu", dict(lanes=4, width=14)),
    ("pim_ctrl", dict(channels=3, k_max=128, m_max=128)), ("pim_ctrl", dict(k_max=256, m_max=256, n_acc=2)),
    ("pim_ctrl", dict(preset="hbm2_pim", k_max=512, m_max=128)),
    ("softmax", dict(lanes=8, n_max=128)),
    ("attention", dict(br=2, bc=4, d_max=8, n_max=128)),
]


def recorded_rows(results_dir: Path) -> list[dict]:
    """Configurations other sections synthesized, with their generic cells and ECP5 figures."""
    def load(name):
        path = results_dir / f"{name}.json"
        return json.loads(path.read_text())["result"] if path.exists() else None

    rows = []
    systolic = load("systolic")
    for entry in (systolic or {}).get("synthesis", [])[1:]:   # the 4x4 is an ECP5 fit point
        ecp5 = entry["ecp5"]
        rows.append(dict(design="systolic", params=entry["params"], source="systolic.json", cells=entry["generic"]["cells"],
                         ff=entry["generic_ff"], lut4=ecp5["lut4"], ecp5_ff=ecp5["ff"], dsp_mult18=ecp5["dsp_mult18"]))
    for entry in (load("tpe") or {}).get("synthesis", []):
        if entry["mac"] == "baseline":
            # tpe records gates and flip-flops; their sum is the cell count less the scope cells.
            ecp5 = entry["ecp5"] if entry["label"] == "OS 8x8" else {}
            rows.append(dict(design=entry["design"], params=entry["params"], source="tpe.json",
                             cells=entry["generic"]["gates"] + entry["generic"]["ff"], ff=entry["generic"]["ff"],
                             lut4=ecp5.get("lut4"), ecp5_ff=ecp5.get("ff"), dsp_mult18=ecp5.get("dsp_mult18")))
    for entry in (load("activation") or {}).get("lanes", []):
        if entry["lanes"] > 1:
            wide = "int16" in entry["label"]
            design = "gelu" if entry["label"].startswith("GELU") else "silu"
            rows.append(dict(design=design, params=dict(width=16 if wide else 8, in_frac=12 if wide else 4,
                                                        lanes=entry["lanes"]),
                             source="activation.json", cells=entry["generic_cells"], ff=None,
                             lut4=entry["ecp5"]["lut4"], ecp5_ff=entry["ecp5"]["ff"],
                             dsp_mult18=entry["ecp5"]["dsp_mult18"]))
    return rows


def _fit_digests() -> set[tuple[str, str]]:
    return {(name, get_design(name).params(**row["params"]).digest())
            for name in est.FEATURES for row in est.load_rows(name) if row["cells"]}


def compare(row: dict) -> dict:
    """A held-out row with the estimate and the relative error of each figure both have."""
    params = get_design(row["design"]).params(**row["params"])
    area = est.estimate_area(row["design"], params)
    out = dict(row, estimate=area)
    out["error"] = {key: est.relative_error(area[key], row[key])
                    for key in ("cells", "ff", "lut4", "ecp5_ff", "dsp_mult18")
                    if row.get(key) and key in area}
    return out


def _stats(errors: list[float]) -> dict:
    values = [abs(e) for e in errors]
    return {"n": len(values), "median": float(np.median(values)), "worst": max(values)} if values else None


def _summary(rows: list[dict], figure: str) -> dict:
    families = sorted({row["design"] for row in rows})
    per = {name: _stats([r["error"][figure] for r in rows if r["design"] == name and figure in r["error"]])
           for name in families}
    return {"families": {k: v for k, v in per.items() if v},
            "overall": _stats([r["error"][figure] for r in rows if figure in r["error"]])}


def run_bench(ctx) -> dict:
    """Synthesize the held-out configurations and compare every held-out figure with its estimate."""
    fitted = _fit_digests()
    points = []
    # Quick mode: the first held-out configuration of each family.
    held_out = [(d, g) for i, (d, g) in enumerate(HELD_OUT) if not ctx.quick or d not in {x for x, _ in HELD_OUT[:i]}]
    for design, given in held_out:
        params = get_design(design).params(**given)
        if (design, params.digest()) in fitted:
            raise ValueError(f"held-out {design} {given} is in the fit data")
        points.append((design, given, params))
    calls = [functools.partial(est.measure, design, params, ctx.out_dir) for design, _, params in points]
    measured = run_parallel(calls, ctx.workers, describe=lambda i, r: f"{points[i][0]} {points[i][1]}: {r['cells']} cells")
    rows = [compare(dict(design=design, params=given, source="synthesized", **figures))
            for (design, given, _), figures in zip(points, measured)]
    recorded = [row for row in recorded_rows(ctx.out_dir.parent)
                if (row["design"], get_design(row["design"]).params(**row["params"]).digest()) not in fitted]
    rows += [compare(row) for row in recorded]
    return summarize(rows)


def summarize(rows: list[dict]) -> dict:
    """The section's result from its compared rows: the rows and the error statistics."""
    return {"targets": TARGETS, "rows": rows,
            "cells": _summary(rows, "cells"),
            "cells_synthesized": _summary([r for r in rows if r["source"] == "synthesized"], "cells"),
            "ff": _summary(rows, "ff"), "lut4": _summary(rows, "lut4"), "ecp5_ff": _summary(rows, "ecp5_ff")}


def _params_text(design: str, params: dict) -> str:
    # The recorded rows hold every parameter, derived ones included: show only those without
    # which the configuration would differ.
    params_class = get_design(design).params
    full = params_class(**params).to_dict()
    given = dict(params)
    for key in list(given):
        trial = {k: v for k, v in given.items() if k != key}
        try:
            same = params_class(**trial).to_dict() == full
        except ValueError:
            same = False   # the key is needed for the others to be legal
        if same:
            given = trial
    return " ".join(f"{k}={v}" for k, v in given.items()) or "defaults"


def _err(row, key) -> str:
    return f"{100 * row['error'][key]:+.1f} %" if key in row["error"] else "n/a"


def render_markdown(result: dict) -> list[str]:
    """The section's part of BENCHMARKS.md."""
    cells, synthesized = result["cells"], result["cells_synthesized"]
    lines = [
        "## Estimates (`accelgen estimate`) against synthesis, held out of the fit", "",
        "Area estimates of configurations that are not in the fit data (`sim/estimate_data/`, "
        "see docs/estimate.md): synthesized by this section, or recorded by the `systolic`, `tpe` and "
        "`activation` sections (larger sizes). Error = (estimate - measured) / measured; targets on "
        f"generic cells: median <= {pct(TARGETS['median'], 0)}, worst <= {pct(TARGETS['worst'], 0)}. "
        "Cycle estimates are the families' analytic models (equal to the RTL counts recorded by the "
        "other sections, checked by tests/test_estimate.py).", "",
        "| family | configurations | median error (cells) | worst error (cells) | targets met |",
        "|---|---|---|---|---|",
    ]
    for name, stats in cells["families"].items():
        ok = stats["median"] <= TARGETS["median"] and stats["worst"] <= TARGETS["worst"]
        lines.append(f"| {name} | {stats['n']} | {pct(stats['median'], 1)} | {pct(stats['worst'], 1)} | "
                     f"{'yes' if ok else '**no**'} |")
    for label, stats in (("all, synthesized here", synthesized["overall"]), ("**all**", cells["overall"])):
        ok = stats["median"] <= TARGETS["median"] and stats["worst"] <= TARGETS["worst"]
        lines.append(f"| {label} | {stats['n']} | {pct(stats['median'], 1)} | {pct(stats['worst'], 1)} | "
                     f"{'yes' if ok else '**no**'} |")
    lines += ["", "ECP5 (recorded configurations only; LUT4 and FF are one fitted ratio to the generic estimate):", "",
              "| figure | configurations | median error | worst error |", "|---|---|---|---|"]
    for figure, label in (("lut4", "LUT4"), ("ecp5_ff", "FF")):
        stats = result[figure]["overall"]
        if stats:
            lines.append(f"| {label} | {stats['n']} | {pct(stats['median'], 1)} | {pct(stats['worst'], 1)} |")
    lines += ["", "| family | parameters | source | cells measured | cells estimated | error | FF error | "
              "LUT4 measured / estimated | LUT4 error | DSP measured / estimated |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in result["rows"]:
        est_area = row["estimate"]
        ecp5 = row.get("lut4") and "lut4" in est_area
        lut = f"{row['lut4']} / {est_area['lut4']}" if ecp5 else ""
        dsp = f"{row['dsp_mult18']} / {est_area.get('dsp_mult18', 'n/a')}" if ecp5 else ""
        lines.append(f"| {row['design']} | {_params_text(row['design'], row['params'])} | {row['source']} | {row['cells']} | "
                     f"{est_area['cells']} | {_err(row, 'cells')} | {_err(row, 'ff')} | {lut} | "
                     f"{_err(row, 'lut4') if lut else ''} | {dsp} |")
    lines.append("")
    return lines


def failures(result: dict) -> list[str]:
    """The targets the overall generic-cell error misses."""
    stats = result["cells"]["overall"]
    found = []
    for key, target in TARGETS.items():
        if stats[key] > target:
            found.append(f"{key} estimate error on generic cells {pct(stats[key], 1)} > {pct(target, 0)}")
    return found


SECTION = BenchSection(name="estimate", order=95, run=run_bench, render=render_markdown, failures=failures)
