"""Multiply-accumulate processing elements."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp
from .mac import compress, partial_products

__all__ = ["OutputStationaryPE"]


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
                 forward_a=True, forward_b=True, mac="baseline"):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
        if mac not in ("baseline", "carry_save"):
            raise ValueError(f"mac={mac!r} is not legal for a PE: must be 'baseline' or 'carry_save'")
        if mac == "carry_save" and overflow != "wrap":
            raise ValueError("mac='carry_save' accumulates in carry-save form and cannot saturate: overflow must be 'wrap'")
        self._mac = mac
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
        self.fresh = Signal(init=1, name="fresh")

    def elaborate(self, platform):
        m = Module()
        if self._forward_a:
            m.d.sync += [
                self.a_out.eq(self.a_in),
                self.valid_out.eq(self.valid_in),
                self.last_out.eq(self.last_in),
            ]
        if self._forward_b:
            m.d.sync += self.b_out.eq(self.b_in)

        # Set after a finished sum, so the next product replaces rather than adds.
        fresh = self.fresh
        if self._mac == "carry_save":
            return self._elaborate_carry_save(m, fresh)
        product = Signal((self.a_in * self.b_in).shape(), name="product")
        valid = Signal(name="product_valid")
        last = Signal(name="product_last")
        domain = m.d.sync if self._pipeline_product else m.d.comb
        domain += [product.eq(self.a_in * self.b_in), valid.eq(self.valid_in), last.eq(self.last_in)]

        total = Mux(fresh, 0, self.acc) + product
        new_acc = clamp(total, self._acc_shape) if self._overflow == "saturate" else total
        m.d.sync += self.done.eq(0)
        with m.If(valid):
            m.d.sync += [
                self.acc.eq(new_acc),
                fresh.eq(last),
                self.done.eq(last),
            ]
        return m

    def _elaborate_carry_save(self, m, fresh):
        width = self._acc_shape.width
        a = Signal.like(self.a_in, name="mul_a")
        b = Signal.like(self.b_in, name="mul_b")
        valid = Signal(name="mul_valid")
        last = Signal(name="mul_last")
        domain = m.d.sync if self._pipeline_product else m.d.comb
        domain += [a.eq(self.a_in), b.eq(self.b_in), valid.eq(self.valid_in), last.eq(self.last_in)]

        # A fresh sum starts from zero: gate the stored pair instead of clearing it.
        rows = partial_products(a, b, width) + [
            Mux(fresh, 0, self.acc_sum),
            Mux(fresh, 0, self.acc_carry),
        ]
        new_sum, new_carry = compress(rows, width, m=m, name="csa")
        m.d.sync += self.done.eq(0)
        with m.If(valid):
            m.d.sync += [
                self.acc_sum.eq(new_sum),
                self.acc_carry.eq(new_carry),
                fresh.eq(last),
                self.done.eq(last),
            ]
        return m
