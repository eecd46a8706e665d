"""Job setup of the PIM controller: the job descriptor registers and the job's end."""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..util import ceil_div, index_width
from .interfaces import word_bits
from .isa import JobOp, job_layout

__all__ = ["JobSetup"]


def _at_most(value, limit: int):
    """``value <= limit``, or a constant 1 when the field cannot hold more than ``limit``
    (``m_max = 1``, ``k_max = 2**n - 1``: the comparison would be constant, Verilator's CMPCONST)."""
    return Const(1) if (1 << len(value)) - 1 <= limit else value <= limit


class JobSetup(wiring.Component):
    """Accepts a job descriptor, checks it and holds the job's parameters until its end.

    A job is taken when no job is active. A legal one (``1 <= m <= m_max``,
    ``1 <= k <= k_max``, a channel enabled) becomes active, with a one-cycle ``start``; an
    illegal one sets ``error`` (sticky) and is dropped. The job ends (``done`` pulse,
    ``active`` falls) once its results are out (``results_done``, nothing ``results_pending``)
    and no unit is busy.

    Derived values: ``words_total = ceil(k / lanes)`` vector words; ``n_seg`` segments of a
    row and ``last_cols`` columns in the last one; ``grp_step`` outputs per group
    (``n_ch * banks``, ``banks`` with split-K); ``n_ch`` enabled channels and ``rank[c]`` the
    position of channel ``c`` among them.

    Split-K (``reduce``): each enabled channel holds every ``n_ch``-th vector word, so its K
    slice is ``ceil(words_total / n_ch)`` words. The quotient is counted up by repeated
    addition after ``start`` (at most ``ceil(k_max / lanes)`` cycles, no divider); ``n_seg`` and
    ``last_cols`` count the local columns and ``gen_start`` follows when they are ready.
    Without split-K ``gen_start`` is ``start``.

    Members
    -------
    job : In(stream.Signature(job_layout))
        Job descriptors.
    units_busy, results_done, results_pending : In(1)
        A unit still works on the job; the job's last result beat went out; result entries
        are still queued.
    active, start, gen_start, done, error : Out(1)
        A job is active; its first cycle; the loop nest may start; the job's last cycle;
        an illegal job was seen.
    op, row, m, tag, mask : Out
        The descriptor's fields.
    words_total, n_seg, last_cols, grp_step, n_ch, rank : Out
        Derived values (see above).
    """

    def __init__(self, config, layout, *, reduce: bool = False):
        self._config = config
        self._layout = layout
        self._reduce = reduce
        channels, banks = layout.channels, config.banks
        super().__init__({
            "job": In(stream.Signature(job_layout(layout))),
            "units_busy": In(1),
            "results_done": In(1),
            "results_pending": In(1),
            "active": Out(1),
            "start": Out(1),
            "gen_start": Out(1),
            "done": Out(1),
            "error": Out(1),
            "op": Out(JobOp),
            "row": Out(index_width(config.rows)),
            "m": Out(range(layout.m_max + 1)),
            "tag": Out(layout.tag_bits),
            "mask": Out(channels),
            "words_total": Out(word_bits(layout)),
            "n_seg": Out(range(ceil_div(layout.k_max, config.elems_per_row) + 1)),
            "last_cols": Out(range(config.cols_per_row + 1)),
            "grp_step": Out(range(channels * banks + 1)),
            "n_ch": Out(range(channels + 1)),
            "rank": Out(data.ArrayLayout(index_width(channels), channels)),
        })

    def elaborate(self, platform):
        m = Module()
        c, lp = self._config, self._layout
        C, B = lp.channels, c.banks
        cols, lanes = c.cols_per_row, c.lanes
        lanes_log, cols_log = lanes.bit_length() - 1, cols.bit_length() - 1
        epr_log = c.elems_per_row.bit_length() - 1

        payload = self.job.payload
        k_in = payload.k
        mask_in = payload.ch_mask
        job_ok = (payload.m != 0) & _at_most(payload.m, lp.m_max) & (k_in != 0) & _at_most(k_in, lp.k_max) & \
            (mask_in != 0)
        take_job = Signal()
        m.d.comb += [self.job.ready.eq(~self.active), take_job.eq(self.job.valid & ~self.active)]
        popcount = Const(0, range(C + 1))
        prefix = []
        for i in range(C):
            prefix.append(popcount)
            popcount = popcount + mask_in[i]
        with m.If(take_job):
            with m.If(job_ok):
                m.d.sync += [
                    self.active.eq(1), self.op.eq(payload.op), self.row.eq(payload.row_base),
                    self.m.eq(payload.m), self.tag.eq(payload.tag), self.mask.eq(mask_in),
                    self.words_total.eq((k_in + lanes - 1) >> lanes_log),
                    self.grp_step.eq(B if self._reduce else popcount * B),
                    self.n_ch.eq(popcount),
                    self.start.eq(1),
                ]
                m.d.sync += [self.rank[ch].eq(prefix[ch]) for ch in range(C)]
                if not self._reduce:
                    m.d.sync += [
                        self.n_seg.eq((k_in + c.elems_per_row - 1) >> epr_log),
                        self.last_cols.eq((((k_in + lanes - 1) >> lanes_log) - 1)[:max(cols_log, 1)] + 1
                                          if cols > 1 else 1),
                    ]
            with m.Else():
                m.d.sync += self.error.eq(1)
        with m.If(self.start):
            m.d.sync += self.start.eq(0)

        if self._reduce:
            self._split_k(m)
        else:
            m.d.comb += self.gen_start.eq(self.start)

        m.d.comb += self.done.eq(self.active & self.results_done & ~self.units_busy & ~self.start
                                 & ~self.results_pending)
        with m.If(self.done):
            m.d.sync += self.active.eq(0)
        return m

    def _split_k(self, m):
        """Local words ``ceil(words_total / n_ch)`` by repeated addition; then the segments."""
        cols = self._config.cols_per_row
        cols_log = cols.bit_length() - 1
        wb = word_bits(self._layout)
        local_words = Signal(wb + 1)
        div_busy = Signal()
        div_acc = Signal(wb + index_width(self._layout.channels) + 1)
        m.d.sync += self.gen_start.eq(0)
        with m.If(self.start):
            m.d.sync += [div_busy.eq(1), div_acc.eq(0), local_words.eq(0)]
        with m.Elif(div_busy):
            with m.If(div_acc < self.words_total):
                m.d.sync += [div_acc.eq(div_acc + self.n_ch), local_words.eq(local_words + 1)]
            with m.Else():
                m.d.sync += [
                    div_busy.eq(0), self.gen_start.eq(1),
                    self.n_seg.eq((local_words + cols - 1) >> cols_log),
                    self.last_cols.eq((local_words - 1)[:max(cols_log, 1)] + 1 if cols > 1 else 1),
                ]
