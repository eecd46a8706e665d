# amaranth: UnusedElaboratable=no

"""Amaranth-simulator tests of the PIM controller's units (:mod:`accelgen.hdl.pim`).

Each unit runs alone under random stimulus from the per-test seed, with its corner cases, and
is compared every cycle with a Python reference written from the unit's contract (its
docstring), not from its code: the loop nest, the command sequence of a pass, the slot and
result credits, the refresh credit, the stall classification. The arbiter's timing answers are
checked against the independent timing checker of :mod:`accelgen.verif.pim_dram`. Every stream
runs with random source stalls and random sink backpressure, and what crosses it is compared
with what was sent or expected: nothing lost, duplicated or reordered.
"""

import numpy as np
import pytest
from amaranth.hdl import ClockDomain, Module, Value
from amaranth.sim import Simulator

from accelgen.generators.pim_ctrl import PimCtrlParams
from accelgen.hdl.pim.activate import ActivateUnit
from accelgen.hdl.pim.address_gen import AddressGenerator
from accelgen.hdl.pim.arbiter import CommandArbiter
from accelgen.hdl.pim.counters import COUNTER_NAMES, PerfCounters
from accelgen.hdl.pim.interfaces import result_depth
from accelgen.hdl.pim.isa import Cmd, JobOp
from accelgen.hdl.pim.job import JobSetup
from accelgen.hdl.pim.mac_unit import MacUnit
from accelgen.hdl.pim.precharge import PrechargeUnit
from accelgen.hdl.pim.refresh import RefreshEngine, refresh_window
from accelgen.hdl.pim.results import ResultCollector
from accelgen.hdl.pim.vector_buffer import VectorBuffer
from accelgen.hdl.pim.vector_loader import VectorLoader
from accelgen.hdl.util import ceil_div
from accelgen.verif.pim_dram import ChannelSpec, Command, TimingChecker

#: A tiny channel: 4 banks, 8 columns of 8 int8 lanes per row, short distinct timing values.
TINY = dict(bank_groups=2, banks_per_group=2, rows=1024, row_bytes=64, col_bytes=8,
            tRCD_MAC=6, tRP=4, tRAS=8, tRC=13, tRTP=3, tCCD_S=1, tCCD_L=2, tCCD_MAC=2, tRRD_S=2, tRRD_L=3,
            tFAW=10, faw_weight_actab=1, tWTR_S=2, tWTR_L=3, tRTW=6, CL=5, CWL=2, BL=2, tREFI=400, tRFC=20,
            tRCD=5, tRCDWR=4, tWR=4, m_max=40, k_max=200)


def setup(**overrides):
    """``(params, hardware config, layout parameters)`` of a tiny controller."""
    params = PimCtrlParams(**{**TINY, **overrides})
    return params, params.hw_config(), params.layout_params()


def simulate(dut, bench):
    top = Module()
    top.domains.sync = ClockDomain()    # also for a unit without registers (refresh off)
    top.submodules.dut = dut
    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()


def bits(ctx, value) -> int:
    """The raw bits of a signal, view or port."""
    return ctx.get(Value.cast(value))


async def pulse(ctx, signal) -> None:
    """Hold ``signal`` high for one clock cycle (e.g. the end of a job)."""
    ctx.set(signal, 1)
    await ctx.tick()
    ctx.set(signal, 0)


def chance(rng, p: float) -> bool:
    return bool(rng.random() < p)


def random_bits(rng, width: int) -> int:
    return int.from_bytes(rng.bytes(ceil_div(width, 8)), "little") & ((1 << width) - 1)


# -- loop nest (the address generator's contract) --------------------------------------------

def loop_nest(cols, n_acc, row_base, n_seg, last_cols, grp_step, m, rows):
    """Row passes of a job as dicts, in schedule order: ``for g: for s: for a``."""
    groups = ceil_div(m, grp_step)
    blocks = ceil_div(groups, n_acc)
    passes = []
    for g in range(blocks):
        a_count = min(n_acc, groups - g * n_acc)
        for s in range(n_seg):
            for a in range(a_count):
                group = g * n_acc + a
                ncols = last_cols if s == n_seg - 1 else cols
                block_last = s == n_seg - 1 and a == a_count - 1
                job_last = block_last and g == blocks - 1
                first = not passes
                passes.append(dict(
                    row=(row_base + group * n_seg + s) % rows, ncols=ncols, acc=a, seg_word=s * cols,
                    word_end=s * cols + ncols,
                    load_first=int(a == 0 and (n_seg > 1 or first)),
                    load_last=int(a == a_count - 1 and (n_seg > 1 or job_last)),
                    block_last=int(block_last), a_count=a + 1, job_last=int(job_last), job_first=int(first)))
    return passes


def expected_loads(cols, n_acc, n_seg, last_cols, grp_step, m):
    """Load requests ``(word, ncols)`` of a job: one per (block, segment), once with one segment."""
    if n_seg == 1:
        return [(0, last_cols)]
    blocks = ceil_div(ceil_div(m, grp_step), n_acc)
    return [(s * cols, last_cols if s == n_seg - 1 else cols) for _ in range(blocks) for s in range(n_seg)]


def as_dict(const, names):
    return {name: int(const[name]) for name in names}


PASS_FIELDS = ("row", "ncols", "acc", "seg_word", "word_end", "load_first", "load_last", "block_last", "a_count",
               "job_last", "job_first")


# -- job setup --------------------------------------------------------------------------------

def random_descriptors(rng, params, count):
    full = (1 << params.channels) - 1
    corner = [
        dict(m=1, k=1, ch_mask=1), dict(m=params.m_max, k=params.k_max, ch_mask=full),
        dict(m=0, k=5, ch_mask=1), dict(m=3, k=0, ch_mask=1), dict(m=3, k=5, ch_mask=0),
        dict(m=params.m_max + 1, k=5, ch_mask=1), dict(m=3, k=params.k_max + 1, ch_mask=full),
        dict(m=7, k=64, ch_mask=1 << (params.channels - 1)), dict(m=9, k=65, ch_mask=full),
    ]
    descs = []
    for i in range(count):
        d = dict(corner[i]) if i < len(corner) else dict(
            m=int(rng.integers(1, params.m_max + 1)), k=int(rng.integers(1, params.k_max + 1)),
            ch_mask=int(rng.integers(1, full + 1)))
        d.update(op=int(rng.integers(0, 4)), row_base=int(rng.integers(0, 1024)),
                 tag=int(rng.integers(0, 1 << params.tag_bits)))
        descs.append(d)
    order = rng.permutation(len(descs))
    return [descs[i] for i in order]


def job_expectation(params, config, d):
    """What the job setup registers for descriptor ``d`` (None: illegal)."""
    if not (1 <= d["m"] <= params.m_max and 1 <= d["k"] <= params.k_max and d["ch_mask"]):
        return None
    cols, banks = config.cols_per_row, config.banks
    n_ch = bin(d["ch_mask"]).count("1")
    words = ceil_div(d["k"], config.lanes)
    local = ceil_div(words, n_ch) if params.reduce_channels else words
    return dict(
        op=d["op"], row=d["row_base"], m=d["m"], tag=d["tag"], mask=d["ch_mask"], words_total=words, n_ch=n_ch,
        grp_step=banks if params.reduce_channels else n_ch * banks,
        n_seg=ceil_div(local, cols), last_cols=(local - 1) % cols + 1,
        rank=[bin(d["ch_mask"] & ((1 << c) - 1)).count("1") for c in range(params.channels)])


@pytest.mark.parametrize("channels, reduce", [(1, False), (3, False), (3, True)])
def test_job_setup(seed, channels, reduce):
    params, config, layout = setup(channels=channels, reduce_channels=reduce)
    dut = JobSetup(config, layout, reduce=reduce)
    rng = np.random.default_rng(seed)
    descs = random_descriptors(rng, params, 30)
    taken = []

    def check_registers(ctx, want):
        got = {name: bits(ctx, getattr(dut, name)) for name in want if name not in ("rank", "n_seg", "last_cols")}
        got["rank"] = [bits(ctx, dut.rank[c]) for c in range(channels)]
        assert got == {k: v for k, v in want.items() if k not in ("n_seg", "last_cols")}

    async def bench(ctx):
        error = 0
        index = 0
        while index < len(descs):
            d = descs[index]
            ctx.set(dut.job.valid, chance(rng, 0.6))
            ctx.set(dut.job.payload, {k: d[k] for k in ("op", "row_base", "m", "k", "ch_mask", "tag")})
            assert bits(ctx, dut.job.ready) == 1 and bits(ctx, dut.active) == 0
            if not bits(ctx, dut.job.valid):
                await ctx.tick()
                continue
            taken.append(d)
            index += 1
            await ctx.tick()
            ctx.set(dut.job.valid, 0)
            want = job_expectation(params, config, d)
            if want is None:
                error = 1
                assert bits(ctx, dut.error) == 1 and bits(ctx, dut.active) == 0 and bits(ctx, dut.start) == 0
                continue
            assert bits(ctx, dut.error) == error
            assert bits(ctx, dut.active) == 1 and bits(ctx, dut.start) == 1 and bits(ctx, dut.job.ready) == 0
            check_registers(ctx, want)
            # The loop nest may start: at once, or (split-K) once the local column count is ready.
            gen_starts, cycles, results_done = 0, 0, 0
            while True:
                if bits(ctx, dut.gen_start):
                    gen_starts += 1
                    assert (bits(ctx, dut.n_seg), bits(ctx, dut.last_cols)) == (want["n_seg"], want["last_cols"])
                    assert cycles <= (want["words_total"] + 2 if reduce else 0)
                start = bits(ctx, dut.start)
                assert start == int(cycles == 0)
                if gen_starts and chance(rng, 0.2):
                    results_done = 1
                busy, pending = int(chance(rng, 0.3)), int(chance(rng, 0.3))
                ctx.set(dut.results_done, results_done)
                ctx.set(dut.units_busy, busy)
                ctx.set(dut.results_pending, pending)
                # The next descriptor waits (not taken, not lost) while this job is active.
                ctx.set(dut.job.valid, index < len(descs) and chance(rng, 0.5))
                if index < len(descs):
                    nxt = descs[index]
                    ctx.set(dut.job.payload, {k: nxt[k] for k in ("op", "row_base", "m", "k", "ch_mask", "tag")})
                assert bits(ctx, dut.job.ready) == 0
                done = results_done and not busy and not start and not pending
                assert bits(ctx, dut.done) == done
                await ctx.tick()
                cycles += 1
                if done:
                    break
            ctx.set(dut.results_done, 0)
            ctx.set(dut.job.valid, 0)
            assert gen_starts == 1 and bits(ctx, dut.active) == 0
        assert bits(ctx, dut.error) == int(any(job_expectation(params, config, d) is None for d in descs))

    simulate(dut, bench)
    assert taken == descs


# -- vector buffer ---------------------------------------------------------------------------

@pytest.mark.parametrize("channels, reduce", [(2, False), (3, True)])
def test_vector_buffer(seed, channels, reduce):
    params, config, layout = setup(channels=channels, reduce_channels=reduce)
    dut = VectorBuffer(config, layout, reduce=reduce)
    rng = np.random.default_rng(seed)
    col_bits = config.col_bytes * 8
    lanes = channels if reduce else 1
    depth = layout.vec_words
    memory = [[0] * lanes for _ in range(depth)]

    async def bench(ctx):
        totals = [1, depth, 2, channels + 1] + [int(rng.integers(1, depth + 1)) for _ in range(6)]
        for total in totals:
            n_ch = int(rng.integers(1, channels + 1)) if reduce else 1
            beats = [random_bits(rng, col_bits) for _ in range(total)]
            ctx.set(dut.job_active, 1)
            ctx.set(dut.start, 1)
            ctx.set(dut.words_total, total)
            ctx.set(dut.n_ch, n_ch)
            sent, cycles = 0, 0
            while sent < total or cycles < 3:
                # The source offers more beats than the vector has: the extra ones must not be taken.
                ctx.set(dut.vec.valid, chance(rng, 0.6))
                ctx.set(dut.vec.payload, {"data": beats[sent] if sent < total else 12345})
                assert bits(ctx, dut.vec.ready) == int(cycles > 0 and sent < total)
                # Complete memory words: split-K counts a column once every rank has its beat.
                if reduce:
                    assert bits(ctx, dut.avail) == (ceil_div(sent, n_ch) if sent == total else sent // n_ch)
                else:
                    assert bits(ctx, dut.avail) == sent
                if bits(ctx, dut.vec.valid) and bits(ctx, dut.vec.ready):
                    memory[sent // n_ch][sent % n_ch] = beats[sent]
                    sent += 1
                address = int(rng.integers(0, depth))
                ctx.set(dut.read.addr, address)
                await ctx.tick()
                ctx.set(dut.start, 0)
                # The word at the address presented before the edge (the write of that cycle included).
                word = bits(ctx, dut.read.data)
                assert [(word >> (lane * col_bits)) & ((1 << col_bits) - 1) for lane in range(lanes)] \
                    == memory[address]
                cycles += 1
            complete = ceil_div(total, n_ch) if reduce else total
            assert bits(ctx, dut.avail) == complete
            ctx.set(dut.vec.valid, 0)
            await pulse(ctx, dut.job_done)
            ctx.set(dut.job_active, 0)
            assert bits(ctx, dut.avail) == 0
            await ctx.tick()

    simulate(dut, bench)


# -- address generator ------------------------------------------------------------------------

@pytest.mark.parametrize("n_acc, gb_slots, channels", [(1, 1, 1), (3, 2, 2), (2, 1, 3)])
def test_address_generator(seed, n_acc, gb_slots, channels):
    params, config, layout = setup(n_acc=n_acc, gb_slots=gb_slots, channels=channels)
    dut = AddressGenerator(config, layout)
    rng = np.random.default_rng(seed)
    cols, banks = config.cols_per_row, config.banks
    max_seg = ceil_div(layout.k_max, config.elems_per_row)
    jobs = [dict(row_base=1023, n_seg=max_seg, last_cols=1, grp_step=banks, m=params.m_max),
            dict(row_base=0, n_seg=1, last_cols=cols, grp_step=channels * banks, m=1),
            dict(row_base=5, n_seg=1, last_cols=3, grp_step=banks, m=params.m_max)]
    jobs += [dict(row_base=int(rng.integers(0, 1024)), n_seg=int(rng.integers(1, max_seg + 1)),
                  last_cols=int(rng.integers(1, cols + 1)), grp_step=banks * int(rng.integers(1, channels + 1)),
                  m=int(rng.integers(1, params.m_max + 1))) for _ in range(6)]

    async def bench(ctx):
        for job in jobs:
            for name, value in job.items():
                ctx.set(getattr(dut, "row" if name == "row_base" else name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            passes, loads, idle = [], [], 0
            while idle < 5:
                ctx.set(dut.passes.ready, chance(rng, 0.5))
                ctx.set(dut.loads.ready, chance(rng, 0.5))
                if bits(ctx, dut.passes.valid) and bits(ctx, dut.passes.ready):
                    passes.append(as_dict(ctx.get(dut.passes.payload), PASS_FIELDS))
                if bits(ctx, dut.loads.valid) and bits(ctx, dut.loads.ready):
                    load = ctx.get(dut.loads.payload)
                    loads.append((int(load.word), int(load.ncols)))
                busy = bits(ctx, dut.busy) or bits(ctx, dut.passes.valid) or bits(ctx, dut.loads.valid)
                idle = 0 if busy else idle + 1
                await ctx.tick()
                assert len(passes) < 1000
            want = loop_nest(cols, n_acc, job["row_base"], job["n_seg"], job["last_cols"], job["grp_step"], job["m"],
                             1024)
            assert passes == want, job
            assert loads == expected_loads(cols, n_acc, job["n_seg"], job["last_cols"], job["grp_step"], job["m"])

    simulate(dut, bench)


# -- activate unit ---------------------------------------------------------------------------

def random_passes(rng, config, layout, count):
    """Pass descriptors with random fields in range (the activate unit only reads some)."""
    cols, n_acc = config.cols_per_row, config.n_acc
    out = []
    for _ in range(count):
        ncols = int(rng.integers(1, cols + 1))
        seg_word = int(rng.integers(0, layout.vec_words - ncols + 1))
        a_count = int(rng.integers(1, n_acc + 1))
        out.append(dict(row=int(rng.integers(0, config.rows)), ncols=ncols, acc=a_count - 1, seg_word=seg_word,
                        word_end=seg_word + ncols, load_first=int(chance(rng, 0.5)),
                        load_last=int(chance(rng, 0.5)), block_last=int(chance(rng, 0.5)), a_count=a_count,
                        job_last=int(chance(rng, 0.2)), job_first=int(chance(rng, 0.2))))
    return out


@pytest.mark.parametrize("dual, n_acc", [(False, 1), (True, 3)])
def test_activate_unit(seed, dual, n_acc):
    params, config, layout = setup(dual_row_buffer=dual, n_acc=n_acc)
    dut = ActivateUnit(config, layout)
    rng = np.random.default_rng(seed)
    jobs = [random_passes(rng, config, layout, int(rng.integers(1, 12))) for _ in range(4)]
    depth = result_depth(config)
    handed = []

    async def bench(ctx):
        opened = set()     # open row buffers (the reference)
        for passes in jobs:
            sent, held, issued, rbuf, opened_rbuf = 0, None, False, 0, None
            avail, cycles = 0, 0
            while sent < len(passes) or held is not None:
                cycles += 1
                assert cycles < 20000, "stuck"
                # Inputs of the cycle.
                avail = min(layout.vec_words, avail + int(rng.integers(0, 3)))
                credit = int(rng.integers(0, depth + 1))
                due, ok = chance(rng, 0.15), chance(rng, 0.7)
                closing = sorted(opened)[0] if opened and chance(rng, 0.3) else None
                ctx.set(dut.passes.valid, sent < len(passes) and chance(rng, 0.6))
                if sent < len(passes):
                    ctx.set(dut.passes.payload, passes[sent])
                ctx.set(dut.avail_words, avail)
                ctx.set(dut.credit, credit)
                ctx.set(dut.refresh_due, due)
                ctx.set(dut.cmd.ok, ok)
                ctx.set(dut.close.valid, closing is not None)
                ctx.set(dut.close.rbuf, closing or 0)
                ctx.set(dut.activated.ready, chance(rng, 0.5))
                # The contract.
                want_req = (held is not None and not issued and avail >= held["word_end"]
                            and (not held["block_last"] or credit >= held["a_count"])
                            and rbuf not in opened and not due and ok)
                assert bits(ctx, dut.cmd.req) == want_req
                assert bits(ctx, dut.passes.ready) == (held is None)
                assert bits(ctx, dut.busy) == (held is not None)
                assert bits(ctx, dut.open_any) == bool(opened)
                if held is not None:
                    assert (bits(ctx, dut.cmd.row), bits(ctx, dut.cmd.rbuf)) == (held["row"], rbuf)
                    assert bits(ctx, dut.wait_vector) == (avail < held["word_end"])
                    assert bits(ctx, dut.wait_result) == (held["block_last"] and credit < held["a_count"])
                assert bits(ctx, dut.activated.valid) == (held is not None and issued)
                grant = want_req and chance(rng, 0.8)
                ctx.set(dut.cmd.grant, grant)
                assert bits(ctx, dut.reserve) == (held["a_count"] if grant and held["block_last"] else 0)
                # Transfers at the edge.
                if bits(ctx, dut.activated.valid) and bits(ctx, dut.activated.ready):
                    payload = ctx.get(dut.activated.payload)
                    handed.append((as_dict(payload.desc, PASS_FIELDS), int(payload.rbuf)))
                    assert handed[-1] == (held, opened_rbuf)
                    held, issued = None, False
                if bits(ctx, dut.passes.valid) and bits(ctx, dut.passes.ready):
                    held = passes[sent]
                    sent += 1
                if grant:
                    issued, opened_rbuf = True, rbuf
                    opened.add(rbuf)
                    rbuf = 1 - rbuf if dual else 0
                if closing is not None and not (grant and opened_rbuf == closing):
                    opened.discard(closing)
                await ctx.tick()
                ctx.set(dut.cmd.grant, 0)
            # End of the job: the next one starts in row buffer 0.
            ctx.set(dut.passes.valid, 0)
            await pulse(ctx, dut.job_done)

    simulate(dut, bench)
    every = [p for passes in jobs for p in passes]
    assert [desc for desc, _ in handed] == every
    if not dual:
        assert {rbuf for _, rbuf in handed} == {0}


# -- MAC unit --------------------------------------------------------------------------------

def pass_commands(p, op, n_acc, slot, rbuf):
    """The commands of one pass, in order: ``(cmd, acc, col, slot, rbuf)`` (col/slot/rbuf 0
    except for MACAB)."""
    out = []
    if p["job_first"] and op != JobOp.GEMV_ACC:
        out += [(Cmd.CLRMAC, a, 0, 0, 0) for a in range(n_acc)]
    out += [(Cmd.MACAB, p["acc"], col, slot, rbuf) for col in range(p["ncols"])]
    if p["block_last"]:
        out += [(Cmd.RDMAC, a, 0, 0, 0) for a in range(p["a_count"])]
        if not p["job_last"]:
            out += [(Cmd.CLRMAC, a, 0, 0, 0) for a in range(n_acc)]
    return out


@pytest.mark.parametrize("n_acc, gb_slots", [(1, 1), (3, 2)])
def test_mac_unit(seed, n_acc, gb_slots):
    params, config, layout = setup(n_acc=n_acc, gb_slots=gb_slots, dual_row_buffer=True)
    dut = MacUnit(config, layout)
    rng = np.random.default_rng(seed)
    cols, banks = config.cols_per_row, config.banks
    hold_cols = ceil_div(config.CWL + config.BL + config.tWTR_S, config.mac_spacing) + 1
    jobs = []
    for _ in range(4):
        n_seg = int(rng.integers(1, 4))
        passes = loop_nest(cols, n_acc, int(rng.integers(0, 1024)), n_seg, int(rng.integers(1, cols + 1)),
                           banks, int(rng.integers(1, params.m_max + 1)), 1024)
        jobs.append((int(rng.choice([JobOp.GEMV, JobOp.GEMV_ACC, JobOp.ATTN_QK])), passes))
    issued, expected = [], []

    async def bench(ctx):
        for op, passes in jobs:
            ctx.set(dut.op, op)
            rbufs = [int(rng.integers(0, 2)) for _ in passes]
            slot, sent, queue = 0, 0, []     # queue: remaining commands of the held pass
            current, last_mac, cycles = None, False, 0
            while sent < len(passes) or current is not None:
                cycles += 1
                assert cycles < 20000, "stuck"
                avail_loads = int(rng.integers(0, gb_slots + 1))
                pre_busy, ok, ok_read = chance(rng, 0.3), chance(rng, 0.7), chance(rng, 0.7)
                ctx.set(dut.activated.valid, sent < len(passes) and chance(rng, 0.6))
                if sent < len(passes):
                    ctx.set(dut.activated.payload, {"desc": passes[sent], "rbuf": rbufs[sent]})
                ctx.set(dut.avail_loads, avail_loads)
                ctx.set(dut.pre_busy, pre_busy)
                ctx.set(dut.cmd.ok, ok)
                ctx.set(dut.cmd.ok_read, ok_read)
                assert bits(ctx, dut.busy) == (current is not None)
                want_req = False
                if queue:
                    cmd, acc, col, cslot, crbuf = queue[0]
                    last_mac = cmd == Cmd.MACAB and col == current["ncols"] - 1
                    want_req = {Cmd.CLRMAC: True, Cmd.RDMAC: ok_read,
                                Cmd.MACAB: ok and avail_loads != 0 and not (last_mac and pre_busy)}[cmd]
                    got = (ctx.get(dut.cmd.cmd), bits(ctx, dut.cmd.acc))
                    assert got == (cmd, acc)
                    assert bits(ctx, dut.cmd.column) == (cmd == Cmd.MACAB)
                    if cmd == Cmd.MACAB:
                        assert (bits(ctx, dut.cmd.col), bits(ctx, dut.cmd.slot), bits(ctx, dut.cmd.rbuf)) \
                            == (col, cslot, crbuf)
                    assert bits(ctx, dut.waiting) == (cmd == Cmd.MACAB)
                    near = cmd == Cmd.MACAB and current["ncols"] - col <= hold_cols and avail_loads > 0
                    assert bits(ctx, dut.hold_bus) == bool(current["block_last"] and (near or cmd == Cmd.RDMAC))
                else:
                    assert not bits(ctx, dut.waiting) and not bits(ctx, dut.hold_bus)
                assert bits(ctx, dut.cmd.req) == want_req
                grant = want_req and chance(rng, 0.8)
                ctx.set(dut.cmd.grant, grant)
                ending = grant and len(queue) == 1
                assert bits(ctx, dut.activated.ready) == (current is None or ending)
                assert bits(ctx, dut.macab) == (grant and queue[0][0] == Cmd.MACAB)
                assert bits(ctx, dut.rdmac) == (grant and queue[0][0] == Cmd.RDMAC)
                retire = grant and last_mac
                assert bits(ctx, dut.retire.valid) == retire
                if retire:
                    assert (bits(ctx, dut.retire.rbuf), bits(ctx, dut.retire.load_last)) \
                        == (queue[0][4], current["load_last"])
                if grant:
                    issued.append(queue.pop(0))
                    if retire and current["load_last"] and gb_slots > 1:
                        slot = 1 - slot
                        # The slot moves on: the pass's remaining MACABs are none (it was the last).
                if ending:
                    current = None
                if bits(ctx, dut.activated.valid) and bits(ctx, dut.activated.ready):
                    current = passes[sent]
                    queue = pass_commands(current, op, n_acc, slot, rbufs[sent])
                    expected.extend(queue)
                    sent += 1
                await ctx.tick()
                ctx.set(dut.cmd.grant, 0)
            ctx.set(dut.activated.valid, 0)
            await pulse(ctx, dut.job_done)

    simulate(dut, bench)
    assert issued == expected and len(expected) > 0


# -- precharge unit --------------------------------------------------------------------------

def test_precharge_unit(seed):
    dut = PrechargeUnit()
    rng = np.random.default_rng(seed)
    retired, closed, freed = [], [], 0

    async def bench(ctx):
        nonlocal freed
        held = None
        for _ in range(2000):
            # The MAC unit retires a pass only while the unit is free.
            retire = held is None and chance(rng, 0.3)
            rbuf, load_last, ok = int(rng.integers(0, 2)), int(rng.integers(0, 2)), chance(rng, 0.6)
            ctx.set(dut.retire.valid, retire)
            ctx.set(dut.retire.rbuf, rbuf)
            ctx.set(dut.retire.load_last, load_last)
            ctx.set(dut.cmd.ok, ok)
            assert bits(ctx, dut.busy) == (held is not None)
            assert bits(ctx, dut.cmd.req) == (held is not None and ok)
            grant = bits(ctx, dut.cmd.req) and chance(rng, 0.7)
            ctx.set(dut.cmd.grant, grant)
            assert bits(ctx, dut.close.valid) == grant
            assert bits(ctx, dut.freed) == bool(grant and held[1])
            if held is not None:
                assert bits(ctx, dut.cmd.rbuf) == held[0] and bits(ctx, dut.close.rbuf) == held[0]
            if grant:
                closed.append(held)
                freed += held[1]
                held = None
            if retire:
                held = (rbuf, load_last)
                retired.append(held)
            await ctx.tick()

    simulate(dut, bench)
    assert closed == retired[:len(closed)] and len(retired) - len(closed) <= 1
    assert freed == sum(load_last for _, load_last in closed)


# -- vector loader ---------------------------------------------------------------------------

@pytest.mark.parametrize("gb_slots", [1, 2])
def test_vector_loader(seed, gb_slots):
    params, config, layout = setup(gb_slots=gb_slots)
    width = config.col_bytes * 8
    dut = VectorLoader(config, layout, width=width)
    rng = np.random.default_rng(seed)
    cols, depth = config.cols_per_row, layout.vec_words
    memory = [random_bits(rng, width) for _ in range(depth)]
    jobs = []
    for _ in range(3):
        requests = []
        for _ in range(int(rng.integers(1, 6))):
            ncols = int(rng.integers(1, cols + 1))
            requests.append((int(rng.integers(0, depth - ncols + 1)), ncols))
        jobs.append(requests)
    jobs.insert(0, [(depth - cols, cols), (0, 1)])
    issued, expected = [], []

    async def bench(ctx):
        free, loaded, consumed, freed = gb_slots, 0, 0, 0   # slot credits of the reference
        read_addr = 0
        for requests in jobs:
            expected.extend((col, index % gb_slots, memory[word + col])
                            for index, (word, ncols) in enumerate(requests) for col in range(ncols))
            sent, held, avail, avail_before, cycles = 0, None, 0, 0, 0
            while sent < len(requests) or held is not None:
                cycles += 1
                assert cycles < 20000, "stuck"
                active = cycles > 3                    # no request is taken before the job is active
                avail = min(depth, avail + int(rng.integers(0, 3)))
                hold, ok = chance(rng, 0.2), chance(rng, 0.7)
                consume = loaded > 0 and chance(rng, 0.3)             # the MAC unit uses up a load
                free_now = consumed > freed and chance(rng, 0.3)       # its PREA frees the slot
                ctx.set(dut.job_active, active)
                ctx.set(dut.loads.valid, sent < len(requests) and chance(rng, 0.6))
                if sent < len(requests):
                    ctx.set(dut.loads.payload, {"word": requests[sent][0], "ncols": requests[sent][1]})
                ctx.set(dut.avail_words, avail)
                ctx.set(dut.hold, hold)
                ctx.set(dut.cmd.ok, ok)
                ctx.set(dut.retire.valid, consume or chance(rng, 0.1))
                ctx.set(dut.retire.load_last, consume)
                ctx.set(dut.freed, free_now)
                ctx.set(dut.read.data, memory[read_addr])   # the word addressed before the edge
                assert bits(ctx, dut.loads.ready) == (held is None and active)
                assert bits(ctx, dut.busy) == (held is not None)
                assert bits(ctx, dut.avail_loads) == loaded
                want_req = False
                if held is not None:
                    word = held["word"] + held["col"]
                    # The column's word was in the vector buffer in the cycle before.
                    want_req = word < avail_before and not hold and (held["claimed"] or free > 0) and ok
                    assert (bits(ctx, dut.cmd.col), bits(ctx, dut.cmd.slot)) == (held["col"], held["slot"])
                    assert bits(ctx, dut.cmd.data) == memory[word]
                assert bits(ctx, dut.cmd.req) == want_req
                grant = want_req and chance(rng, 0.8)
                ctx.set(dut.cmd.grant, grant)
                read_addr = bits(ctx, dut.read.addr) % depth
                if grant:
                    issued.append((held["col"], held["slot"], memory[held["word"] + held["col"]]))
                    if not held["claimed"]:
                        held["claimed"] = True
                        free -= 1
                    held["col"] += 1
                    if held["col"] == held["ncols"]:
                        held = None
                        loaded += 1
                if consume:
                    loaded -= 1
                    consumed += 1
                if free_now:
                    free += 1
                    freed += 1
                if bits(ctx, dut.loads.valid) and bits(ctx, dut.loads.ready):
                    word, ncols = requests[sent]
                    held = dict(word=word, ncols=ncols, col=0, claimed=False, slot=sent % gb_slots)
                    sent += 1
                avail_before = avail
                await ctx.tick()
                ctx.set(dut.cmd.grant, 0)
            ctx.set(dut.loads.valid, 0)
            ctx.set(dut.retire.valid, 0)
            ctx.set(dut.freed, 0)
            await pulse(ctx, dut.job_done)

    simulate(dut, bench)
    assert issued == expected


# -- refresh engine --------------------------------------------------------------------------

@pytest.mark.parametrize("postpone, mode", [(0, "ab"), (2, "ab"), (0, "off")])
def test_refresh_engine(seed, postpone, mode):
    params, config, layout = setup(refresh_postpone=postpone, refresh_mode=mode)
    dut = RefreshEngine(config)
    rng = np.random.default_rng(seed)
    period, window = config.tREFI, refresh_window(config)
    cycles = 8 * period
    refs = []

    async def bench(ctx):
        credit = postpone                  # REFs issued - intervals elapsed + postpone
        job_active, open_for = False, 0
        for t in range(cycles):
            if chance(rng, 0.003):
                job_active = not job_active
            phase = (t + min(4, period - 1)) % period   # the engine's interval starts 4 cycles early
            due = mode == "ab" and ((credit == 0 and period - 1 - phase < window)
                                    or (not job_active and credit < postpone + 1))
            # Rows: a pass stays open for a while; none opens while a refresh is due.
            if open_for:
                open_for -= 1
            elif not due and chance(rng, 0.05):
                open_for = int(rng.integers(1, window // 4))
            ok = chance(rng, 0.9)
            ctx.set(dut.job_active, job_active)
            ctx.set(dut.open_any, open_for > 0)
            ctx.set(dut.cmd.ok, ok)
            assert bits(ctx, dut.due) == due, t
            assert bits(ctx, dut.cmd.req) == (due and open_for == 0 and ok)
            grant = bits(ctx, dut.cmd.req) and chance(rng, 0.9)
            ctx.set(dut.cmd.grant, grant)
            if grant:
                refs.append(t + 1)         # the slot shows the REF in the next cycle
            if mode == "ab":
                credit += grant - (phase == period - 1)
            await ctx.tick()

    simulate(dut, bench)
    if mode == "off":
        assert refs == []
        return
    # The DRAM's obligation: by the end of cycle t, floor((t + 1) / tREFI) - postpone REFs.
    for t in range(cycles):
        assert sum(r <= t for r in refs) >= (t + 1) // period - postpone, t
    # No more than needed: at most one beyond the intervals elapsed plus the postponed ones.
    assert len(refs) <= cycles // period + 1 + postpone + 1


# -- command arbiter -------------------------------------------------------------------------

#: Column and bus rules neutralised: what is left of the table are the row rules.
ROW_ONLY = dict(tCCD_S=1, tCCD_L=1, tCCD_MAC=1, BL=1, CWL=0, tWTR_S=0, tWTR_L=0, tRTW=1)
SLOT_FIELDS = ("cmd", "bg", "bank", "row", "col", "acc", "slot", "rbuf", "data")


@pytest.mark.parametrize("overrides", [
    dict(channels=2),
    dict(channels=3, dual_row_buffer=True, gb_slots=2, n_acc=2, reduce_channels=True, faw_weight_actab=2),
    dict(channels=1, faw_weight_actab=4, tFAW=16, tRRD_S=1, tRRD_L=1),
])
def test_command_arbiter(seed, overrides):
    params, config, layout = setup(**overrides)
    C, reduce = params.channels, params.reduce_channels
    col_bits = config.col_bytes * 8
    width = col_bits * (C if reduce else 1)
    dut = CommandArbiter(config, layout, reduce=reduce, width=width)
    rng = np.random.default_rng(seed)
    rbufs, slots = 2 if config.dual_row_buffer else 1, config.gb_slots
    # The independent checker of the channel model: its timing rules answer "legal now?".
    spec = ChannelSpec.from_params(config, refresh=False)
    checkers = [TimingChecker(spec, on_violation="record", channel=ch) for ch in range(C)]
    row_checkers = [TimingChecker(ChannelSpec.from_params(config, refresh=False, **ROW_ONLY), on_violation="record")
                    for _ in range(C)]
    counts = dict.fromkeys(("mac", "pre", "act", "ref", "wrgb"), 0)

    def legal(cmd, channels, cycle, which=checkers):
        return all(which[ch].earliest(cmd)[0] <= cycle for ch in channels)

    async def bench(ctx):
        full = (1 << C) - 1
        mask = full
        for n in range(3000):
            if chance(rng, 0.02):
                mask = int(rng.integers(1, full + 1))
            enabled = [ch for ch in range(C) if mask >> ch & 1]
            ctx.set(dut.mask, mask)
            for ch in range(C):
                ctx.set(dut.rank[ch], bin(mask & ((1 << ch) - 1)).count("1"))
            mac = dict(cmd=Cmd(int(rng.choice([Cmd.MACAB, Cmd.MACAB, Cmd.RDMAC, Cmd.CLRMAC]))),
                       acc=int(rng.integers(0, config.n_acc)), col=int(rng.integers(0, config.cols_per_row)),
                       slot=int(rng.integers(0, slots)), rbuf=int(rng.integers(0, rbufs)))
            mac["column"] = int(mac["cmd"] == Cmd.MACAB)
            pre = dict(rbuf=int(rng.integers(0, rbufs)))
            act = dict(row=int(rng.integers(0, config.rows)), rbuf=int(rng.integers(0, rbufs)))
            wrgb = dict(col=int(rng.integers(0, config.cols_per_row)), slot=int(rng.integers(0, slots)),
                        data=random_bits(rng, width))
            fields = dict(mac=mac, pre=pre, act=act, ref={}, wrgb=wrgb)
            for name, values in fields.items():
                for field, value in values.items():
                    ctx.set(getattr(getattr(dut, name), field), value)
            # Timing answers, for a command that goes out in the next cycle.
            cycle = n + 1
            macab = Command("MACAB", col=mac["col"], acc=mac["acc"], slot=mac["slot"], rbuf=mac["rbuf"])
            answers = {
                "mac.ok": legal(macab, enabled, cycle),
                "mac.ok_read": legal(Command("RDMAC"), enabled, cycle),
                "pre.ok": legal(Command("PREA", rbuf=pre["rbuf"]), enabled, cycle),
                "act.ok": legal(Command("ACTAB", row=act["row"], rbuf=act["rbuf"]), enabled, cycle),
                "ref.ok": legal(Command("REF"), range(C), cycle),
                "wrgb.ok": legal(Command("WRGB", col=wrgb["col"], slot=wrgb["slot"]), enabled, cycle),
                "mac_row_ok": legal(macab, enabled, cycle, row_checkers),
            }
            got = {key: bits(ctx, getattr(getattr(dut, key.split(".")[0]), key.split(".")[1]) if "." in key
                             else getattr(dut, key)) for key in answers}
            assert got == {key: int(value) for key, value in answers.items()}, n
            # Requests as the units raise them: when ready and legal.
            legal_now = {"mac": {Cmd.MACAB: answers["mac.ok"], Cmd.RDMAC: answers["mac.ok_read"],
                                 Cmd.CLRMAC: True}[mac["cmd"]],
                         "pre": answers["pre.ok"], "act": answers["act.ok"], "ref": answers["ref.ok"],
                         "wrgb": answers["wrgb.ok"]}
            reqs = {name: legal_now[name] and chance(rng, 0.4) for name in fields}
            for name, req in reqs.items():
                ctx.set(getattr(dut, name).req, req)
            winner = next((name for name in ("mac", "pre", "act", "ref", "wrgb") if reqs[name]), None)
            assert {name: bits(ctx, getattr(dut, name).grant) for name in fields} \
                == {name: int(name == winner) for name in fields}
            if winner:
                counts[winner] += 1
            await ctx.tick()
            for ch in range(C):
                slot = ctx.get(dut.cmd[ch])
                got_slot = {name: int(slot[name]) for name in SLOT_FIELDS}
                want = dict.fromkeys(SLOT_FIELDS, 0)
                if winner and (ch in enabled or winner == "ref"):
                    want.update({
                        "mac": lambda: dict(cmd=mac["cmd"], acc=mac["acc"],
                                            **({k: mac[k] for k in ("col", "slot", "rbuf")} if mac["column"] else {})),
                        "pre": lambda: dict(cmd=Cmd.PREA, rbuf=pre["rbuf"]),
                        "act": lambda: dict(cmd=Cmd.ACTAB, row=act["row"], rbuf=act["rbuf"]),
                        "ref": lambda: dict(cmd=Cmd.REF),
                        "wrgb": lambda: dict(cmd=Cmd.WRGB, col=wrgb["col"], slot=wrgb["slot"], data=(
                            (wrgb["data"] >> (enabled.index(ch) * col_bits)) & ((1 << col_bits) - 1) if reduce
                            else wrgb["data"])),
                    }[winner]())
                assert got_slot == {k: int(v) for k, v in want.items()}, (n, ch)
                if want["cmd"] != Cmd.NOP:
                    command = Command.of(got_slot)
                    checkers[ch].check(cycle, command)
                    row_checkers[ch].check(cycle, command)

    simulate(dut, bench)
    timing = [v for checker in checkers for v in checker.violations if not v.rule.startswith("state_")]
    assert timing == []
    assert all(counts.values()), counts     # every source got commands through


# -- result collector ------------------------------------------------------------------------

def wrap32(value):
    value &= 0xFFFFFFFF
    return value


@pytest.mark.parametrize("channels, reduce, n_acc", [(2, False, 1), (3, False, 2), (3, True, 2), (1, False, 3)])
def test_result_collector(seed, channels, reduce, n_acc):
    params, config, layout = setup(channels=channels, reduce_channels=reduce, n_acc=n_acc)
    dut = ResultCollector(config, layout, reduce=reduce)
    rng = np.random.default_rng(seed)
    B, CL, depth = config.banks, config.CL, result_depth(config)
    full = (1 << channels) - 1
    jobs = [(params.m_max, full), (1, 1)] + [(int(rng.integers(1, params.m_max + 1)), int(rng.integers(1, full + 1)))
                                             for _ in range(4)]
    data_bits = max(config.col_bytes * 8, B * 32)

    async def bench(ctx):
        credit = depth                       # entries neither reserved nor freed (the reference)
        for job_index, (m, mask) in enumerate(jobs):
            tag = job_index % (1 << params.tag_bits)
            chans = [ch for ch in range(channels) if mask >> ch & 1]
            n_ch = len(chans)
            entries = ceil_div(m, B) if reduce else ceil_div(m, n_ch * B)
            ctx.set(dut.m, m)
            ctx.set(dut.mask, mask)
            ctx.set(dut.tag, tag)
            expected, received, history = [], [], []
            reserved = issued = 0
            to_issue = 0                     # reads reserved but not yet issued
            returns = {}                     # cycle of a read's data -> entry
            t = 0
            while issued < entries or returns or len(received) < len(expected):
                t += 1
                assert t < 20000, "stuck"
                # Reserve a block's entries when there is room (the activate unit's rule).
                block = min(n_acc, entries - reserved)
                reserve = block if block and to_issue == 0 and credit >= block and chance(rng, 0.3) else 0
                rdmac = to_issue > 0 and chance(rng, 0.5)
                ctx.set(dut.reserve, reserve)
                ctx.set(dut.rdmac, rdmac)
                words = [random_bits(rng, data_bits) for _ in range(channels)]
                for ch in range(channels):
                    ctx.set(dut.rdata[ch].data, words[ch])
                if t in returns:
                    entry = returns.pop(t)
                    lanes = [[(words[ch] >> (32 * b)) & 0xFFFFFFFF for b in range(B)] for ch in range(channels)]
                    if reduce:
                        index = entry * B
                        values = tuple(wrap32(sum(lanes[ch][b] for ch in chans)) for b in range(B))
                        expected.append((tag, index, values, int(index + B >= m)))
                    else:
                        for rank, ch in enumerate(chans):
                            index = (entry * n_ch + rank) * B
                            if index < m:
                                expected.append((tag, index, tuple(lanes[ch]), int(index + B >= m)))
                ctx.set(dut.res.ready, chance(rng, 0.5))
                assert credit - reserve >= 0
                if bits(ctx, dut.res.valid) and bits(ctx, dut.res.ready):
                    beat = ctx.get(dut.res.payload)
                    received.append((int(beat.tag), int(beat.index), tuple(int(v) for v in beat.values),
                                     int(beat.last)))
                    assert received[-1] == expected[len(received) - 1]
                if rdmac:
                    # The RDMAC goes out in the next cycle's slot; its data returns CL cycles later.
                    returns[t + 1 + CL] = issued
                    issued += 1
                    to_issue -= 1
                reserved += reserve
                to_issue += reserve
                history.append(bits(ctx, dut.credit))
                await ctx.tick()
                credit = bits(ctx, dut.credit)
            # The entries' credits come back; the job's last beat went out.
            for _ in range(4):
                await ctx.tick()
            assert received == expected
            assert bits(ctx, dut.credit) == depth and bits(ctx, dut.pending) == 0 and bits(ctx, dut.done) == 1
            assert max(history) <= depth
            ctx.set(dut.reserve, 0)
            ctx.set(dut.rdmac, 0)
            await pulse(ctx, dut.job_done)
            assert bits(ctx, dut.done) == 0

    simulate(dut, bench)


# -- counters --------------------------------------------------------------------------------

def test_perf_counters(seed):
    params, config, layout = setup(gb_slots=2)
    dut = PerfCounters(config, width=16)
    rng = np.random.default_rng(seed)
    ref = dict.fromkeys(COUNTER_NAMES, 0)

    async def bench(ctx):
        for _ in range(3000):
            values = dict(job_active=chance(rng, 0.8), macab=chance(rng, 0.3), actab=chance(rng, 0.1),
                          ref=chance(rng, 0.05), mac_waiting=chance(rng, 0.5),
                          avail_loads=int(rng.integers(0, 3)), mac_row_ok=chance(rng, 0.5),
                          refresh_due=chance(rng, 0.1), slot_cmd=Cmd(int(rng.choice([0, 6, 7, 8, 9]))),
                          act_wait_vector=chance(rng, 0.3), act_wait_result=chance(rng, 0.3))
            for name, value in values.items():
                ctx.set(getattr(dut, name), value)
            v = values
            ref["busy_cycles"] += v["job_active"]
            ref["mac_count"] += v["macab"]
            ref["act_count"] += v["actab"]
            ref["ref_count"] += v["ref"]
            if v["job_active"] and not v["macab"]:
                if v["mac_waiting"] and v["avail_loads"] == 0:
                    reason = "vector"
                elif v["mac_waiting"] and not v["mac_row_ok"]:
                    reason = "row"
                elif v["mac_waiting"]:
                    reason = "column"
                elif v["refresh_due"] or v["slot_cmd"] == Cmd.REF:
                    reason = "refresh"
                elif v["act_wait_vector"]:
                    reason = "vector"
                elif v["act_wait_result"]:
                    reason = "result"
                else:
                    reason = "row"
                ref["stall_" + reason] += 1
            await ctx.tick()
            assert {name: bits(ctx, getattr(dut, name)) for name in COUNTER_NAMES} == ref

    simulate(dut, bench)
    assert all(ref.values())
