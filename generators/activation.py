"""Elementwise activation units: GELU and SiLU (designs ``gelu`` and ``silu``).

``lanes`` signed fixed-point inputs arrive per beat on stream ``x`` (``width`` bits, value
``code * 2**-in_frac``); the same number of outputs leave per beat on stream ``y``
(``out_width`` bits, ``2**-out_frac``), in order, one beat per cycle (II = 1) after a fixed
latency. Outputs saturate to the ``out_width``-bit range.

Datapaths (``approx`` / ``method``), all sharing constants with the golden model through
:mod:`accelgen.hdl.activation_tables`:

- ``approx="accurate"``, ``method="table"`` (default up to 8-bit inputs): every input code's
  correctly rounded output (<= 0.5 LSB), stored as ``ReLU(x) - correction[x]`` so that the
  table holds only the few bits of ``delta`` (a small ROM and a subtractor); 1 cycle.
- ``approx="accurate"``, ``method="interp"`` (default for wider inputs):
  ``ReLU(x) - delta(|x|)`` with a table of ``delta`` at step ``2**-seg_frac`` and linear
  interpolation (one ``slope x offset`` multiply), rounded once at the end; the default step
  is the coarsest whose max error over every input code is <= 0.75 LSB; 4 cycles (table read;
  table output register; multiply; additions, rounding and saturation), 3 with
  ``table_register=0``.
- ``approx="ibert"`` (GELU): I-BERT's integer i-GELU polynomial plus a requantizing multiply
  (needs quantization-aware training to be accurate); 3 cycles.
- ``approx="hard_sigmoid"`` (SiLU): ``x * clamp(x/4 + 1/2, 0, 1)``: shifts and one multiply;
  2 cycles.

Flow control: every pipeline register advances together when the output register is empty or
taken (``x.ready = ~y.valid | y.ready``), so the unit never drops or reorders a beat.
"""

import dataclasses
import functools

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib.wiring import In, Out

from ..hdl import activation_tables as tables
from ..hdl.arith import clamp
from ..hdl.fixedpoint import round_shift_expr
from ..hdl.layouts import TileStreamSignature
from . import DesignComponent, DesignParams, param, register

__all__ = ["ActivationParams", "GeluParams", "SiluParams", "ElementwiseActivation", "Gelu", "Silu", "LATENCY"]

#: Pipeline latency (cycles from the input transfer to the output being valid) per datapath.
LATENCY = {"table": 1, "interp": 3, "ibert": 3, "hard_sigmoid": 2}

#: Widest input the full-table datapath accepts (a 2**12-entry table per lane).
MAX_TABLE_WIDTH = 12
#: Default choice of datapath: full table up to this input width, interpolation above.
TABLE_DEFAULT_MAX_WIDTH = 8


def _bits_shape(bits: tuple[int, bool]):
    width, is_signed = bits
    return signed(width) if is_signed else unsigned(width)


def _corners(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    products = [x * y for x in a for y in b]
    return min(products), max(products)


@dataclasses.dataclass(frozen=True)
class ActivationParams(DesignParams):
    """Parameters shared by the elementwise units (GELU, SiLU).

    Parameters
    ----------
    width : int
        Input width in bits, signed two's complement (4..16).
    in_frac : int
        Input fraction bits: an input code ``c`` means ``c * 2**-in_frac`` (0..width-1).
    out_width : int or None
        Output width in bits (4..24; default ``width``). Outputs saturate to this range.
    out_frac : int or None
        Output fraction bits (0..out_width-1; default ``in_frac``).
    lanes : int
        Elements per beat, a power of two (1..64).
    approx : str
        ``"accurate"`` (default; <= 1 output LSB) or the family's cheaper published variant.
    method : str or None
        Accurate datapath: ``"table"`` (every input code, correctly rounded; width <= 12) or
        ``"interp"`` (``delta`` table with linear interpolation). Default: ``"table"`` up to
        8-bit inputs, else ``"interp"``. Only for ``approx="accurate"``.
    seg_frac : int or None
        ``method="interp"`` only: table step ``2**-seg_frac``. Default: the coarsest step whose
        max error over every input code is <= 0.75 LSB. A step over 1 LSB is refused.
    table_register : int or None
        ``method="interp"`` only: register stages between the table read and the
        interpolation multiply (0 or 1; default 1). On FPGAs the table is a block RAM whose
        data output comes late in the cycle (ECP5: about 5.6 ns), so the register lets the
        multiply have a cycle of its own (ECP5: about 80 -> 125+ MHz) for one cycle of latency.
        Same function.
    """

    width: int = param(8, "input width in bits (signed)", min=4, max=16)
    in_frac: int = param(4, "input fraction bits: x = code * 2**-in_frac", min=0, max=15)
    out_width: int | None = param(None, "output width in bits (saturating); default: width", min=4, max=24)
    out_frac: int | None = param(None, "output fraction bits; default: in_frac", min=0, max=23)
    lanes: int = param(4, "elements per beat (power of two)", min=1, max=64)
    approx: str = param("accurate", "datapath: accurate (<= 1 LSB) or a cheaper published variant",
                        choices=("accurate",))
    method: str | None = param(None, "accurate datapath: table (every code) or interp (delta table + linear "
                               "interpolation); default: table up to 8-bit inputs", choices=("table", "interp"))
    seg_frac: int | None = param(None, "interp table step 2**-seg_frac; default: coarsest step with <= 0.75 LSB",
                                 min=0, max=15)
    table_register: int | None = param(None, "interp: register stages after the table read (block RAM output); "
                                       "default 1", min=0, max=1)

    #: ``"gelu"`` or ``"silu"`` (set by the subclass).
    kind = None

    def resolve(self):
        derived = {}
        out_width = self.out_width if self.out_width is not None else self.width
        out_frac = self.out_frac if self.out_frac is not None else self.in_frac
        if self.out_width is None:
            derived["out_width"] = out_width
        if self.out_frac is None:
            derived["out_frac"] = out_frac
        method = self.method
        if self.approx == "accurate" and method is None:
            method = "table" if self.width <= TABLE_DEFAULT_MAX_WIDTH else "interp"
            derived["method"] = method
        # Only search for a step when the formats themselves are legal (check() names them otherwise).
        formats_legal = 1 <= self.in_frac < self.width and out_frac < out_width
        if method == "interp" and self.seg_frac is None and formats_legal:
            derived["seg_frac"] = tables.choose_seg_frac(self.kind, self.width, self.in_frac, out_width, out_frac)
        if method == "interp" and self.table_register is None:
            derived["table_register"] = 1
        return derived

    def check(self):
        if self.in_frac > self.width - 1:
            raise ValueError(f"in_frac={self.in_frac} is out of range: must be an integer in 0..{self.width - 1} "
                             f"(width={self.width})")
        if self.out_frac > self.out_width - 1:
            raise ValueError(f"out_frac={self.out_frac} is out of range: must be an integer in "
                             f"0..{self.out_width - 1} (out_width={self.out_width})")
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes={self.lanes} is not legal: must be a power of two in 1..64")
        if self.approx != "accurate":
            for name in ("method", "seg_frac", "table_register"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}={getattr(self, name)!r} only applies to approx='accurate' "
                                     f"(approx={self.approx!r})")
            if self.approx == "hard_sigmoid":
                tables.hard_sigmoid_plan(self.width, self.in_frac, self.out_width, self.out_frac)
            return
        if self.method == "table":
            if self.width > MAX_TABLE_WIDTH:
                raise ValueError(f"width={self.width} is out of range for method='table': must be an integer in "
                                 f"4..{MAX_TABLE_WIDTH} (use method='interp')")
            for name in ("seg_frac", "table_register"):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}={getattr(self, name)} only applies to method='interp'")
            return
        if self.in_frac < 1:
            raise ValueError(f"in_frac={self.in_frac} is out of range for method='interp': must be an integer in "
                             f"1..{self.width - 1} (use method='table')")
        if self.seg_frac >= self.in_frac:
            raise ValueError(f"seg_frac={self.seg_frac} is out of range: must be an integer in 0..{self.in_frac - 1} "
                             f"(the table step must be coarser than the input step 2**-{self.in_frac})")
        plan = self.interp_plan
        if plan.entries > tables.MAX_TABLE_ENTRIES:
            raise ValueError(f"seg_frac={self.seg_frac} needs {plan.entries} table entries: must be at most "
                             f"{tables.MAX_TABLE_ENTRIES}; use a smaller seg_frac")
        error = tables.interp_max_error(plan)
        if error > tables.MAX_ERROR:
            raise ValueError(f"seg_frac={self.seg_frac} gives a max error of {error:.2f} output LSB: must be at most "
                             f"{tables.MAX_ERROR}; use a larger seg_frac (default: chosen automatically)")

    # -- derived facts ------------------------------------------------------------------------
    @property
    def datapath(self) -> str:
        """``"table"``, ``"interp"``, ``"ibert"`` or ``"hard_sigmoid"``."""
        return self.method if self.approx == "accurate" else self.approx

    @property
    def latency(self) -> int:
        """Cycles from an input beat's transfer to its output beat being valid (no stalls)."""
        return LATENCY[self.datapath] + (self.table_register or 0)

    @property
    def interp_plan(self) -> tables.InterpPlan:
        """Table and widths of the ``method="interp"`` datapath."""
        return _interp_plan(self.kind, self.width, self.in_frac, self.out_width, self.out_frac, self.seg_frac)

    @property
    def ibert_plan(self) -> tables.IbertPlan:
        """Constants of the ``approx="ibert"`` datapath."""
        return tables.ibert_plan(self.width, self.in_frac, self.out_width, self.out_frac)

    @property
    def hard_sigmoid_plan(self) -> tables.HardSigmoidPlan:
        """Constants of the ``approx="hard_sigmoid"`` datapath."""
        return tables.hard_sigmoid_plan(self.width, self.in_frac, self.out_width, self.out_frac)

    @property
    def input_range(self) -> tuple[int, int]:
        """Smallest and largest input code."""
        return -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1

    @property
    def ibert_widths(self) -> dict:
        """``(width, signed)`` of every i-GELU intermediate (exact interval bounds)."""
        plan = self.ibert_plan
        lo, hi = self.input_range
        clip_hi = min(-lo, -plan.b_int)
        shifted = (plan.b_int, clip_hi + plan.b_int)
        square = (0 if shifted[0] <= 0 <= shifted[1] else min(shifted[0] ** 2, shifted[1] ** 2),
                  max(shifted[0] ** 2, shifted[1] ** 2))
        poly = (square[0] + plan.c_int, square[1] + plan.c_int)
        erf = (min(poly[0], -poly[1], 0), max(poly[1], -poly[0], 0))
        erf_shifted = (erf[0] >> plan.shift, erf[1] >> plan.shift)
        gate = (erf_shifted[0] + plan.one, erf_shifted[1] + plan.one)
        product = _corners((lo, hi), gate)
        scaled = _corners(product, (plan.multiplier, plan.multiplier))
        ranges = {"clipped": (0, clip_hi), "shifted": shifted, "square": square, "poly": poly, "erf": erf,
                  "erf_shifted": erf_shifted, "gate": gate, "product": product, "scaled": scaled}
        return {name: tables.range_bits(*r) for name, r in ranges.items()}

    @property
    def hard_sigmoid_widths(self) -> dict:
        """``(width, signed)`` of every hard-sigmoid SiLU intermediate."""
        plan = self.hard_sigmoid_plan
        lo, hi = self.input_range
        bias = 1 << (self.in_frac + 1)
        ranges = {"biased": (lo + bias, hi + bias), "gate": (0, plan.gate_max),
                  "product": _corners((lo, hi), (0, plan.gate_max))}
        return {name: tables.range_bits(*r) for name, r in ranges.items()}


@functools.lru_cache(maxsize=64)
def _interp_plan(kind, width, in_frac, out_width, out_frac, seg_frac):
    return tables.interp_plan(kind, width, in_frac, out_width, out_frac, seg_frac)


@dataclasses.dataclass(frozen=True)
class GeluParams(ActivationParams):
    """Parameters of the GELU unit (see :class:`ActivationParams`); ``approx`` is ``"accurate"``
    or ``"ibert"`` (I-BERT's integer i-GELU, a published reference point, not drop-in)."""

    approx: str = param("accurate", "datapath: accurate (<= 1 LSB) or ibert (I-BERT i-GELU polynomial)",
                        choices=("accurate", "ibert"))
    kind = "gelu"


@dataclasses.dataclass(frozen=True)
class SiluParams(ActivationParams):
    """Parameters of the SiLU unit (see :class:`ActivationParams`); ``approx`` is ``"accurate"``
    or ``"hard_sigmoid"`` (``x * clamp(x/4 + 1/2, 0, 1)``: shifts and one multiply)."""

    approx: str = param("accurate", "datapath: accurate (<= 1 LSB) or hard_sigmoid (x * clamp(x/4 + 1/2, 0, 1))",
                        choices=("accurate", "hard_sigmoid"))
    kind = "silu"


class ElementwiseActivation(DesignComponent):
    """``lanes`` elementwise activations per beat, II = 1, valid/ready streams.

    Its parameters: :class:`ActivationParams`.

    Members
    -------
    x : In(TileStreamSignature(signed(width), lanes, last=False))
        Input codes, ``lanes`` per beat.
    y : Out(TileStreamSignature(signed(out_width), lanes, last=False))
        Output codes in the same order, ``latency`` cycles after the input when not stalled.
        ``x.ready`` depends on ``y.ready`` (combinationally); ``y.valid`` never on ``y.ready``.
    """

    params_class = ActivationParams

    def members(self):
        params = self.params
        return {
            "x": In(TileStreamSignature(signed(params.width), params.lanes, last=False)),
            "y": Out(TileStreamSignature(signed(params.out_width), params.lanes, last=False)),
        }

    def manifest(self) -> dict:
        """Timing and datapath facts for the per-configuration manifest."""
        p = self.params
        facts = {
            "function": p.kind,
            "datapath": p.datapath,
            "latency": p.latency,
            "throughput": f"{p.lanes} elements/cycle (one beat per cycle)",
            "rounding": "half_up, then saturate to out_width",
        }
        if p.datapath == "interp":
            facts["table_entries"] = p.interp_plan.entries
            facts["table_step"] = f"2**-{p.seg_frac}"
        return facts

    def elaborate(self, platform):
        p = self.params
        m = Module()
        latency = p.latency
        # One enable for the whole pipeline: it moves when the output register is free or taken.
        advance = Signal()
        valid = [Signal(name=f"valid_{k}") for k in range(latency)]
        m.d.comb += [
            advance.eq(~valid[-1] | self.y.ready),
            self.x.ready.eq(advance),
            self.y.valid.eq(valid[-1]),
        ]
        with m.If(advance):
            m.d.sync += valid[0].eq(self.x.valid)
            for k in range(1, latency):
                m.d.sync += valid[k].eq(valid[k - 1])

        def stage(value, shape, name):
            register = Signal(shape, name=name)
            with m.If(advance):
                m.d.sync += register.eq(value)
            return register

        build = {"table": self._table, "interp": self._interp, "ibert": self._ibert,
                 "hard_sigmoid": self._hard_sigmoid}[p.datapath]
        for lane in range(p.lanes):
            y = build(m, stage, self.x.payload.data[lane], f"lane{lane}")
            m.d.comb += self.y.payload.data[lane].eq(y)
        return m

    # -- datapaths (each returns the output register of one lane) -------------------------------
    def _saturate_output(self, value):
        return clamp(value, signed(self.params.out_width))

    def _table(self, m, stage, x, name):
        p = self.params
        split = tables.relu_split_table(p.kind, p.width, p.in_frac, p.out_width, p.out_frac)
        correction = Signal(_bits_shape(split.correction_bits), name=f"{name}_correction")
        if split.indexed_by_magnitude:
            magnitude = Signal(unsigned(p.width), name=f"{name}_abs")
            m.d.comb += magnitude.eq(Mux(x < 0, -x, x))
            address, contents = magnitude, split.magnitude_corrections
        else:
            address, contents = x.as_unsigned(), split.corrections
        with m.Switch(address):
            for code, value in enumerate(contents):
                with m.Case(code):
                    m.d.comb += correction.eq(value)
            if len(contents) < 1 << len(address):
                with m.Default():
                    m.d.comb += correction.eq(0)
        relu = Signal(unsigned(split.relu_width), name=f"{name}_relu")
        if split.relu_shift >= 0:
            m.d.comb += relu.eq(Mux(x < 0, 0, x[:p.width - 1]) << split.relu_shift)
        else:
            m.d.comb += relu.eq(Mux(x < 0, 0, x[:p.width - 1]) >> -split.relu_shift)
        # ReLU - correction equals the correctly rounded, saturated table entry by construction.
        return stage(relu - correction, signed(p.out_width), f"{name}_y")

    def _interp(self, m, stage, x, name):
        p = self.params
        plan = p.interp_plan
        # Stage 1: |x|, segment index and offset, table read.
        magnitude = Signal(unsigned(plan.abs_width), name=f"{name}_abs")
        m.d.comb += magnitude.eq(Mux(x < 0, -x, x))
        segment = magnitude >> plan.offset_bits
        index = Signal(unsigned(plan.index_width), name=f"{name}_index")
        m.d.comb += index.eq(Mux(segment >= plan.segments, plan.segments, segment))
        value = Signal(_bits_shape(plan.value_bits), name=f"{name}_value_rom")
        slope = Signal(_bits_shape(plan.slope_bits), name=f"{name}_slope_rom")
        with m.Switch(index):
            for k, (v, d) in enumerate(zip(plan.values, plan.slopes)):
                with m.Case(k):
                    m.d.comb += [value.eq(v), slope.eq(d)]
            with m.Default():
                m.d.comb += [value.eq(0), slope.eq(0)]
        value_1 = stage(value, value.shape(), f"{name}_value")
        slope_1 = stage(slope, slope.shape(), f"{name}_slope")
        offset_1 = stage(magnitude[:plan.offset_bits], unsigned(plan.offset_bits), f"{name}_offset")
        relu_1 = stage(Mux(x < 0, 0, x[:p.width - 1]), unsigned(p.width - 1), f"{name}_relu")
        for k in range(p.table_register):
            value_1, slope_1, offset_1, relu_1 = (stage(signal, signal.shape(), f"{name}_{signal.name[len(name) + 1:]}_r{k}")
                                                  for signal in (value_1, slope_1, offset_1, relu_1))
        # Stage 2: the interpolation multiply alone (a table read feeds it; on FPGAs the table is
        # a block RAM with a slow clock-to-output), and ReLU - value beside it.
        product_2 = stage(slope_1 * offset_1, _bits_shape(tables.range_bits(*plan.product_range)), f"{name}_product")
        # ReLU - value, plus the rounding's half (half up: floor((v + half) / 2**s) is the
        # rounded v), so that stage 3 holds one subtraction before the saturation.
        assert tables.OUTPUT_ROUNDING == "half_up"
        half = (1 << plan.out_shift) >> 1
        base = (relu_1 << plan.relu_shift) - (value_1 << plan.offset_bits) + half
        base_2 = stage(base, base.shape(), f"{name}_base")
        # Stage 3: ReLU - delta with delta = value + slope * offset, rounded, saturated.
        rounded = Signal(_bits_shape(tables.range_bits(*plan.difference_range)), name=f"{name}_difference")
        m.d.comb += rounded.eq((base_2 - product_2) >> plan.out_shift)
        return stage(self._saturate_output(rounded), signed(p.out_width), f"{name}_y")

    def _ibert(self, m, stage, x, name):
        p = self.params
        plan = p.ibert_plan
        w = {key: _bits_shape(bits) for key, bits in p.ibert_widths.items()}
        # Stage 1: erf polynomial's square.
        magnitude = Signal(unsigned(p.width), name=f"{name}_abs")
        m.d.comb += magnitude.eq(Mux(x < 0, -x, x))
        clipped = Signal(w["clipped"], name=f"{name}_clipped")
        m.d.comb += clipped.eq(Mux(magnitude > -plan.b_int, -plan.b_int, magnitude))
        shifted = Signal(w["shifted"], name=f"{name}_shifted")
        m.d.comb += shifted.eq(clipped + plan.b_int)
        square_1 = stage(shifted * shifted, w["square"], f"{name}_square")
        x_1 = stage(x, x.shape(), f"{name}_x_1")
        # Stage 2: sign, overflow shift (floor), gate = erf + 1, times x.
        poly = Signal(w["poly"], name=f"{name}_poly")
        m.d.comb += poly.eq(square_1 + plan.c_int)
        erf = Signal(w["erf"], name=f"{name}_erf")
        m.d.comb += erf.eq(Mux(x_1 < 0, -poly, Mux(x_1.any(), poly, 0)))
        gate = Signal(w["gate"], name=f"{name}_gate")
        m.d.comb += gate.eq((erf >> plan.shift) + plan.one)
        product_2 = stage(x_1 * gate, w["product"], f"{name}_product")
        # Stage 3: requantizing multiply, rounding, saturation.
        scaled = Signal(w["scaled"], name=f"{name}_scaled")
        m.d.comb += scaled.eq(product_2 * plan.multiplier)
        rounded = round_shift_expr(scaled, plan.requant_shift, tables.OUTPUT_ROUNDING)
        return stage(self._saturate_output(rounded), signed(p.out_width), f"{name}_y")

    def _hard_sigmoid(self, m, stage, x, name):
        p = self.params
        plan = p.hard_sigmoid_plan
        w = {key: _bits_shape(bits) for key, bits in p.hard_sigmoid_widths.items()}
        # Stage 1: gate = clamp(x/4 + 1/2, 0, 1) (an add and a clamp), times x.
        biased = Signal(w["biased"], name=f"{name}_biased")
        m.d.comb += biased.eq(x + (1 << (p.in_frac + 1)))
        gate = Signal(w["gate"], name=f"{name}_gate")
        # Clamp only the sides the range can reach: with in_frac >= width - 2 the biased value is
        # never negative, and a comparison with 0 would be constant (Verilator UNSIGNED).
        low, high = p.input_range[0] + (1 << (p.in_frac + 1)), p.input_range[1] + (1 << (p.in_frac + 1))
        clamped = Mux(biased > plan.gate_max, plan.gate_max, biased) if high > plan.gate_max else biased
        m.d.comb += gate.eq(Mux(biased < 0, 0, clamped) if low < 0 else clamped)
        product_1 = stage(x * gate, w["product"], f"{name}_product")
        # Stage 2: rounding, saturation.
        rounded = round_shift_expr(product_1, plan.out_shift, tables.OUTPUT_ROUNDING)
        return stage(self._saturate_output(rounded), signed(p.out_width), f"{name}_y")


@register(
    "gelu",
    params=GeluParams,
    summary="elementwise GELU, lanes per beat, II=1: exact table (int8) or delta table + interpolation (<= 1 LSB)",
)
class Gelu(ElementwiseActivation):
    """GELU unit (see :class:`ElementwiseActivation`)."""

    params_class = GeluParams


@register(
    "silu",
    params=SiluParams,
    summary="elementwise SiLU, lanes per beat, II=1: exact table (int8) or delta table + interpolation (<= 1 LSB)",
)
class Silu(ElementwiseActivation):
    """SiLU unit (see :class:`ElementwiseActivation`)."""

    params_class = SiluParams
