"""Stimulus, checks and user tensors of the stand-alone exp unit (design ``exp``).

A job is a flat array ``d`` of input codes, sent ``lanes`` per beat (the last beat padded with
zeros, whose outputs are dropped). The regression covers every input code.
"""

import numpy as np

from ..hdl.util import ceil_div

from .golden import code_array
from .softmax_golden import exp_int

__all__ = ["to_beats", "regression_jobs", "check", "user_jobs", "user_outputs"]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_exp`).
VERIFIES = ("exp",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("d",)


def to_beats(params, d) -> np.ndarray:
    """``(beats, lanes)`` input codes, zero-padded."""
    d = np.asarray(d, dtype=np.int64).ravel()
    beats = ceil_div(len(d), params.lanes)
    padded = np.zeros(beats * params.lanes, dtype=np.int64)
    padded[:len(d)] = d
    return padded.reshape(beats, params.lanes)


def regression_jobs(params, rng) -> list[dict]:
    """Every input code in order (stalls and backpressure), then in random order (heavy backpressure)."""
    codes = np.arange(1 << params.width, dtype=np.int64)
    return [
        {"name": "every_code_stalls", "inputs": {"d": codes}, "stall": 0.3, "backpressure": 0.3},
        {"name": "every_code_shuffled_backpressure", "inputs": {"d": rng.permutation(codes)}, "stall": 0.0,
         "backpressure": 0.7},
    ]


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare the outputs with the golden exp; return the problems found."""
    problems = []
    for job, out in zip(jobs, outputs):
        d = job["inputs"]["d"]
        got = np.asarray(out["e"]).ravel()[:len(d)]
        expected = exp_int(d, params.spec)
        if got.shape != expected.shape or not np.array_equal(got, expected):
            bad = int(np.argmax(got != expected)) if got.shape == expected.shape else 0
            problems.append(f"{job['name']}: d={int(d[bad])} gives e={int(got[bad]) if got.size else None}, "
                            f"expected {int(expected[bad])}")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job from ``arrays['d']`` (any shape of unsigned codes)."""
    d = code_array(arrays, "d", "distances max - x >= 0", params.width, False)
    return [{"name": "user", "inputs": {"d": d.ravel()}, "check": False}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``e`` with the shape of ``d`` (U1.exp_frac codes) and ``cycles``."""
    d = np.asarray(arrays["d"])
    return {"e": np.asarray(outputs[0]["e"]).ravel()[:d.size].reshape(d.shape), "cycles": outputs[0]["cycles"]}
