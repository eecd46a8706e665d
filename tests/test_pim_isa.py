# amaranth: UnusedElaboratable=no

"""PIM command set, stream layouts, presets and their consistency checks."""

import numpy as np
import pytest

from accelgen.generators import get_design
from accelgen.hdl.pim.isa import Cmd, JobOp, cmd_layout, field_widths, rdata_layout
from accelgen.hdl.pim.presets import PRESETS, TIMING_NAMES, PimConfig, preset_config, preset_sources
from accelgen.hdl.pim.timing import TIMING_TABLE, rule_by_name
from accelgen.sim.lint import lint_design
from accelgen.verif import pim_host


def test_command_codes_are_distinct_and_fit():
    codes = [int(c) for c in Cmd]
    assert len(set(codes)) == len(codes)
    assert max(codes) < 1 << field_widths(PimConfig())["cmd"]
    assert Cmd.NOP == 0
    assert {op.name for op in JobOp} == {"GEMV", "GEMV_ACC", "ATTN_QK", "ATTN_PV"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_consistent_and_sourced(name):
    config = preset_config(name)
    sources = preset_sources(name)
    for key in TIMING_NAMES:
        assert sources[key], key
    assert config.tRC >= config.tRAS + config.tRP
    assert config.row_bytes % config.col_bytes == 0
    widths = field_widths(config)
    assert cmd_layout(config).size == sum(widths.values())
    assert rdata_layout(config).size == 1 + max(config.col_bytes * 8, config.banks * 32)


def test_aim_row_pass_is_226_cycles():
    # 56 (tRCD_MAC) + 63 * 2 (MACs) + 12 (tRTP) + 32 (tRP), the AiM simulator's row pass.
    assert preset_config("aim_gddr6").row_pass_cycles() == 226


BAD = [
    (dict(tRC=85), r"tRC=85 is not legal: must be >= tRAS \+ tRP = 54 \+ 32 = 86"),
    (dict(row_bytes=48), r"row_bytes=48 is not legal: must be a multiple of col_bytes=32"),
    (dict(col_bytes=24), r"col_bytes=24 is not legal: must be a power of two in 2\.\.128"),
    (dict(elem_bits=4), r"elem_bits=4 is not legal: must be 8 \(int8\) or 16 \(bf16\)"),
    (dict(tRP=0), r"tRP=0 is not legal: must be an integer in 1\.\.255"),
    (dict(gb_slots=3), r"gb_slots=3 is not legal: must be 1 or 2"),
    (dict(tCCD_L=1), r"tCCD_L=1 is not legal: must be >= tCCD_S=2"),
    (dict(tREFI=400), r"tREFI=400 is not legal: must be > row pass \+ tRFC \+ tRP = 468"),
    (dict(refresh_mode="pb"), r"refresh_mode='pb' is not legal: must be one of 'ab', 'off'"),
    (dict(faw_weight_actab=5), r"faw_weight_actab=5 is not legal: must be an integer in 0\.\.4"),
]


@pytest.mark.parametrize("changes, message", BAD)
def test_inconsistent_parameters_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        preset_config("aim_gddr6", **changes)


def test_unknown_preset_and_parameter():
    with pytest.raises(ValueError, match=r"preset='ddr9' is not legal: must be one of aim_gddr6"):
        preset_config("ddr9")
    with pytest.raises(ValueError, match=r"unknown PIM parameter"):
        preset_config("aim_gddr6", tXYZ=3)


def test_timing_table_rows():
    names = [rule.name for rule in TIMING_TABLE]
    assert len(names) == len(set(names))
    config = preset_config("aim_gddr6")
    for rule in TIMING_TABLE:
        assert rule.scope in ("bank", "bank_group", "channel", "gb_slot", "window")
        assert rule.param in TIMING_NAMES
        assert rule.delay(config.mutated(rule.param)) == rule.delay(config) - 1
    assert rule_by_name("tRCD_MAC").delay(config) == 56
    with pytest.raises(ValueError, match="rule='tXX' is unknown"):
        rule_by_name("tXX")


# -- the controller's parameters and the host's user-input checks ---------------------------------

PIM = get_design("pim_ctrl")

CTRL_BAD = [
    (dict(tRC=80), r"tRC=80 is not legal: must be >= tRAS \+ tRP = 54 \+ 32 = 86"),
    (dict(row_bytes=2000), r"row_bytes=2000 is not legal: must be a multiple of col_bytes=32"),
    (dict(preset="ddr2"), r"preset='ddr2' is not legal: must be one of 'aim_gddr6'"),
    (dict(channels=0), r"channels=0 is out of range: must be an integer in 1\.\.32"),
    (dict(gb_slots=3), r"gb_slots=3 is out of range: must be an integer in 1\.\.2"),
    (dict(elem="fp8"), r"elem='fp8' is not legal: must be one of 'int8', 'bf16'"),
    (dict(mutate="tXYZ"), r"mutate='tXYZ' is not legal"),
    (dict(reduce_channels=True, elem="bf16"), r"reduce_channels=True is not legal with elem='bf16'"),
    (dict(reduce_channels=2), r"reduce_channels=2 is not legal"),
]


@pytest.mark.parametrize("changes, message", CTRL_BAD)
def test_controller_parameters_are_checked(changes, message):
    with pytest.raises(ValueError, match=message):
        PIM.params(**changes)


def test_preset_values_and_overrides():
    params = PIM.params(preset="hbm2_pim", tRP=15, tRC=48)
    assert params.tRCD == 14 and params.tRP == 15 and params.config().tRC == 48
    assert params.config().row_pass_cycles() == preset_config("hbm2_pim", tRP=15, tRC=48).row_pass_cycles()
    mutant = PIM.params(preset="hbm2_pim", mutate="tRP")
    assert mutant.config().tRP == 14 and mutant.hw_config().tRP == 13


@pytest.mark.parametrize("arrays, message", [
    (dict(w=np.zeros((0, 4), int), x=np.zeros(4, int)), r"M=0 is out of range"),
    (dict(w=np.zeros((3, 0), int), x=np.zeros(0, int)), r"K=0 is out of range"),
    (dict(w=np.zeros((3, 4), int), x=np.zeros(5, int)), r"must be \(M, K\) and \(K,\)"),
    (dict(w=np.full((3, 4), 200), x=np.zeros(4, int)), r"w has values in 200\.\.200"),
    (dict(x=np.zeros(4, int)), r"'w' is missing"),
])
def test_user_inputs_are_checked(arrays, message):
    with pytest.raises(ValueError, match=message):
        pim_host.user_jobs(PIM.params(), arrays)


def test_placement_puts_every_weight_once(seed):
    """The host's data layout: every W element lands in exactly one (channel, bank, row, slot)."""
    params = PIM.params(channels=3, bank_groups=2, banks_per_group=2, row_bytes=64, col_bytes=8,
                        m_max=64, k_max=256)
    rng = np.random.default_rng(seed)
    w = rng.integers(-128, 128, (23, 150))
    seen = {}
    for ch, bank, row, elements in pim_host.job_placement(params, w, 5, 0b101):
        assert ch in (0, 2) and (ch, bank, row) not in seen
        seen[(ch, bank, row)] = elements
    assert sum(int(np.count_nonzero(e)) for e in seen.values()) == int(np.count_nonzero(w))
    assert len(seen) <= pim_host.rows_used(params, 23, 150, 0b101) * 4 * 2


def test_split_k_placement_covers_k_once(seed):
    """Split-K: each output's K is divided over the enabled channels, every element once."""
    params = PIM.params(channels=3, reduce_channels=True, bank_groups=2, banks_per_group=2, row_bytes=64,
                        col_bytes=8, m_max=64, k_max=256)
    rng = np.random.default_rng(seed)
    w = rng.integers(1, 128, (9, 150))
    rows = {}
    for ch, bank, row, elements in pim_host.job_placement(params, w, 5, 0b101):
        assert ch in (0, 2) and (ch, bank, row) not in rows
        rows[(ch, bank, row)] = elements
    assert sum(int(e.sum()) for e in rows.values()) == int(w.sum())
    # 19 columns over 2 channels: 10 local columns, 2 segments of 8 per output and channel.
    assert len(rows) == 9 * 2 * 2 and pim_host.rows_used(params, 9, 150, 0b101) == 3 * 2
    slices = pim_host.k_slices(params, 150, 0b101)
    held = np.concatenate([s[s >= 0] for s in slices])
    assert sorted(held.tolist()) == list(range(150))


@pytest.mark.parametrize("overrides", [
    dict(dual_row_buffer=True, gb_slots=2, n_acc=3, channels=3),
    dict(reduce_channels=True, channels=3, n_acc=2),
    dict(preset="jedec_hbm2", elem="bf16", refresh_mode="off", channels=2, refresh_postpone=8),
])
def test_corner_configurations_are_lint_clean(overrides):
    assert lint_design(PIM, PIM.params(**overrides)) == []
