"""The row units of the fused attention engine: the unnormalised output ``O`` and the output.

``O`` is one memory of ``d_max`` words, each the ``br`` accumulators of one feature ``f``. A PV
beat of feature ``f`` brings the column sums ``cs[p] = sum_m P*v``; every column then does

    O[f] <- round_half_up(O[f] * alpha, A) + (cs << S)        (read, multiply, add, write)

(``alpha = 0`` at a block's first tile, so stale words are never read into a result). At a
block's last tile the new value also goes through the normalisation

    o = sat(round_half_up((O[f] >> sh) * r, K - out_frac))

and leaves as one output beat. The read of word ``f`` and its write are :attr:`RowUnits.rmw`
cycles apart; the engine spaces the PV phases of consecutive tiles at least that far.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import split_product
from .fixedpoint import round_shift_expr

__all__ = ["row_tag_layout", "RowUnits"]


def row_tag_layout(d_max: int) -> data.StructLayout:
    """What travels with a PV beat to the row units: ``valid``, the feature ``f``, whether the
    tile is the ``last`` of its block (normalise and output), whether the beat is the job's
    final one (``job_last``), and the parities selecting ``alpha`` (tile) and ``r``, ``sh``
    (block)."""
    return data.StructLayout({"valid": 1, "f": range(max(d_max, 2)), "last": 1, "job_last": 1, "tpar": 1,
                              "bpar": 1})


class RowUnits(wiring.Component):
    """``cols`` row units sharing one ``O`` memory (see the module documentation).

    Parameters
    ----------
    cols, d_max : int
        Columns (``br``) and memory words.
    colsum_width, o_width : int
        Signed widths of a column sum and of ``O``.
    alpha_frac, sum_shift : int
        ``A`` and ``S = G + X``, the weight of a column sum in ``O``.
    recip_width, shift_width, recip_shift : int
        Width of ``r`` and ``sh``; ``K``.
    out_shape : shape
        Signed output code; ``out_frac`` its fraction bits.

    Members
    -------
    tag : In(row_tag_layout)
        The PV beat's tag, aligned with ``colsum``.
    colsum : In(ArrayLayout(signed(colsum_width), cols))
    alpha, recip, shift : In(by-parity arrays, as the softmax unit drives them)
    out_valid : Out(1)
        An output beat this cycle, :attr:`out_latency` cycles after its tag.
    out_data : Out(ArrayLayout(out_shape, cols))
    out_last : Out(1)
    """

    def __init__(self, *, cols, d_max, colsum_width, o_width, alpha_frac, sum_shift, recip_width, shift_width,
                 recip_shift, out_shape, out_frac):
        self.cols, self.d_max = cols, d_max
        self.o_shape = signed(o_width)
        self.alpha_frac, self.sum_shift = alpha_frac, sum_shift
        self.recip_shift, self.out_frac = recip_shift, out_frac
        self.out_shape = out_shape
        self.recip_width = recip_width
        super().__init__({
            "tag": In(row_tag_layout(d_max)),
            "colsum": In(data.ArrayLayout(signed(colsum_width), cols)),
            "alpha": In(data.ArrayLayout(data.ArrayLayout(unsigned(alpha_frac + 1), cols), 2)),
            "recip": In(data.ArrayLayout(data.ArrayLayout(unsigned(recip_width), cols), 2)),
            "shift": In(data.ArrayLayout(data.ArrayLayout(unsigned(shift_width), cols), 2)),
            "out_valid": Out(1),
            "out_data": Out(data.ArrayLayout(out_shape, cols)),
            "out_last": Out(1),
        })

    #: Cycles from a word's read to its write; a later read of the word must come after.
    rmw = 5
    #: Cycles from a tag to its output beat.
    out_latency = 8

    def elaborate(self, platform):
        m = Module()
        cols = self.cols
        word = data.ArrayLayout(self.o_shape, cols)
        m.submodules.o_mem = mem = Memory(shape=word, depth=max(self.d_max, 2), init=[])
        read = mem.read_port()
        write = mem.write_port()
        # Stage 0: read O[f], select alpha. Stage 1: partial products of O * alpha. Stage 2: their
        # sum. Stage 3: round, add the column sum. Stage 4: write O[f]; O >> sh. Stage 5: partial
        # products of (O >> sh) * r. Stage 6: their sum. Stage 7: round and saturate.
        tags = [self.tag]
        for stage in range(1, 8):
            tag = Signal(row_tag_layout(self.d_max), name=f"tag{stage}")
            m.d.sync += tag.eq(tags[-1])
            tags.append(tag)
        m.d.comb += read.addr.eq(self.tag.f)
        sums = [self.colsum]
        for stage in range(1, 4):
            held = Signal.like(self.colsum, name=f"colsum{stage}")
            m.d.sync += held.eq(sums[-1])
            sums.append(held)
        new = Signal(word)
        lo, hi = -(1 << (self.out_shape.width - 1)), (1 << (self.out_shape.width - 1)) - 1
        for c in range(cols):
            alpha = Signal(unsigned(self.alpha_frac + 1), name=f"alpha_{c}")
            m.d.sync += alpha.eq(Mux(self.tag.tpar, self.alpha[1][c], self.alpha[0][c]))
            scaled = Signal(signed(self.o_shape.width + self.alpha_frac + 2), name=f"o_scaled_{c}")
            m.d.sync += scaled.eq(split_product(m, read.data[c], alpha, f"o_alpha_{c}"))
            m.d.sync += new[c].eq(round_shift_expr(scaled, self.alpha_frac, "half_up") + (sums[3][c] << self.sum_shift))
            shift = Mux(tags[4].bpar, self.shift[1][c], self.shift[0][c])
            shifted = Signal(self.o_shape, name=f"o_shifted_{c}")
            recip = Signal(unsigned(self.recip_width), name=f"recip_{c}")
            m.d.sync += [shifted.eq(new[c] >> shift), recip.eq(Mux(tags[4].bpar, self.recip[1][c], self.recip[0][c]))]
            normed = Signal(signed(self.o_shape.width + self.recip_width + 1), name=f"o_normed_{c}")
            m.d.sync += normed.eq(split_product(m, shifted, recip, f"o_recip_{c}"))
            rounded = round_shift_expr(normed, self.recip_shift - self.out_frac, "half_up")
            m.d.sync += self.out_data[c].eq(Mux(rounded < lo, lo, Mux(rounded > hi, hi, rounded)))
        m.d.comb += [write.addr.eq(tags[4].f), write.data.eq(new), write.en.eq(tags[4].valid)]
        m.d.sync += [self.out_valid.eq(tags[7].valid & tags[7].last), self.out_last.eq(tags[7].job_last)]
        return m
