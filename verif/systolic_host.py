"""Mapping matrices onto the systolic array's beat streams, and stimulus for its tests.

The output-stationary array takes the broadcast engines' beat streams with ``depth = 1``, so
tiling, stimulus and checks are those of :mod:`accelgen.verif.engines_host`; only the beat
arrays are flat: ``a_beats`` is ``(beats, rows)`` and ``b_beats`` ``(beats, cols)`` (the
array's ``a.data`` is ``[rows]``, not ``[rows][1]``). A product ``A (M x K) @ B (K x N)`` is
cut into ``ceil(M/rows) * ceil(N/cols)`` output tiles; tile ``(ti, tj)`` streams ``K`` beats
(column ``k`` of the A row-block with row ``k`` of the B column-block), zero-padded at the
edges. Tiles go row-block-major: ``(0,0), (0,1), ...``.
"""

from . import engines_host
from .engines_host import rows_to_matrix, user_outputs  # noqa: F401 (the same for flat beats)

# The same host API as the engines', for flat beats.
__all__ = list(engines_host.__all__)

#: The designs this host model verifies (testbench: :mod:`accelgen.verif.tb_systolic`).
VERIFIES = ("systolic",)
#: The arrays ``user_jobs`` reads (``accelgen run --inputs``).
USER_INPUTS = ("a", "b")


def _flat(beats: dict) -> dict:
    """Engine beats (``depth = 1``) as the array's flat beats."""
    return {"a_beats": beats["a_beats"][:, :, 0], "b_beats": beats["b_beats"][:, 0, :], "last": beats["last"]}


def _nested(beats: dict) -> dict:
    """The array's flat beats as engine beats with ``depth = 1``."""
    return {"a_beats": beats["a_beats"][:, :, None], "b_beats": beats["b_beats"][:, None, :], "last": beats["last"]}


def _flat_jobs(jobs: list[dict]) -> list[dict]:
    return [dict(job, inputs=_flat(job["inputs"])) for job in jobs]


def matrices_to_beats(a, b, rows: int, cols: int) -> dict:
    """Beat arrays (``a_beats``, ``b_beats``, ``last``) for ``a @ b`` on a rows x cols array."""
    return _flat(engines_host.matrices_to_beats(a, b, rows, cols, 1))


def random_beats(params, rng, k_values) -> dict:
    """Random operands over the full code range, one tile per entry of ``k_values``."""
    return _flat(engines_host.random_beats(params, rng, k_values))


def extreme_beats(params, k: int) -> dict:
    """Tiles of constant extreme operands, then one of alternating extremes
    (:func:`accelgen.verif.engines_host.extreme_beats`)."""
    return _flat(engines_host.extreme_beats(params, k))


def expected_rows(params, beats: dict):
    """Golden result rows for a beat stream."""
    return engines_host.expected_rows(params, _nested(beats))


def regression_jobs(params, rng) -> list[dict]:
    """The standard regression of one configuration
    (:func:`accelgen.verif.engines_host.regression_jobs`)."""
    return _flat_jobs(engines_host.regression_jobs(params, rng))


def check(params, jobs: list[dict], outputs: list[dict]) -> list[str]:
    """Compare saved outputs with the golden model and counters; return the problems found."""
    return engines_host.check(params, jobs, outputs, golden_rows=expected_rows)


def user_jobs(params, arrays: dict) -> list[dict]:
    """One job computing ``arrays['a'] @ arrays['b']`` (any M, N, K), tiled onto the array."""
    return _flat_jobs(engines_host.user_jobs(params, arrays))
