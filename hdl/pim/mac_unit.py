"""MAC unit of the PIM controller: the MACABs of a pass and the block's accumulator reads."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..util import ceil_div
from .interfaces import RetireSignature, activated_layout, mac_port, pass_layout
from .isa import Cmd, JobOp

__all__ = ["MacUnit"]

#: Phases of a pass in the MAC unit.
CLEAR_FIRST, MAC, READ, CLEAR_AFTER = range(4)


class MacUnit(wiring.Component):
    """Sequences one opened pass: CLRMAC, MACAB per column, RDMAC and CLRMAC per accumulator.

    A pass taken from ``activated`` starts with a CLRMAC of every accumulator when it is the
    job's first and the job is not GEMV_ACC, then one MACAB per column (only while a vector
    segment is loaded, ``avail_loads != 0``). The pass's last MACAB ``retire``\\ s it to the
    precharge unit, so that MACAB waits while that unit is busy. After a block's last pass the
    unit reads its ``a_count`` accumulators (RDMAC) and, unless the job ends, clears them
    (CLRMAC) for the next block. A new pass is taken in the cycle the current one ends.

    Before a block's reads it asks the vector loader to hold the bus (``hold_bus``), so that
    the write-to-read turnaround does not delay them: during the MACABs of a block's last pass
    from ``ceil((CWL + BL + tWTR_S) / mac_spacing) + 1`` columns before its end (once a
    segment is loaded), and during the reads.

    Members
    -------
    activated : In(stream.Signature(activated_layout))
        Opened passes.
    op : In(JobOp)
        The job's operation (GEMV_ACC keeps the accumulators).
    avail_loads : In(range(gb_slots + 1))
        Vector segments loaded in the global buffer and not yet used up.
    pre_busy : In(1)
        The precharge unit holds a pass.
    job_done : In(1)
        The job's last cycle (back to global-buffer slot 0).
    cmd : Out(mac_port)
        MACAB / RDMAC / CLRMAC requests.
    retire : Out(RetireSignature)
        The pass's last MACAB goes out.
    macab, rdmac : Out(1)
        A MACAB, an RDMAC goes out.
    busy : Out(1)
        A pass is held.
    waiting : Out(1)
        The pass is in its MACAB phase (stall classification).
    hold_bus : Out(1)
        The vector loader must not start WRGBs.
    """

    def __init__(self, config, layout):
        self._config = config
        self._pass_layout = pass_layout(config, layout)
        super().__init__({
            "activated": In(stream.Signature(activated_layout(config, layout))),
            "op": In(JobOp),
            "avail_loads": In(range(config.gb_slots + 1)),
            "pre_busy": In(1),
            "job_done": In(1),
            "cmd": Out(mac_port(config)),
            "retire": Out(RetireSignature()),
            "macab": Out(1),
            "rdmac": Out(1),
            "busy": Out(1),
            "waiting": Out(1),
            "hold_bus": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self._config
        valid = self.busy
        desc = data.View(self._pass_layout, Signal(self._pass_layout.size))
        rbuf = Signal()
        slot = Signal()
        col = Signal(range(c.cols_per_row + 1))
        phase = Signal(range(4))
        idx = Signal(range(c.n_acc + 1))
        state = (valid, desc, rbuf, slot, col, phase, idx)

        want = Signal()
        cmd = Signal(Cmd)
        ok = Signal()
        m.d.comb += cmd.eq(Cmd.NOP)
        with m.If(valid):
            with m.If(~phase.any()):
                m.d.comb += [want.eq(1), cmd.eq(Cmd.CLRMAC), ok.eq(1)]
            with m.Elif(phase == MAC):
                # A pass may end only when the precharge unit is free to take it.
                can_mac = (self.avail_loads != 0) & (~self.pre_busy | (col != desc.ncols - 1))
                m.d.comb += [want.eq(can_mac), cmd.eq(Cmd.MACAB), ok.eq(self.cmd.ok)]
            with m.Elif(phase == READ):
                m.d.comb += [want.eq(1), cmd.eq(Cmd.RDMAC), ok.eq(self.cmd.ok_read)]
            with m.Else():
                m.d.comb += [want.eq(1), cmd.eq(Cmd.CLRMAC), ok.eq(1)]
        fire = self.cmd.grant
        m.d.comb += [
            self.cmd.req.eq(want & ok), self.cmd.cmd.eq(cmd), self.cmd.acc.eq(Mux((phase == MAC), desc.acc, idx)),
            self.cmd.col.eq(col), self.cmd.slot.eq(slot), self.cmd.rbuf.eq(rbuf), self.cmd.column.eq(phase == MAC),
            self.macab.eq(fire & (cmd == Cmd.MACAB)),
            self.rdmac.eq(fire & (cmd == Cmd.RDMAC)),
            self.waiting.eq(valid & (phase == MAC)),
            self.retire.rbuf.eq(rbuf), self.retire.load_last.eq(desc.load_last),
        ]

        ending = self._sequence(m, fire, state)
        m.d.comb += self.activated.ready.eq(~valid | ending)
        with m.If(self.activated.valid & self.activated.ready):
            m.d.sync += [
                valid.eq(1), desc.as_value().eq(self.activated.payload.desc.as_value()),
                rbuf.eq(self.activated.payload.rbuf), col.eq(0), idx.eq(0),
                phase.eq(Mux(self.activated.payload.desc.job_first & (self.op != JobOp.GEMV_ACC),
                             CLEAR_FIRST, MAC)),
            ]

        with m.If(self.retire.valid):
            with m.If(desc.load_last):
                if c.gb_slots > 1:
                    m.d.sync += slot.eq(~slot)
        with m.If(self.job_done):
            m.d.sync += slot.eq(0)

        # Hold the loader shortly before a block's accumulator reads (the loader has slack; the
        # MAC stream has none). Only once the unit's own segment is loaded: it may be the one
        # in flight.
        hold_cols = ceil_div(c.CWL + c.BL + c.tWTR_S, max(1, c.mac_spacing)) + 1
        near_end = (desc.ncols - col) <= hold_cols
        m.d.comb += self.hold_bus.eq(valid & desc.block_last & (
            ((phase == MAC) & near_end & self.avail_loads.any()) | (phase == READ)))
        return m

    def _sequence(self, m, fire, state):
        """Phase and index updates when a command of the unit goes out; returns ``ending``
        (the pass ends this cycle)."""
        valid, desc, rbuf, slot, col, phase, idx = state
        n_acc = self._config.n_acc
        ending = Signal()
        with m.If(fire):
            with m.If(~phase.any()):
                with m.If(idx == n_acc - 1):
                    m.d.sync += [phase.eq(MAC), idx.eq(0)]
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
            with m.Elif(phase == MAC):
                m.d.sync += col.eq(col + 1)
                with m.If(col == desc.ncols - 1):
                    m.d.comb += self.retire.valid.eq(1)
                    m.d.sync += idx.eq(0)
                    with m.If(desc.block_last):
                        m.d.sync += phase.eq(READ)
                    with m.Else():
                        m.d.sync += valid.eq(0)
                        m.d.comb += ending.eq(1)
            with m.Elif(phase == READ):
                with m.If(idx == desc.a_count - 1):
                    m.d.sync += idx.eq(0)
                    with m.If(desc.job_last):
                        m.d.sync += valid.eq(0)
                        m.d.comb += ending.eq(1)
                    with m.Else():
                        m.d.sync += phase.eq(CLEAR_AFTER)
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
            with m.Else():
                with m.If(idx == n_acc - 1):
                    m.d.sync += [valid.eq(0), idx.eq(0)]
                    m.d.comb += ending.eq(1)
                with m.Else():
                    m.d.sync += idx.eq(idx + 1)
        return ending
