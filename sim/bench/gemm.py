"""Benchmark section of the tiled GEMM engine and the weight-stationary array (``gemm``).

Run by :mod:`accelgen.sim.bench` (``make bench``). Three parts, all measured on the RTL:

1. **GEMM utilization.** Whole jobs (descriptor, every A and B word through the buffers, every
   C beat out) run on the Verilator build of the engine with stall-free streams. The
   engine's ``cycle_count`` (descriptor to final C beat) gives the utilization
   ``M*N*K / (rows*cols*cycles)`` and is compared with
   :func:`~accelgen.generators.gemm.analytic_cycles`; SCALE-Sim's per-fold formula is listed
   for reference. Headline: 16x16 int8, M = N = K = 256, engine ``os``. The ``os`` engine
   runs twice: with all of A on chip (``a_reuse="whole"``) and with two row-block banks
   (``a_reuse="row_block"``, ``m_max`` = 65536, A streamed once per column block).
2. **WS array throughput.** Back-to-back weight tiles on the bare ``systolic_ws`` array, its
   ``cycle_count`` and ``mac_count`` against :func:`~accelgen.generators.systolic_ws.analytic_cycles`.
3. **Synthesis.** Yosys generic and ECP5 flows of the gemm default configuration, the same
   array with a row-block A buffer and ``m_max`` = 65536, and a 16x16 int8 configuration.

Pass criteria: headline utilization (whole and row-block A) >= 95 %, every shape's RTL cycles within 2 % of the
model, every result bit-exact.
"""

from pathlib import Path

import numpy as np

from ...generators.gemm import GemmParams, analytic_cycles, scalesim_cycles
from ...generators.systolic_ws import SystolicWSParams
from ...generators.systolic_ws import analytic_cycles as ws_array_cycles
from ...hdl.util import ceil_div
from ...synth import summary
from ...verif import gemm_host, systolic_ws_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import INT8, num, pct, synthesize_designs

__all__ = ["gemm_rows", "ws_array_rows", "synthesis_rows", "render_markdown", "run_bench", "failures", "SECTION"]

MIN_UTILIZATION = 0.95
MAX_MODEL_ERROR = 0.02


def _config_name(params) -> str:
    return f"{params.engine} {params.rows}x{params.cols}"


def gemm_rows(params: GemmParams, shapes: list[tuple[int, int, int]], *, seed: int, workdir: Path) -> list[dict]:
    """Run one stall-free job per shape on the RTL (one simulation); one result row each.

    Parameters
    ----------
    params : GemmParams
        Engine configuration; every shape must fit its ``m_max``/``n_max``/``k_max``.
    shapes : list of (M, N, K)
        The products to run; operands uniformly random over the int range, from
        ``numpy.random.default_rng((seed, M, N, K))``.
    seed : int
        Stimulus seed.
    workdir : pathlib.Path
        Simulation folder.

    Returns
    -------
    list of dict
        ``engine``, ``a_reuse``, ``a_buffer_words``, ``rows``, ``cols``, ``m``, ``n``, ``k``,
        ``a_words`` (A words streamed), ``rtl_cycles``, ``analytic_cycles``,
        ``scalesim_cycles``, ``ideal_cycles``, ``utilization``, ``rtl_vs_analytic_pct``,
        ``mac_count``, ``bit_exact`` and ``problems``.
    """
    jobs = []
    for m, n, k in shapes:
        rng = np.random.default_rng([seed, m, n, k])
        a = rng.integers(-128, 128, (m, k))
        b = rng.integers(-128, 128, (k, n))
        jobs.append(gemm_host.make_job(params, f"{m}x{n}x{k}", [(a, b)], rng=rng))
    a_words = [len(job["inputs"]["a_words"]) for job in jobs]
    verdict = flow.verify("gemm", params, seed=seed, jobs=jobs, workdir=workdir, per_job=True)
    rows = []
    pes = params.rows * params.cols
    for (m, n, k), out, problems, words in zip(shapes, verdict.outputs, verdict.job_problems, a_words):
        cycles = int(out["cycle_count"])
        model = analytic_cycles(params, m, n, k)
        rows.append({
            "engine": params.engine, "a_reuse": params.a_reuse, "a_buffer_words": params.a_buffer_words,
            "rows": params.rows, "cols": params.cols, "m": m, "n": n, "k": k, "a_words": words,
            "rtl_cycles": cycles, "analytic_cycles": model, "scalesim_cycles": scalesim_cycles(params, m, n, k),
            "ideal_cycles": ceil_div(m * n * k, pes), "utilization": m * n * k / (pes * cycles),
            "rtl_vs_analytic_pct": 100.0 * (cycles - model) / model, "mac_count": int(out["mac_count"]),
            "bit_exact": not any("differ" in problem for problem in problems),
            # The model check inside `check` is exact; the section's criterion is 2 %.
            "problems": [problem for problem in problems if "analytic model" not in problem],
        })
    return rows


def ws_array_rows(params: SystolicWSParams, cases: list[tuple[int, int]], *, seed: int, workdir: Path) -> list[dict]:
    """Stall-free runs of ``tiles`` weight tiles of ``m`` activation rows on the bare WS array.

    Returns one row per ``(tiles, m)`` case with ``rtl_cycles``, ``analytic_cycles``,
    ``utilization`` (``mac_count / (rows*cols*cycles)``), ``bit_exact`` and ``problems``.
    """
    jobs = []
    for tiles, m in cases:
        rng = np.random.default_rng([seed, tiles, m])
        jobs.append({"name": f"tiles{tiles}_m{m}", "inputs": systolic_ws_host.random_job(params, rng, [m] * tiles),
                     "stall": 0.0, "backpressure": 0.0, "check": True, "tile_rows": [m] * tiles})
    verdict = flow.verify("systolic_ws", params, seed=seed, jobs=jobs, workdir=workdir, per_job=True)
    rows = []
    pes = params.rows * params.cols
    for (tiles, m), out, problems in zip(cases, verdict.outputs, verdict.job_problems):
        cycles = int(out["cycle_count"])
        model = ws_array_cycles(params, [m] * tiles)
        rows.append({
            "rows": params.rows, "cols": params.cols, "tiles": tiles, "m": m, "rtl_cycles": cycles,
            "analytic_cycles": model, "scalesim_cycles": tiles * (2 * params.rows + params.cols + m - 2),
            "mac_count": int(out["mac_count"]), "utilization": int(out["mac_count"]) / (pes * cycles),
            "rtl_vs_analytic_pct": 100.0 * (cycles - model) / model,
            "bit_exact": not any("differ" in problem for problem in problems), "problems": problems,
        })
    return rows


def synthesis_rows(configs: dict[str, GemmParams], out_dir: Path, *, workers: int = 2) -> list[dict]:
    """Generic and ECP5 flows of each named configuration, ``workers`` at a time."""
    jobs = [(label, "gemm", params, target) for label, params in configs.items() for target in ("generic", "ecp5")]
    results = synthesize_designs(jobs, out_dir, workers=workers)
    rows = []
    for label, params in configs.items():
        generic, ecp5 = results[label, "generic"], results[label, "ecp5"]
        rows.append({
            "config": label, "params": params.to_dict(), "acc_width": params.acc_width,
            "generic": generic, "ecp5": ecp5,
            "generic_ff": summary(generic, "generic", ("ff",))["ff"],
        })
    return rows


def render_markdown(results: dict) -> list[str]:
    """The Markdown lines of this section of ``BENCHMARKS.md``."""
    head = results["headline"]
    lines = [
        "## Tiled GEMM engine (`gemm`) and weight-stationary array (`systolic_ws`)",
        "",
        "### GEMM utilization (RTL measured, all tile loads included)",
        "",
        "Each row is one job on the Verilator build of the engine: the descriptor, every A and B "
        "word through the on-chip buffers, every C beat out, with stall-free streams (one word per "
        "cycle on `a` and `b`, `c` always ready). Signed int8 operands, uniformly random. "
        "*RTL cycles* = the engine's `cycle_count` (descriptor to final C beat); *utilization* = "
        "M·N·K / (rows · cols · RTL cycles); *analytic* = `gemm.analytic_cycles()`; *SCALE-Sim* = "
        "the v2 per-fold formula (OS: ⌈M/R⌉⌈N/C⌉(K+R+C−2); WS: ⌈K/R⌉⌈N/C⌉(2R+C+M−2)), which "
        "overlaps nothing between folds. *A on chip*: `a_reuse` and the A buffer's words (`whole`: all "
        "of A, streamed once; `row_block`: two banks of one row block, whatever `m_max`, A streamed "
        "once per column block — *A words* counts the A beats streamed).",
        "",
        "| engine | A on chip | array | M | N | K | A words | RTL cycles | analytic | RTL vs analytic | SCALE-Sim | ideal "
        "| utilization | bit-exact |",
        "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in results["gemm"]:
        reuse = f"{row['a_reuse']}, {row['a_buffer_words']} words" if "a_reuse" in row else "whole"
        a_words = num(row["a_words"]) if "a_words" in row else "—"
        lines.append(
            f"| {row['engine']} | {reuse} | {row['rows']}x{row['cols']} | {row['m']} | {row['n']} | {row['k']} | {a_words} "
            f"| {row['rtl_cycles']} | {row['analytic_cycles']} | {row['rtl_vs_analytic_pct']:+.2f} % "
            f"| {row['scalesim_cycles']} | {row['ideal_cycles']} | {pct(row['utilization'])} "
            f"| {'pass' if row['bit_exact'] else 'FAIL'} |")
    lines += [
        "",
        f"Headline ({head['engine']} {head['rows']}x{head['cols']}, M = N = K = {head['m']}): utilization "
        f"{pct(head['utilization'])} ({head['ideal_cycles']} ideal / {head['rtl_cycles']} RTL cycles), "
        f"RTL vs analytic {head['rtl_vs_analytic_pct']:+.2f} %. Pass criteria: utilization ≥ "
        f"{pct(MIN_UTILIZATION)}; every shape within {pct(MAX_MODEL_ERROR)} of the model.",
        "",
    ]
    row_block = [row for row in results["gemm"] if row.get("a_reuse") == "row_block"]
    if row_block:
        head = row_block[0]
        lines += [
            f"Row-block A buffer ({head['engine']} {head['rows']}x{head['cols']}, `a_reuse=row_block`, m_max = 65536, "
            f"{head['a_buffer_words']} A words instead of all of A): M = N = K = {head['m']} in {head['rtl_cycles']} "
            f"cycles, utilization {pct(head['utilization'])}, RTL vs analytic {head['rtl_vs_analytic_pct']:+.2f} %; "
            f"A is streamed {head['a_words'] // max(1, ceil_div(head['m'], head['rows']) * head['k'])} times "
            f"({num(head['a_words'])} words).",
            "",
        ]
    lines += [
        "### Weight-stationary array throughput (RTL measured)",
        "",
        "Back-to-back weight tiles on the bare `systolic_ws` array, stall-free. Weight reloads "
        "overlap compute (double-buffered weights) once a tile streams at least 2·rows + cols − 2 "
        "activation rows; shorter tiles expose them. *Utilization* = `mac_count` / (rows · cols · "
        "`cycle_count`).",
        "",
        "| array | tiles | rows per tile (M) | RTL cycles | analytic | SCALE-Sim | utilization | bit-exact |",
        "|---|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in results["ws_array"]:
        lines.append(
            f"| {row['rows']}x{row['cols']} | {row['tiles']} | {row['m']} | {row['rtl_cycles']} "
            f"| {row['analytic_cycles']} | {row['scalesim_cycles']} | {pct(row['utilization'])} "
            f"| {'pass' if row['bit_exact'] else 'FAIL'} |")
    lines += [
        "",
        "### Synthesis",
        "",
        "| config | acc width | buffers (A/B/C words) | generic cells | FF | logic depth | ECP5 device | LUT4 | FF | MULT18X18D | DP16KD | Fmax |",
        "|---|--:|---|--:|--:|--:|---|--:|--:|--:|--:|--:|",
    ]
    for row in results["synthesis"]:
        generic, ecp5, prm = row["generic"], row["ecp5"], row["params"]
        fmax = f"{ecp5['fmax_mhz']:.1f} MHz" if ecp5.get("fmax_mhz") else "n/a (does not fit / not placed)"
        lines.append(
            f"| {row['config']} | {row['acc_width']} | {prm['a_buffer_words']}/{prm['b_buffer_words']}/{prm['c_buffer_words']} "
            f"| {num(generic['cells'])} | {num(row['generic_ff'])} | {num(generic['logic_depth'])} "
            f"| {ecp5.get('device') or '—'} | {num(ecp5.get('lut4'))} | {num(ecp5.get('ff'))} "
            f"| {num(ecp5.get('dsp_mult18'))} | {num(ecp5.get('bram', ecp5.get('dp16kd')))} | {fmax} |")
    lines += ["", "The generic flow maps the buffers to flip-flops; ECP5 maps them to block or distributed RAM.", ""]
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): 8x8 arrays and M = N = K = 64; only the 4x4 configurations synthesized.*", ""]
    return lines


def run_bench(ctx: BenchContext) -> dict:
    """Measure GEMM utilization and model agreement, WS array throughput, and synthesize."""
    size, big = (8, 64) if ctx.quick else (16, 256)
    odd = [(big - 3, big // 2 + 5, big // 3 + 1)] if ctx.quick else \
        [(36, 47, 98), (100, 50, 70), (256, 256, 17), (17, 200, 256), (255, 129, 131)]
    gemm = []
    for engine, reuse in (("os", "whole"), ("os", "row_block"), ("ws", "whole")):
        # The row-block buffer does not grow with m_max: build it for the largest M.
        m_max = 65536 if reuse == "row_block" else big
        params = GemmParams(engine=engine, rows=size, cols=size, m_max=m_max, n_max=big, k_max=big, a_reuse=reuse,
                            **INT8)
        shapes = [(big, big, big)] + odd
        print(f"gemm {_config_name(params)} a_reuse={reuse}: " + ", ".join("x".join(map(str, s)) for s in shapes), flush=True)
        measured = gemm_rows(params, shapes, seed=ctx.seed, workdir=(ctx.out_dir / "sim" / f"{engine}_{reuse}").resolve())
        for row in measured:
            print(f"  {row['m']}x{row['n']}x{row['k']}: {row['rtl_cycles']} cycles (analytic {row['analytic_cycles']}), "
                  f"utilization {pct(row['utilization'])}, {'bit-exact' if row['bit_exact'] else 'MISMATCH'}", flush=True)
        gemm += measured
    headline = gemm[0]

    ws_params = SystolicWSParams(rows=size, cols=size, **INT8)
    cases = [(16, 2 * size + size - 2), (16, 4 * size), (16, 256)] if not ctx.quick else [(8, 64)]
    print(f"systolic_ws {size}x{size}: " + ", ".join(f"{t} tiles of M={m}" for t, m in cases), flush=True)
    ws_array = ws_array_rows(ws_params, cases, seed=ctx.seed, workdir=(ctx.out_dir / "sim" / "ws_array").resolve())
    for row in ws_array:
        print(f"  M={row['m']}: {row['rtl_cycles']} cycles (analytic {row['analytic_cycles']}), "
              f"utilization {pct(row['utilization'])}", flush=True)

    labels = {"default": "default (os 4x4, M/N/K max 16)",
              "row_block": "os 4x4, a_reuse=row_block, M max 65536, N/K max 16"}
    configs = {"default": GemmParams(), "row_block": GemmParams(a_reuse="row_block", m_max=65536)}
    if not ctx.quick:
        labels["os16x16"] = "os 16x16 int8, M/N/K max 32"
        configs["os16x16"] = GemmParams(engine="os", rows=16, cols=16, m_max=32, n_max=32, k_max=32, **INT8)
    print(f"synthesis: {', '.join(labels.values())} (generic and ecp5, {ctx.workers} at a time)", flush=True)
    synthesis = synthesis_rows(configs, ctx.out_dir / "synth", workers=ctx.workers)
    for row, slug in zip(synthesis, configs):
        label = row["config"] = labels[slug]
        print(f"  {label}: {row['generic']['cells']} cells, depth {row['generic']['logic_depth']}; "
              f"ECP5 {row['ecp5'].get('device')}: {row['ecp5'].get('lut4')} LUT4, Fmax {row['ecp5'].get('fmax_mhz')}",
              flush=True)
    return {
        "seed": ctx.seed,
        "quick": ctx.quick,
        "criteria": {"min_utilization": MIN_UTILIZATION, "max_model_error": MAX_MODEL_ERROR},
        "headline": headline,
        "gemm": gemm,
        "ws_array": ws_array,
        "synthesis": synthesis,
    }


def failures(results: dict) -> list[str]:
    """Failed pass criteria: headline utilization, model agreement of every shape, bit-exactness."""
    found = []
    heads = [results["headline"]] + [row for row in results["gemm"] if row.get("a_reuse") == "row_block"][:1]
    for head in heads:
        if head["utilization"] < MIN_UTILIZATION:
            found.append(f"{head['engine']} {head['rows']}x{head['cols']} a_reuse={head.get('a_reuse', 'whole')} "
                         f"M=N=K={head['m']}: utilization {pct(head['utilization'])} < {pct(MIN_UTILIZATION)}")
    for row in results["gemm"]:
        name = (f"{row['engine']} {row['rows']}x{row['cols']} a_reuse={row.get('a_reuse', 'whole')} "
                f"{row['m']}x{row['n']}x{row['k']}")
        if abs(row["rtl_vs_analytic_pct"]) > 100 * MAX_MODEL_ERROR:
            found.append(f"{name}: RTL cycles {row['rtl_cycles']} differ from the analytic {row['analytic_cycles']} "
                         f"by {row['rtl_vs_analytic_pct']:+.2f} %")
        found += [f"{name}: {problem}" for problem in row["problems"]]
    for row in results["ws_array"]:
        found += [f"systolic_ws {row['rows']}x{row['cols']} M={row['m']}: {problem}" for problem in row["problems"]]
    return found


SECTION = BenchSection(name="gemm", order=30, run=run_bench, render=render_markdown, failures=failures)
