"""The GEMM engine's collectors: the array's result rows to the ``c`` stream.

- :class:`TileCollector` (output-stationary arrays) passes result rows on in tile order and
  drops the rows past ``M`` (padding of the last row block);
- :class:`PartialSumCollector` (weight-stationary array) adds the partial sums of the K blocks
  in the C buffer (read, add, write) and sends the last K block's sums on.

Both mark the job's final beat with ``last`` and tell :class:`~.buffers.JobControl` when the
job is over (``job_done``).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, fifo, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .buffers import job_signature
from .params import GemmParams

__all__ = ["Collector", "TileCollector", "PartialSumCollector"]


class Collector(wiring.Component):
    """What the collectors share: the job, the array's result rows in, the engine's ``c`` out.

    Members
    -------
    job : In(job_signature)
    rows : In(the array's result stream)
    c : Out(the engine's result stream)
        ``last`` on the job's final row.
    job_done : Out(1)
        The job is over (see each collector).
    """

    def __init__(self, params: GemmParams, array, c_signature):
        self._params = params
        self._array_acc_shape = array.params.acc_shape
        super().__init__({"job": In(job_signature(params)), "rows": In(array.signature.members["c"].signature),
                          "c": Out(c_signature), "job_done": Out(1)})


class TileCollector(Collector):
    """Result rows of an output-stationary array in tile order; rows past ``M`` dropped.
    ``job_done``: the last tile's last row transfers, dropped or not, so that no row of the
    job is left in the array when the next job starts."""

    def elaborate(self, platform):
        p = self._params
        cols = p.cols
        rows = 1 if p.engine == "tree" else p.rows
        job, array_c = self.job, self.rows
        m = Module()
        row = Signal(range(rows)) if rows > 1 else Const(0)
        mbase = Signal(range(p.m_max + rows + 1))
        nbase = Signal(range(p.n_max + cols + 1))
        m_index = mbase + row
        keep = m_index < job.m
        final = (nbase + cols >= job.n) & (m_index == job.m - 1)
        m.d.comb += [
            self.c.valid.eq(array_c.valid & keep),
            self.c.payload.data.eq(array_c.payload.data),
            self.c.payload.last.eq(final),
            array_c.ready.eq(self.c.ready | ~keep),
        ]
        last_tile = (mbase + rows >= job.m) & (nbase + cols >= job.n)
        transfer = array_c.valid & array_c.ready
        m.d.comb += self.job_done.eq(transfer & last_tile & (row == rows - 1))
        with m.If(transfer):
            if rows > 1:
                m.d.sync += row.eq(row + 1)
            with m.If(row == rows - 1):
                if rows > 1:
                    m.d.sync += row.eq(0)
                with m.If(mbase + rows >= job.m):
                    m.d.sync += [mbase.eq(0), nbase.eq(nbase + cols)]
                with m.Else():
                    m.d.sync += mbase.eq(mbase + rows)
        with m.If(job.start):
            m.d.sync += [mbase.eq(0), nbase.eq(0)]
            if rows > 1:
                m.d.sync += row.eq(0)
        return m


class PartialSumCollector(Collector):
    """The weight-stationary array's partial sums, accumulated over the K blocks.

    Row ``m`` of weight tile ``(nt, kt)`` is added to the C buffer's row ``m`` (the first K
    block writes it); the last K block's sums leave on ``c`` through a small FIFO. A row read
    in the cycle its address is written sees the new sum (transparent read port), so
    back-to-back tiles need no bubble. ``job_done``: the job's final row transfers on ``c``.
    """

    def elaborate(self, platform):
        p = self._params
        rows, cols = p.rows, p.cols
        job, array_c = self.job, self.rows
        acc_shape = p.acc_shape
        row_layout = data.ArrayLayout(acc_shape, cols)
        m = Module()
        c_mem = m.submodules.c_buffer = Memory(shape=unsigned(cols * p.acc_width), depth=max(2, p.c_buffer_words),
                                               init=[])
        c_wr = c_mem.write_port()
        c_rd = c_mem.read_port(transparent_for=(c_wr,))
        y_m = Signal(range(p.m_max + 1))
        y_kbase = Signal(range(p.k_max + rows + 1))
        y_nbase = Signal(range(p.n_max + cols + 1))
        s_valid = Signal()
        s_first = Signal()
        s_final = Signal()
        s_last = Signal()
        s_m = Signal(range(p.m_max + 1))
        s_row = Signal(data.ArrayLayout(self._array_acc_shape, cols))
        out_fifo = m.submodules.c_fifo = fifo.SyncFIFOBuffered(width=cols * p.acc_width + 1, depth=4)
        s_go = ~s_final | out_fifo.w_rdy
        y_advance = ~s_valid | s_go
        m.d.comb += [
            array_c.ready.eq(y_advance),
            c_rd.addr.eq(y_m), c_rd.en.eq(y_advance),
        ]
        y_fire = array_c.valid & y_advance
        with m.If(y_advance):
            m.d.sync += [
                s_valid.eq(array_c.valid),
                s_row.eq(array_c.payload.data),
                s_first.eq(~y_kbase.any()),
                s_final.eq(y_kbase + rows >= job.k),
                s_last.eq((y_kbase + rows >= job.k) & (y_nbase + cols >= job.n) & (y_m == job.m - 1)),
                s_m.eq(y_m),
            ]
        with m.If(y_fire):
            m.d.sync += y_m.eq(y_m + 1)
            with m.If(y_m == job.m - 1):
                m.d.sync += y_m.eq(0)
                with m.If(y_kbase + rows >= job.k):
                    m.d.sync += [y_kbase.eq(0), y_nbase.eq(y_nbase + cols)]
                with m.Else():
                    m.d.sync += y_kbase.eq(y_kbase + rows)
        with m.If(job.start):
            m.d.sync += [y_m.eq(0), y_kbase.eq(0), y_nbase.eq(0)]

        previous = data.ArrayLayout(acc_shape, cols)(c_rd.data)
        total = Signal(row_layout)
        for j in range(cols):
            m.d.comb += total[j].eq(Mux(s_first, 0, previous[j]) + s_row[j])
        retire = s_valid & s_go
        m.d.comb += [
            c_wr.addr.eq(s_m), c_wr.data.eq(total.as_value()), c_wr.en.eq(retire & ~s_final),
            out_fifo.w_en.eq(s_valid & s_final),
            out_fifo.w_data.eq(Cat(total.as_value(), s_last)),
        ]
        wiring.connect(m, out_fifo.r_stream, wiring.flipped(self.c))
        m.d.comb += self.job_done.eq(self.c.valid & self.c.ready & self.c.payload.last)
        return m
