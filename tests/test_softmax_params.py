# amaranth: UnusedElaboratable=no
"""Parameters of the softmax: derived values, and clear errors for bad values (API and CLI)."""

import pytest

from accelgen.generators import get_design
from accelgen.generators.softmax import Softmax, SoftmaxParams
from accelgen.sim.cli import main
from accelgen.sim.lint import lint_design


def test_defaults_are_derived():
    p = SoftmaxParams(width=16, in_frac=12, out_frac=16, n_max=4096)
    assert p.exp_frac == 16 + 12 + 1 and p.exp_table_bits == 7
    assert p.recip_shift == p.exp_frac + 20 and p.recip_width == 21


@pytest.mark.parametrize(
    "overrides,message",
    [
        (dict(lanes=3), "lanes=3 is not legal: must be a power of two in 1..64"),
        (dict(lanes=128), "lanes=128 is out of range"),
        (dict(n_max=0), "n_max=0 is out of range"),
        (dict(n_max=70000), "n_max=70000 is out of range"),
        (dict(n_max=65536, exp_frac=40, out_frac=20), "n_max=65536 is not representable"),
        (dict(exp_frac=9, n_max=256), "exp_frac=9 cannot meet 1 output LSB for out_frac=8, n_max=256: must be an integer in 13..40"),
        (dict(approx="fast"), "approx='fast' is not legal"),
        (dict(approx="ibert", width=16, in_frac=12), "approx='ibert' is tabulated: width=16 is out of range"),
        (dict(approx="shift", width=16, in_scale_num=3), "in_scale_num=3 is not legal with approx='shift'"),
        (dict(width=17), "width=17 is out of range"),
        (dict(tree_levels=0), "tree_levels=0 is out of range"),
        (dict(tree_levels=7), "tree_levels=7 is out of range"),
    ],
)
def test_bad_parameters_are_refused(overrides, message):
    with pytest.raises(ValueError) as error:
        SoftmaxParams(**overrides)
    assert message in str(error.value)


def test_bad_parameters_from_the_cli(capsys):
    assert main(["generate", "softmax", "-p", "lanes=6"]) == 2
    assert "lanes=6 is not legal: must be a power of two" in capsys.readouterr().err


@pytest.mark.parametrize(
    "overrides",
    [
        dict(lanes=1, n_max=1),
        dict(lanes=4, n_max=200, masking=False, approx="ibert"),
        dict(width=16, in_frac=12, out_frac=16, lanes=2, n_max=64),
        dict(width=16, in_frac=12, out_frac=16, lanes=1, n_max=16, approx="shift"),
        dict(width=8, in_frac=6, in_scale_num=3, lanes=8, n_max=5),
        dict(width=8, lanes=16, n_max=64, tree_levels=1),
        dict(width=16, in_frac=12, out_frac=16, lanes=8, n_max=64, tree_levels=3),
    ],
)
def test_corner_configurations_are_lint_clean(overrides):
    assert lint_design(get_design("softmax"), SoftmaxParams(**overrides)) == []


def test_component_rejects_other_parameter_objects():
    with pytest.raises(TypeError):
        Softmax(dict(lanes=4))


@pytest.mark.parametrize("lanes", [1, 4, 16])
def test_int8_row_latency_is_within_the_target(lanes):
    """A row of N elements: 2*ceil(N/P) + L_recip + 8 cycles or fewer after its last input beat."""
    p = SoftmaxParams(width=8, in_frac=4, out_frac=8, n_max=256, lanes=lanes)
    beats = p.row_beats
    assert p.row_latency(beats) - beats <= 2 * beats + p.recip_latency + 8
    # The model's terms: three passes, the reciprocal and the pipeline stages.
    assert p.row_latency(beats) == 3 * beats + p.recip_latency + p.pipeline_latency


def test_tree_levels_trade_registers_for_latency():
    one, two = (SoftmaxParams(lanes=16, n_max=256, tree_levels=k) for k in (1, 2))
    assert (one.max_tree_latency, one.sum_tree_latency) == (4, 5)
    assert (two.max_tree_latency, two.sum_tree_latency) == (2, 3)
    assert one.pipeline_latency - two.pipeline_latency == 4


def test_wide_normalize_operands_are_multiplied_in_pieces():
    assert SoftmaxParams(width=8, n_max=256).multiply_latency == 1  # 18-bit e, 13-bit reciprocal
    wide = SoftmaxParams(width=16, in_frac=12, out_frac=16, n_max=256)
    assert (wide.exp_frac + 1, wide.recip_width, wide.multiply_latency) == (26, 21, 2)
