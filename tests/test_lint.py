"""Generated Verilog passes `verilator --lint-only -Wall` with the documented waivers only."""

# amaranth: UnusedElaboratable=no

import pytest

from accelgen.generators import all_designs, export, get_design
from accelgen.sim.lint import lint_design


@pytest.mark.parametrize("name", list(all_designs()))
def test_default_configuration_is_lint_clean(name):
    design = get_design(name)
    assert lint_design(design, design.params()) == []


@pytest.mark.parametrize(
    "overrides",
    [
        dict(rows=1, cols=1, k_max=1),
        dict(rows=3, cols=5, a_signed=False, b_signed=False, a_width=2, b_width=16),
        dict(rows=2, cols=2, acc_width=9, overflow="saturate", a_signed=False),
        dict(rows=5, cols=3, out_fifo_depth=5),
        dict(rows=3, cols=2, k_max=16, mac="carry_save", register_partials=True),
        dict(rows=5, cols=2, k_max=16, mac="carry_save", row_select="mux_tree"),
    ],
)
def test_corner_configurations_are_lint_clean(overrides):
    design = get_design("systolic")
    assert lint_design(design, design.params(**overrides)) == []


def test_lint_catches_a_real_warning(tmp_path, monkeypatch):
    """The lint path reports warnings: a design with an unwaived one must not pass."""
    design = get_design("systolic")
    original = export.to_verilog
    # Append a module with a width truncation (WIDTHTRUNC is not waived).
    monkeypatch.setattr(
        "accelgen.sim.lint.to_verilog",
        lambda d, p: (lambda name, text: (name, text.replace(
            "endmodule", "  wire [3:0] lint_probe;\n  assign lint_probe = 8'hff;\nendmodule", 1)))(*original(d, p)),
    )
    problems = lint_design(design, design.params(rows=1, cols=1))
    assert any("WIDTHTRUNC" in line for line in problems)


@pytest.mark.parametrize(
    "overrides",
    [
        dict(br=1, bc=1, d_max=1, n_max=1),
        dict(br=3, bc=2, d_max=3, n_max=9, l_extra_bits=0, p_bits=4),
        dict(br=5, bc=8, d_max=3, n_max=7, exp_lanes=4, q_width=16, k_width=2, v_width=16, p_bits=16, alpha_frac=8,
             out_width=16, out_frac=8),
        dict(br=2, bc=3, d_max=4, n_max=16, mac="carry_save"),
    ],
)
def test_attention_corner_configurations_are_lint_clean(overrides):
    design = get_design("attention")
    assert lint_design(design, design.params(**overrides)) == []
