"""Address generator of the PIM controller: the loop nest, one row-pass descriptor at a time."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..util import ceil_div, index_width
from .interfaces import index_bits, load_layout, pass_layout, word_bits

__all__ = ["AddressGenerator"]


class AddressGenerator(wiring.Component):
    """Runs ``for g: for s: for a: pass`` with counters and adders only.

    From ``start`` it emits, one per cycle while both FIFOs have room, the descriptor of every
    row pass of the job (:func:`~accelgen.hdl.pim.interfaces.pass_layout`) into a 3-entry pass
    FIFO, and for every pass that loads a vector segment a load request into a
    ``gb_slots + 2``-entry FIFO. Pass ``(g, s, a)`` covers outputs from group
    ``g * n_acc + a`` (``grp_step`` outputs per group) and reads DRAM row
    ``row + (g * n_acc + a) * n_seg + s``; the segment is loaded by the first accumulator of
    ``(g, s)`` (once per job when ``n_seg == 1``).

    Members
    -------
    start : In(1)
        Strobe: the job's parameters are valid; the loop nest starts.
    row, n_seg, last_cols, grp_step, m : In
        The job's first row, segments per row, columns of the last segment, outputs per group,
        and outputs.
    passes : Out(stream.Signature(pass_layout))
        Row-pass descriptors in schedule order (from the pass FIFO).
    loads : Out(stream.Signature(load_layout))
        Global-buffer load requests in schedule order (from the load FIFO).
    busy : Out(1)
        The loop nest has passes left to emit.
    """

    def __init__(self, config, layout):
        self._config = config
        self._layout = layout
        self._pass_layout = pass_layout(config, layout)
        self._load_layout = load_layout(config, layout)
        cols = config.cols_per_row
        super().__init__({
            "start": In(1),
            "row": In(index_width(config.rows)),
            "n_seg": In(range(ceil_div(layout.k_max, config.elems_per_row) + 1)),
            "last_cols": In(range(cols + 1)),
            "grp_step": In(range(layout.channels * config.banks + 1)),
            "m": In(range(layout.m_max + 1)),
            "passes": Out(stream.Signature(self._pass_layout)),
            "loads": Out(stream.Signature(self._load_layout)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self._config
        cols, n_acc = c.cols_per_row, c.n_acc
        row_bits, wb, idx_bits = index_width(c.rows), word_bits(self._layout), index_bits(self._layout)
        gen_first = Signal()
        g_blk_base = Signal(idx_bits)
        g_s = Signal(self.n_seg.shape())
        g_s_row = Signal(row_bits)
        g_seg_word = Signal(wb)
        g_a = Signal(index_width(n_acc))
        g_grp_base = Signal(idx_bits)
        g_row = Signal(row_bits)

        m.submodules.pass_fifo = pass_fifo = fifo.SyncFIFOBuffered(width=self._pass_layout.size, depth=3)
        m.submodules.load_fifo = load_fifo = fifo.SyncFIFOBuffered(width=self._load_layout.size,
                                                                   depth=c.gb_slots + 2)
        wiring.connect(m, wiring.flipped(self.passes), pass_fifo.r_stream)
        wiring.connect(m, wiring.flipped(self.loads), load_fifo.r_stream)

        gen_step = Signal()
        m.d.comb += gen_step.eq(self.busy & pass_fifo.w_rdy & load_fifo.w_rdy)
        desc = data.View(self._pass_layout, Signal(self._pass_layout.size))
        seg_last = g_s == self.n_seg - 1
        a_last = (g_a == n_acc - 1) | (g_grp_base + self.grp_step >= self.m)
        single_seg = self.n_seg == 1
        block_last = seg_last & a_last
        job_last = block_last & (g_grp_base + self.grp_step >= self.m)
        ncols = Mux(seg_last, self.last_cols, cols)
        m.d.comb += [
            desc.row.eq(g_row), desc.ncols.eq(ncols), desc.acc.eq(g_a),
            desc.seg_word.eq(g_seg_word), desc.word_end.eq(g_seg_word + ncols),
            desc.load_first.eq(~g_a.any() & (~single_seg | gen_first)),
            desc.load_last.eq(a_last & (~single_seg | job_last)),
            desc.block_last.eq(block_last), desc.a_count.eq(g_a + 1),
            desc.job_last.eq(job_last), desc.job_first.eq(gen_first),
            pass_fifo.w_data.eq(desc.as_value()),
        ]
        with m.If(self.start):
            m.d.sync += [
                self.busy.eq(1), gen_first.eq(1), g_blk_base.eq(0), g_s.eq(0),
                g_s_row.eq(self.row), g_seg_word.eq(0), g_a.eq(0), g_grp_base.eq(0), g_row.eq(self.row),
            ]
        with m.Elif(gen_step):
            m.d.sync += gen_first.eq(0)
            with m.If(~a_last):
                m.d.sync += [g_a.eq(g_a + 1), g_grp_base.eq(g_grp_base + self.grp_step),
                             g_row.eq(g_row + self.n_seg)]
            with m.Elif(~seg_last):
                m.d.sync += [
                    g_s.eq(g_s + 1), g_a.eq(0), g_grp_base.eq(g_blk_base), g_s_row.eq(g_s_row + 1),
                    g_row.eq(g_s_row + 1), g_seg_word.eq(g_seg_word + cols),
                ]
            with m.Elif(~job_last):
                m.d.sync += [
                    g_blk_base.eq(g_grp_base + self.grp_step), g_s.eq(0),
                    g_s_row.eq(g_row + 1), g_seg_word.eq(0), g_a.eq(0),
                    g_grp_base.eq(g_grp_base + self.grp_step), g_row.eq(g_row + 1),
                ]
            with m.Else():
                m.d.sync += self.busy.eq(0)

        m.d.comb += [
            pass_fifo.w_en.eq(gen_step),
            load_fifo.w_data.eq(Cat(g_seg_word, ncols)),
            load_fifo.w_en.eq(gen_step & desc.load_first),
        ]
        return m
