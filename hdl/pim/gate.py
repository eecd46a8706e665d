"""Per-channel DRAM timing gate, generated at elaboration from the declarative timing table.

For every row of :data:`~accelgen.hdl.pim.timing.TIMING_TABLE` that spaces two commands the
gate's user can issue, and for every instance of its scope (row buffer, global-buffer slot,
or the whole channel), the gate holds one down-counter: a command in the row's ``earlier``
set that touches the instance loads it with ``delay - 1``; a command in ``later`` touching
the instance is allowed when it is zero. Rows with a delay of at most one cycle need no
counter (one command per cycle anyway). The four-activate window becomes a ring of
``4 // faw_weight_actab`` down-counters holding the age of the most recent ACTABs.

So different timing tables produce different hardware: the counter set, their widths and the
comparisons all come from the table and the configuration.

The gate's user decides in cycle ``n`` which command goes out in cycle ``n + 1`` (a
registered command slot). The counters update at the same edge as the slot register, so
"counter is zero while deciding" means "at least ``delay`` cycles between the two issue
cycles" exactly, as with a combinational slot.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .isa import Cmd
from .timing import TIMING_TABLE

__all__ = ["TimingGate", "GATE_COMMANDS", "ROW_RULES"]

#: The commands a PIM controller issues (all-bank or bus-only); the gate covers these.
GATE_COMMANDS = (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA, Cmd.WRGB, Cmd.RDMAC, Cmd.CLRMAC, Cmd.REF)

#: Rules about row opening/closing (stall classification: "row" vs "column/bus").
ROW_RULES = frozenset({"tRC", "tRAS", "tRP", "tRCD_MAC", "tRTP", "tRRD_L", "tRRD_S", "tRFC", "tFAW"})


class TimingGate(wiring.Component):
    """Timing gate of one channel.

    Parameters
    ----------
    config : PimConfig
        Organisation and timing (the delays built into the counters).
    rules : sequence of TimingRule
        The table (default: the full :data:`TIMING_TABLE`).

    Members
    -------
    issue_cmd : In(Cmd)
        Command decided this cycle for this channel (NOP when none).
    issue_rbuf : In(1)
        Its row buffer (ACTAB, MACAB, PREA).
    issue_slot : In(1)
        Its global-buffer slot (MACAB, WRGB).
    ok_<cmd>[_r<rbuf>][_s<slot>] : Out(1)
        The command would be legal if decided this cycle, for each command in
        :data:`GATE_COMMANDS` and each row buffer / slot it can address.
    okrow_<...> : Out(1)
        Same, counting only the row rules (:data:`ROW_RULES`); used to classify stalls.
    """

    def __init__(self, config, rules=TIMING_TABLE):
        self.config = config
        self.rules = tuple(rules)
        self.rbufs = 2 if config.dual_row_buffer else 1
        self.slots = config.gb_slots
        members = {"issue_cmd": In(Cmd), "issue_rbuf": In(1), "issue_slot": In(1)}
        for key in self.keys():
            members["ok_" + key] = Out(1)
            members["okrow_" + key] = Out(1)
        super().__init__(members)

    def variants(self):
        """``(key, cmd, rbuf, slot)`` for every command variant the gate answers for."""
        out = []
        for cmd in GATE_COMMANDS:
            rbufs = range(self.rbufs) if cmd in (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA) else (None,)
            slots = range(self.slots) if cmd in (Cmd.MACAB, Cmd.WRGB) else (None,)
            for r in rbufs:
                for s in slots:
                    key = cmd.name.lower() + ("" if r is None else f"_r{r}") + ("" if s is None else f"_s{s}")
                    out.append((key, cmd, r, s))
        return out

    def keys(self):
        """Names of the ``ok_*`` outputs."""
        return [key for key, _, _, _ in self.variants()]

    @staticmethod
    def _touches(scope, instance, cmd, rbuf, slot):
        """Whether command variant (cmd, rbuf, slot) touches scope instance ``instance``."""
        if scope == "channel":
            return True
        if scope in ("bank", "bank_group"):
            if cmd == Cmd.REF:
                return True  # every bank, both row buffers
            if cmd in (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA):
                return scope == "bank_group" or rbuf == instance
            return False  # WRGB, RDMAC, CLRMAC touch no bank
        if scope == "gb_slot":
            return cmd in (Cmd.MACAB, Cmd.WRGB) and slot == instance
        return False

    def _issued_touches(self, scope, instance, cmds):
        """Expression: the decided command is in ``cmds`` and touches scope instance ``instance``
        (``None`` if no command of ``cmds`` is a gate command)."""
        issued_rbuf = self.issue_rbuf if self.rbufs > 1 else 0
        issued_slot = self.issue_slot if self.slots > 1 else 0
        terms = []
        for cmd in cmds:
            if cmd not in GATE_COMMANDS:
                continue
            match = self.issue_cmd == cmd
            if scope == "bank" and cmd in (Cmd.ACTAB, Cmd.MACAB, Cmd.PREA) and self.rbufs > 1:
                match = match & (issued_rbuf == instance)
            if scope == "gb_slot":
                match = match & (issued_slot == instance) if self.slots > 1 else match
            terms.append(match)
        if not terms:
            return None
        expr = terms[0]
        for term in terms[1:]:
            expr = expr | term
        return expr

    def elaborate(self, platform):
        m = Module()
        c = self.config
        variants = self.variants()
        blockers = {key: [] for key, _, _, _ in variants}  # key -> [(is_row_rule, busy signal)]

        for rule in self.rules:
            if rule.scope == "window":
                continue
            delay = rule.delay(c)
            earlier = [cmd for cmd in rule.earlier if cmd in GATE_COMMANDS]
            later = [cmd for cmd in rule.later if cmd in GATE_COMMANDS]
            if delay <= 1 or not earlier or not later:
                continue
            instances = {"bank": range(self.rbufs), "gb_slot": range(self.slots)}.get(rule.scope, (0,))
            for instance in instances:
                trigger = self._issued_touches(rule.scope, instance, earlier)
                if trigger is None:
                    continue
                users = [key for key, cmd, r, s in variants
                         if cmd in later and self._touches(rule.scope, instance, cmd, r, s)]
                if not users:
                    continue
                count = Signal(range(delay), name=f"wait_{rule.name}_{rule.scope}{instance}")
                with m.If(trigger):
                    m.d.sync += count.eq(delay - 1)
                with m.Elif(count != 0):
                    m.d.sync += count.eq(count - 1)
                for key in users:
                    blockers[key].append((rule.name in ROW_RULES, count != 0))

        # Four-activate window: the n-th most recent ACTAB must be tFAW or more cycles ago.
        weight = c.faw_weight_actab
        if weight > 0 and c.tFAW > 1:
            depth = 4 // weight
            ages = [Signal(range(c.tFAW), name=f"faw_{i}") for i in range(depth)]
            activate = self.issue_cmd == Cmd.ACTAB
            with m.If(activate):
                m.d.sync += ages[0].eq(c.tFAW - 1)
                for i in range(1, depth):
                    m.d.sync += ages[i].eq(ages[i - 1] - (ages[i - 1] != 0))
            with m.Else():
                for age in ages:
                    with m.If(age != 0):
                        m.d.sync += age.eq(age - 1)
            for key, cmd, _, _ in variants:
                if cmd == Cmd.ACTAB:
                    blockers[key].append((True, ages[-1] != 0))

        for key in blockers:
            busy_all = [busy for _, busy in blockers[key]]
            busy_row = [busy for is_row, busy in blockers[key] if is_row]
            m.d.comb += [
                getattr(self, "ok_" + key).eq(~_any(busy_all) if busy_all else 1),
                getattr(self, "okrow_" + key).eq(~_any(busy_row) if busy_row else 1),
            ]
        return m


def _any(signals):
    if not signals:
        return 0
    expr = signals[0]
    for sig in signals[1:]:
        expr = expr | sig
    return expr
