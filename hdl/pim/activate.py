"""Activate unit of the PIM controller: opens each pass's row (ACTAB) and hands the pass on."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import CloseSignature, activate_port, activated_layout, pass_layout, result_depth, word_bits

__all__ = ["ActivateUnit"]


class ActivateUnit(wiring.Component):
    """Takes the next row pass, issues its ACTAB and hands the opened pass to the MAC unit.

    The ACTAB waits until the pass's vector words have arrived (``avail_words >= word_end``),
    room for its block's results is reserved (``credit >= a_count`` on a block's last pass),
    its row buffer is closed and no refresh is due: no row stays open waiting for the outside
    world. When it goes out the unit reserves the block's results (``reserve``) and, with
    dual row buffers, moves to the other buffer for the next pass. It tracks which row
    buffers are open (ACTAB opens, a PREA from ``close`` closes).

    Members
    -------
    passes : In(stream.Signature(pass_layout))
        Row passes in schedule order.
    avail_words : In(word_bits)
        Vector words in the vector buffer.
    credit : In(range(result_depth + 1))
        Free result entries.
    refresh_due : In(1)
        The refresh engine wants the banks closed.
    close : In(CloseSignature)
        A PREA goes out, closing row buffer ``rbuf``.
    job_done : In(1)
        The job's last cycle (back to row buffer 0).
    cmd : Out(activate_port)
        ACTAB requests.
    activated : Out(stream.Signature(activated_layout))
        The pass whose ACTAB went out, with its row buffer.
    busy : Out(1)
        A pass is held.
    open_any : Out(1)
        A row buffer is open.
    reserve : Out(range(n_acc + 1))
        Result entries reserved this cycle.
    wait_vector, wait_result : Out(1)
        The held pass waits for vector words; for result room (stall classification).
    """

    def __init__(self, config, layout):
        self._config = config
        self._layout = layout
        self._pass_layout = pass_layout(config, layout)
        super().__init__({
            "passes": In(stream.Signature(self._pass_layout)),
            "avail_words": In(word_bits(layout)),
            "credit": In(range(result_depth(config) + 1)),
            "refresh_due": In(1),
            "close": In(CloseSignature()),
            "job_done": In(1),
            "cmd": Out(activate_port(config)),
            "activated": Out(stream.Signature(activated_layout(config, layout))),
            "busy": Out(1),
            "open_any": Out(1),
            "reserve": Out(range(config.n_acc + 1)),
            "wait_vector": Out(1),
            "wait_result": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        valid = self.busy
        issued = Signal()     # its ACTAB went out; waiting for the MAC unit
        desc = data.View(self._pass_layout, Signal(self._pass_layout.size))
        rbuf = Signal()
        opened = Signal()     # the row buffer its ACTAB opened
        open_buf = Signal(2)  # row buffer r open (on the enabled channels)
        m.d.comb += self.passes.ready.eq(~valid)
        with m.If(self.passes.valid & ~valid):
            m.d.sync += [valid.eq(1), desc.as_value().eq(self.passes.payload.as_value())]

        ready_data = valid & (self.avail_words >= desc.word_end) & \
            (~desc.block_last | (self.credit >= desc.a_count))
        buf_free = ~Mux(rbuf, open_buf[1], open_buf[0])
        candidate = ready_data & ~issued & buf_free & ~self.refresh_due
        fire = self.cmd.grant
        m.d.comb += [
            self.cmd.req.eq(candidate & self.cmd.ok), self.cmd.row.eq(desc.row), self.cmd.rbuf.eq(rbuf),
            self.open_any.eq(open_buf.any()),
            self.reserve.eq(Mux(fire & desc.block_last, desc.a_count, 0)),
            self.wait_vector.eq(valid & (self.avail_words < desc.word_end)),
            self.wait_result.eq(valid & desc.block_last & (self.credit < desc.a_count)),
        ]

        with m.If(fire):
            m.d.sync += [issued.eq(1), opened.eq(rbuf)]
            if self._config.dual_row_buffer:
                m.d.sync += rbuf.eq(~rbuf)
        m.d.comb += [
            self.activated.valid.eq(valid & issued),
            self.activated.payload.desc.eq(desc),
            self.activated.payload.rbuf.eq(opened),
        ]
        with m.If(self.activated.valid & self.activated.ready):
            m.d.sync += [valid.eq(0), issued.eq(0)]

        for r in range(2):
            with m.If(fire & (rbuf == r)):
                m.d.sync += open_buf[r].eq(1)
            with m.Elif(self.close.valid & (self.close.rbuf == r)):
                m.d.sync += open_buf[r].eq(0)
        with m.If(self.job_done):
            m.d.sync += rbuf.eq(0)
        return m
