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
latency) are block-RAM FIFOs with a flip-flop head (:class:`~accelgen.hdl.queues.BlockRamFIFO`),
so row ``r+1``'s max pass runs while row ``r`` is summed and row ``r-1`` is normalized: with
``y`` always ready and no input stalls the design sustains one beat (``lanes`` elements) per
cycle across back-to-back rows.

Latency of a row of ``B`` beats alone (first input beat to last output beat):
``3*B + L_recip + pipeline_latency`` (:meth:`SoftmaxParams.row_latency`). The exp+sum pass
starts one cycle after the row's maximum leaves the lane-max tree (the max queue), the
reciprocal's input register takes the row sum as it is formed, and the normalize pass starts
in the cycle the reciprocal is ready (the reciprocal queue passes it through when empty).
"""

import dataclasses

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..hdl.delay import DelayLine
from ..hdl.exp_tables import APPROX_MODES, ExpSpec, exp_code
from ..hdl.exp_unit import ExpUnit, exp_latency
from ..hdl.layouts import TileStreamSignature
from ..hdl.queues import BlockRamFIFO, BypassFIFO
from ..hdl.reciprocal import PipelinedReciprocal, reciprocal_quotient_bits
from ..hdl.trees import pipelined_tree, pipelined_tree_latency
from ..hdl.util import ceil_div, ceil_log2
from . import DesignComponent, DesignParams, param, register

__all__ = ["SoftmaxParams", "Softmax", "RowMaxStage", "ExpSumStage", "NormalizeStage"]

#: Normalize operands wider than this are multiplied in registered pieces of at most this many
#: bits (18: an unsigned 18-bit operand fits one 18 x 18 hardware multiplier, ECP5's MULT18X18D).
MULTIPLY_SPLIT = 18


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
    exp_pipeline : bool
        Range-reduction exp only (``width > 8``, ``approx="accurate"``): build the exp unit
        with its two extra register stages (:class:`~accelgen.hdl.exp_unit.ExpUnit`
        ``pipelined``), so neither the constant multiply and its sum nor the interpolation and
        the rounding shift share a cycle (ECP5, int16, 4 lanes: 80 MHz without). Two cycles
        of row latency; same function.
    tree_levels : int or None
        Levels of the lane-maximum tree (stage A) and of the beat-sum tree (stage B) between
        two registers (1..6). Each register level costs a cycle of row latency; more levels
        per register make longer paths. Default 2.
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
    exp_pipeline: bool = param(True, "range-reduction exp (width > 8): two more register stages (ExpUnit "
                               "pipelined)")
    tree_levels: int | None = param(None, "levels of the lane-max and sum trees between registers; "
                                    "default 2", min=1, max=6)

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
        if self.tree_levels is None:
            derived["tree_levels"] = 2
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
        return exp_latency(self.exp_spec, self.exp_pipeline)

    @property
    def max_tree_latency(self) -> int:
        """Cycles of stage A's lane maximum (its first levels work on the input beat)."""
        return pipelined_tree_latency(self.lanes, self.tree_levels, register_inputs=False)

    @property
    def sum_tree_latency(self) -> int:
        """Cycles of stage B's beat sum (a table's exp terms are registered first)."""
        return pipelined_tree_latency(self.lanes, self.tree_levels, register_inputs=self.exp_spec.kind == "table")

    @property
    def d_register(self) -> bool:
        """Stage B registers ``d = m - x`` before a computed exp; a table's address register is
        ``d``'s register."""
        return self.exp_spec.kind != "table"

    @property
    def multiply_latency(self) -> int:
        """Cycles of stage C's multiply: 1, or 2 when the exp term or the reciprocal is wider
        than :data:`MULTIPLY_SPLIT` bits (registered piece products, then their sum)."""
        return 1 + (max(self.exp_frac + 1, self.recip_width) > MULTIPLY_SPLIT)

    @property
    def recip_latency(self) -> int:
        """Cycles of the reciprocal unit."""
        return reciprocal_quotient_bits(self.recip_shift, self.exp_zero) + 2

    @property
    def pipeline_latency(self) -> int:
        """Cycles a row spends in the pipeline beyond its three passes and the reciprocal: the
        lane maximum, ``d``'s register, the exp unit, the beat sum, the multiplier's operand
        register and the multiply (the max queue's and the output buffer's cycles are paid
        by cycles in which passes overlap)."""
        return (self.max_tree_latency + self.d_register + self.exp_latency + self.sum_tree_latency
                + 1 + self.multiply_latency)

    def row_latency(self, beats: int) -> int:
        """Cycles of a row of ``beats`` beats alone in the pipeline, from its first input beat to
        its last output beat (both counted), with no stalls: ``3 * beats + recip_latency +
        pipeline_latency``, plus the cycles a very short row's first beat waits for the row
        buffer (written to readable: ``BlockRamFIFO.latency``) after its maximum is known."""
        wait = max(0, BlockRamFIFO.latency - beats - self.max_tree_latency)
        return 3 * beats + self.recip_latency + self.pipeline_latency + wait

    @property
    def sum_to_output_latency(self) -> int:
        """At least the cycles from stage B reading a row's last beat to stage C being able to
        read the row (``d``'s register, the exp unit, the sum tree, the reciprocal, two
        handoffs), which sizes the exp buffer and the row slots. The exp unit counts with its
        latency without ``exp_pipeline``: ``d``'s register, the two extra stages, the sum tree
        (at most ``max(1, ceil_log2(lanes))`` cycles for a computed exp) and the two handoffs
        fit in the margin of ``ceil_log2(lanes) + 6``."""
        return exp_latency(self.exp_spec) + self.recip_latency + ceil_log2(self.lanes) + 6

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
                "pipeline": p.pipeline_latency,
                "row": f"3*ceil(N/{p.lanes}) + {p.recip_latency + p.pipeline_latency} cycles (N > {p.lanes})",
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
        m.submodules.row_buffer = x_fifo = BlockRamFIFO(layouts.x.size, p.x_buffer_beats)
        # The max queue reads asynchronously (distributed RAM): its maximum is readable one
        # cycle after it is written, a register between the running maximum's comparison and
        # stage B's subtractors. The reciprocal is readable in the cycle it is written when
        # nothing waits before it (the queue of short rows holds the rest).
        m.submodules.max_queue = max_fifo = fifo.SyncFIFO(width=p.width, depth=p.max_queue_rows)
        m.submodules.exp_buffer = e_fifo = BlockRamFIFO(layouts.e.size, p.e_buffer_beats)
        m.submodules.recip_queue = r_fifo = BypassFIFO(p.recip_width, p.row_slots)
        m.submodules.out_buffer = y_fifo = fifo.SyncFIFO(width=layouts.y.size, depth=OUT_BUFFER_BEATS)

        row_max = m.submodules.row_max = RowMaxStage(p)
        wiring.connect(m, wiring.flipped(self.x), row_max.x)
        wiring.connect(m, row_max.row, x_fifo.w)
        m.d.comb += [max_fifo.w_data.eq(row_max.max.payload), max_fifo.w_en.eq(row_max.max.valid)]

        exp_sum = m.submodules.exp_sum = ExpSumStage(p)
        wiring.connect(m, x_fifo.r, exp_sum.row)
        wiring.connect(m, max_fifo.r_stream, exp_sum.max)
        m.d.comb += [e_fifo.w.payload.eq(exp_sum.e.payload), e_fifo.w.valid.eq(exp_sum.e.valid),
                     row_max.max_taken.eq(exp_sum.max.ready)]

        m.submodules.reciprocal = recip = PipelinedReciprocal(p.sum_width, p.recip_shift, p.exp_zero)
        m.d.comb += [recip.s.eq(exp_sum.row_sum), recip.s_valid.eq(exp_sum.row_sum_valid),
                     r_fifo.w.payload.eq(recip.recip), r_fifo.w.valid.eq(recip.recip_valid)]

        normalize = m.submodules.normalize = NormalizeStage(p)
        wiring.connect(m, e_fifo.r, normalize.e)
        wiring.connect(m, r_fifo.r, normalize.recip)
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

        # The tree's first levels work on the input beat (comparisons right after the port).
        lane_values = [Mux(x_in.active[i], x_in.data[i], most_negative) for i in range(lanes)]
        beat_max = pipelined_tree(m, lane_values, lambda a, b: Mux(a > b, a, b), signed(width), "max",
                                  levels_per_stage=p.tree_levels, register_inputs=False)
        m.submodules.a_side = a_side = DelayLine(unsigned(2), p.max_tree_latency)
        m.d.comb += a_side.i.eq(Cat(fire, last))
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
        The row's sum of exp terms, for one cycle per row (not registered: the reciprocal's
        input register takes it).
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
        # d = m - x is registered before a computed exp (its first stage is a multiply); a
        # table's address register (inside the block RAM) is d's register.
        registered = p.d_register
        b1 = Signal(side)
        m.d["sync" if registered else "comb"] += [b1.valid.eq(issue), b1.last.eq(beat_in.last),
                                                  b1.active.eq(beat_in.active)]
        m.submodules.b_side = b_side = DelayLine(side, p.exp_latency)
        m.d.comb += b_side.i.eq(b1)
        exp_values = []
        for i in range(lanes):
            unit = m.submodules[f"exp_{i}"] = ExpUnit(p.exp_spec, pipelined=p.exp_pipeline)
            d = Signal(width, name=f"d_{i}")
            m.d["sync" if registered else "comb"] += d.eq((row_max - beat_in.data[i])[:width])
            m.d.comb += unit.d.eq(d)
            exp_values.append(Mux(b_side.o.active[i], unit.e, 0))
        # A table's terms come from block RAM (late in the cycle): they are registered (the
        # mask a synchronous reset of the register) before the exp buffer and the sum tree.
        # Computed terms come from flip-flops and go on directly.
        tabled = p.exp_spec.kind == "table"
        e_side = Signal(side)
        if tabled:
            exp_values = [_register(m, value, f"e_{i}") for i, value in enumerate(exp_values)]
        m.d["sync" if tabled else "comb"] += e_side.eq(b_side.o)
        m.d.comb += [self.e.payload.last.eq(e_side.last), self.e.valid.eq(e_side.valid)]
        for i in range(lanes):
            m.d.comb += self.e.payload.e[i].eq(exp_values[i])
        if tabled and lanes == 1:
            beat_sum = exp_values[0]  # already registered
        else:
            beat_sum = pipelined_tree(m, exp_values, lambda a, b: a + b, unsigned(p.sum_width), "sum",
                                      levels_per_stage=p.tree_levels, register_inputs=False)
        m.submodules.b_sum_side = b_sum_side = DelayLine(unsigned(2), p.sum_tree_latency - tabled)
        m.d.comb += b_sum_side.i.eq(Cat(e_side.valid, e_side.last))
        b2_valid, b2_last = b_sum_side.o[0], b_sum_side.o[1]
        partial = Signal(p.sum_width)
        # The row's sum goes straight to the reciprocal, whose input register holds it.
        m.d.comb += [self.row_sum.eq(partial + beat_sum), self.row_sum_valid.eq(b2_valid & b2_last)]
        with m.If(b2_valid):
            m.d.sync += partial.eq(Mux(b2_last, 0, partial + beat_sum))
        m.d.sync += [
            e_reserved.eq(e_reserved + issue - self.e_taken),
            rows_waiting.eq(rows_waiting + (issue & beat_in.last) - self.row_taken),
        ]
        return m


def _register(m, value, name):
    """``value`` registered in module ``m``."""
    reg = Signal.like(value, name=name) if isinstance(value, Signal) else Signal(value.shape(), name=name)
    m.d.sync += reg.eq(value)
    return reg


class NormalizeStage(wiring.Component):
    """Stage C: ``y = min(round_half_up(e * r / 2**(K - out_frac)), 2**out_frac - 1)``, one
    multiply per element, with the row's reciprocal ``r``.

    A beat is issued only with an output-buffer entry reserved (credits returned by
    ``y_taken``). The operands are registered before the multipliers; wide operands are
    multiplied in registered pieces (:attr:`SoftmaxParams.multiply_latency`).

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
        # The operands are registered right before the multipliers: a hardware multiplier
        # (ECP5: 3.9 ns) leaves no time for the queues' multiplexers in the same path.
        c0 = Signal.like(e_out)
        c0_recip = Signal(p.recip_width)
        c0_valid = Signal()
        m.d.sync += [c0.eq(e_out), c0_recip.eq(self.recip.payload), c0_valid.eq(issue)]
        product_width = p.exp_frac + 1 + p.recip_width
        c1_valid, c1_last = Signal(), Signal()
        products = [Signal(product_width, name=f"product_{i}") for i in range(lanes)]
        if p.multiply_latency > 1:
            # Operands cut into pieces of at most MULTIPLY_SPLIT bits: each piece product is one
            # hardware multiplier and is registered before the pieces are added.
            c1h_valid, c1h_last = Signal(), Signal()
            m.d.sync += [c1h_valid.eq(c0_valid), c1h_last.eq(c0.last), c1_valid.eq(c1h_valid), c1_last.eq(c1h_last)]
            for i in range(lanes):
                total = 0
                for e_low in range(0, p.exp_frac + 1, MULTIPLY_SPLIT):
                    for r_low in range(0, p.recip_width, MULTIPLY_SPLIT):
                        e_piece = c0.e[i][e_low:e_low + MULTIPLY_SPLIT]
                        r_piece = c0_recip[r_low:r_low + MULTIPLY_SPLIT]
                        piece = Signal(len(e_piece) + len(r_piece), name=f"partial_{i}_{e_low}_{r_low}")
                        m.d.sync += piece.eq(e_piece * r_piece)
                        total = total + (piece << (e_low + r_low))
                m.d.sync += products[i].eq(total)
        else:
            m.d.sync += [c1_valid.eq(c0_valid), c1_last.eq(c0.last)]
            m.d.sync += [products[i].eq(c0.e[i] * c0_recip) for i in range(lanes)]
        drop = p.recip_shift - p.out_frac
        top = (1 << p.out_frac) - 1
        # Rounding and saturation feed the output buffer's write port (its register).
        for i in range(lanes):
            rounded = (products[i] + (1 << (drop - 1))) >> drop
            m.d.comb += self.y.payload.data[i].eq(Mux(rounded > top, top, rounded))
        m.d.comb += [self.y.payload.last.eq(c1_last), self.y.valid.eq(c1_valid)]
        m.d.sync += y_reserved.eq(y_reserved + issue - self.y_taken)
        return m
