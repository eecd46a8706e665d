"""PIM-DRAM channel model, its independent timing checker and the utilization bound.

Hand-written command sequences: every timing rule is placed exactly at its minimum delay (no
violation) and one cycle earlier (the rule is reported with the required and actual delay);
every state rule is provoked; a legal GEMV program gives ``W @ x`` exactly. The bound is
checked against pim.md's anchors and against schedules that the checker accepts.
"""

import numpy as np
import pytest

from accelgen.hdl.pim.isa import Cmd, cmd_layout, field_widths
from accelgen.hdl.pim.presets import PRESETS, TIMING_NAMES, preset_config
from accelgen.hdl.util import ceil_div
from accelgen.verif.pim_bound import gemv_bound, gemv_passes, plan_passes, row_pass_cycles, schedule_passes
from accelgen.verif.pim_dram import (
    RULES,
    STATE_RULE_NAMES,
    ChannelSpec,
    Command,
    PimChannelModel,
    TimingChecker,
    TimingViolation,
    bf16_to_float32,
    float32_to_bf16_bits,
    gemv_program,
    gemv_rows,
    issue_asap,
    store_gemv,
)

# Distinct timing values, so that in each scenario below exactly one rule is binding.
TEST_TIMING = dict(
    tRCD=7, tRCDWR=5, tRCD_MAC=11, tRP=6, tRAS=13, tRC=23, tRTP=3, tWR=4, tCCD_S=2, tCCD_L=3,
    tCCD_MAC=5, tRRD_S=2, tRRD_L=4, tFAW=29, faw_weight_actab=2, tWTR_S=2, tWTR_L=3, tRTW=9,
    CL=8, CWL=3, BL=2, tREFI=500, tRFC=37, refresh=False,
)
# 2 bank groups x 2 banks; flat banks: b0 = (0, 0), b1 = (0, 1), b2 = (1, 0), b3 = (1, 1).
TEST_ORG = dict(bank_groups=2, banks_per_group=2, rows=64, row_bytes=64, col_bytes=8)


def small_spec(**changes) -> ChannelSpec:
    return ChannelSpec(**{**TEST_ORG, **TEST_TIMING, **changes})


def act(b, row=1, rbuf=0):
    return Command("ACT", bg=b // 2, bank=b % 2, row=row, rbuf=rbuf)


def pre(b):
    return Command("PRE", bg=b // 2, bank=b % 2)


def rd(b, col=0):
    return Command("RD", bg=b // 2, bank=b % 2, col=col)


def wr(b, col=0, data=0):
    return Command("WR", bg=b // 2, bank=b % 2, col=col, data=data)


ACTAB, PREA, REF, RDMAC, CLRMAC = (Command(op, row=1) for op in ("ACTAB", "PREA", "REF", "RDMAC", "CLRMAC"))


def macab(col=0, slot=0, acc=0):
    return Command("MACAB", col=col, slot=slot, acc=acc)


def wrgb(col=0, slot=0, data=0):
    return Command("WRGB", col=col, slot=slot, data=data)


# (id, rule, spec changes, sequence of (cycle, command)); the last command sits exactly at the
# rule's minimum delay ``d`` after its reference command, so moving it one cycle earlier
# breaks the rule with required = d, actual = d - 1.
TIMING_CASES = [
    ("tRCD", "tRCD", {}, [(0, act(0)), (7, rd(0))], 7),
    ("tRCDWR", "tRCDWR", {}, [(0, act(0)), (5, wr(0))], 5),
    ("tRCD_MAC", "tRCD_MAC", {}, [(0, ACTAB), (11, macab())], 11),
    ("tRCD_MAC-act", "tRCD_MAC", {}, [(0, act(0)), (2, act(2)), (6, act(1)), (8, act(3)), (19, macab())], 11),
    ("tRAS", "tRAS", {}, [(0, act(0)), (13, pre(0))], 13),
    ("tRAS-all", "tRAS", {}, [(0, ACTAB), (13, PREA)], 13),
    ("tRC", "tRC", {}, [(0, act(0)), (13, pre(0)), (23, act(0))], 23),
    ("tRC-all", "tRC", {}, [(0, ACTAB), (13, PREA), (23, ACTAB)], 23),
    ("tRP", "tRP", {}, [(0, act(0)), (30, pre(0)), (36, act(0))], 6),
    ("tRP-all", "tRP", {}, [(0, ACTAB), (30, PREA), (36, ACTAB)], 6),
    ("tRTP", "tRTP", {}, [(0, act(0)), (20, rd(0)), (23, pre(0))], 3),
    ("tRTP-mac", "tRTP", {}, [(0, ACTAB), (20, macab()), (23, PREA)], 3),
    ("tWR", "tWR", {}, [(0, act(0)), (20, wr(0)), (29, pre(0))], 9),
    ("tRP_REF", "tRP_REF", {}, [(0, act(0)), (20, pre(0)), (26, REF)], 6),
    ("tRC_REF", "tRC_REF", {}, [(0, act(0)), (13, pre(0)), (23, REF)], 23),
    ("tRRD_L", "tRRD_L", {}, [(0, act(0)), (4, act(1))], 4),
    ("tRRD_S", "tRRD_S", {}, [(0, act(0)), (2, act(2))], 2),
    ("tFAW", "tFAW", {}, [(0, act(0)), (2, act(2)), (6, act(1)), (8, act(3)), (13, pre(0)), (29, act(0))], 29),
    ("tFAW-actab", "tFAW", {}, [(0, act(0)), (2, act(2)), (5, act(1)), (20, PREA), (29, ACTAB)], 29),
    ("tCCD_L_RD", "tCCD_L_RD", {}, [(0, act(0)), (4, act(1)), (20, rd(0)), (23, rd(1))], 3),
    ("tCCD_L_RD-mac", "tCCD_L_RD", dict(tCCD_MAC=1), [(0, ACTAB), (11, macab(0)), (14, macab(1))], 3),
    ("tCCD_L_WR", "tCCD_L_WR", {}, [(0, act(0)), (4, act(1)), (20, wr(0)), (23, wr(1))], 3),
    ("tWTR_L", "tWTR_L", {}, [(0, act(0)), (4, act(1)), (20, wr(0)), (28, rd(1))], 8),
    ("tWTR_L-mac", "tWTR_L", {}, [(0, act(0)), (2, act(2)), (6, act(1)), (8, act(3)), (20, wr(0)), (28, macab())], 8),
    ("tCCD_S_RD", "tCCD_S_RD", dict(tCCD_S=3, tCCD_L=4), [(0, act(0)), (2, act(2)), (20, rd(0)), (23, rd(2))], 3),
    ("tCCD_S_WR", "tCCD_S_WR", dict(tCCD_S=3, tCCD_L=4), [(0, act(0)), (2, act(2)), (20, wr(0)), (23, wr(2))], 3),
    ("BL_RD", "BL_RD", dict(BL=4), [(0, act(0)), (2, act(2)), (20, rd(0)), (24, rd(2))], 4),
    ("BL_RD-rdmac", "BL_RD", dict(BL=4), [(0, RDMAC), (4, RDMAC)], 4),
    ("BL_WR", "BL_WR", dict(BL=4), [(0, wrgb(0)), (4, wrgb(1))], 4),
    ("tRTW", "tRTW", {}, [(0, RDMAC), (9, wrgb())], 9),
    ("tRTW-rd", "tRTW", {}, [(0, act(0)), (20, rd(0)), (29, wr(0))], 9),
    ("tWTR_S", "tWTR_S", {}, [(0, wrgb()), (7, RDMAC)], 7),
    ("tCCD_MAC", "tCCD_MAC", {}, [(0, ACTAB), (11, macab(0)), (16, macab(1))], 5),
    ("tRFC", "tRFC", {}, [(0, REF), (37, act(0))], 37),
    ("tRFC-ref", "tRFC", {}, [(0, REF), (37, REF)], 37),
    ("tGB", "tGB", {}, [(0, ACTAB), (20, wrgb()), (25, macab())], 5),
]


def run_sequence(spec, sequence, **kwargs):
    checker = TimingChecker(spec, on_violation="record", **kwargs)
    for cycle, cmd in sequence:
        checker.check(cycle, cmd)
    checker.finish(sequence[-1][0])
    return checker.violations


def test_every_timing_rule_has_a_case():
    covered = {case[1] for case in TIMING_CASES}
    assert covered == {r.name for r in RULES} | {"tFAW"}


@pytest.mark.parametrize("rule, changes, sequence, delay", [c[1:] for c in TIMING_CASES],
                         ids=[c[0] for c in TIMING_CASES])
def test_timing_rule_at_minimum_is_legal_and_one_cycle_less_is_caught(rule, changes, sequence, delay):
    spec = small_spec(**changes)
    assert run_sequence(spec, sequence) == []
    *prefix, (cycle, cmd) = sequence
    early = run_sequence(spec, prefix + [(cycle - 1, cmd)])
    hits = [v for v in early if v.rule == rule]
    assert hits, f"{rule} not reported; got {[str(v) for v in early]}"
    assert (hits[0].cycle, hits[0].required, hits[0].actual) == (cycle - 1, delay, delay - 1)
    assert hits[0].command == str(cmd)
    # The timing rules of the table alone explain the earliest cycle.
    checker = TimingChecker(spec)
    for c, earlier in prefix:
        checker.check(c, earlier)
    assert checker.earliest(cmd)[0] == cycle


def test_raise_mode_stops_at_the_first_violation():
    checker = TimingChecker(small_spec())
    checker.check(0, act(0))
    with pytest.raises(TimingViolation, match=r"cycle 6: RD\(bg=0 bank=0 col=0 rbuf=0\) violates tRCD: required 7, actual 6"):
        checker.check(6, rd(0))
    assert checker.violations[0].rule == "tRCD"


# (rule, sequence, options); the last command breaks the state rule.
STATE_CASES = [
    ("state_act_open", [(0, act(0)), (30, act(0, row=2))], {}),
    ("state_act_open", [(0, act(3)), (30, ACTAB)], {}),
    ("state_closed", [(0, rd(0))], {}),
    ("state_closed", [(0, act(0)), (30, pre(0)), (40, wr(0))], {}),
    ("state_closed", [(0, act(0)), (2, act(2)), (6, act(1)), (30, macab())], {}),
    ("state_rows_differ", [(0, act(0)), (2, act(2)), (6, act(1)), (8, act(3, row=2)), (30, macab())], {}),
    ("state_wrong_row", [(0, act(0)), (30, Command("RD", row=2))], dict(check_row_field=True)),
    ("state_wrong_row", [(0, ACTAB), (30, Command("MACAB", row=2))], dict(check_row_field=True)),
    ("state_ref_open", [(0, act(2)), (40, REF)], {}),
    ("state_gb_busy", [(0, ACTAB), (20, macab()), (30, wrgb())], {}),
    ("state_field", [(0, Command("ACT", bg=2))], {}),
    ("state_field", [(0, ACTAB), (20, macab(col=8))], {}),
    ("state_field", [(0, Command("RDMAC", acc=1))], {}),
    ("state_field", [(0, wrgb(slot=1))], {}),
    ("state_field", [(0, Command("ACT", rbuf=1))], {}),
    ("state_field", [(0, Command("ACT", row=64))], {}),
    ("command_bus", [(0, RDMAC), (0, CLRMAC)], {}),
]


@pytest.mark.parametrize("rule, sequence, options", STATE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(STATE_CASES)])
def test_state_rule_is_caught(rule, sequence, options):
    spec = small_spec()
    if len(sequence) > 1:
        assert run_sequence(spec, sequence[:-1], **options) == []
    violations = run_sequence(spec, sequence, **options)
    assert [v.rule for v in violations if v.cycle == sequence[-1][0]][:1] == [rule], [str(v) for v in violations]


def test_state_rules_all_covered():
    covered = {c[0] for c in STATE_CASES} | {"refresh_starvation"}
    assert covered == set(STATE_RULE_NAMES)


def test_state_legal_counterparts():
    spec = small_spec()
    # Row buffer reuse after PRE, PRE of a closed bank, WRGB before a pass MACs / after PREA,
    # RDMAC and CLRMAC with banks open.
    seq = [(0, act(0)), (13, pre(0)), (14, pre(0)), (23, act(0, row=2)), (36, pre(0)),
           (50, ACTAB), (52, wrgb(1)), (61, macab()), (70, RDMAC), (71, CLRMAC), (72, PREA), (79, wrgb())]
    assert run_sequence(spec, seq) == []
    dual = small_spec(dual_row_buffer=True)
    # With two row buffers the next row opens while the other buffer is in use; the bank
    # timing is per buffer, bank-group/channel timing (tRRD_L) is shared.
    seq = [(0, ACTAB), (11, macab()), (15, Command("ACTAB", row=2, rbuf=1)), (16, macab(1)),
           (26, Command("MACAB", col=0, rbuf=1)), (29, Command("PREA", rbuf=0))]
    assert run_sequence(dual, seq) == []
    early = run_sequence(dual, seq[:1] + [(3, Command("ACTAB", row=2, rbuf=1))])
    assert [v.rule for v in early] == ["tRRD_L"]


@pytest.mark.parametrize("postpone", [0, 2])
def test_refresh_starvation(postpone):
    spec = small_spec(refresh=True, tREFI=100, refresh_postpone=postpone)
    deadline = (1 + postpone) * 100 - 1   # last cycle for the first REF
    for when, ok in ((deadline, True), (deadline + 1, False)):
        checker = TimingChecker(spec, on_violation="record")
        for cycle in range(when):
            checker.check(cycle, None)
        checker.check(when, REF)
        checker.finish(when + 50)
        assert (checker.violations == []) == ok, [str(v) for v in checker.violations]
        if not ok:
            assert [(v.rule, v.cycle) for v in checker.violations] == [("refresh_starvation", deadline)]
    # The obligation is cumulative: the second REF is due one tREFI later, also when the check
    # only sees sparse calls.
    checker = TimingChecker(spec, on_violation="record")
    checker.check(10, REF)
    checker.finish(deadline + 99)
    assert checker.violations == []
    checker.check(deadline + 150, act(0))
    assert [(v.rule, v.cycle) for v in checker.violations] == [("refresh_starvation", deadline + 100)]


def test_refresh_off_has_no_obligation():
    checker = TimingChecker(small_spec(), on_violation="record")
    assert checker.finish(10**6) == []


# --------------------------------------------------------------------------------------------
# Data semantics
# --------------------------------------------------------------------------------------------

def test_rd_wr_rdmac_data_and_latency(seed):
    rng = np.random.default_rng(seed)
    spec = small_spec()
    model = PimChannelModel(spec)
    row = rng.integers(-128, 128, spec.row_elems)
    model.write_row_elements(2, 5, row)
    column = rng.integers(-128, 128, spec.lanes)
    seq = [(0, act(2, row=5)), (7, rd(2, col=3)), (16, wr(2, col=4, data=model.column_word(column))),
           (30, rd(2, col=4)), (40, pre(2))]
    returns = model.run(seq)
    assert [(r.cycle, r.op) for r in returns] == [(15, "RD"), (38, "RD")]
    assert returns[0].values.tolist() == row[24:32].tolist()
    assert returns[0].data == int.from_bytes(row[24:32].astype(np.int8).tobytes(), "little")
    assert returns[1].values.tolist() == column.tolist()
    assert model.row_elements(2, 5)[32:40].tolist() == column.tolist()
    # Accumulators: negative values are returned as acc_bits two's complement, bank b at
    # bits [32 b, 32 b + 32).
    model.acc[:, 0] = [-1, 2, -(1 << 31), (1 << 31) - 1]
    ret = model.run([(100, RDMAC), (101, CLRMAC), (110, RDMAC)])
    assert ret[0].cycle == 108 and ret[0].values.tolist() == [-1, 2, -(1 << 31), (1 << 31) - 1]
    assert ret[0].data == 0xFFFFFFFF | 2 << 32 | 0x80000000 << 64 | 0x7FFFFFFF << 96
    assert ret[1].values.tolist() == [0, 0, 0, 0]


def test_step_returns_data_in_its_cycle_only():
    spec = small_spec()
    model = PimChannelModel(spec)
    got = [model.step(c, RDMAC if c == 3 else None) for c in range(20)]
    assert [c for c, r in enumerate(got) if r is not None] == [3 + spec.CL]


def test_command_forms():
    spec = small_spec()
    assert Command.of({"cmd": int(Cmd.MACAB), "col": 3, "acc": 0}) == Command("MACAB", col=3)
    assert Command.of(Cmd.PREA) == Command("PREA")
    assert Command.of(None) == Command("NOP")
    packed = Command.of({"cmd": Cmd.ACT, "bg": 1, "bank": 1, "row": 9})
    widths = field_widths(preset_config("aim_gddr6", **TEST_ORG))
    assert list(widths) == ["cmd", "bg", "bank", "row", "col", "acc", "slot", "rbuf", "data"]
    value, shift = 0, 0
    for name, width in widths.items():
        value |= (int(Cmd.ACT) if name == "cmd" else getattr(packed, name)) << shift
        shift += width
    assert cmd_layout(preset_config("aim_gddr6", **TEST_ORG)).size == shift
    assert Command.of(value, spec) == packed


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_spec_takes_the_preset_values(name):
    config = preset_config(name)
    spec = ChannelSpec.from_params(config)
    for key in TIMING_NAMES:
        assert getattr(spec, key) == getattr(config, key), key
    assert spec.refresh and spec.refresh_postpone == config.refresh_postpone
    assert not ChannelSpec.from_params(preset_config(name, refresh_mode="off")).refresh
    assert spec.banks == config.banks and spec.lanes == config.lanes


def gemv_case(rng, elem_bits=8):
    """A random small organisation and GEMV shape."""
    spec = small_spec(
        elem_bits=elem_bits, n_acc=int(rng.choice([1, 2, 3])), gb_slots=int(rng.choice([1, 2])),
        dual_row_buffer=bool(rng.integers(2)), faw_weight_actab=int(rng.integers(5)),
        refresh=bool(rng.integers(2)), tREFI=400, refresh_postpone=int(rng.integers(3)),
    )
    m = int(rng.integers(1, 19))
    k = int(rng.integers(1, 3 * spec.row_elems + 2))
    channels = int(rng.integers(1, 4))
    return spec, m, k, channels


def run_gemv(spec, w, x, channels, scheduler):
    """Store ``w``, run each channel's program through its model, return y and the models."""
    m, k = w.shape
    models = [PimChannelModel(spec, channel=c) for c in range(channels)]
    store_gemv(models, w, row_base=3)
    groups = ceil_div(m, spec.banks)
    y = np.zeros(groups * spec.banks, dtype=object)
    for pos, model in enumerate(models):
        local = len(range(pos, groups, channels))
        if local == 0:
            continue
        if scheduler == "reference":
            passes, _ = plan_passes(spec, local, k)
            schedule, returns = schedule_passes(model, passes, k, x, row_base=3)
            order = [p.group for p in passes if p.last]
        else:
            schedule, returns = issue_asap(model, gemv_program(spec, local, k, x, row_base=3))
            order = list(range(local))
        model.finish(schedule[-1][0] + spec.CL)
        rdmacs = [r for r in returns if r.op == "RDMAC"]
        assert len(rdmacs) == len(order)
        for lg, ret in zip(order, rdmacs):
            g = lg * channels + pos
            y[g * spec.banks:(g + 1) * spec.banks] = list(ret.values)
    return y[:m], models


@pytest.mark.parametrize("scheduler", ["reference", "in_order"])
def test_gemv_int8_exact(seed, scheduler):
    rng = np.random.default_rng(seed)
    for _ in range(6):
        spec, m, k, channels = gemv_case(rng)
        if scheduler == "in_order":
            spec = ChannelSpec(**{**spec.__dict__, "n_acc": 1, "dual_row_buffer": False, "refresh": False})
        w = rng.integers(-128, 128, (m, k))
        x = rng.integers(-128, 128, k)
        w[0, :] = -128    # extreme corner: the largest products
        x[:] = np.where(rng.integers(2, size=k) == 1, x, -128)
        y, models = run_gemv(spec, w, x, channels, scheduler)
        assert [int(v) for v in y] == (w @ x).tolist(), (spec, m, k, channels)
        for model in models:
            assert model.checker.violations == []


def test_int8_accumulator_wraps():
    spec = small_spec(acc_bits=16)
    model = PimChannelModel(spec)
    for b in range(spec.banks):
        model.write_row_elements(b, 1, [-128] * spec.row_elems)
    model.gb[0, :] = np.array([-128] * spec.row_bytes, dtype=np.int8).view(np.uint8)
    seq = [(0, ACTAB)] + [(11 + 5 * c, macab(c)) for c in range(spec.columns)] + [(60, RDMAC)]
    value = model.run(seq)[0].values[0]
    exact = 16384 * spec.row_elems
    assert value == ((exact + (1 << 15)) % (1 << 16)) - (1 << 15)


def bf16_reference(w_bits, x_bits, lanes):
    """binary32 accumulation in the documented order: columns in issue order, lanes in order."""
    w = bf16_to_float32(w_bits)
    x = bf16_to_float32(x_bits)
    out = []
    for row in w:
        acc = np.float32(0)
        for j in range(len(x)):
            acc = np.float32(acc + np.float32(row[j] * x[j]))
        out.append(acc)
    return np.array(out, dtype=np.float32)


def test_gemv_bf16_order_of_accumulation(seed):
    rng = np.random.default_rng(seed)
    for _ in range(3):
        spec, m, k, channels = gemv_case(rng, elem_bits=16)
        w = float32_to_bf16_bits(rng.standard_normal((m, k)).astype(np.float32))
        x = float32_to_bf16_bits(rng.standard_normal(k).astype(np.float32))
        y, _ = run_gemv(spec, w, x, channels, "reference")
        want = bf16_reference(w, x, spec.lanes)
        got = np.array(list(y), dtype=np.uint32)    # RDMAC returns binary32 bit patterns
        assert np.array_equal(got, want.view(np.uint32))
        # and close to the float64 product
        ref = bf16_to_float32(w).astype(np.float64) @ bf16_to_float32(x).astype(np.float64)
        assert np.allclose(got.view(np.float32), ref, rtol=1e-3, atol=1e-4 * k)


def test_bf16_rounding_helpers():
    values = np.array([1.0, 1.00390625, 1.01171875, -2.5, np.inf], dtype=np.float32)
    bits = float32_to_bf16_bits(values)
    # 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even (1.0); 1 + 3*2^-8 rounds up.
    assert bf16_to_float32(bits).tolist() == [1.0, 1.0, 1.015625, -2.5, np.inf]


def test_gemv_rows_placement():
    spec = small_spec()
    pieces = list(gemv_rows(9, 70, spec, n_channels=2, row_base=10))
    # 3 groups of 4 outputs; 2 segments of 64 elements; group 1 on channel 1, group 2 on
    # channel 0 as its local group 1 (rows 12, 13).
    assert {(p[0], p[1]) for p in pieces} == {(0, 0), (1, 0), (0, 1)}
    assert (0, 1, 1, 13, 0, 8, 64, 70) in pieces
    assert all(p[5] < 9 for p in pieces)


# --------------------------------------------------------------------------------------------
# Bound
# --------------------------------------------------------------------------------------------

def test_aim_row_pass_anchor():
    spec = ChannelSpec.from_params(preset_config("aim_gddr6", refresh_mode="off"))
    assert row_pass_cycles(spec) == 56 + 63 * 2 + 12 + 32 == 226
    # Back-to-back full passes through the checker: exactly 226 cycles apart.
    model = PimChannelModel(spec)
    cmds = []
    for row in range(4):
        cmds += [Command("ACTAB", row=row)] + [macab(c) for c in range(64)] + [PREA]
    schedule, _ = issue_asap(model, cmds)
    acts = [c for c, cmd in schedule if cmd.op == "ACTAB"]
    assert np.diff(acts).tolist() == [226, 226, 226]
    # One more output group (a resident vector) costs exactly one row pass.
    assert gemv_bound(spec, m=16 * 65, k=2048).cycles - gemv_bound(spec, m=16 * 64, k=2048).cycles == 226
    bound = gemv_bound(spec, m=16 * 1000, k=2048)
    assert bound.u_bound == pytest.approx(128 / 226, rel=1e-3)          # 56.6 %
    with_refresh = gemv_bound(ChannelSpec.from_params(preset_config("aim_gddr6")), m=16 * 1000, k=2048)
    assert with_refresh.parts["refresh_cost"] == 210   # a REF between full passes costs tRFC
    assert with_refresh.u_bound == pytest.approx(128 / 226 * (1 - 210 / 3333), rel=1e-3)   # 53 %


def test_aim_device_options_bound():
    def u(**changes):
        spec = ChannelSpec.from_params(preset_config("aim_gddr6", refresh_mode="off", **changes))
        return gemv_bound(spec, m=16 * 16, k=4096).u_bound
    stock = u()
    assert stock < 0.5                      # one slot: every segment's load is exposed
    assert u(gb_slots=2) >= 0.5             # loads hidden behind the previous pass
    assert u(n_acc=8) >= 0.5                # k-outer: one load per 8 passes
    assert u(n_acc=4) < u(n_acc=8)
    assert u(dual_row_buffer=True, gb_slots=2) >= 0.9
    assert gemv_bound(ChannelSpec.from_params(preset_config("aim_gddr6", dual_row_buffer=True)),
                      m=16 * 64, k=2048).u_bound >= 0.9


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_bound_is_reached_by_a_legal_schedule(name, seed):
    """The bound is a lower bound of, and close to, a schedule the checker accepts."""
    rng = np.random.default_rng(seed)
    for _ in range(4):
        changes = dict(refresh_mode="off", gb_slots=int(rng.choice([1, 2])), n_acc=int(rng.choice([1, 2, 8])),
                       dual_row_buffer=bool(rng.integers(2)))
        spec = ChannelSpec.from_params(preset_config(name, **changes))
        m = int(rng.integers(1, 100))
        k = int(rng.integers(1, 3 * spec.row_elems))
        passes, reads = gemv_passes(spec, m, k)
        bound = gemv_bound(spec, m, k)
        model = PimChannelModel(spec)
        _, returns = schedule_passes(model, passes, k, rng.integers(-128, 128, k))
        cycles = returns[-1].cycle + 1
        assert bound.macs == sum(p.columns for p in passes) == model.counts["MACAB"]
        # Within 2 %, or a few cycles of one-command-per-cycle collisions on very short jobs.
        assert bound.cycles <= cycles <= max(bound.cycles / 0.98, bound.cycles + 8), (changes, m, k, bound.cycles, cycles)


def test_reference_schedule_with_refresh_is_legal(seed):
    rng = np.random.default_rng(seed)
    spec = ChannelSpec.from_params(preset_config("aim_gddr6", refresh_postpone=int(rng.integers(3))))
    k = 4096
    passes, _ = plan_passes(spec, 24, k)
    model = PimChannelModel(spec)
    schedule, returns = schedule_passes(model, passes, k, rng.integers(-128, 128, k))
    model.finish(returns[-1].cycle)
    cycles = returns[-1].cycle + 1
    refs = model.counts["REF"]
    assert refs >= cycles // spec.tREFI - spec.refresh_postpone and refs > 0
    bound = gemv_bound(spec, 24 * 16, k, refresh="obligation")
    assert 0.98 <= bound.eta(cycles) <= 1.0


def random_legal_sequence(spec, rng, length):
    """A random protocol-legal command stream, each command at its earliest legal cycle plus a
    random slack; returns [(cycle, cmd, binding_rule_or_None, slack)]."""
    checker = TimingChecker(spec)
    seq = []
    after = 0
    for _ in range(length):
        open_rows = checker.open_rows
        closed = [b for b in range(spec.banks) if open_rows[b][0] is None]
        opened = [b for b in range(spec.banks) if open_rows[b][0] is not None]
        rows = {open_rows[b][0] for b in range(spec.banks)}
        locked = {s for b in range(spec.banks) for s in checker.gb_locks[b][0]}
        choices = []
        if closed:
            b = int(rng.choice(closed))
            choices.append(Command("ACT", bg=b // spec.banks_per_group, bank=b % spec.banks_per_group,
                                   row=int(rng.integers(spec.rows))))
        if opened:
            b = int(rng.choice(opened))
            bg, bank = b // spec.banks_per_group, b % spec.banks_per_group
            col = int(rng.integers(spec.columns))
            choices += [Command("RD", bg=bg, bank=bank, col=col), Command("WR", bg=bg, bank=bank, col=col),
                        Command("PRE", bg=bg, bank=bank)]
        if len(closed) == spec.banks:
            choices += [Command("ACTAB", row=int(rng.integers(spec.rows))), Command("REF")]
        if len(opened) == spec.banks and len(rows) == 1:
            choices += [Command("MACAB", col=int(rng.integers(spec.columns)), slot=int(rng.integers(spec.gb_slots)),
                                acc=int(rng.integers(spec.n_acc)))] * 3
        if opened:
            choices.append(Command("PREA"))
        free = [s for s in range(spec.gb_slots) if s not in locked]
        if free:
            choices.append(Command("WRGB", col=int(rng.integers(spec.columns)), slot=int(rng.choice(free))))
        choices += [Command("RDMAC", acc=int(rng.integers(spec.n_acc))), Command("CLRMAC")]
        cmd = choices[int(rng.integers(len(choices)))]
        cycle, rule = checker.earliest(cmd, after=after)
        slack = int(rng.choice([0, 0, 0, 1, 3]))
        checker.check(cycle + slack, cmd)
        seq.append((cycle + slack, cmd, rule, slack))
        after = cycle + slack + 1
    return seq


def test_random_legal_streams_and_one_cycle_early_mutants(seed):
    """Commands placed at the earliest cycle are legal; moving one of them a cycle earlier
    reports the rule that bound it."""
    rng = np.random.default_rng(seed)
    for trial in range(6):
        spec = small_spec(faw_weight_actab=int(rng.integers(5)), gb_slots=int(rng.choice([1, 2])),
                          n_acc=2, tRC=int(rng.integers(19, 30)), tFAW=int(rng.integers(8, 40)),
                          tCCD_MAC=int(rng.integers(1, 6)), BL=int(rng.integers(1, 5)))
        seq = random_legal_sequence(spec, rng, 120)
        assert run_sequence(spec, [(c, cmd) for c, cmd, _, _ in seq]) == []
        bound = [i for i, (c, _, rule, slack) in enumerate(seq)
                 if rule is not None and slack == 0 and (i == 0 or seq[i - 1][0] < c - 1)]
        for i in rng.choice(bound, size=min(8, len(bound)), replace=False):
            c, cmd, rule, _ = seq[i]
            mutant = [(cc, cm) for cc, cm, _, _ in seq[:i]] + [(c - 1, cmd)]
            violations = run_sequence(spec, mutant)
            assert rule in {v.rule for v in violations if v.cycle == c - 1}, (trial, i, rule, [str(v) for v in violations])


def test_placement_wraps_rows_and_spec_from_generator_params():
    spec = small_spec(rows=4)
    pieces = list(gemv_rows(4, 3 * spec.row_elems, spec, row_base=2))
    assert sorted({p[3] for p in pieces}) == [0, 2, 3]     # rows 2, 3, 4 -> 2, 3, 0

    class GeneratorParams:     # stands for a design's parameters that build their PimConfig
        def config(self):
            return preset_config("hbm2_pim", n_acc=4)
    assert ChannelSpec.from_params(GeneratorParams()) == ChannelSpec.from_params(preset_config("hbm2_pim", n_acc=4))


def test_trace_rows():
    model = PimChannelModel(small_spec())
    model.keep_trace = True
    model.run([(0, act(3, row=7)), (7, rd(3, col=2))])
    assert model.trace_rows() == [(0, 0, "ACT", 1, 1, 7, 0), (7, 0, "RD", 1, 1, 0, 2)]


def test_keep_resident_vector_segments():
    spec = ChannelSpec.from_params(preset_config("aim_gddr6", gb_slots=2))
    k = 2 * spec.row_elems
    assert [p.load > 0 for p in plan_passes(spec, 3, k)[0]] == [True, True] + [False] * 4
    assert [p.load > 0 for p in plan_passes(spec, 3, k, keep_resident=False)[0]] == [True] * 6
    assert [p.load > 0 for p in plan_passes(spec, 3, 100, keep_resident=False)[0]] == [True, False, False]
    assert gemv_bound(spec, 48, k, keep_resident=False).cycles >= gemv_bound(spec, 48, k).cycles


def test_tight_rules_are_counted():
    checker = TimingChecker(small_spec())
    for cycle, cmd in [(0, act(0)), (7, rd(0)), (11, rd(0)), (20, pre(0))]:
        checker.check(cycle, cmd)
    assert checker.tight == {"tRCD": 1}
    checker = TimingChecker(small_spec())
    for cycle, cmd in [(0, act(0)), (7, rd(0)), (10, rd(0)), (13, pre(0))]:
        checker.check(cycle, cmd)
    assert checker.tight == {"tRCD": 1, "tCCD_L_RD": 1, "tRTP": 1, "tRAS": 1}
