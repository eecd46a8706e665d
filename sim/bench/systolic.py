"""Benchmark section of the output-stationary systolic array: throughput and synthesis.

Run by :mod:`accelgen.sim.bench` (``make bench``). Two parts:

1. **Throughput (RTL measured).** Back-to-back tiles of random operands stream through the
   Verilator build of the array with no source stalls and no sink backpressure. The array's
   own ``cycle_count`` (busy cycles) and ``mac_count`` give the measured utilization
   ``mac_count / (rows * cols * cycle_count)``; it is compared with the ideal
   ``M*N*K / (rows*cols)`` cycles and with the analytic model
   (:meth:`~accelgen.generators.params.TileEngineParams.busy_cycles`).
   The result rows are checked bit-exact against the golden model.
2. **Synthesis.** Each configuration is exported with
   :func:`~accelgen.generators.export.write_design` and run through the ``generic`` and
   ``ecp5`` flows of :mod:`accelgen.synth.flows`, two jobs at a time.

The section fails if the headline configuration (8x8 int8, 16 tiles of K=256) falls below
98 % utilization or its measured cycle count differs from the analytic model by more than 2 %.
"""

import dataclasses
from pathlib import Path

import numpy as np

from ...generators.systolic import SystolicParams
from ...synth import ECP5_DEVICES, summary
from ...verif import systolic_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import num, pct, synthesize_designs

__all__ = [
    "ThroughputCase",
    "throughput_rows",
    "synthesis_rows",
    "render_markdown",
    "run_bench",
    "failures",
    "SECTION",
]

#: Pass criteria of the headline run.
MIN_UTILIZATION = 0.98
MAX_MODEL_ERROR = 0.02

#: Parameters shared by every benchmarked configuration (int8 x int8, signed).
BASE_PARAMS = dict(a_width=8, b_width=8, a_signed=True, b_signed=True, k_max=256)


@dataclasses.dataclass(frozen=True)
class ThroughputCase:
    """One throughput measurement: ``tiles`` back-to-back tiles of ``k`` beats."""

    tiles: int
    k: int


def _config_name(params: SystolicParams) -> str:
    kind = "int" if params.a_signed else "uint"
    return f"{params.rows}x{params.cols} {kind}{params.a_width}"


def _slug(params: SystolicParams) -> str:
    sign = "s" if params.a_signed else "u"
    return f"{params.rows}x{params.cols}_{sign}{params.a_width}"


def throughput_rows(
    params: SystolicParams,
    cases: list[ThroughputCase],
    *,
    seed: int,
    workdir: Path | None = None,
) -> list[dict]:
    """Measure busy cycles and MACs of stall-free back-to-back tiles on the RTL.

    All cases of one configuration run as jobs of a single simulation (the testbench resets
    the array, and so its counters, before each job).

    Parameters
    ----------
    params : SystolicParams
        Array configuration; every case needs ``k <= params.k_max``.
    cases : list of ThroughputCase
        Tile count and K of each measurement.
    seed : int
        Operands of each case are drawn from ``numpy.random.default_rng(seed)``, so a case's
        data does not depend on which other cases run.
    workdir : pathlib.Path, optional
        Folder for the simulation inputs, outputs and log (default: a new folder in the
        Verilator build folder).

    Returns
    -------
    list of dict
        One row per case: configuration, ``tiles``, ``k``, ``rtl_cycles`` (``cycle_count``),
        ``mac_count``, ``expected_macs``, ``ideal_cycles``, ``analytic_cycles``,
        ``utilization`` (measured), ``analytic_utilization``, ``rtl_vs_analytic_pct``,
        ``bit_exact`` and ``problems`` (from :func:`accelgen.verif.systolic_host.check`).

    Raises
    ------
    accelgen.sim.runner.SimulationError
        If the testbench's scoreboard finds a mismatch or the simulation fails.
    """
    for case in cases:
        if not 1 <= case.k <= params.k_max:
            raise ValueError(f"K={case.k} is out of range for k_max={params.k_max}")
    jobs = [
        {
            "name": f"tiles{case.tiles}_k{case.k}",
            "inputs": systolic_host.random_beats(params, np.random.default_rng(seed), [case.k] * case.tiles),
            "stall": 0.0,
            "backpressure": 0.0,
            "check": True,
            # Lets systolic_host.check compare the busy cycles with the analytic model.
            "tiles": case.tiles,
            "k": case.k,
        }
        for case in cases
    ]
    verdict = flow.verify("systolic", params, seed=seed, jobs=jobs, workdir=workdir, per_job=True)

    pes = params.rows * params.cols
    rows = []
    for case, out, problems in zip(cases, verdict.outputs, verdict.job_problems):
        result_ok = not any("result rows" in problem for problem in problems)
        cycles = int(out["cycle_count"])
        macs = int(out["mac_count"])
        # The tiles form an (tiles*rows) x cols x K product: M*N*K / (rows*cols) = tiles*K.
        ideal = params.ideal_cycles(m=case.tiles * params.rows, n=params.cols, k=case.k)
        model = params.busy_cycles(tiles=case.tiles, k=case.k)
        rows.append(
            {
                "config": _config_name(params),
                "rows": params.rows,
                "cols": params.cols,
                "k_max": params.k_max,
                "result_latency": params.result_latency,
                "tiles": case.tiles,
                "k": case.k,
                "seed": seed,
                "rtl_cycles": cycles,
                "mac_count": macs,
                "expected_macs": case.tiles * case.k * pes,
                "ideal_cycles": ideal,
                "analytic_cycles": model,
                "utilization": macs / (pes * cycles) if cycles else 0.0,
                "analytic_utilization": ideal / model,
                "rtl_vs_analytic_pct": 100.0 * (cycles - model) / model,
                "bit_exact": result_ok,
                "result_rows": int(len(out["c"])),
                "problems": problems,
            }
        )
    return rows


def _ff_lower_bound(params: SystolicParams) -> int:
    # Registers the PE grid cannot do without: one accumulator per cell, plus the operand
    # forwarding registers (a to the right except in the last column, b downwards except in
    # the last row). Skew lines, result FIFOs and control come on top.
    r, c = params.rows, params.cols
    return r * c * params.acc_width + r * (c - 1) * params.a_width + (r - 1) * c * params.b_width


def _misfit_reason(ecp5: dict) -> str:
    biggest = ECP5_DEVICES[-1]
    demand = ecp5.get("demand") or {}
    capacity = {"mult18": ("MULT18X18D", biggest.mult18), "comb": ("LUT sites", biggest.comb),
                "ff": ("FF", biggest.ff), "dp16kd": ("DP16KD", biggest.dp16kd), "ramw": ("RAMW", biggest.ramw)}
    over = [f"{demand[key]} {label} > {cap}" for key, (label, cap) in capacity.items() if demand.get(key, 0) > cap]
    return f"does not fit {biggest.name}" + (f": {', '.join(over)}" if over else "")


def synthesis_rows(configs: list[SystolicParams], out_dir: Path, *, workers: int = 2) -> list[dict]:
    """Run the generic and ECP5 flows of every configuration, ``workers`` jobs at a time.

    Parameters
    ----------
    configs : list of SystolicParams
        Configurations, in report order.
    out_dir : pathlib.Path
        Each design goes to ``out_dir/<name>/`` (Verilog, ``params.json``,
        ``manifest.json``); each flow works in ``out_dir/<name>/<target>/``.
    workers : int, optional
        Concurrent flow jobs. Each job is one single-threaded tool process, so one per core.

    Returns
    -------
    list of dict
        One row per configuration: ``config``, ``rows``, ``cols``, ``acc_width``,
        ``mult18_reference`` (one multiplier per cell), ``ff_lower_bound``, and the flow
        results ``generic`` and ``ecp5`` as returned by ``run_flow``, plus ``ecp5_note``
        (why placement was skipped) when it was.
    """
    # Biggest arrays first, so the longest job does not start last.
    jobs = [(_slug(params), "systolic", params, target)
            for params in sorted(configs, key=lambda params: -params.rows * params.cols)
            for target in ("generic", "ecp5")]
    results = synthesize_designs(jobs, out_dir, workers=workers)

    rows = []
    for params in configs:
        generic = results[_slug(params), "generic"]
        ecp5 = results[_slug(params), "ecp5"]
        row = {
            "config": _config_name(params),
            "rows": params.rows,
            "cols": params.cols,
            "params": params.to_dict(),
            "acc_width": params.acc_width,
            "mult18_reference": params.rows * params.cols,
            "ff_lower_bound": _ff_lower_bound(params),
            "generic_ff": summary(generic, "generic", ("ff",))["ff"],
            "generic": generic,
            "ecp5": ecp5,
        }
        if ecp5.get("device") is None:
            row["ecp5_note"] = _misfit_reason(ecp5)
        rows.append(row)
    return rows


# -- report --------------------------------------------------------------------------------


def _throughput_table(rows: list[dict]) -> list[str]:
    lines = [
        "| config | tiles | K | RTL cycles | analytic cycles | RTL vs analytic | ideal cycles "
        "| utilization (measured) | utilization (analytic) | MACs | bit-exact |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['config']} | {row['tiles']} | {row['k']} | {num(row['rtl_cycles'])} "
            f"| {num(row['analytic_cycles'])} | {row['rtl_vs_analytic_pct']:+.2f} % "
            f"| {num(row['ideal_cycles'])} | {pct(row['utilization'])} "
            f"| {pct(row['analytic_utilization'])} | {num(row['mac_count'])} "
            f"| {'pass' if row['bit_exact'] else 'FAIL'} |"
        )
    return lines


def _synth_tables(rows: list[dict]) -> list[str]:
    lines = [
        "Generic (technology-independent `synth -flatten`; FF = cells whose type contains `DFF`):",
        "",
        "| config | acc width | cells | FF | FF lower bound | logic depth |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        generic = row["generic"]
        lines.append(
            f"| {row['config']} | {row['acc_width']} | {num(generic['cells'])} | {num(row['generic_ff'])} "
            f"| {num(row['ff_lower_bound'])} | {num(generic['logic_depth'])} |"
        )
    lines += [
        "",
        "ECP5 (`synth_ecp5` cell counts; `nextpnr-ecp5 --out-of-context` on the smallest fitting "
        f"LFE5U device, placer seed {rows[0]['ecp5']['seed']}):",
        "",
        "| config | device | LUT4 | CCU2C | DPR16X4 | FF | MULT18X18D (ref: rows·cols) | Fmax |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for row in rows:
        ecp5 = row["ecp5"]
        if ecp5.get("fmax_mhz") is not None:
            fmax = f"{ecp5['fmax_mhz']:.1f} MHz"
        else:
            fmax = f"n/a ({row['ecp5_note']})" if "ecp5_note" in row else "n/a"
        lines.append(
            f"| {row['config']} | {ecp5['device'] or '—'} | {num(ecp5['lut4'])} | {num(ecp5['ccu2'])} "
            f"| {num(ecp5['dpram'])} | {num(ecp5['ff'])} "
            f"| {num(ecp5['dsp_mult18'])} ({num(row['mult18_reference'])}) | {fmax} |"
        )
    constraints = sorted({row["ecp5"]["freq_mhz"] for row in rows if row["ecp5"].get("fmax_mhz") is not None})
    if constraints:
        lines += [
            "",
            "Fmax is the achieved maximum of nextpnr's timing analysis after routing with a "
            f"{' / '.join(f'{c:g}' for c in constraints)} MHz constraint; a lower value means the "
            "constraint was not met, not that the design is broken. LUT4 / FF / CCU2C / DPR16X4 are "
            "Yosys counts before packing.",
        ]
    return lines


def render_markdown(results: dict) -> list[str]:
    """The Markdown lines of this section of ``BENCHMARKS.md``.

    Parameters
    ----------
    results : dict
        This section's results, as returned by :func:`run_bench`.

    Returns
    -------
    list of str
        Markdown lines, starting with the section's ``##`` heading.
    """
    head = results["headline"]
    lines = [
        "## Output-stationary systolic array (`systolic`)",
        "",
        "### Throughput (RTL measured)",
        "",
        f"Signed int8 operands (k_max = {head['k_max']}), {head['tiles']} back-to-back tiles per run, "
        "no source stalls and no sink backpressure. Operands are uniformly random over the full "
        f"int8 range, drawn per run from `numpy.random.default_rng({results['seed']})`.",
        "",
        "- *RTL cycles*: the array's `cycle_count` counter (cycles in which a tile is being "
        "accepted or results are in flight); *MACs*: its `mac_count` counter.",
        "- *Utilization (measured)* = MACs / (rows · cols · RTL cycles); 100 % means every cell "
        "did a useful multiply-accumulate in every busy cycle.",
        "- *Ideal cycles* = M·N·K / (rows · cols) for the (tiles · rows) × cols × K product = tiles · K.",
        "- *Analytic cycles* = `busy_cycles()`: K + (T − 1) · max(K, rows) + rows + cols + "
        f"{head['result_latency'] - 1} (result latency {head['result_latency']} cycles). The drain of each tile "
        "overlaps the next tile, so the only overhead is one fill and drain per run, which "
        "longer runs amortize; tiles shorter than `rows` beats are additionally spaced `rows` "
        "cycles apart.",
        "- *Bit-exact*: every result row equals the golden model.",
        "",
        *_throughput_table(results["throughput"]),
        "",
        f"Headline ({head['config']}, {head['tiles']} tiles of K = {head['k']}): "
        f"utilization {pct(head['utilization'])} of ideal "
        f"(ideal / RTL cycles = {num(head['ideal_cycles'])} / {num(head['rtl_cycles'])}), "
        f"RTL cycles vs analytic model {head['rtl_vs_analytic_pct']:+.2f} %. "
        f"Pass criteria: utilization ≥ {pct(MIN_UTILIZATION)}, |RTL − analytic| ≤ "
        f"{pct(MAX_MODEL_ERROR)} of analytic.",
        "",
        "### Synthesis",
        "",
        f"Signed int{BASE_PARAMS['a_width']} × int{BASE_PARAMS['b_width']}, k_max = {BASE_PARAMS['k_max']}, other parameters at their defaults (accumulator width "
        "chosen so a K = k_max dot product cannot overflow). Reference values: one MULT18X18D "
        "per cell (rows · cols); the FF lower bound counts only what the cell grid cannot do "
        "without — one accumulator per cell plus the operand forwarding registers "
        f"(rows · cols · acc + rows · (cols − 1) · {BASE_PARAMS['a_width']} + (rows − 1) · cols · "
        f"{BASE_PARAMS['b_width']}); the input skew "
        "lines, result FIFOs and control registers come on top. The generic flow maps the result "
        "FIFOs to flip-flops; on ECP5 they become distributed RAM (DPR16X4), so its FF count is "
        "closer to the bound.",
        "",
        *_synth_tables(results["synthesis"]),
        "",
    ]
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): extra throughput rows and the 16x16 synthesis were skipped.*", ""]
    return lines


def _params(rows: int, cols: int) -> SystolicParams:
    return SystolicParams(rows=rows, cols=cols, **BASE_PARAMS)


def run_bench(ctx: BenchContext) -> dict:
    """Measure throughput and synthesize; the results of this section.

    Parameters
    ----------
    ctx : BenchContext
        Output folder (simulation folders go to ``ctx.out_dir/sim``, synthesis artefacts to
        ``ctx.out_dir/synth``), quick mode, operand seed and synthesis concurrency. Quick mode
        keeps only the headline throughput run and skips the 16x16 synthesis.

    Returns
    -------
    dict
        ``seed``, ``quick``, ``headline``, ``throughput`` rows and ``synthesis`` rows.
    """
    # The headline is 8x8 with K=256; the shorter tiles show the fill/drain overhead growing.
    plan = {(8, 8): [ThroughputCase(16, 256)]}
    if not ctx.quick:
        plan = {(4, 4): [ThroughputCase(16, 8), ThroughputCase(16, 64)],
                (8, 8): [ThroughputCase(16, 8), ThroughputCase(16, 64), ThroughputCase(16, 256)]}
    throughput = []
    for (rows, cols), cases in plan.items():
        params = _params(rows, cols)
        print(f"throughput {_config_name(params)}: " + ", ".join(f"{c.tiles} tiles of K={c.k}" for c in cases),
              flush=True)
        # Absolute: the simulator runs in another folder and reads the paths from its config.
        workdir = (ctx.out_dir / "sim" / _slug(params)).resolve()
        measured = throughput_rows(params, cases, seed=ctx.seed, workdir=workdir)
        for row in measured:
            print(f"  K={row['k']}: {row['rtl_cycles']} cycles (analytic {row['analytic_cycles']}, "
                  f"ideal {row['ideal_cycles']}), utilization {pct(row['utilization'])}, "
                  f"{'bit-exact' if row['bit_exact'] else 'MISMATCH'}", flush=True)
        throughput += measured
    headline = next(row for row in throughput if (row["rows"], row["cols"], row["k"]) == (8, 8, 256))

    sizes = [4, 8] if ctx.quick else [4, 8, 16]
    print(f"synthesis: {', '.join(f'{n}x{n}' for n in sizes)} (generic and ecp5, {ctx.workers} at a time)",
          flush=True)
    synthesis = synthesis_rows([_params(n, n) for n in sizes], ctx.out_dir / "synth", workers=ctx.workers)
    for row in synthesis:
        ecp5 = row["ecp5"]
        fmax = f"{ecp5['fmax_mhz']:.1f} MHz" if ecp5.get("fmax_mhz") else row.get("ecp5_note", "n/a")
        print(f"  {row['config']}: {row['generic']['cells']} cells ({row['generic_ff']} FF), depth "
              f"{row['generic']['logic_depth']}; ECP5 {ecp5['device']}: {ecp5['lut4']} LUT4, {ecp5['ff']} FF, "
              f"{ecp5['dsp_mult18']} MULT18X18D, {fmax}", flush=True)
    return {
        "seed": ctx.seed,
        "quick": ctx.quick,
        "criteria": {"min_utilization": MIN_UTILIZATION, "max_model_error": MAX_MODEL_ERROR},
        "headline": headline,
        "throughput": throughput,
        "synthesis": synthesis,
    }


def failures(results: dict) -> list[str]:
    """Pass criteria of this section: the headline's utilization and model agreement."""
    head = results["headline"]
    found = [f"{row['config']} K={row['k']}: {problem}" for row in results["throughput"]
             for problem in row["problems"]]
    if head["utilization"] < MIN_UTILIZATION:
        found.append(f"{head['config']} K={head['k']}: utilization {pct(head['utilization'])} "
                     f"< {pct(MIN_UTILIZATION)}")
    if abs(head["rtl_vs_analytic_pct"]) > 100 * MAX_MODEL_ERROR:
        found.append(f"{head['config']} K={head['k']}: RTL cycles {head['rtl_cycles']} differ from the "
                     f"analytic {head['analytic_cycles']} by {head['rtl_vs_analytic_pct']:+.2f} %")
    return found


SECTION = BenchSection(name="systolic", order=10, run=run_bench, render=render_markdown, failures=failures)
