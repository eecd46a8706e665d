"""Stimulus, golden results and checks of the weight-stationary systolic array (``systolic_ws``).

A job is a sequence of weight tiles: ``w_beats`` (tiles * rows, cols) holds the tiles' rows,
``a_beats`` (beats, rows) the activation rows and ``last`` (beats,) ends each tile's
activations. Tile ``t`` computes ``A_t (M_t x rows) @ W_t (rows x cols)``.

A product ``A (M x K) @ B (K x N)`` maps onto the array as ``ceil(K/rows) * ceil(N/cols)``
weight tiles (column block major, zero padding at the edges), each streaming all ``M`` rows
of the matching ``rows``-wide slice of ``A``; the partial sums of the K blocks are added on
the host (:func:`user_outputs`).
"""

import numpy as np

from ..generators.systolic_ws import analytic_cycles
from ..hdl.util import ceil_div

from . import golden

__all__ = [
    "random_job",
    "extreme_job",
    "expected_rows",
    "matrices_to_tiles",
    "regression_jobs",
    "check",
    "user_jobs",
    "user_outputs",
]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_systolic_ws`).
VERIFIES = ("systolic_ws",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("a", "b")


def _ranges(params):
    return golden.value_range(params.a_width, params.a_signed), golden.value_range(params.b_width, params.b_signed)


def random_job(params, rng: np.random.Generator, tile_rows) -> dict:
    """Random operands over the full code range; tile ``t`` has ``tile_rows[t]`` activation rows."""
    (a_lo, a_hi), (b_lo, b_hi) = _ranges(params)
    beats = int(sum(tile_rows))
    last = np.zeros(beats, dtype=np.int64)
    last[np.cumsum(tile_rows) - 1] = 1
    return {
        "w_beats": rng.integers(b_lo, b_hi, size=(len(tile_rows) * params.rows, params.cols), endpoint=True),
        "a_beats": rng.integers(a_lo, a_hi, size=(beats, params.rows), endpoint=True),
        "last": last,
    }


def extreme_job(params, m: int) -> dict:
    """Tiles of constant extreme operands: min x min, max x max, min x max, max x min."""
    (a_lo, a_hi), (b_lo, b_hi) = _ranges(params)
    pairs = [(a_lo, b_lo), (a_hi, b_hi), (a_lo, b_hi), (a_hi, b_lo)]
    return {
        "w_beats": np.concatenate([np.full((params.rows, params.cols), b) for _, b in pairs]),
        "a_beats": np.concatenate([np.full((m, params.rows), a) for a, _ in pairs]),
        "last": np.tile(np.arange(m) == m - 1, len(pairs)).astype(np.int64),
    }


def expected_rows(params, job: dict) -> np.ndarray:
    """Golden result rows of a job: ``(beats, cols)``."""
    w = np.asarray(job["w_beats"]).reshape(-1, params.rows, params.cols)
    tiles = golden.split_tiles(job["a_beats"], np.zeros((len(job["last"]), 1)), job["last"])
    if len(tiles) != len(w):
        raise ValueError(f"{len(w)} weight tiles but {len(tiles)} activation tiles")
    return np.concatenate([
        golden.matmul(a_t.T, w_t, a_width=params.a_width, a_signed=params.a_signed,
                      b_width=params.b_width, b_signed=params.b_signed, acc_width=params.acc_width,
                      acc_signed=params.acc_signed, overflow=params.overflow)
        for (a_t, _), w_t in zip(tiles, w)
    ])


def matrices_to_tiles(a, b, rows: int, cols: int) -> dict:
    """The job computing the partial products of ``a @ b``: weight tiles in (N block, K block) order."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or 0 in a.shape or b.shape[1] == 0:
        raise ValueError(f"a {a.shape} and b {b.shape} must be (M, K) and (K, N) with M, N, K >= 1")
    m, k = a.shape
    n = b.shape[1]
    tiles_k, tiles_n = ceil_div(k, rows), ceil_div(n, cols)
    a_pad = np.zeros((m, tiles_k * rows), dtype=np.int64)
    a_pad[:, :k] = a
    b_pad = np.zeros((tiles_k * rows, tiles_n * cols), dtype=np.int64)
    b_pad[:k, :n] = b
    w_beats, a_beats = [], []
    for tn in range(tiles_n):
        for tk in range(tiles_k):
            w_beats.append(b_pad[tk * rows:(tk + 1) * rows, tn * cols:(tn + 1) * cols])
            a_beats.append(a_pad[:, tk * rows:(tk + 1) * rows])
    last = np.tile(np.arange(m) == m - 1, tiles_k * tiles_n).astype(np.int64)
    return {"w_beats": np.concatenate(w_beats), "a_beats": np.concatenate(a_beats), "last": last}


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression of one configuration.

    Tiles of 1 row (back to back, so the double-buffered weight loads are exposed), of
    exactly ``rows`` and of many rows, extreme operands, random stalls and backpressure; then
    a stall-free run whose busy-cycle count is compared with the analytic model.
    """
    r, c = params.rows, params.cols
    mixed = [1, 1, 5, r, 1, 2 * r + c + 3, 2, 1, r + 1]
    steady = [2 * r + c + 2] * 3
    return [
        {"name": "random_mixed_m_stalls", "inputs": random_job(params, rng, mixed), "stall": 0.3, "backpressure": 0.4},
        {"name": "extremes_m1", "inputs": extreme_job(params, 1), "stall": 0.2, "backpressure": 0.5},
        {"name": "extremes_m7", "inputs": extreme_job(params, 7), "stall": 0.1, "backpressure": 0.1},
        {"name": "random_heavy_backpressure", "inputs": random_job(params, rng, [3] * 5), "stall": 0.0, "backpressure": 0.8},
        {"name": "random_short_tiles_no_stalls", "inputs": random_job(params, rng, [1, 2, 1, 3, 1]),
         "stall": 0.0, "backpressure": 0.0, "tile_rows": [1, 2, 1, 3, 1]},
        {"name": "random_long_tiles_no_stalls", "inputs": random_job(params, rng, steady),
         "stall": 0.0, "backpressure": 0.0, "tile_rows": steady},
    ]


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden model and the counters; return the problems found."""
    problems = []
    for job, out in zip(jobs, outputs):
        expected = expected_rows(params, job["inputs"])
        if out["c"].shape != expected.shape or not np.array_equal(out["c"], expected):
            problems.append(f"{job['name']}: result rows differ from the golden model")
        if "c_last" in out and not np.array_equal(out["c_last"], job["inputs"]["last"]):
            problems.append(f"{job['name']}: c.last flags differ from a.last")
        macs = len(job["inputs"]["last"]) * params.rows * params.cols
        if int(out["mac_count"]) != macs:
            problems.append(f"{job['name']}: mac_count {int(out['mac_count'])}, expected {macs}")
        # The model is exact for the default out_fifo_depth; a smaller one may add credit stalls.
        if "tile_rows" in job and params.out_fifo_depth >= params.default_out_fifo_depth:
            model = analytic_cycles(params, job["tile_rows"])
            if int(out["cycle_count"]) != model:
                problems.append(f"{job['name']}: cycle_count {int(out['cycle_count'])}, analytic model {model}")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing the partial products of ``arrays['a'] @ arrays['b']`` (any M, N, K)."""
    a, b = golden.matmul_operands(params, arrays)
    return [{"name": "user", "inputs": matrices_to_tiles(a, b, params.rows, params.cols), "check": False}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``c`` (M x N, int64: the K blocks' partial sums added) and ``cycles``."""
    a, b = np.asarray(arrays["a"]), np.asarray(arrays["b"])
    (m, k), n = a.shape, b.shape[1]
    tiles_k, tiles_n = ceil_div(k, params.rows), ceil_div(n, params.cols)
    rows = np.asarray(outputs[0]["c"]).reshape(tiles_n, tiles_k, m, params.cols).sum(axis=1)
    c = rows.transpose(1, 0, 2).reshape(m, tiles_n * params.cols)[:, :n]
    return {"c": c.astype(np.int64), "cycles": outputs[0]["cycle_count"], "mac_count": outputs[0]["mac_count"]}
