"""Streams, golden results and checks of the fused attention array (design ``attention``).

A simulation job holds one or more attention problems run back to back (one descriptor each):
``desc`` (problems, 4) holds ``(nq, nkv, d, causal)``, ``q_words`` / ``k_words`` / ``v_words``
the concatenated stream beats in the engine's order (see
:mod:`accelgen.generators.attention`), and ``o_expected`` the golden output beats. Lanes past
``nq`` / ``nkv`` carry random junk, which the engine must ignore.
"""

import numpy as np

from ..generators.attention import STALL_COUNTERS, analytic_cycles, latencies, tile_order, useful_macs
from ..hdl.util import ceil_div
from . import golden
from .attention_golden import golden_int

__all__ = ["VERIFIES", "stream_words", "expected_beats", "beats_to_output", "problem", "make_job", "random_problem",
           "regression_jobs", "check", "user_jobs", "user_outputs"]

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_attention`).
VERIFIES = ("attention",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("q", "k", "v", "causal")


def _junk(rng, shape, width):
    lo, hi = golden.value_range(width, True)
    if rng is None:
        return np.zeros(shape, dtype=np.int64)
    return rng.integers(lo, hi, size=shape, endpoint=True)


def stream_words(params, q, k, v, causal: bool, rng=None) -> dict:
    """The ``q``, ``k`` and ``v`` beats of one problem; padding lanes hold junk from ``rng`` (or 0)."""
    p = params
    (nq, d), nkv = q.shape, k.shape[0]
    blocks, tiles = ceil_div(nq, p.br), ceil_div(nkv, p.bc)
    q_pad = _junk(rng, (blocks * p.br, d), p.q_width)
    q_pad[:nq] = q
    k_pad = _junk(rng, (tiles * p.bc, d), p.k_width)
    k_pad[:nkv] = k
    v_pad = _junk(rng, (tiles * p.bc, d), p.v_width)
    v_pad[:nkv] = v
    # Block b's beat e: q[b*br:(b+1)*br, e]; tile (b, j)'s beat e: k[j*bc:(j+1)*bc, e].
    q_words = q_pad.reshape(blocks, p.br, d).transpose(0, 2, 1).reshape(blocks * d, p.br)
    order = tile_order(nq, nkv, p.br, p.bc, causal)
    k_words = np.concatenate([k_pad[j * p.bc:(j + 1) * p.bc].T for _, j in order])
    v_words = np.concatenate([v_pad[j * p.bc:(j + 1) * p.bc].T for _, j in order])
    return {"q_words": q_words, "k_words": k_words, "v_words": v_words}


def expected_beats(params, o) -> np.ndarray:
    """Output beats of one problem's ``(nq, d)`` result: block by block, feature by feature,
    lanes past ``nq`` zero."""
    nq, d = o.shape
    blocks = ceil_div(nq, params.br)
    o_pad = np.zeros((blocks * params.br, d), dtype=np.int64)
    o_pad[:nq] = o
    return o_pad.reshape(blocks, params.br, d).transpose(0, 2, 1).reshape(blocks * d, params.br)


def beats_to_output(params, beats, nq: int, d: int) -> np.ndarray:
    """Reassemble one problem's output beats into the ``(nq, d)`` result."""
    blocks = ceil_div(nq, params.br)
    beats = np.asarray(beats)
    if beats.shape != (blocks * d, params.br):
        raise ValueError(f"expected {(blocks * d, params.br)} output beats, got {beats.shape}")
    return beats.reshape(blocks, d, params.br).transpose(0, 2, 1).reshape(blocks * params.br, d)[:nq]


def problem(params, q, k, v, causal: bool = False) -> tuple:
    """A checked problem ``(q, k, v, causal)``: codes within their widths, shapes that fit."""
    q = golden.check_fits("q", q, params.q_width, True)
    k = golden.check_fits("k", k, params.k_width, True)
    v = golden.check_fits("v", v, params.v_width, True)
    if q.ndim != 2 or k.ndim != 2 or v.shape != k.shape or q.shape[1] != k.shape[1]:
        raise ValueError(f"q {q.shape}, k {k.shape} and v {v.shape} must be (nq, D), (nkv, D) and (nkv, D)")
    params.check_job(q.shape[0], k.shape[0], q.shape[1])
    return q, k, v, bool(causal)


def make_job(params, name: str, problems, *, rng=None, stall=0.0, backpressure=0.0, check=True) -> dict:
    """A simulation job running ``problems`` (``(q, k, v, causal)`` tuples) back to back."""
    desc, words, expected = [], {"q_words": [], "k_words": [], "v_words": []}, []
    for q, k, v, causal in (problem(params, *x) for x in problems):
        desc.append((q.shape[0], k.shape[0], q.shape[1], int(causal)))
        for key, value in stream_words(params, q, k, v, causal, rng).items():
            words[key].append(value)
        expected.append(expected_beats(params, golden_int(q, k, v, params, causal=causal)))
    job = {
        "name": name,
        "inputs": {"desc": np.array(desc, dtype=np.int64), **{key: np.concatenate(value) for key, value in words.items()},
                   "o_expected": np.concatenate(expected)},
        "stall": stall,
        "backpressure": backpressure,
        "check": check,
    }
    if len(desc) == 1:
        job["shape"] = list(desc[0])
    return job


def random_problem(params, rng, nq, nkv, d, causal=False):
    """Uniformly random Q, K, V codes of one problem ``(q, k, v, causal)``."""
    lo = lambda w: -(1 << (w - 1))  # noqa: E731 - the code range of a signed width
    q = rng.integers(lo(params.q_width), -lo(params.q_width), (nq, d))
    k = rng.integers(lo(params.k_width), -lo(params.k_width), (nkv, d))
    v = rng.integers(lo(params.v_width), -lo(params.v_width), (nkv, d))
    return q, k, v, causal


def _shaped(params, rng, nq, nkv, d, causal, kind):
    """Structured stimulus: all-equal logits, one dominant key, keys growing every tile,
    the maximum in the first tile only, extreme codes."""
    q, k, v, _ = random_problem(params, rng, nq, nkv, d)
    qmax, kmax = (1 << (params.q_width - 1)) - 1, (1 << (params.k_width - 1)) - 1
    if kind == "equal":
        k = np.tile(k[:1], (nkv, 1))
    elif kind == "dominant":
        q = np.full((nq, d), qmax)
        k = rng.integers(-2, 3, (nkv, d))
        k[rng.integers(nkv)] = kmax
    elif kind == "growing":
        q = np.full((nq, d), qmax)
        k = np.repeat(np.linspace(-kmax, kmax, nkv).round().astype(np.int64)[:, None], d, axis=1)
    elif kind == "first_max":
        q = np.full((nq, d), qmax)
        k = np.repeat(np.linspace(kmax, -kmax, nkv).round().astype(np.int64)[:, None], d, axis=1)
    elif kind == "extreme":
        q = np.full((nq, d), -(1 << (params.q_width - 1)))
        k = np.where(rng.random((nkv, d)) < 0.5, -(1 << (params.k_width - 1)), kmax)
        v = np.where(rng.random((nkv, d)) < 0.5, -(1 << (params.v_width - 1)), (1 << (params.v_width - 1)) - 1)
    return q, k, v, causal


def regression_shapes(params) -> list[tuple[int, int, int, bool]]:
    """Odd shapes of one configuration: 1s, tile edges, non-multiples, causal with nq = nkv,
    nq < nkv and nq > nkv."""
    br, bc, n, dm = params.br, params.bc, params.n_max, params.d_max
    odd_d = max(1, dm // 2 - 1) | 1 if dm > 2 else dm
    shapes = [(1, 1, 1, False), (1, 1, dm, True), (br, bc, dm, False), (br + 1, bc - 1 or 1, odd_d, False),
              (2 * br - 1, bc + 1, dm, True), (3, 2 * bc - 1, odd_d, False), (2 * br + 1, 2 * br + 1, dm, True),
              (br + 3, 2, 1, True), (2, 2 * bc + 3, dm, True), (3 * br, 3 * bc, odd_d, False)]
    return list(dict.fromkeys((min(a, n), min(b, n), min(d, dm), c) for a, b, d, c in shapes))


def regression_jobs(params, rng: np.random.Generator) -> list[dict]:
    """The standard regression: odd shapes back to back under stalls and backpressure, structured
    stimulus, heavy backpressure, and stall-free problems checked against the cycle model."""
    shapes = regression_shapes(params)
    br, bc, dm = params.br, params.bc, params.d_max
    n = lambda x: min(x, params.n_max)  # noqa: E731
    kinds = ("equal", "dominant", "growing", "first_max", "extreme")
    jobs = [
        make_job(params, "shapes_back_to_back_stalls", [random_problem(params, rng, *s) for s in shapes], rng=rng,
                 stall=0.3, backpressure=0.4),
        make_job(params, "structured", [_shaped(params, rng, n(br + 1), n(3 * bc - 1), dm, i % 2 == 1, kind)
                                        for i, kind in enumerate(kinds)], rng=rng, stall=0.2, backpressure=0.3),
        make_job(params, "one_tile_blocks_backpressure", [random_problem(params, rng, n(3 * br), n(bc - 1 or 1), dm)],
                 rng=rng, stall=0.1, backpressure=0.8),
    ]
    # The last: one-tile blocks, so the job ends with two PV phases that both fill the output FIFO.
    for nq, nkv, d, causal in [(n(2 * br), n(3 * bc), dm, False), (n(3 * br - 1), n(3 * br - 1), dm, True),
                               (n(br + 1), n(2 * bc + 1), 1, False), (n(2 * br + 1), n(bc), dm, False)]:
        jobs.append(make_job(params, f"model_{nq}x{nkv}x{d}{'_causal' if causal else ''}",
                             [random_problem(params, rng, nq, nkv, d, causal)], rng=rng))
    return jobs


def default_o_fifo_beats(params) -> int:
    """The ``o_fifo_beats`` the parameters would derive if it were left to its default."""
    return type(params)(**(params.to_dict() | {"o_fifo_beats": None})).o_fifo_beats


def _stall_free(job) -> bool:
    return "shape" in job and job["stall"] == 0 and job["backpressure"] == 0


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden beats and ``last`` flags; for stall-free single
    problems (with at least the default ``o_fifo_beats``), ``cycle_count`` with the analytic
    model and the stall identity."""
    problems = []
    for job, out in zip(jobs, outputs):
        expected = job["inputs"]["o_expected"]
        if out["o"].shape != expected.shape or not np.array_equal(out["o"], expected):
            problems.append(f"{job['name']}: output beats differ from the golden model")
        ends = np.cumsum([ceil_div(int(nq), params.br) * int(d) for nq, _, d, _ in job["inputs"]["desc"]]) - 1
        flags = np.zeros(len(expected), dtype=np.int64)
        flags[ends] = 1
        if "o_last" in out and not np.array_equal(out["o_last"], flags):
            problems.append(f"{job['name']}: o.last is not set exactly on each job's final beat")
        # The cycle model and the stall identity hold for the default output FIFO; a smaller one
        # changes the output path's timing (o_fifo_beats=1 finishes a cycle earlier), so only
        # the results are checked then.
        if _stall_free(job) and params.o_fifo_beats >= default_o_fifo_beats(params):
            nq, nkv, d, causal = job["shape"]
            model = analytic_cycles(params, nq, nkv, d, bool(causal))
            cycles = int(out["cycle_count"])
            if cycles != model:
                problems.append(f"{job['name']}: cycle_count {cycles}, analytic model {model}")
            beats = 2 * d * len(tile_order(nq, nkv, params.br, params.bc, bool(causal)))
            stalls = sum(int(out[name]) for name in STALL_COUNTERS)
            identity = latencies(params)["feed"] + beats + stalls + latencies(params)["out"] - 1
            if cycles != identity or int(out["in_stall_count"]) or int(out["out_stall_count"]):
                problems.append(f"{job['name']}: stall identity broken: cycle_count {cycles}, feed + beats + "
                                f"stalls + tail = {identity}, in/out stalls {int(out['in_stall_count'])}/"
                                f"{int(out['out_stall_count'])}")
            if int(out["mac_count"]) != params.br * params.bc * beats:
                problems.append(f"{job['name']}: mac_count {int(out['mac_count'])}, expected "
                                f"{params.br * params.bc * beats}")
    return problems


def _heads(arrays: dict, name: str, width: int) -> np.ndarray:
    codes = golden.code_array(arrays, name, "signed codes, (N, D) or (H, N, D)", width, True)
    if codes.ndim == 2:
        codes = codes[None]
    if codes.ndim != 3:
        raise ValueError(f"{name} has shape {codes.shape}: must be (N, D) or (H, N, D)")
    return codes


def _user_problems(params, arrays: dict) -> tuple[list[dict], bool]:
    """The user's problems: one per head, or, for grouped-query attention, one per key/value
    head holding the queries of its whole group (they share K and V, so they fill the array's
    columns together; exact because query rows are independent). Causal groups are packed
    only for nq = 1 (decoding), where the mask does not depend on the row."""
    q, k, v = (_heads(arrays, name, w) for name, w in (("q", params.q_width), ("k", params.k_width),
                                                       ("v", params.v_width)))
    causal = golden.flag_array("causal", arrays.get("causal", False))
    if causal.size != 1:
        raise ValueError(f"causal has shape {causal.shape}: must be one boolean")
    causal = bool(causal.item())
    if k.shape != v.shape:
        raise ValueError(f"k {k.shape} and v {v.shape} must have the same shape")
    if q.shape[2] != k.shape[2]:
        raise ValueError(f"q {q.shape} and k {k.shape} must have the same head dimension D")
    heads, kv_heads, nq = q.shape[0], k.shape[0], q.shape[1]
    if heads % kv_heads:
        raise ValueError(f"q has {heads} heads and k/v {kv_heads}: the number of query heads must be a multiple "
                         "of the number of key/value heads")
    group = heads // kv_heads
    pack = group > 1 and (not causal or nq == 1) and group * nq <= params.n_max
    problems = []
    for g in range(kv_heads):
        members = list(range(g * group, (g + 1) * group))
        if pack:
            problems.append({"q": q[members].reshape(group * nq, -1), "k": k[g], "v": v[g],
                             "causal": causal and nq > 1, "heads": members})
        else:
            problems += [{"q": q[h], "k": k[g], "v": v[g], "causal": causal, "heads": [h]} for h in members]
    return problems, causal


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job per head, or per key/value head with grouped-query attention: ``q`` (nq, D) or
    (H, nq, D), ``k`` and ``v`` (nkv, D) or (Hkv, nkv, D) with ``H`` a multiple of ``Hkv``,
    optional ``causal``."""
    problems, _ = _user_problems(params, arrays)
    return [make_job(params, f"job{i}_heads{x['heads'][0]}-{x['heads'][-1]}",
                     [(x["q"], x["k"], x["v"], x["causal"])], check=False) for i, x in enumerate(problems)]


def user_outputs(params, arrays: dict, outputs: list[dict]) -> dict:
    """``o`` (shaped like ``q``); per job (a head, or a packed query group) ``cycle_count``,
    ``mac_count``, ``useful_macs``, ``utilization`` (useful MACs / (br * bc * cycles)) and
    ``job_heads`` (the first and last head of each job)."""
    problems, _ = _user_problems(params, arrays)
    q = np.asarray(arrays["q"])
    nq, d = q.shape[-2], q.shape[-1]
    heads = 1 if q.ndim == 2 else q.shape[0]
    o = np.zeros((heads, nq, d), dtype=np.int64)
    for x, out in zip(problems, outputs):
        rows = beats_to_output(params, out["o"], x["q"].shape[0], d)
        o[x["heads"]] = rows.reshape(len(x["heads"]), nq, d)
    cycles = np.array([int(out["cycle_count"]) for out in outputs], dtype=np.int64)
    useful = np.array([useful_macs(x["q"].shape[0], x["k"].shape[0], d, x["causal"]) for x in problems],
                      dtype=np.int64)
    return {"o": o[0] if q.ndim == 2 else o, "cycle_count": cycles,
            "mac_count": np.array([int(out["mac_count"]) for out in outputs], dtype=np.int64),
            "useful_macs": useful, "utilization": useful / (params.br * params.bc * cycles),
            "job_heads": np.array([[x["heads"][0], x["heads"][-1]] for x in problems], dtype=np.int64)}
