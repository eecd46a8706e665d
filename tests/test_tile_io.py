# amaranth: UnusedElaboratable=no
"""Unit tests of the shared stream blocks: the tile-stream signature and payload packing
(hdl.layouts, verif.packing) and the tile engines' shell (hdl.tile_io), each against an
independent Python model of its rule, cycle by cycle, under random stimulus."""

import random

import numpy as np
import pytest
from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.sim import Simulator

from accelgen.hdl.layouts import TileStreamSignature, payload_fields
from accelgen.hdl.tile_io import BusyCounters, ResultRows, RowDrain, TileAdmission, encoded_select
from accelgen.verif.packing import pack_beats, stream_layouts, unpack_beats


def run(dut, testbench):
    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)  # a purely combinational block has no clock domain
    sim.add_testbench(testbench)
    sim.run()


# -- TileStreamSignature and packing ---------------------------------------------------------------

def test_signature_payload_places_data_flags_then_last():
    sig = TileStreamSignature(data.ArrayLayout(signed(5), 3), 2, flags=("keep", "mask"))
    fields = payload_fields(sig.payload_layout)
    assert list(fields) == ["data", "keep", "mask", "last"]
    assert fields["data"] == {"offset": 0, "width": 30, "elem_width": 5, "elem_signed": True, "count": 6}
    assert (fields["keep"]["offset"], fields["mask"]["offset"], fields["last"]["offset"]) == (30, 32, 34)
    assert sig.members["payload"].shape == sig.payload_layout
    assert not TileStreamSignature(unsigned(4), 3, last=False).last
    assert "last" not in payload_fields(TileStreamSignature(unsigned(4), 3, last=False).payload_layout)


def test_signature_equality_and_repr():
    sig = TileStreamSignature(signed(8), 4)
    assert sig == TileStreamSignature(signed(8), 4)
    assert sig != TileStreamSignature(signed(8), 5)
    assert sig != TileStreamSignature(signed(8), 4, last=False)
    assert sig != TileStreamSignature(unsigned(8), 4)
    assert sig != stream.Signature(sig.payload_layout)
    assert repr(TileStreamSignature(signed(8), 4, flags=("keep",), last=False)) == \
        "TileStreamSignature(signed(8), 4, flags=('keep',), last=False)"


@pytest.mark.parametrize("args,kwargs,error,message", [
    ((signed(8), 0), {}, TypeError, r"^lanes must be a positive integer, not 0$"),
    ((signed(8), True), {}, TypeError, r"^lanes must be a positive integer, not True$"),
    (("wide", 2), {}, TypeError, r"wide"),
    ((signed(8), 2), {"flags": ("last",)}, ValueError, r"^flags must be field names other than \('data', 'last'\), not 'last'$"),
    ((signed(8), 2), {"flags": ("keep", "keep")}, ValueError, r"^flags must be distinct, not \('keep', 'keep'\)$"),
    ((signed(8), 2), {"last": 1}, TypeError, r"^last must be a bool, not 1$"),
])
def test_signature_validates_its_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        TileStreamSignature(*args, **kwargs)


def test_signature_connects_to_a_plain_stream():
    """A FIFO's stream.Interface joins a TileStreamSignature member with wiring.connect."""
    sig = TileStreamSignature(signed(6), 3)

    class Passthrough(wiring.Component):
        def __init__(self):
            super().__init__({"i": wiring.In(sig), "o": wiring.Out(sig)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.q = q = fifo.SyncFIFOBuffered(width=sig.payload_layout.size, depth=2)
            wiring.connect(m, wiring.flipped(self.i), q.w_stream)
            wiring.connect(m, q.r_stream, wiring.flipped(self.o))
            return m

    dut = Passthrough()
    words = pack_beats(sig.payload_layout, data=[[1, -2, 3], [-32, 31, 0]], last=[0, 1])

    async def testbench(ctx):
        received, sent = [], 0
        ctx.set(dut.o.ready, 1)
        for _ in range(20):
            ctx.set(dut.i.valid, sent < len(words))
            ctx.set(dut.i.payload.as_value(), words[min(sent, len(words) - 1)])
            _, _, taken, valid, payload = await ctx.tick().sample(
                dut.i.valid & dut.i.ready, dut.o.valid, dut.o.payload.as_value())
            sent += taken
            if valid:
                received.append(payload)
        assert received == words

    run(dut, testbench)


def test_pack_and_unpack_are_inverse_for_random_payloads(seed):
    rng = np.random.default_rng(seed)
    sig = TileStreamSignature(data.ArrayLayout(signed(7), 3), 2, flags=("keep",))
    beats = 50
    values = {"data": rng.integers(-64, 64, (beats, 2, 3)), "keep": rng.integers(0, 4, beats),
              "last": rng.integers(0, 2, beats)}
    unpacked = unpack_beats(sig.payload_layout, pack_beats(sig.payload_layout, **values))
    np.testing.assert_array_equal(unpacked["data"], values["data"].reshape(beats, 6))
    np.testing.assert_array_equal(unpacked["keep"], values["keep"])
    np.testing.assert_array_equal(unpacked["last"], values["last"])
    with pytest.raises(ValueError, match=r"fields \['lst'\] are not in the payload layout"):
        pack_beats(sig.payload_layout, data=values["data"], lst=values["last"])


def test_stream_layouts_lists_the_stream_members():
    dut = BusyCounters(counter_width=16, macs_per_beat=3)
    assert stream_layouts(dut) == {}
    dut = ResultRows(signed(9), rows=2, cols=3, depth=4)
    assert stream_layouts(dut) == {"c": TileStreamSignature(signed(9), 3).payload_layout}


# -- TileAdmission -----------------------------------------------------------------------------------

class AdmissionModel:
    """The admission rule, written from its specification."""

    def __init__(self, rows, result_rows, external):
        self.rows, self.result_rows, self.external = rows, result_rows, external
        self.reserved, self.since = 0, rows

    def outputs(self, a_valid, b_valid, last, o_ready, tile_end):
        if self.rows == 1:
            spaced = True
        elif self.external:
            spaced = self.since >= self.rows - 1 and not tile_end
        else:
            spaced = self.since >= self.rows
        admit = not last or (spaced and self.reserved <= self.result_rows - self.rows)
        return {"o_valid": a_valid and b_valid and admit, "a_ready": b_valid and admit and o_ready,
                "b_ready": a_valid and admit and o_ready, "pending": self.reserved != 0}

    def step(self, out, last, o_ready, tile_end, release):
        ends = out["o_valid"] and o_ready and last
        if (tile_end if self.external else ends):
            self.since = 1
        elif self.since < self.rows:
            self.since += 1
        self.reserved += self.rows * ends - release


@pytest.mark.parametrize("rows,result_rows,external", [(1, 1, False), (3, 3, False), (3, 7, False), (4, 8, True),
                                                        (2, 2, True)])
def test_tile_admission_follows_its_rule(rows, result_rows, external, seed):
    rng = random.Random(seed)
    a_sig, b_sig = TileStreamSignature(signed(4), 2), TileStreamSignature(unsigned(3), 3, last=False)
    dut = TileAdmission(a_sig, b_sig, rows=rows, result_rows=result_rows, external_tile_end=external)
    model = AdmissionModel(rows, result_rows, external)
    counts = {"ends": 0, "blocked_last": 0}

    async def testbench(ctx):
        for cycle in range(3000):
            a_valid, b_valid = rng.random() < 0.7, rng.random() < 0.7
            last = rng.random() < 0.4
            o_ready = rng.random() < 0.7 if external else True
            tile_end = external and rng.random() < 0.3
            release = model.reserved > 0 and rng.random() < 0.5
            a_data, b_data = rng.randrange(1 << 8), rng.randrange(1 << 9)
            ctx.set(dut.a.valid, a_valid)
            ctx.set(dut.b.valid, b_valid)
            ctx.set(dut.a.payload.as_value(), a_data | (last << 8))
            ctx.set(dut.b.payload.as_value(), b_data)
            ctx.set(dut.o.ready, o_ready)
            ctx.set(dut.release, release)
            if external:
                ctx.set(dut.tile_end, tile_end)
            want = model.outputs(a_valid, b_valid, last, o_ready, tile_end)
            got = {"o_valid": ctx.get(dut.o.valid), "a_ready": ctx.get(dut.a.ready),
                   "b_ready": ctx.get(dut.b.ready), "pending": ctx.get(dut.pending)}
            assert got == {k: int(v) for k, v in want.items()}, (cycle, model.reserved, model.since)
            assert (ctx.get(dut.o.payload.a.as_value()), ctx.get(dut.o.payload.b.as_value()),
                    ctx.get(dut.o.payload.last)) == (a_data, b_data, last)
            counts["ends"] += want["o_valid"] and o_ready and last
            counts["blocked_last"] += a_valid and b_valid and last and not want["o_valid"]
            model.step(want, last, o_ready, tile_end, release)
            await ctx.tick()

    run(dut, testbench)
    assert counts["ends"] > 50  # the stimulus ended tiles...
    if rows > 1 or result_rows == rows:
        assert counts["blocked_last"] > 20  # ...and hit the credit / spacing rule


def test_tile_admission_checks_its_arguments():
    a_sig, b_sig = TileStreamSignature(signed(4), 2), TileStreamSignature(unsigned(3), 3, last=False)
    with pytest.raises(ValueError, match=r"^result_rows must be at least rows=4, not 3$"):
        TileAdmission(a_sig, b_sig, rows=4, result_rows=3)
    with pytest.raises(ValueError, match=r"^the A stream must carry last and the B stream must not$"):
        TileAdmission(b_sig, a_sig, rows=1, result_rows=1)
    with pytest.raises(ValueError, match=r"^rows must be a positive integer, not 0$"):
        TileAdmission(a_sig, b_sig, rows=0, result_rows=1)


# -- RowDrain ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("rows", [1, 2, 5])
def test_row_drain_selects_one_row_per_cycle(rows, seed):
    rng = random.Random(seed)
    dut = RowDrain(rows)

    async def testbench(ctx):
        draining = None  # the next row to leave, or None
        since = rows
        pulses = 0
        for _ in range(600):
            done = since >= rows and rng.random() < 0.5
            ctx.set(dut.done, done)
            if done:
                draining, since, pulses = 0, 0, pulses + 1
            assert ctx.get(dut.write) == int(draining is not None)
            if draining is not None:  # (the select does not matter while nothing is written)
                assert ctx.get(dut.select) == 1 << draining
            if draining is not None:
                draining = draining + 1 if draining + 1 < rows else None
            since += 1
            # With one row the drain is combinational and the design has no clock.
            await (ctx.delay(1e-8) if rows == 1 else ctx.tick())
        assert pulses > 50

    run(dut, testbench)


# -- ResultRows --------------------------------------------------------------------------------------

@pytest.mark.parametrize("count", range(1, 10))
def test_encoded_select_picks_the_selected_value(count, seed):
    """For every one-hot select of ``count`` values (power of two or not), the multiplexer
    tree returns the selected value, under random values; with none high, the first."""
    rng = random.Random(seed)
    selects = [Signal(name=f"sel_{i}") for i in range(count)]
    values = [Signal(6, name=f"value_{i}") for i in range(count)]
    out = Signal(6)
    m = Module()
    m.d.comb += out.eq(encoded_select(selects, values))

    async def testbench(ctx):
        for chosen in [*range(count), None]:
            for _ in range(8):
                drawn = [rng.randrange(64) for _ in range(count)]
                for i in range(count):
                    ctx.set(values[i], drawn[i])
                    ctx.set(selects[i], int(i == chosen))
                assert ctx.get(out) == drawn[0 if chosen is None else chosen], (chosen, drawn)

    run(m, testbench)


def test_encoded_select_checks_its_arguments():
    with pytest.raises(ValueError, match=r"^selects and values must be non-empty lists of equal length, not 2 and 3$"):
        encoded_select([Signal(), Signal()], [Signal(), Signal(), Signal()])


@pytest.mark.parametrize("rows,cols,depth,carry_save,per_column,row_select", [
    (3, 2, 3, False, False, "and_or"), (1, 3, 2, False, False, "and_or"), (4, 2, 6, True, False, "and_or"),
    (3, 3, 4, False, True, "and_or"), (2, 2, 2, True, True, "and_or"), (None, 3, 3, False, False, "and_or"),
    (5, 2, 5, True, True, "mux_tree"), (4, 3, 4, False, True, "mux_tree"), (1, 2, 2, True, True, "mux_tree"),
    (3, 2, 3, True, False, "mux_tree"),
])
def test_result_rows_in_order_with_last(rows, cols, depth, carry_save, per_column, row_select, seed):
    """Rows chosen by random one-hot selects among random held results (column ``j`` written
    ``j`` cycles after column 0 with ``per_column``) leave on ``c`` in order, carry-save pairs
    added modulo 2**width, ``last`` on each tile's final row (or as written, with
    ``rows=None``), under random backpressure: nothing lost, duplicated or reordered."""
    rng = random.Random(seed)
    width = 7
    dut = ResultRows(signed(width), rows=rows, cols=cols, depth=depth, carry_save=carry_save, per_column=per_column,
                     row_select=row_select)
    grid_rows = rows or 1

    def as_signed(word):
        return word - (1 << width) if word >> (width - 1) else word

    async def testbench(ctx):
        written = []  # per row: [value per column], last
        schedule = {}  # cycle -> [(row, column, grid row)] writes due
        received = []
        in_flight = 0
        for cycle in range(1500):
            if in_flight < depth and rng.random() < 0.6:
                row = len(written)
                written.append([[None] * cols, rng.random() < 0.3])
                in_flight += 1
                for j in range(cols):
                    schedule.setdefault(cycle + (j if per_column else 0), []).append(
                        (row, j, rng.randrange(grid_rows)))
            # Every held result is random; the selects pick the one that leaves.
            for i in range(grid_rows):
                for j in range(cols):
                    if carry_save:
                        ctx.set(dut.results[i][j].sum, rng.randrange(1 << width))
                        ctx.set(dut.results[i][j].carry, rng.randrange(1 << width))
                    else:
                        ctx.set(dut.results[i][j], rng.randrange(-(1 << (width - 1)), 1 << (width - 1)))
                    ctx.set(dut.select[i][j], 0)
            strobes = 0
            for row, j, i in schedule.pop(cycle, []):
                ctx.set(dut.select[i][j], 1)
                if carry_save:
                    value = as_signed((ctx.get(dut.results[i][j].sum) + ctx.get(dut.results[i][j].carry)) % (1 << width))
                else:
                    value = ctx.get(dut.results[i][j])
                written[row][0][j] = value
                strobes |= 1 << j
                if rows is None:
                    ctx.set(dut.last, written[row][1])
            ctx.set(dut.write, strobes if per_column else int(strobes != 0))
            ctx.set(dut.c.ready, rng.random() < 0.6)
            _, _, valid, ready, payload, row_out = await ctx.tick().sample(
                dut.c.valid, dut.c.ready, dut.c.payload, dut.row_out)
            assert row_out == (valid and ready)
            if valid and ready:
                received.append((list(payload.data), payload.last))
                in_flight -= 1
        expected = [(values, int(last if rows is None else r % rows == rows - 1))
                    for r, (values, last) in enumerate(written[:len(received)])]
        assert received == expected
        assert len(received) > 300

    run(dut, testbench)


def test_result_rows_checks_its_arguments():
    with pytest.raises(ValueError, match=r"^depth must be at least rows=4, not 3$"):
        ResultRows(signed(8), rows=4, cols=2, depth=3)
    with pytest.raises(ValueError, match=r"needs carry_save=False and per_column=False"):
        ResultRows(signed(8), rows=None, cols=2, depth=3, carry_save=True)


# -- BusyCounters ------------------------------------------------------------------------------------

def test_busy_counters_count_busy_cycles_and_macs(seed):
    rng = random.Random(seed)
    dut = BusyCounters(counter_width=16, macs_per_beat=6)

    async def testbench(ctx):
        busy_cycles = macs = 0
        tile_open = False
        for _ in range(2000):
            beat, last, in_flight = rng.random() < 0.4, rng.random() < 0.3, rng.random() < 0.2
            ctx.set(dut.beat, beat)
            ctx.set(dut.last, last)
            ctx.set(dut.in_flight, in_flight)
            busy_cycles += beat or tile_open or in_flight
            macs += 6 * beat
            if beat:
                tile_open = not last
            await ctx.tick()
            assert (ctx.get(dut.cycle_count), ctx.get(dut.mac_count)) == (busy_cycles % 65536, macs % 65536)

    run(dut, testbench)


def test_result_rows_refuses_an_unknown_row_select():
    with pytest.raises(ValueError, match=r"^row_select='gated' is not legal: must be one of 'and_or', 'mux_tree'$"):
        ResultRows(signed(8), rows=4, cols=2, depth=4, per_column=True, row_select="gated")
