"""The GEMM engine's feeders: buffer words to the array's operand streams, tile by tile.

Each feeder walks the job's tile loop nest, reads one word per cycle from the buffers as soon
as it has arrived, and drives the array through a one-beat output register (a valid/ready
stream stage: the register advances when it is empty or taken).

- :class:`TileFeeder` drives an output-stationary array (``os`` and the broadcast engines):
  tiles ``(nt, mt)`` of ``ceil(K/depth)`` beats, A and B beats together.
- :class:`WeightFeeder` and :class:`ActivationFeeder` drive the weight-stationary array:
  weight tiles ``(nt, kt)`` of ``rows`` weight rows (rows past ``K`` are zeros), and all ``M``
  activation rows of each tile's K block.
"""

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .buffers import ABuffer, BBuffer, job_signature, next_column_block
from .params import GemmParams

__all__ = ["TileFeeder", "WeightFeeder", "ActivationFeeder"]


def _a_read(a_buffer: ABuffer):
    return In(a_buffer.signature.members["read"].signature)


def _b_read(b_buffer: BBuffer):
    return In(b_buffer.signature.members["read"].signature)


class TileFeeder(wiring.Component):
    """Feeds an output-stationary array: output tile ``(nt, mt)`` streams ``ceil(K/depth)``
    beats of the A row block and the B column block; within a column block the A words are
    read in the order they were written. With ``a_reuse="row_block"`` the A row block is the
    A bank in use, released at the tile's end like the B bank at its column block's end.

    Members
    -------
    job : In(job_signature)
    a_words : In
        A words that have arrived (``"row_block"``: in the A bank in use).
    a_read : In(ReadPort.Signature) or In(bank_read_signature)
        Reads the A buffer (``"row_block"``: the A bank in use).
    a_release : Out(1)
        ``"row_block"`` only: the A bank in use is done with (the tile's last beat).
    b_read : In(bank_read_signature)
        Reads the B bank in use.
    b_ready_words : In
        Words of the B bank in use that have arrived.
    b_release : Out(1)
        The B bank in use is done with (the last tile of its column block).
    a, b : Out(the array's operand stream signatures)
        The array's operand beats (transferring together).
    """

    def __init__(self, params: GemmParams, array, a_buffer, b_buffer: BBuffer):
        self._params = params
        row_block = params.a_reuse == "row_block"
        a_words = a_buffer.ready_words if row_block else a_buffer.words
        super().__init__({
            "job": In(job_signature(params)),
            "a_words": In(a_words.shape()),
            "a_read": _a_read(a_buffer),
            **({"a_release": Out(1)} if row_block else {}),
            "b_read": _b_read(b_buffer),
            "b_ready_words": In(b_buffer.ready_words.shape()),
            "b_release": Out(1),
            "a": Out(array.signature.members["a"].signature.flip()),
            "b": Out(array.signature.members["b"].signature.flip()),
        })

    def elaborate(self, platform):
        p = self._params
        cols, depth = p.cols, p.depth
        rows = 1 if p.engine == "tree" else p.rows
        job = self.job
        m = Module()
        k = Signal(range(p.k_max + depth + 1))  # first K step of the beat
        beat = Signal(range(p.k_beats_max + 1))  # beat within the tile = B word in the bank
        mbase = Signal(range(p.m_max + rows + 1))
        nbase = Signal(range(p.n_max + cols + 1))
        done = Signal()
        row_block = p.a_reuse == "row_block"
        # Whole A: the word's address in the buffer; a row block: the bank's word is the beat.
        a_addr = beat if row_block else Signal(range(p.a_buffer_words + 1))
        tile_end = k + depth >= job.k
        beat_ready = job.active & ~done & (self.a_words > a_addr) & (self.b_ready_words > beat)
        out_valid = Signal()
        out_last = Signal()
        advance = ~out_valid | self.a.ready
        m.d.comb += [
            (self.a_read.word if row_block else self.a_read.addr).eq(a_addr), self.a_read.en.eq(advance),
            self.b_read.word.eq(beat), self.b_read.en.eq(advance),
            self.a.valid.eq(out_valid), self.b.valid.eq(out_valid),
            self.a.payload.data.eq(self.a_read.data), self.a.payload.last.eq(out_last),
            self.b.payload.data.eq(self.b_read.data),
        ]
        step = advance & beat_ready
        with m.If(advance):
            m.d.sync += [out_valid.eq(beat_ready), out_last.eq(tile_end)]
        with m.If(step):
            m.d.sync += [k.eq(k + depth), beat.eq(beat + 1)]
            if not row_block:
                m.d.sync += a_addr.eq(a_addr + 1)
            with m.If(tile_end):
                m.d.sync += [k.eq(0), beat.eq(0)]
                if row_block:
                    m.d.comb += self.a_release.eq(1)
                with m.If(mbase + rows >= job.m):
                    m.d.sync += mbase.eq(0)
                    if not row_block:
                        m.d.sync += a_addr.eq(0)
                    m.d.comb += self.b_release.eq(1)
                    next_column_block(m, job, nbase, cols, done)
                with m.Else():
                    m.d.sync += mbase.eq(mbase + rows)
        with m.If(job.start):
            m.d.sync += [k.eq(0), beat.eq(0), mbase.eq(0), nbase.eq(0), done.eq(0)]
            if not row_block:
                m.d.sync += a_addr.eq(0)
        return m


class WeightFeeder(wiring.Component):
    """Feeds the weight-stationary array's weights: tiles ``(nt, kt)`` of ``rows`` weight rows
    from the B bank in use; rows past ``K`` are zeros.

    Members
    -------
    job : In(job_signature)
    b_read : In(bank_read_signature)
    b_ready_words : In
    b_release : Out(1)
        The last K block of the column block is loaded: the bank is done with.
    w : Out(the array's weight stream signature)
    """

    def __init__(self, params: GemmParams, array, b_buffer: BBuffer):
        self._params = params
        super().__init__({
            "job": In(job_signature(params)),
            "b_read": _b_read(b_buffer),
            "b_ready_words": In(b_buffer.ready_words.shape()),
            "b_release": Out(1),
            "w": Out(array.signature.members["w"].signature.flip()),
        })

    @staticmethod
    def word_shape(params: GemmParams):
        """Shape of the word index it reads the bank with (a K step, padding included)."""
        return range(params.k_max + params.rows + 1)

    def elaborate(self, platform):
        p = self._params
        rows, cols = p.rows, p.cols
        job = self.job
        m = Module()
        r = Signal(range(rows)) if rows > 1 else Const(0)
        kbase = Signal(range(p.k_max + rows + 1))
        nbase = Signal(range(p.n_max + cols + 1))
        done = Signal()
        k = Signal(self.word_shape(p))
        m.d.comb += k.eq(kbase + r)
        pad = k >= job.k
        ready = job.active & ~done & (pad | (self.b_ready_words > k))
        valid = Signal()
        zero = Signal()
        advance = ~valid | self.w.ready
        m.d.comb += [
            self.b_read.word.eq(k), self.b_read.en.eq(advance),
            self.w.valid.eq(valid),
            self.w.payload.data.eq(Mux(zero, 0, self.b_read.data)),
        ]
        with m.If(advance):
            m.d.sync += [valid.eq(ready), zero.eq(pad)]
        with m.If(advance & ready):
            if rows > 1:
                m.d.sync += r.eq(r + 1)
            with m.If(r == rows - 1):
                if rows > 1:
                    m.d.sync += r.eq(0)
                with m.If(kbase + rows >= job.k):
                    m.d.sync += kbase.eq(0)
                    m.d.comb += self.b_release.eq(1)
                    next_column_block(m, job, nbase, cols, done)
                with m.Else():
                    m.d.sync += kbase.eq(kbase + rows)
        with m.If(job.start):
            if rows > 1:
                m.d.sync += r.eq(0)
            m.d.sync += [kbase.eq(0), nbase.eq(0), done.eq(0)]
        return m


class ActivationFeeder(wiring.Component):
    """Feeds the weight-stationary array's activations: for each weight tile ``(nt, kt)``, all
    ``M`` rows of the K block ``kt`` of A; ``last`` on row ``M - 1``.

    Members
    -------
    job : In(job_signature)
    a_words : In
    a_read : In(ReadPort.Signature)
    a : Out(the array's activation stream signature)
    """

    def __init__(self, params: GemmParams, array, a_buffer: ABuffer):
        self._params = params
        super().__init__({
            "job": In(job_signature(params)),
            "a_words": In(a_buffer.words.shape()),
            "a_read": _a_read(a_buffer),
            "a": Out(array.signature.members["a"].signature.flip()),
        })

    def elaborate(self, platform):
        p = self._params
        rows, cols = p.rows, p.cols
        job = self.job
        m = Module()
        row = Signal(range(p.m_max + 1))
        kbase = Signal(range(p.k_max + rows + 1))
        base = Signal(range(p.a_buffer_words + p.m_max + 1))
        nbase = Signal(range(p.n_max + cols + 1))
        done = Signal()
        addr = Signal(range(p.a_buffer_words + p.m_max + 1))
        m.d.comb += addr.eq(base + row)
        ready = job.active & ~done & (self.a_words > addr)
        valid = Signal()
        last = Signal()
        advance = ~valid | self.a.ready
        m.d.comb += [
            self.a_read.addr.eq(addr), self.a_read.en.eq(advance),
            self.a.valid.eq(valid), self.a.payload.data.eq(self.a_read.data), self.a.payload.last.eq(last),
        ]
        with m.If(advance):
            m.d.sync += [valid.eq(ready), last.eq(row == job.m - 1)]
        with m.If(advance & ready):
            m.d.sync += row.eq(row + 1)
            with m.If(row == job.m - 1):
                m.d.sync += row.eq(0)
                with m.If(kbase + rows >= job.k):
                    m.d.sync += [kbase.eq(0), base.eq(0)]
                    next_column_block(m, job, nbase, cols, done)
                with m.Else():
                    m.d.sync += [kbase.eq(kbase + rows), base.eq(base + job.m)]
        with m.If(job.start):
            m.d.sync += [row.eq(0), kbase.eq(0), base.eq(0), nbase.eq(0), done.eq(0)]
        return m
