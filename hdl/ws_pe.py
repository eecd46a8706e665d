"""Weight-stationary processing element with double-buffered weight registers."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp

__all__ = ["WeightStationaryPE"]


class WeightStationaryPE(wiring.Component):
    """One cell of a weight-stationary systolic array.

    The cell holds two weights (banks 0 and 1). Each cycle it adds ``a_in * weight[sel_in]``
    to the partial sum coming from above and passes the result down (one register), while
    the activation and its bank select move one cell to the right (one register each). The
    bank select travels with the activation, so a whole array switches weight tiles in the
    same diagonal wavefront as its data.

    Weights are loaded by shifting: while ``load[b]`` is high, bank ``b`` takes
    ``w_in`` and offers its old value on ``w_out`` (the register above it in a column
    chain). The other bank keeps computing.

    Parameters
    ----------
    a_shape, w_shape : Shape
        Activation and weight shapes.
    acc_shape : Shape
        Partial sum shape (``psum_in`` / ``psum_out``).
    overflow : str
        ``"wrap"`` (keep the low bits) or ``"saturate"`` (clamp after the addition).
    first_row : bool
        The cell sits in the top row: there is no ``psum_in`` (the sum starts at zero).
    forward_a : bool
        Generate the activation forwarding registers (the last column needs none).

    Members
    -------
    a_in, sel_in : In
        Activation and the weight bank it uses.
    a_out, sel_out : Out
        The same, one cycle later (present only with ``forward_a``).
    psum_in : In(acc_shape)
        Partial sum from the cell above (absent in the top row).
    psum_out : Out(acc_shape)
        ``psum_in + a_in * weight[sel_in]``, registered.
    w_in : In(w_shape)
        Weight entering the load chain.
    w_out : Out(w_shape)
        The bank being loaded's current weight (continues the chain upwards).
    load : In(2)
        Per bank: shift ``w_in`` in this cycle.
    """

    def __init__(self, *, a_shape, w_shape, acc_shape, overflow="wrap", first_row=False, forward_a=True):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
        self._acc_shape = acc_shape
        self._overflow = overflow
        self._first_row = first_row
        self._forward_a = forward_a
        members = {
            "a_in": In(a_shape),
            "sel_in": In(1),
            "psum_out": Out(acc_shape),
            "w_in": In(w_shape),
            "w_out": Out(w_shape),
            "load": In(2),
        }
        if not first_row:
            members["psum_in"] = In(acc_shape)
        if forward_a:
            members |= {"a_out": Out(a_shape), "sel_out": Out(1)}
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        w_shape = self.w_in.shape()
        weights = [Signal(w_shape, name=f"weight{bank}") for bank in range(2)]
        for bank in range(2):
            with m.If(self.load[bank]):
                m.d.sync += weights[bank].eq(self.w_in)
        # Only one bank loads at a time; the chain continues from whichever it is.
        m.d.comb += self.w_out.eq(Mux(self.load[1], weights[1], weights[0]))

        if self._forward_a:
            m.d.sync += [self.a_out.eq(self.a_in), self.sel_out.eq(self.sel_in)]

        product = self.a_in * Mux(self.sel_in, weights[1], weights[0])
        total = product if self._first_row else self.psum_in + product
        new_sum = clamp(total, self._acc_shape) if self._overflow == "saturate" else total
        m.d.sync += self.psum_out.eq(new_sum)
        return m
