"""Smoke test of the benchmark's throughput measurement (no synthesis).

Runs the function behind the bench's throughput table on a tiny array, so a change that
breaks the measurement or its bookkeeping shows up without running the full benchmark.
"""

import pytest

from accelgen.generators.systolic import SystolicParams
from accelgen.generators.attention import AttentionParams
from accelgen.sim.bench import all_sections
from accelgen.sim.bench import attention as attention_bench
from accelgen.sim.bench import soak as soak_bench
from accelgen.sim.bench.systolic import ThroughputCase, throughput_rows


@pytest.mark.cocotb
def test_throughput_row_matches_the_analytic_model(seed, tmp_path):
    params = SystolicParams(rows=2, cols=2, k_max=4)
    case = ThroughputCase(tiles=3, k=4)
    (row,) = throughput_rows(params, [case], seed=seed, workdir=tmp_path)

    pes = params.rows * params.cols
    assert row["bit_exact"] and row["problems"] == []
    assert row["rtl_cycles"] == params.busy_cycles(tiles=case.tiles, k=case.k) == row["analytic_cycles"]
    assert row["rtl_vs_analytic_pct"] == 0.0
    assert row["mac_count"] == row["expected_macs"] == case.tiles * case.k * pes
    assert row["ideal_cycles"] == params.ideal_cycles(case.tiles * params.rows, params.cols, case.k)
    # Measured utilization is MACs over cell-cycles, i.e. ideal over measured cycles here.
    assert row["utilization"] == pytest.approx(row["mac_count"] / (pes * row["rtl_cycles"]))
    assert row["utilization"] == pytest.approx(row["ideal_cycles"] / row["rtl_cycles"])
    assert 0 < row["utilization"] <= 1


def test_sections_are_discovered_and_complete():
    sections = all_sections()
    assert "systolic" in sections
    for name, section in sections.items():
        assert section.name == name
        assert callable(section.run) and callable(section.render) and callable(section.failures)


@pytest.mark.cocotb
def test_attention_rows_accuracy_and_report(seed, tmp_path):
    """The attention section's measurement, accuracy table and report on a tiny configuration."""
    params = AttentionParams(br=2, bc=2, d_max=4, n_max=16)
    (row,) = attention_bench.utilization_rows(params, [("N=6", 6, 5, 3, True)], seed=seed, workdir=tmp_path)
    assert row["bit_exact"] and row["problems"] == [] and row["rtl_cycles"] == row["analytic_cycles"]
    assert 0 < row["utilization"] <= row["hw_utilization"] <= 1
    accuracy = attention_bench.accuracy_rows([16], seed=seed, taus=(2.0,), d=8)
    assert accuracy[0]["p12"]["max_lsb"] <= 1.0
    results = {"utilization": [row], "model": attention_bench.model_rows(params, [("N=16", 16, 16, 4, False)]),
               "accuracy": accuracy, "synthesis": [], "anchors": attention_bench.ANCHORS,
               "criteria": {"min_utilization": attention_bench.MIN_UTILIZATION, "p12_max": 1.0, "p12_max_4k": 2.0,
                            "p12_rms": 1.0, "max_bias": 1.0, "min_fmax_4x4": 90.0}}
    text = "\n".join(attention_bench.render_markdown(results))
    assert "N=6" in text and "Not synthesized" in text
    assert attention_bench.failures(results) == []


@pytest.mark.cocotb
def test_soak_counts_beats_and_checks_every_job(seed, tmp_path):
    """The soak's accounting on a short run: enough beats, every job stressed and exact."""
    row = soak_bench.soak_design("gelu", 1500, seed, tmp_path)
    assert row["problems"] == [] and row["beats_in"] + row["beats_out"] >= 1500
    assert row["beats_in"] == row["beats_out"]  # one result beat per input beat
    assert row["stall_range"][1] > 0 and row["backpressure_range"][1] > 0
    results = {"target_beats": 1500, "rows": [row]}
    assert soak_bench.failures(results) == []
    assert soak_bench.failures({"target_beats": 10 ** 9, "rows": [row]})  # too few beats is a failure
    assert "`gelu`" in "\n".join(soak_bench.render_markdown(results))
