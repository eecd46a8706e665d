"""Benchmark section of the streaming softmax: accuracy, throughput, latency, synthesis.

Run by :mod:`accelgen.sim.bench` (``make bench``; ``--only softmax``). Three parts:

1. **Accuracy (golden model vs float64).** Per configuration and row length N, Gaussian rows
   (sigma = full scale / 6 around a random centre) and uniform rows with 10 % random masks,
   plus worst-case rounding rows (one maximum and N - 1 elements at the same distance d, for
   every d with a non-zero term); max |error|, mean signed error (bias) in output LSB and the
   worst input. The cheaper published variants (I-BERT i-exp, shift-only exp) are measured
   with the same rows.
2. **Throughput and latency (RTL measured, Verilator).** Back-to-back rows with no stalls and
   no backpressure; sustained rate = extra beats / extra cycles between runs of R and 2R rows
   (one beat = ``lanes`` elements), latency = cycles of a single row.
3. **Synthesis.** Generic Yosys cells and ECP5 LUT/FF/DSP/Fmax for lanes = 1, 4, 16.

The section fails if an accurate configuration misses its target (int8 -> U0.8: <= 1 LSB,
|bias| <= 0.3; int16 -> U0.16: <= 2 LSB, |bias| <= 0.15), if a run is not bit-exact, or if the
sustained rate is below one beat per cycle.
"""

from pathlib import Path

import numpy as np

from ...generators.softmax import SoftmaxParams
from ...hdl.util import ceil_div
from ...verif import softmax_golden, softmax_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import fixed, synthesize_designs

__all__ = ["accuracy_rows", "throughput_rows", "synthesis_rows", "render_markdown", "run_bench", "failures", "SECTION"]

INT8 = dict(width=8, in_frac=4, out_frac=8, n_max=4096)
INT16 = dict(width=16, in_frac=12, out_frac=16, n_max=4096)

#: (label, parameters, max |error| target or None for a reference point, |bias| target)
ACCURACY_CONFIGS = [
    ("int8 S=1/16 -> U0.8", INT8, 1.0, 0.3),
    ("int8 S=1/8 -> U0.8", dict(INT8, in_frac=3), 1.0, 0.3),
    ("int8 S=3/64 -> U0.8 (arbitrary scale)", dict(INT8, in_frac=6, in_scale_num=3), 1.0, 0.3),
    ("int8 S=1/16 -> U0.8, I-BERT i-exp (approx=ibert)", dict(INT8, approx="ibert"), None, None),
    ("int8 S=1/16 -> U0.8, shift exp (approx=shift)", dict(INT8, approx="shift"), None, None),
    ("int16 S=2^-12 -> U0.16", INT16, 2.0, 0.15),
    ("int16 S=2^-10 -> U0.16", dict(INT16, in_frac=10), 2.0, 0.15),
    ("int16 S=2^-12 -> U0.16, shift exp (approx=shift)", dict(INT16, approx="shift"), None, None),
]
LENGTHS = (8, 64, 197, 1024, 4096)
#: Latency target after a row's last input beat: 2 * ceil(N/P) + L_recip + this many cycles.
LATENCY_SLACK = 8


def _rows(params, rng, n, count, kind):
    lo, hi = -(1 << (params.width - 1)), (1 << (params.width - 1)) - 1
    if kind == "uniform":
        return rng.integers(lo, hi, (count, n), endpoint=True)
    centre = rng.integers(lo, hi, (count, 1), endpoint=True)
    return np.clip(np.round(rng.normal(centre, (hi - lo) / 6, (count, n))), lo, hi).astype(np.int64)


def _worst_case_rows(params, n):
    """Rows of one maximum and ``n - 1`` elements at distance ``d``; ``(x, distances)``."""
    hi = (1 << (params.width - 1)) - 1
    limit = min((1 << params.width) - 1, params.exp_spec.d_relevant)
    distances = list(range(1, limit + 1, max(1, limit // 64)))
    x = np.empty((len(distances), n), dtype=np.int64)
    for row, d in enumerate(distances):
        x[row] = hi - d
        x[row, 0] = hi
    return x, distances


def accuracy_rows(seed: int, quick: bool) -> list[dict]:
    """Accuracy of every configuration of :data:`ACCURACY_CONFIGS`, one dict per config."""
    results = []
    configs = ACCURACY_CONFIGS if not quick else [ACCURACY_CONFIGS[0], ACCURACY_CONFIGS[5]]
    lengths = LENGTHS if not quick else (64, 197)
    budget = 200_000 if not quick else 20_000
    for label, config, max_target, bias_target in configs:
        params = SoftmaxParams(**config)
        per_length = []
        for n in lengths:
            rng = np.random.default_rng([seed, n])
            count = max(4, budget // (2 * n))
            stats = []
            for kind in ("gaussian", "uniform"):
                x = _rows(params, rng, n, count, kind)
                mask = rng.random(x.shape) < 0.1
                result = softmax_golden.accuracy(x, params, mask)
                stats.append((kind, result))
            x, distances = _worst_case_rows(params, n)
            worst = softmax_golden.accuracy(x, params)
            elements = sum(result["elements"] for _, result in stats)
            bias = sum(result["bias_lsb"] * result["elements"] for _, result in stats) / elements
            kind, top = max(stats, key=lambda item: item[1]["max_abs_lsb"])
            per_length.append({
                "n": n, "rows": 2 * count, "elements": elements,
                "max_abs_lsb": top["max_abs_lsb"], "bias_lsb": bias,
                "worst": {"kind": kind, "row": top["worst_row"], "element": top["worst_element"],
                          "output": top["worst_output"], "ideal": top["worst_ideal"]},
                "worst_case_rows_max_abs_lsb": worst["max_abs_lsb"],
                "worst_case_row": {"kind": f"max + {n - 1} at d={distances[worst['worst_row']]}", "row": worst["worst_row"],
                                   "element": worst["worst_element"], "output": worst["worst_output"],
                                   "ideal": worst["worst_ideal"]},
            })
            if worst["max_abs_lsb"] > per_length[-1]["max_abs_lsb"]:
                per_length[-1]["worst"] = per_length[-1]["worst_case_row"]
        overall = max(per_length, key=lambda row: max(row["max_abs_lsb"], row["worst_case_rows_max_abs_lsb"]))
        results.append({
            "label": label, "params": params.to_dict(), "exp_frac": params.exp_frac,
            "max_target_lsb": max_target, "bias_target_lsb": bias_target,
            "max_abs_lsb": max(max(r["max_abs_lsb"], r["worst_case_rows_max_abs_lsb"]) for r in per_length),
            "max_abs_bias_lsb": max(abs(r["bias_lsb"]) for r in per_length),
            "worst_n": overall["n"], "worst": overall["worst"], "per_length": per_length,
        })
        print(f"  {label}: max {results[-1]['max_abs_lsb']:.3f} LSB, |bias| <= "
              f"{results[-1]['max_abs_bias_lsb']:.3f} LSB", flush=True)
    return results


def throughput_rows(params: SoftmaxParams, seed: int, workdir: Path, rows: int = 8) -> dict:
    """Stall-free runs on the RTL: one row (latency), ``rows`` and ``2*rows`` back-to-back rows
    of ``n_max`` and of ``lanes`` elements (sustained rate)."""
    rng = np.random.default_rng(seed)
    plan = [("single", [params.n_max])]
    for n in sorted({params.n_max, params.lanes}):
        plan += [(f"n{n}_x{rows}", [n] * rows), (f"n{n}_x{2 * rows}", [n] * (2 * rows))]
    jobs = [{"name": name, "inputs": softmax_host.random_rows(params, rng, lengths, 0.1), "stall": 0.0,
             "backpressure": 0.0} for name, lengths in plan]
    verdict = flow.verify("softmax", params, seed=seed, jobs=jobs, workdir=workdir)
    problems = verdict.problems
    cycles = {job["name"]: int(out["cycles"]) for job, out in zip(jobs, verdict.outputs)}
    sustained = []
    for n in sorted({params.n_max, params.lanes}):
        beats = rows * ceil_div(n, params.lanes)
        extra = cycles[f"n{n}_x{2 * rows}"] - cycles[f"n{n}_x{rows}"]
        sustained.append({"n": n, "extra_beats": beats, "extra_cycles": extra, "beats_per_cycle": beats / extra,
                          "elements_per_cycle": rows * n / extra})
    row_beats = params.row_beats
    return {
        "lanes": params.lanes, "params": params.to_dict(), "bit_exact": not problems, "problems": problems,
        "cycles": cycles, "sustained": sustained,
        "latency_single_row": cycles["single"], "row_beats": row_beats,
        "latency_model": params.row_latency(row_beats),
        "latency_after_last_input": cycles["single"] - row_beats,
        "latency_bound": 2 * row_beats + params.recip_latency + LATENCY_SLACK,
        "exp_latency": params.exp_latency, "recip_latency": params.recip_latency,
        "pipeline_latency": params.pipeline_latency,
    }


def synthesis_rows(configs: list[tuple[str, SoftmaxParams]], out_dir: Path, workers: int, targets) -> list[dict]:
    """Generic and ECP5 flows of every configuration, ``workers`` at a time."""
    slugs = {label: f"softmax_w{params.width}_p{params.lanes}_n{params.n_max}" for label, params in configs}
    jobs = [(slugs[label], "softmax", params, target) for label, params in configs for target in targets]
    results = synthesize_designs(jobs, Path(out_dir), workers=workers)
    rows = []
    for label, params in configs:
        mults = 1 if params.exp_spec.kind == "table" else 2
        rows.append({"label": label, "lanes": params.lanes, "params": params.to_dict(),
                     "multipliers_per_lane": mults if params.approx != "shift" else 1,
                     **{target: results[slugs[label], target] for target in targets}})
    return rows


def render_markdown(results: dict) -> list[str]:
    """The Markdown lines of this section of ``BENCHMARKS.md``."""
    lines = [
        "## Softmax (`softmax`)",
        "",
        "### Accuracy (golden model vs float64)",
        "",
        "Error = output code − 2^out_frac · softmax(x·S) in float64, in output LSB, over Gaussian "
        "(σ = full scale / 6) and uniform rows with 10 % random masks "
        f"(N = {', '.join(str(n) for n in results['lengths'])}; "
        f"{results['accuracy_budget']} elements per N and configuration) and worst-case rounding rows (one "
        "maximum, all other elements at the same distance d, every d with a non-zero term). "
        "Bias is the mean signed error per N (the largest |bias| over N is shown). Errors close to 1 LSB "
        "come from probabilities just below 1.0, which saturate to 2^out_frac − 1 (1.0 is not representable "
        "in U0.out_frac). The RTL equals "
        "the golden model bit for bit (tests/test_softmax_cocotb.py), so these are the RTL's errors. "
        "I-BERT and shift-exp rows use the published exp formulas inside the same "
        "sum/reciprocal/normalize frame.",
        "",
        "| configuration | E (exp frac bits) | max abs error | max abs bias | worst input | target (max / bias) |",
        "|---|--:|--:|--:|---|---|",
    ]
    for row in results["accuracy"]:
        worst = row["worst"]
        target = ("reference point" if row["max_target_lsb"] is None
                  else f"≤ {row['max_target_lsb']:g} / ≤ {row['bias_target_lsb']:g}")
        lines.append(
            f"| {row['label']} | {row['exp_frac']} | {fixed(row['max_abs_lsb'])} | {fixed(row['max_abs_bias_lsb'])} "
            f"| N={row['worst_n']}, {worst['kind']} row {worst['row']} elem {worst['element']}: "
            f"y={worst['output']} vs {worst['ideal']:.3f} | {target} |")
    lines += [
        "",
        "### Throughput and latency (RTL measured)",
        "",
        "Stall-free runs on Verilator; *sustained* = beats of R extra rows / extra cycles between runs "
        "of R and 2R back-to-back rows (R = 8): 1.000 beat/cycle means `lanes` elements per cycle with "
        "no bubble between rows. *Latency* is the cycles of one row of n_max elements from its first "
        "beat to its last output beat (three passes of ⌈N/P⌉ beats: max, exp+sum, normalize, plus the "
        "reciprocal and the pipeline), measured; *model* is `SoftmaxParams.row_latency` (the stall-free "
        "job cycles of the regressions equal the same model); *after last input* subtracts the row's "
        f"input beats, against the target 2⌈N/P⌉ + L_recip + {LATENCY_SLACK}.",
        "",
        "| config | lanes | N | sustained beats/cycle | elements/cycle | latency (cycles) | model | after last input | "
        f"2⌈N/P⌉ + L_recip + {LATENCY_SLACK} | bit-exact |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in results["throughput"]:
        for sustained in row["sustained"]:
            bound = row.get("latency_bound", 2 * row["row_beats"] + row["recip_latency"] + LATENCY_SLACK)
            lines.append(
                f"| int{row['params']['width']} n_max={row['params']['n_max']} | {row['lanes']} | {sustained['n']} "
                f"| {sustained['beats_per_cycle']:.3f} | {sustained['elements_per_cycle']:.2f} "
                f"| {row['latency_single_row']} | {row.get('latency_model', 'n/a')} | {row['latency_after_last_input']} "
                f"| {bound} | {'pass' if row['bit_exact'] else 'FAIL'} |")
    lines += [
        "",
        "### Synthesis",
        "",
        "Generic: Yosys `synth -flatten` cells (memories mapped to flip-flops). ECP5: `synth_ecp5` + "
        "`nextpnr-ecp5 --out-of-context`. Multipliers per lane (design): int8 one (normalize; the exp is "
        "a table), int16 two (interpolation and normalize; `d·log2(e)` is a constant multiply); the "
        "reciprocal is shared by all lanes. Critical path: nextpnr's slowest register-to-register path. "
        "Clock targets (4 lanes): int8 ≥ 125 MHz, int16 ≥ 110 MHz.",
        "",
        "| config | lanes | multipliers/lane | generic cells | logic depth | ECP5 LUT4 | FF | MULT18X18D | DP16KD | Fmax "
        "| critical path (start → end cell) |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in results["synthesis"]:
        generic, ecp5 = row.get("generic", {}), row.get("ecp5", {})
        fmax = ecp5.get("fmax_mhz")
        path = ecp5.get("critical_path")
        # Reports name the ends start/end (older section files: from/to).
        path = "n/a" if not path else f"`{path.get('start', path.get('from'))}` → `{path.get('end', path.get('to'))}`"
        lines.append(
            f"| {row['label']} | {row['lanes']} | {row['multipliers_per_lane']} | {generic.get('cells', 'n/a')} "
            f"| {generic.get('logic_depth', 'n/a')} | {ecp5.get('lut4', 'n/a')} | {ecp5.get('ff', 'n/a')} "
            f"| {ecp5.get('dsp_mult18', 'n/a')} | {ecp5.get('bram', ecp5.get('dp16kd', 'n/a'))} "
            f"| {'n/a' if fmax is None else f'{fmax:.1f} MHz'} | {path} |")
    lines.append("")
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): two accuracy configurations, lanes = 4 only.*", ""]
    return lines


def run_bench(ctx: BenchContext) -> dict:
    """Accuracy, throughput/latency and synthesis of the softmax; the section's results."""
    print("accuracy (golden model vs float64)", flush=True)
    accuracy = accuracy_rows(ctx.seed, ctx.quick)
    lanes_list = [4] if ctx.quick else [1, 4, 16]
    throughput = []
    for lanes in lanes_list:
        params = SoftmaxParams(**dict(INT8, n_max=64 if ctx.quick else 256, lanes=lanes))
        print(f"throughput int8 lanes={lanes} n_max={params.n_max}", flush=True)
        row = throughput_rows(params, ctx.seed, (ctx.out_dir / "sim" / f"int8_p{lanes}").resolve())
        print(f"  sustained {[round(s['beats_per_cycle'], 3) for s in row['sustained']]} beats/cycle, "
              f"latency {row['latency_single_row']} cycles", flush=True)
        throughput.append(row)
    if not ctx.quick:
        params = SoftmaxParams(**dict(INT16, n_max=256, lanes=4))
        print("throughput int16 lanes=4 n_max=256", flush=True)
        throughput.append(throughput_rows(params, ctx.seed, (ctx.out_dir / "sim" / "int16_p4").resolve()))
    synth_n = 64 if ctx.quick else 256
    synth_configs = [(f"int8 n_max={synth_n} lanes={lanes}", SoftmaxParams(**dict(INT8, n_max=synth_n, lanes=lanes)))
                     for lanes in lanes_list]
    if not ctx.quick:
        synth_configs.append(("int16 n_max=256 lanes=4", SoftmaxParams(**dict(INT16, n_max=256, lanes=4))))
    print("synthesis: " + ", ".join(label for label, _ in synth_configs), flush=True)
    synthesis = synthesis_rows(synth_configs, ctx.out_dir / "synth", ctx.workers,
                              ("generic",) if ctx.quick else ("generic", "ecp5"))
    return {
        "seed": ctx.seed, "quick": ctx.quick, "lengths": list(LENGTHS if not ctx.quick else (64, 197)),
        "accuracy_budget": 200_000 if not ctx.quick else 20_000,
        "accuracy": accuracy, "throughput": throughput, "synthesis": synthesis,
    }


def failures(results: dict) -> list[str]:
    """Failed pass criteria: accuracy targets, bit-exactness, one beat per cycle sustained."""
    found = []
    for row in results["accuracy"]:
        if row["max_target_lsb"] is None:
            continue
        if row["max_abs_lsb"] > row["max_target_lsb"]:
            found.append(f"{row['label']}: max error {row['max_abs_lsb']:.3f} LSB > {row['max_target_lsb']}")
        if row["max_abs_bias_lsb"] > row["bias_target_lsb"]:
            found.append(f"{row['label']}: bias {row['max_abs_bias_lsb']:.3f} LSB > {row['bias_target_lsb']}")
    for row in results["throughput"]:
        found += [f"lanes={row['lanes']}: {problem}" for problem in row["problems"]]
        for sustained in row["sustained"]:
            if sustained["beats_per_cycle"] < 1.0:
                found.append(f"lanes={row['lanes']} N={sustained['n']}: {sustained['beats_per_cycle']:.3f} beats/cycle < 1")
        if row["latency_single_row"] != row.get("latency_model"):
            found.append(f"lanes={row['lanes']}: latency {row['latency_single_row']} != model {row.get('latency_model')}")
    return found


SECTION = BenchSection(name="softmax", order=40, run=run_bench, render=render_markdown, failures=failures)
