"""Command arbiter of the PIM controller: timing gates, fixed priority and the command slots."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..util import index_width
from .gate import TimingGate
from .interfaces import activate_port, mac_port, precharge_port, refresh_port, wrgb_port
from .isa import Cmd, cmd_layout

__all__ = ["CommandArbiter"]

#: Command sources, highest priority first.
PRIORITY = ("mac", "pre", "act", "ref", "wrgb")


class CommandArbiter(wiring.Component):
    """Decides each cycle's command and drives every channel's registered command slot.

    Each channel has a :class:`~accelgen.hdl.pim.gate.TimingGate` (submodule ``gate_<c>``).
    For every source the arbiter answers ``ok`` when the gates of the enabled channels (of
    every channel for REF) allow the source's command at its row buffer / slot. Of the
    sources that request, the first in :data:`PRIORITY` order (MAC unit, precharge unit,
    activate unit, refresh engine, vector loader) is granted; its command goes into the slot
    of every enabled channel (REF: every channel) in the next cycle, and into the gates.
    Bank group and bank are unused (all-bank commands only) and stay 0.

    Split-K (``reduce``): each channel's WRGB carries its own lane of the vector word, the
    lane of its rank.

    Members
    -------
    mask : In(channels)
        Enabled channels.
    rank : In(ArrayLayout(channels))
        Each channel's rank among the enabled ones (split-K only).
    mac, pre, act, ref, wrgb : In(command ports)
        The sources (:mod:`accelgen.hdl.pim.interfaces`).
    cmd : Out(ArrayLayout(cmd_layout, channels))
        Each channel's command slot (registered).
    mac_row_ok : Out(1)
        The MAC unit's MACAB is allowed by the row rules alone (stall classification).
    """

    def __init__(self, config, layout, *, reduce: bool = False, width: int):
        self._config = config
        self._layout = layout
        self._reduce = reduce
        C = layout.channels
        super().__init__({
            "mask": In(C),
            "rank": In(data.ArrayLayout(index_width(C), C)),
            "mac": In(mac_port(config)),
            "pre": In(precharge_port()),
            "act": In(activate_port(config)),
            "ref": In(refresh_port()),
            "wrgb": In(wrgb_port(config, width)),
            "cmd": Out(data.ArrayLayout(cmd_layout(layout), C)),
            "mac_row_ok": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        gates = []
        for ch in range(self._layout.channels):
            gate = TimingGate(self._config)
            m.submodules[f"gate_{ch}"] = gate
            gates.append(gate)
        self._answer(m, gates)
        dec, dec_all, fire_wrgb = self._decide(m)
        self._drive_slots(m, gates, dec, dec_all, fire_wrgb)
        return m

    def _answer(self, m, gates):
        """Each source's timing answer."""
        mac, wrgb = self.mac, self.wrgb
        m.d.comb += [
            mac.ok.eq(self._ok_variant(gates, Cmd.MACAB, mac.rbuf, mac.slot)),
            mac.ok_read.eq(self._ok_variant(gates, Cmd.RDMAC)),
            self.pre.ok.eq(self._ok_variant(gates, Cmd.PREA, self.pre.rbuf)),
            self.act.ok.eq(self._ok_variant(gates, Cmd.ACTAB, self.act.rbuf)),
            self.ref.ok.eq(self._ok_variant(gates, Cmd.REF)),
            wrgb.ok.eq(self._ok_variant(gates, Cmd.WRGB, slot=wrgb.slot)),
            self.mac_row_ok.eq(self._ok_variant(gates, Cmd.MACAB, mac.rbuf, mac.slot, row_only=True)),
        ]

    def _gate_ok(self, gates, key, every_channel=False, row_only=False):
        """All enabled channels' (all channels') gates allow variant ``key``."""
        terms = []
        for ch, gate in enumerate(gates):
            ok = getattr(gate, ("okrow_" if row_only else "ok_") + key)
            terms.append(ok if every_channel else (ok | ~self.mask[ch]))
        expr = terms[0]
        for term in terms[1:]:
            expr = expr & term
        return expr

    def _ok_variant(self, gates, cmd, rbuf=None, slot=None, row_only=False):
        """Gate answer for ``cmd`` with a run-time row buffer / slot."""
        dual, slots = self._config.dual_row_buffer, self._config.gb_slots
        name = cmd.name.lower()
        rb_values = range(2 if dual else 1) if cmd in (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA) else (None,)
        sl_values = range(slots) if cmd in (Cmd.MACAB, Cmd.WRGB) else (None,)
        options = []
        for r in rb_values:
            for s in sl_values:
                key = name + ("" if r is None else f"_r{r}") + ("" if s is None else f"_s{s}")
                conds = []
                if r is not None and dual:
                    conds.append(rbuf == r)
                if s is not None and slots > 1:
                    conds.append(slot == s)
                options.append((conds, self._gate_ok(gates, key, every_channel=(cmd == Cmd.REF),
                                                     row_only=row_only)))
        result = options[-1][1]
        for conds, ok in reversed(options[:-1]):
            cond = conds[0]
            for extra in conds[1:]:
                cond = cond & extra
            result = Mux(cond, ok, result)
        return result

    def _decide(self, m):
        """Fixed priority; the decided command (``dec``, to every enabled channel or, with
        ``dec_all``, to every channel)."""
        mac, pre, act, ref, wrgb = (getattr(self, name) for name in PRIORITY)
        fire_mac = mac.req
        fire_pre = ~fire_mac & pre.req
        fire_act = ~fire_mac & ~fire_pre & act.req
        fire_ref = ~fire_mac & ~fire_pre & ~fire_act & ref.req
        fire_wrgb = ~fire_mac & ~fire_pre & ~fire_act & ~fire_ref & wrgb.req
        m.d.comb += [mac.grant.eq(fire_mac), pre.grant.eq(fire_pre), act.grant.eq(fire_act),
                     ref.grant.eq(fire_ref), wrgb.grant.eq(fire_wrgb)]

        dec = Signal(data.StructLayout({name: field.shape for name, field in cmd_layout(self._layout)
                                        if name not in ("bg", "bank")}))
        dec_all = Signal()    # REF goes to every channel, other commands to the enabled ones
        m.d.comb += dec.as_value().eq(0)
        with m.If(fire_mac):
            m.d.comb += [dec.cmd.eq(mac.cmd), dec.acc.eq(mac.acc)]
            with m.If(mac.column):
                m.d.comb += [dec.col.eq(mac.col), dec.slot.eq(mac.slot), dec.rbuf.eq(mac.rbuf)]
        with m.Elif(fire_pre):
            m.d.comb += [dec.cmd.eq(Cmd.PREA), dec.rbuf.eq(pre.rbuf)]
        with m.Elif(fire_act):
            m.d.comb += [dec.cmd.eq(Cmd.ACTAB), dec.row.eq(act.row), dec.rbuf.eq(act.rbuf)]
        with m.Elif(fire_ref):
            m.d.comb += [dec.cmd.eq(Cmd.REF), dec_all.eq(1)]
        with m.Elif(fire_wrgb):
            m.d.comb += [dec.cmd.eq(Cmd.WRGB), dec.col.eq(wrgb.col), dec.slot.eq(wrgb.slot),
                         dec.data.eq(wrgb.data if not self._reduce else 0)]
        return dec, dec_all, fire_wrgb

    def _drive_slots(self, m, gates, dec, dec_all, fire_wrgb):
        """Every channel's gate inputs and registered slot."""
        C = self._layout.channels
        col_bits = self._config.col_bytes * 8
        for ch, gate in enumerate(gates):
            enabled = self.mask[ch] | dec_all
            m.d.comb += [
                gate.issue_cmd.eq(Mux(enabled, dec.cmd, Cmd.NOP)),
                gate.issue_rbuf.eq(dec.rbuf),
                gate.issue_slot.eq(dec.slot),
            ]
            slot = self.cmd[ch]
            for name in ("cmd", "row", "col", "acc", "slot", "rbuf", "data"):
                m.d.sync += getattr(slot, name).eq(Mux(enabled, getattr(dec, name), 0))
            if self._reduce:
                # Each channel's global buffer gets its own K slice: the lane of its rank.
                lane = Signal(col_bits, name=f"wrgb_lane_{ch}")
                with m.Switch(self.rank[ch]):
                    for r in range(C):
                        with (m.Case(r) if r < C - 1 else m.Default()):
                            m.d.comb += lane.eq(self.wrgb.data[r * col_bits:(r + 1) * col_bits])
                m.d.sync += slot.data.eq(Mux(enabled & fire_wrgb, lane, 0))
            m.d.sync += [slot.bg.eq(0), slot.bank.eq(0)]
