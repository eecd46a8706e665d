"""Benchmark section ``booth_serial``: the digit-serial MAC with zero Booth-digit skipping.

Speed on real-looking data: signed int8 A operands drawn from a uniform distribution, from
N(0, 20) rounded and clipped (the distribution the paper measures), from ReLU'd N(0, 20), and
all zero; B uniform int8. For each engine shape the RTL (Verilator, stall-free, results
checked bit-exact) gives the busy cycles, compared with the data-dependent model
(:func:`accelgen.generators.engines.booth_serial_cycles`), with the parallel engine (one
cycle per beat, ``params.busy_cycles``) and with a fixed bit-serial grid that always spends
the 4 radix-4 digit cycles of an int8 operand (:func:`serial_cycles`).

Synthesis: the 2D column (``matrix2d`` ``rows=1 cols=16``, the paper's OPT4C column shape)
with ``baseline``, ``carry_save`` and ``booth_serial``: generic gates and logic depth, ECP5
``-nodsp`` LUT/FF and Fmax (:func:`accelgen.sim.bench._common.mac_style_flows`, as in the
``tpe`` section), and area per throughput, logic cells / (Fmax / cycles per beat), on each
data distribution.
"""

import functools

import numpy as np

from ...generators import get_design
from ...generators.engines import booth_serial_cycles, serial_cycles
from ...hdl.booth_serial import beat_steps, booth_digits
from ...verif import engines_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import INT8, brief, export_point, logic_cells, mac_style_flows, make_point, num, run_parallel

__all__ = ["DISTRIBUTIONS", "draw_a", "speed_rows", "synthesis_rows", "run_bench", "render_markdown", "failures",
           "SECTION"]

#: A-operand distributions of the speed measurement (signed int8).
DISTRIBUTIONS = ("uniform", "normal20", "relu_normal20", "zero")
DISTRIBUTION_TEXT = {
    "uniform": "uniform int8",
    "normal20": "N(0, 20) rounded, clipped",
    "relu_normal20": "ReLU(N(0, 20)) (half zeros)",
    "zero": "all zero",
}
#: Digit cycles of a fixed (non-skipping) radix-4 bit-serial grid for int8 operands.
FIXED_SERIAL_STEPS = 4


def draw_a(distribution: str, rng: np.random.Generator, shape) -> np.ndarray:
    """Signed int8 A operands of one of :data:`DISTRIBUTIONS`."""
    if distribution == "uniform":
        return rng.integers(-128, 128, size=shape)
    if distribution == "zero":
        return np.zeros(shape, dtype=np.int64)
    values = np.clip(np.rint(rng.normal(0.0, 20.0, size=shape)), -128, 127).astype(np.int64)
    if distribution == "relu_normal20":
        values = np.maximum(values, 0)
    elif distribution != "normal20":
        raise ValueError(f"distribution={distribution!r} is not legal: must be one of {', '.join(DISTRIBUTIONS)}")
    return values


def _speed_plans(quick: bool):
    k, tiles = (16, 2) if quick else (64, 8)
    return k, tiles, [
        ("matrix2d", "2D column 1x16 (OPT4C shape)", dict(rows=1, cols=16)),
        ("matrix2d", "2D 4x4", dict(rows=4, cols=4)),
        ("tree", "tree K16xN2", dict(depth=16, cols=2)),
    ]


def speed_rows(ctx: BenchContext) -> list[dict]:
    """Cycles per beat on each distribution, RTL vs model vs the parallel and fixed-serial
    grids, per engine shape."""
    k, tiles, plans = _speed_plans(ctx.quick)
    rows = []
    for design_name, label, kwargs in plans:
        design = get_design(design_name)
        params = design.params(**kwargs, **INT8, k_max=k, mac="booth_serial", counter_width=32)
        rng = np.random.default_rng(ctx.seed)
        jobs = []
        for distribution in DISTRIBUTIONS:
            beats = engines_host.random_beats(params, rng, [k] * tiles)
            beats["a_beats"] = draw_a(distribution, rng, beats["a_beats"].shape)
            jobs.append({"name": distribution, "inputs": beats, "stall": 0.0, "backpressure": 0.0, "check": True})
        workdir = (ctx.out_dir / "sim" / design_name / str(params.rows)).resolve()
        verdict = flow.verify(design, params, seed=ctx.seed, jobs=jobs, workdir=workdir, per_job=True)
        for job, out, problems in zip(jobs, verdict.outputs, verdict.job_problems):
            beats = job["inputs"]
            count = len(beats["last"])
            steps = beat_steps(beats["a_beats"], 8, True)
            digits = np.array(booth_digits(beats["a_beats"], 8, True))
            rtl = int(out["cycle_count"])
            model = booth_serial_cycles(params, beats["a_beats"], beats["last"])
            parallel = params.busy_cycles(tiles=tiles, k=k)
            fixed = serial_cycles(params, FIXED_SERIAL_STEPS, beats["last"])
            row = {
                "design": design_name, "label": label, "params": params.to_dict(), "rows": params.rows,
                "distribution": job["name"],
                "tiles": tiles, "k": k, "beats": count, "operands_per_beat": params.rows * params.depth,
                "nonzero_digits_per_operand": float((digits != 0).sum(axis=0).mean()),
                "zero_operands": float((beats["a_beats"] == 0).mean()),
                "steps_per_beat": float(steps.mean()),
                "rtl_cycles": rtl, "model_cycles": model, "parallel_cycles": parallel, "fixed_serial_cycles": fixed,
                "rtl_cycles_per_beat": rtl / count,
                "speedup_vs_fixed_serial": fixed / rtl,
                "slowdown_vs_parallel": rtl / parallel,
                "problems": problems,
            }
            rows.append(row)
            print(f"  {label} {job['name']}: {rtl} cycles (model {model}, parallel {parallel}, fixed-4 {fixed}), "
                  f"{row['steps_per_beat']:.2f} digit cycles/beat", flush=True)
    return rows


def _synth_points(quick: bool):
    shape = dict(rows=1, cols=2, k_max=16) if quick else dict(rows=1, cols=16, k_max=256)
    label = f"2D column {shape['rows']}x{shape['cols']}"
    return [make_point("matrix2d", label, mac, **shape, counter_width=16)
            for mac in ("baseline", "carry_save", "booth_serial")]


def _synthesize(point, out_dir):
    verilog, top = export_point(point, out_dir)
    p = point.params
    row = {"design": point.design, "label": point.label, "mac": point.mac, "params": p.to_dict(), "acc_width": p.acc_width}
    row |= mac_style_flows(verilog, top, out_dir / point.slug, flows=("generic", "ecp5_nodsp"), place_nodsp=True)
    return row


def synthesis_rows(ctx: BenchContext, speed: list[dict]) -> list[dict]:
    """The 2D column per MAC style, with area per throughput on each distribution (cycles per
    beat of the ``rows=1`` column's speed rows for ``booth_serial``, 1 for the others)."""
    calls = [functools.partial(_synthesize, point, ctx.out_dir / "synth") for point in _synth_points(ctx.quick)]
    rows = run_parallel(calls, ctx.workers, describe=lambda index, row: brief(row))
    column = {row["distribution"]: row["steps_per_beat"] for row in speed if row["rows"] == 1
              and row["design"] == "matrix2d"}
    for row in rows:
        ecp5 = row.get("ecp5_nodsp") or {}
        cells = logic_cells(ecp5)
        generic = row.get("generic") or {}
        row["per_distribution"] = {}
        for distribution in DISTRIBUTIONS:
            per_beat = column.get(distribution, 1.0) if row["mac"] == "booth_serial" else 1.0
            entry = {"cycles_per_beat": per_beat}
            if cells and ecp5.get("fmax_mhz"):
                entry["mbeats_per_s"] = ecp5["fmax_mhz"] / per_beat
                entry["cells_per_mbeat_s"] = cells / entry["mbeats_per_s"]
            if generic.get("gates") and generic.get("logic_depth"):
                entry["gates_depth_cycles"] = generic["gates"] * generic["logic_depth"] * per_beat
            row["per_distribution"][distribution] = entry
    return rows


def run_bench(ctx: BenchContext) -> dict:
    """Speed on the four distributions (RTL), then synthesis of the column per MAC style."""
    print("booth_serial: speed on real-looking data (Verilator)", flush=True)
    speed = speed_rows(ctx)
    print(f"booth_serial: synthesis of the 2D column, 3 MAC styles ({ctx.workers} at a time)", flush=True)
    synthesis = synthesis_rows(ctx, speed)
    return {"seed": ctx.seed, "quick": ctx.quick, "speed": speed, "synthesis": synthesis}


# -- report ------------------------------------------------------------------------------------


def render_markdown(results: dict) -> list[str]:
    """This section of ``BENCHMARKS.md``."""
    lines = [
        "## Digit-serial MAC with zero Booth-digit skipping (`booth_serial`)",
        "",
        "`mac=\"booth_serial\"` on the broadcast engines: a beat takes max(1, nonzero radix-4 Booth digit "
        "positions of its A operands) cycles, positions shared by the whole grid. Signed int8 A from each "
        "distribution, B uniform int8; stall-free RTL runs (Verilator, results bit-exact against the golden "
        "model) of back-to-back tiles. *digits/operand*: nonzero Booth digits per A operand (out of 4; the "
        "paper measures 2.05 for N(0, 20)); *digit cycles/beat*: the grid's cycles per beat from the data "
        "(the limit a shared-position grid reaches); *model*: `booth_serial_cycles`; *parallel*: the 1-beat-per-"
        f"cycle engine; *fixed-{FIXED_SERIAL_STEPS}*: a bit-serial grid that never skips ({FIXED_SERIAL_STEPS} "
        "cycles per beat). Busy cycles include the tile drain.",
        "",
        "| engine | A data | operands/beat | zero operands | digits/operand | digit cycles/beat | RTL cycles | model "
        "| RTL cycles/beat | parallel | fixed-4 | speed-up vs fixed-4 | cycles vs parallel |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results["speed"]:
        lines.append(
            f"| {row['label']} | {DISTRIBUTION_TEXT[row['distribution']]} | {row['operands_per_beat']} "
            f"| {100 * row['zero_operands']:.0f} % | {row['nonzero_digits_per_operand']:.2f} "
            f"| {row['steps_per_beat']:.2f} | {row['rtl_cycles']} | {row['model_cycles']} "
            f"| {row['rtl_cycles_per_beat']:.2f} | {row['parallel_cycles']} | {row['fixed_serial_cycles']} "
            f"| {row['speedup_vs_fixed_serial']:.2f}× | {row['slowdown_vs_parallel']:.2f}× |"
        )
    lines += [
        "",
        "A tree of K lanes (and a grid of several rows) shares each digit position across all its A operands: "
        "a position is skipped only if it is zero in every one of them, so with 16 lanes almost every beat "
        "needs all 4 positions on non-zero data, and skipping pays mostly in the single-operand column.",
        "",
        "Synthesis of the 2D column per MAC style (int8; generic gates after `abc -g` and `ltp -noff` depth; "
        "ECP5 `-nodsp` cells and nextpnr out-of-context Fmax; counters and stream control included). *cells per "
        "Mbeat/s*: ECP5 logic cells / (Fmax / cycles per beat), lower is better; cycles per beat are 1 for the "
        "parallel styles and the column's digit cycles per beat for `booth_serial`.",
        "",
        "| config | mac | gates | FF | depth | -nodsp LUT4 / CCU2C / FF | Fmax | "
        + " | ".join(f"cells per Mbeat/s, {DISTRIBUTION_TEXT[d]}" for d in DISTRIBUTIONS) + " |",
        "|---|---|--:|--:|--:|--:|--:|" + "--:|" * len(DISTRIBUTIONS),
    ]
    for row in results["synthesis"]:
        g = row.get("generic") or {}
        n = row.get("ecp5_nodsp") or {}
        fmax = f"{n['fmax_mhz']:.1f} MHz" if n.get("fmax_mhz") else (n.get("note") or "n/a")
        per = [row["per_distribution"][d].get("cells_per_mbeat_s") for d in DISTRIBUTIONS]
        lines.append(
            f"| {row['label']} | {row['mac']} | {num(g.get('gates'))} | {num(g.get('ff'))} | {num(g.get('logic_depth'))} "
            f"| {num(n.get('lut4'))} / {num(n.get('ccu2'))} / {num(n.get('ff'))} | {fmax} | "
            + " | ".join(num(value, "{:.1f}") for value in per) + " |"
        )
    lines.append("")
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): short tiles and a 1x2 column.*", ""]
    return lines


def failures(results: dict) -> list[str]:
    """Pass criteria: results bit-exact, RTL cycles equal to the model, every style synthesized."""
    found = []
    for row in results["speed"]:
        found += [f"{row['label']} {row['distribution']}: {problem}" for problem in row["problems"]]
        if row["rtl_cycles"] != row["model_cycles"]:
            found.append(f"{row['label']} {row['distribution']}: RTL cycles {row['rtl_cycles']} != model "
                         f"{row['model_cycles']}")
    for row in results["synthesis"]:
        if not (row.get("generic") or {}).get("gates"):
            found.append(f"{row['label']} {row['mac']}: no generic synthesis result")
    return found


SECTION = BenchSection(name="booth_serial", order=31, run=run_bench, render=render_markdown, failures=failures)
