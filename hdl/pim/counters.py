"""Performance and stall counters of the PIM controller."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .isa import Cmd

__all__ = ["PerfCounters", "COUNTER_NAMES"]

#: The counters, in port order.
COUNTER_NAMES = ("busy_cycles", "mac_count", "act_count", "ref_count", "stall_row", "stall_column",
                 "stall_vector", "stall_result", "stall_refresh")


class PerfCounters(wiring.Component):
    """Counts busy cycles and issued commands, and classifies every busy cycle without a MACAB.

    The stall reason is the first that applies: the MAC unit waits for a vector segment
    (``vector``), for a row rule (``row``), for a column/bus rule (``column``); a refresh is
    due or going out (``refresh``); the activate unit waits for vector words (``vector``), for
    result room (``result``); otherwise the pipeline waits for a row rule (``row``).
    All counters wrap.

    Members
    -------
    job_active, macab, actab, ref : In(1)
        A job is active; a MACAB, ACTAB, REF goes out.
    mac_waiting : In(1)
        The MAC unit is in a pass's MACAB phase.
    avail_loads : In(range(gb_slots + 1))
        Loaded vector segments.
    mac_row_ok : In(1)
        The MAC unit's MACAB is allowed by the row rules.
    refresh_due : In(1)
        A refresh is due.
    slot_cmd : In(Cmd)
        The command in channel 0's slot.
    act_wait_vector, act_wait_result : In(1)
        The activate unit waits for vector words; for result room.
    busy_cycles, mac_count, act_count, ref_count, stall_<reason> : Out(width)
        The counters.
    """

    def __init__(self, config, *, width: int):
        members = {
            "job_active": In(1), "macab": In(1), "actab": In(1), "ref": In(1),
            "mac_waiting": In(1), "avail_loads": In(range(config.gb_slots + 1)), "mac_row_ok": In(1),
            "refresh_due": In(1), "slot_cmd": In(Cmd), "act_wait_vector": In(1), "act_wait_result": In(1),
        }
        members.update({name: Out(width) for name in COUNTER_NAMES})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += [
            self.busy_cycles.eq(self.busy_cycles + self.job_active),
            self.mac_count.eq(self.mac_count + self.macab),
            self.act_count.eq(self.act_count + self.actab),
            self.ref_count.eq(self.ref_count + self.ref),
        ]
        stalled = self.job_active & ~self.macab
        mac_waiting = self.mac_waiting
        with m.If(stalled):
            with m.If(mac_waiting & ~self.avail_loads.any()):
                m.d.sync += self.stall_vector.eq(self.stall_vector + 1)
            with m.Elif(mac_waiting & ~self.mac_row_ok):
                m.d.sync += self.stall_row.eq(self.stall_row + 1)
            with m.Elif(mac_waiting):
                m.d.sync += self.stall_column.eq(self.stall_column + 1)
            with m.Elif(self.refresh_due | (self.slot_cmd == Cmd.REF)):
                m.d.sync += self.stall_refresh.eq(self.stall_refresh + 1)
            with m.Elif(self.act_wait_vector):
                m.d.sync += self.stall_vector.eq(self.stall_vector + 1)
            with m.Elif(self.act_wait_result):
                m.d.sync += self.stall_result.eq(self.stall_result + 1)
            with m.Else():
                m.d.sync += self.stall_row.eq(self.stall_row + 1)
        return m
