"""Vector buffer of the PIM controller: the job's input vector, written from the ``vec`` stream."""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..util import index_width
from .interfaces import read_signature, word_bits
from .isa import vec_layout

__all__ = ["VectorBuffer"]


class VectorBuffer(wiring.Component):
    """Stores the active job's vector columns; the vector loader reads them back.

    From the cycle after ``start`` it takes ``words_total`` beats of ``vec`` (then it stops
    taking until the job's ``job_done``). ``avail`` counts the memory words complete so far.

    Split-K (``reduce``): a memory word holds one column per channel rank; beat ``w`` is
    column ``w // n_ch`` of rank ``w % n_ch`` (a write to that lane only), so the loader's
    one read serves every channel. Lanes past the vector's end keep stale data (the weights
    there are zero). ``avail`` counts complete local columns.

    Members
    -------
    vec : In(stream.Signature(vec_layout))
        The vector, one column per beat in K order.
    job_active, start, job_done : In(1)
        A job is active; its first cycle; its last cycle (the counts restart).
    words_total : In(word_bits)
        Columns of the job's vector.
    n_ch : In(range(channels + 1))
        Enabled channels (split-K only).
    read : In(read_signature)
        Read port: ``data`` is the word at ``addr`` one cycle later (transparent for the write
        of the same cycle).
    avail : Out(word_bits)
        Memory words written so far.
    """

    def __init__(self, config, layout, *, reduce: bool = False):
        self._config = config
        self._layout = layout
        self._reduce = reduce
        col_bits = config.col_bytes * 8
        self._width = col_bits * (layout.channels if reduce else 1)
        super().__init__({
            "vec": In(stream.Signature(vec_layout(layout))),
            "job_active": In(1),
            "start": In(1),
            "job_done": In(1),
            "words_total": In(word_bits(layout)),
            "n_ch": In(range(layout.channels + 1)),
            "read": In(read_signature(layout, self._width)),
            "avail": Out(word_bits(layout)),
        })

    @property
    def width(self) -> int:
        """Bits of a memory word."""
        return self._width

    def elaborate(self, platform):
        m = Module()
        words_received = Signal(word_bits(self._layout))
        accepting = self.job_active & ~self.start & (words_received < self.words_total)
        m.d.comb += self.vec.ready.eq(accepting)
        with m.If(self.vec.valid & accepting):
            m.d.sync += words_received.eq(words_received + 1)
        # At least two words: a one-word memory (k_max <= lanes) has a zero-width address, which
        # the Verilog export declares as [-1:0] (Verilator ASCRANGE). The second word is unused.
        m.submodules.mem = mem = Memory(shape=self._width, depth=max(2, self._layout.vec_words), init=[])
        if self._reduce:
            wr = mem.write_port(granularity=self._config.col_bytes * 8)
            avail = self._split_k_writes(m, wr, words_received, self.vec.valid & accepting)
        else:
            wr = mem.write_port()
            m.d.comb += [
                wr.addr.eq(words_received),
                wr.data.eq(self.vec.payload.data),
                wr.en.eq(self.vec.valid & accepting),
            ]
            avail = words_received
        rd = mem.read_port(domain="sync", transparent_for=(wr,))
        m.d.comb += [rd.addr.eq(self.read.addr), self.read.data.eq(rd.data), self.avail.eq(avail)]
        with m.If(self.job_done):
            m.d.sync += words_received.eq(0)
        return m

    def _split_k_writes(self, m, wr, words_received, writing):
        """Write beat ``w`` into lane ``w % n_ch`` of word ``w // n_ch``; returns the count of
        complete words."""
        C = self._layout.channels
        wr_rank = Signal(index_width(C))
        local_received = Signal(word_bits(self._layout))   # complete local columns
        m.d.comb += [
            wr.addr.eq(local_received),
            wr.data.eq(self.vec.payload.data.replicate(C)),
            wr.en.eq(Mux(writing, Const(1, C) << wr_rank, 0)),
        ]
        with m.If(writing):
            with m.If((wr_rank == self.n_ch - 1) | (words_received == self.words_total - 1)):
                m.d.sync += [wr_rank.eq(0), local_received.eq(local_received + 1)]
            with m.Else():
                m.d.sync += wr_rank.eq(wr_rank + 1)
        with m.If(self.job_done):
            m.d.sync += [local_received.eq(0), wr_rank.eq(0)]
        return local_received
