"""Benchmark section of the PIM controller (``pim``): utilization, legality, mutation, area.

Run by :mod:`accelgen.sim.bench` (``make bench``). Every simulation drives the Verilator
build of the controller with every channel's command slots fed, cycle by cycle, into the
behavioural channel model and its independent timing checker (any violation fails the run),
and every result is compared with numpy ``W @ x`` (int8, exact).

1. **Utilization.** Per preset and shape, one GEMV job without stalls (after the start-up
   refreshes):
   ``U = #MACAB x mac_spacing / job cycles`` (job cycles: from the job's acceptance to its
   last result) and ``eta = U / U_bound`` with ``U_bound`` from
   :func:`accelgen.verif.pim_bound.passes_bound` (same timing table, same loop order;
   refresh off: the exact recurrence; refresh on: jobs of about ten refresh intervals against
   the long-run refresh rate).
   The ``aim_gddr6`` full-row pass (refresh off) must be exactly 226 cycles ACTAB to ACTAB.
   Channels run in lockstep with identical per-channel work, so one channel holding its share
   of the outputs measures a multi-channel job.
2. **Legality.** ``>= 1000`` random jobs per preset (random M, K including non-multiples of the
   row, random channel masks over 2 channels, random ops, stalls on both input streams and
   backpressure on the results): 0 violations, all results exact.
3. **Mutation check.** For every timing parameter, the controller is built with that value
   one cycle short while the checker keeps the true value, on a tiny configuration where the
   parameter binds; the standard regression must fail.
4. **Synthesis.** Yosys generic cells and logic depth per preset, and against ``channels``.
"""

import functools
import os
import time
from pathlib import Path

import numpy as np

from ...generators import get_design
from ...hdl.pim.isa import Cmd, JobOp
from ...hdl.pim.presets import PRESETS, TIMING_NAMES
from ...verif import pim_host
from ...verif.pim_bound import gemv_bound
from .. import flow
from ..runner import SimulationError
from . import BenchContext, BenchSection
from ._common import pct, run_parallel

__all__ = ["SECTION", "run_bench", "render_markdown", "failures", "MUTATION_BASES", "TINY"]

DESIGN_NAME = "pim_ctrl"

MIN_ETA = 0.98
MIN_U_MULTI_SEGMENT = 0.50
MIN_U_DUAL = 0.90
ROW_PASS_ANCHOR = 226

#: A tiny channel for the mutation check (4 banks, 8 columns per row).
TINY = dict(bank_groups=2, banks_per_group=2, rows=1024, row_bytes=64, col_bytes=8,
            tRCD_MAC=6, tRP=4, tRAS=8, tRC=13, tRTP=3, tCCD_S=1, tCCD_L=2, tCCD_MAC=2, tRRD_S=2, tRRD_L=3,
            tFAW=10, faw_weight_actab=1, tWTR_S=2, tWTR_L=3, tRTW=6, CL=5, CWL=2, BL=2, tREFI=400, tRFC=20,
            tRCD=5, tRCDWR=4, tWR=4, m_max=40, k_max=200, channels=2)

#: Per timing parameter: the tiny configuration in which it binds (so a shorter value shows),
#: or the reason the controller cannot exercise it.
_B = dict(TINY, tRAS=20, tRC=40, tWTR_S=12, tWTR_L=12, tCCD_S=3, tCCD_L=4, tCCD_MAC=3, BL=2)
_DUAL_FAW = dict(TINY, dual_row_buffer=True, faw_weight_actab=4, tFAW=16)
_DUAL_RRD = dict(TINY, dual_row_buffer=True, faw_weight_actab=0, tRRD_L=9)
_SLOW_MAC = dict(TINY, tCCD_MAC=3, BL=3, tCCD_S=2, CL=9)
MUTATION_BASES = {
    "tRCD_MAC": TINY, "tRP": TINY, "tRTP": TINY, "CL": TINY, "CWL": TINY, "BL": TINY, "tRTW": TINY,
    "tRFC": TINY, "tRAS": _B, "tRC": _B, "tWTR_S": _B, "tCCD_S": _B, "tCCD_L": _B, "tCCD_MAC": _SLOW_MAC,
    "tFAW": _DUAL_FAW, "tRRD_L": _DUAL_RRD, "tRRD_S": _DUAL_RRD,
    "tRCD": "spaces ACT -> RD; the controller issues no RD",
    "tRCDWR": "spaces ACT -> WR; the controller issues no WR",
    "tWR": "spaces WR -> PRE; the controller issues no WR",
    "tWTR_L": "spaces WR -> RD in a bank group; the controller issues no RD/WR",
    "tREFI": "a maximum interval: a shorter one only refreshes more often (legal)",
}


#: Mutants that cannot change the controller's behaviour, and why (reported, not failures).
EQUIVALENT_MUTANTS = {
    "tRRD_S": "equivalent: every ACTAB touches every bank group, so tRRD_L >= tRRD_S (a preset rule) "
              "spaces all-bank activations; one cycle less of tRRD_S changes nothing",
}


def _params(**values):
    return get_design(DESIGN_NAME).params(**values)


# -- 1. utilization -----------------------------------------------------------------------------

def _perf_cases(quick: bool) -> list[tuple]:
    """``(label, params, M per channel, K, kind)`` of the utilization table.

    Refresh off: eta against the exact recurrence. Refresh on: jobs of about ten refresh
    intervals, eta against the long-run refresh rate (shorter jobs would measure where the
    interval boundaries happen to fall).
    """
    aim = dict(preset="aim_gddr6", k_max=4096, m_max=2048)
    off = dict(refresh_mode="off")
    cases = [
        ("aim_gddr6 full-row passes", dict(aim, **off), 256, 2048, "anchor"),
        ("aim_gddr6 multi-segment, stock (1 GB slot, 1 acc)", dict(aim, **off), 64, 4096, ""),
        ("aim_gddr6 multi-segment, 2 GB slots [device option]", dict(aim, gb_slots=2, **off), 64, 4096, "multi"),
        ("aim_gddr6 multi-segment, 8 acc/bank [device option]", dict(aim, n_acc=8, **off), 256, 4096, "multi"),
        ("aim_gddr6 dual_row_buffer [needs modified DRAM]", dict(aim, dual_row_buffer=True, **off), 1024, 2048, "dual"),
        ("hbm2_pim 4096x4096 on 64 ch (64 outputs/ch)", dict(preset="hbm2_pim", k_max=4096, m_max=64, **off),
         64, 4096, ""),
        ("jedec_gddr6", dict(preset="jedec_gddr6", k_max=4096, m_max=256, **off), 128, 4096, ""),
        ("jedec_hbm2", dict(preset="jedec_hbm2", k_max=2048, m_max=256, **off), 128, 2048, ""),
        ("aim_gddr6 full-row passes, refresh on", dict(aim), 2048, 2048, "refresh"),
        ("aim_gddr6 2 GB slots, refresh on [device option]", dict(aim, gb_slots=2), 512, 4096, "multi refresh"),
        ("aim_gddr6 dual_row_buffer, refresh on [needs modified DRAM]", dict(aim, dual_row_buffer=True), 2048, 2048,
         "dual refresh"),
    ]
    if quick:
        cases = [cases[0], cases[2], cases[4]]
    return cases


def _pct(value) -> str:
    return pct(value, 1)


def _bound(config, m, k, start, refreshes_done):
    refresh = "none" if config.refresh_mode == "off" else "steady"
    return gemv_bound(config, m, k, 1, refresh=refresh)


def _measure(label, values, m, k, kind, seed, workdir):
    params = _params(**values)
    config = params.config()
    rng = np.random.default_rng(seed)
    job = pim_host.random_job(params, rng, 0, m=m, k=k, mask=1, op=int(JobOp.GEMV))
    batch = pim_host.make_batch(params, [job], trace=True)
    batch["delay"] = np.array([2 * config.tRFC + 64])   # start-up refreshes out of the way
    jobs = [{"name": "perf", "inputs": batch, "stall": 0.0, "backpressure": 0.0}]
    verdict = flow.verify(DESIGN_NAME, params, seed=seed, jobs=jobs, workdir=workdir)
    out, problems = verdict.outputs[0], verdict.problems
    trace = out["trace"]
    trace = trace[trace[:, 1] == 0]
    acts = trace[trace[:, 2] == int(Cmd.ACTAB)][:, 0]
    gaps = np.diff(acts)
    start = int(out["job_start"][0]) if "job_start" in out else 0
    refs_before = int(np.sum((trace[:, 2] == int(Cmd.REF)) & (trace[:, 0] <= start)))
    cycles = int(out["job_cycles"][0])
    macs = int(out["job_macs"][0])
    bound = _bound(config, m, k, start, refs_before)
    u = macs * config.mac_spacing / cycles
    values_gaps, counts = np.unique(gaps, return_counts=True)
    return {
        "label": label, "kind": kind, "preset": params.preset, "m_per_channel": m, "k": k,
        "params": {key: value for key, value in values.items()},
        "cycles": cycles, "macs": macs, "mac_spacing": config.mac_spacing, "u": u,
        "bound_cycles": bound.cycles, "u_bound": bound.u_bound, "eta": bound.cycles / cycles,
        "row_pass": config.row_pass_cycles(),
        "most_common_actab_gap": int(values_gaps[np.argmax(counts)]) if len(gaps) else None,
        "actab_gaps": {str(int(g)): int(c) for g, c in zip(values_gaps, counts)},
        "refs": int(out["ref_count"]),
        "stalls": {name: int(out[f"stall_{name}"]) for name in ("row", "column", "vector", "result", "refresh")},
        "problems": problems,
    }


# -- 2. random jobs -----------------------------------------------------------------------------

def _random_jobs(preset, count, seed, workdir):
    base = PRESETS[preset]
    epr = base["row_bytes"][0]  # int8: one element per byte
    params = _params(preset=preset, channels=2, m_max=32, k_max=min(2 * epr + 40, 4096), tag_bits=8)
    rng = np.random.default_rng(seed)
    per_batch = 50
    jobs = []
    for index in range(0, count, per_batch):
        n = min(per_batch, count - index)
        batch = []
        row = 0
        for _ in range(n):
            m = int(rng.integers(1, params.m_max, endpoint=True))
            k = int(rng.choice([rng.integers(1, params.k_max, endpoint=True), epr, epr + 1, 1]))
            job = pim_host.random_job(params, rng, row % params.config().rows, m=m, k=k)
            row += pim_host.rows_used(params, m, k, job[4])
            batch.append(job)
        stall = [0.0, 0.2, 0.5][(index // per_batch) % 3]
        jobs.append({"name": f"random_{index // per_batch}", "inputs": pim_host.make_batch(params, batch),
                     "stall": stall, "backpressure": stall})
    started = time.time()
    verdict = flow.verify(DESIGN_NAME, params, seed=seed, jobs=jobs, workdir=workdir)
    outputs, problems = verdict.outputs, verdict.problems
    return {
        "preset": preset, "jobs": count, "channels": 2,
        "violations": int(sum(int(o["violations"]) for o in outputs)),
        "result_beats": int(sum(len(o["index"]) for o in outputs)),
        "cycles": int(sum(int(o["cycles"]) for o in outputs)),
        "problems": problems, "seconds": round(time.time() - started, 1),
    }


# -- 3. mutation --------------------------------------------------------------------------------

def _mutation(name, seed, workdir):
    base = MUTATION_BASES[name]
    if isinstance(base, str):
        return {"param": name, "status": "not applicable", "detail": base}
    try:
        params = _params(**base, mutate=name)
    except ValueError as error:
        return {"param": name, "status": "error", "detail": str(error)}
    try:
        verdict = flow.verify(DESIGN_NAME, params, seed=seed, workdir=workdir)
    except SimulationError as error:
        text = str(error)
        line = next((ln for ln in text.splitlines() if "violates" in ln or "differs" in ln), text.splitlines()[0])
        return {"param": name, "status": "caught", "detail": line.strip()[-160:]}
    if verdict.problems:
        return {"param": name, "status": "caught", "detail": verdict.problems[0][:160]}
    return {"param": name, "status": "NOT caught",
            "detail": "the mutant ran the regression legally (another rule of the table dominates)"}


# -- 4. synthesis -------------------------------------------------------------------------------

def _synth(label, values, out_dir):
    design_dir = Path(out_dir) / label.replace(" ", "_")
    manifest = flow.generate(DESIGN_NAME, _params(**values), design_dir)
    synthesis = flow.synthesize(design_dir, manifest, "generic", workdir=design_dir / "generic",
                                keys=("cells", "ff", "logic_depth"))
    return {"label": label, "params": values, **synthesis.summary}


def _synth_cases(quick):
    cases = [(f"{preset} 1ch", dict(preset=preset, k_max=256, m_max=256)) for preset in PRESETS]
    cases += [(f"aim_gddr6 {c}ch", dict(preset="aim_gddr6", channels=c, k_max=256, m_max=256)) for c in (2, 4)]
    if quick:
        cases = [cases[0], cases[len(PRESETS)]]
    return cases


#: The progress line of each kind of run.
_PROGRESS = {
    "perf": lambda row: (f"{row['label']}: {row['cycles']} cycles, U {_pct(row['u'])}, U_bound {_pct(row['u_bound'])}, "
                         f"eta {row['eta']:.3f}, ACTAB gap {row['most_common_actab_gap']}"),
    "random": lambda row: (f"random {row['preset']}: {row['jobs']} jobs, {row['violations']} violations, "
                           f"{len(row['problems'])} problems"),
    "mutation": lambda row: f"mutant {row['param']}: {row['status']}",
    "synthesis": lambda row: f"synth {row['label']}: {row['cells']} cells, {row['ff']} FF, depth {row['logic_depth']}",
}


def run_bench(ctx: BenchContext) -> dict:
    """Measure utilization, legality over random jobs, the mutation check and synthesis."""
    started = time.time()
    out = Path(ctx.out_dir).resolve()
    # ACCELGEN_PIM_RANDOM_JOBS overrides the count (the full target is 1000 per preset).
    count = int(os.environ.get("ACCELGEN_PIM_RANDOM_JOBS", 40 if ctx.quick else 1000))
    presets = ["aim_gddr6"] if ctx.quick else list(PRESETS)
    names = ["tRCD_MAC", "tRP", "CL", "tRFC"] if ctx.quick else list(TIMING_NAMES)
    calls = {
        "perf": [functools.partial(_measure, *case, ctx.seed, out / "sim" / f"perf{i}")
                 for i, case in enumerate(_perf_cases(ctx.quick))],
        "mutation": [functools.partial(_mutation, name, ctx.seed, out / "sim" / f"mutant_{name}") for name in names],
        "synthesis": [functools.partial(_synth, label, values, out / "synth")
                      for label, values in _synth_cases(ctx.quick)],
        "random": [functools.partial(_random_jobs, preset, count, ctx.seed, out / "sim" / f"random_{preset}")
                   for preset in presets],
    }
    kinds = [kind for kind, group in calls.items() for _ in group]
    print("utilization, mutants, synthesis, random jobs:", flush=True)
    done = run_parallel([call for group in calls.values() for call in group], ctx.workers,
                        describe=lambda index, row: _PROGRESS[kinds[index]](row))
    perf, mutations, synthesis, randoms = ([row for kind, row in zip(kinds, done) if kind == wanted]
                                           for wanted in calls)
    return {"seed": ctx.seed, "quick": ctx.quick, "perf": perf, "random": randoms, "mutation": mutations,
            "synthesis": synthesis, "seconds": round(time.time() - started, 1),
            "criteria": {"min_eta": MIN_ETA, "min_u_multi_segment": MIN_U_MULTI_SEGMENT, "min_u_dual": MIN_U_DUAL,
                         "row_pass": ROW_PASS_ANCHOR}}


def failures(results: dict) -> list[str]:
    """Failed pass criteria of the section."""
    found = []
    for row in results["perf"]:
        found += [f"{row['label']}: {problem}" for problem in row["problems"]]
        if row["eta"] < MIN_ETA:
            found.append(f"{row['label']}: eta {row['eta']:.3f} < {MIN_ETA}")
        if row["kind"] == "anchor" and row["most_common_actab_gap"] != ROW_PASS_ANCHOR:
            found.append(f"{row['label']}: row pass {row['most_common_actab_gap']} cycles, not {ROW_PASS_ANCHOR}")
        if "multi" in row["kind"] and row["u"] < MIN_U_MULTI_SEGMENT:
            found.append(f"{row['label']}: U {_pct(row['u'])} < {_pct(MIN_U_MULTI_SEGMENT)}")
        if "dual" in row["kind"] and row["u"] < MIN_U_DUAL:
            found.append(f"{row['label']}: U {_pct(row['u'])} < {_pct(MIN_U_DUAL)}")
    for row in results["random"]:
        if row["violations"] or row["problems"]:
            found.append(f"random jobs on {row['preset']}: {row['violations']} violations, {row['problems'][:2]}")
    for row in results["mutation"]:
        if row["status"] == "error" or (row["status"] == "NOT caught" and row["param"] not in EQUIVALENT_MUTANTS):
            found.append(f"mutant {row['param']} was not caught")
    return found


def render_markdown(results: dict) -> list[str]:
    """The section's part of BENCHMARKS.md."""
    lines = [
        "## PIM controller (`pim_ctrl`)",
        "",
        "Every run feeds each channel's command slots into the behavioural PIM-DRAM model with its "
        "independent timing checker; every result equals numpy `W @ x` (int8). "
        "U = #MACAB x MAC spacing / job cycles; eta = U / U_bound, U_bound from the same timing table "
        "(`verif/pim_bound.py`: row passes, vector loads, accumulator reads, the REFs the refresh "
        "obligation forces). Anchors: AiM simulator 226 cycles per 2 KB row pass (56.6 %), 31.4 % on a "
        "multi-segment GEMV with per-segment vector reloads; PIMSimulator GEMV 4096x4096 FP16 on 64 "
        "pseudo-channels 13,166 cycles.",
        "",
        "| case | M/ch x K | cycles | U | U_bound | eta | ACTAB-to-ACTAB (most common) | REFs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in results["perf"]:
        lines.append(f"| {row['label']} | {row['m_per_channel']} x {row['k']} | {row['cycles']} | {_pct(row['u'])} | "
                     f"{_pct(row['u_bound'])} | {row['eta']:.3f} | {row['most_common_actab_gap']} | {row['refs']} |")
    lines += ["", "Random jobs (2 channels, random M, K including non-multiples of the row, masks, ops; stalls and "
              "backpressure 0/0.2/0.5 per batch of 50):", "",
              "| preset | jobs | result beats | cycles | violations | mismatches |", "|---|---|---|---|---|---|"]
    for row in results["random"]:
        lines.append(f"| {row['preset']} | {row['jobs']} | {row['result_beats']} | {row['cycles']} | "
                     f"{row['violations']} | {len(row['problems'])} |")
    lines += ["", "Mutation check (hardware built with one timing value one cycle short; checker keeps the "
              "true value; the standard regression must fail):", "", "| parameter | result | detail |", "|---|---|---|"]
    for row in results["mutation"]:
        status, detail = row["status"], row["detail"]
        if status == "NOT caught" and row["param"] in EQUIVALENT_MUTANTS:
            status, detail = "not caught (equivalent mutant)", EQUIVALENT_MUTANTS[row["param"]]
        lines.append(f"| {row['param']} | {status} | {detail.replace('|', '/')} |")
    lines += ["", "Synthesis (Yosys generic `synth -flatten`; k_max=256, m_max=256):", "",
              "| configuration | cells | FF | logic depth |", "|---|---|---|---|"]
    for row in results["synthesis"]:
        lines.append(f"| {row['label']} | {row['cells']} | {row['ff']} | {row['logic_depth']} |")
    if results.get("quick"):
        lines += ["", "*Quick run (`--quick`): subset of cases.*"]
    lines.append("")
    return lines


SECTION = BenchSection(name="pim", order=50, run=run_bench, render=render_markdown, failures=failures)
