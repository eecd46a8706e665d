"""Benchmark section of the tensor processing engines (``tpe``): MAC styles compared.

Run by :mod:`accelgen.sim.bench` (``make bench``; ``--only tpe [--quick]``). For every engine
(the ``systolic`` output-stationary array, ``tree``, ``matrix2d``, ``cube3d``) and every MAC
style it supports (:data:`accelgen.hdl.mac.MAC_STYLES`), at int8 x int8 signed:

1. **Synthesis.** Yosys generic cells re-mapped to 2-input gates (``abc -g
   AND,NAND,OR,NOR,XOR,XNOR,MUX``, as in the reference measurements of the bit-weight TPE
   paper's RTL) and logic depth (``ltp -noff``); ECP5 LUT4 / CCU2C / FF / MULT18X18D with
   DSPs allowed and with ``-nodsp`` (pure logic); nextpnr out-of-context Fmax of the
   ``-nodsp`` netlist. The MAC styles are then compared on **area x delay** against the
   baseline of the same engine and size: generic gates x logic depth, and ECP5 logic cells /
   Fmax.
2. **PE level.** The output-stationary MAC cell alone (int8, 32-bit accumulator), baseline vs
   carry-save: the like-for-like comparison with the paper's ``mac.v`` / ``opt1_mac.v``.
3. **Throughput (RTL measured, full run only).** Back-to-back tiles through the Verilator
   build of each engine's baseline: measured ``cycle_count`` against the analytic model.

``--quick`` synthesizes tiny configurations only (and skips the RTL throughput). The full run
(about an hour on two cores) uses the paper's configurations where they fit that budget:
OS 4x4 and 8x8, tree K=16 x N=4, and the 2D matrix and cube at 4x4 and 4x4x4;
``make sweep-tpe SIZES=16 TARGET=generic`` synthesizes 16x16 arrays. Engines carry their
stream interface, result FIFO and 16-bit counters in these figures.

``python -m accelgen.sim.bench.tpe compare --hpte PATH`` (``make bench-compare HPTE=PATH``)
synthesizes the user's own checkout of wqzustc/High-Performance-Tensor-Processing-Engines
(nothing of it is vendored or fetched) next to accelgen's equivalent configurations with the
same script and tools, and writes ``bench/tpe_compare.json`` and ``bench/tpe_compare.md``;
this section's report includes that table when the file exists.

``python -m accelgen.sim.bench.tpe sweep`` (``make sweep-tpe``) synthesizes architecture x MAC
style x size and writes ``out/sweep_tpe/sweep.csv`` and a Pareto plot ``pareto.png`` (area
vs throughput, colour = Fmax).
"""

import argparse
import concurrent.futures
import csv
import dataclasses
import json
import re
import sys
import time
from pathlib import Path

from ...generators import get_design
from . import BenchContext, BenchSection

__all__ = ["Point", "engine_points", "synthesize_point", "run_bench", "render_markdown", "failures",
           "anchor_configs", "run_compare", "run_tpe_sweep", "SECTION", "main"]

#: The 2-input gate library of the generic counts (the paper RTL reference measurements).
ABC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
#: Operands of every benchmarked configuration.
INT8 = dict(a_width=8, b_width=8, a_signed=True, b_signed=True)
#: MAC styles per engine.
ENGINE_MACS = {
    "systolic": ("baseline", "carry_save"),
    "matrix2d": ("baseline", "carry_save"),
    "tree": ("baseline", "carry_save", "same_weight_tree"),
    "cube3d": ("baseline", "carry_save", "same_weight_tree"),
}


@dataclasses.dataclass(frozen=True)
class Point:
    """One configuration to synthesize: design name, parameters (without ``mac``), label."""

    design: str
    kwargs: tuple
    label: str
    mac: str = "baseline"

    @property
    def params(self):
        """The validated parameters of this point."""
        return get_design(self.design).params(**dict(self.kwargs), mac=self.mac, **INT8)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{self.label}_{self.mac}").strip("_")

    @property
    def macs_per_cycle(self) -> int:
        """Multipliers of the configuration (MACs per cycle at full utilization)."""
        p = self.params
        return p.rows * p.cols * getattr(p, "depth", 1)


def _point(design, label, mac="baseline", **kwargs) -> Point:
    return Point(design, tuple(sorted(kwargs.items())), label, mac)


def engine_points(quick: bool) -> list[Point]:
    """Every engine x MAC style at the sizes of the run (tiny ones with ``quick``)."""
    common = dict(counter_width=16)
    if quick:
        shapes = [
            ("systolic", "OS 2x2", dict(rows=2, cols=2, k_max=16)),
            ("matrix2d", "2D 2x2", dict(rows=2, cols=2, k_max=16)),
            ("tree", "tree K4xN2", dict(depth=4, cols=2, k_max=16)),
            ("cube3d", "cube 2x2x2", dict(rows=2, cols=2, depth=2, k_max=16)),
        ]
    else:
        # Largest first (they finish last otherwise). At most 64 multipliers, where every
        # flow including placement fits the budget: the paper's 16x16 arrays and 8x8x8 cube
        # take 20+ minutes each in the generic flow alone (WebAssembly, one core).
        shapes = [
            ("systolic", "OS 8x8", dict(rows=8, cols=8, k_max=256, acc_width=32)),
            ("tree", "tree K16xN4", dict(depth=16, cols=4, k_max=1)),
            ("cube3d", "cube 4x4x4", dict(rows=4, cols=4, depth=4, k_max=1)),
            ("matrix2d", "2D 4x4", dict(rows=4, cols=4, k_max=256, acc_width=32)),
            ("systolic", "OS 4x4", dict(rows=4, cols=4, k_max=256, acc_width=32)),
        ]
    return [_point(design, label, mac, **kwargs, **common)
            for design, label, kwargs in shapes for mac in ENGINE_MACS[design]]


def _export(point: Point, out_dir: Path) -> tuple[Path, str]:
    from ...generators.export import write_design

    design_dir = Path(out_dir) / point.slug
    manifest = write_design(get_design(point.design), point.params, design_dir)
    return design_dir / manifest["verilog"], manifest["module"]


def _ecp5_summary(report: dict) -> dict:
    keys = ("device", "lut4", "ccu2", "ff", "dsp_mult18", "dpram", "pnr_comb", "fmax_mhz", "note", "yosys_version")
    return {key: report.get(key) for key in keys}


def _generic_summary(report: dict) -> dict:
    ff = sum(n for cell, n in report["cells_by_type"].items() if "DFF" in cell)
    gates = sum(n for cell, n in report["cells_by_type"].items() if "DFF" not in cell and not cell.startswith("$scope"))
    return {"gates": gates, "ff": ff, "logic_depth": report["logic_depth"], "cells_by_type": report["cells_by_type"],
            "yosys_version": report["yosys_version"]}


def synthesize(verilog, top: str, workdir: Path, *, frontend=None, flows=("generic", "ecp5", "ecp5_nodsp"),
               place_nodsp: bool = True) -> dict:
    """Run the requested flows on one netlist; the summarized figures of each."""
    from ...synth.flows import synth_ecp5, synth_generic

    result = {}
    if "generic" in flows:
        result["generic"] = _generic_summary(
            synth_generic(verilog, top, workdir / "generic", frontend=frontend, abc_gates=ABC_GATES))
    if "ecp5" in flows:
        result["ecp5"] = _ecp5_summary(synth_ecp5(verilog, top, workdir / "ecp5", frontend=frontend, place=False))
    if "ecp5_nodsp" in flows:
        result["ecp5_nodsp"] = _ecp5_summary(
            synth_ecp5(verilog, top, workdir / "ecp5_nodsp", frontend=frontend, nodsp=True, place=place_nodsp))
    return result


#: Multipliers up to which a configuration gets every flow (ECP5 with DSPs, -nodsp placed);
#: up to FULL_ECP5_LIMIT the -nodsp netlist is only synthesized; larger ones get the generic
#: flow only (ECP5 synthesis of 256+ multipliers takes about half an hour each in WebAssembly).
PLACE_LIMIT = 64
ECP5_LIMIT = 128


def synthesize_point(point: Point, out_dir: Path) -> dict:
    """Export and synthesize one engine configuration; one result row."""
    verilog, top = _export(point, out_dir)
    p = point.params
    row = {"design": point.design, "label": point.label, "mac": point.mac, "params": p.to_dict(),
           "acc_width": p.acc_width, "multipliers": point.macs_per_cycle}
    size = point.macs_per_cycle
    flows = ("generic", "ecp5", "ecp5_nodsp") if size <= PLACE_LIMIT else (
        ("generic", "ecp5_nodsp") if size <= ECP5_LIMIT else ("generic",))
    row |= synthesize(verilog, top, Path(out_dir) / point.slug, flows=flows, place_nodsp=size <= PLACE_LIMIT)
    return row


def _pe_rows(out_dir: Path) -> list[dict]:
    """The OS MAC cell alone, int8 x int8 -> 32 bits, operands (carry-save) or product
    (baseline) registered inside the cell: baseline vs carry-save."""
    from amaranth.hdl import signed

    from ...generators.export import _convert
    from ...hdl.pe import OutputStationaryPE

    rows = []
    for mac in ("baseline", "carry_save"):
        pe = OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(32), pipeline_product=True,
                                forward_a=False, forward_b=False, mac=mac)
        workdir = Path(out_dir) / f"pe_{mac}"
        workdir.mkdir(parents=True, exist_ok=True)
        verilog = workdir / f"os_pe_{mac}.v"
        verilog.write_text(_convert(pe, f"os_pe_{mac}"))
        row = {"design": "pe", "label": "OS PE int8 acc32", "mac": mac, "multipliers": 1, "acc_width": 32}
        row |= synthesize(verilog, f"os_pe_{mac}", workdir)
        rows.append(row)
    return rows


def _run_parallel(tasks, workers: int) -> list:
    results = [None] * len(tasks)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fn, *args): index for index, (fn, args) in enumerate(tasks)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            results[futures[future]] = future.result()
            row = results[futures[future]]
            rows = row if isinstance(row, list) else [row]
            for r in rows:
                print(f"  [{done}/{len(tasks)}] {r['label']} {r['mac']}: {_brief(r)}", flush=True)
    return results


def _brief(row: dict) -> str:
    parts = []
    if "generic" in row:
        parts.append(f"{row['generic']['gates']} gates, {row['generic']['ff']} FF, depth {row['generic']['logic_depth']}")
    if "ecp5_nodsp" in row:
        e = row["ecp5_nodsp"]
        fmax = f"{e['fmax_mhz']:.1f} MHz" if e.get("fmax_mhz") else (e.get("note") or "n/a")
        parts.append(f"ECP5 -nodsp {e['lut4']} LUT4 {e['ccu2']} CCU2C {e['ff']} FF, {fmax}")
    return "; ".join(parts)


def _logic_cells(ecp5: dict) -> int | None:
    if ecp5.get("pnr_comb") is not None:
        return ecp5["pnr_comb"]
    if ecp5.get("lut4") is None:
        return None
    return ecp5["lut4"] + 2 * (ecp5.get("ccu2") or 0)


def add_ratios(rows: list[dict]) -> None:
    """Area x delay of every row, and its ratio to the baseline of the same configuration."""
    for row in rows:
        generic = row.get("generic") or {}
        if generic.get("logic_depth"):
            row["generic_area_delay"] = generic["gates"] * generic["logic_depth"]
        ecp5 = row.get("ecp5_nodsp") or {}
        cells = _logic_cells(ecp5)
        if cells and ecp5.get("fmax_mhz"):
            row["ecp5_area_delay"] = cells / ecp5["fmax_mhz"]
    baselines = {(row["design"], row["label"]): row for row in rows if row["mac"] == "baseline"}
    for row in rows:
        base = baselines.get((row["design"], row["label"]))
        for key in ("generic_area_delay", "ecp5_area_delay"):
            if base and row.get(key) and base.get(key):
                row[f"{key}_vs_baseline"] = row[key] / base[key]


def _throughput_rows(ctx: BenchContext) -> list[dict]:
    import numpy as np

    from ...generators.engines import analytic_cycles
    from ...verif import engines_host
    from ..runner import build, simulate

    rows = []
    plans = [("tree", dict(depth=16, cols=4, k_max=64)), ("matrix2d", dict(rows=8, cols=8, k_max=64)),
             ("cube3d", dict(rows=4, cols=4, depth=4, k_max=64))]
    for design_name, kwargs in plans:
        design = get_design(design_name)
        params = design.params(**kwargs, **INT8)
        tiles, k = 16, 64
        job = {"name": f"{design_name}_tiles{tiles}_k{k}", "stall": 0.0, "backpressure": 0.0, "check": True,
               "tiles": tiles, "k": k,
               "inputs": engines_host.random_beats(params, np.random.default_rng(ctx.seed), [k] * tiles)}
        out = simulate(build(design, params), [job], seed=ctx.seed, workdir=(ctx.out_dir / "sim" / design_name).resolve())[0]
        problems = engines_host.check(params, [job], [out])
        cycles = int(out["cycle_count"])
        model = analytic_cycles(params, tiles=tiles, k=k)
        rows.append({"design": design_name, "params": params.to_dict(), "tiles": tiles, "k": k, "rtl_cycles": cycles,
                     "analytic_cycles": model, "ideal_cycles": tiles * k,
                     "utilization": int(out["mac_count"]) / (params.macs_per_beat * cycles),
                     "rtl_vs_analytic_pct": 100.0 * (cycles - model) / model, "problems": problems})
        print(f"  throughput {design_name}: {cycles} cycles (analytic {model}, ideal {tiles * k})", flush=True)
    return rows


def run_bench(ctx: BenchContext) -> dict:
    """Synthesize every engine x MAC style (and the PE pair); RTL throughput in full runs."""
    points = engine_points(ctx.quick)
    synth_dir = ctx.out_dir / "synth"
    print(f"synthesis: {len(points)} engine configurations + 2 PEs ({ctx.workers} at a time)", flush=True)
    tasks = [(synthesize_point, (point, synth_dir)) for point in points]
    tasks.append((_pe_rows, (synth_dir,)))
    results = _run_parallel(tasks, ctx.workers)
    synthesis = results[:-1]
    pe = results[-1]
    add_ratios(synthesis)
    add_ratios(pe)
    throughput = [] if ctx.quick else _throughput_rows(ctx)
    result = {"seed": ctx.seed, "quick": ctx.quick, "synthesis": synthesis, "pe": pe, "throughput": throughput}
    compare = ctx.out_dir.parent / "tpe_compare.json"
    if compare.exists():
        result["compare"] = json.loads(compare.read_text())
    return result


# -- report ------------------------------------------------------------------------------------


def _num(value, fmt="{}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _ratio(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def _synth_table(rows: list[dict]) -> list[str]:
    lines = [
        "| engine | config | mac | gates | FF | depth | gates·depth vs baseline | ECP5 LUT4 / CCU2C / FF / MULT18 "
        "| -nodsp LUT4 / CCU2C / FF | -nodsp Fmax | cells/Fmax vs baseline |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        g = row.get("generic", {})
        e = row.get("ecp5", {}) or {}
        n = row.get("ecp5_nodsp", {}) or {}
        fmax = _num(n.get("fmax_mhz"), "{:.1f} MHz") if n.get("fmax_mhz") else (n.get("note") or "n/a")
        lines.append(
            f"| {row['design']} | {row['label']} | {row['mac']} | {_num(g.get('gates'))} | {_num(g.get('ff'))} "
            f"| {_num(g.get('logic_depth'))} | {_ratio(row.get('generic_area_delay_vs_baseline'))} "
            f"| {_num(e.get('lut4'))} / {_num(e.get('ccu2'))} / {_num(e.get('ff'))} / {_num(e.get('dsp_mult18'))} "
            f"| {_num(n.get('lut4'))} / {_num(n.get('ccu2'))} / {_num(n.get('ff'))} | {fmax} "
            f"| {_ratio(row.get('ecp5_area_delay_vs_baseline'))} |"
        )
    return lines


def render_compare(compare: dict) -> list[str]:
    """Markdown table of a ``tpe_compare.json``."""
    lines = [
        "| configuration | source | gates | FF | depth | ECP5 -nodsp LUT4 / CCU2C / FF | gates·depth |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for row in compare["rows"]:
        for source in ("paper", "accelgen"):
            r = row.get(source)
            if not r:
                continue
            if "error" in r:
                lines.append(f"| {row['name']} | {source} | error: {r['error'][:80]} | | | | |")
                continue
            g, n = r.get("generic", {}), r.get("ecp5_nodsp", {}) or {}
            area_delay = g["gates"] * g["logic_depth"] if g.get("logic_depth") else None
            lines.append(
                f"| {row['name']} | {source}{' (' + r['label'] + ')' if r.get('label') else ''} | {_num(g.get('gates'))} "
                f"| {_num(g.get('ff'))} | {_num(g.get('logic_depth'))} | {_num(n.get('lut4'))} / {_num(n.get('ccu2'))} "
                f"/ {_num(n.get('ff'))} | {_num(area_delay)} |"
            )
    return lines


def render_markdown(results: dict) -> list[str]:
    """This section of ``BENCHMARKS.md``."""
    lines = [
        "## Tensor processing engines and MAC styles (`tpe`)",
        "",
        "Signed int8 × int8 for every engine and MAC style (`baseline`, `carry_save`, `same_weight_tree`; "
        "results are bit-identical across styles, see the tests). *gates*: 2-input cells after "
        f"`synth -flatten; abc -g {ABC_GATES}`; *depth*: `ltp -noff` (cells on the longest path, counters "
        "and stream control included, 16-bit counters); *ECP5*: `synth_ecp5` cell counts with DSPs "
        "allowed and with `-nodsp`; *Fmax*: nextpnr-ecp5 out-of-context on the `-nodsp` netlist (seed 1). "
        f"Configurations of more than {PLACE_LIMIT} multipliers are not placed, and beyond {ECP5_LIMIT} only the "
        "generic flow runs (WebAssembly tool run times). Area × delay ratios compare each style with the baseline "
        "of the same engine and size (below 1 = better): generic gates × depth, and ECP5 logic cells / Fmax.",
        "",
        *_synth_table(results["synthesis"]),
        "",
        "MAC cell alone (int8, 32-bit accumulator, registered operands or product, no forwarding), the "
        "like-for-like counterpart of the paper's `mac.v` / `opt1_mac.v` PEs:",
        "",
        *_synth_table(results["pe"]),
        "",
    ]
    if results.get("throughput"):
        lines += ["Throughput (RTL measured, 16 back-to-back tiles of K = 64, no stalls):", "",
                  "| engine | RTL cycles | analytic | ideal | utilization | RTL vs analytic |",
                  "|---|--:|--:|--:|--:|--:|"]
        for row in results["throughput"]:
            lines.append(f"| {row['design']} | {row['rtl_cycles']} | {row['analytic_cycles']} | {row['ideal_cycles']} "
                         f"| {100 * row['utilization']:.2f} % | {row['rtl_vs_analytic_pct']:+.2f} % |")
        lines.append("")
    compare = results.get("compare")
    stored = Path("bench") / "tpe_compare.json"  # written by `make bench-compare`, possibly later
    if stored.exists():
        compare = json.loads(stored.read_text())
    if compare:
        results = dict(results, compare=compare)
    if results.get("compare"):
        lines += ["Side by side with the paper's RTL (`make bench-compare HPTE=<checkout>`; same script, same tools):",
                  "", *render_compare(results["compare"]), ""]
    else:
        lines += ["The side-by-side with the paper's own RTL needs a checkout of "
                  "wqzustc/High-Performance-Tensor-Processing-Engines, which accelgen neither fetches nor vendors: "
                  "`make bench-compare HPTE=<your checkout>` synthesizes it and accelgen's equivalent configurations "
                  "with this script and these tools, and its table then appears here.", ""]
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): tiny configurations, no RTL throughput.*", ""]
    return lines


def failures(results: dict) -> list[str]:
    """Pass criteria: every configuration synthesized; RTL cycles within 2 % of the model."""
    found = []
    for row in results["synthesis"] + results["pe"]:
        if not (row.get("generic") or {}).get("gates"):
            found.append(f"{row['label']} {row['mac']}: no generic synthesis result")
    for row in results.get("throughput", []):
        found += [f"{row['design']}: {problem}" for problem in row["problems"]]
        if abs(row["rtl_vs_analytic_pct"]) > 2:
            found.append(f"{row['design']}: RTL cycles {row['rtl_cycles']} vs analytic {row['analytic_cycles']}")
    return found


SECTION = BenchSection(name="tpe", order=30, run=run_bench, render=render_markdown, failures=failures)


# -- comparison with the paper's RTL -------------------------------------------------------------

def _files(root: Path, folder: str, names=None, suffixes=(".v", ".sv")) -> list[Path]:
    base = root / folder
    if names is not None:
        return [base / name for name in names]
    # Every design source below the folder, not testbenches (sim/) or synthesis outputs (syn/).
    return sorted(path for path in base.rglob("*") if path.suffix in suffixes
                  and not {"sim", "syn"} & set(path.relative_to(base).parts[:-1]) and path.name != "DW02_tree.sv")


def anchor_configs(root: Path, quick: bool = False) -> list[dict]:
    """The paper's configurations (reference note, Appendix A) and accelgen's equivalents.

    Each entry: ``name``, ``top``, ``defines`` (``-G`` overrides), ``files`` (paths in the
    user's checkout), ``dw02`` (needs the Wallace-tree model), and ``accelgen`` (a
    :class:`Point`, or ``"pe:<mac>"`` for the MAC cell alone).
    """
    root = Path(root)
    os_dir = "OPT1/systolic_array_os"
    opt1_files = [f"{name}.v" for name in ("booth_partial_product_generator_pp1", "booth_partial_product_generator",
                                           "booth_pp_gen", "inv_conveter_8", "inv_unit_nor_out", "inv_unit",
                                           "opt1_mac", "pe", "top")]
    opt2_files = [f"{name}.sv" for name in ("partial_product_select", "top_pe_tile", "top_tpe", "tree_full_sum",
                                            "vector_encoder", "weight_rf")]
    configs = [
        dict(name="mac_pe", top="mac", defines={}, files=_files(root, f"{os_dir}/mac_pe", ["mac.v"]), dw02=False,
             accelgen="pe:baseline"),
        dict(name="opt1_pe", top="opt1_mac", defines={"ACC_WIDTH": 32, "INPUT_PIP": 1},
             files=_files(root, f"{os_dir}/opt1_pe"), dw02=True, accelgen="pe:carry_save"),
    ]
    sizes = [4] if quick else [4, 8, 16]
    for n in sizes:
        shape = dict(rows=n, cols=n, k_max=256, acc_width=32, counter_width=16)
        configs += [
            dict(name=f"os_mac{n}", top="top", defines={"A_H": n, "B_W": n, "WIDTH": 8, "ACC_WIDTH": 32},
                 files=_files(root, f"{os_dir}/array_mac_based", ["pe.v", "top.v"]), dw02=False,
                 accelgen=_point("systolic", f"OS {n}x{n}", "baseline", **shape)),
            dict(name=f"os_opt1_{n}", top="top", defines={"A_H": n, "B_W": n, "WIDTH": 8, "ACC_WIDTH": 32},
                 files=_files(root, f"{os_dir}/array_opt1_based", opt1_files), dw02=True,
                 accelgen=_point("systolic", f"OS {n}x{n}", "carry_save", **shape)),
        ]
    if not quick:
        cube = dict(rows=8, cols=8, depth=8, k_max=1, counter_width=16)
        configs += [
            dict(name="cube_mac8", top="top", defines={"N": 8, "WIDTH": 8}, files=_files(root, "OPT1/cube/array_mac_based"),
                 dw02=False, accelgen=_point("cube3d", "cube 8x8x8", "baseline", **cube)),
            dict(name="cube_opt1_8", top="top", defines={"N": 8, "WIDTH": 8},
                 files=_files(root, "OPT1/cube/array_opt1_based"), dw02=True,
                 accelgen=_point("cube3d", "cube 8x8x8", "carry_save", **cube)),
        ]
    for n in ([4] if quick else [4, 16]):
        configs.append(dict(name=f"opt2_n{n}", top="top_tpe", defines={"N": n}, files=_files(root, "OPT2", opt2_files),
                            dw02=True, accelgen=_point("tree", f"tree K16xN{n}", "same_weight_tree", depth=16, cols=n,
                                                       k_max=1, counter_width=16)))
    for n in ([16] if quick else [16, 32]):
        configs.append(dict(name=f"opt4c_n{n}", top="top_pe_column", defines={"N": n},
                            files=_files(root, "OPT3_OPT4C/pe", ["pe.v", "sparse_encoder.v"])
                            + _files(root, "OPT3_OPT4C/array", ["top_pe_column.v"]), dw02=True,
                            accelgen=_point("matrix2d", f"2D {n}x1", "carry_save", rows=n, cols=1, k_max=256,
                                            acc_width=26, overflow="wrap", counter_width=16)))
    return configs


def _dw02_copy(root: Path, workdir: Path) -> Path:
    """The user's DW02_tree.sv with its ``translate_off``/``translate_on`` pragma lines removed
    (otherwise the frontend elaborates an empty box), written into ``workdir``."""
    candidates = sorted(Path(root).rglob("DW02_tree.sv"))
    if not candidates:
        raise FileNotFoundError(f"DW02_tree.sv not found under {root}")
    text = candidates[0].read_text(errors="replace")
    kept = [line for line in text.splitlines() if not re.search(r"translate_(off|on)", line)]
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / "DW02_tree.sv"
    copy.write_text("\n".join(kept) + "\n")
    return copy


def _anchor_row(config: dict, root: Path, workdir: Path, flows) -> dict:
    missing = [str(path) for path in config["files"] if not path.exists()]
    if missing:
        return {"error": f"missing files: {', '.join(missing)}"}
    files = list(config["files"])
    if config["dw02"]:
        files.append(_dw02_copy(root, workdir / "src"))
    defines = " ".join(f"-G {name}={value}" for name, value in config["defines"].items())
    names = " ".join(path.name for path in files)
    frontend = [f"read_slang --threads 1 --top {config['top']} {defines} {names}"]
    try:
        return synthesize(files, config["top"], workdir, frontend=frontend, flows=flows, place_nodsp=False)
    except (RuntimeError, ValueError) as error:
        return {"error": str(error).splitlines()[0]}


def _accelgen_row(config: dict, workdir: Path, flows) -> dict:
    target = config["accelgen"]
    if isinstance(target, str):
        pe = [row for row in _pe_rows(workdir) if row["mac"] == target.split(":")[1]][0]
        return {key: pe[key] for key in ("generic", "ecp5_nodsp") if key in pe} | {"label": f"OS PE {pe['mac']}"}
    verilog, top = _export(target, workdir)
    return synthesize(verilog, top, workdir / target.slug, flows=flows, place_nodsp=False) | {
        "label": f"{target.design} {target.label} {target.mac}"}


def run_compare(hpte: Path, out_dir: Path, *, quick: bool = False, workers: int = 2) -> dict:
    """Synthesize the paper's configurations from ``hpte`` and accelgen's equivalents."""
    hpte = Path(hpte).resolve()
    if not (hpte / "OPT1").is_dir():
        raise ValueError(f"HPTE={hpte} does not look like a High-Performance-Tensor-Processing-Engines checkout "
                         "(no OPT1/ folder)")
    configs = anchor_configs(hpte, quick)
    flows = ("generic", "ecp5_nodsp")
    work = Path(out_dir) / "tpe_compare"
    tasks = []
    for config in configs:
        tasks.append(("paper", config, lambda c=config: _anchor_row(c, hpte, work / "paper" / c["name"], flows)))
        tasks.append(("accelgen", config, lambda c=config: _accelgen_row(c, work / "accelgen" / c["name"], flows)))
    rows = {config["name"]: {"name": config["name"]} for config in configs}
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fn): (source, config) for source, config, fn in tasks}
        for future in concurrent.futures.as_completed(futures):
            source, config = futures[future]
            rows[config["name"]][source] = future.result()
            print(f"  {config['name']} ({source}) done", flush=True)
    result = {"hpte": "user checkout (path not recorded)", "quick": quick, "abc_gates": ABC_GATES,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": list(rows.values())}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "tpe_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (Path(out_dir) / "tpe_compare.md").write_text(
        "# accelgen vs the bit-weight TPE paper's RTL\n\n" + "\n".join(render_compare(result)) + "\n")
    return result


# -- sweep: architecture x MAC style x size -> CSV + Pareto plot ---------------------------------

def sweep_points(sizes=(2, 4, 8)) -> list[Point]:
    """Architecture x MAC style x size (int8): square arrays of ``n x n``, trees of ``2n`` lanes
    x ``n`` outputs, cubes of ``n/2 x n/2 x n``."""
    points = []
    for n in sizes:
        shapes = [("systolic", f"OS {n}x{n}", dict(rows=n, cols=n, k_max=256)),
                  ("matrix2d", f"2D {n}x{n}", dict(rows=n, cols=n, k_max=256)),
                  ("tree", f"tree K{2 * n}xN{n}", dict(depth=2 * n, cols=n, k_max=256)),
                  ("cube3d", f"cube {max(1, n // 2)}x{max(1, n // 2)}x{n}", dict(rows=max(1, n // 2), cols=max(1, n // 2),
                                                                                 depth=n, k_max=256))]
        for design, label, kwargs in shapes:
            for mac in ENGINE_MACS[design]:
                points.append(_point(design, label, mac, counter_width=16, **kwargs))
    return points


def run_tpe_sweep(out_dir: Path, *, sizes=(2, 4, 8), target: str = "ecp5", workers: int = 2) -> list[dict]:
    """Synthesize every sweep point; write ``sweep.csv`` and ``pareto.png`` into ``out_dir``.

    Throughput is the steady-state MAC rate: multipliers x Fmax (tiles of K >= rows beats keep
    every multiplier busy, see the engines' cycle models); with ``target="generic"`` Fmax is
    replaced by 1 / logic depth (a relative figure).
    """
    out_dir = Path(out_dir)
    points = sweep_points(sizes)
    flows = ("generic", "ecp5_nodsp") if target == "ecp5" else ("generic",)

    def one(point):
        verilog, top = _export(point, out_dir / "designs")
        return point, synthesize(verilog, top, out_dir / "designs" / point.slug, flows=flows)

    rows = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for point, result in pool.map(one, points):
            g = result["generic"]
            e = result.get("ecp5_nodsp") or {}
            fmax = e.get("fmax_mhz")
            row = {"design": point.design, "config": point.label, "mac": point.mac, "multipliers": point.macs_per_cycle,
                   "gates": g["gates"], "ff": g["ff"], "logic_depth": g["logic_depth"],
                   "lut4": e.get("lut4"), "ccu2": e.get("ccu2"), "ecp5_ff": e.get("ff"), "logic_cells": _logic_cells(e) if e else None,
                   "fmax_mhz": fmax,
                   "gmacs": point.macs_per_cycle * fmax / 1000 if fmax else None,
                   "macs_per_gate_delay": point.macs_per_cycle / g["logic_depth"] if g["logic_depth"] else None}
            rows.append(row)
            print(f"  {point.label} {point.mac}: {row['gates']} gates, depth {row['logic_depth']}, Fmax {fmax}", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _pareto_plot(rows, out_dir / "pareto.png", target)
    print(f"wrote {out_dir / 'sweep.csv'} and {out_dir / 'pareto.png'}")
    return rows


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated (smaller area and higher throughput)."""
    front = []
    for i, (area, rate) in enumerate(points):
        if not any((a <= area and r >= rate) and (a < area or r > rate) for j, (a, r) in enumerate(points) if j != i):
            front.append(i)
    return front


def _pareto_plot(rows: list[dict], path: Path, target: str) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no Pareto plot", flush=True)
        return
    if target == "ecp5":
        usable = [row for row in rows if row["gmacs"] and row["logic_cells"]]
        area = [row["logic_cells"] for row in usable]
        rate = [row["gmacs"] for row in usable]
        colour = [row["fmax_mhz"] for row in usable]
        xlabel, ylabel, clabel = "ECP5 logic cells (-nodsp)", "throughput (GMAC/s)", "Fmax (MHz)"
    else:
        usable = rows
        area = [row["gates"] for row in usable]
        rate = [row["macs_per_gate_delay"] for row in usable]
        colour = [row["logic_depth"] for row in usable]
        xlabel, ylabel, clabel = "gates (2-input)", "MACs per cycle / logic depth", "logic depth"
    markers = {"baseline": "o", "carry_save": "s", "same_weight_tree": "^"}
    fig, ax = plt.subplots(figsize=(8, 6))
    for mac, marker in markers.items():
        idx = [i for i, row in enumerate(usable) if row["mac"] == mac]
        if idx:
            sc = ax.scatter([area[i] for i in idx], [rate[i] for i in idx], c=[colour[i] for i in idx], marker=marker,
                            cmap="viridis", vmin=min(colour), vmax=max(colour), label=mac, edgecolors="black")
    for i, row in enumerate(usable):
        ax.annotate(f"{row['config']}", (area[i], rate[i]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = sorted(pareto_front(list(zip(area, rate))), key=lambda i: area[i])
    ax.plot([area[i] for i in front], [rate[i] for i in front], "r--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(sc, ax=ax, label=clabel)
    ax.legend()
    ax.set_title("accelgen TPEs: architecture x MAC style x size (int8)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    """``compare --hpte PATH`` or ``sweep``; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench.tpe", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    compare = sub.add_parser("compare", help="synthesize the paper's RTL (your checkout) next to accelgen's")
    compare.add_argument("--hpte", required=True, help="path of your High-Performance-Tensor-Processing-Engines checkout")
    compare.add_argument("--out", default="bench", help="folder of tpe_compare.json/.md (default: bench)")
    compare.add_argument("--quick", action="store_true", help="small configurations only")
    compare.add_argument("--workers", type=int, default=2)
    sweep = sub.add_parser("sweep", help="architecture x MAC style x size: CSV and Pareto plot")
    sweep.add_argument("--out", default="out/sweep_tpe")
    sweep.add_argument("--sizes", default="2,4,8", help="comma-separated array sizes n (default: 2,4,8)")
    sweep.add_argument("--target", choices=("generic", "ecp5"), default="ecp5")
    sweep.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        if args.command == "compare":
            run_compare(Path(args.hpte), Path(args.out), quick=args.quick, workers=args.workers)
            print(f"wrote {Path(args.out) / 'tpe_compare.json'} and {Path(args.out) / 'tpe_compare.md'}")
        else:
            sizes = tuple(int(size) for size in args.sizes.split(",") if size)
            run_tpe_sweep(Path(args.out), sizes=sizes, target=args.target, workers=args.workers)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
