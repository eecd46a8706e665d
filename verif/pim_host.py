"""Host side of the PIM controller's verification: data placement, stimulus, expected results.

A *batch* (one simulation run, i.e. one runner job) is a list of PIM jobs run back to back
on one reset of the controller and fresh channel models. Its input arrays:

``desc``      (n, 6) int64: op, row_base, m, k, ch_mask, tag per PIM job;
``w``         all jobs' matrices, flattened and concatenated (int8 values);
``x``         all jobs' vectors concatenated;
``trace``     (1,) 1 to record the command trace.

The weights are written into the channel models before the run (a backdoor: the controller
only computes) following the mapping of :mod:`accelgen.generators.pim_ctrl`; the expected
results follow the ISA's arithmetic (int8 products summed exactly, 32-bit wrap) and the
documented accumulator behaviour (GEMV clears; GEMV_ACC adds to what the accumulators hold).
"""

import numpy as np

from ..hdl.pim.isa import Cmd, JobOp
from ..hdl.util import ceil_div
from .golden import check_fits
from .pim_dram import bf16_to_float32, float32_to_bf16_bits

__all__ = [
    "job_placement",
    "vector_words",
    "expected_beats",
    "make_batch",
    "random_job",
    "regression_jobs",
    "check",
    "user_jobs",
    "user_outputs",
    "split_batch",
]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_pim`).
VERIFIES = ("pim_ctrl",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("w", "x")


def _wrap32(values):
    values = np.asarray(values, dtype=np.int64) & 0xFFFFFFFF
    return np.where(values >= 1 << 31, values - (1 << 32), values)


def enabled_channels(params, mask: int) -> list[int]:
    """Channels enabled by ``mask``, in rank order."""
    return [ch for ch in range(params.channels) if (mask >> ch) & 1]


def k_slices(params, k: int, mask: int) -> list[np.ndarray]:
    """Split-K (``reduce_channels``): the positions of ``x`` each enabled channel (in rank order)
    holds, padded with -1 to whole rows. Rank ``r`` holds vector words ``r, r + n_ch, ...``."""
    cfg = params.config()
    n_ch, lanes = len(enabled_channels(params, mask)), cfg.lanes
    words = ceil_div(k, lanes)
    local = ceil_div(words, n_ch)
    width = ceil_div(local, cfg.cols_per_row) * cfg.elems_per_row
    slices = []
    for rank in range(n_ch):
        positions = np.full(width, -1, dtype=np.int64)
        for w in range(local):
            word = w * n_ch + rank
            for j in range(lanes):
                if word * lanes + j < k:
                    positions[w * lanes + j] = word * lanes + j
        slices.append(positions)
    return slices


def rows_used(params, m: int, k: int, mask: int) -> int:
    """DRAM rows (per bank) a job of shape ``m x k`` occupies from its ``row_base``."""
    cfg = params.config()
    n_ch = len(enabled_channels(params, mask))
    if params.reduce_channels:
        return ceil_div(m, cfg.banks) * (len(k_slices(params, k, mask)[0]) // cfg.elems_per_row)
    groups = ceil_div(m, n_ch * cfg.banks)
    return groups * ceil_div(k, cfg.elems_per_row)


def job_placement(params, w, row_base: int, mask: int):
    """Yield ``(channel, bank, row, elements)`` for every DRAM row segment of ``w``."""
    cfg = params.config()
    w = np.asarray(w, dtype=np.int64)
    m, k = w.shape
    chans = enabled_channels(params, mask)
    n_ch, banks, epr = len(chans), cfg.banks, cfg.elems_per_row
    if params.reduce_channels:
        # Every channel holds every output's row, restricted to its K slice.
        for ch, positions in zip(chans, k_slices(params, k, mask)):
            n_seg = len(positions) // epr
            sliced = np.where(positions >= 0, w[:, np.maximum(positions, 0)], 0)
            for i in range(m):
                group, bank = i // banks, i % banks
                for s in range(n_seg):
                    yield ch, bank, (row_base + group * n_seg + s) % cfg.rows, sliced[i, s * epr:(s + 1) * epr]
        return
    n_seg = ceil_div(k, epr)
    padded = np.zeros((m, n_seg * epr), dtype=np.int64)
    padded[:, :k] = w
    for i in range(m):
        group, rank, bank = i // (n_ch * banks), (i // banks) % n_ch, i % banks
        for s in range(n_seg):
            yield chans[rank], bank, (row_base + group * n_seg + s) % cfg.rows, padded[i, s * epr:(s + 1) * epr]


def vector_words(params, x) -> list[int]:
    """The vector stream's payloads for ``x`` (zero-padded to whole columns)."""
    cfg = params.config()
    lanes, bits = cfg.lanes, cfg.elem_bits
    x = np.asarray(x, dtype=np.int64)
    words = ceil_div(len(x), lanes)
    padded = np.zeros(words * lanes, dtype=np.int64)
    padded[:len(x)] = x
    mask = (1 << bits) - 1
    out = []
    for word in range(words):
        value = 0
        for j in range(lanes):
            value |= (int(padded[word * lanes + j]) & mask) << (j * bits)
        out.append(value)
    return out


def split_batch(inputs: dict):
    """The PIM jobs of a batch: list of ``(op, row_base, m, k, mask, tag, w, x)``."""
    jobs = []
    w_pos = x_pos = 0
    for op, row_base, m, k, mask, tag in np.asarray(inputs["desc"], dtype=np.int64).reshape(-1, 6):
        w = inputs["w"][w_pos:w_pos + m * k].reshape(m, k)
        x = inputs["x"][x_pos:x_pos + k]
        w_pos += m * k
        x_pos += k
        jobs.append((int(op), int(row_base), int(m), int(k), int(mask), int(tag), w, x))
    return jobs


def _bf16_products(w, x, lanes):
    """float32 products of bf16 bit patterns ``w`` (M x K) and ``x`` (K), K padded with zeros to
    whole columns (the padded lanes are multiplied too, as in the memory)."""
    k = len(x)
    width = ceil_div(k, lanes) * lanes
    wp = np.zeros((w.shape[0], width), dtype=np.uint16)
    wp[:, :k] = np.asarray(w, dtype=np.int64).astype(np.uint16)
    xp = np.zeros(width, dtype=np.uint16)
    xp[:k] = np.asarray(x, dtype=np.int64).astype(np.uint16)
    return (bf16_to_float32(wp) * bf16_to_float32(xp)[None, :]).astype(np.float32)


def expected_beats(params, inputs: dict) -> list[tuple]:
    """Expected result beats ``(tag, index, values tuple, last)`` of a batch, in order.

    int8: exact sums, 32-bit wrap-around. bf16: the ISA's order (products exact in binary32,
    added one by one in K order with round-to-nearest-even; the accumulator's bit pattern is
    reported as a signed 32-bit integer).

    With ``reduce_channels`` each enabled channel accumulates its K slice's partial sums and a
    beat carries the sum of the channels' accumulators (32-bit wrap).
    """
    cfg = params.config()
    banks, n_acc = cfg.banks, cfg.n_acc
    bf16 = cfg.elem_bits == 16
    acc = np.zeros((params.channels, banks, n_acc), dtype=np.float32 if bf16 else np.int64)
    beats = []
    for op, _row_base, m, k, mask, tag, w, x in split_batch(inputs):
        if params.reduce_channels:
            beats += _reduced_beats(params, acc, op, m, k, mask, tag, w, x)
            continue
        chans = enabled_channels(params, mask)
        n_ch = len(chans)
        if bf16:
            products = _bf16_products(w, x, cfg.lanes)
        else:
            y = np.asarray(w, dtype=np.int64) @ np.asarray(x, dtype=np.int64)
        groups = ceil_div(m, n_ch * banks)
        blocks = ceil_div(groups, n_acc)
        for g in range(blocks):
            if g > 0 or op != JobOp.GEMV_ACC:
                acc[chans] = 0
            a_count = min(n_acc, groups - g * n_acc)
            for a in range(a_count):
                group = g * n_acc + a
                for rank, ch in enumerate(chans):
                    for b in range(banks):
                        i = (group * n_ch + rank) * banks + b
                        if i >= m:
                            continue
                        if bf16:
                            value = acc[ch, b, a]
                            for product in products[i]:
                                value = np.float32(value + product)
                            acc[ch, b, a] = value
                        else:
                            acc[ch, b, a] = _wrap32(acc[ch, b, a] + y[i])
            for a in range(a_count):
                for rank, ch in enumerate(chans):
                    index = ((g * n_acc + a) * n_ch + rank) * banks
                    if index < m:
                        column = acc[ch, :, a]
                        if bf16:
                            column = column.astype(np.float32).view(np.int32).astype(np.int64)
                        beats.append((tag, index, tuple(int(v) for v in column), int(index + banks >= m)))
    return beats


def _reduced_beats(params, acc, op, m, k, mask, tag, w, x) -> list[tuple]:
    """Expected beats of one split-K job; updates the channels' accumulators ``acc``."""
    cfg = params.config()
    banks, n_acc = cfg.banks, cfg.n_acc
    chans = enabled_channels(params, mask)
    w = np.asarray(w, dtype=np.int64)
    x = np.asarray(x, dtype=np.int64)
    partial = {}
    for ch, positions in zip(chans, k_slices(params, k, mask)):
        held = positions[positions >= 0]
        partial[ch] = w[:, held] @ x[held]
    groups = ceil_div(m, banks)
    blocks = ceil_div(groups, n_acc)
    beats = []
    for g in range(blocks):
        if g > 0 or op != JobOp.GEMV_ACC:
            acc[chans] = 0
        a_count = min(n_acc, groups - g * n_acc)
        for a in range(a_count):
            for b in range(banks):
                i = (g * n_acc + a) * banks + b
                if i < m:
                    for ch in chans:
                        acc[ch, b, a] = _wrap32(acc[ch, b, a] + partial[ch][i])
        for a in range(a_count):
            index = (g * n_acc + a) * banks
            total = _wrap32(acc[chans, :, a].sum(axis=0))
            beats.append((tag, index, tuple(int(v) for v in total), int(index + banks >= m)))
    return beats


def random_job(params, rng, row_base: int, *, m=None, k=None, op=None, mask=None):
    """One random PIM job placed at ``row_base``: int8 operands over the full range, or bf16
    bit patterns of normally distributed values."""
    m = int(rng.integers(1, params.m_max, endpoint=True)) if m is None else m
    k = int(rng.integers(1, params.k_max, endpoint=True)) if k is None else k
    full = (1 << params.channels) - 1
    mask = int(rng.integers(1, full, endpoint=True)) if mask is None else mask
    op = int(rng.choice([JobOp.GEMV, JobOp.GEMV, JobOp.ATTN_QK, JobOp.ATTN_PV, JobOp.GEMV_ACC])) if op is None else op
    if params.elem == "bf16":
        w = float32_to_bf16_bits(rng.standard_normal((m, k)).astype(np.float32)).astype(np.int64)
        x = float32_to_bf16_bits(rng.standard_normal(k).astype(np.float32)).astype(np.int64)
    else:
        w = rng.integers(-128, 127, size=(m, k), endpoint=True)
        x = rng.integers(-128, 127, size=k, endpoint=True)
    tag = int(rng.integers(0, 1 << params.tag_bits))
    return (op, row_base, m, k, mask, tag, w, x)


def make_batch(params, jobs, *, trace: bool = False) -> dict:
    """Input arrays of a batch from ``(op, row_base, m, k, mask, tag, w, x)`` tuples."""
    desc = np.array([job[:6] for job in jobs], dtype=np.int64).reshape(-1, 6)
    w = np.concatenate([np.asarray(job[6], dtype=np.int64).ravel() for job in jobs]) if jobs else np.zeros(0, np.int64)
    x = np.concatenate([np.asarray(job[7], dtype=np.int64).ravel() for job in jobs]) if jobs else np.zeros(0, np.int64)
    return {"desc": desc, "w": w, "x": x, "trace": np.array([int(trace)])}


def random_batch(params, rng, count: int, **fixed) -> dict:
    """``count`` random jobs in disjoint row regions (the region wraps past the last row)."""
    cfg = params.config()
    jobs, row = [], 0
    for _ in range(count):
        job = random_job(params, rng, row % cfg.rows, **fixed)
        row += rows_used(params, job[2], job[3], job[4])
        jobs.append(job)
    if row > cfg.rows:
        raise ValueError(f"{count} jobs need {row} rows, more than rows={cfg.rows}")
    return make_batch(params, jobs)


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression: random shapes, masks and ops under stalls, edge shapes, and a
    stall-free run (its busy cycles are checked against the bound in the benchmark)."""
    cfg = params.config()
    epr, full = cfg.elems_per_row, (1 << params.channels) - 1
    edge = [
        dict(m=1, k=1, mask=1, op=JobOp.GEMV),
        dict(m=params.m_max, k=params.k_max, mask=full, op=JobOp.GEMV),
        dict(m=min(params.m_max, cfg.banks), k=min(params.k_max, epr), mask=full, op=JobOp.GEMV),
        dict(m=min(params.m_max, cfg.banks), k=min(params.k_max, epr), mask=full, op=JobOp.GEMV_ACC),
        dict(m=min(params.m_max, cfg.banks + 1), k=min(params.k_max, epr + 1), mask=1 << (params.channels - 1),
             op=JobOp.GEMV),
    ]
    edge_jobs, row = [], 0
    for fixed in edge:
        job = random_job(params, rng, row % cfg.rows, **fixed)
        row += rows_used(params, job[2], job[3], job[4])
        edge_jobs.append(job)
    return [
        {"name": "random_jobs_stalls", "inputs": random_batch(params, rng, 8), "stall": 0.3, "backpressure": 0.4},
        {"name": "edge_shapes", "inputs": make_batch(params, edge_jobs), "stall": 0.1, "backpressure": 0.1},
        {"name": "random_jobs_no_stalls", "inputs": random_batch(params, rng, 3, mask=full),
         "stall": 0.0, "backpressure": 0.0},
    ]


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved results with the expected beats; check counters against the trace."""
    problems = []
    for job, out in zip(jobs, outputs):
        expected = expected_beats(params, job["inputs"])
        got = list(zip(out["tag"].tolist(), out["index"].tolist(),
                       [tuple(row) for row in out["c"].tolist()], out["last"].tolist()))
        if got != expected:
            first = next((i for i, (a, b) in enumerate(zip(expected, got)) if a != b), min(len(got), len(expected)))
            problems.append(f"{job['name']}: result beats differ from W @ x (first at beat {first}; "
                            f"{len(got)} received, {len(expected)} expected)")
        if int(out["violations"]) != 0:
            problems.append(f"{job['name']}: {int(out['violations'])} timing violations")
        if int(out["mac_count"]) != int(out["macs_seen"]):
            problems.append(f"{job['name']}: mac_count {int(out['mac_count'])} but {int(out['macs_seen'])} MACABs seen")
    return problems


def _bf16_operand(name: str, value) -> np.ndarray:
    """The user's numbers rounded to bf16, as int64 bit patterns; ``ValueError`` naming the array
    when one rounds to infinity (past the bf16 range) or is NaN."""
    with np.errstate(over="ignore", invalid="ignore"):
        bits = float32_to_bf16_bits(np.asarray(value).astype(np.float32))
    values = bf16_to_float32(bits)
    if not np.isfinite(values).all():
        largest = float(bf16_to_float32(np.array([0x7F7F], dtype=np.uint16))[0])
        raise ValueError(f"{name} has values outside the bfloat16 range: every magnitude must round to at most "
                         f"{largest:.4g}")
    return bits.astype(np.int64)


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing ``w @ x`` on every channel: ``w`` (M x K) and ``x`` (K), int8 (or any
    numbers, rounded to bf16, with ``elem=bf16``)."""
    for key in ("w", "x"):
        if key not in arrays:
            raise ValueError(f"inputs must hold int8 arrays 'w' (M x K) and 'x' (K); '{key}' is missing")
    if params.elem == "bf16":
        w, x = _bf16_operand("w", arrays["w"]), _bf16_operand("x", arrays["x"])
    else:
        w = check_fits("w", arrays["w"], 8, True)
        x = check_fits("x", arrays["x"], 8, True)
    if w.ndim != 2 or x.ndim != 1 or w.shape[1] != x.shape[0]:
        raise ValueError(f"w {w.shape} and x {x.shape} must be (M, K) and (K,)")
    m, k = w.shape
    if not 1 <= m <= params.m_max:
        raise ValueError(f"M={m} is out of range: must be in 1..m_max={params.m_max}")
    if not 1 <= k <= params.k_max:
        raise ValueError(f"K={k} is out of range: must be in 1..k_max={params.k_max}")
    full = (1 << params.channels) - 1
    job = (int(JobOp.GEMV), 0, m, k, full, 0, w, x)
    return [{"name": "user", "inputs": make_batch(params, [job], trace=True), "check": True}]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``y`` (M, int64), ``cycles`` and the command ``trace`` (cycle, channel, command, bank
    group, bank, row, column) with ``trace_commands`` naming the command codes."""
    out = outputs[0]
    m = arrays["w"].shape[0]
    y = np.zeros(m, dtype=np.int64)
    for index, values in zip(out["index"].tolist(), out["c"].tolist()):
        for b, value in enumerate(values):
            if index + b < m:
                y[index + b] = value
    if params.elem == "bf16":
        y = y.astype(np.int32).view(np.float32)
    return {
        "y": y,
        "cycles": np.int64(out["job_cycles"][0]),
        "trace": out["trace"],
        "trace_commands": np.array([c.name for c in Cmd]),
    }
