"""Streams, golden results and checks of the tiled GEMM engine (design ``gemm``).

A simulation job holds one or more GEMM descriptors run back to back: ``desc`` (jobs, 3)
holds ``(M, N, K)`` of each, ``a_words`` / ``b_words`` the concatenated operand streams in the
engine's order (see :mod:`accelgen.generators.gemm`), and ``c_expected`` the golden ``C``
beats. Lanes past a matrix edge carry random junk, which the engine must ignore.
"""

import numpy as np

from ..generators.gemm import a_stream_passes, analytic_cycles
from ..hdl.util import ceil_div

from . import golden

__all__ = [
    "operand_words",
    "expected_beats",
    "beats_to_matrix",
    "make_job",
    "regression_jobs",
    "check",
    "user_jobs",
    "user_outputs",
]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_gemm`).
VERIFIES = ("gemm",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("a", "b")


def _junk(rng, shape, width, is_signed):
    lo, hi = golden.value_range(width, is_signed)
    if rng is None:
        return np.zeros(shape, dtype=np.int64)
    return rng.integers(lo, hi, size=shape, endpoint=True)


def operand_words(params, a, b, rng=None) -> tuple[np.ndarray, np.ndarray]:
    """The ``a`` and ``b`` stream words of ``a @ b``; padding lanes hold junk from ``rng`` (or 0).

    With ``a_reuse="row_block"`` the A words repeat once per column block
    (:func:`~accelgen.generators.gemm.a_stream_passes`); each pass has its own junk."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    (m, k), n = a.shape, b.shape[1]
    r, c, d = (1 if params.engine == "tree" else params.rows), params.cols, params.depth
    tn, kg = ceil_div(n, c), ceil_div(k, d)
    b_pad = _junk(rng, (kg * d, tn * c), params.b_width, params.b_signed)
    b_pad[:k, :n] = b
    # Word (nt, g): the depth x cols block B[g*d:(g+1)*d, nt*c:(nt+1)*c], row-major.
    b_words = np.concatenate([b_pad[:, j * c:(j + 1) * c].reshape(kg, d * c) for j in range(tn)])
    if params.engine == "ws":
        tk = ceil_div(k, r)
        a_pad = _junk(rng, (m, tk * r), params.a_width, params.a_signed)
        a_pad[:, :k] = a
        a_words = np.concatenate([a_pad[:, i * r:(i + 1) * r] for i in range(tk)])
    else:
        tm = ceil_div(m, r)
        passes = []
        for _ in range(a_stream_passes(params, n)):
            a_pad = _junk(rng, (tm * r, kg * d), params.a_width, params.a_signed)
            a_pad[:m, :k] = a
            # Word (mt, g): the rows x depth block A[mt*r:(mt+1)*r, g*d:(g+1)*d], row-major.
            passes += [a_pad[i * r:(i + 1) * r].reshape(r, kg, d).transpose(1, 0, 2).reshape(kg, r * d)
                       for i in range(tm)]
        a_words = np.concatenate(passes)
    return a_words, b_words


def expected_beats(params, a, b) -> np.ndarray:
    """Golden ``C`` beats of one descriptor: column block by column block, ``(ceil(N/cols)*M, cols)``."""
    c = golden.matmul(a, b, a_width=params.a_width, a_signed=params.a_signed, b_width=params.b_width,
                      b_signed=params.b_signed, acc_width=params.acc_width, acc_signed=params.acc_signed,
                      overflow="wrap")
    m, n = c.shape
    tn = ceil_div(n, params.cols)
    c_pad = np.zeros((m, tn * params.cols), dtype=np.int64)
    c_pad[:, :n] = c
    return np.concatenate([c_pad[:, j * params.cols:(j + 1) * params.cols] for j in range(tn)])


def beats_to_matrix(params, beats, m: int, n: int) -> np.ndarray:
    """Reassemble one descriptor's ``C`` beats into the ``m x n`` product."""
    tn = ceil_div(n, params.cols)
    beats = np.asarray(beats)
    if beats.shape != (tn * m, params.cols):
        raise ValueError(f"expected {(tn * m, params.cols)} C beats, got {beats.shape}")
    return beats.reshape(tn, m, params.cols).transpose(1, 0, 2).reshape(m, tn * params.cols)[:, :n]


def make_job(params, name: str, pairs, *, rng=None, stall=0.0, backpressure=0.0, check=True) -> dict:
    """A simulation job running the products ``a @ b`` of ``pairs`` back to back."""
    desc, a_words, b_words, c_expected = [], [], [], []
    for a, b in pairs:
        a = golden.check_fits("a", a, params.a_width, params.a_signed)
        b = golden.check_fits("b", b, params.b_width, params.b_signed)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"a {a.shape} and b {b.shape} must be (M, K) and (K, N)")
        (m, k), n = a.shape, b.shape[1]
        params.check_job(m, n, k)
        words = operand_words(params, a, b, rng)
        desc.append((m, n, k))
        a_words.append(words[0])
        b_words.append(words[1])
        c_expected.append(expected_beats(params, a, b))
    job = {
        "name": name,
        "inputs": {"desc": np.array(desc, dtype=np.int64), "a_words": np.concatenate(a_words),
                   "b_words": np.concatenate(b_words), "c_expected": np.concatenate(c_expected)},
        "stall": stall,
        "backpressure": backpressure,
        "check": check,
    }
    if len(pairs) == 1:
        job["shape"] = list(desc[0])
    return job


def _random(params, rng, m, n, k):
    a_lo, a_hi = golden.value_range(params.a_width, params.a_signed)
    b_lo, b_hi = golden.value_range(params.b_width, params.b_signed)
    return rng.integers(a_lo, a_hi, (m, k), endpoint=True), rng.integers(b_lo, b_hi, (k, n), endpoint=True)


def _extremes(params, m, n, k):
    a_lo, a_hi = golden.value_range(params.a_width, params.a_signed)
    b_lo, b_hi = golden.value_range(params.b_width, params.b_signed)
    return [(np.full((m, k), a), np.full((k, n), b)) for a, b in ((a_lo, b_lo), (a_hi, b_hi), (a_lo, b_hi))]


def regression_shapes(params) -> list[tuple[int, int, int]]:
    """Shapes of one configuration's regression: 1s, exact tiles, odd edges, the maxima."""
    r, c = (1 if params.engine == "tree" else params.rows), params.cols
    m_max, n_max, k_max = params.m_max, params.n_max, params.k_max
    shapes = [(1, 1, 1), (min(r, m_max), min(c, n_max), min(r, k_max)), (m_max, n_max, k_max),
              (min(r + 1, m_max), min(2 * c - 1, n_max), min(2 * r + 1, k_max)),
              (min(3, m_max), min(c + 1, n_max), min(5, k_max)), (m_max, 1, min(2, k_max))]
    return list(dict.fromkeys(shapes))


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression: odd shapes back to back under stalls and backpressure,
    extreme operands at the largest shape, and stall-free single shapes checked against the
    cycle model."""
    shapes = regression_shapes(params)
    jobs = [
        make_job(params, "shapes_back_to_back_stalls", [_random(params, rng, *s) for s in shapes], rng=rng,
                 stall=0.3, backpressure=0.4),
        make_job(params, "extremes_max_shape", _extremes(params, params.m_max, params.n_max, params.k_max), rng=rng,
                 stall=0.1, backpressure=0.2),
        make_job(params, "heavy_backpressure", [_random(params, rng, *shapes[-2])], rng=rng, backpressure=0.8),
    ]
    for m, n, k in shapes[1:4]:
        job = make_job(params, f"model_{m}x{n}x{k}", [_random(params, rng, m, n, k)], rng=rng)
        jobs.append(job)
    return jobs


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden beats and, for stall-free single shapes, the
    cycle count with the analytic model; return the problems found."""
    problems = []
    for job, out in zip(jobs, outputs):
        expected = job["inputs"]["c_expected"]
        if out["c"].shape != expected.shape or not np.array_equal(out["c"], expected):
            problems.append(f"{job['name']}: C beats differ from the golden model")
        ends = np.cumsum([ceil_div(int(n), params.cols) * int(m) for m, n, _ in job["inputs"]["desc"]]) - 1
        flags = np.zeros(len(expected), dtype=np.int64)
        flags[ends] = 1
        if "c_last" in out and not np.array_equal(out["c_last"], flags):
            problems.append(f"{job['name']}: c.last is not set exactly on each job's final beat")
        if "shape" in job and job["stall"] == 0 and job["backpressure"] == 0:
            model = analytic_cycles(params, *job["shape"])
            if int(out["cycle_count"]) != model:
                problems.append(f"{job['name']}: cycle_count {int(out['cycle_count'])}, analytic model {model}")
    return problems


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing ``arrays['a'] @ arrays['b']``."""
    return [make_job(params, "user", [golden.matmul_operands(params, arrays)], check=False)]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``c`` (M x N, int64), ``cycles`` (descriptor to final C beat) and ``mac_count``."""
    m, n = np.asarray(arrays["a"]).shape[0], np.asarray(arrays["b"]).shape[1]
    out = outputs[0]
    return {"c": beats_to_matrix(params, out["c"], m, n).astype(np.int64), "cycles": out["cycle_count"],
            "mac_count": out["mac_count"]}
