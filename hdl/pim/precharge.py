"""Precharge unit of the PIM controller: closes each pass's row (PREA)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interfaces import CloseSignature, RetireSignature, precharge_port

__all__ = ["PrechargeUnit"]


class PrechargeUnit(wiring.Component):
    """Holds the pass whose last MACAB went out until its PREA goes out.

    Members
    -------
    retire : In(RetireSignature)
        A pass to precharge (taken whenever ``valid``; the MAC unit only sends one while
        ``busy`` is low).
    cmd : Out(precharge_port)
        PREA requests.
    close : Out(CloseSignature)
        The PREA goes out, closing row buffer ``rbuf``.
    busy : Out(1)
        A pass is held.
    freed : Out(1)
        The PREA of the last pass reading a global-buffer load goes out: the slot is free.
    """

    def __init__(self):
        super().__init__({
            "retire": In(RetireSignature()),
            "cmd": Out(precharge_port()),
            "close": Out(CloseSignature()),
            "busy": Out(1),
            "freed": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        valid = self.busy
        rbuf = Signal()
        load_last = Signal()
        fire = self.cmd.grant
        with m.If(self.retire.valid):
            m.d.sync += [valid.eq(1), rbuf.eq(self.retire.rbuf), load_last.eq(self.retire.load_last)]
        with m.If(fire):
            m.d.sync += valid.eq(0)
        m.d.comb += [
            self.cmd.req.eq(valid & self.cmd.ok), self.cmd.rbuf.eq(rbuf),
            self.close.valid.eq(fire), self.close.rbuf.eq(rbuf),
            self.freed.eq(fire & load_last),
        ]
        return m
