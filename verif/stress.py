"""Small configurations of every design, and the stressed jobs of the long and fault runs.

The soak (:mod:`accelgen.sim.bench.soak`), the resets in mid-stream and the AXI4-Stream
regressions are about time, interleavings and interfaces, not size: they all run these
configurations, chosen so one Verilator build takes seconds.
"""

import numpy as np

from . import plan_for
from .protocol import HostModel

__all__ = ["SMALL_CONFIGS", "one_per_host", "stressed_jobs"]

#: One small configuration (parameter overrides) of every registered design.
SMALL_CONFIGS = {
    "systolic": dict(rows=2, cols=3, k_max=8),
    "systolic_ws": dict(rows=2, cols=2),
    "tree": dict(),
    "matrix2d": dict(),
    "cube3d": dict(),
    "gemm": dict(engine="os", rows=3, cols=2, m_max=8, n_max=7, k_max=9),
    "softmax": dict(),
    "exp": dict(),
    "gelu": dict(),
    "silu": dict(),
    "attention": dict(br=2, bc=2, d_max=4, n_max=12, score_num=3, score_frac=9),
    "pim_ctrl": dict(channels=1),
}


def stressed_jobs(host: HostModel, params, seed: int, round_index: int = 0) -> list[dict]:
    """The host's regression jobs that have source stalls or sink backpressure, drawn from
    ``(seed, round_index)`` and renamed per round (each job's stall pattern is seeded by its
    name, so every round stalls differently)."""
    jobs = host.regression_jobs(params, np.random.default_rng([seed, round_index]))
    stressed = [job for job in jobs if job.get("stall", 0) > 0 or job.get("backpressure", 0) > 0]
    return [dict(job, name=f"{job['name']}_r{round_index}") for job in stressed]


def one_per_host() -> dict:
    """The small configuration of one design per host model (family): the first of each in
    :data:`SMALL_CONFIGS` order."""
    chosen = {}
    for name, config in SMALL_CONFIGS.items():
        chosen.setdefault(plan_for(name).host.__name__, (name, config))
    return dict(chosen.values())
