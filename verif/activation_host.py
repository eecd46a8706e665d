"""Host side of the elementwise activation units (designs ``gelu`` and ``silu``).

A job is a stream of beats ``x`` (beats, lanes) of input codes; the unit returns ``y``
(beats, lanes). The regression sends every input code of the configuration (all 2**width)
under random stalls and backpressure, a shuffled copy of them, the extreme codes, and two
stall-free runs whose cycle counts must equal ``beats + latency`` (II = 1, fixed latency).
"""

import numpy as np

from ..hdl.util import ceil_div

from . import golden
from .activation_golden import all_codes, golden_int

__all__ = ["codes_to_beats", "regression_jobs", "expected_beats", "check", "user_jobs", "user_outputs"]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_activation`).
VERIFIES = ("gelu", "silu")
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("x",)


def codes_to_beats(codes, lanes: int, fill: int = 0) -> np.ndarray:
    """Input codes in order, ``lanes`` per beat; the last beat is padded with ``fill``."""
    codes = np.asarray(codes, dtype=np.int64).ravel()
    beats = ceil_div(codes.size, lanes)
    padded = np.full(beats * lanes, fill, dtype=np.int64)
    padded[:codes.size] = codes
    return padded.reshape(beats, lanes)


def expected_beats(params, beats) -> np.ndarray:
    """Golden output beats for input beats (bit-exact model)."""
    return golden_int(params, beats)


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression of one configuration (see the module docstring)."""
    codes = all_codes(params.width)
    lo, hi = int(codes[0]), int(codes[-1])
    extremes = np.array([lo, lo + 1, -1, 0, 1, hi - 1, hi], dtype=np.int64)
    return [
        {"name": "every_code_stalls", "inputs": {"x": codes_to_beats(codes, params.lanes)},
         "stall": 0.3, "backpressure": 0.4},
        {"name": "every_code_shuffled_heavy_backpressure",
         "inputs": {"x": codes_to_beats(rng.permutation(codes), params.lanes, fill=lo)},
         "stall": 0.1, "backpressure": 0.8},
        {"name": "extremes", "inputs": {"x": codes_to_beats(rng.permutation(np.tile(extremes, params.lanes)),
                                                           params.lanes)}, "stall": 0.5, "backpressure": 0.5},
        {"name": "single_beat_latency", "inputs": {"x": codes_to_beats(extremes[:params.lanes], params.lanes)},
         "stall": 0.0, "backpressure": 0.0, "timed": True},
        {"name": "burst_no_stalls", "inputs": {"x": rng.integers(lo, hi, size=(64, params.lanes), endpoint=True)},
         "stall": 0.0, "backpressure": 0.0, "timed": True},
    ]


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden model and the cycle counts with II = 1; return problems."""
    problems = []
    for job, out in zip(jobs, outputs):
        expected = expected_beats(params, job["inputs"]["x"])
        if out["y"].shape != expected.shape or not np.array_equal(out["y"], expected):
            problems.append(f"{job['name']}: outputs differ from the golden model")
        if job.get("timed"):
            beats = len(job["inputs"]["x"])
            want = beats + params.latency
            if int(out["bench_cycles"]) != want:
                problems.append(f"{job['name']}: {int(out['bench_cycles'])} cycles for {beats} beats, expected "
                                f"{want} (one beat per cycle after a latency of {params.latency})")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing the unit on ``arrays['x']`` (integer codes, any shape)."""
    x = golden.code_array(arrays, "x", "input codes", params.width, True)
    return [{"name": "user", "inputs": {"x": codes_to_beats(x, params.lanes)}, "check": False}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """Arrays for the user's output file: ``y`` (same shape as ``x``, int64) and ``cycles``."""
    x = np.asarray(arrays["x"])
    y = outputs[0]["y"].ravel()[:x.size].reshape(x.shape).astype(np.int64)
    return {"y": y, "cycles": outputs[0]["bench_cycles"]}
