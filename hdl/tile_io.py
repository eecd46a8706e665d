"""The stream shell of a tile engine: admission, result rows, busy counters.

A tile engine (the systolic arrays, the broadcast engines) takes operand beats on two streams
that transfer together, computes a tile of results in its grid, and returns the tile's rows
on a result stream, ``last`` on the tile's final row. Around the grid, every engine needs the
same three things, each a component here:

- :class:`TileAdmission` joins the operand streams and admits a tile's final beat only when
  the result rows of the tile have room (credits) and the previous tile ended at least
  ``rows`` cycles ago, so that rows can leave one per cycle;
- :class:`ResultRows` takes finished results out of the grid one row per cycle (a one-hot
  row select per column, gated and OR-ed or an encoded multiplexer tree:
  :data:`ROW_SELECTS`), adds carry-save pairs with one log-depth adder per column when the
  grid keeps them, buffers the rows and sends them on ``c``; :class:`RowDrain` sequences the
  row select of a grid that finishes all rows of a tile in the same cycle;
- :class:`BusyCounters` counts busy cycles and multiply-accumulates, so that utilization is
  measured by the hardware.
"""

import functools
import operator

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .layouts import TileStreamSignature
from .mac import FINAL_ADDERS, final_add

__all__ = ["engine_outputs", "TileAdmission", "RowDrain", "ROW_SELECTS", "encoded_select", "ResultRows", "BusyCounters"]

#: How a column of :class:`ResultRows` picks the row that leaves: ``"and_or"`` gates every
#: row's result with its select and ORs them (``2 * rows - 1`` two-input gates per result
#: bit; on ECP5 a LUT4 takes two gated rows, and each select drives one LUT per bit);
#: ``"mux_tree"`` encodes the selects into a row index that steers a tree of two-input
#: multiplexers (:func:`encoded_select`: ``rows - 1`` gates per bit, fewer gates for an ASIC;
#: on ECP5 the index bits' fan-out and the encoder come before the multiplexers).
ROW_SELECTS = ("and_or", "mux_tree")


def engine_outputs(acc_shape, cols: int, counter_width: int) -> dict:
    """The signature members every engine with result rows has: ``c`` (rows of ``cols``
    results, ``last`` on a tile's or job's final row) and the :class:`BusyCounters` outputs."""
    return {"c": Out(TileStreamSignature(acc_shape, cols)), "cycle_count": Out(counter_width),
            "mac_count": Out(counter_width)}


def _positive(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


class TileAdmission(wiring.Component):
    """Joins the operand streams of a tile engine; admits a tile's final beat when its result
    rows have room and tiles end at least ``rows`` cycles apart.

    Parameters
    ----------
    a_signature : TileStreamSignature
        Signature of the A stream; its payload has ``last`` (the tile's final beat).
    b_signature : TileStreamSignature
        Signature of the B stream (no ``last``); it transfers together with A.
    rows : int
        Result rows per tile (reserved when the tile's final beat is admitted).
    result_rows : int
        Result rows the engine can hold (``>= rows``).
    external_tile_end : bool
        The grid reports the end of a tile itself (``tile_end``), e.g. when a beat takes
        several cycles; tile ends are then spaced from that event. Otherwise a tile ends
        when its final beat is admitted.

    Members
    -------
    a : In(a_signature)
    b : In(b_signature)
        The operand streams; ``a.ready`` and ``b.ready`` are high together and only while
        both are valid (``ready`` may depend on ``a.payload.last``).
    o : Out(stream.Signature({"a": A data, "b": B data, "last": 1}))
        The joined beat; ``o.valid & o.ready`` is the cycle a beat enters the grid.
    release : In(1)
        A result row left the engine: its credit returns.
    tile_end : In(1)
        The grid's final cycle of a tile (with ``external_tile_end`` only).
    pending : Out(1)
        Some admitted tile still has result rows in the engine.
    """

    def __init__(self, a_signature: TileStreamSignature, b_signature: TileStreamSignature, *, rows: int,
                 result_rows: int, external_tile_end: bool = False):
        _positive("rows", rows)
        _positive("result_rows", result_rows)
        if result_rows < rows:
            raise ValueError(f"result_rows must be at least rows={rows}, not {result_rows!r}")
        if not a_signature.last or b_signature.last:
            raise ValueError("the A stream must carry last and the B stream must not")
        self._rows = rows
        self._result_rows = result_rows
        self._external_tile_end = external_tile_end
        beat = data.StructLayout({"a": a_signature.payload_layout["data"].shape,
                                  "b": b_signature.payload_layout["data"].shape, "last": unsigned(1)})
        members = {"a": In(a_signature), "b": In(b_signature), "o": Out(stream.Signature(beat)),
                   "release": In(1), "pending": Out(1)}
        if external_tile_end:
            members["tile_end"] = In(1)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        rows, result_rows = self._rows, self._result_rows
        reserved = Signal(range(result_rows + 1))  # result rows promised to admitted tiles
        is_last = self.a.payload.last
        if rows > 1:
            since_tile_end = Signal(range(rows + 1), init=rows)
            if self._external_tile_end:
                # A beat takes >= 1 cycle, so admitting the last one rows - 1 cycles after the
                # previous tile's final cycle keeps the tiles' final cycles rows apart.
                spaced = (since_tile_end >= rows - 1) & ~self.tile_end
            else:
                spaced = since_tile_end >= rows
        else:
            spaced = Const(1)
        admit = ~is_last | (spaced & (reserved <= result_rows - rows))
        accept = admit & self.o.ready
        m.d.comb += [
            self.a.ready.eq(self.b.valid & accept),
            self.b.ready.eq(self.a.valid & accept),
            self.o.valid.eq(self.a.valid & self.b.valid & admit),
            self.o.payload.a.eq(self.a.payload.data),
            self.o.payload.b.eq(self.b.payload.data),
            self.o.payload.last.eq(is_last),
        ]
        ends_tile = self.o.valid & self.o.ready & is_last
        if rows > 1:
            tile_end_event = self.tile_end if self._external_tile_end else ends_tile
            with m.If(tile_end_event):
                m.d.sync += since_tile_end.eq(1)
            with m.Elif(since_tile_end < rows):
                m.d.sync += since_tile_end.eq(since_tile_end + 1)
        m.d.sync += reserved.eq(reserved + Mux(ends_tile, rows, 0) - self.release)
        m.d.comb += self.pending.eq(reserved != 0)
        return m


class RowDrain(wiring.Component):
    """Row select of a grid whose tile results are all final in the same cycle and held in
    place: row 0 is selected in the cycle of ``done``, row ``i`` ``i`` cycles later.

    Parameters
    ----------
    rows : int
        Rows of the tile.

    Members
    -------
    done : In(1)
        The grid holds a finished tile (one-cycle pulse, at most every ``rows`` cycles).
    select : Out(rows)
        One-hot: the row leaving this cycle.
    write : Out(1)
        A row leaves this cycle.
    """

    def __init__(self, rows: int):
        _positive("rows", rows)
        self._rows = rows
        super().__init__({"done": In(1), "select": Out(rows), "write": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rows, done = self._rows, self.done
        if rows == 1:
            m.d.comb += [self.write.eq(done), self.select.eq(1)]
            return m
        # One flip-flop per row after the first (bit i: row i + 1 leaves), shifted along:
        # each select is a register, not a decoded counter, since it fans out to every
        # result of its row. ``done`` comes at most every ``rows`` cycles, so the chain is
        # empty again when it does.
        later = Signal(rows - 1, name="drain_rows")
        m.d.sync += later.eq(Cat(done, later[:-1]))
        m.d.comb += [
            self.write.eq(done | later.any()),
            self.select.eq(Cat(done, later)),
        ]
        return m


def encoded_select(selects, values):
    """``values[i]`` for the one high ``selects[i]`` (at most one is high; with none, the
    result is ``values[0]``).

    The one-hot selects are encoded into a row index (bit ``k`` the OR of the selects whose
    row has bit ``k`` set), which steers a balanced tree of two-input multiplexers:
    ``len(values) - 1`` gates per result bit, where gating every value and OR-ing them takes
    ``2 * len(values) - 1``. Each index bit drives every multiplexer of its level.
    """
    if len(selects) != len(values) or not values:
        raise ValueError(f"selects and values must be non-empty lists of equal length, not "
                         f"{len(selects)} and {len(values)}")
    level = list(values)
    bit = 0
    while len(level) > 1:
        index_bit = functools.reduce(operator.or_, (sel for i, sel in enumerate(selects) if (i >> bit) & 1))
        level = [Mux(index_bit, level[t + 1], level[t]) if t + 1 < len(level) else level[t]
                 for t in range(0, len(level), 2)]
        bit += 1
    return level[0]


class ResultRows(wiring.Component):
    """Finished results out of a grid, one row per cycle, into a buffer and onto ``c``.

    Each column selects the row that leaves this cycle among the grid's held results (at most
    one select of a column is high; ``row_select`` chooses the circuit). With carry-save
    results the selected sum/carry pair is registered and added by one log-depth adder per
    column (:func:`~accelgen.hdl.mac.prefix_add`, modulo ``2**acc_width``), so neither the
    select nor the adder is on the longest path.

    Parameters
    ----------
    acc_shape : Shape
        Shape of a result.
    rows : int or None
        Rows of a tile: ``last`` is set on every ``rows``-th row. ``None``: tiles have a
        run-time length, and ``last`` is written with each row (member ``last``).
    cols : int
        Results per row.
    depth : int
        Rows the buffer holds (``>= rows``).
    carry_save : bool
        The grid holds carry-save pairs (``sum``, ``carry``) instead of results.
    per_column : bool
        Every column has its own select, write strobe and buffer (a skewed grid, whose columns
        finish a row in different cycles; ``c`` is valid when the last column has the row).
        Otherwise all columns write a row together into one buffer.
    final_adder : str
        Architecture of the carry-save results' adders (:data:`~accelgen.hdl.mac.FINAL_ADDERS`).
    row_select : str
        Circuit of each column's row select (:data:`ROW_SELECTS`).

    Members
    -------
    results : In(ArrayLayout(ArrayLayout(result, cols), rows))
        The grid's held results; ``result`` is ``acc_shape`` or ``{"sum", "carry"}``
        (``acc_shape.width`` bits each) with ``carry_save``.
    select : In(ArrayLayout(unsigned(cols), rows))
        ``select[i][j]``: row ``i`` of column ``j`` leaves this cycle.
    write : In(cols) or In(1)
        A row of the column (``per_column``) or of every column leaves this cycle.
    last : In(1)
        The row written this cycle ends a tile (``rows=None`` only).
    c : Out(TileStreamSignature(acc_shape, cols))
        Result rows in order, ``last`` on each tile's final row.
    row_out : Out(1)
        A row transfers on ``c`` this cycle.
    """

    def __init__(self, acc_shape, *, rows: int, cols: int, depth: int, carry_save: bool = False,
                 per_column: bool = False, final_adder: str = "prefix", row_select: str = "and_or"):
        if final_adder not in FINAL_ADDERS:
            raise ValueError(f"final_adder={final_adder!r} is not legal: must be one of "
                             f"{', '.join(map(repr, FINAL_ADDERS))}")
        if row_select not in ROW_SELECTS:
            raise ValueError(f"row_select={row_select!r} is not legal: must be one of "
                             f"{', '.join(map(repr, ROW_SELECTS))}")
        self._final_adder = final_adder
        self._row_select = row_select
        for name, value in (("rows", rows or 1), ("cols", cols), ("depth", depth)):
            _positive(name, value)
        if depth < (rows or 1):
            raise ValueError(f"depth must be at least rows={rows}, not {depth!r}")
        if rows is None and (carry_save or per_column):
            raise ValueError("rows=None (last written with each row) needs carry_save=False and per_column=False")
        self._acc_shape = acc_shape
        self._rows, self._cols, self._depth = rows, cols, depth
        self._carry_save = carry_save
        self._per_column = per_column
        width = unsigned(acc_shape.width)
        result = data.StructLayout({"sum": width, "carry": width}) if carry_save else acc_shape
        members = {
            "results": In(data.ArrayLayout(data.ArrayLayout(result, cols), rows or 1)),
            "select": In(data.ArrayLayout(unsigned(cols), rows or 1)),
            "write": In(cols if per_column else 1),
            "c": Out(TileStreamSignature(acc_shape, cols)),
            "row_out": Out(1),
        }
        if rows is None:
            members["last"] = In(1)
        super().__init__(members)

    def _tree_selected(self, j):
        # All bits of the row (a carry-save pair: sum, then carry) through one tree.
        rows = self._rows or 1
        values = [Value.cast(self.results[i][j]).as_unsigned() for i in range(rows)]
        return encoded_select([self.select[i][j] for i in range(rows)], values)

    def _selected(self, j, field=None):
        # At most one select of a column is high, so OR-ing the gated values selects it.
        values = [self.results[i][j] if field is None else self.results[i][j][field] for i in range(self._rows or 1)]
        return functools.reduce(operator.or_, (Mux(self.select[i][j], value.as_unsigned(), 0)
                                               for i, value in enumerate(values)))

    def elaborate(self, platform):
        m = Module()
        cols, width = self._cols, self._acc_shape.width
        if self._carry_save:
            write = Signal.like(self.write, name="pair_write")
            m.d.sync += write.eq(self.write)
            words = []
            for j in range(cols):
                pair_sum = Signal(width, name=f"pair_sum_{j}")
                pair_carry = Signal(width, name=f"pair_carry_{j}")
                if self._row_select == "mux_tree":
                    pair = self._tree_selected(j)
                    m.d.sync += [pair_sum.eq(pair[:width]), pair_carry.eq(pair[width:])]
                else:
                    m.d.sync += [pair_sum.eq(self._selected(j, "sum")), pair_carry.eq(self._selected(j, "carry"))]
                words.append(final_add(m, pair_sum, pair_carry, width, style=self._final_adder, name=f"cpa_{j}"))
        else:
            write = self.write
            words = [self._tree_selected(j) if self._row_select == "mux_tree" else self._selected(j)
                     for j in range(cols)]

        # SyncFIFOBuffered(depth=2) can refuse a write while its output register is still
        # empty; the credits assume every entry usable, so it gets one spare entry. Depth 1
        # would be a bare register, a cycle faster than the others: the latency the cycle
        # model counts holds for depth >= 3 only.
        depth = 3 if self._depth <= 2 else self._depth
        transfer = self.c.valid & self.c.ready
        if self._per_column:
            buffers = []
            for j in range(cols):
                q = m.submodules[f"result_fifo_{j}"] = fifo.SyncFIFOBuffered(width=width, depth=depth)
                m.d.comb += [q.w_en.eq(write[j]), q.w_data.eq(words[j]),
                             self.c.payload.data[j].eq(q.r_data), q.r_en.eq(transfer)]
                buffers.append(q)
            # Column j receives each row j cycles after column 0 and all columns pop together,
            # so whenever the last column holds a row every other column holds it too.
            m.d.comb += self.c.valid.eq(buffers[-1].r_rdy)
        elif self._rows is None:
            # The row and its last bit, as the payload of c.
            q = m.submodules.result_fifo = fifo.SyncFIFOBuffered(width=cols * width + 1, depth=depth)
            m.d.comb += [q.w_en.eq(write), q.w_data.eq(Cat(*words, self.last)),
                         self.c.valid.eq(q.r_rdy), self.c.payload.as_value().eq(q.r_data), q.r_en.eq(transfer)]
        else:
            q = m.submodules.result_fifo = fifo.SyncFIFOBuffered(width=cols * width, depth=depth)
            m.d.comb += [q.w_en.eq(write), q.w_data.eq(Cat(*words)),
                         self.c.valid.eq(q.r_rdy), self.c.payload.data.as_value().eq(q.r_data), q.r_en.eq(transfer)]

        rows = self._rows
        if rows == 1:
            m.d.comb += self.c.payload.last.eq(1)
        elif rows is not None:
            out_row = Signal(range(rows))
            m.d.comb += self.c.payload.last.eq(out_row == rows - 1)
            with m.If(transfer):
                m.d.sync += out_row.eq(Mux(out_row == rows - 1, 0, out_row + 1))
        m.d.comb += self.row_out.eq(transfer)
        return m


class BusyCounters(wiring.Component):
    """Busy-cycle and multiply-accumulate counters of an engine (they wrap).

    A cycle is busy when a beat is accepted, a tile has begun but not ended (its next beat is
    awaited), or ``in_flight`` says other work is pending (results in the engine, a load...).

    Parameters
    ----------
    counter_width : int
        Width of both counters.
    macs_per_beat : int
        Multiply-accumulates of one accepted beat.
    adder : str
        Architecture of the counters' adders (:data:`~accelgen.hdl.mac.FINAL_ADDERS`).

    Members
    -------
    beat : In(1)
        A beat is accepted this cycle.
    last : In(1)
        That beat ends a tile.
    in_flight : In(1)
        Work other than accepting beats is pending.
    cycle_count, mac_count : Out(counter_width)
        Busy cycles and multiply-accumulates since reset.
    """

    def __init__(self, *, counter_width: int, macs_per_beat: int, adder: str = "prefix"):
        _positive("counter_width", counter_width)
        _positive("macs_per_beat", macs_per_beat)
        if adder not in FINAL_ADDERS:
            raise ValueError(f"adder={adder!r} is not legal: must be one of {', '.join(map(repr, FINAL_ADDERS))}")
        self._adder = adder
        self._macs_per_beat = macs_per_beat
        super().__init__({"beat": In(1), "last": In(1), "in_flight": In(1),
                          "cycle_count": Out(counter_width), "mac_count": Out(counter_width)})

    def elaborate(self, platform):
        m = Module()
        tile_open = Signal()  # a tile's beats have begun, its last one is still to come
        with m.If(self.beat):
            m.d.sync += tile_open.eq(~self.last)
        busy = self.beat | tile_open | self.in_flight
        # busy and beat come late (from the handshake), so they only choose between the count
        # and its successor, which the adder forms from the registers alone (a "prefix" adder
        # has logarithmic depth where generic synthesis makes a ripple chain of `+`).
        width = len(self.cycle_count)
        m.d.sync += [
            self.cycle_count.eq(Mux(busy, final_add(m, self.cycle_count, 1, width, style=self._adder,
                                                    name="cycle_add"), self.cycle_count)),
            self.mac_count.eq(Mux(self.beat, final_add(m, self.mac_count, Const(self._macs_per_beat), width,
                                                       style=self._adder, name="mac_add"), self.mac_count)),
        ]
        return m
