"""Parameter validation (API and CLI), the registry, and the CLI's generate/list/error paths."""

# amaranth: UnusedElaboratable=no

import json
import re
import subprocess
import sys

import pytest

from accelgen.generators import all_designs, get_design
from accelgen.generators.export import to_verilog
from accelgen.generators.systolic import SystolicParams
from accelgen.sim.cli import main

BAD_PARAMS = [
    (dict(rows=0), r"rows=0 is out of range: must be an integer in 1\.\.64"),
    (dict(cols=65), r"cols=65 is out of range: must be an integer in 1\.\.64"),
    (dict(a_width=1), r"a_width=1 is out of range: must be an integer in 2\.\.16"),
    (dict(b_width=17), r"b_width=17 is out of range: must be an integer in 2\.\.16"),
    (dict(k_max=0), r"k_max=0 is out of range"),
    (dict(a_signed=1), r"a_signed=1 is not legal: must be true or false"),
    (dict(rows=True), r"rows=True is not legal: must be an integer"),
    (dict(overflow="clip"), r"overflow='clip' is not legal: must be one of 'wrap', 'saturate'"),
    (dict(acc_width=65), r"acc_width=65 is out of range: must be an integer in 2\.\.64"),
    (dict(acc_width=12), r"acc_width=12 can overflow for k_max=256 \(the safe width is 24\); set overflow"),
    (dict(rows=8, out_fifo_depth=4), r"out_fifo_depth=4 is out of range: must be an integer in 8\.\.4096"),
    (dict(counter_width=8), r"counter_width=8 is out of range: must be an integer in 16\.\.64"),
    (dict(mac="wallace"), r"mac='wallace' is not legal: must be one of 'baseline', 'carry_save', 'same_weight_tree'"),
    (dict(mac="same_weight_tree"), r"mac='same_weight_tree' is not legal for the systolic array"),
    (dict(mac="booth_serial"), r"mac='booth_serial' is not legal for the systolic array: .*legal values: 'baseline', 'carry_save'"),
    (dict(mac="carry_save", acc_width=12, overflow="saturate"),
     r"overflow='saturate' is not legal with mac='carry_save': a carry-save accumulator cannot be clamped"),
]


@pytest.mark.parametrize("kwargs,message", BAD_PARAMS)
def test_bad_parameters_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SystolicParams(**kwargs)


# On the command line every value is text: typed values become text, plus text-only mistakes.
CLI_BAD_PARAMS = [
    (kwargs, message) for kwargs, message in BAD_PARAMS
    if not any(isinstance(value, bool) or name == "a_signed" for name, value in kwargs.items())
] + [
    (dict(a_signed="maybe"), r"a_signed='maybe' is not legal: must be true or false"),
    (dict(rows="four"), r"rows='four' is not legal: must be an integer"),
]


@pytest.mark.parametrize("kwargs,message", CLI_BAD_PARAMS)
def test_cli_reports_bad_parameters_in_one_line(kwargs, message, capsys, tmp_path):
    args = [f"-p{name}={value}" for name, value in kwargs.items()]
    assert main(["generate", "systolic", *args, "-o", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelgen: error: ") and err.count("\n") == 1
    assert re.search(message, err)
    assert not list(tmp_path.iterdir())  # nothing written before the error


def test_cli_rejects_unknown_names(capsys):
    assert main(["generate", "systolic", "-p", "depth=3"]) == 2
    assert "unknown parameter 'depth'; legal parameters: a_signed" in capsys.readouterr().err
    assert main(["generate", "nosuchdesign"]) == 2
    err = capsys.readouterr().err
    assert "design='nosuchdesign' is unknown; legal designs: " in err and "systolic" in err
    assert main(["generate", "systolic", "-p", "rows"]) == 2
    assert "must be written NAME=VALUE" in capsys.readouterr().err


def test_console_script_exits_2_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "accelgen.sim", "generate", "systolic", "-p", "rows=99", "-o", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "accelgen: error: rows=99 is out of range: must be an integer in 1..64"


def test_default_acc_width_never_overflows():
    for a_signed in (False, True):
        for b_signed in (False, True):
            for k_max in (1, 2, 255, 256, 257):
                p = SystolicParams(a_width=8, b_width=8, a_signed=a_signed, b_signed=b_signed, k_max=k_max)
                a_vals = (-128, 127) if a_signed else (0, 255)
                b_vals = (-128, 127) if b_signed else (0, 255)
                extremes = [k_max * a * b for a in a_vals for b in b_vals]
                lo, hi = (-(1 << (p.acc_width - 1)), (1 << (p.acc_width - 1)) - 1) if p.acc_signed else (0, (1 << p.acc_width) - 1)
                assert all(lo <= value <= hi for value in extremes)
                # and one bit fewer would not hold them all
                narrower = p.acc_width - 1
                lo1, hi1 = (-(1 << (narrower - 1)), (1 << (narrower - 1)) - 1) if p.acc_signed else (0, (1 << narrower) - 1)
                assert not all(lo1 <= value <= hi1 for value in extremes)


def test_explicit_overflow_allows_narrow_accumulator():
    assert SystolicParams(acc_width=12, overflow="saturate").acc_width == 12
    assert SystolicParams().overflow == "wrap"


def test_registry_finds_systolic_and_defaults_are_valid():
    designs = all_designs()
    assert "systolic" in designs
    for design in designs.values():
        design.params()  # every default configuration validates


def test_from_strings_parses_types():
    p = SystolicParams.from_strings(["rows=2", "a_signed=false", "acc_width=none", "overflow=saturate"])
    assert (p.rows, p.a_signed, p.overflow) == (2, False, "saturate")


def test_generate_writes_verilog_params_and_manifest(tmp_path, capsys):
    assert main(["generate", "systolic", "-p", "rows=2", "-p", "cols=3", "-o", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    params = json.loads((tmp_path / "params.json").read_text())
    assert params["rows"] == 2 and params["cols"] == 3 and params["acc_width"] == 24
    verilog = (tmp_path / manifest["verilog"]).read_text()
    assert f"module {manifest['module']}(" in verilog
    ports = {port["name"]: port for port in manifest["ports"]}
    assert ports["a__payload"]["width"] == 2 * 8 + 1  # rows operands + last
    assert ports["c__payload"]["width"] == 3 * 24 + 1
    assert "/work" not in verilog and "src =" not in verilog  # reproducible: no source paths


def test_export_is_reproducible_and_names_differ_per_configuration():
    design = get_design("systolic")
    name1, text1 = to_verilog(design, SystolicParams(rows=2))
    name2, text2 = to_verilog(design, SystolicParams(rows=2))
    name3, _ = to_verilog(design, SystolicParams(rows=3))
    assert (name1, text1) == (name2, text2)
    assert name1 != name3


def test_list_shows_parameters(capsys):
    assert main(["list", "-v"]) == 0
    out = capsys.readouterr().out
    assert "systolic:" in out and "rows (int, default 4)" in out
