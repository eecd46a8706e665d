"""Digit-serial multiply-accumulate with zero-digit skipping (``mac="booth_serial"``).

Each A operand is recoded into radix-4 Booth digits ``d_p`` in {-2, -1, 0, 1, 2} of weight
``4**p`` (``ceil(n/2)`` digits for an ``n``-bit signed operand, ``ceil((n+1)/2)`` unsigned),
so ``a * b = sum_p d_p * (b << 2p)``. A :class:`BoothSerialGrid` (``rows x cols`` outputs of
``depth`` products each, operands broadcast as in the broadcast engines) works through one
beat one digit *position* per cycle, and only through the positions where some A operand of
the beat has a nonzero digit: the positions are shared by the whole grid, so one
position sequencer serves every cell, and ``b << 2p`` is formed once per B operand and
broadcast down its column. A beat therefore takes ``max(1, nonzero positions)`` cycles
(:func:`beat_steps`); every cell adds ``sum_d d_p(a[i][d]) * (b[d][j] << 2p)`` to a binary
accumulator each cycle, selecting the partial product from {0, +-B, +-2B} (no multiplier).

The pure-Python helpers (:func:`booth_digit_count`, :func:`booth_digits`,
:func:`nonzero_positions`, :func:`beat_steps`) are shared by the generator's cycle model and
the golden side; they work on Python ints and on numpy integer arrays alike.
"""

import functools
import operator

import numpy as np
from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .mac import compress
from .trees import adder_tree
from .util import ceil_div

__all__ = ["booth_digit_count", "booth_digits", "nonzero_positions", "beat_steps", "BoothSerialGrid"]


def booth_digit_count(width: int, signed: bool) -> int:
    """Radix-4 Booth digits of an operand: ``ceil(width/2)`` signed, ``ceil((width+1)/2)``
    unsigned (an unsigned operand is recoded as a signed number one bit wider)."""
    return ceil_div(width + (0 if signed else 1), 2)


def booth_digits(value, width: int, signed: bool) -> list:
    """The Booth digits of ``value`` (int or numpy integer array), least significant first:
    ``d_p = -2*x[2p+1] + x[2p] + x[2p-1]`` with ``x[-1] = 0``, and ``sum_p d_p * 4**p ==
    value``. ``value`` must be the operand's integer value (in range for ``width``/``signed``)."""

    def bit(k):
        return 0 if k < 0 else (value >> k) & 1

    return [-2 * bit(2 * p + 1) + bit(2 * p) + bit(2 * p - 1) for p in range(booth_digit_count(width, signed))]


def nonzero_positions(values, width: int, signed: bool):
    """Bit mask of the digit positions at which any of ``values`` has a nonzero digit.

    ``values`` is an integer array whose last axis holds the operands of one beat (e.g.
    ``(beats, rows*depth)``); the result has that axis removed. A Python int is one operand.
    """
    values = np.asarray(values, dtype=np.int64)
    mask = np.zeros(values.shape[:-1] if values.ndim else (), dtype=np.int64)
    for p, digit in enumerate(booth_digits(values, width, signed)):
        nonzero = digit != 0
        if values.ndim:
            nonzero = nonzero.any(axis=-1)
        mask = mask | (nonzero.astype(np.int64) << p)
    return mask


def beat_steps(a_beats, width: int, signed: bool):
    """Cycles the grid spends on each beat: ``max(1, nonzero positions)``.

    ``a_beats`` is ``(beats, ...)``: all A operands of a beat after the first axis.
    """
    a_beats = np.asarray(a_beats, dtype=np.int64)
    mask = nonzero_positions(a_beats.reshape(len(a_beats), -1), width, signed)
    count = np.zeros(len(a_beats), dtype=np.int64)
    for p in range(booth_digit_count(width, signed)):
        count += (mask >> p) & 1
    return np.maximum(count, 1)


def _any(bits):
    return functools.reduce(operator.or_, bits)


def _booth_codes(operand, positions: int, a_signed: bool) -> list:
    """``(one, two, neg)`` of each radix-4 Booth digit of ``operand`` (|digit| is 1, 2; sign)."""
    width = len(operand)
    fill = operand[width - 1] if a_signed else Const(0, 1)
    bits = [operand[k] if k < width else fill for k in range(2 * positions)]
    codes = []
    for p in range(positions):
        x0 = bits[2 * p - 1] if p > 0 else Const(0, 1)
        x1, x2 = bits[2 * p], bits[2 * p + 1]
        codes.append((x1 ^ x0, (x2 & ~x1 & ~x0) | (~x2 & x1 & x0), x2))
    return codes


def _at_most_one(bits):
    """Whether at most one bit of ``bits`` is set."""
    return ~(bits & (bits - 1)[:len(bits)]).any()


def _lowest(bits):
    """The lowest set bit of ``bits``, one-hot (0 if none)."""
    return (bits & (~bits + 1))[:len(bits)]


class BoothSerialGrid(wiring.Component):
    """``rows x cols`` dot products of ``depth`` products, accumulated over beats, one nonzero
    Booth digit position of the beat's A operands per cycle (see the module docstring).

    A beat (``a``, ``b``, ``last``) is taken when ``load`` is high; the caller may only raise
    ``load`` while ``ready`` is high (the grid is idle, or in the final cycle of its current
    beat, so beats follow each other without a gap). ``last`` marks the final beat of a dot
    product: after its final cycle the sums go to ``result``, ``done`` pulses for one cycle,
    and the next beat starts fresh sums. A beat of all-zero A operands takes one cycle.

    Parameters
    ----------
    a_shape, b_shape : Shape
        Operand shapes (signedness from the shape).
    rows, cols, depth : int
        Outputs are ``rows x cols``; each reduces ``depth`` products per beat. ``a`` row
        ``i`` is shared by the outputs of row ``i``, ``b`` column ``j`` by column ``j``.
    acc_shape : Shape
        Accumulator / result shape; sums wrap modulo ``2**acc_shape.width``.
    carry_save : bool
        Keep every accumulator as a carry-save pair (the selected partial products, their
        sign bits and the pair go through one compressor tree, no carry-propagate adder in
        the loop) and hand out the finished pairs (``result_sum``, ``result_carry``) for the
        consumer to add once; otherwise a binary accumulator and ``result``.

    Members
    -------
    a : In(ArrayLayout(ArrayLayout(a_shape, depth), rows))
    b : In(ArrayLayout(ArrayLayout(b_shape, cols), depth))
    load, last : In(1)
        Take the beat on ``a``/``b`` / it is the final beat of a dot product.
    ready : Out(1)
        A beat may be loaded this cycle (depends only on the grid's registers).
    tile_end : Out(1)
        This cycle is the final cycle of a beat with ``last`` (``done`` follows).
    done : Out(1)
        One-cycle pulse: new finished sums are in ``result`` (two cycles after ``tile_end``:
        a position is selected in one cycle and added in the next).
    result : Out(ArrayLayout(ArrayLayout(acc_shape, cols), rows))
        The finished sums, held until the next ones (without ``carry_save``).
    result_sum, result_carry : Out(ArrayLayout(ArrayLayout(unsigned(acc_shape.width), cols), rows))
        The finished sums as carry-save pairs (with ``carry_save``): a sum is
        ``(result_sum + result_carry) mod 2**width``.
    """

    def __init__(self, *, a_shape, b_shape, rows: int, cols: int, depth: int, acc_shape, carry_save: bool = False):
        for name, value in (("rows", rows), ("cols", cols), ("depth", depth)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} is not legal: must be a positive integer")
        self._a_shape, self._b_shape, self._acc_shape = a_shape, b_shape, acc_shape
        self._rows, self._cols, self._depth = rows, cols, depth
        self._carry_save = carry_save
        pair = data.ArrayLayout(data.ArrayLayout(unsigned(acc_shape.width), cols), rows)
        results = ({"result_sum": Out(pair), "result_carry": Out(pair)} if carry_save else
                   {"result": Out(data.ArrayLayout(data.ArrayLayout(acc_shape, cols), rows))})
        super().__init__({
            "a": In(data.ArrayLayout(data.ArrayLayout(a_shape, depth), rows)),
            "b": In(data.ArrayLayout(data.ArrayLayout(b_shape, cols), depth)),
            "load": In(1),
            "last": In(1),
            "ready": Out(1),
            "tile_end": Out(1),
            "done": Out(1),
            **results,
        })

    @property
    def positions(self) -> int:
        """Booth digit positions of an A operand."""
        return booth_digit_count(self._a_shape.width, self._a_shape.signed)

    def elaborate(self, platform):
        m = Module()
        rows, cols, depth, positions = self._rows, self._cols, self._depth, self.positions
        a_signed = self._a_shape.signed

        # -- the beat being worked on ----------------------------------------------------------
        busy = Signal()  # in_a/in_b hold a beat with positions left
        in_last = Signal()
        in_a = Signal.like(self.a, name="in_a")
        in_b = Signal.like(self.b, name="in_b")

        # -- Booth recoding of every A operand (the same for all columns) -----------------------
        digits = {(i, d): _booth_codes(in_a[i][d], positions, a_signed) for i in range(rows) for d in range(depth)}
        # The positions to visit are found when the beat is loaded (from the incoming operands),
        # so the sequencer's next-step logic does not start with an OR over the whole beat.
        incoming = [_booth_codes(self.a[i][d], positions, a_signed) for i in range(rows) for d in range(depth)]
        incoming_nonzero = Cat(_any(one | two for (one, two, _) in (codes[p] for codes in incoming))
                               for p in range(positions))
        # The sequencer's state is registered a cycle ahead, from the positions the next cycle
        # will see, so that neither ``ready`` (and the handshake logic behind it) nor the digit
        # selection starts with a search over the pending positions.
        pending = Signal(positions)  # positions still to add, this cycle's included
        lowest = Signal(positions)  # one-hot: the position added this cycle (0 for an all-zero beat)
        at_most_one = Signal()  # at most one position left: this cycle is the beat's final one
        final = Signal()  # this cycle is the beat's final one
        m.d.comb += [
            final.eq(busy & at_most_one),
            self.ready.eq(~busy | at_most_one),
            self.tile_end.eq(final & in_last),
        ]
        rest = pending & ~lowest
        with m.If(self.load):
            m.d.sync += [
                busy.eq(1),
                in_last.eq(self.last),
                in_a.eq(self.a),
                in_b.eq(self.b),
                pending.eq(incoming_nonzero),
                lowest.eq(_lowest(incoming_nonzero)),
                at_most_one.eq(_at_most_one(incoming_nonzero)),
            ]
        with m.Elif(final):
            m.d.sync += busy.eq(0)
        with m.Elif(busy):
            m.d.sync += [pending.eq(rest), lowest.eq(_lowest(rest)), at_most_one.eq(_at_most_one(rest))]

        # -- the digit of every A operand at the current position (registered: the selection
        #    and the accumulation are separate pipeline stages) --------------------------------
        step_valid = Signal()  # the step registers hold a position to add
        step_last = Signal()  # ... the final one of a dot product
        m.d.sync += [step_valid.eq(busy), step_last.eq(final & in_last)]
        selected = {}
        for key, codes in digits.items():
            picked = []
            for field in range(3):
                bit = Signal(name=f"digit_{key[0]}_{key[1]}_{('one', 'two', 'neg')[field]}")
                m.d.sync += bit.eq(_any(lowest[p] & codes[p][field] for p in range(positions)))
                picked.append(bit)
            selected[key] = picked

        # -- b << 2p, formed once per B operand and shared by the column --------------------------
        b_shape = self._b_shape
        shifted_shape = (signed if b_shape.signed else unsigned)(b_shape.width + 2 * (positions - 1))
        shifted = {}
        for d in range(depth):
            for j in range(cols):
                value = Signal(shifted_shape, name=f"b_shifted_{d}_{j}")
                m.d.sync += value.eq(_any(Mux(lowest[p], in_b[d][j] << (2 * p), 0) for p in range(positions)))
                shifted[d, j] = value

        # -- the accumulators --------------------------------------------------------------------
        fresh = Signal(init=1)  # the next step starts new sums
        with m.If(step_valid):
            m.d.sync += fresh.eq(step_last)
        m.d.sync += self.done.eq(step_valid & step_last)
        for i in range(rows):
            for j in range(cols):
                partials = []
                for d in range(depth):
                    one, two, neg = selected[i, d]
                    magnitude = Mux(two, shifted[d, j] << 1, Mux(one, shifted[d, j], 0))
                    # -m = ~m + 1: the inversion here, the +1s as one small sum of the signs.
                    if not magnitude.shape().signed:
                        magnitude = Cat(magnitude, Const(0, 1)).as_signed()
                    partials.append(magnitude ^ neg.replicate(len(magnitude)).as_signed())
                signs = [selected[i, d][2] for d in range(depth)]
                if self._carry_save:
                    self._carry_save_cell(m, i, j, partials, signs, fresh, step_valid, step_last)
                    continue
                acc = Signal(self._acc_shape, name=f"acc_{i}_{j}")
                total = Mux(fresh, 0, acc) + adder_tree(partials) + adder_tree(signs)
                with m.If(step_valid):
                    m.d.sync += acc.eq(total)
                    with m.If(step_last):
                        m.d.sync += self.result[i][j].eq(total)
        return m

    def _carry_save_cell(self, m, i, j, partials, signs, fresh, step_valid, step_last):
        width = self._acc_shape.width
        acc_sum = Signal(width, name=f"acc_sum_{i}_{j}")
        acc_carry = Signal(width, name=f"acc_carry_{i}_{j}")
        # The signs' +1s are single bits of weight 1: they are rows of the same tree.
        rows = partials + [sign.as_unsigned() for sign in signs] + [Mux(fresh, 0, acc_sum), Mux(fresh, 0, acc_carry)]
        new_sum, new_carry = compress(rows, width, m=m, name=f"csa_{i}_{j}")
        with m.If(step_valid):
            m.d.sync += [acc_sum.eq(new_sum), acc_carry.eq(new_carry)]
            with m.If(step_last):
                m.d.sync += [self.result_sum[i][j].eq(new_sum), self.result_carry[i][j].eq(new_carry)]
