"""Pipelined reciprocal ``round_half_up(2**shift / s)``: one result per cycle.

A restoring divider of the constant numerator ``2**(shift + 1)``, one quotient bit per
register stage, followed by the half-up rounding ``(q + 1) >> 1`` (which equals
:func:`accelgen.hdl.fixedpoint.round_div` ``(2**shift, s, "half_up")``). The quotient's
leading zero bits are known from the smallest legal divisor, so only ``quotient_bits``
stages of ``den_width + 1``-bit subtractors are built. ``s = 0`` gives 0.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PipelinedReciprocal", "reciprocal_quotient_bits"]


def reciprocal_quotient_bits(shift: int, den_min: int) -> int:
    """Quotient bits of ``floor(2**(shift+1) / s)`` for every ``s >= den_min``."""
    return ((1 << (shift + 1)) // den_min).bit_length()


class PipelinedReciprocal(wiring.Component):
    """``recip = round_half_up(2**shift / s)`` for ``s >= den_min`` (or ``s = 0`` -> 0).

    Parameters
    ----------
    den_width : int
        Width of ``s``.
    shift : int
        ``K``: the numerator is ``2**K``.
    den_min : int
        Smallest non-zero ``s`` the unit must handle (sets the number of stages).

    Members
    -------
    s : In(unsigned(den_width))
        Divisor.
    s_valid : In(1)
        ``s`` holds a request this cycle.
    recip : Out(unsigned(recip_width))
        Result, :attr:`latency` cycles after the request.
    recip_valid : Out(1)
        ``s_valid`` delayed by :attr:`latency`.
    """

    def __init__(self, den_width: int, shift: int, den_min: int):
        if den_min < 1 or den_min >= (1 << den_width):
            raise ValueError(f"den_min={den_min} is out of range: must be in 1..{(1 << den_width) - 1}")
        self.den_width = den_width
        self.shift = shift
        self.den_min = den_min
        self.quotient_bits = reciprocal_quotient_bits(shift, den_min)
        self.recip_width = (((1 << (shift + 1)) // den_min + 1) >> 1).bit_length()
        super().__init__({
            "s": In(unsigned(den_width)),
            "s_valid": In(1),
            "recip": Out(unsigned(self.recip_width)),
            "recip_valid": Out(1),
        })

    @property
    def latency(self) -> int:
        """Input register, one stage per quotient bit, rounding register."""
        return self.quotient_bits + 2

    def elaborate(self, platform):
        m = Module()
        qb = self.quotient_bits
        # Remainder before the first quotient bit: the numerator's bits above the quotient.
        rem_init = (1 << (self.shift + 1)) >> qb
        den = Signal(self.den_width, name="den_in")
        rem = Signal(self.den_width + 1, name="rem_in")
        quo = Signal(qb, name="quo_in")
        valid = Signal(name="valid_in")
        m.d.sync += [den.eq(self.s), rem.eq(rem_init), quo.eq(0), valid.eq(self.s_valid)]
        # ``s`` is often an adder's output: its zero test is made on the registered divisor,
        # beside the first stage's compare, not behind the adder.
        zero = ~den.any()
        for stage in range(qb):
            doubled = rem << 1
            take = doubled >= den
            next_den = Signal.like(den, name=f"den_{stage}")
            next_rem = Signal.like(rem, name=f"rem_{stage}")
            next_quo = Signal.like(quo, name=f"quo_{stage}")
            next_valid = Signal(name=f"valid_{stage}")
            next_zero = Signal(name=f"zero_{stage}")
            m.d.sync += [
                next_den.eq(den),
                next_rem.eq(Mux(take, doubled - den, doubled)),
                next_quo.eq((quo << 1) | take),
                next_valid.eq(valid),
                next_zero.eq(zero),
            ]
            den, rem, quo, valid, zero = next_den, next_rem, next_quo, next_valid, next_zero
        m.d.sync += [
            self.recip.eq(Mux(zero, 0, (quo + 1) >> 1)),
            self.recip_valid.eq(valid),
        ]
        return m
