"""The exp unit: ``e = exp(-d*S)`` as U1.E, pipelined, one result per cycle.

The integer function is defined by :mod:`accelgen.hdl.exp_tables` (tables and constants
shared with the golden model); this module is its hardware. The unit has no enable: every
cycle's ``d`` appears as ``e`` exactly :attr:`ExpUnit.latency` cycles later, so a caller
delays its side-band signals (valid, flags) with a :class:`~accelgen.hdl.delay.DelayLine`.
"""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import split_product
from .exp_tables import INTERP_GUARD, ExpSpec, exp_table

__all__ = ["ExpUnit", "exp_latency"]


def exp_latency(spec: ExpSpec, pipelined: bool = False) -> int:
    """Cycles from ``d`` to ``e``: table 1, shift-only 2, range reduction 5 (7 ``pipelined``)."""
    return {"table": 1, "shift": 2, "range": 5 + 2 * pipelined}[spec.kind]


class ExpUnit(wiring.Component):
    """``e = exp(-d * S)`` (U1.E) for ``d = max - x >= 0``.

    Parameters
    ----------
    spec : ExpSpec
        The integer function (width of ``d``, scale, output fraction bits, variant).
    pipelined : bool
        Range reduction only: two more register stages, so no path holds a multiplier and an
        adder or an adder and a shifter: the partial products of ``d * S*log2(e)`` are
        registered before their sum, and the interpolated ``2**-f`` before the final rounding
        shift. Same function.

    Members
    -------
    d : In(unsigned(spec.width))
        Distance from the row maximum, in input codes.
    e : Out(unsigned(spec.exp_frac + 1))
        ``exp_code(d)`` of :mod:`~accelgen.hdl.exp_tables`, :attr:`latency` cycles later.
    """

    def __init__(self, spec: ExpSpec, pipelined: bool = False):
        self.spec = spec
        self.pipelined = pipelined
        super().__init__({"d": In(unsigned(spec.width)), "e": Out(unsigned(spec.exp_frac + 1))})

    @property
    def latency(self) -> int:
        """Register stages from ``d`` to ``e``."""
        return exp_latency(self.spec, self.pipelined)

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        if spec.kind == "table":
            m.submodules.rom = rom = Memory(shape=unsigned(spec.exp_frac + 1), depth=1 << spec.width,
                                            init=exp_table(spec))
            port = rom.read_port()
            m.d.comb += [port.addr.eq(self.d), self.e.eq(port.data)]
        elif spec.kind == "shift":
            self._shift(m)
        else:
            self._range(m)
        return m

    def _shift(self, m):
        # t = d*1.4375 in input codes; q = t // x0 and r = t % x0 with x0 = 2**in_frac.
        spec = self.spec
        f, big_e = spec.in_frac, spec.exp_frac
        t = Signal(spec.width + 1)
        m.d.comb += t.eq(self.d + (self.d >> 1) - (self.d >> 4))
        q = Signal(range(big_e + 3))
        v = Signal(f + big_e + 2)
        m.d.sync += [
            q.eq(Mux((t >> f) > big_e + 2, big_e + 2, t >> f)),
            # (2*x0 - r) * 2**E is 2**(E+1) * x0 * (1 - r/(2*x0)).
            v.eq(((2 << f) - t[:f] if f else Const(2, 2)) << big_e),
        ]
        # Half-up rounding shift by in_frac + q + 1: floor by one bit less, add one, halve.
        m.d.sync += self.e.eq(((v >> (q + f)) + 1) >> 1)

    def _range(self, m):
        spec = self.spec
        t_frac, g = spec.t_frac, spec.log2e_shift
        const = spec.log2e_const
        # Stage 1: t * 2**g = d * S*log2(e) * 2**(t_frac + g), one constant multiply (pipelined:
        # its partial products are registered first, then their sum).
        product = Signal(spec.width + const.bit_length())
        if self.pipelined:
            m.d.sync += product.eq(split_product(m, Const(const, const.bit_length()), self.d, "log2e"))
        else:
            m.d.sync += product.eq(self.d * const)
        # Stage 2: t rounded half up to t_frac fraction bits; n (saturated), table lookup.
        t = Signal(spec.width + const.bit_length() - g + 1)
        m.d.comb += t.eq((product + (1 << (g - 1)) if g else product) >> g)
        n_full = t >> t_frac
        n1 = Signal(range(spec.shift_cap + 1))
        weight1 = Signal(spec.interp_bits)
        base, slope = spec.interp_tables()
        base_width, slope_width = max(base).bit_length(), max(max(slope).bit_length(), 1)
        m.submodules.pow2_rom = rom = Memory(
            shape=unsigned(base_width + slope_width), depth=len(base),
            init=[b | (s << base_width) for b, s in zip(base, slope)])
        port = rom.read_port()
        m.d.comb += port.addr.eq(t[spec.interp_bits:t_frac])
        m.d.sync += [
            n1.eq(Mux(n_full > spec.shift_cap, spec.shift_cap, n_full)),
            weight1.eq(t[:spec.interp_bits]),
        ]
        # Stage 3: the table word is registered (block RAM clock-to-out plus a multiplier does
        # not fit one cycle). Stage 4: slope * weight (the interpolation multiply).
        word = Signal(base_width + slope_width)
        weight2 = Signal.like(weight1)
        n_word = Signal.like(n1)
        m.d.sync += [word.eq(port.data), weight2.eq(weight1), n_word.eq(n1)]
        step = Signal(slope_width + spec.interp_bits)
        base2 = Signal(base_width)
        n2 = Signal.like(n1)
        m.d.sync += [
            step.eq(word[base_width:] * weight2),
            base2.eq(word[:base_width]),
            n2.eq(n_word),
        ]
        # Stage 5: v = base - round_half_up(step / 2**interp_bits), then the rounding shift by n
        # (pipelined: v is registered before the shift).
        v = Signal(base_width)
        m.d["sync" if self.pipelined else "comb"] += v.eq(
            base2 - ((step + (1 << (spec.interp_bits - 1))) >> spec.interp_bits))
        n_final = n2
        if self.pipelined:
            n_final = Signal.like(n2)
            m.d.sync += n_final.eq(n2)
        m.d.sync += self.e.eq(((v >> (n_final + (INTERP_GUARD - 1)).as_unsigned()) + 1) >> 1)
