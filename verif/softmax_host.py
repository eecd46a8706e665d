"""Rows for the softmax design: stimulus, beat mapping, checks, user tensors.

A job holds rows of different lengths as a padded matrix: ``x`` ``(rows, L)`` input codes,
``length`` ``(rows,)`` (1..n_max) and ``mask`` ``(rows, L)`` (``True`` = masked). Padding past
a row's length behaves exactly like a masked element (it contributes nothing and its output
is 0), so the golden model of a job is :func:`~.softmax_golden.golden_int` of the padded
matrix with padding and masked elements both masked.
"""

import numpy as np

from ..hdl.util import ceil_div

from . import golden
from .softmax_golden import golden_int

__all__ = [
    "padded_inactive",
    "rows_to_beats",
    "beats_to_rows",
    "expected_rows",
    "random_rows",
    "corner_rows",
    "regression_jobs",
    "check",
    "user_jobs",
    "user_outputs",
    "busy_cycles",
]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_softmax`).
VERIFIES = ("softmax",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("x", "mask")


def padded_inactive(inputs: dict) -> np.ndarray:
    """``True`` where an element of the padded matrix is masked or past its row's end."""
    x = inputs["x"]
    past_end = np.arange(x.shape[1])[None, :] >= inputs["length"][:, None]
    return past_end | inputs["mask"].astype(bool)


def rows_to_beats(params, inputs: dict) -> dict:
    """Beat arrays of a job: ``data`` / ``keep`` / ``mask`` ``(beats, lanes)``, ``last`` ``(beats,)``."""
    lanes = params.lanes
    data, keep, mask, last = [], [], [], []
    for row, length in enumerate(inputs["length"]):
        length = int(length)
        beats = ceil_div(length, lanes)
        padded = np.zeros(beats * lanes, dtype=np.int64)
        padded[:length] = inputs["x"][row, :length]
        row_mask = np.zeros(beats * lanes, dtype=np.int64)
        row_mask[:length] = inputs["mask"][row, :length]
        kept = (np.arange(beats * lanes) < length).astype(np.int64)
        data.append(padded.reshape(beats, lanes))
        mask.append(row_mask.reshape(beats, lanes))
        keep.append(kept.reshape(beats, lanes))
        last.append((np.arange(beats) == beats - 1).astype(np.int64))
    return {"data": np.concatenate(data), "keep": np.concatenate(keep), "mask": np.concatenate(mask),
            "last": np.concatenate(last)}


def beats_to_rows(params, inputs: dict, y_beats) -> np.ndarray:
    """Output beats back into the padded ``(rows, L)`` matrix (0 past each row's end)."""
    lanes = params.lanes
    y = np.zeros(inputs["x"].shape, dtype=np.int64)
    position = 0
    for row, length in enumerate(inputs["length"]):
        beats = ceil_div(int(length), lanes)
        flat = np.asarray(y_beats[position:position + beats]).reshape(-1)[:int(length)]
        y[row, :len(flat)] = flat
        position += beats
    return y


def expected_rows(params, inputs: dict) -> np.ndarray:
    """Golden output codes of a job (padded matrix)."""
    return golden_int(inputs["x"], params, mask=padded_inactive(inputs))


def _job(x, length, mask):
    return {"x": np.asarray(x, dtype=np.int64), "length": np.asarray(length, dtype=np.int64),
            "mask": np.asarray(mask, dtype=bool)}


def _code_range(params):
    return -(1 << (params.width - 1)), (1 << (params.width - 1)) - 1


def random_rows(params, rng, lengths, mask_probability=0.0) -> dict:
    """Rows of the given lengths: Gaussian codes (sigma = full scale / 6) or uniform, random masks."""
    lo, hi = _code_range(params)
    width = max(lengths)
    x = np.zeros((len(lengths), width), dtype=np.int64)
    for row, length in enumerate(lengths):
        if row % 2:
            x[row, :length] = rng.integers(lo, hi, length, endpoint=True)
        else:
            centre = rng.integers(lo, hi, endpoint=True)
            x[row, :length] = np.clip(np.round(rng.normal(centre, (hi - lo) / 6, length)), lo, hi)
    mask = rng.random(x.shape) < mask_probability if params.masking else np.zeros(x.shape, dtype=bool)
    return _job(x, lengths, mask)


def corner_rows(params, rng) -> dict:
    """All-equal, one-hot, tied maxima, max at the most negative code, fully masked rows."""
    lo, hi = _code_range(params)
    n = params.n_max
    short = min(n, params.lanes + 1)
    rows, masks = [], []

    def add(values, mask=None):
        rows.append(np.asarray(values, dtype=np.int64))
        masks.append(np.zeros(len(values), dtype=bool) if mask is None else np.asarray(mask, dtype=bool))

    for length in sorted({1, 2, short, n}):
        if length > n:
            continue
        add(np.full(length, rng.integers(lo, hi, endpoint=True)))  # all equal: y = 1/N each
        add(np.full(length, lo))  # all at the most negative code
        add(np.full(length, hi))
        one_hot = np.full(length, lo)
        one_hot[rng.integers(length)] = hi  # one element at +max, the rest at the minimum
        add(one_hot)
        if length >= 2:
            tied = rng.integers(lo, hi, length, endpoint=True)
            first, second = rng.choice(length, 2, replace=False)
            tied[first] = tied[second] = hi  # two tied maxima
            add(tied)
        spread = np.linspace(lo, hi, length).round().astype(np.int64)
        add(spread[::-1])
        if params.masking:
            add(rng.integers(lo, hi, length, endpoint=True), np.ones(length, dtype=bool))  # fully masked
            if length >= 2:
                # The maximum of the unmasked elements is the most negative code.
                values = np.full(length, hi)
                mask = np.ones(length, dtype=bool)
                keep = rng.choice(length, max(1, length // 2), replace=False)
                values[keep] = lo
                mask[keep] = False
                add(values, mask)
    width = max(len(row) for row in rows)
    x = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros(x.shape, dtype=bool)
    for index, (row, row_mask) in enumerate(zip(rows, masks)):
        x[index, :len(row)] = row
        mask[index, :len(row)] = row_mask
    return _job(x, [len(row) for row in rows], mask)


def _regression_lengths(params, rng):
    n, lanes = params.n_max, params.lanes
    wanted = [1, 2, lanes - 1, lanes, lanes + 1, 197, n, n, 1, 1, 2]
    lengths = [length for length in wanted if 1 <= length <= n]
    lengths += list(rng.integers(1, n, 6, endpoint=True))
    return [int(length) for length in rng.permutation(lengths)]


def regression_jobs(params, rng) -> list[dict]:
    """The standard regression: random rows of the corner lengths (1, 2, P-1, P, P+1, 197,
    n_max) with random masks, corner rows, each under random stalls and backpressure, and a
    stall-free run of back-to-back equal rows whose cycle count must equal
    :func:`busy_cycles` (sustained throughput and the latency model)."""
    lengths = _regression_lengths(params, rng)
    steady_length = min(params.n_max, 4 * params.lanes)
    return [
        {"name": "random_rows_stalls", "inputs": random_rows(params, rng, lengths, 0.2), "stall": 0.3, "backpressure": 0.3},
        {"name": "corner_rows", "inputs": corner_rows(params, rng), "stall": 0.2, "backpressure": 0.5},
        {"name": "short_rows_heavy_backpressure", "inputs": random_rows(params, rng, [1, 2, 1, 3, 1, 1, 2, 1][:8], 0.3),
         "stall": 0.0, "backpressure": 0.8},
        {"name": "back_to_back_no_stalls", "inputs": random_rows(params, rng, [steady_length] * 12, 0.1),
         "stall": 0.0, "backpressure": 0.0, "steady": True},
    ]


def busy_cycles(params, inputs: dict) -> int:
    """Cycles of a stall-free job of rows of one length (no source stalls, no backpressure),
    exactly: every beat enters at one per cycle, and the last row's exp+sum and normalize
    passes, its reciprocal and the pipeline follow (:meth:`SoftmaxParams.row_latency`)."""
    lengths = np.asarray(inputs["length"])
    if (lengths != lengths[-1]).any():
        raise ValueError("busy_cycles is exact for rows of one length only")
    final = ceil_div(int(lengths[-1]), params.lanes)
    return len(lengths) * final - final + params.row_latency(final)


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden model and the cycle model; return problems."""
    problems = []
    for job, out in zip(jobs, outputs):
        inputs = job["inputs"]
        beats = rows_to_beats(params, inputs)
        if out["y_beats"].shape[0] != len(beats["last"]):
            problems.append(f"{job['name']}: {out['y_beats'].shape[0]} output beats, expected {len(beats['last'])}")
            continue
        if not np.array_equal(out["y_last"], beats["last"]):
            problems.append(f"{job['name']}: y.last flags differ from the rows' ends")
        expected = expected_rows(params, inputs)
        got = beats_to_rows(params, inputs, out["y_beats"])
        if not np.array_equal(got, expected):
            row = int(np.argwhere((got != expected).any(axis=1))[0, 0])
            problems.append(f"{job['name']}: row {row} differs from the golden model: "
                            f"got {got[row].tolist()}, expected {expected[row].tolist()}")
        if job.get("steady"):
            model = busy_cycles(params, inputs)
            if int(out["cycles"]) != model:
                problems.append(f"{job['name']}: {int(out['cycles'])} cycles, the model says {model}")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job from ``arrays['x']`` (rows, N) and optional ``arrays['mask']`` (rows, N)."""
    if "x" not in arrays:
        raise ValueError("inputs must hold an integer array 'x' (rows, N) and optionally a boolean 'mask'")
    x = np.asarray(arrays["x"])
    if x.ndim != 2 or x.shape[1] < 1 or x.shape[0] < 1:
        raise ValueError(f"x must be a (rows, N) array with N >= 1, not shape {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError(f"x must hold integer codes, not {x.dtype}")
    lo, hi = _code_range(params)
    if x.min() < lo or x.max() > hi:
        raise ValueError(f"x holds values outside the signed {params.width}-bit range {lo}..{hi}")
    if x.shape[1] > params.n_max:
        raise ValueError(f"rows of N={x.shape[1]} elements are longer than n_max={params.n_max}")
    mask = np.zeros(x.shape, dtype=bool)
    if "mask" in arrays:
        if not params.masking:
            raise ValueError("a 'mask' was given but the design has masking=false")
        mask = golden.flag_array("mask", arrays["mask"])
        if mask.shape != x.shape:
            raise ValueError(f"mask {mask.shape} must have the shape of x {x.shape}")
    job = _job(x.astype(np.int64), np.full(x.shape[0], x.shape[1]), mask)
    return [{"name": "user", "inputs": job, "check": False}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``y`` (rows, N) unsigned output codes (int64) and ``cycles``."""
    job = user_jobs(params, arrays)[0]["inputs"]
    return {"y": beats_to_rows(params, job, outputs[0]["y_beats"]), "cycles": outputs[0]["cycles"]}
