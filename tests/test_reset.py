"""Reset in mid-stream, for every design family: ``rst`` is asserted inside a job (with stalls
and backpressure, at a random point once some results have left), then the same job runs again
from its first beat and a fresh job follows. Every result must be exact, no beat from before
the reset may appear (the scoreboards would see it first), and the counters restart: a
stall-free job interrupted the same way must still meet the analytic cycle model with the
design's own ``cycle_count``.
"""

import copy
import random

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.sim import flow
from accelgen.verif import plan_for
from accelgen.generators import all_designs
from accelgen.verif.stress import SMALL_CONFIGS, one_per_host

#: The small configuration of one design per host model, and one through the AXI4-Stream wrapper.
RESET_CONFIGS = one_per_host() | {"matrix2d/axis": dict(interface="axis")}


def test_every_design_has_a_small_configuration():
    assert set(SMALL_CONFIGS) == set(all_designs())
    for name, config in SMALL_CONFIGS.items():
        get_design(name).params(**config)  # legal


def _jobs_with_resets(host, params, seed):
    """A stalled job interrupted at a random point, a stall-free one interrupted too (its cycle
    count then proves the counters restarted), and a fresh stalled job after them."""
    rng = random.Random(seed)
    jobs = host.regression_jobs(params, np.random.default_rng(seed))
    stalled = [job for job in jobs if job.get("stall", 0) > 0 and job.get("backpressure", 0) > 0] or \
              [job for job in jobs if job.get("stall", 0) > 0]
    stall_free = [job for job in jobs if job.get("stall", 0) == 0 and job.get("backpressure", 0) == 0]
    first, fresh = rng.choice(stalled), rng.choice(stalled)
    chosen = [dict(copy.copy(first), name=first["name"] + "_reset", reset_at=(rng.randrange(1, 4), rng.randrange(0, 12)))]
    if stall_free:
        quiet = rng.choice(stall_free)
        chosen.append(dict(copy.copy(quiet), name=quiet["name"] + "_reset", reset_at=(1, rng.randrange(0, 6))))
    return chosen + [fresh]


@pytest.mark.cocotb
@pytest.mark.parametrize("label", list(RESET_CONFIGS))
def test_reset_in_mid_stream(label, seed):
    name = label.split("/")[0]
    design = get_design(name)
    params = design.params(**(SMALL_CONFIGS[name] | RESET_CONFIGS[label]))
    host = plan_for(name).host
    jobs = _jobs_with_resets(host, params, seed)
    verdict = flow.verify(design, params, seed=seed, jobs=jobs, per_job=True)
    assert verdict.passed, "\n".join(verdict.problems)
    for job, out in zip(jobs, verdict.outputs):
        if not job.get("reset_at"):
            assert "reset_cycle" not in out
            continue
        # The reset fired inside the job: inputs had gone in, not every result had come out.
        results = len(out["c"]) if "c" in out else len(next(iter(out.values())))
        assert 0 < int(out["reset_sent"]), job["name"]
        assert min(job["reset_at"][0], results - 1) <= int(out["reset_received"]) < results, job["name"]
        assert int(out["reset_cycle"]) > 0, job["name"]
