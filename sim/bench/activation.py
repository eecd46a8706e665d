"""Benchmark section of the elementwise activation units (GELU, SiLU): error, timing, area.

Run by :mod:`accelgen.sim.bench` (``make bench``; ``--only activation``). Three parts:

1. **Accuracy (golden model, every input code).** For each configuration, the bit-exact
   golden model against float64 ``GELU`` / ``SiLU`` on all ``2**width`` input codes, in output
   LSB: max ``|error|``, mean signed error (bias), worst input. The I-BERT i-GELU and the
   hard-sigmoid SiLU are measured the same way as side-by-side reference points.
2. **Latency and throughput (RTL measured).** Every input code streams through the Verilator
   build without stalls, checked bit-exact; the cycle counts of a single beat and of the whole
   stream give the latency and the beats per cycle.
3. **Synthesis.** Each configuration at one lane through ``synth_ice40 -nobram`` (4-input LUTs,
   no DSP, no block RAM: the issue's area yardstick) and ECP5 (LUT4 / DSP / Fmax after
   place-and-route); ``lanes`` = 1, 4, 16 through the generic and ECP5 flows.

Pass criteria (:func:`failures`): int8 tables <= 0.5 LSB, 1-2 cycles, <= 65 iCE40 LUT4 per lane;
int16 Q3.12 <= 1 LSB, |bias| <= 0.15 LSB, <= 4 cycles (3 plus the table's output register,
``table_register=1``, which the ECP5 clock of >= 125 MHz needs), <= 860 iCE40 LUT4 (no DSP);
one beat per cycle; RTL bit-exact.
"""

from pathlib import Path

from ...generators import get_design
from ...synth import FIGURES, summary
from ...verif import activation_golden, activation_host
from .. import flow
from . import BenchContext, BenchSection
from ._common import synthesize_designs

__all__ = ["ACCURACY_CONFIGS", "accuracy_rows", "timing_row", "render_markdown", "run_bench", "failures", "SECTION"]

#: (label, design, parameters, role). Roles: ``int8`` / ``int16`` carry the issue's targets,
#: ``info`` are other formats, ``reference`` the published cheaper formulas.
ACCURACY_CONFIGS = [
    ("GELU int8, S = 2^-3", "gelu", dict(width=8, in_frac=3), "int8"),
    ("GELU int8, S = 2^-4", "gelu", dict(width=8, in_frac=4), "int8"),
    ("GELU int8, S = 2^-5", "gelu", dict(width=8, in_frac=5), "int8"),
    ("SiLU int8, S = 2^-3", "silu", dict(width=8, in_frac=3), "int8"),
    ("SiLU int8, S = 2^-4", "silu", dict(width=8, in_frac=4), "int8"),
    ("SiLU int8, S = 2^-5", "silu", dict(width=8, in_frac=5), "int8"),
    ("GELU int16 Q3.12", "gelu", dict(width=16, in_frac=12), "int16"),
    ("SiLU int16 Q3.12", "silu", dict(width=16, in_frac=12), "int16"),
    ("GELU int16 Q5.10", "gelu", dict(width=16, in_frac=10), "info"),
    ("SiLU int16 Q7.8", "silu", dict(width=16, in_frac=8), "info"),
    ("GELU int16 Q1.14", "gelu", dict(width=16, in_frac=14), "info"),
    ("i-GELU (I-BERT) int8, S = 2^-4", "gelu", dict(width=8, in_frac=4, approx="ibert"), "reference"),
    ("i-GELU (I-BERT) int16 Q3.12", "gelu", dict(width=16, in_frac=12, approx="ibert"), "reference"),
    ("hard-sigmoid SiLU int8, S = 2^-4", "silu", dict(width=8, in_frac=4, approx="hard_sigmoid"), "reference"),
    ("hard-sigmoid SiLU int16 Q3.12", "silu", dict(width=16, in_frac=12, approx="hard_sigmoid"), "reference"),
]

#: Configurations whose lane count is swept through the generic and ECP5 flows.
LANE_SWEEP = [("GELU int8, S = 2^-4", "gelu", dict(width=8, in_frac=4)),
              ("GELU int16 Q3.12", "gelu", dict(width=16, in_frac=12)),
              ("SiLU int16 Q3.12", "silu", dict(width=16, in_frac=12))]
LANES = (1, 4, 16)

#: RTL timing runs: (label, design, parameters).
TIMING_CONFIGS = [("GELU int8, S = 2^-4, 4 lanes", "gelu", dict(width=8, in_frac=4, lanes=4)),
                  ("SiLU int8, S = 2^-4, 4 lanes", "silu", dict(width=8, in_frac=4, lanes=4)),
                  ("GELU int16 Q3.12, 8 lanes", "gelu", dict(width=16, in_frac=12, lanes=8)),
                  ("SiLU int16 Q3.12, 16 lanes", "silu", dict(width=16, in_frac=12, lanes=16))]

#: Targets of the issue.
TARGETS = {
    "int8": {"max_abs_lsb": 0.5, "latency": 2, "ice40_lut4_per_lane": 65},
    # Latency: 3 cycles plus the table's output register (table_register=1, for the clock).
    "int16": {"max_abs_lsb": 1.0, "stretch_max_abs_lsb": 0.75, "bias_lsb": 0.15, "latency": 4, "ice40_lut4": 860},
}

#: Figures of the iCE40 and ECP5 reports kept in the results (:func:`accelgen.synth.summary`).
ICE40_FIGURES = FIGURES["ice40"]
ECP5_FIGURES = ("device", "lut4", "ccu2", "ff", "dsp_mult18", "dpram", "bram", "fmax_mhz", "freq_mhz", "yosys_version")


def _slug(label: str, lanes: int = 1) -> str:
    keep = "".join(c if c.isalnum() else "_" for c in label.lower())
    return "_".join(part for part in keep.split("_") if part) + f"_x{lanes}"


def accuracy_rows(configs=ACCURACY_CONFIGS) -> list[dict]:
    """Error of the golden model against float64 on every input code, per configuration."""
    rows = []
    for label, name, overrides, role in configs:
        params = get_design(name).params(**overrides)
        report = activation_golden.error_report(params)
        row = {"label": label, "design": name, "role": role, "params": params.to_dict(),
               "datapath": params.datapath, "latency": params.latency, **report}
        if params.datapath == "interp":
            row["table_entries"] = params.interp_plan.entries
            row["table_step"] = f"2^-{params.seg_frac}"
        rows.append(row)
        print(f"  {label}: max {report['max_abs_lsb']:.3f} LSB, bias {report['bias_lsb']:+.4f} LSB, "
              f"worst at x = {report['worst_x']:g}", flush=True)
    return rows


def timing_row(label: str, name: str, overrides: dict, *, seed: int, workdir: Path) -> dict:
    """Latency and beats per cycle of one configuration, measured on the Verilator build.

    Every input code streams through without stalls (checked bit-exact in the testbench); a
    single beat gives the latency (``cycles - 1``), the long stream the throughput.
    """
    params = get_design(name).params(**overrides)
    codes = activation_host.codes_to_beats(activation_golden.all_codes(params.width), params.lanes)
    jobs = [
        {"name": "single_beat", "inputs": {"x": codes[:1]}, "stall": 0.0, "backpressure": 0.0, "check": True},
        {"name": "every_code", "inputs": {"x": codes}, "stall": 0.0, "backpressure": 0.0, "check": True},
    ]
    verdict = flow.verify(name, params, seed=seed, jobs=jobs, workdir=workdir)
    outputs, problems = verdict.outputs, verdict.problems
    latency = int(outputs[0]["bench_cycles"]) - 1
    cycles = int(outputs[1]["bench_cycles"])
    beats = len(codes)
    return {
        "label": label, "design": name, "params": params.to_dict(), "lanes": params.lanes,
        "latency_cycles": latency, "latency_model": params.latency, "beats": beats, "cycles": cycles,
        "beats_per_cycle": beats / (cycles - latency), "elements_per_cycle": beats * params.lanes / (cycles - latency),
        "bit_exact": not problems, "problems": problems,
    }


def run_bench(ctx: BenchContext) -> dict:
    """Measure accuracy, timing and area; the results of this section (see the module docstring).

    Quick mode: accuracy of every configuration (pure numpy), one RTL timing run (int8 GELU)
    and iCE40 / generic synthesis of the two int8 units at one lane.
    """
    print("accuracy (golden model vs float64, every input code)", flush=True)
    accuracy = accuracy_rows()

    timing_configs = TIMING_CONFIGS[:1] if ctx.quick else TIMING_CONFIGS
    timing = []
    for label, name, overrides in timing_configs:
        print(f"timing {label}", flush=True)
        workdir = (ctx.out_dir / "sim" / _slug(label, overrides["lanes"])).resolve()
        row = timing_row(label, name, overrides, seed=ctx.seed, workdir=workdir)
        print(f"  latency {row['latency_cycles']} cycles, {row['beats_per_cycle']:.4f} beats/cycle, "
              f"{'bit-exact' if row['bit_exact'] else 'MISMATCH'}", flush=True)
        timing.append(row)

    if ctx.quick:
        area_configs = [c for c in ACCURACY_CONFIGS if c[0] in ("GELU int8, S = 2^-4", "SiLU int8, S = 2^-4")]
        sweep = []
    else:
        area_configs = ACCURACY_CONFIGS
        sweep = LANE_SWEEP
    jobs = []
    for label, name, overrides, role in area_configs:
        one_lane = {**overrides, "lanes": 1}
        jobs.append((_slug(label), name, one_lane, "ice40"))
        if not ctx.quick and role in ("int8", "int16", "reference"):
            jobs.append((_slug(label), name, one_lane, "ecp5"))
        if ctx.quick:
            jobs.append((_slug(label), name, one_lane, "generic"))
    for label, name, overrides in sweep:
        for lanes in LANES:
            key = _slug(label, lanes)
            jobs.append((key, name, {**overrides, "lanes": lanes}, "generic"))
            if lanes != 1:  # one lane's ECP5 run is part of the per-configuration jobs above
                jobs.append((key, name, {**overrides, "lanes": lanes}, "ecp5"))
    print(f"synthesis: {len(jobs)} flow runs, {ctx.workers} at a time", flush=True)
    results = synthesize_designs([(key, name, get_design(name).params(**overrides), target)
                                  for key, name, overrides, target in jobs], ctx.out_dir / "synth", workers=ctx.workers)

    area = []
    for label, name, overrides, role in area_configs:
        key = _slug(label)
        row = {"label": label, "role": role, "ice40": summary(results[key, "ice40"], "ice40", ICE40_FIGURES)}
        if (key, "ecp5") in results:
            row["ecp5"] = summary(results[key, "ecp5"], "ecp5", ECP5_FIGURES)
        if (key, "generic") in results:
            row["generic_cells"] = results[key, "generic"]["cells"]
        area.append(row)
    lanes_rows = []
    for label, name, overrides in sweep:
        for lanes in LANES:
            key = _slug(label, lanes)
            ecp5 = results.get((key, "ecp5")) or results.get((_slug(label), "ecp5"))
            lanes_rows.append({"label": label, "lanes": lanes, "generic_cells": results[key, "generic"]["cells"],
                               "logic_depth": results[key, "generic"]["logic_depth"],
                               "ecp5": summary(ecp5, "ecp5", ECP5_FIGURES) if ecp5 else None})
    return {"seed": ctx.seed, "quick": ctx.quick, "targets": TARGETS, "accuracy": accuracy, "timing": timing,
            "area": area, "lanes": lanes_rows}


# -- report --------------------------------------------------------------------------------------

def render_markdown(results: dict) -> list[str]:
    """The Markdown lines of this section of ``BENCHMARKS.md`` (starting with its ``##`` heading)."""
    area = {row["label"]: row for row in results["area"]}
    lines = [
        "## Elementwise activations: GELU and SiLU (`gelu`, `silu`)",
        "",
        "Error of the bit-exact golden model (which the RTL equals on every input code) against "
        "float64 GELU / SiLU over **every** input code, in output LSB (the reference is saturated to the "
        "output range). Latency in cycles from the input transfer to the output (II = 1). iCE40: "
        "`synth_ice40 -nobram` at one lane, no DSP (SB_LUT4 + SB_CARRY). ECP5: `synth_ecp5` cell counts, "
        "Fmax from `nextpnr-ecp5 --out-of-context`; on ECP5 Yosys puts the int16 tables into block RAM "
        "(DP16KD, the output register merged into it) and the interpolation multiply into a MULT18X18D, "
        "so the no-DSP, no-BRAM cost is the iCE40 column. Outputs have the input's width and scale.",
        "",
        "| configuration | datapath | max \\|err\\| (LSB) | bias (LSB) | worst x | latency | iCE40 LUT4 + carry "
        "| ECP5 LUT4 / CCU2C / MULT18 / DP16KD | ECP5 Fmax |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in results["accuracy"]:
        synth = area.get(row["label"], {})
        ice40 = synth.get("ice40")
        ecp5 = synth.get("ecp5")
        datapath = row["datapath"] + (f" ({row['table_entries']} entries, step {row['table_step']})"
                                      if "table_entries" in row else "")
        if row["role"] == "reference":
            datapath += ", reference point"
        ice40_text = f"{ice40['lut4']} + {ice40['carry']}" if ice40 else "—"
        ecp5_text = f"{ecp5['lut4']} / {ecp5['ccu2']} / {ecp5['dsp_mult18']} / {ecp5['bram']}" if ecp5 else "—"
        fmax_text = f"{ecp5['fmax_mhz']:.0f} MHz" if ecp5 and ecp5.get("fmax_mhz") else "—"
        lines.append(
            f"| {row['label']} | {datapath} | {row['max_abs_lsb']:.3f} | {row['bias_lsb']:+.4f} "
            f"| {row['worst_x']:g} | {row['latency']} | {ice40_text} | {ecp5_text} | {fmax_text} |"
        )
    t8, t16 = TARGETS["int8"], TARGETS["int16"]
    lines += [
        "",
        f"Targets: int8 <= {t8['max_abs_lsb']} LSB (correctly rounded), <= {t8['latency']} cycles, "
        f"<= {t8['ice40_lut4_per_lane']} iCE40 LUT4 per lane; int16 Q3.12 <= {t16['max_abs_lsb']} LSB "
        f"(stretch {t16['stretch_max_abs_lsb']}), |bias| <= {t16['bias_lsb']} LSB, <= {t16['latency']} cycles, "
        f"<= {t16['ice40_lut4']} iCE40 LUT4 without DSP. Published reference points measured the same way: "
        "I-BERT's i-GELU (its integer erf polynomial, constants floored as in I-BERT, plus a requantizing "
        "multiply) and SiLU with the shift-only hard sigmoid `x * clamp(x/4 + 1/2, 0, 1)`.",
        "",
        "RTL timing (Verilator, every input code streamed without stalls, bit-exact against the golden model):",
        "",
        "| configuration | latency (cycles) | beats | cycles | beats / cycle | elements / cycle | bit-exact |",
        "|---|--:|--:|--:|--:|--:|:-:|",
    ]
    for row in results["timing"]:
        lines.append(f"| {row['label']} | {row['latency_cycles']} | {row['beats']} | {row['cycles']} "
                     f"| {row['beats_per_cycle']:.4f} | {row['elements_per_cycle']:.2f} "
                     f"| {'pass' if row['bit_exact'] else 'FAIL'} |")
    if results["lanes"]:
        lines += [
            "",
            "Lanes (generic `synth -flatten` cells and logic depth; ECP5 with DSPs allowed):",
            "",
            "| configuration | lanes | generic cells | logic depth | ECP5 LUT4 | CCU2C | MULT18 | DP16KD | FF | Fmax |",
            "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for row in results["lanes"]:
            ecp5 = row["ecp5"] or {}
            fmax = f"{ecp5['fmax_mhz']:.0f} MHz" if ecp5.get("fmax_mhz") else "n/a"
            lines.append(f"| {row['label']} | {row['lanes']} | {row['generic_cells']} | {row['logic_depth']} "
                         f"| {ecp5.get('lut4', 'n/a')} | {ecp5.get('ccu2', 'n/a')} | {ecp5.get('dsp_mult18', 'n/a')} "
                         f"| {ecp5.get('bram', 'n/a')} "
                         f"| {ecp5.get('ff', 'n/a')} | {fmax} |")
    lines.append("")
    if results.get("quick"):
        lines += ["*Quick run (`--quick`): one timing run, iCE40 / generic synthesis of the int8 units only.*", ""]
    return lines


def failures(results: dict) -> list[str]:
    """Failed targets of the issue among the measured configurations."""
    found = []
    area = {row["label"]: row for row in results["area"]}
    t8, t16 = TARGETS["int8"], TARGETS["int16"]
    for row in results["accuracy"]:
        label, role = row["label"], row["role"]
        ice40 = area.get(label, {}).get("ice40")
        if role == "int8":
            if row["max_abs_lsb"] > t8["max_abs_lsb"]:
                found.append(f"{label}: max error {row['max_abs_lsb']:.3f} LSB > {t8['max_abs_lsb']}")
            if row["latency"] > t8["latency"]:
                found.append(f"{label}: latency {row['latency']} > {t8['latency']} cycles")
            if ice40 and ice40["lut4"] > t8["ice40_lut4_per_lane"]:
                found.append(f"{label}: {ice40['lut4']} iCE40 LUT4 per lane > {t8['ice40_lut4_per_lane']}")
        elif role == "int16":
            if row["max_abs_lsb"] > t16["max_abs_lsb"]:
                found.append(f"{label}: max error {row['max_abs_lsb']:.3f} LSB > {t16['max_abs_lsb']}")
            if abs(row["bias_lsb"]) > t16["bias_lsb"]:
                found.append(f"{label}: bias {row['bias_lsb']:+.4f} LSB beyond ±{t16['bias_lsb']}")
            if row["latency"] > t16["latency"]:
                found.append(f"{label}: latency {row['latency']} > {t16['latency']} cycles")
            if ice40 and (ice40["lut4"] > t16["ice40_lut4"] or ice40["dsp_mac16"]):
                found.append(f"{label}: {ice40['lut4']} iCE40 LUT4 > {t16['ice40_lut4']} (no DSP)")
    for row in results["timing"]:
        found += [f"{row['label']}: {problem}" for problem in row["problems"]]
        if row["latency_cycles"] != row["latency_model"]:
            found.append(f"{row['label']}: measured latency {row['latency_cycles']} != {row['latency_model']}")
        if row["cycles"] != row["beats"] + row["latency_cycles"]:
            found.append(f"{row['label']}: {row['cycles']} cycles for {row['beats']} beats (not one per cycle)")
    return found


SECTION = BenchSection(name="activation", order=40, run=run_bench, render=render_markdown, failures=failures)
