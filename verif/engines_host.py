"""Host side of the broadcast engines (``tree``, ``matrix2d``, ``cube3d``): matrices to beats,
stimulus, checks.

A product ``A (M x K) @ B (K x N)`` is cut into ``ceil(M/rows) * ceil(N/cols)`` output tiles;
each tile streams ``ceil(K/depth)`` beats, beat ``k`` carrying ``A[rows block, k*depth :
(k+1)*depth]`` (``a_beats[k]``, ``rows x depth``) and ``B[k*depth : (k+1)*depth, cols
block]`` (``b_beats[k]``, ``depth x cols``), zero-padded at the edges. Tiles go
row-block-major: ``(0,0), (0,1), ...``.
"""

import numpy as np

from ..generators.engines import booth_serial_cycles
from ..hdl.util import ceil_div

from . import golden

__all__ = [
    "matrices_to_beats",
    "rows_to_matrix",
    "random_beats",
    "extreme_beats",
    "expected_rows",
    "regression_jobs",
    "check",
    "user_jobs",
    "user_outputs",
]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_engines`).
VERIFIES = ("tree", "matrix2d", "cube3d")
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("a", "b")


def matrices_to_beats(a, b, rows: int, cols: int, depth: int) -> dict:
    """Beat arrays (``a_beats`` (B, rows, depth), ``b_beats`` (B, depth, cols), ``last``)."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0] or a.shape[1] == 0:
        raise ValueError(f"a {a.shape} and b {b.shape} must be (M, K) and (K, N) with K >= 1")
    m, k = a.shape
    n = b.shape[1]
    tiles_m, tiles_n, steps = ceil_div(m, rows), ceil_div(n, cols), ceil_div(k, depth)
    a_pad = np.zeros((tiles_m * rows, steps * depth), dtype=np.int64)
    a_pad[:m, :k] = a
    b_pad = np.zeros((steps * depth, tiles_n * cols), dtype=np.int64)
    b_pad[:k, :n] = b
    a_beats, b_beats = [], []
    for ti in range(tiles_m):
        for tj in range(tiles_n):
            block_a = a_pad[ti * rows:(ti + 1) * rows]  # rows x (steps*depth)
            block_b = b_pad[:, tj * cols:(tj + 1) * cols]  # (steps*depth) x cols
            a_beats.append(block_a.reshape(rows, steps, depth).transpose(1, 0, 2))
            b_beats.append(block_b.reshape(steps, depth, cols))
    last = np.tile(np.arange(steps) == steps - 1, tiles_m * tiles_n).astype(np.int64)
    return {"a_beats": np.concatenate(a_beats), "b_beats": np.concatenate(b_beats), "last": last}


def rows_to_matrix(c_rows, m: int, n: int, rows: int, cols: int) -> np.ndarray:
    """Reassemble result rows (in tile order) into the ``m x n`` product."""
    tiles_m, tiles_n = ceil_div(m, rows), ceil_div(n, cols)
    c_rows = np.asarray(c_rows)
    if c_rows.shape != (tiles_m * tiles_n * rows, cols):
        raise ValueError(f"expected {(tiles_m * tiles_n * rows, cols)} result rows, got {c_rows.shape}")
    blocks = c_rows.reshape(tiles_m, tiles_n, rows, cols).transpose(0, 2, 1, 3)
    return blocks.reshape(tiles_m * rows, tiles_n * cols)[:m, :n]


def _last_flags(k_values) -> np.ndarray:
    last = np.zeros(int(sum(k_values)), dtype=np.int64)
    last[np.cumsum(k_values) - 1] = 1
    return last


def random_beats(params, rng: np.random.Generator, k_values) -> dict:
    """Random operands over the full code range, one tile per entry of ``k_values``."""
    a_lo, a_hi = golden.value_range(params.a_width, params.a_signed)
    b_lo, b_hi = golden.value_range(params.b_width, params.b_signed)
    beats = int(sum(k_values))
    return {
        "a_beats": rng.integers(a_lo, a_hi, size=(beats, params.rows, params.depth), endpoint=True),
        "b_beats": rng.integers(b_lo, b_hi, size=(beats, params.depth, params.cols), endpoint=True),
        "last": _last_flags(k_values),
    }


def extreme_beats(params, k: int) -> dict:
    """Tiles of constant extreme operands (min x min, max x max, min x max, max x min), then a
    tile of alternating extremes (checkerboard over beats, rows and lanes)."""
    a_lo, a_hi = golden.value_range(params.a_width, params.a_signed)
    b_lo, b_hi = golden.value_range(params.b_width, params.b_signed)
    r, c, d = params.rows, params.cols, params.depth
    pairs = [(a_lo, b_lo), (a_hi, b_hi), (a_lo, b_hi), (a_hi, b_lo)]
    a_beats = [np.full((k, r, d), a) for a, _ in pairs]
    b_beats = [np.full((k, d, c), b) for _, b in pairs]
    parity_a = np.indices((k, r, d)).sum(axis=0) % 2
    parity_b = np.indices((k, d, c)).sum(axis=0) % 2
    a_beats.append(np.where(parity_a == 0, a_lo, a_hi))
    b_beats.append(np.where(parity_b == 0, b_lo, b_hi))
    return {
        "a_beats": np.concatenate(a_beats),
        "b_beats": np.concatenate(b_beats),
        "last": _last_flags([k] * (len(pairs) + 1)),
    }


def expected_rows(params, beats: dict) -> np.ndarray:
    """Golden result rows for a beat stream."""
    return golden.engine_tile_rows(
        beats["a_beats"], beats["b_beats"], beats["last"],
        a_width=params.a_width, a_signed=params.a_signed,
        b_width=params.b_width, b_signed=params.b_signed,
        acc_width=params.acc_width, acc_signed=params.acc_signed, overflow=params.overflow,
    )


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression of one configuration.

    Random tiles of mixed K (1 and ``k_max`` included, back to back, shorter and longer than
    ``rows``), extreme operands at K = 1 and K = ``k_max``, all under random source stalls and
    sink backpressure; then a stall-free run whose busy-cycle count is compared with the
    analytic model. With ``mac="booth_serial"`` (whose cycles depend on the A data) also
    zero-heavy and all-zero A operands, stalled and stall-free.
    """
    k_max = params.k_max
    mixed_k = [1, k_max, 1, 1, 2, k_max, max(1, k_max // 3), 1, params.rows, params.rows + 1]
    serial_jobs = []
    if getattr(params, "mac", None) == "booth_serial":
        def zero_heavy(k_values, zeros):
            beats = random_beats(params, rng, k_values)
            beats["a_beats"][rng.random(beats["a_beats"].shape) < zeros] = 0
            return beats

        serial_jobs = [
            {"name": "zero_heavy_stalls", "inputs": zero_heavy(mixed_k, 0.7), "stall": 0.3, "backpressure": 0.4},
            {"name": "zero_heavy_no_stalls", "inputs": zero_heavy(mixed_k, 0.6), "stall": 0.0, "backpressure": 0.0},
            {"name": "all_zero_no_stalls", "inputs": zero_heavy([2, 1, 3], 1.0), "stall": 0.0, "backpressure": 0.0},
            {"name": "extremes_no_stalls", "inputs": extreme_beats(params, 2), "stall": 0.0, "backpressure": 0.0},
        ]
    return serial_jobs + [
        {"name": "random_mixed_k_stalls", "inputs": random_beats(params, rng, mixed_k), "stall": 0.3, "backpressure": 0.4},
        {"name": "extremes_k1", "inputs": extreme_beats(params, 1), "stall": 0.2, "backpressure": 0.5},
        {"name": "extremes_kmax", "inputs": extreme_beats(params, k_max), "stall": 0.1, "backpressure": 0.1},
        {"name": "random_heavy_backpressure", "inputs": random_beats(params, rng, [3] * 6), "stall": 0.0, "backpressure": 0.8},
        {"name": "random_no_stalls", "inputs": random_beats(params, rng, [k_max] * 3), "stall": 0.0, "backpressure": 0.0,
         "tiles": 3, "k": k_max},
        {"name": "short_tiles_no_stalls", "inputs": random_beats(params, rng, [1] * 4), "stall": 0.0, "backpressure": 0.0,
         "tiles": 4, "k": 1},
    ]


def check(params, jobs: list[dict], outputs: list[dict], *, golden_rows=expected_rows) -> list[str]:
    """Compare saved outputs with the golden model and counters; return the problems found.

    Stall-free jobs are checked against the engine's cycle model
    (:meth:`~accelgen.generators.params.TileEngineParams.busy_cycles`, exact for any
    ``out_fifo_depth``); with ``mac="booth_serial"`` the cycles of every stall-free job follow
    from its A data (:func:`~accelgen.generators.engines.booth_serial_cycles`, with the default
    ``out_fifo_depth``; a smaller buffer skips the cycle check). ``golden_rows(params, beats)``
    gives the expected result rows.
    """
    problems = []
    for job, out in zip(jobs, outputs):
        expected = golden_rows(params, job["inputs"])
        if out["c"].shape != expected.shape or not np.array_equal(out["c"], expected):
            problems.append(f"{job['name']}: result rows differ from the golden model")
        macs = len(job["inputs"]["last"]) * params.macs_per_beat
        if int(out["mac_count"]) != macs:
            problems.append(f"{job['name']}: mac_count {int(out['mac_count'])}, expected {macs}")
        # busy_cycles counts a small result buffer's drain stalls; booth_serial_cycles assumes
        # the default buffer, so with a smaller one only booth_serial's results are checked.
        stall_free = job.get("stall", 0) == 0 and job.get("backpressure", 0) == 0
        booth_serial = getattr(params, "mac", None) == "booth_serial"
        if booth_serial:
            default_buffer = params.out_fifo_depth >= params.default_out_fifo_depth
            if stall_free and default_buffer and job.get("check", True):
                model = booth_serial_cycles(params, job["inputs"]["a_beats"], job["inputs"]["last"])
                if int(out["cycle_count"]) != model:
                    problems.append(f"{job['name']}: cycle_count {int(out['cycle_count'])}, booth_serial model {model}")
        elif stall_free and "tiles" in job:
            model = params.busy_cycles(tiles=job["tiles"], k=job["k"])
            if int(out["cycle_count"]) != model:
                problems.append(f"{job['name']}: cycle_count {int(out['cycle_count'])}, analytic model {model}")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing ``arrays['a'] @ arrays['b']`` (any M, N, K), tiled onto the engine."""
    a, b = golden.matmul_operands(params, arrays)
    return [{"name": "user", "inputs": matrices_to_beats(a, b, params.rows, params.cols, params.depth), "check": False}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """Arrays for the user's output file: ``c`` (M x N, int64) and ``cycles``."""
    m, n = arrays["a"].shape[0], arrays["b"].shape[1]
    out = outputs[0]
    return {
        "c": rows_to_matrix(out["c"], m, n, params.rows, params.cols).astype(np.int64),
        "cycles": out["cycle_count"],
        "mac_count": out["mac_count"],
    }
