"""Stand-alone exp unit (design ``exp``): ``e = exp(-d*S)`` on a stream, ``lanes`` per beat.

The same :class:`~accelgen.hdl.exp_unit.ExpUnit` as inside the softmax, wrapped with
valid/ready streams: ``d = max - x >= 0`` in, U1.E codes out (``2**exp_frac`` is 1.0). int8
inputs use an exact table; wider inputs use base-2 range reduction and an interpolated
``2**-f`` table (see :mod:`accelgen.hdl.exp_tables`). One beat per cycle; the output buffer
absorbs backpressure, so ``d.ready`` only drops when ``e`` stalls.
"""

import dataclasses

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.delay import DelayLine
from ..hdl.exp_tables import APPROX_MODES, ExpSpec
from ..hdl.exp_unit import ExpUnit, exp_latency
from ..hdl.layouts import TileStreamSignature
from ..hdl.util import ceil_div
from . import DesignComponent, DesignParams, param, register

__all__ = ["ExpParams", "ExpStream"]


@dataclasses.dataclass(frozen=True)
class ExpParams(DesignParams):
    """Parameters of the stand-alone exp unit.

    Parameters
    ----------
    width : int
        Bits of the unsigned input ``d`` (2..16).
    in_frac, in_scale_num : int
        Input scale ``S = in_scale_num * 2**-in_frac``.
    exp_frac : int
        Output fraction bits ``E`` (U1.E, 4..32).
    exp_table_bits : int or None
        Index bits of the interpolation table (width > 8); default ``ceil((E - 2) / 2)``, which
        keeps the chord error near 2**-(E+2) relative.
    approx : str
        ``"accurate"``, ``"shift"`` or ``"ibert"`` (see :mod:`accelgen.hdl.exp_tables`).
    lanes : int
        Inputs per beat (a power of two, 1..64).
    """

    width: int = param(8, "bits of the unsigned input d = max - x", min=2, max=16)
    in_frac: int = param(4, "input scale S = in_scale_num * 2**-in_frac", min=0, max=16)
    in_scale_num: int = param(1, "numerator of a non-power-of-two input scale", min=1, max=65535)
    exp_frac: int = param(16, "output fraction bits (U1.exp_frac)", min=4, max=32)
    exp_table_bits: int | None = param(None, "index bits of the 2**-f interpolation table (width > 8)", min=2, max=10)
    approx: str = param("accurate", "exp variant", choices=APPROX_MODES)
    lanes: int = param(1, "inputs per beat (power of two)", min=1, max=64)

    @property
    def spec(self) -> ExpSpec:
        """The integer function (shared with the golden model)."""
        return ExpSpec(self.width, self.in_frac, self.in_scale_num, self.exp_frac, self.exp_frac, self.approx,
                       self.exp_table_bits)

    def resolve(self):
        if self.exp_table_bits is None:
            return {"exp_table_bits": min(10, max(2, ceil_div(self.exp_frac - 2, 2)))}
        return {}

    def check(self):
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes={self.lanes} is not legal: must be a power of two in 1..64")
        if self.approx == "ibert" and self.width > 8:
            raise ValueError(f"approx='ibert' is tabulated: width={self.width} is out of range, must be 2..8")
        if self.approx == "shift" and self.width > 8 and self.in_scale_num != 1:
            raise ValueError(f"in_scale_num={self.in_scale_num} is not legal with approx='shift' and width > 8: "
                             f"the shift-only exp needs a power-of-two scale (in_scale_num=1)")


@register(
    "exp",
    params=ExpParams,
    summary="exp unit e = exp(-d*S) (U1.E) on a stream: exact int8 table or range reduction + interpolation",
)
class ExpStream(DesignComponent):
    """The exp unit with valid/ready streams.

    Members
    -------
    d : In(TileStreamSignature(unsigned(width), lanes, last=False))
        Distances from the row maximum, in input codes.
    e : Out(TileStreamSignature(unsigned(exp_frac + 1), lanes, last=False))
        ``exp_code(d)`` per lane, same order.
    """

    params_class = ExpParams

    def members(self):
        p = self.params
        return {
            "d": In(TileStreamSignature(unsigned(p.width), p.lanes, last=False)),
            "e": Out(TileStreamSignature(unsigned(p.exp_frac + 1), p.lanes, last=False)),
        }

    def manifest(self) -> dict:
        """Latency for the per-configuration manifest."""
        return {"latency": {"exp_unit": exp_latency(self.params.spec), "throughput": "one beat per cycle"}}

    def elaborate(self, platform):
        p = self.params
        m = Module()
        latency = exp_latency(p.spec)
        # Credits: beats in the pipeline plus beats in the buffer never exceed its depth.
        depth = latency + 3
        result = Signal(self.e.payload.data.shape())
        m.submodules.out_buffer = out = fifo.SyncFIFOBuffered(width=result.shape().size, depth=depth)
        reserved = Signal(range(depth + 1))
        fire = Signal()
        m.d.comb += [self.d.ready.eq(reserved < depth), fire.eq(self.d.valid & self.d.ready)]
        m.submodules.valid_line = valid_line = DelayLine(unsigned(1), latency)
        m.d.comb += valid_line.i.eq(fire)
        for lane in range(p.lanes):
            unit = m.submodules[f"exp_{lane}"] = ExpUnit(p.spec)
            m.d.comb += [unit.d.eq(self.d.payload.data[lane]), result[lane].eq(unit.e)]
        m.d.comb += [out.w_data.eq(result), out.w_en.eq(valid_line.o)]
        wiring.connect(m, out.r_stream, wiring.flipped(self.e))
        m.d.sync += reserved.eq(reserved + fire - (self.e.valid & self.e.ready))
        return m
