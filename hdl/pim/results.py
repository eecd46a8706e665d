"""Result collector of the PIM controller: accumulator reads to the ``res`` stream."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from ..util import index_width
from .interfaces import index_bits, result_depth
from .isa import rdata_layout, result_layout

__all__ = ["ResultCollector"]


class ResultCollector(wiring.Component):
    """Catches every channel's read data ``CL`` cycles after each RDMAC and sends the beats.

    An RDMAC's return (``banks`` accumulators of every channel) becomes one entry of a
    ``2 * n_acc + 1``-entry FIFO. Each entry gives one beat per enabled channel in channel
    order (split-K: one beat, the enabled channels' accumulators added, 32-bit wrap); beats
    of outputs at or past ``m`` are dropped; ``index`` counts the job's outputs and ``last``
    marks the job's final beat. Result credits: the activate unit ``reserve``\\ s a block's
    entries before its last pass starts; an entry leaving the FIFO gives its credit back.

    Members
    -------
    rdmac : In(1)
        An RDMAC goes out (its data arrives ``CL`` cycles later).
    rdata : In(ArrayLayout(rdata_layout, channels))
        Every channel's read data.
    mask : In(channels)
        Enabled channels.
    m, tag : In
        The job's outputs and tag.
    reserve : In(range(n_acc + 1))
        Entries reserved this cycle.
    job_done : In(1)
        The job's last cycle (counts restart).
    res : Out(stream.Signature(result_layout))
        Result beats.
    credit : Out(range(2 * n_acc + 2))
        Entries neither reserved nor queued.
    done : Out(1)
        The job's last beat went out.
    pending : Out(1)
        Entries are queued.
    """

    def __init__(self, config, layout, *, reduce: bool = False):
        self._config = config
        self._layout = layout
        self._reduce = reduce
        C = layout.channels
        depth = result_depth(config)
        super().__init__({
            "rdmac": In(1),
            "rdata": In(data.ArrayLayout(rdata_layout(layout), C)),
            "mask": In(C),
            "m": In(range(layout.m_max + 1)),
            "tag": In(layout.tag_bits),
            "reserve": In(range(config.n_acc + 1)),
            "job_done": In(1),
            "res": Out(stream.Signature(result_layout(layout))),
            "credit": Out(range(depth + 1), init=depth),
            "done": Out(1),
            "pending": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c, C, B, acc = self._config, self._layout.channels, self._config.banks, self._layout.acc_bits
        expect = Signal(c.CL + 1)
        m.d.sync += expect.eq(Cat(self.rdmac, expect[:-1]))
        m.submodules.fifo = res_fifo = fifo.SyncFIFOBuffered(width=C * B * acc, depth=result_depth(c))
        m.d.comb += [
            res_fifo.w_en.eq(expect[c.CL]),
            res_fifo.w_data.eq(Cat(*[self.rdata[ch].data[:B * acc] for ch in range(C)])),
        ]
        out_ch = Signal(index_width(C))
        out_index = Signal(index_bits(self._layout))
        ch_enabled, beat_values = self._beat(m, res_fifo.r_data, out_ch)
        in_range = out_index < self.m
        is_last = out_index + B >= self.m
        m.d.comb += [
            self.res.valid.eq(res_fifo.r_rdy & ch_enabled & in_range),
            self.res.payload.tag.eq(self.tag),
            self.res.payload.index.eq(out_index),
            self.res.payload.last.eq(is_last),
            self.pending.eq(res_fifo.r_rdy),
        ]
        for b in range(B):
            m.d.comb += self.res.payload.values[b].eq(beat_values[b * acc:(b + 1) * acc])
        step_beat = res_fifo.r_rdy & (~ch_enabled | ~in_range | self.res.ready)
        last_channel = (out_ch == C - 1) if not self._reduce else Const(1)
        pop = step_beat & last_channel
        m.d.comb += res_fifo.r_en.eq(pop)
        with m.If(step_beat):
            m.d.sync += out_ch.eq(Mux(last_channel, 0, out_ch + 1))
            with m.If(ch_enabled):
                m.d.sync += out_index.eq(out_index + B)

        with m.If(self.res.valid & self.res.ready & is_last):
            m.d.sync += self.done.eq(1)
        with m.If(self.job_done):
            m.d.sync += [self.done.eq(0), out_index.eq(0), out_ch.eq(0)]
        m.d.sync += self.credit.eq(self.credit - self.reserve + pop)
        return m

    def _beat(self, m, entry, out_ch):
        """The current beat of FIFO entry ``entry``: ``(channel enabled, values)``."""
        C, B, acc = self._layout.channels, self._config.banks, self._layout.acc_bits
        ch_enabled = Signal()
        beat_values = Signal(B * acc)
        if self._reduce:
            # One beat per entry: the enabled channels' partial sums added (wrapping).
            m.d.comb += ch_enabled.eq(1)
            for b in range(B):
                total = Const(0, acc)
                for ch in range(C):
                    part = entry[(ch * B + b) * acc:(ch * B + b + 1) * acc]
                    total = (total + Mux(self.mask[ch], part, 0))[:acc]
                m.d.comb += beat_values[b * acc:(b + 1) * acc].eq(total)
        else:
            with m.Switch(out_ch):
                for ch in range(C):
                    with (m.Case(ch) if ch < C - 1 else m.Default()):
                        m.d.comb += [ch_enabled.eq(self.mask[ch]),
                                     beat_values.eq(entry[ch * B * acc:(ch + 1) * B * acc])]
        return ch_enabled, beat_values
