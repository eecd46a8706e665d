"""Hypothesis strategies for every registered parameter class, built from the fields' own
metadata (type, ``min`` / ``max``, ``choices``, optional ``None`` = derived), and the Hypothesis
profiles of the fuzz tests (see docs/robustness.md).

Legal values lean towards the edges (``min``, ``min + 1``, ``max - 1``, ``max`` and small
values). Sizes that make a design slow to elaborate and lint are capped per family
(:data:`SIZE_CAPS`); every other field draws from its full legal range.
"""

import dataclasses
import os
import typing

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from accelgen.generators.params import _base_type

__all__ = ["PROFILE", "examples", "SIZE_CAPS", "FieldSpec", "field_specs", "legal_values", "illegal_values", "param_kwargs", "names_in"]

# Profiles: "ci" (default) is derandomized and small, so the suite's run time and its examples
# are the same on every run; "long" hunts with many fresh random examples.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(PROFILE)
#: Examples per test under the "long" profile, as a multiple of the default run's.
LONG_FACTOR = int(os.environ.get("ACCELGEN_FUZZ_FACTOR", "50"))


def examples(n: int) -> int:
    """``max_examples`` of a fuzz test: ``n`` by default, ``n * LONG_FACTOR`` under the long profile."""
    return n * LONG_FACTOR if PROFILE == "long" else n

#: Upper bounds of the fields that set a design's size (array dimensions, lanes, buffer and
#: FIFO depths, the M/N/K and row bounds that size buffers), so that a drawn configuration
#: elaborates, exports and lints in seconds. Only the elaboration fuzz applies them; the
#: construction fuzz draws every field from its full legal range.
SIZE_CAPS = {
    "systolic": {"rows": 4, "cols": 4, "out_fifo_depth": 64},
    "systolic_ws": {"rows": 4, "cols": 4, "out_fifo_depth": 64},
    "tree": {"depth": 8, "cols": 4, "out_fifo_depth": 64},
    "matrix2d": {"rows": 4, "cols": 4, "out_fifo_depth": 64},
    "cube3d": {"rows": 3, "cols": 3, "depth": 4, "out_fifo_depth": 64},
    "gemm": {"rows": 4, "cols": 4, "depth": 4, "m_max": 64, "n_max": 64, "k_max": 64,
             "a_buffer_words": 1024, "b_buffer_words": 1024, "c_buffer_words": 1024},
    "softmax": {"lanes": 8, "n_max": 256},
    "exp": {"lanes": 8},
    "gelu": {"lanes": 4},
    "silu": {"lanes": 4},
    "attention": {"br": 4, "bc": 4, "d_max": 8, "exp_lanes": 4, "o_fifo_beats": 64},
    "pim_ctrl": {"channels": 2, "n_acc": 4, "m_max": 1024, "k_max": 1024, "row_bytes": 2048},
}


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One parameter field as the base class validates it."""

    name: str
    kind: type
    optional: bool
    min: int | None
    max: int | None
    choices: tuple | None


def field_specs(params_class) -> list[FieldSpec]:
    """The fields of a parameter class with their type and legal range."""
    hints = typing.get_type_hints(params_class)
    specs = []
    for field in dataclasses.fields(params_class):
        kind, optional = _base_type(hints[field.name])
        meta = field.metadata
        specs.append(FieldSpec(field.name, kind, optional, meta["min"], meta["max"], meta["choices"]))
    return specs


def _edge_integers(lo: int, hi: int):
    """Integers in ``lo..hi``, half of them from the edges, powers of two and one less."""
    # Powers of two and one less: where a field's bit width changes (a bound 2**n - 1 fills n bits).
    powers = [v for n in range(1, 25) for v in ((1 << n) - 1, 1 << n)]
    edges = sorted({v for v in (lo, lo + 1, lo + 2, hi - 1, hi, *powers) if lo <= v <= hi})
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def legal_values(spec: FieldSpec, cap: int | None = None):
    """Values the field accepts on its own (capped at ``cap`` if given); ``None`` for a derived field."""
    if spec.choices is not None:
        values = st.sampled_from(spec.choices)
    elif spec.kind is bool:
        values = st.booleans()
    elif spec.kind is int:
        lo = spec.min if spec.min is not None else 0
        hi = spec.max if spec.max is not None else lo + 1024
        values = _edge_integers(lo, min(hi, cap) if cap is not None else hi)
    else:
        values = st.text(max_size=8)
    return st.one_of(st.none(), values) if spec.optional else values


def illegal_values(spec: FieldSpec):
    """Values the base class must refuse for this field alone: just outside the range, a wrong
    choice, a wrong type."""
    wrong_type = [2.5, "3", [1]]
    if spec.kind is int:
        outside = [v for v in (spec.min - 1 if spec.min is not None else None,
                               spec.max + 1 if spec.max is not None else None) if v is not None]
        return st.sampled_from(outside + [True, False] + wrong_type)
    if spec.kind is bool:
        return st.sampled_from([0, 1, "true", None if not spec.optional else 2.5, 2.5])
    if spec.choices is not None:
        return st.sampled_from(["bogus", spec.choices[0].upper() + "_", 3, True])
    return st.sampled_from(wrong_type)


def param_kwargs(design: str, params_class, *, capped: bool):
    """Keyword arguments for ``params_class``: each field left at its default or drawn (the
    fields of :data:`SIZE_CAPS` always drawn, under their caps, when ``capped``)."""
    caps = SIZE_CAPS.get(design, {}) if capped else {}
    drawn = {spec.name: legal_values(spec, caps.get(spec.name)) for spec in field_specs(params_class)}
    # A capped field is always drawn: its default may be above the cap (attention's br=16).
    required = {name: drawn.pop(name) for name in caps}
    return st.fixed_dictionaries(required, optional=drawn)


def names_in(message: str, names) -> list[str]:
    """The parameter names that appear in an error message as a whole word (``rows``, not the
    ``rows`` of ``tile_rows``)."""
    found = []
    for name in names:
        start = message.find(name)
        while start >= 0:
            before = message[start - 1] if start else " "
            end = start + len(name)
            after = message[end] if end < len(message) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                found.append(name)
                break
            start = message.find(name, start + 1)
    return found
