# amaranth: UnusedElaboratable=no
"""The tpe benchmark's bookkeeping (no synthesis unless marked): configurations, the paper-RTL
comparison plumbing, area x delay ratios, the Pareto front, the report."""

import json
from pathlib import Path

import pytest

from accelgen.generators import get_design
from accelgen.generators.export import write_design
from accelgen.sim.bench import tpe, tpe_compare, tpe_sweep
from accelgen.synth.flows import synth_ecp5, synth_generic


def test_every_engine_and_mac_style_is_benchmarked():
    for quick in (True, False):
        points = tpe.engine_points(quick)
        pairs = {(point.design, point.mac) for point in points}
        for design, macs in tpe.ENGINE_MACS.items():
            assert {(design, mac) for mac in macs} <= pairs
        for point in points:
            assert point.params.a_width == 8 and point.params.mac == point.mac  # valid configurations
        assert len({point.slug for point in points}) == len(points)


def test_sweep_points_are_valid_and_distinct():
    points = tpe_sweep.sweep_points((2, 4))
    assert len({point.slug for point in points}) == len(points)
    assert all(point.params for point in points)


def test_pareto_front():
    points = [(10, 1.0), (20, 3.0), (15, 0.5), (30, 3.0), (40, 5.0)]
    assert tpe_sweep.pareto_front(points) == [0, 1, 4]


def test_area_delay_ratios_against_the_baseline():
    rows = [
        {"design": "tree", "label": "t", "mac": "baseline", "generic": {"gates": 100, "logic_depth": 40},
         "ecp5_nodsp": {"pnr_comb": 50, "fmax_mhz": 100.0}},
        {"design": "tree", "label": "t", "mac": "carry_save", "generic": {"gates": 110, "logic_depth": 20},
         "ecp5_nodsp": {"lut4": 40, "ccu2": 0, "fmax_mhz": 160.0}},
    ]
    tpe.add_ratios(rows)
    assert rows[1]["generic_area_delay_vs_baseline"] == pytest.approx(110 * 20 / (100 * 40))
    assert rows[1]["ecp5_area_delay_vs_baseline"] == pytest.approx((40 / 160) / (50 / 100))
    result = {"quick": True, "synthesis": rows, "pe": rows, "throughput": []}
    text = "\n".join(tpe.render_markdown(result))
    assert "| tree | t | carry_save | 110 |" in text and "0.55" in text
    assert tpe.failures(result) == []


def test_engines_measured_again_replace_their_rows_and_are_named(tmp_path, monkeypatch):
    """``--engines systolic,pe`` re-measures those rows alone: they replace their old rows, the
    ratios are recomputed, the others keep their figures, and the report names the new ones."""
    def row(design, label, mac, gates):
        return {"design": design, "label": label, "mac": mac, "generic": {"gates": gates, "logic_depth": 10}}

    stored = [row("systolic", "OS 8x8", "baseline", 100), row("systolic", "OS 8x8", "carry_save", 90),
              row("tree", "tree K16xN4", "baseline", 70)]
    bench = tmp_path / "tpe.json"
    bench.write_text(json.dumps({"result": {"quick": False, "synthesis": stored, "pe": [], "throughput": []}}))
    monkeypatch.setattr(tpe, "synthesize_point", lambda point, out: row(point.design, point.label, point.mac, 50))
    monkeypatch.setattr(tpe, "pe_rows", lambda out: [row("pe", "OS PE", "baseline", 9)])
    monkeypatch.setattr(tpe, "brief", lambda row: "")
    result = tpe.update_engines(bench, tmp_path, ["systolic", "pe"])["result"]
    assert json.loads(bench.read_text())["result"] == result
    systolic = [r for r in result["synthesis"] if r["design"] == "systolic"]
    assert {(r["label"], r["mac"]) for r in systolic} == {(p.label, p.mac) for p in tpe.engine_points(False)
                                                          if p.design == "systolic"}
    assert all(r["generic"]["gates"] == 50 and r["measured_at"] for r in systolic)
    tree = result["synthesis"][2]  # untouched
    assert tree["generic"] == stored[2]["generic"] and "measured_at" not in tree
    assert result["synthesis"][1]["generic_area_delay_vs_baseline"] == 1.0
    assert result["pe"][0]["generic"]["gates"] == 9
    text = "\n".join(tpe.render_markdown(result))
    assert "OS 8x8 carry_save" in text and "the others with the whole section" in text
    with pytest.raises(ValueError, match=r"designs=\['gemm'\] is not legal"):
        tpe.update_engines(bench, tmp_path, ["gemm"])


def _fake_checkout(root):
    """Empty files where the paper's repository keeps its RTL (layout only)."""
    for config in tpe_compare.anchor_configs(root):
        for path in config["files"]:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("// placeholder\n")
    for folder in ("OPT1/systolic_array_os/opt1_pe", "OPT1/cube/array_mac_based/pe", "OPT1/cube/array_opt1_based/pe"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / folder / "unit.v").write_text("// placeholder\n")
        (root / folder / "sim").mkdir(exist_ok=True)
        (root / folder / "sim" / "tb.sv").write_text("// testbench, not a design source\n")
    (root / "OPT2" / "DW02_tree.sv").write_text("a\n// synopsys translate_off\nb\n// synopsys translate_on\nc\n")


def test_anchor_configurations_find_their_sources(tmp_path):
    _fake_checkout(tmp_path)
    configs = tpe_compare.anchor_configs(tmp_path)
    names = [config["name"] for config in configs]
    assert set(names) == {"mac_pe", "opt1_pe", "os_mac4", "os_opt1_4", "os_mac8", "os_opt1_8", "opt2_n4", "opt2_n16",
                          "opt4c_n16", "opt4c_n32"}
    for config in configs:
        files = config["files"]
        assert files and all(path.exists() for path in files), config["name"]
        assert not any("sim" in path.parts for path in files)
        assert len({path.name for path in files}) == len(files)  # staged side by side
        for target in config["accelgen"]:
            assert isinstance(target, str) or target.params  # a valid accelgen equivalent
    macs = {config["name"]: [target.mac for target in config["accelgen"] if not isinstance(target, str)]
            for config in configs}
    assert macs["opt4c_n16"][0] == "booth_serial" and macs["opt2_n4"][0] == "same_weight_tree"
    copy = tpe_compare._dw02_copy(tmp_path, tmp_path / "work")
    assert copy.read_text() == "a\nb\nc\n"


def test_compare_refuses_a_folder_that_is_not_the_checkout(tmp_path):
    with pytest.raises(ValueError, match="does not look like a High-Performance-Tensor-Processing-Engines checkout"):
        tpe_compare.run_compare(tmp_path, tmp_path / "out")


def test_missing_anchor_files_are_reported_not_synthesized(tmp_path):
    config = tpe_compare.anchor_configs(tmp_path, quick=True)[0]
    row = tpe_compare._anchor_row(config, tmp_path, tmp_path / "work", {"flows": ("generic",), "seeds": None,
                                                                         "freq_mhz": 100.0})
    assert row["error"].startswith("missing files: ")


def test_compare_measures_the_chosen_side_and_keeps_the_other_cached(tmp_path, monkeypatch):
    """``--side accelgen`` re-measures accelgen's rows only; the paper's come from its cache, and
    a cached paper entry is reused unless its key (sources, tools, flows, seeds) changes."""
    _fake_checkout(tmp_path / "hpte")
    calls = []

    def fake_flows(verilog, top, workdir, **kwargs):
        calls.append("paper" if "paper" in Path(workdir).parts else "accelgen")
        return {"generic": {"gates": 10 + len(calls), "ff": 1, "logic_depth": 2, "critical_path": None}}

    monkeypatch.setattr(tpe_compare, "mac_style_flows", fake_flows)
    monkeypatch.setattr(tpe_compare, "export_point", lambda point, out: (Path(out) / "x.v", "top"))
    out = tmp_path / "out"
    tpe_compare.run_compare(tmp_path / "hpte", out, side="paper", only=["os_mac4"])
    tpe_compare.run_compare(tmp_path / "hpte", out, side="both", only=["os_mac4"])
    assert calls == ["paper", "accelgen"]  # the paper's second run came from its cache
    first = json.loads((out / "tpe_compare.json").read_text())["rows"][0]
    tpe_compare.run_compare(tmp_path / "hpte", out, side="accelgen", only=["os_mac4"])
    again = json.loads((out / "tpe_compare.json").read_text())["rows"][0]
    assert again["paper"] == first["paper"] and again["accelgen"] != first["accelgen"]
    (tmp_path / "hpte" / "OPT1/systolic_array_os/array_mac_based/top.v").write_text("// another version\n")
    tpe_compare.run_compare(tmp_path / "hpte", out, side="paper", only=["os_mac4"])
    assert calls.count("paper") == 2  # changed sources: measured again
    with pytest.raises(ValueError, match="unknown configuration"):
        tpe_compare.run_compare(tmp_path / "hpte", out, only=["os_mac99"])


def test_compare_runs_in_the_order_named_and_leaves_the_largest_unplaced(tmp_path, monkeypatch):
    """``only`` sets the order; tree K16xN16 runs the generic flow alone on both sides and its
    table cells say why it has no Fmax."""
    _fake_checkout(tmp_path / "hpte")
    calls = []

    def fake_flows(verilog, top, workdir, *, flows, **kwargs):
        calls.append((Path(workdir).parts[-1] if "paper" in Path(workdir).parts else "accelgen", tuple(flows)))
        return {"generic": {"gates": 10, "ff": 1, "logic_depth": 2, "critical_path": None}}

    monkeypatch.setattr(tpe_compare, "mac_style_flows", fake_flows)
    monkeypatch.setattr(tpe_compare, "export_point", lambda point, out: (Path(out) / "x.v", "top"))
    out = tmp_path / "out"
    tpe_compare.run_compare(tmp_path / "hpte", out, side="paper", only=["opt2_n16", "os_mac4"])
    assert calls == [("opt2_n16", ("generic",)), ("os_mac4", tpe_compare.FLOWS)]
    tpe_compare.run_compare(tmp_path / "hpte", out, side="accelgen", only=["opt2_n16"])
    assert calls[2:] == [("accelgen", ("generic",))] * 3  # same_weight_tree, carry_save, pipeline=3
    rows = {row["name"]: row for row in json.loads((out / "tpe_compare.json").read_text())["rows"]}
    note = rows["opt2_n16"]["paper"]["ecp5_nodsp"]["note"]
    assert note.startswith("not placed") and all(r["ecp5_nodsp"]["note"] == note for r in rows["opt2_n16"]["accelgen"])
    assert "ecp5_nodsp" not in rows["os_mac4"]["paper"]
    assert note in (out / "tpe_compare.md").read_text()


def test_compare_table_shows_both_sides_fmax_seeds_and_failures():
    path = {"start": "a_reg[3]", "end": "$abc$1$new_n9", "end_ff": "acc[31]", "length": 20}
    compare = {"seeds": [1, 2, 3], "rows": [{"name": "opt2_n16", "paper": {
        "generic": {"gates": 100, "ff": 5, "logic_depth": 30, "critical_path": path},
        "ecp5_nodsp": {"lut4": 7, "ccu2": 1, "ff": 5, "fmax_mhz": None, "pnr_error": "ERROR: Unable to find legal placement",
                       "fmax_seeds": [{"seed": 1, "fmax_mhz": None, "error": "ERROR: Unable to find legal placement"}]}},
        "accelgen": [{"label": "tree x same_weight_tree", "generic": {"gates": 50, "ff": 4, "logic_depth": 30},
                      "ecp5_nodsp": {"lut4": 6, "ccu2": 0, "ff": 4, "fmax_mhz": 120.0, "fmax_seeds": [
                          {"seed": 1, "fmax_mhz": 110.0}, {"seed": 2, "fmax_mhz": 120.0}, {"seed": 3, "fmax_mhz": 130.0}],
                          "critical_path": {"start": "x_TRELLIS_FF_Q", "end": "y_TRELLIS_FF_Q_1", "delay_ns": 8.3}}}]}]}
    text = "\n".join(tpe.render_compare(compare))
    assert "failed: ERROR: Unable to find legal placement" in text
    assert "**120.0** (110.0 / 120.0 / 130.0)" in text
    assert "`a_reg[3]` → `acc[31]`" in text and "`x_TRELLIS_FF_Q` → `y_TRELLIS_FF_Q_1`" in text
    assert "| 1500 | 0.50 |" in text  # accelgen's gates·depth and its ratio to the paper's


@pytest.mark.synth
def test_flows_map_to_gates_and_without_dsps(tmp_path):
    """The options the benchmark adds to the flows: a 2-input gate library, -nodsp."""
    design = get_design("matrix2d")
    params = design.params(rows=1, cols=1, a_width=4, b_width=4, k_max=2, counter_width=16)
    manifest = write_design(design, params, tmp_path / "d")
    verilog = tmp_path / "d" / manifest["verilog"]
    generic = synth_generic(verilog, manifest["module"], tmp_path / "g", abc_gates="AND,NAND,OR,NOR,XOR,XNOR,MUX")
    gates = {cell for cell in generic["cells_by_type"] if "DFF" not in cell and not cell.startswith("$scope")}
    assert gates <= {f"$_{name}_" for name in ("AND", "NAND", "OR", "NOR", "XOR", "XNOR", "MUX", "NOT")}
    with_dsp = synth_ecp5(verilog, manifest["module"], tmp_path / "e", place=False)
    no_dsp = synth_ecp5(verilog, manifest["module"], tmp_path / "n", nodsp=True, place=False)
    assert with_dsp["dsp_mult18"] == 1 and no_dsp["dsp_mult18"] == 0 and no_dsp["lut4"] > with_dsp["lut4"]
    assert no_dsp["note"] == "placement not requested" and no_dsp["fmax_mhz"] is None


@pytest.mark.parametrize("target", ["generic", "ecp5"])
def test_pareto_plot_is_written(target, tmp_path):
    pytest.importorskip("matplotlib")
    rows = [
        {"design": "tree", "config": f"tree {n}", "mac": mac, "multipliers": n, "gates": 100 * n + i, "ff": 10,
         "logic_depth": 20 + i, "logic_cells": 50 * n + i, "fmax_mhz": 100.0 + 10 * i, "gmacs": n * (100.0 + 10 * i) / 1000,
         "macs_per_gate_delay": n / (20 + i)}
        for n in (2, 4) for i, mac in enumerate(tpe.ENGINE_MACS["tree"])
    ]
    tpe_sweep._pareto_plot(rows, tmp_path / "pareto.png", target)
    assert (tmp_path / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_rows_are_rendered_with_their_critical_path():
    scale = [{"design": "systolic", "label": "OS 16x16", "mac": mac,
              "generic": {"gates": gates, "ff": 9, "logic_depth": depth,
                          "critical_path": {"start": "a[1]", "end": "$abc$2$n", "end_ff": f"pe_0_0.acc_{mac}[3]"}}}
             for mac, gates, depth in (("baseline", 200, 60), ("carry_save", 180, 30))]
    tpe.add_ratios(scale)
    result = {"quick": False, "synthesis": [], "pe": [], "throughput": [], "scale": scale}
    text = "\n".join(tpe.render_markdown(result))
    assert "| systolic | OS 16x16 | carry_save | 180 | 9 | 30 | 5400 | 0.45 | `a[1]` → `pe_0_0.acc_carry_save[3]` |" in text
    scale[1]["generic"] = {}
    assert tpe.failures(result) == ["OS 16x16 carry_save: no generic synthesis result"]
