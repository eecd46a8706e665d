"""``accelgen estimate``: cycles equal the families' analytic models (and the RTL counts the
benchmarks recorded), the area model reproduces its fit, the CLI prints and refuses. No
simulation, no synthesis."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from accelgen.generators import all_designs, get_design
from accelgen.generators.attention import analytic_cycles as attention_cycles
from accelgen.generators.gemm import analytic_cycles as gemm_cycles
from accelgen.generators.systolic_ws import analytic_cycles as ws_cycles
from accelgen.sim import estimate as est
from accelgen.sim.bench import estimate as estimate_bench
from accelgen.sim.cli import main
from accelgen.verif.pim_bound import gemv_bound
from accelgen.verif.softmax_host import busy_cycles

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _bench(name):
    return json.loads((BENCH / f"{name}.json").read_text())["result"]


def _cycles(design, workload, **params):
    p = get_design(design).params(**params)
    return est.estimate_cycles(design, p, est.parse_workload(design, p, workload)), p


# -- cycles: the analytic model, computed independently ---------------------------------------------

@pytest.mark.parametrize("design", ["systolic", "tree", "matrix2d", "cube3d"])
@pytest.mark.parametrize("tiles, k", [(1, 1), (3, 7), (10, 64)])
def test_tile_engine_cycles_are_busy_cycles(design, tiles, k):
    result, p = _cycles(design, f"tiles={tiles},k={k}")
    assert result["cycles"] == p.busy_cycles(tiles, k)
    assert result["work"] == tiles * k * p.macs_per_beat
    assert result["kind"] == "exact"


def test_tile_engine_cycles_match_recorded_rtl():
    rows = _bench("systolic")["throughput"] + [_bench("systolic")["headline"]]
    rows += [dict(r, **r["params"]) for r in _bench("tpe")["throughput"] if r["params"].get("mac") == "baseline"]
    checked = 0
    for row in rows:
        design = row.get("design", "systolic")
        params = {k: row[k] for k in ("rows", "cols", "k_max", "depth") if k in row and k in
                  {f for f, *_ in get_design(design).params.field_docs()}}
        result, _ = _cycles(design, f"tiles={row['tiles']},k={row['k']}", **params)
        assert result["cycles"] == row["analytic_cycles"]
        if row["rtl_vs_analytic_pct"] == 0:
            assert result["cycles"] == row["rtl_cycles"]
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("m, n, k", [(16, 16, 16), (5, 9, 3), (1, 1, 1)])
@pytest.mark.parametrize("engine", ["os", "ws"])
def test_gemm_cycles_are_analytic(engine, m, n, k):
    result, p = _cycles("gemm", f"m={m},n={n},k={k}", engine=engine)
    assert result["cycles"] == gemm_cycles(p, m, n, k)
    assert result["work"] == m * n * k


def test_gemm_cycles_match_recorded_rtl_and_utilization():
    for row in _bench("gemm")["gemm"]:
        result, _ = _cycles("gemm", f"m={row['m']},n={row['n']},k={row['k']}", engine=row["engine"],
                            rows=row["rows"], cols=row["cols"], m_max=row["m"], n_max=row["n"], k_max=row["k"])
        assert result["cycles"] == row["analytic_cycles"] == row["rtl_cycles"]
        if row["engine"] == "os":
            assert result["utilization"] == pytest.approx(row["utilization"])


def test_systolic_ws_cycles_match_recorded_rtl():
    for row in _bench("gemm")["ws_array"]:
        result, p = _cycles("systolic_ws", f"tiles={row['tiles']},m={row['m']}", rows=row["rows"], cols=row["cols"])
        assert result["cycles"] == ws_cycles(p, [row["m"]] * row["tiles"]) == row["rtl_cycles"]


@pytest.mark.parametrize("nq, nkv, d, causal", [(64, 64, 16, 0), (20, 50, 7, 1), (1, 1, 1, 0)])
def test_attention_cycles_are_analytic(nq, nkv, d, causal):
    result, p = _cycles("attention", f"nq={nq},nkv={nkv},d={d},causal={causal}", br=4, bc=4, d_max=16, n_max=256)
    assert result["cycles"] == attention_cycles(p, nq, nkv, d, bool(causal))


def test_attention_cycles_match_recorded_rtl():
    for row in _bench("attention")["utilization"]:
        result, _ = _cycles("attention", f"nq={row['nq']},nkv={row['nkv']},d={row['d']},causal={int(row['causal'])}",
                            br=row["br"], bc=row["bc"], exp_lanes=row["exp_lanes"], d_max=max(64, row["d"]),
                            n_max=max(16384, row["nq"], row["nkv"]))
        assert result["cycles"] == row["analytic_cycles"] == row["rtl_cycles"]
        assert result["utilization"] == pytest.approx(row["utilization"])


def test_softmax_cycles_equal_recorded_rtl():
    for row in _bench("softmax")["throughput"]:
        for label, rtl in row["cycles"].items():
            if label == "single":
                p = get_design("softmax").params(**row["params"])
                assert p.row_latency(p.row_beats) == rtl
                continue
            n, rows = (int(x) for x in label[1:].split("_x"))
            result, p = _cycles("softmax", f"rows={rows},n={n}", **row["params"])
            assert result["cycles"] == busy_cycles(p, {"length": np.full(rows, n)}) == rtl


def test_elementwise_cycles_match_recorded_rtl():
    for row in _bench("activation")["timing"]:
        n = row["beats"] * row["lanes"]
        result, p = _cycles(row["design"], f"n={n}", **row["params"])
        assert result["cycles"] == row["beats"] + p.latency == row["cycles"]
    result, _ = _cycles("exp", "n=10", lanes=4)
    assert result["cycles"] == 3 + get_design("exp").component(get_design("exp").params(lanes=4)).manifest()[
        "latency"]["exp_unit"]


def test_pim_cycles_are_the_bound():
    for row in _bench("pim")["perf"]:
        if row["params"].get("refresh_mode") != "off":
            continue
        result, p = _cycles("pim_ctrl", f"m={row['m_per_channel']},k={row['k']}", **row["params"])
        assert result["cycles"] == math.ceil(gemv_bound(p.config(), row["m_per_channel"], row["k"], 1,
                                                        refresh="none").cycles) == math.ceil(row["bound_cycles"])
        assert result["cycles"] <= row["cycles"]


def test_pim_split_k_bound_is_one_channel_slice():
    split, p = _cycles("pim_ctrl", "m=64,k=1024", channels=4, reduce_channels=True)
    whole, _ = _cycles("pim_ctrl", "m=64,k=256", channels=1)
    assert split["cycles"] == whole["cycles"] == math.ceil(gemv_bound(p.config(), 64, 256, 1).cycles)


# -- area: the fit ----------------------------------------------------------------------------------

def test_every_registered_design_has_an_estimator():
    assert est.every_design_has_models() == []
    assert set(est.CYCLE_MODELS) >= set(all_designs())


def test_refit_reproduces_the_shipped_coefficients():
    assert est.refit() == est.load_coefficients()


@pytest.mark.parametrize("design", sorted(est.FEATURES))
def test_area_estimate_on_fit_data_is_the_fitted_value(design):
    model = est.load_coefficients()[design]
    errors = []
    for row in est.load_rows(design):
        if not row["cells"]:
            continue
        params = get_design(design).params(**row["params"])
        feats = est.features(design, params)
        fitted = sum(model["cells"]["coefficients"][n] * feats[n] for n in feats)
        area = est.estimate_area(design, params)
        assert area["cells"] == round(fitted)
        errors.append(abs(est.relative_error(fitted, row["cells"])))
    assert np.median(errors) == pytest.approx(model["cells"]["fit_median_error"], abs=1e-4)
    assert max(errors) == pytest.approx(model["cells"]["fit_worst_error"], abs=1e-4)


def test_fit_drops_negative_coefficients():
    matrix = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    coef = est._nonnegative_lstsq(matrix, np.array([3.0, 2.0, 1.0]))   # slope would be -1
    assert (coef >= 0).all() and coef[1] == 0


def test_configuration_outside_the_fit_data_is_refused():
    coefficients = est.load_coefficients()
    coefficients["gemm"]["cells"]["unseen"] = ["mult_bits_carry_save"]
    params = get_design("gemm").params(mac="carry_save")
    with pytest.raises(ValueError, match="gemm: no fit data covers this configuration's mult_bits_carry_save"):
        est.estimate_area("gemm", params, coefficients)
    assert est.estimate_area("gemm", get_design("gemm").params(), coefficients)["cells"] > 0


def test_ecp5_estimate_only_where_data_exist():
    systolic = est.estimate_area("systolic", get_design("systolic").params(rows=8, cols=8))
    assert systolic["dsp_mult18"] == 64 and systolic["lut4"] > 0
    assert "lut4" not in est.estimate_area("pim_ctrl", get_design("pim_ctrl").params())


# -- the command line --------------------------------------------------------------------------------

def test_cli_prints_cycles_and_area(capsys):
    assert main(["estimate", "gemm", "-p", "rows=4", "--workload", "m=16,n=16,k=16"]) == 0
    out = capsys.readouterr().out
    p = get_design("gemm").params(rows=4)
    assert f"cycles: {gemm_cycles(p, 16, 16, 16)} (exact" in out
    assert "generic cells" in out and "utilization" in out


def test_cli_json(capsys):
    assert main(["estimate", "softmax", "--workload", "rows=2,n=16", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["cycles"]["workload"] == {"rows": 2, "n": 16}
    assert result["area"]["cells"] > 0


@pytest.mark.parametrize("argv, message", [
    (["estimate", "gemm", "--workload", "q=3"], "workload key 'q' is unknown for gemm; legal keys: m, n, k"),
    (["estimate", "gemm", "--workload", "m=17"], "workload m='17' is out of range: must be an integer in 1..16"),
    (["estimate", "attention", "--workload", "causal=maybe"], "causal='maybe' is out of range: must be an integer in 0..1"),
    (["estimate", "softmax", "--workload", "n=x"], "workload n='x' is out of range: must be an integer in 1..32"),
    (["estimate", "systolic", "-p", "rows=0"], "rows=0"),
])
def test_cli_refuses_bad_workloads(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("accelgen: error: ") and message in err and len(err.strip().splitlines()) == 1


# -- the bench section, on the recorded held-out rows (no synthesis) -----------------------------------

def test_bench_section_reports_recorded_held_out_rows():
    fitted = {(name, get_design(name).params(**row["params"]).digest())
              for name in est.FEATURES for row in est.load_rows(name) if row["cells"]}
    recorded = estimate_bench.recorded_rows(BENCH)
    rows = [estimate_bench.compare(row) for row in recorded
            if (row["design"], get_design(row["design"]).params(**row["params"]).digest()) not in fitted]
    assert len(rows) >= 10 and all(row["source"] != "synthesized" for row in rows)
    result = estimate_bench.summarize(rows)
    assert result["cells"]["overall"]["n"] == len(rows)
    text = "\n".join(estimate_bench.render_markdown(dict(result, cells_synthesized=result["cells"])))
    assert "| systolic |" in text and "LUT4" in text
    # A bad model fails the criteria.
    worse = [dict(row, error=dict(row["error"], cells=0.5)) for row in rows]
    assert estimate_bench.failures(estimate_bench.summarize(worse))


def test_committed_bench_figures_are_the_shipped_model():
    """bench/estimate.json was measured with the shipped coefficients (refit, then re-run the section)."""
    rows = json.loads((BENCH / "estimate.json").read_text())["result"]["rows"]
    for row in rows:
        params = get_design(row["design"]).params(**row["params"])
        assert est.estimate_area(row["design"], params) == row["estimate"], (row["design"], row["params"])
