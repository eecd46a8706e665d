"""The GEMM engine's job control and operand buffers.

- :class:`JobControl` takes a descriptor and holds the job's ``M``, ``N``, ``K`` while it runs;
  every other unit reads them from its ``job`` interface (:func:`job_signature`).
- :class:`ABuffer` writes the A stream into a memory in arrival order and counts the words
  that have arrived (a feeder reads a word only once it is there).
- :class:`RowBlockABuffer` (``a_reuse="row_block"``) holds two banks of one row block of A
  instead: A arrives once per column block, row block by row block, and each bank is
  released after its one tile.
- :class:`BBuffer` holds two banks of one ``K x cols`` block of B: the stream fills one bank
  while a feeder reads the other; the feeder releases a bank when it has used it up.
"""

from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort
from amaranth.lib.wiring import In, Out

from .params import GemmParams

__all__ = ["job_signature", "descriptor_layout", "bank_read_signature", "next_column_block", "double_banks",
           "JobControl", "ABuffer", "RowBlockABuffer", "BBuffer"]


def descriptor_layout(params: GemmParams) -> data.StructLayout:
    """Payload of the ``desc`` stream: ``m``, ``n``, ``k``, each as wide as its maximum."""
    return data.StructLayout({
        "m": unsigned(params.m_max.bit_length()),
        "n": unsigned(params.n_max.bit_length()),
        "k": unsigned(params.k_max.bit_length()),
    })


def job_signature(params: GemmParams) -> wiring.Signature:
    """What :class:`JobControl` tells the other units: the running job's ``m``, ``n``, ``k``,
    ``start`` (the descriptor is taken this cycle) and ``active`` (a job is running)."""
    layout = descriptor_layout(params)
    return wiring.Signature({"m": Out(layout["m"].shape), "n": Out(layout["n"].shape), "k": Out(layout["k"].shape),
                             "start": Out(1), "active": Out(1)})


def bank_read_signature(word_shape, data_width: int) -> wiring.Signature:
    """A read port of the bank in use (:class:`BBuffer`): ``word`` within the bank, ``en``
    (the read register loads), ``data`` one cycle later. Members from the buffer's side."""
    return wiring.Signature({"word": In(word_shape), "en": In(1), "data": Out(data_width)})


def next_column_block(m: Module, job, nbase, cols: int, done) -> None:
    """After the last step of column block ``nbase``: move to the next block of ``cols``
    columns, or set ``done`` when it was the job's last (every unit walks the N blocks alike)."""
    with m.If(nbase + cols >= job.n):
        m.d.sync += done.eq(1)
    with m.Else():
        m.d.sync += nbase.eq(nbase + cols)


def double_banks(m: Module, bank_words: int, write, block_end, release, start):
    """Bookkeeping of two banks of ``bank_words`` words: the writer fills one bank while the
    reader uses the other (the bookkeeping :class:`BBuffer` does inline).

    ``write``: a word is written this cycle; ``block_end``: it is the block's last word (the
    bank is then full and the writer moves to the other bank); ``release``: the reader is done
    with the bank in use (only ever a full one). Returns ``(write_bank, write_full,
    read_bank, ready_words)``: the bank being written, whether it still holds a block the
    reader has not released (the writer must wait), the bank in use, and its words written.
    """
    filled = [Signal(range(bank_words + 1), name=f"bank{bank}_words") for bank in range(2)]
    full = Signal(2)  # the bank holds a complete block the reader has not released
    write_bank = Signal()
    read_bank = Signal()
    with m.If(write):
        for bank in range(2):
            with m.If(write_bank == bank):
                m.d.sync += filled[bank].eq(filled[bank] + 1)
        with m.If(block_end):
            m.d.sync += write_bank.eq(~write_bank)
            for bank in range(2):
                with m.If(write_bank == bank):
                    m.d.sync += full[bank].eq(1)
    # A bank is released only when full, and the writer only writes banks that are not.
    with m.If(release):
        m.d.sync += read_bank.eq(~read_bank)
    for bank in range(2):
        with m.If(release & (read_bank == bank)):
            m.d.sync += [filled[bank].eq(0), full[bank].eq(0)]
    with m.If(start):
        m.d.sync += [write_bank.eq(0), read_bank.eq(0)]
    return write_bank, Mux(write_bank, full[1], full[0]), read_bank, Mux(read_bank, filled[1], filled[0])


class JobControl(wiring.Component):
    """Takes one descriptor per job and holds it until the job's last result has left.

    Members
    -------
    desc : In(stream.Signature(descriptor_layout))
        Ready while no job runs.
    job : Out(job_signature)
        The running job.
    done : In(1)
        The job's final result transfers this cycle.
    """

    def __init__(self, params: GemmParams):
        self._params = params
        super().__init__({"desc": In(stream.Signature(descriptor_layout(params))), "job": Out(job_signature(params)),
                          "done": In(1)})

    def elaborate(self, platform):
        m = Module()
        active = Signal()
        payload = self.desc.payload
        job_m = Signal(payload.m.shape())
        job_n = Signal(payload.n.shape())
        job_k = Signal(payload.k.shape())
        m.d.comb += self.desc.ready.eq(~active)
        start = self.desc.valid & self.desc.ready
        with m.If(start):
            m.d.sync += [active.eq(1), job_m.eq(payload.m), job_n.eq(payload.n), job_k.eq(payload.k)]
        with m.If(self.done):
            m.d.sync += active.eq(0)
        m.d.comb += [self.job.m.eq(job_m), self.job.n.eq(job_n), self.job.k.eq(job_k), self.job.start.eq(start),
                     self.job.active.eq(active)]
        return m


class ABuffer(wiring.Component):
    """All of A, written in arrival order.

    The order is the engine's (see :mod:`accelgen.generators.gemm`): ``os``-like engines
    receive row blocks of K groups (``depth`` K steps per word), ``ws`` K blocks of ``M`` row
    segments; the buffer follows that nest to know when A is complete.

    Members
    -------
    a : In(stream of A words)
    job : In(job_signature)
    words : Out(range(a_buffer_words + 1))
        Words of the job's A written so far.
    read : Out(ReadPort.Signature)
        The memory's read port (synchronous).
    """

    def __init__(self, params: GemmParams, a_signature):
        self._params = p = params
        self._word_width = p.rows * p.depth * p.a_width
        # (Memories get at least two words: a one-word memory would have a zero-width address.)
        self._mem_depth = max(2, p.a_buffer_words)
        super().__init__({
            "a": In(a_signature),
            "job": In(job_signature(params)),
            "words": Out(range(p.a_buffer_words + 1)),
            "read": Out(ReadPort.Signature(addr_width=(self._mem_depth - 1).bit_length(),
                                           shape=unsigned(self._word_width))),
        })

    def elaborate(self, platform):
        p = self._params
        m = Module()
        mem = m.submodules.mem = Memory(shape=unsigned(self._word_width), depth=self._mem_depth, init=[])
        wr = mem.write_port()
        wiring.connect(m, wiring.flipped(self.read), mem.read_port())
        job = self.job
        a_rows = 1 if p.engine == "tree" else p.rows
        count = self.words
        done = Signal()
        outer_extent, inner_extent, step = (job.k, job.m, 1) if p.engine == "ws" else (job.m, job.k, p.depth)
        outer = Signal(range(max(p.m_max, p.k_max) + p.rows + 1))
        inner = Signal(range(max(p.m_max, p.k_max) + p.depth + 1))
        fire = self.a.valid & self.a.ready
        m.d.comb += [
            self.a.ready.eq(job.active & ~done),
            wr.addr.eq(count),
            wr.data.eq(self.a.payload.data.as_value()),
            wr.en.eq(fire),
        ]
        with m.If(fire):
            m.d.sync += [count.eq(count + 1), inner.eq(inner + step)]
            with m.If(inner + step >= inner_extent):
                m.d.sync += inner.eq(0)
                with m.If(outer + a_rows >= outer_extent):
                    m.d.sync += done.eq(1)
                with m.Else():
                    m.d.sync += outer.eq(outer + a_rows)
        with m.If(job.start):
            m.d.sync += [count.eq(0), done.eq(0), outer.eq(0), inner.eq(0)]
        return m


class RowBlockABuffer(wiring.Component):
    """Two banks of one row block of A (``a_reuse="row_block"``): ``ceil(K/depth)`` words of
    ``rows x depth`` operands each.

    A arrives once per column block: for each column block, for each row block, its K groups
    (see :mod:`accelgen.generators.gemm`). Each bank holds the row block of one output tile;
    the feeder releases it at the tile's end, and the stream meanwhile fills the other bank,
    so the buffer holds ``2 * ceil(k_max/depth)`` words whatever ``m_max``.

    Members
    -------
    a : In(stream of A words)
    job : In(job_signature)
    read : Out(bank_read_signature)
        Reads the bank in use.
    ready_words : Out(range(bank words + 1))
        Words of the bank in use that have arrived.
    release : In(1)
        The feeder is done with the bank in use (its tile's last beat).
    """

    def __init__(self, params: GemmParams, a_signature, word_shape):
        self._params = p = params
        self._bank_words = p.a_buffer_words // 2
        self._word_width = p.rows * p.depth * p.a_width
        super().__init__({
            "a": In(a_signature),
            "job": In(job_signature(params)),
            "read": Out(bank_read_signature(word_shape, self._word_width)),
            "ready_words": Out(range(self._bank_words + 1)),
            "release": In(1),
        })

    def elaborate(self, platform):
        p = self._params
        bank_words = self._bank_words
        rows = 1 if p.engine == "tree" else p.rows
        job = self.job
        m = Module()
        mem = m.submodules.mem = Memory(shape=unsigned(self._word_width), depth=2 * bank_words, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        word = Signal(range(bank_words + 1))
        k = Signal(range(p.k_max + p.depth + 1))
        mbase = Signal(range(p.m_max + rows + 1))
        nbase = Signal(range(p.n_max + p.cols + 1))
        done = Signal()
        fire = self.a.valid & self.a.ready
        block_end = k + p.depth >= job.k
        write_bank, write_full, read_bank, ready_words = double_banks(m, bank_words, fire, block_end, self.release,
                                                                      job.start)
        m.d.comb += [
            self.a.ready.eq(job.active & ~done & ~write_full),
            wr.addr.eq(Mux(write_bank, bank_words, 0) + word),
            wr.data.eq(self.a.payload.data.as_value()),
            wr.en.eq(fire),
            rd.addr.eq(Mux(read_bank, bank_words, 0) + self.read.word),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data),
            self.ready_words.eq(ready_words),
        ]
        with m.If(fire):
            m.d.sync += [k.eq(k + p.depth), word.eq(word + 1)]
            with m.If(block_end):
                m.d.sync += [k.eq(0), word.eq(0)]
                with m.If(mbase + rows >= job.m):
                    m.d.sync += mbase.eq(0)
                    next_column_block(m, job, nbase, p.cols, done)
                with m.Else():
                    m.d.sync += mbase.eq(mbase + rows)
        with m.If(job.start):
            m.d.sync += [k.eq(0), word.eq(0), mbase.eq(0), nbase.eq(0), done.eq(0)]
        return m


class BBuffer(wiring.Component):
    """Two banks of one ``K x cols`` block of B (column block ``nt``: ``ceil(K/depth)``
    words of ``depth x cols`` operands).

    Columns past ``N`` and K steps past ``K`` are zeroed on the way in, so padding
    contributes nothing to the sums. The stream fills a bank while the feeder reads the
    other; a full bank is released by the feeder and then refilled.

    Parameters
    ----------
    params : GemmParams
    b_signature : stream signature of the ``b`` words
    word_shape : shape
        Shape of the feeder's word index (a word within the bank).

    Members
    -------
    b : In(stream of B words)
    job : In(job_signature)
    read : Out(bank_read_signature)
        Reads the bank in use.
    ready_words : Out(range(bank words + 1))
        Words of the bank in use that have arrived.
    release : In(1)
        The feeder is done with the bank in use; the next bank comes into use.
    """

    def __init__(self, params: GemmParams, b_signature, word_shape):
        self._params = p = params
        self._bank_words = p.b_buffer_words // 2
        self._word_width = p.depth * p.cols * p.b_width
        super().__init__({
            "b": In(b_signature),
            "job": In(job_signature(params)),
            "read": Out(bank_read_signature(word_shape, self._word_width)),
            "ready_words": Out(range(self._bank_words + 1)),
            "release": In(1),
        })

    def elaborate(self, platform):
        p = self._params
        depth, cols, bank_words = p.depth, p.cols, self._bank_words
        job = self.job
        m = Module()
        mem = m.submodules.mem = Memory(shape=unsigned(self._word_width), depth=2 * bank_words, init=[])
        wr = mem.write_port()
        rd = mem.read_port()
        filled = [Signal(range(bank_words + 1), name=f"bank{bank}_words") for bank in range(2)]
        full = Signal(2)  # the bank holds a complete block the feeder has not released
        write_bank = Signal()
        read_bank = Signal()
        word = Signal(range(bank_words + 1))
        k = Signal(range(p.k_max + depth + 1))
        nbase = Signal(range(p.n_max + cols + 1))
        done = Signal()
        fire = self.b.valid & self.b.ready
        masked = Signal(data.ArrayLayout(p.b_shape, depth * cols))
        n_left = Signal(range(p.n_max + 1))
        k_left = Signal(range(p.k_max + 1))
        m.d.comb += [n_left.eq(job.n - nbase), k_left.eq(job.k - k)]
        for d in range(depth):
            for j in range(cols):
                lane = d * cols + j
                if j >= p.n_max or d >= p.k_max:
                    continue  # a lane no job can use stays zero
                keep = (n_left > j) & (k_left > d) if depth > 1 else (n_left > j)
                m.d.comb += masked[lane].eq(Mux(keep, self.b.payload.data[lane], 0))
        m.d.comb += [
            self.b.ready.eq(job.active & ~done & ~Mux(write_bank, full[1], full[0])),
            wr.addr.eq(Mux(write_bank, bank_words, 0) + word),
            wr.data.eq(masked.as_value()),
            wr.en.eq(fire),
            rd.addr.eq(Mux(read_bank, bank_words, 0) + self.read.word),
            rd.en.eq(self.read.en),
            self.read.data.eq(rd.data),
        ]
        with m.If(fire):
            m.d.sync += [k.eq(k + depth), word.eq(word + 1)]
            for bank in range(2):
                with m.If(write_bank == bank):
                    m.d.sync += filled[bank].eq(filled[bank] + 1)
            with m.If(k + depth >= job.k):
                m.d.sync += [k.eq(0), word.eq(0), write_bank.eq(~write_bank)]
                for bank in range(2):
                    with m.If(write_bank == bank):
                        m.d.sync += full[bank].eq(1)
                next_column_block(m, job, nbase, cols, done)
        # A bank is released only when full, and the loader only writes banks that are not.
        with m.If(self.release):
            m.d.sync += read_bank.eq(~read_bank)
        for bank in range(2):
            with m.If(self.release & (read_bank == bank)):
                m.d.sync += [filled[bank].eq(0), full[bank].eq(0)]
        with m.If(job.start):
            m.d.sync += [k.eq(0), word.eq(0), write_bank.eq(0), read_bank.eq(0), nbase.eq(0), done.eq(0)]
        m.d.comb += self.ready_words.eq(Mux(read_bank, filled[1], filled[0]))
        return m
