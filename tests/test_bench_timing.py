"""The ``timing`` benchmark section: its points are legal configurations, its report renders
measured and failed rows, and a failed flow is a failure of the section."""

from accelgen.sim.bench import timing


def test_points_are_legal_and_use_the_options():
    labels = set()
    for point, target in timing.POINTS:
        params = point.params  # validated here
        labels.add(point.slug)
        assert target
        assert getattr(params, "pipeline", 0) > 0 or params.final_adder == "carry_chain" or point.mac == "booth_serial"
    assert len(labels) == len(timing.POINTS)


def test_report_and_failures():
    good = {"label": "tree K16xN4", "mac": "same_weight_tree", "pipeline": 3, "result_latency": 7, "target": "t",
            "generic": {"gates": 100, "ff": 10, "logic_depth": 20,
                        "critical_path": {"start": "dot_0_0.fresh", "end": "dot_0_0.acc", "length": 20}},
            "ecp5_nodsp": {"lut4": 90, "ccu2": 5, "ff": 10, "fmax_mhz": 126.7,
                           "fmax_seeds": [{"fmax_mhz": 126.7}, {"fmax_mhz": 120.0}, {"fmax_mhz": 130.1}]}}
    bad = {"label": "OS 8x8", "mac": "carry_save", "target": "t", "error": "nextpnr: Unable to place"}
    result = {"quick": False, "seeds": [1, 2, 3], "freq_mhz": 200.0, "rows": [good, bad]}
    text = "\n".join(timing.render_markdown(result))
    assert "| tree K16xN4 | same_weight_tree | 3 | 7 | 100 | 10 | 20 |" in text
    assert "126.7" in text and "dot_0_0.fresh" in text and "error: nextpnr: Unable to place" in text
    assert timing.failures(result) == ["OS 8x8 carry_save: nextpnr: Unable to place"]
    assert timing.failures(dict(result, rows=[good])) == []
