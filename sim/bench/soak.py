"""Soak: at least 10^5 beats through every design, all with random stalls and backpressure.

A regression samples; a soak streams long enough for rare interleavings of stalls,
backpressure and internal state (FIFO wrap-around, counter roll-over of small counters, credit
exhaustion) to occur. Each design's regression jobs that have stalls or backpressure are
drawn round after round with fresh seeds (every job its own stall pattern) until the beats
that crossed the design's ports reach the target; one simulation runs them all and every job
is checked bit-exactly against the golden model (nothing lost, duplicated, reordered or
wrong). ``make soak`` runs this section alone.
"""

import math
import time

from ...generators import get_design
from ...verif import plan_for
from ...verif.stress import SMALL_CONFIGS, stressed_jobs
from .. import flow
from . import BenchContext, BenchSection
from ._common import run_parallel

__all__ = ["TARGET_BEATS", "QUICK_BEATS", "soak_design", "run_bench", "render_markdown",
           "failures", "SECTION"]

#: Beats (in + out) per design of a full run, and of ``--quick``.
TARGET_BEATS = 100_000
QUICK_BEATS = 5_000

def _beats(outputs: list[dict]) -> int:
    return sum(int(out["stream_beats_in"]) + int(out["stream_beats_out"]) for out in outputs)


def soak_design(name: str, target_beats: int, seed: int, workdir) -> dict:
    """Stream at least ``target_beats`` beats through design ``name`` (:data:`~accelgen.verif.stress.SMALL_CONFIGS`).

    One round of stressed jobs first measures the beats per round; a second simulation runs
    the rounds still needed. Returns the design's row: jobs, beats in / out, cycles, problems
    (empty when every job was exact), wall time.
    """
    design = get_design(name)
    params = design.params(**SMALL_CONFIGS[name])
    host = plan_for(name).host
    start = time.perf_counter()
    first = stressed_jobs(host, params, seed, 0)
    verdicts = [flow.verify(design, params, seed=seed, jobs=first, workdir=workdir / f"{name}_0", record_errors=True)]
    per_round = _beats(verdicts[0].outputs)
    if not verdicts[0].problems and per_round and per_round < target_beats:
        rounds = math.ceil((target_beats - per_round) / per_round)
        jobs = [job for index in range(1, rounds + 1) for job in stressed_jobs(host, params, seed, index)]
        verdicts.append(flow.verify(design, params, seed=seed + 1, jobs=jobs, workdir=workdir / f"{name}_1",
                                    record_errors=True))
    outputs = [out for verdict in verdicts for out in verdict.outputs]
    return {
        "design": name,
        "module": f"{name}_{params.digest()}",
        "params": SMALL_CONFIGS[name],
        "jobs": sum(len(verdict.jobs) for verdict in verdicts),
        "beats_in": sum(int(out["stream_beats_in"]) for out in outputs),
        "beats_out": sum(int(out["stream_beats_out"]) for out in outputs),
        "cycles": sum(int(out["stream_cycles"]) for out in outputs),
        "stall_range": [min(job["stall"] for v in verdicts for job in v.jobs),
                        max(job["stall"] for v in verdicts for job in v.jobs)],
        "backpressure_range": [min(job["backpressure"] for v in verdicts for job in v.jobs),
                               max(job["backpressure"] for v in verdicts for job in v.jobs)],
        "problems": [problem for verdict in verdicts for problem in verdict.problems][:20],
        "seconds": round(time.perf_counter() - start, 1),
    }


def run_bench(ctx: BenchContext) -> dict:
    """Every design's soak (``ctx.workers`` simulations at a time)."""
    target = QUICK_BEATS if ctx.quick else TARGET_BEATS
    names = list(SMALL_CONFIGS)
    calls = [lambda name=name: soak_design(name, target, ctx.seed, ctx.out_dir) for name in names]
    rows = run_parallel(calls, ctx.workers, describe=lambda index, row: (
        f"{row['design']}: {row['beats_in'] + row['beats_out']} beats in {row['jobs']} jobs, "
        f"{'exact' if not row['problems'] else row['problems'][0]}"))
    return {"target_beats": target, "rows": rows, "quick": ctx.quick}


def render_markdown(results: dict) -> list[str]:
    """The soak table."""
    lines = [
        "## Soak",
        "",
        f"At least {results['target_beats']:,} beats (in + out) through every design, every job with random source "
        "stalls and/or sink backpressure, every job checked bit-exactly against the golden model (a lost, "
        "duplicated, reordered or wrong beat fails it). `make soak` re-runs this section.",
        "",
        "| design | configuration | jobs | beats in | beats out | cycles | stall / backpressure | problems | wall time |",
        "|---|---|--:|--:|--:|--:|---|--:|--:|",
    ]
    for row in results["rows"]:
        config = ", ".join(f"{k}={v}" for k, v in row["params"].items()) or "default"
        stall, back = row["stall_range"], row["backpressure_range"]
        lines.append(f"| `{row['design']}` | {config} | {row['jobs']} | {row['beats_in']:,} | {row['beats_out']:,} "
                     f"| {row['cycles']:,} | {stall[0]:.2f}–{stall[1]:.2f} / {back[0]:.2f}–{back[1]:.2f} "
                     f"| {len(row['problems'])} | {row['seconds']:.0f} s |")
    lines.append("")
    return lines


def failures(results: dict) -> list[str]:
    """Designs with a problem, or fewer beats than the target."""
    found = []
    for row in results["rows"]:
        found += [f"soak {row['design']}: {problem}" for problem in row["problems"]]
        if row["beats_in"] + row["beats_out"] < results["target_beats"]:
            found.append(f"soak {row['design']}: {row['beats_in'] + row['beats_out']} beats < {results['target_beats']}")
    return found


SECTION = BenchSection(name="soak", order=95, run=run_bench, render=render_markdown, failures=failures)
