"""Formal verification (SymbiYosys from PyPI): the fast subset CI runs.

Every proof here runs with its mutant, which must FAIL, so a property that holds vacuously
(or a checker that cannot see a violation) fails the test. ``make formal`` runs the full set.
"""

import json

import pytest
from amaranth.hdl import Fragment

from accelgen.generators import all_designs, get_design
from accelgen.hdl.pim.timing import TIMING_TABLE
from accelgen.sim import formal
from accelgen.sim.bench import formal as section
from accelgen.sim.cli import main as cli_main
from accelgen.verif.formal import FAMILY_INVARIANTS, FAMILY_RATIOS, LAST_INVARIANTS, OCCUPANCY_INVARIANTS, \
    PimTimingSpec, pim_timing_rules, stream_members

pytestmark = pytest.mark.formal


@pytest.mark.parametrize("name", formal.FAST)
def test_fast_proof_and_its_mutant(name, tmp_path):
    row = formal.check_proof(formal.PROOFS[name], tmp_path)
    assert row["status"] == "PASS", (row["failed"], row["folder"])
    assert row["mutant"]["status"] == "FAIL", row["mutant"]
    # A failed check names the property (an assertion and its trace, or the unreached cover).
    assert any("verif/formal.py" in where for where in row["mutant"]["failed"]), row["mutant"]
    if row["mutant"]["mode"] != "cover":
        assert row["mutant"]["trace"] and row["mutant"]["trace"].endswith(".vcd")


def test_pim_timing_mutant_of_each_scope_fails(tmp_path):
    # The proof set's mutant is tRCD_MAC (bank scope). Here a channel-scope rule: tCCD_MAC
    # raised to 6 so that it alone spaces the MACABs (in the presets tCCD_L is as long), then
    # built one cycle short. The timing assertion itself must catch it.
    config = {"preset": "hbm2_pim", **formal.PIM_GEOMETRY, "refresh_mode": "off", "tCCD_MAC": 6}
    spec = formal.pim_timing_spec(config, mutate="tCCD_MAC", link_gates=False)
    result = formal.run_proof(spec, tmp_path / "mutant", mode="bmc", depth=30)
    assert result["status"] == "FAIL", result
    assert any("verif/formal.py" in where for where in result["failed"]), result
    # The same configuration, not mutated, passes the same check.
    spec = formal.pim_timing_spec(config, link_gates=False)
    assert formal.run_proof(spec, tmp_path / "true", mode="bmc", depth=30)["status"] == "PASS"


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_every_family_has_stream_proofs():
    for name in all_designs():
        assert {f"{name}_handshake", f"{name}_counts"} <= set(formal.PROOFS), name
        assert f"{name}_cover" in formal.PROOFS or name in formal.NO_COVER, name
        assert name in FAMILY_RATIOS and name in formal.STREAM_CONFIGS
        params = get_design(name).params(**formal.STREAM_CONFIGS[name])
        streams = stream_members(get_design(name).component(params))
        ratio = FAMILY_RATIOS[name]
        assert streams[ratio.unit_in][1] and not streams[ratio.out][1], (name, ratio)


def test_pim_rules_follow_the_table():
    params = get_design("pim_ctrl").params(preset="hbm2_pim", **formal.PIM_GEOMETRY)
    config = params.config()
    rules = pim_timing_rules(config)
    # Every table row with a delay above one cycle is a property (tFAW: with a weighted ACTAB).
    assert {rule.name for rule in rules} == {rule.name for rule in TIMING_TABLE if rule.delay(config) > 1}
    assert PimTimingSpec(params).rules == rules
    for preset in ("aim_gddr6", "jedec_gddr6", "hbm2_pim", "jedec_hbm2"):
        assert f"pim_{preset}_timing" in formal.PROOFS and f"pim_{preset}_cover_gemv" in formal.PROOFS


def test_sby_text_and_status():
    text = formal.sby_text("prove", 6)
    assert "mode prove" in text and "depth 6" in text and "smtbmc yices" in text and "multiclock off" in text
    assert "multiclock on" in formal.sby_text("bmc", 3, multiclock=True)
    assert formal._status("SBY 1 [x] DONE (FAIL, rc=2)\n") == "FAIL"
    assert formal._status("no summary") == "ERROR"
    with pytest.raises(ValueError, match="mode"):
        formal.sby_text("equiv", 3)


def test_cli_formal(tmp_path, capsys):
    out = tmp_path / "proof"
    code = cli_main(["formal", "gelu", "-p", "width=4", "-p", "in_frac=2", "-p", "lanes=2", "--properties",
                     "handshake", "--depth", "6", "-o", str(out)])
    assert code == 0, capsys.readouterr().out
    assert "PASS" in capsys.readouterr().out
    saved = json.loads((out / "formal.json").read_text())
    assert saved["status"] == "PASS" and saved["params"]["lanes"] == 2


def test_report_section_renders_and_flags():
    row = {"name": "exp_handshake", "family": "exp", "config": "width=4", "mode": "prove", "depth": 8,
           "status": "PASS", "verdict": "proved", "solve_s": 1.0, "note": "", "ok": True,
           "mutant": {"status": "FAIL", "mode": "bmc", "depth": 20, "solve_s": 1.0}}
    text = "\n".join(section.render_markdown({"proofs": [row]}))
    assert "`exp_handshake`" in text and "| proved |" in text and "1 proved" in text
    assert section.failures({"proofs": [row]}) == []
    vacuous = {**row, "mutant": {**row["mutant"], "status": "PASS"}}
    assert section.failures({"proofs": [vacuous]}) == ["exp_handshake: mutant PASS (expected FAIL)"]


@pytest.mark.filterwarnings("ignore:.*created but never used")
def test_invariant_signals_resolve():
    # The invariants find internal signals by name: a renamed signal must fail here (a
    # LookupError naming it), not only in `make formal`.
    for name in sorted(set(FAMILY_INVARIANTS) | set(OCCUPANCY_INVARIANTS) | set(LAST_INVARIANTS)):
        spec = formal.design_spec(name, formal.STREAM_CONFIGS[name], groups=("handshake", "counts", "last"))
        Fragment.get(spec, "formal")
        assert formal.PROOFS[f"{name}_counts"].mode == ("prove" if name in OCCUPANCY_INVARIANTS else "bmc")
    for name in LAST_INVARIANTS:
        assert formal.PROOFS[f"{name}_last"].mode == "prove"
