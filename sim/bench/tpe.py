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
OS 4x4 and 8x8, tree K=16 x N=4, and the 2D matrix and cube at 4x4 and 4x4x4; it also
synthesizes OS 16x16 ``baseline`` and ``carry_save`` in the generic flow only (``scale``,
also measured alone by ``python -m accelgen.sim.bench.tpe --scale``);
``make sweep-tpe SIZES=16 TARGET=generic`` synthesizes other 16x16 arrays. Engines carry their
stream interface, result FIFO and 16-bit counters in these figures.

:mod:`accelgen.sim.bench.tpe_compare` (``make bench-compare HPTE=PATH``) synthesizes the
user's own checkout of wqzustc/High-Performance-Tensor-Processing-Engines next to accelgen's
equivalent configurations, places and times both sides (median of 3 seeds, critical paths) and
writes ``bench/tpe_compare.json``; this section's report
includes that table when the file exists. :mod:`accelgen.sim.bench.tpe_sweep`
(``make sweep-tpe``) synthesizes architecture x MAC style x size, with a Pareto plot.
"""


import argparse
import functools
import json
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import signed

from ...generators import get_design
from ...generators.export import _convert
from ...hdl.pe import OutputStationaryPE
from ...verif import engines_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import ABC_GATES, INT8, Point, brief, export_point, logic_cells, mac_style_flows, make_point, num, \
    run_parallel

__all__ = ["ENGINE_MACS", "engine_points", "scale_points", "scale_rows", "update_scale", "update_engines", "synthesize_point", "export_pe", "pe_rows", "add_ratios", "run_bench", "render_markdown",
           "render_compare", "path_text", "failures", "SECTION"]

#: MAC styles per engine.
ENGINE_MACS = {
    "systolic": ("baseline", "carry_save"),
    "matrix2d": ("baseline", "carry_save"),
    "tree": ("baseline", "carry_save", "same_weight_tree"),
    "cube3d": ("baseline", "carry_save", "same_weight_tree"),
}


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
    return [make_point(design, label, mac, **kwargs, **common)
            for design, label, kwargs in shapes for mac in ENGINE_MACS[design]]


def scale_points() -> list[Point]:
    """OS 16 x 16 int8, ``baseline`` and ``carry_save`` (and with a one-tile result buffer,
    also with ``row_select="mux_tree"``): the generic flow only (about ten minutes each in
    WebAssembly), measured in full runs and by ``python -m accelgen.sim.bench.tpe --scale``."""
    shape = dict(rows=16, cols=16, k_max=256, acc_width=32, counter_width=16)
    # The default result buffer (three tiles of rows) never stalls the array, even for tiles
    # of 16 beats back to back; one tile of rows is enough for tiles of stall_free_k = 37
    # beats and more, e.g. K = 256.
    # And the encoded row multiplexers (row_select="mux_tree"), which take fewer gates.
    return [make_point("systolic", "OS 16x16", mac, **shape) for mac in ENGINE_MACS["systolic"]] + [
        make_point("systolic", "OS 16x16, one-tile result buffer", "carry_save", out_fifo_depth=16, **shape),
        make_point("systolic", "OS 16x16, one-tile result buffer, mux_tree", "carry_save", out_fifo_depth=16,
                   row_select="mux_tree", **shape)]


#: Multipliers up to which a configuration gets every flow (ECP5 with DSPs, -nodsp placed);
#: up to ECP5_LIMIT the -nodsp netlist is only synthesized; larger ones get the generic
#: flow only (ECP5 synthesis of 256+ multipliers takes about half an hour each in WebAssembly).
PLACE_LIMIT = 64
ECP5_LIMIT = 128


def synthesize_point(point: Point, out_dir: Path) -> dict:
    """Export and synthesize one engine configuration; one result row."""
    verilog, top = export_point(point, out_dir)
    p = point.params
    row = {"design": point.design, "label": point.label, "mac": point.mac, "params": p.to_dict(),
           "acc_width": p.acc_width, "multipliers": point.macs_per_cycle}
    size = point.macs_per_cycle
    flows = ("generic", "ecp5", "ecp5_nodsp") if size <= PLACE_LIMIT else (
        ("generic", "ecp5_nodsp") if size <= ECP5_LIMIT else ("generic",))
    row |= mac_style_flows(verilog, top, Path(out_dir) / point.slug, flows=flows, place_nodsp=size <= PLACE_LIMIT)
    return row


def export_pe(mac: str, out_dir: Path) -> tuple[Path, str, Path]:
    """Write the OS MAC cell alone (int8 x int8 -> 32 bits, operands (carry-save) or product
    (baseline) registered inside the cell) into ``out_dir/pe_<mac>``: its Verilog file, top
    module and folder."""
    pe = OutputStationaryPE(a_shape=signed(8), b_shape=signed(8), acc_shape=signed(32), pipeline_product=True,
                            forward_a=False, forward_b=False, mac=mac)
    workdir = Path(out_dir) / f"pe_{mac}"
    workdir.mkdir(parents=True, exist_ok=True)
    verilog = workdir / f"os_pe_{mac}.v"
    verilog.write_text(_convert(pe, f"os_pe_{mac}"))
    return verilog, f"os_pe_{mac}", workdir


def pe_rows(out_dir: Path) -> list[dict]:
    """The OS MAC cell alone (:func:`export_pe`): baseline vs carry-save."""
    rows = []
    for mac in ("baseline", "carry_save"):
        verilog, top, workdir = export_pe(mac, out_dir)
        row = {"design": "pe", "label": "OS PE int8 acc32", "mac": mac, "multipliers": 1, "acc_width": 32}
        row |= mac_style_flows(verilog, top, workdir)
        rows.append(row)
    return rows


def add_ratios(rows: list[dict]) -> None:
    """Area x delay of every row, and its ratio to the baseline of the same configuration."""
    for row in rows:
        generic = row.get("generic") or {}
        if generic.get("logic_depth"):
            row["generic_area_delay"] = generic["gates"] * generic["logic_depth"]
        ecp5 = row.get("ecp5_nodsp") or {}
        cells = logic_cells(ecp5)
        if cells and ecp5.get("fmax_mhz"):
            row["ecp5_area_delay"] = cells / ecp5["fmax_mhz"]
    baselines = {(row["design"], row["label"]): row for row in rows if row["mac"] == "baseline"}
    for row in rows:
        base = baselines.get((row["design"], row["label"]))
        for key in ("generic_area_delay", "ecp5_area_delay"):
            if base and row.get(key) and base.get(key):
                row[f"{key}_vs_baseline"] = row[key] / base[key]


def _throughput_rows(ctx: BenchContext) -> list[dict]:
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
        workdir = (ctx.out_dir / "sim" / design_name).resolve()
        verdict = flow.verify(design, params, seed=ctx.seed, jobs=[job], workdir=workdir)
        out, problems = verdict.outputs[0], verdict.problems
        cycles = int(out["cycle_count"])
        model = params.busy_cycles(tiles=tiles, k=k)
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
    calls = [functools.partial(synthesize_point, point, synth_dir) for point in points]
    calls.append(functools.partial(pe_rows, synth_dir))
    # The last call gives the two PE rows, every other one a row.
    results = run_parallel(calls, ctx.workers,
                           describe=lambda index, rows: [brief(row) for row in rows] if index == len(points) else brief(rows))
    synthesis = results[:-1]
    pe = results[-1]
    add_ratios(synthesis)
    add_ratios(pe)
    throughput = [] if ctx.quick else _throughput_rows(ctx)
    result = {"seed": ctx.seed, "quick": ctx.quick, "synthesis": synthesis, "pe": pe, "throughput": throughput}
    if not ctx.quick:
        result["scale"] = scale_rows(synth_dir, ctx.workers)
    compare = ctx.out_dir.parent / "tpe_compare.json"
    if compare.exists():
        result["compare"] = json.loads(compare.read_text())
    return result


def scale_rows(out_dir: Path, workers: int = 1) -> list[dict]:
    """Synthesize :func:`scale_points` (generic flow): one row each, with area x delay ratios."""
    rows = run_parallel([functools.partial(synthesize_point, point, out_dir) for point in scale_points()], workers,
                        describe=lambda index, row: brief(row))
    add_ratios(rows)
    return rows


def update_scale(bench_json: Path, out_dir: Path) -> dict:
    """Measure :func:`scale_rows` and store them in the ``tpe`` section's results file
    ``bench_json`` (``result.scale``), keeping its other figures; the updated file's content."""
    rows = scale_rows(out_dir)

    def store(result, stamped):
        result["scale"] = stamped(rows)

    return _store_measured(bench_json, store)


def _store_measured(bench_json: Path, store) -> dict:
    """Read ``bench_json`` (after measuring: another update may have written it meanwhile), let
    ``store(result, stamped)`` put the new rows into its ``result`` (``stamped(rows)``: the rows
    with this moment as their ``measured_at``), write it back; its content."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    stored = json.loads(Path(bench_json).read_text())
    store(stored["result"], lambda rows: [row | {"measured_at": now} for row in rows])
    Path(bench_json).write_text(json.dumps(stored, indent=2) + "\n")
    return stored


def update_engines(bench_json: Path, out_dir: Path, designs: list[str]) -> dict:
    """Measure the full run's :func:`engine_points` of ``designs`` again (``"pe"``: the MAC
    cell rows) and store them in ``bench_json`` in place of their old rows, each with its
    ``measured_at``; the other rows keep their figures. The updated file's content."""
    unknown = sorted(set(designs) - set(ENGINE_MACS) - {"pe"})
    if unknown or not designs:
        raise ValueError(f"designs={designs!r} is not legal: must name one or more of "
                         f"{', '.join(sorted(ENGINE_MACS))}, pe")
    measured = []
    for point in engine_points(quick=False):
        if point.design in designs:
            measured.append(synthesize_point(point, out_dir))
            print(brief(measured[-1]), flush=True)
    pe = pe_rows(out_dir) if "pe" in designs else None

    def store(result, stamped):
        def key(row):
            return row["design"], row["label"], row["mac"]
        new = {key(row): row for row in stamped(measured)}
        result["synthesis"] = [new.pop(key(row), row) for row in result["synthesis"]] + list(new.values())
        add_ratios(result["synthesis"])
        if pe is not None:
            result["pe"] = stamped(pe)
            add_ratios(result["pe"])

    return _store_measured(bench_json, store)


def _vintage(rows: list[dict], option: str) -> list[str]:
    """A note naming the rows measured again after the rest of the section, if any."""
    later = [row for row in rows if row.get("measured_at")]
    if not later:
        return []
    dates = ", ".join(sorted({row["measured_at"][:10] for row in later}))
    names = ", ".join(dict.fromkeys(f"{row['label']} {row['mac']}" for row in later))
    rest = "; the others with the whole section" if len(later) < len(rows) else ""
    return [f"*Measured again alone ({dates}, `python -m accelgen.sim.bench.tpe {option}`): {names}{rest}.*", ""]


# -- report ------------------------------------------------------------------------------------


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
        fmax = num(n.get("fmax_mhz"), "{:.1f} MHz") if n.get("fmax_mhz") else (n.get("note") or "n/a")
        lines.append(
            f"| {row['design']} | {row['label']} | {row['mac']} | {num(g.get('gates'))} | {num(g.get('ff'))} "
            f"| {num(g.get('logic_depth'))} | {_ratio(row.get('generic_area_delay_vs_baseline'))} "
            f"| {num(e.get('lut4'))} / {num(e.get('ccu2'))} / {num(e.get('ff'))} / {num(e.get('dsp_mult18'))} "
            f"| {num(n.get('lut4'))} / {num(n.get('ccu2'))} / {num(n.get('ff'))} | {fmax} "
            f"| {_ratio(row.get('ecp5_area_delay_vs_baseline'))} |"
        )
    return lines


def _short(name, limit: int = 44) -> str:
    name = "?" if name is None else str(name)
    return name if len(name) <= limit else "…" + name[-(limit - 1):]


def path_text(path: dict | None) -> str:
    """A critical path of a summary as ``start → end``: the ``ltp`` path's start and the
    flip-flop it ends in (else its last signal), or nextpnr's start and end cells."""
    if not path:
        return "n/a"
    end = path.get("end_ff") or path.get("end")
    return f"`{_short(path.get('start'))}` → `{_short(end)}`"


def _fmax_text(ecp5: dict) -> str:
    runs = ecp5.get("fmax_seeds")
    if ecp5.get("fmax_mhz") is None:
        if ecp5.get("pnr_error"):
            return f"failed: {ecp5['pnr_error'][:90]}"
        return ecp5.get("note") or "n/a"
    if not runs:
        return f"{ecp5['fmax_mhz']:.1f}"
    seeds = " / ".join("fail" if run.get("fmax_mhz") is None else f"{run['fmax_mhz']:.1f}" for run in runs)
    return f"**{ecp5['fmax_mhz']:.1f}** ({seeds})"


def _compare_rows(row: dict) -> list[tuple[str, dict]]:
    rows = []
    paper = row.get("paper")
    if paper is not None:
        rows.append(("paper RTL", paper))
    accelgen = row.get("accelgen")
    for entry in ([accelgen] if isinstance(accelgen, dict) else accelgen or []):
        rows.append((f"accelgen {entry.get('label', '')}".strip(), entry))
    return rows


def render_compare(compare: dict) -> list[str]:
    """Markdown table of a ``tpe_compare.json``: both sides of every configuration."""
    seeds = compare.get("seeds")
    lines = [
        "| configuration | source | gates | FF | depth | gates·depth | ÷ paper | ECP5 -nodsp LUT4 / CCU2C / FF "
        f"| Fmax MHz, median ({'seeds ' + ' / '.join(map(str, seeds)) if seeds else 'seed 1'}) "
        "| generic critical path (ltp) | ECP5 critical path (nextpnr) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|",
    ]
    for row in compare["rows"]:
        paper_ad = None
        for source, r in _compare_rows(row):
            if "error" in r:
                lines.append(f"| {row['name']} | {source} | error: {r['error'][:80]} | | | | | | | | |")
                continue
            g, n = r.get("generic") or {}, r.get("ecp5_nodsp") or {}
            area_delay = g["gates"] * g["logic_depth"] if g.get("gates") and g.get("logic_depth") else None
            if source == "paper RTL":
                paper_ad = area_delay
            ratio = f"{area_delay / paper_ad:.2f}" if area_delay and paper_ad and source != "paper RTL" else ""
            lines.append(
                f"| {row['name']} | {source} | {num(g.get('gates'))} | {num(g.get('ff'))} | {num(g.get('logic_depth'))} "
                f"| {num(area_delay)} | {ratio} | {num(n.get('lut4'))} / {num(n.get('ccu2'))} / {num(n.get('ff'))} "
                f"| {_fmax_text(n)} | {path_text(g.get('critical_path'))} | {path_text(n.get('critical_path'))} |"
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
        *_vintage(results["synthesis"], "--engines"),
        "MAC cell alone (int8, 32-bit accumulator, registered operands or product, no forwarding), the "
        "like-for-like counterpart of the paper's `mac.v` / `opt1_mac.v` PEs:",
        "",
        *_synth_table(results["pe"]),
        "",
        *_vintage(results["pe"], "--engines pe"),
    ]
    if results.get("scale"):
        lines += ["OS 16 × 16 int8 (generic flow only: ECP5 synthesis of 256 multipliers takes about half an hour in "
                  "WebAssembly, and with DSPs they need 256 MULT18X18D, the LFE5U-85F has 156); *critical path*: the "
                  "`ltp -noff` path's first signal and the register it ends in:", "",
                  "| engine | config | mac | gates | FF | depth | gates·depth | vs baseline | critical path |",
                  "|---|---|---|--:|--:|--:|--:|--:|---|"]
        for row in results["scale"]:
            g = row.get("generic") or {}
            lines.append(f"| {row['design']} | {row['label']} | {row['mac']} | {num(g.get('gates'))} | {num(g.get('ff'))} "
                         f"| {num(g.get('logic_depth'))} | {num(row.get('generic_area_delay'))} "
                         f"| {_ratio(row.get('generic_area_delay_vs_baseline'))} | {path_text(g.get('critical_path'))} |")
        lines.append("")
        lines += _vintage(results["scale"], "--scale")
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
        compare = results["compare"]
        seeds = compare.get("seeds")
        lines += ["Side by side with the paper's RTL (`make bench-compare HPTE=<checkout>`; same script, same tools, "
                  "both sides placed and timed: ECP5 `synth_ecp5 -nodsp`, nextpnr out of context"
                  + (f" at `--freq {compare['freq_mhz']:g}`" if compare.get("freq_mhz") else "")
                  + (f", Fmax the median of seeds {', '.join(map(str, seeds))}" if seeds else "")
                  + "; *÷ paper*: gates·depth over the paper's; critical paths: the generic `ltp -noff` path from its "
                  "first signal to the register it ends in, and nextpnr's start and end cells of the median seed):",
                  "", *render_compare(compare), ""]
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
    for row in results["synthesis"] + results["pe"] + results.get("scale", []):
        if not (row.get("generic") or {}).get("gates"):
            found.append(f"{row['label']} {row['mac']}: no generic synthesis result")
    for row in results.get("throughput", []):
        found += [f"{row['design']}: {problem}" for problem in row["problems"]]
        if abs(row["rtl_vs_analytic_pct"]) > 2:
            found.append(f"{row['design']}: RTL cycles {row['rtl_cycles']} vs analytic {row['analytic_cycles']}")
    return found


SECTION = BenchSection(name="tpe", order=30, run=run_bench, render=render_markdown, failures=failures)


def main(argv=None) -> int:
    """``python -m accelgen.sim.bench.tpe (--scale | --engines DESIGN[,DESIGN]) [--bench
    bench/tpe.json]``: measure the OS 16 x 16 rows, or the named engines' rows (``pe``: the MAC
    cell), alone into the stored results (then ``python -m accelgen.sim.bench --render``)."""

    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench.tpe", description=main.__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--scale", action="store_true", help="measure the OS 16x16 rows")
    which.add_argument("--engines", help=f"comma-separated engines to measure again: {', '.join(ENGINE_MACS)}, pe")
    parser.add_argument("--bench", default="bench/tpe.json", help="the tpe section's results file")
    parser.add_argument("--out", default="bench/tpe/synth", help="folder of the synthesis artefacts")
    args = parser.parse_args(argv)
    if args.scale:
        update_scale(Path(args.bench), Path(args.out))
    else:
        try:
            names = [name.strip() for name in args.engines.split(",") if name.strip()]
            update_engines(Path(args.bench), Path(args.out), names)
        except ValueError as error:
            parser.error(str(error))
    print(f"updated {args.bench}; re-render with `python -m accelgen.sim.bench --render`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
