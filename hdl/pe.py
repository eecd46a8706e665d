"""Multiply-accumulate processing elements."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp

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
        leaves the accumulate loop, ``done`` comes one cycle later.
    forward_a, forward_b : bool
        Generate the forwarding registers (cells on the array's right / bottom edge need none).

    Members
    -------
    a_in, b_in, valid_in, last_in : In
        Operands and markers entering the cell.
    a_out, b_out, valid_out, last_out : Out
        The same, one cycle later (present only when forwarded).
    acc : Out(acc_shape)
        Running sum; holds the finished sum while ``done`` is high.
    done : Out(1)
        One-cycle pulse: ``acc`` holds a finished dot product.
    """

    def __init__(self, *, a_shape, b_shape, acc_shape, overflow="wrap", pipeline_product=False,
                 forward_a=True, forward_b=True):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
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
            "acc": Out(acc_shape),
            "done": Out(1),
        }
        if forward_a:
            members |= {"a_out": Out(a_shape), "valid_out": Out(1), "last_out": Out(1)}
        if forward_b:
            members |= {"b_out": Out(b_shape)}
        super().__init__(members)

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
        fresh = Signal(init=1)
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
