"""Property-based fuzzing of every registered parameter class (Hypothesis; docs/robustness.md).

Any drawn combination either raises a ``ValueError`` that names one of the parameters it was
given, or is a valid object whose every field (derived ones too) is in its declared range and
which elaborates, exports and lints clean. A sampled configuration per family also simulates
bit-exact. The default profile is small and derandomized; ``HYPOTHESIS_PROFILE=long`` hunts.
Every combination the fuzz found broken is kept in :data:`REGRESSIONS`.
"""

# amaranth: UnusedElaboratable=no

import dataclasses
import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelgen.generators import DesignParams, all_designs, get_design, param
from accelgen.sim import flow
from accelgen.sim.lint import lint_design
from param_strategies import SIZE_CAPS, examples, field_specs, illegal_values, legal_values, names_in, param_kwargs

DESIGNS = list(all_designs())


def _construct(name: str, kwargs: dict):
    """The parameters object, or ``None`` after checking the ``ValueError`` names a given field."""
    design = get_design(name)
    try:
        return design.params(**kwargs)
    except ValueError as error:
        message = str(error)
        assert "\n" not in message, f"multi-line error for {kwargs}: {message!r}"
        assert names_in(message, kwargs), f"{name}{kwargs}: the error names none of the given parameters: {message}"
        return None


def _assert_in_declared_range(params) -> None:
    for spec in field_specs(type(params)):
        value = getattr(params, spec.name)
        if value is None:
            # Optional fields that do not apply to this configuration stay None (gelu's seg_frac
            # with method='table', pim_ctrl's mutate).
            assert spec.optional, f"{spec.name} is None"
            continue
        if spec.kind is int:
            assert isinstance(value, int) and not isinstance(value, bool), f"{spec.name}={value!r} is not an int"
            assert spec.min is None or value >= spec.min, f"{spec.name}={value} is below its minimum {spec.min}"
            assert spec.max is None or value <= spec.max, f"{spec.name}={value} is above its maximum {spec.max}"
        if spec.choices is not None:
            assert value in spec.choices, f"{spec.name}={value!r} is not one of {spec.choices}"
    json.dumps(params.to_dict())
    assert len(params.digest()) == 10


@pytest.mark.parametrize("name", DESIGNS)
@settings(max_examples=examples(60))
@given(data=st.data())
def test_construction_over_the_full_range(name, data):
    """Any combination of legal field values: a named ``ValueError`` or a fully in-range object."""
    kwargs = data.draw(param_kwargs(name, get_design(name).params, capped=False), label="kwargs")
    params = _construct(name, kwargs)
    if params is not None:
        _assert_in_declared_range(params)


@pytest.mark.parametrize("name", DESIGNS)
@settings(max_examples=examples(4))
@given(data=st.data())
def test_elaborates_exports_and_lints_clean(name, data):
    """A drawn combination (sizes capped by ``SIZE_CAPS``) is refused by name or lints clean."""
    kwargs = data.draw(param_kwargs(name, get_design(name).params, capped=True), label="kwargs")
    params = _construct(name, kwargs)
    if params is not None:
        assert lint_design(get_design(name), params) == []


@pytest.mark.parametrize("name", DESIGNS)
@settings(max_examples=examples(40))
@given(data=st.data())
def test_out_of_range_value_names_parameter_and_value(name, data):
    """A value just outside a field's range, a wrong choice or a wrong type: ``ValueError`` with
    ``name=value`` in its message."""
    spec = data.draw(st.sampled_from(field_specs(get_design(name).params)), label="field")
    value = data.draw(illegal_values(spec), label="value")
    with pytest.raises(ValueError) as caught:
        get_design(name).params(**{spec.name: value})
    assert f"{spec.name}={value!r}" in str(caught.value)


@pytest.mark.parametrize("name", DESIGNS)
@settings(max_examples=examples(40))
@given(data=st.data())
def test_command_line_text_is_parsed_or_refused_by_name(name, data):
    """``-p NAME=TEXT`` with arbitrary text: a valid object or a ``ValueError`` naming the field."""
    params_class = get_design(name).params
    spec = data.draw(st.sampled_from(field_specs(params_class)), label="field")
    text = data.draw(st.one_of(legal_values(spec).map(str), st.text(max_size=6)), label="text")
    try:
        params = params_class.from_strings([f"{spec.name}={text}"])
    except ValueError as error:
        assert spec.name in names_in(str(error), [spec.name]) or names_in(str(error), [f.name for f in
                                                                                       field_specs(params_class)])
    else:
        _assert_in_declared_range(params)


#: Combinations the fuzz found broken, kept as regressions: ``(design, kwargs, expected)``,
#: where ``expected`` is a substring of the ``ValueError`` (``None``: the design must lint clean).
REGRESSIONS = [
    # softmax derived exp_frac=3, below its legal minimum 4.
    ("softmax", dict(out_frac=2, n_max=1), None),
    # attention derived exp_table_bits=11, above its legal maximum 10 (small array: lints in seconds).
    ("attention", dict(p_bits=15, l_extra_bits=8, br=2, bc=2, d_max=2, n_max=8), None),
    # gemm derived a_buffer_words=16842495, above its legal maximum 2**24 (and rows=1 with the
    # largest m_max, k_max asked for a 2**32-word buffer).
    ("gemm", dict(m_max=1025, k_max=65535), "m_max=1025, k_max=65535 are out of range together"),
    ("gemm", dict(rows=1, m_max=65536, k_max=65536), "lower m_max or k_max"),
    # attention whose logit scale S*log2(e) rounds to 0: the exp's pipelined constant multiply
    # had no partial products (IndexError in split_product).
    ("attention", dict(br=1, bc=1, d_max=1, n_max=4, score_num=1, score_frac=40), None),
    ("attention", dict(p_bits=4, alpha_frac=21, out_frac=4, br=1, q_width=8, score_frac=39, counter_width=25,
                       out_width=16, score_num=3, interface="axis", bc=1, d_max=1, exp_table_bits=6,
                       mac="carry_save", l_extra_bits=0, exp_lanes=1, axis_reset="areset", v_width=8, o_guard=1,
                       n_max=8058, k_width=3), None),
    # pim_ctrl with m_max or k_max = 2**n - 1: the job check compared a field with a bound it
    # cannot exceed (Verilator CMPCONST).
    ("pim_ctrl", dict(m_max=1, k_max=64), None),
    ("pim_ctrl", dict(m_max=1023, k_max=64), None),
    ("pim_ctrl", dict(m_max=8, k_max=1023), None),
    # pim_ctrl with a one-word vector buffer (k_max <= lanes): a zero-width memory address,
    # exported as [-1:0] (Verilator ASCRANGE).
    ("pim_ctrl", dict(m_max=2, k_max=1), None),
    ("pim_ctrl", dict(m_max=2, k_max=16, reduce_channels=True, channels=2), None),
    # silu hard_sigmoid with in_frac >= width - 2: the biased input is never negative, and the
    # clamp's comparison with 0 was constant (Verilator UNSIGNED).
    ("silu", dict(lanes=1, approx="hard_sigmoid", width=5), None),
    ("silu", dict(lanes=2, approx="hard_sigmoid", width=8, in_frac=7, out_width=6, out_frac=3), None),
    # unsigned operands with overflow='saturate': the clamp compared an unsigned sum with 0
    # (Verilator UNSIGNED).
    ("tree", dict(a_signed=False, b_signed=False, overflow="saturate", acc_width=2, depth=1, cols=1, k_max=1,
                  b_width=2), None),
    ("systolic", dict(rows=2, cols=2, a_signed=False, b_signed=False, acc_width=9, overflow="saturate"), None),
]


@pytest.mark.parametrize("name, kwargs, expected", REGRESSIONS)
def test_found_regressions(name, kwargs, expected):
    """Each combination the fuzz once found broken now fails cleanly, or lints clean."""
    if expected is not None:
        with pytest.raises(ValueError, match=expected):
            get_design(name).params(**kwargs)
        return
    design = get_design(name)
    params = design.params(**kwargs)
    _assert_in_declared_range(params)
    assert lint_design(design, params) == []


#: Tighter caps for the simulated sample (its regression jobs grow with these).
SIM_CAPS = {"k_max": 16, "m_max": 8, "n_max": 16, "d_max": 4, "width": 10, "out_fifo_depth": 16,
            "a_buffer_words": 256, "b_buffer_words": 256, "c_buffer_words": 256, "o_fifo_beats": 32}


def sampled_configuration(name: str, seed: int):
    """A legal configuration of ``name`` drawn from its fields' edges (reproducible from ``seed``):
    each field kept at its default or set to an edge value (the capped ones always set)."""
    design = get_design(name)
    rng = random.Random(f"{name}:{seed}")
    caps = SIZE_CAPS.get(name, {}) | SIM_CAPS
    for _ in range(200):
        kwargs = {}
        for spec in field_specs(design.params):
            # Capped sizes are always drawn (their defaults may be large); mutate builds a wrong design.
            if spec.name == "mutate" or (spec.name not in caps and rng.random() < 0.6):
                continue
            if spec.choices is not None:
                kwargs[spec.name] = rng.choice(spec.choices)
            elif spec.kind is bool:
                kwargs[spec.name] = rng.random() < 0.5
            elif spec.kind is int and not (spec.optional and spec.name not in caps):
                hi = min(spec.max, caps.get(spec.name, spec.max))
                kwargs[spec.name] = rng.choice(sorted({spec.min, spec.min + 1, hi - 1, hi} & set(range(spec.min, hi + 1))))
        try:
            return design.params(**kwargs)
        except ValueError:
            continue
    return design.params()


@pytest.mark.cocotb
@pytest.mark.parametrize("name", DESIGNS)
def test_sampled_configuration_simulates_bit_exact(name):
    """One sampled edge configuration per family through the whole regression on Verilator."""
    params = sampled_configuration(name, seed=0)
    print(f"{name} {params.to_dict()}")
    verdict = flow.verify(get_design(name), params, seed=1)
    assert verdict.problems == []


@dataclasses.dataclass(frozen=True)
class _OverDerived(DesignParams):
    """A family whose resolve() derives a value past its field's maximum."""

    size: int = param(4, "a size", min=1, max=64)
    depth: int | None = param(None, "derived: 32 * size", min=1, max=128)

    def resolve(self):
        return {"depth": 32 * self.size} if self.depth is None else {}


def test_a_derived_value_outside_its_range_is_refused_by_name():
    """The base class checks derived values against their declared range too."""
    assert _OverDerived(size=4).depth == 128
    with pytest.raises(ValueError, match=r"depth=160 \(derived\) is out of range: must be an integer in 1\.\.128"):
        _OverDerived(size=5)
