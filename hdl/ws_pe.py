"""Weight-stationary processing element with double-buffered weight registers."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp
from .mac import compress, partial_products

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
    mac : str
        ``"baseline"``: ``psum_out <= psum_in + a * w``. ``"carry_save"``: the partial sum is a
        carry-save pair (``sum``/``carry``, unsigned ``acc_shape.width`` bits each, whose sum
        modulo ``2**width`` is the value); the radix-4 Booth partial products of ``w * a``
        (digits from the stationary weight) and the incoming pair go through one compressor
        tree (:func:`accelgen.hdl.mac.compress`), with no carry-propagate adder in the cell.
        Only ``overflow="wrap"``.
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
        Partial sum from the cell above (absent in the top row; ``mac="baseline"``).
    psum_out : Out(acc_shape)
        ``psum_in + a_in * weight[sel_in]``, registered (``mac="baseline"``).
    sum_in, carry_in, sum_out, carry_out : In / Out(acc_shape.width)
        The same as a carry-save pair (``mac="carry_save"``; no inputs in the top row).
    w_in : In(w_shape)
        Weight entering the load chain.
    w_out : Out(w_shape)
        The bank being loaded's current weight (continues the chain upwards).
    load : In(2)
        Per bank: shift ``w_in`` in this cycle.
    """

    def __init__(self, *, a_shape, w_shape, acc_shape, overflow="wrap", first_row=False, forward_a=True,
                 mac="baseline"):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
        if mac not in ("baseline", "carry_save"):
            raise ValueError(f"mac={mac!r} is not legal for a PE: must be 'baseline' or 'carry_save'")
        if mac == "carry_save" and overflow != "wrap":
            raise ValueError("mac='carry_save' cannot saturate a carry-save partial sum: overflow must be 'wrap'")
        self._mac = mac
        self._acc_shape = acc_shape
        self._overflow = overflow
        self._first_row = first_row
        self._forward_a = forward_a
        members = {
            "a_in": In(a_shape),
            "sel_in": In(1),
            "w_in": In(w_shape),
            "w_out": Out(w_shape),
            "load": In(2),
        }
        width = acc_shape.width
        if mac == "baseline":
            members["psum_out"] = Out(acc_shape)
            if not first_row:
                members["psum_in"] = In(acc_shape)
        else:
            members |= {"sum_out": Out(width), "carry_out": Out(width)}
            if not first_row:
                members |= {"sum_in": In(width), "carry_in": In(width)}
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

        weight = Mux(self.sel_in, weights[1], weights[0])
        if self._mac == "carry_save":
            width = self._acc_shape.width
            # Booth digits come from the stationary weight: they only change with the tile.
            rows = partial_products(weight, self.a_in, width)
            if not self._first_row:
                rows += [self.sum_in, self.carry_in]
            new_sum, new_carry = compress(rows, width, m=m, name="csa")
            m.d.sync += [self.sum_out.eq(new_sum), self.carry_out.eq(new_carry)]
            return m
        product = self.a_in * weight
        total = product if self._first_row else self.psum_in + product
        new_sum = clamp(total, self._acc_shape) if self._overflow == "saturate" else total
        m.d.sync += self.psum_out.eq(new_sum)
        return m
