"""Streaming softmax over rows of runtime length (design ``softmax``).

Rows arrive on stream ``x``, ``lanes`` elements per beat, the row's final beat marked with
``last`` (lanes past the end of the row cleared in ``keep``). Probabilities leave on stream
``y`` in the same order and beat structure, as unsigned codes with ``out_frac`` fraction bits.

Datapath per row (the golden model of the verification package follows it bit for bit):

1. **max** (stage A): the row's beats are written into the row buffer while a lane-max tree
   and a running maximum find ``m`` over the unmasked elements.
2. **exp and sum** (stage B): the buffered row is read back; each lane computes
   ``d = m - x`` and ``e = exp(-d*S)`` (U1.E, :class:`~accelgen.hdl.exp_unit.ExpUnit`; masked
   elements give 0), writes ``e`` into the exp buffer, and an adder tree sums the row:
   ``s = sum(e)``.
3. **reciprocal** (one per row, :class:`~accelgen.hdl.reciprocal.PipelinedReciprocal`):
   ``r = round_half_up(2**K / s)`` with ``K = E + out_frac + 4``.
4. **normalize** (stage C): one multiply per element,
   ``y = min(round_half_up(e * r / 2**(K - out_frac)), 2**out_frac - 1)``.

The row buffer (input codes, two rows deep) and the exp buffer (a row plus the pipeline's
latency) are FIFOs in :mod:`amaranth.lib.memory`, so row ``r+1``'s max pass runs while row
``r`` is summed and row ``r-1`` is normalized: with ``y`` always ready and no input stalls the
design sustains one beat (``lanes`` elements) per cycle across back-to-back rows.
"""

import dataclasses

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.delay import DelayLine
from ..hdl.exp_tables import APPROX_MODES, ExpSpec, exp_code
from ..hdl.exp_unit import ExpUnit, exp_latency
from ..hdl.layouts import TileStreamSignature
from ..hdl.reciprocal import PipelinedReciprocal, reciprocal_quotient_bits
from ..hdl.trees import pipelined_tree
from ..hdl.util import ceil_div, ceil_log2
from . import DesignComponent, DesignParams, param, register

__all__ = ["SoftmaxParams", "Softmax", "RowMaxStage", "ExpSumStage", "NormalizeStage"]

#: Exp terms wider than this are multiplied in two registered partial products.
MULTIPLY_SPLIT = 17


@dataclasses.dataclass(frozen=True)
class SoftmaxParams(DesignParams):
    """Parameters of the streaming softmax.

    Parameters
    ----------
    width : int
        Input code width (signed, 2..16). 8: int8 (exact exp table); wider: range reduction.
    in_frac : int
        Input scale ``S = in_scale_num * 2**-in_frac`` (0..16).
    in_scale_num : int
        Numerator of a non-power-of-two input scale (1..65535; 1 = power-of-two scale).
    out_frac : int
        Output fraction bits: outputs are U0.out_frac codes, saturated at ``2**out_frac - 1``.
    lanes : int
        Elements per beat (a power of two, 1..64).
    n_max : int
        Longest row (elements, 1..65536); sizes the row buffers and the sum.
    exp_frac : int or None
        Fraction bits ``E`` of the exp terms (4..40). Default ``max(4, out_frac + ceil(log2(n_max)) + 1)``:
        the terms' rounding errors cannot add up to a quarter LSB even in the worst case.
    exp_table_bits : int or None
        Index bits of the ``2**-f`` interpolation table (range reduction only).
        Default ``max(2, ceil((out_frac - 2) / 2))``: chord error <= 0.06 LSB.
    approx : str
        ``"accurate"`` (default), ``"shift"`` (I-ViT shift-only exp: no multiplier, several LSB)
        or ``"ibert"`` (I-BERT integer polynomial exp; tabulated, ``width <= 8``).
    masking : bool
        Add the ``mask`` field to ``x``: masked elements contribute nothing and output 0.
    """

    width: int = param(8, "input code width (signed)", min=2, max=16)
    in_frac: int = param(4, "input scale S = in_scale_num * 2**-in_frac", min=0, max=16)
    in_scale_num: int = param(1, "numerator of a non-power-of-two input scale", min=1, max=65535)
    out_frac: int = param(8, "output fraction bits (U0.out_frac)", min=2, max=20)
    lanes: int = param(4, "elements per beat (power of two)", min=1, max=64)
    n_max: int = param(32, "longest row in elements", min=1, max=65536)
    exp_frac: int | None = param(None, "fraction bits of the exp terms; default: worst case < 1/4 LSB", min=4, max=40)
    exp_table_bits: int | None = param(None, "index bits of the 2**-f interpolation table (width > 8)", min=2, max=10)
    approx: str = param("accurate", "exp variant", choices=APPROX_MODES)
    masking: bool = param(True, "add a per-element mask to the input stream")

    # -- derived quantities ----------------------------------------------------------------
    @property
    def row_beats(self) -> int:
        """Beats of the longest row: ``ceil(n_max / lanes)``."""
        return ceil_div(self.n_max, self.lanes)

    @property
    def min_exp_frac(self) -> int:
        """Fewest exp fraction bits that keep the sum's rounding error statistically below
        about half an LSB (``out_frac + ceil(log2(n_max)/2) + 1``)."""
        return self.out_frac + ceil_div(ceil_log2(self.n_max), 2) + 1

    @property
    def exp_spec(self) -> ExpSpec:
        """The exp unit's integer function (shared with the golden model)."""
        return ExpSpec(self.width, self.in_frac, self.in_scale_num, self.exp_frac, self.out_frac,
                       self.approx, self.exp_table_bits)

    @property
    def exp_zero(self) -> int:
        """``e(0)``, the term of the row maximum (``2**E`` except for I-BERT's polynomial)."""
        return exp_code(0, self.exp_spec)

    @property
    def sum_width(self) -> int:
        """Width of the row sum (``row_beats * lanes`` terms of at most ``2**E``)."""
        return (self.row_beats * self.lanes << self.exp_frac).bit_length()

    @property
    def recip_shift(self) -> int:
        """``K``: the reciprocal is ``round(2**K / s)``; its rounding moves outputs <= 1/32 LSB."""
        return self.exp_frac + self.out_frac + 4

    @property
    def recip_width(self) -> int:
        """Width of the reciprocal (largest for a row of one element)."""
        return (((1 << (self.recip_shift + 1)) // self.exp_zero + 1) >> 1).bit_length()

    def resolve(self):
        derived = {}
        if self.exp_frac is None:
            # At least the field's minimum: out_frac=2 with n_max=1 would give 3.
            derived["exp_frac"] = max(4, self.out_frac + ceil_log2(self.n_max) + 1)
        if self.exp_table_bits is None:
            derived["exp_table_bits"] = max(2, ceil_div(self.out_frac - 2, 2))
        return derived

    def check(self):
        if self.lanes & (self.lanes - 1):
            raise ValueError(f"lanes={self.lanes} is not legal: must be a power of two in 1..64")
        if self.exp_frac < self.min_exp_frac:
            raise ValueError(
                f"exp_frac={self.exp_frac} cannot meet 1 output LSB for out_frac={self.out_frac}, "
                f"n_max={self.n_max}: must be an integer in {self.min_exp_frac}..40")
        if self.approx == "ibert" and self.width > 8:
            raise ValueError(f"approx='ibert' is tabulated: width={self.width} is out of range, must be 2..8")
        if self.approx == "ibert" and self.exp_zero < (1 << (self.exp_frac - 1)):
            raise ValueError(f"approx='ibert' is not usable at in_frac={self.in_frac}: its polynomial's "
                             f"constants underflow; use in_frac in 1..16")
        if self.approx == "shift" and self.width > 8 and self.in_scale_num != 1:
            raise ValueError(f"in_scale_num={self.in_scale_num} is not legal with approx='shift' and width > 8: "
                             f"the shift-only exp needs a power-of-two scale (in_scale_num=1)")
        if self.width > 8 and self.approx == "accurate" and self.exp_table_bits >= self.out_frac + 6:
            raise ValueError(f"exp_table_bits={self.exp_table_bits} is out of range: must be 2..{min(10, self.out_frac + 5)}")
        product_width = self.exp_frac + 1 + self.recip_width
        if max(self.sum_width, product_width) > 64:
            raise ValueError(
                f"n_max={self.n_max} is not representable with exp_frac={self.exp_frac}, out_frac={self.out_frac}: "
                f"the row sum needs {self.sum_width} bits and the normalize product {product_width}, at most 64; "
                f"lower n_max, exp_frac or out_frac")

    # -- pipeline sizing -------------------------------------------------------------------
    @property
    def exp_latency(self) -> int:
        """Cycles of the exp unit."""
        return exp_latency(self.exp_spec)

    @property
    def recip_latency(self) -> int:
        """Cycles of the reciprocal unit."""
        return reciprocal_quotient_bits(self.recip_shift, self.exp_zero) + 2

    @property
    def sum_to_output_latency(self) -> int:
        """Cycles from stage B reading a row's last beat to stage C being able to read the row."""
        return self.exp_latency + self.recip_latency + ceil_log2(self.lanes) + 6

    @property
    def x_buffer_beats(self) -> int:
        """Row buffer: two rows (one being filled, one being read) plus the beats that arrive
        while a row's maximum passes the lane-max tree and the max queue."""
        return 2 * self.row_beats + ceil_log2(self.lanes) + 10

    @property
    def e_buffer_beats(self) -> int:
        """Exp buffer: a row plus the beats of the next rows issued while its reciprocal runs."""
        return self.row_beats + self.sum_to_output_latency + 4

    @property
    def max_queue_rows(self) -> int:
        """Max queue: rows of one beat arrive one per cycle and wait for their maximum through
        the lane-max tree."""
        return ceil_log2(self.lanes) + 8

    @property
    def row_slots(self) -> int:
        """Rows that may wait for their reciprocal at once (short rows arrive one per cycle)."""
        return self.sum_to_output_latency + 4


@register(
    "softmax",
    params=SoftmaxParams,
    summary="streaming softmax over rows of runtime length, lanes elements per cycle, bit-exact",
)
class Softmax(DesignComponent):
    """Streaming softmax with valid/ready streams.

    Its parameters: :class:`SoftmaxParams`.

    Members
    -------
    x : In(TileStreamSignature(signed(width), lanes, flags=("keep", ["mask"])))
        One beat of a row: ``data[i]`` is element ``i`` of the beat. ``keep[i] = 0`` marks a
        lane past the row's end (only on the final beat); ``mask[i] = 1`` masks an element
        (``masking`` only); ``last`` ends the row. A row longer than ``n_max`` is cut after
        ``ceil(n_max/lanes)`` beats (treated as if ``last`` were set there).
    y : Out(TileStreamSignature(unsigned(out_frac), lanes))
        One output beat per input beat, same order; lanes that were masked or not kept are 0.
    """

    params_class = SoftmaxParams

    def members(self):
        p = self.params
        flags = ("keep", "mask") if p.masking else ("keep",)
        return {"x": In(TileStreamSignature(signed(p.width), p.lanes, flags=flags)),
                "y": Out(TileStreamSignature(unsigned(p.out_frac), p.lanes))}

    def manifest(self) -> dict:
        """Formats and timing facts for the per-configuration manifest."""
        p = self.params
        return {
            "exp_frac": p.exp_frac,
            "sum_width": p.sum_width,
            "recip_shift": p.recip_shift,
            "recip_width": p.recip_width,
            "latency": {
                "exp_unit": p.exp_latency,
                "reciprocal": p.recip_latency,
                "throughput": f"{p.lanes} elements/cycle sustained (one beat per cycle)",
            },
        }

    def elaborate(self, platform):
        p = self.params
        m = Module()
        layouts = _BeatLayouts(p)
        # Stage A writes the row buffer (input codes, two rows) and the max queue; stage B reads
        # both and writes the exp buffer; the reciprocal writes the reciprocal queue; stage C
        # reads the exp buffer and the reciprocal queue and writes the output buffer.
        m.submodules.row_buffer = x_fifo = fifo.SyncFIFOBuffered(width=layouts.x.size, depth=p.x_buffer_beats)
        m.submodules.max_queue = max_fifo = fifo.SyncFIFOBuffered(width=p.width, depth=p.max_queue_rows)
        m.submodules.exp_buffer = e_fifo = fifo.SyncFIFOBuffered(width=layouts.e.size, depth=p.e_buffer_beats)
        m.submodules.recip_queue = r_fifo = fifo.SyncFIFOBuffered(width=p.recip_width, depth=p.row_slots)
        m.submodules.out_buffer = y_fifo = fifo.SyncFIFOBuffered(width=layouts.y.size, depth=OUT_BUFFER_BEATS)

        row_max = m.submodules.row_max = RowMaxStage(p)
        wiring.connect(m, wiring.flipped(self.x), row_max.x)
        wiring.connect(m, row_max.row, x_fifo.w_stream)
        m.d.comb += [max_fifo.w_data.eq(row_max.max.payload), max_fifo.w_en.eq(row_max.max.valid)]

        exp_sum = m.submodules.exp_sum = ExpSumStage(p)
        wiring.connect(m, x_fifo.r_stream, exp_sum.row)
        wiring.connect(m, max_fifo.r_stream, exp_sum.max)
        m.d.comb += [e_fifo.w_data.eq(exp_sum.e.payload), e_fifo.w_en.eq(exp_sum.e.valid),
                     row_max.max_taken.eq(max_fifo.r_en)]

        m.submodules.reciprocal = recip = PipelinedReciprocal(p.sum_width, p.recip_shift, p.exp_zero)
        m.d.comb += [recip.s.eq(exp_sum.row_sum), recip.s_valid.eq(exp_sum.row_sum_valid),
                     r_fifo.w_data.eq(recip.recip), r_fifo.w_en.eq(recip.recip_valid)]

        normalize = m.submodules.normalize = NormalizeStage(p)
        wiring.connect(m, e_fifo.r_stream, normalize.e)
        wiring.connect(m, r_fifo.r_stream, normalize.recip)
        m.d.comb += [y_fifo.w_data.eq(normalize.y.payload), y_fifo.w_en.eq(normalize.y.valid),
                     exp_sum.e_taken.eq(normalize.e_taken), exp_sum.row_taken.eq(normalize.row_taken)]
        wiring.connect(m, y_fifo.r_stream, wiring.flipped(self.y))
        m.d.comb += normalize.y_taken.eq(self.y.valid & self.y.ready)
        return m


#: Beats the output buffer holds (stage C issues only with a free entry reserved).
OUT_BUFFER_BEATS = 10


class _BeatLayouts:
    """The beats between the stages: ``x`` (row buffer: codes, active lanes, last), ``e`` (exp
    buffer: the lanes' exp terms, last) and ``y`` (output: probabilities, last)."""

    def __init__(self, p: SoftmaxParams):
        self.x = data.StructLayout({"data": data.ArrayLayout(signed(p.width), p.lanes), "active": unsigned(p.lanes),
                                    "last": unsigned(1)})
        self.e = data.StructLayout({"e": data.ArrayLayout(unsigned(p.exp_frac + 1), p.lanes), "last": unsigned(1)})
        self.y = TileStreamSignature(unsigned(p.out_frac), p.lanes).payload_layout


class RowMaxStage(wiring.Component):
    """Stage A: takes the row's beats into the row buffer and finds the row maximum ``m`` over
    the active lanes (a pipelined lane-max tree and a running maximum).

    A row's final beat is taken only while the max queue has room for its maximum (credits
    returned by ``max_taken``); a row longer than ``n_max`` ends after ``ceil(n_max/lanes)``
    beats.

    Members
    -------
    x : In(the softmax input stream)
    row : Out(stream of row-buffer beats: data, active lanes, last)
    max : Out(stream of signed(width))
        The row maximum, valid for one cycle per row (the queue has room by credit).
    max_taken : In(1)
        Stage B took a row maximum from the queue.
    """

    def __init__(self, p: SoftmaxParams):
        self._params = p
        flags = ("keep", "mask") if p.masking else ("keep",)
        super().__init__({
            "x": In(TileStreamSignature(signed(p.width), p.lanes, flags=flags)),
            "row": Out(stream.Signature(_BeatLayouts(p).x)),
            "max": Out(stream.Signature(signed(p.width))),
            "max_taken": In(1),
        })

    def elaborate(self, platform):
        p = self._params
        m = Module()
        lanes, width = p.lanes, p.width
        most_negative = -(1 << (width - 1))
        payload = self.x.payload
        last = Signal()
        if p.row_beats > 1:
            beat = Signal(range(p.row_beats))
            m.d.comb += last.eq(payload.last | (beat == p.row_beats - 1))
        else:
            m.d.comb += last.eq(1)
        rows_waiting = Signal(range(p.max_queue_rows + 1))  # rows taken, max not yet taken by B
        admit = ~last | (rows_waiting < p.max_queue_rows)
        fire = Signal()
        m.d.comb += [
            self.x.ready.eq(self.row.ready & admit),
            self.row.valid.eq(self.x.valid & admit),
            fire.eq(self.x.valid & self.x.ready),
        ]
        active = payload.keep & ~payload.mask if p.masking else payload.keep
        x_in = self.row.payload
        m.d.comb += [x_in.data.eq(payload.data), x_in.active.eq(active), x_in.last.eq(last)]
        if p.row_beats > 1:
            with m.If(fire):
                m.d.sync += beat.eq(Mux(last, 0, beat + 1))

        a1 = Signal.like(x_in)
        a1_valid = Signal()
        m.d.sync += [a1.eq(x_in), a1_valid.eq(fire)]
        lane_values = [Mux(a1.active[i], a1.data[i], most_negative) for i in range(lanes)]
        beat_max = pipelined_tree(m, lane_values, lambda a, b: Mux(a > b, a, b), signed(width), "max")
        m.submodules.a_side = a_side = DelayLine(unsigned(2), ceil_log2(lanes) + 1)
        m.d.comb += a_side.i.eq(Cat(a1_valid, a1.last))
        a2_valid, a2_last = a_side.o[0], a_side.o[1]
        running_max = Signal(signed(width), init=most_negative)
        candidate = Mux(beat_max > running_max, beat_max, running_max)
        m.d.comb += [self.max.payload.eq(candidate), self.max.valid.eq(a2_valid & a2_last)]
        with m.If(a2_valid):
            m.d.sync += running_max.eq(Mux(a2_last, most_negative, candidate))
        m.d.sync += rows_waiting.eq(rows_waiting + (fire & last) - self.max_taken)
        return m


class ExpSumStage(wiring.Component):
    """Stage B: reads a row back from the row buffer, computes ``d = m - x`` and
    ``e = exp(-d*S)`` per lane (masked lanes give 0), writes ``e`` into the exp buffer and sums
    the row (a pipelined adder tree and a running sum).

    A beat is issued only with an exp-buffer entry reserved for it, and a row's final beat
    only with a reciprocal-queue slot reserved (credits returned by stage C).

    Members
    -------
    row : In(stream of row-buffer beats)
    max : In(stream of signed(width))
        The row maximum; taken with the row's final beat.
    e : Out(stream of exp-buffer beats)
        Valid for one cycle per beat (the buffer has room by credit).
    row_sum, row_sum_valid : Out
        The row's sum of exp terms, for one cycle per row.
    e_taken, row_taken : In(1)
        Stage C took a beat / a row's final beat from the exp buffer.
    """

    def __init__(self, p: SoftmaxParams):
        self._params = p
        layouts = _BeatLayouts(p)
        super().__init__({
            "row": In(stream.Signature(layouts.x)),
            "max": In(stream.Signature(p.width)),
            "e": Out(stream.Signature(layouts.e)),
            "row_sum": Out(p.sum_width),
            "row_sum_valid": Out(1),
            "e_taken": In(1),
            "row_taken": In(1),
        })

    def elaborate(self, platform):
        p = self._params
        m = Module()
        lanes, width = p.lanes, p.width
        rows_waiting = Signal(range(p.row_slots + 1))  # rows past B, reciprocal not yet taken by C
        e_reserved = Signal(range(p.e_buffer_beats + 1))  # exp-buffer entries promised to B's beats
        beat_in = self.row.payload
        issue = Signal()
        m.d.comb += [
            issue.eq(self.row.valid & self.max.valid & (e_reserved < p.e_buffer_beats)
                     & (~beat_in.last | (rows_waiting < p.row_slots))),
            self.row.ready.eq(issue),
            self.max.ready.eq(issue & beat_in.last),
        ]
        row_max = self.max.payload.as_signed()
        side = data.StructLayout({"valid": 1, "last": 1, "active": unsigned(lanes)})
        b1 = Signal(side)
        m.d.sync += [b1.valid.eq(issue), b1.last.eq(beat_in.last), b1.active.eq(beat_in.active)]
        m.submodules.b_side = b_side = DelayLine(side, p.exp_latency)
        m.d.comb += b_side.i.eq(b1)
        exp_values = []
        for i in range(lanes):
            unit = m.submodules[f"exp_{i}"] = ExpUnit(p.exp_spec)
            d = Signal(width, name=f"d_{i}")
            m.d.sync += d.eq((row_max - beat_in.data[i])[:width])
            m.d.comb += unit.d.eq(d)
            exp_values.append(Mux(b_side.o.active[i], unit.e, 0))
        m.d.comb += [self.e.payload.last.eq(b_side.o.last), self.e.valid.eq(b_side.o.valid)]
        for i in range(lanes):
            m.d.comb += self.e.payload.e[i].eq(exp_values[i])
        beat_sum = pipelined_tree(m, exp_values, lambda a, b: a + b, unsigned(p.sum_width), "sum")
        m.submodules.b_sum_side = b_sum_side = DelayLine(unsigned(2), ceil_log2(lanes) + 1)
        m.d.comb += b_sum_side.i.eq(Cat(b_side.o.valid, b_side.o.last))
        b2_valid, b2_last = b_sum_side.o[0], b_sum_side.o[1]
        partial = Signal(p.sum_width)
        m.d.sync += self.row_sum_valid.eq(b2_valid & b2_last)
        with m.If(b2_valid):
            m.d.sync += partial.eq(Mux(b2_last, 0, partial + beat_sum))
            with m.If(b2_last):
                m.d.sync += self.row_sum.eq(partial + beat_sum)
        m.d.sync += [
            e_reserved.eq(e_reserved + issue - self.e_taken),
            rows_waiting.eq(rows_waiting + (issue & beat_in.last) - self.row_taken),
        ]
        return m


class NormalizeStage(wiring.Component):
    """Stage C: ``y = min(round_half_up(e * r / 2**(K - out_frac)), 2**out_frac - 1)``, one
    multiply per element, with the row's reciprocal ``r``.

    A beat is issued only with an output-buffer entry reserved (credits returned by
    ``y_taken``). The buffers' outputs are registered before the multipliers (block RAM
    clock-to-out plus a multiplier does not fit one cycle); a wide ``e`` is multiplied in two
    registered partial products.

    Members
    -------
    e : In(stream of exp-buffer beats)
    recip : In(stream of unsigned(recip_width))
        The row's reciprocal; taken with the row's final beat.
    y : Out(stream of output beats)
        Valid for one cycle per beat (the output buffer has room by credit).
    e_taken, row_taken : Out(1)
        A beat / a row's final beat is taken from the exp buffer this cycle.
    y_taken : In(1)
        A beat left the output buffer.
    """

    def __init__(self, p: SoftmaxParams):
        self._params = p
        layouts = _BeatLayouts(p)
        super().__init__({
            "e": In(stream.Signature(layouts.e)),
            "recip": In(stream.Signature(p.recip_width)),
            "y": Out(stream.Signature(layouts.y)),
            "e_taken": Out(1),
            "row_taken": Out(1),
            "y_taken": In(1),
        })

    def elaborate(self, platform):
        p = self._params
        m = Module()
        lanes = p.lanes
        y_reserved = Signal(range(OUT_BUFFER_BEATS + 1))
        e_out = self.e.payload
        issue = Signal()
        m.d.comb += [
            issue.eq(self.e.valid & self.recip.valid & (y_reserved < OUT_BUFFER_BEATS)),
            self.e.ready.eq(issue),
            self.recip.ready.eq(issue & e_out.last),
            self.e_taken.eq(issue),
            self.row_taken.eq(issue & e_out.last),
        ]
        c0 = Signal.like(e_out)
        c0_recip = Signal(p.recip_width)
        c0_valid = Signal()
        m.d.sync += [c0.eq(e_out), c0_recip.eq(self.recip.payload), c0_valid.eq(issue)]
        product_width = p.exp_frac + 1 + p.recip_width
        c1_valid, c1_last = Signal(), Signal()
        products = [Signal(product_width, name=f"product_{i}") for i in range(lanes)]
        if p.exp_frac + 1 > MULTIPLY_SPLIT:
            # Two partial products (about one hardware multiplier each), registered before
            # they are added: one multiplier per path.
            low_width = MULTIPLY_SPLIT
            c1h_valid, c1h_last = Signal(), Signal()
            partial_low = [Signal(low_width + p.recip_width, name=f"partial_low_{i}") for i in range(lanes)]
            partial_high = [Signal(product_width - low_width, name=f"partial_high_{i}") for i in range(lanes)]
            m.d.sync += [c1h_valid.eq(c0_valid), c1h_last.eq(c0.last)]
            for i in range(lanes):
                m.d.sync += [partial_low[i].eq(c0.e[i][:low_width] * c0_recip),
                             partial_high[i].eq(c0.e[i][low_width:] * c0_recip)]
            m.d.sync += [c1_valid.eq(c1h_valid), c1_last.eq(c1h_last)]
            m.d.sync += [products[i].eq(partial_low[i] + (partial_high[i] << low_width)) for i in range(lanes)]
        else:
            m.d.sync += [c1_valid.eq(c0_valid), c1_last.eq(c0.last)]
            m.d.sync += [products[i].eq(c0.e[i] * c0_recip) for i in range(lanes)]
        drop = p.recip_shift - p.out_frac
        top = (1 << p.out_frac) - 1
        y_beat = Signal.like(self.y.payload)
        y_valid = Signal()
        for i in range(lanes):
            rounded = (products[i] + (1 << (drop - 1))) >> drop
            m.d.sync += y_beat.data[i].eq(Mux(rounded > top, top, rounded))
        m.d.sync += [y_beat.last.eq(c1_last), y_valid.eq(c1_valid)]
        m.d.comb += [self.y.payload.eq(y_beat), self.y.valid.eq(y_valid)]
        m.d.sync += y_reserved.eq(y_reserved + issue - self.y_taken)
        return m
