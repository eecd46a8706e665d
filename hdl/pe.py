"""Multiply-accumulate processing elements."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp
from .mac import compress, compress_stages, partial_products

__all__ = ["OutputStationaryPE", "KEEP"]

#: Attributes of a PE's control flip-flops (markers, ``fresh``, ``done``). The cells of an
#: anti-diagonal hold equal markers; without ``keep`` synthesis merges them into one
#: flip-flop that drives every cell of the diagonal, and its routing sets the clock. Yosys
#: honours ``keep`` on the flip-flop cell, not on its wire: :func:`accelgen.synth` flows copy
#: it across (other tools read it from the register).
KEEP = {"keep": 1}


class OutputStationaryPE(wiring.Component):
    """Output-stationary MAC cell of a systolic array.

    Each cycle with ``valid_in`` set, the cell adds ``a_in * b_in`` to its accumulator.
    ``last_in`` marks the final product of a dot product: the finished sum is then held in
    ``acc`` with ``done`` pulsing for one cycle, and the next valid product starts a fresh
    sum (no separate clear cycle, so dot products run back to back). Operands are forwarded
    to the right (``a``) and downwards (``b``) through one register each, and the valid /
    last markers travel with ``a``.

    Parameters
    ----------
    a_shape, b_shape : Shape
        Operand shapes.
    acc_shape : Shape
        Accumulator shape.
    overflow : str
        ``"wrap"`` (keep the low bits) or ``"saturate"`` (clamp after every addition), see
        :data:`accelgen.hdl.arith.OVERFLOW_MODES`.
    pipeline_product : bool
        Register the product (and its markers) before the accumulator adder: the multiplier
        leaves the accumulate loop, ``done`` comes one cycle later. With
        ``mac="carry_save"`` the operands are registered instead (the loop has no multiplier
        to take out; the partial products then start from a register), same latency.
    mac : str
        ``"baseline"``: ``acc <= acc + a*b`` with a binary accumulator. ``"carry_save"``: the
        accumulator is a carry-save pair (``acc_sum``, ``acc_carry``, unsigned
        ``acc_shape.width`` bits each, whose sum modulo ``2**width`` is the running sum);
        each product's radix-4 Booth partial products and the pair go through one
        compressor tree (:func:`accelgen.hdl.mac.compress`), and no carry-propagate adder is
        in the loop. The caller adds the pair when the result leaves (``acc`` is then not
        present). Only ``overflow="wrap"`` is possible (a carry-save sum cannot be clamped).
    register_partials : bool
        ``mac="carry_save"`` only: compress the Booth partial products to a pair and register
        it before the accumulate loop, so the loop is the 4:2 compression of that pair with
        the accumulator pair (two full-adder levels) instead of the whole tree. One more cycle
        of latency, same throughput.
    forward_a, forward_b : bool
        Generate the forwarding registers (cells on the array's right / bottom edge need none).

    Members
    -------
    a_in, b_in, valid_in, last_in : In
        Operands and markers entering the cell.
    a_out, b_out, valid_out, last_out : Out
        The same, one cycle later (present only when forwarded).
    acc : Out(acc_shape)
        Running sum; holds the finished sum while ``done`` is high (``mac="baseline"``).
    acc_sum, acc_carry : Out(acc_shape.width)
        The carry-save accumulator pair (``mac="carry_save"``).
    done : Out(1)
        One-cycle pulse: ``acc`` holds a finished dot product.

    Attributes
    ----------
    fresh : Signal
        Internal state, readable from outside for equivalence checks: set after a finished
        sum (and at reset), so the next valid product starts a new sum.
    """

    def __init__(self, *, a_shape, b_shape, acc_shape, overflow="wrap", pipeline_product=False,
                 forward_a=True, forward_b=True, mac="baseline", register_partials=False):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
        if mac not in ("baseline", "carry_save"):
            raise ValueError(f"mac={mac!r} is not legal for a PE: must be 'baseline' or 'carry_save'")
        if mac == "carry_save" and overflow != "wrap":
            raise ValueError("mac='carry_save' accumulates in carry-save form and cannot saturate: overflow must be 'wrap'")
        if register_partials and mac != "carry_save":
            raise ValueError(f"register_partials=True needs mac='carry_save', not mac={mac!r}")
        self._mac = mac
        self._register_partials = register_partials
        self._acc_shape = acc_shape
        self._overflow = overflow
        self._pipeline_product = pipeline_product
        self._forward_a = forward_a
        self._forward_b = forward_b
        members = {
            "a_in": In(a_shape),
            "b_in": In(b_shape),
            "valid_in": In(1),
            "last_in": In(1),
            "done": Out(1),
        }
        if mac == "baseline":
            members["acc"] = Out(acc_shape)
        else:
            members |= {"acc_sum": Out(acc_shape.width), "acc_carry": Out(acc_shape.width)}
        if forward_a:
            members |= {"a_out": Out(a_shape), "valid_out": Out(1), "last_out": Out(1)}
        if forward_b:
            members |= {"b_out": Out(b_shape)}
        super().__init__(members)
        self.fresh = Signal(init=1, name="fresh", attrs=KEEP)

    def elaborate(self, platform):
        m = Module()
        if self._forward_a:
            valid_out = Signal(name="valid_fwd", attrs=KEEP)
            last_out = Signal(name="last_fwd", attrs=KEEP)
            m.d.sync += [self.a_out.eq(self.a_in), valid_out.eq(self.valid_in), last_out.eq(self.last_in)]
            m.d.comb += [self.valid_out.eq(valid_out), self.last_out.eq(last_out)]
        done = Signal(name="done_flag", attrs=KEEP)
        m.d.comb += self.done.eq(done)
        if self._forward_b:
            m.d.sync += self.b_out.eq(self.b_in)

        # Set after a finished sum, so the next product replaces rather than adds.
        fresh = self.fresh
        if self._mac == "carry_save":
            return self._elaborate_carry_save(m, fresh, done)
        product = Signal((self.a_in * self.b_in).shape(), name="product")
        valid = Signal(name="product_valid", attrs=KEEP)
        last = Signal(name="product_last", attrs=KEEP)
        domain = m.d.sync if self._pipeline_product else m.d.comb
        domain += [product.eq(self.a_in * self.b_in), valid.eq(self.valid_in), last.eq(self.last_in)]

        total = Mux(fresh, 0, self.acc) + product
        new_acc = clamp(total, self._acc_shape) if self._overflow == "saturate" else total
        m.d.sync += done.eq(0)
        with m.If(valid):
            m.d.sync += [
                self.acc.eq(new_acc),
                fresh.eq(last),
                done.eq(last),
            ]
        return m

    def _elaborate_carry_save(self, m, fresh, done):
        width = self._acc_shape.width
        a = Signal.like(self.a_in, name="mul_a")
        b = Signal.like(self.b_in, name="mul_b")
        valid = Signal(name="mul_valid", attrs=KEEP)
        last = Signal(name="mul_last", attrs=KEEP)
        domain = m.d.sync if self._pipeline_product else m.d.comb
        domain += [a.eq(self.a_in), b.eq(self.b_in), valid.eq(self.valid_in), last.eq(self.last_in)]

        partials = partial_products(a, b, width)
        if self._register_partials:
            partials = list(compress(partials, width, m=m, name="pp",
                                     register_after={compress_stages(partials, width)}))
            pair_valid = Signal(name="pair_valid", attrs=KEEP)
            pair_last = Signal(name="pair_last", attrs=KEEP)
            m.d.sync += [pair_valid.eq(valid), pair_last.eq(last)]
            valid, last = pair_valid, pair_last
        # A fresh sum starts from zero: gate the stored pair instead of clearing it.
        rows = partials + [
            Mux(fresh, 0, self.acc_sum),
            Mux(fresh, 0, self.acc_carry),
        ]
        new_sum, new_carry = compress(rows, width, m=m, name="csa")
        m.d.sync += done.eq(0)
        with m.If(valid):
            m.d.sync += [
                self.acc_sum.eq(new_sum),
                self.acc_carry.eq(new_carry),
                fresh.eq(last),
                done.eq(last),
            ]
        return m
