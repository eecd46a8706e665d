"""Smoke test of the benchmark's throughput measurement (no synthesis).

Runs the function behind the bench's throughput table on a tiny array, so a change that
breaks the measurement or its bookkeeping shows up without running the full benchmark.
"""

import pytest

from accelgen.generators.systolic import SystolicParams
from accelgen.sim.bench import all_sections
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
