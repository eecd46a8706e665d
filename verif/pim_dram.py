"""Behavioural model of one PIM-DRAM channel, with an independent timing and protocol checker.

The command set, field meanings and arithmetic are those of :mod:`accelgen.hdl.pim.isa`
(the contract between the controller and any memory model). This module is written against
that text and the timing *values* of a preset only: its timing rules are its own table
(:data:`RULES`), so a wrong rule in the controller's timing gates cannot hide behind the same
wrong rule here. Pure Python + numpy (no cocotb), so it is unit-testable and can be driven by a
cocotb testbench once per cycle per channel.

Usage::

    spec = ChannelSpec.from_params(config)           # organisation + timing values (PimConfig)
    model = PimChannelModel(spec, channel=c)         # raises TimingViolation on the first error
    model.write_row_elements(bank, row, elements)    # or store_gemv([models...], w)
    for cycle in range(n):
        ret = model.step(cycle, cmd)                 # cmd: Command, slot fields, packed int or None
        if ret is not None: drive rdata.valid=1, rdata.data=ret.data in this cycle
    model.finish(last_cycle)                         # refresh obligation up to the end
    model.violations                                 # list of Violation (with on_violation="record")

Timing rules (all "later command at least ``d`` cycles after earlier command",
``d = cycle(later) - cycle(earlier)``), by scope. A scope instance is touched by every command
that addresses it; all-bank commands (ACTAB, MACAB, PREA, REF) touch every bank and every bank
group. With ``dual_row_buffer`` the bank scope is one row buffer of a bank (``rbuf``), and REF
touches both.

========== ================ ========================== =================== ==============
rule       scope            earlier                    later               minimum delay
========== ================ ========================== =================== ==============
tRCD       bank             ACT, ACTAB                 RD                  tRCD
tRCDWR     bank             ACT, ACTAB                 WR                  tRCDWR
tRCD_MAC   bank             ACT, ACTAB                 MACAB               tRCD_MAC
tRAS       bank             ACT, ACTAB                 PRE, PREA           tRAS
tRC        bank             ACT, ACTAB                 ACT, ACTAB          tRC
tRP        bank             PRE, PREA                  ACT, ACTAB          tRP
tRTP       bank             RD, MACAB                  PRE, PREA           tRTP
tWR        bank             WR                         PRE, PREA           CWL + BL + tWR
tRP_REF    bank             PRE, PREA                  REF                 tRP
tRC_REF    bank             ACT, ACTAB                 REF                 tRC
tRRD_L     bank group       ACT, ACTAB                 ACT, ACTAB          tRRD_L
tCCD_L_RD  bank group       RD, MACAB                  RD, MACAB           tCCD_L
tCCD_L_WR  bank group       WR                         WR                  tCCD_L
tWTR_L     bank group       WR                         RD, MACAB           CWL + BL + tWTR_L
tRRD_S     channel          ACT, ACTAB                 ACT, ACTAB          tRRD_S
tFAW       channel          activations (window)       ACT, ACTAB          tFAW
tCCD_S_RD  channel          RD, RDMAC                  RD, RDMAC           tCCD_S
tCCD_S_WR  channel          WR, WRGB                   WR, WRGB            tCCD_S
BL_RD      channel          RD, RDMAC                  RD, RDMAC           BL (data bus)
BL_WR      channel          WR, WRGB                   WR, WRGB            BL (data bus)
tRTW       channel          RD, RDMAC                  WR, WRGB            tRTW
tWTR_S     channel          WR, WRGB                   RD, RDMAC           CWL + BL + tWTR_S
tCCD_MAC   channel          MACAB                      MACAB               tCCD_MAC
tRFC       channel          REF                        ACT, ACTAB, REF     tRFC
tGB        GB slot          WRGB                       MACAB               CWL + BL
========== ================ ========================== =================== ==============

tFAW: an activation at cycle ``t`` of weight ``w`` (ACT: 1, ACTAB: ``faw_weight_actab``, 0 =
exempt) is legal when the weights of the activations in the window ``(t - tFAW, t]``, its own
included, sum to at most 4. The reported delay is ``t`` minus the cycle of the activation that
must leave the window first.

State (protocol) rules, reported with ``required = actual = 0``:

- ``state_act_open``: ACT to an open bank (buffer); ACTAB when any bank (buffer) is open.
- ``state_closed``: RD, WR or MACAB to a closed bank (buffer).
- ``state_rows_differ``: MACAB while the banks have different rows open.
- ``state_wrong_row``: RD, WR or MACAB whose ``row`` field differs from the open row (only
  with ``check_row_field=True``: the ISA makes ``row`` a don't-care for column commands).
- ``state_ref_open``: REF while any bank (buffer) is open.
- ``state_gb_busy``: WRGB to global-buffer slot ``s`` while a row buffer that a MACAB has read
  with ``slot == s`` since it was opened is still open (the slot is read-locked by the row
  pass until the PRE/PREA that closes it).
- ``state_field``: a field out of range (bank group, bank, row, column, accumulator, GB slot,
  row buffer), or an unknown command.
- ``command_bus``: two commands in one cycle (cycles must increase).
- ``refresh_starvation``: with refresh enabled, at the end of every cycle ``t`` at least
  ``floor((t + 1) / tREFI) - refresh_postpone`` REFs must have been issued since cycle 0. The
  violation is reported at the first cycle where this fails (also when that cycle was not
  stepped: the check runs on every call and in :meth:`TimingChecker.finish`).

Every violation is a :class:`Violation` (cycle, command, rule, required, actual); with
``on_violation="raise"`` (default) the first one raises :class:`TimingViolation`, with
``"record"`` they accumulate in :attr:`TimingChecker.violations`.

Data semantics (see :mod:`accelgen.hdl.pim.isa`): DRAM rows are byte arrays (unwritten rows
read as zero); elements are little-endian, element ``j`` of a column at bits
``[j*elem_bits, (j+1)*elem_bits)``. MACAB on column ``c`` adds, for every bank ``b``, the dot
product of the open row's column ``c`` with column ``c`` of global-buffer slot ``slot`` into
accumulator ``acc``: int8 exactly, wrapped to ``acc_bits`` two's complement; bf16 products
exact in binary32, added to the binary32 accumulator one lane at a time in lane order with
round-to-nearest-even. RD and RDMAC return their data ``CL`` cycles after issue, valid in that
cycle only (one :class:`ReadReturn`); RDMAC takes the accumulator value at its issue cycle.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

__all__ = [
    "OPS",
    "ChannelSpec",
    "Command",
    "Rule",
    "RULES",
    "TIMING_RULE_NAMES",
    "STATE_RULE_NAMES",
    "op_name",
    "slot_field_widths",
    "Violation",
    "TimingViolation",
    "TimingChecker",
    "ReadReturn",
    "PimChannelModel",
    "bf16_to_float32",
    "float32_to_bf16_bits",
    "issue_asap",
    "gemv_rows",
    "store_gemv",
    "gemv_program",
]

#: Command names in the order of the ISA's ``Cmd`` enum values (``OPS[int(cmd)]``).
OPS = ("NOP", "ACT", "PRE", "PREA", "RD", "WR", "REF", "ACTAB", "MACAB", "WRGB", "RDMAC", "CLRMAC")

#: Commands that address every bank.
ALL_BANK_OPS = frozenset({"PREA", "REF", "ACTAB", "MACAB"})
_SINGLE_BANK_OPS = frozenset({"ACT", "PRE", "RD", "WR"})
_ACTIVATES = frozenset({"ACT", "ACTAB"})


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChannelSpec:
    """Organisation and timing of one PIM-DRAM channel (timing in command-clock cycles).

    Build it from the controller's parameters with :meth:`from_params` so that the model and
    the controller use the same *values*; the rules applied to them are this module's own.
    """

    bank_groups: int = 4
    banks_per_group: int = 4
    rows: int = 1 << 14
    row_bytes: int = 2048
    col_bytes: int = 32
    elem_bits: int = 8          #: 8 = int8, 16 = bf16
    acc_bits: int = 32
    n_acc: int = 1              #: accumulators per bank
    gb_slots: int = 1           #: global-buffer slots (each one row of vector elements)
    dual_row_buffer: bool = False
    tRCD: int = 36              #: ACT -> RD
    tRCDWR: int = 28            #: ACT -> WR
    tRCD_MAC: int = 56          #: ACT -> MACAB
    tRP: int = 32
    tRAS: int = 54
    tRC: int = 89
    tRTP: int = 12
    tWR: int = 33
    tCCD_S: int = 2
    tCCD_L: int = 2
    tCCD_MAC: int = 2           #: MACAB -> MACAB (power throttling may make it > tCCD_L)
    tRRD_S: int = 11
    tRRD_L: int = 11
    tFAW: int = 42
    faw_weight_actab: int = 0   #: weight of ACTAB in the four-activate window (0..4)
    tWTR_S: int = 9
    tWTR_L: int = 11
    tRTW: int = 14
    CL: int = 24
    CWL: int = 6
    BL: int = 2
    tREFI: int = 3333
    tRFC: int = 210
    refresh_postpone: int = 0   #: REFs that may be postponed
    refresh: bool = True        #: refresh obligation checked

    #: Attribute names tried, in order, for each field by :meth:`from_params`.
    ALIASES = {
        "tRCD": ("tRCD", "tRCD_RD", "tRCDRD"),
        "tRCDWR": ("tRCDWR", "tRCD_WR", "tRCD"),
        "tCCD_MAC": ("tCCD_MAC", "tCCD_AB", "tCCD_L"),
        "refresh_postpone": ("refresh_postpone", "refresh_postpone_max"),
        "n_acc": ("n_acc", "n_acc_per_bank"),
    }

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (not isinstance(value, (int, np.integer)) or value < 0):
                raise ValueError(f"{f.name}={value!r} must be a non-negative integer")
        for name in ("bank_groups", "banks_per_group", "rows", "row_bytes", "col_bytes",
                     "n_acc", "gb_slots", "CL", "BL", "tREFI"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be at least 1")
        if self.elem_bits not in (8, 16):
            raise ValueError(f"elem_bits={self.elem_bits} must be 8 (int8) or 16 (bf16)")
        if self.row_bytes % self.col_bytes:
            raise ValueError(f"row_bytes={self.row_bytes} must be a multiple of col_bytes={self.col_bytes}")
        if (self.col_bytes * 8) % self.elem_bits:
            raise ValueError(f"col_bytes={self.col_bytes} must hold whole {self.elem_bits}-bit elements")
        if not 0 <= self.faw_weight_actab <= 4:
            raise ValueError(f"faw_weight_actab={self.faw_weight_actab} must be in 0..4")
        if self.elem_bits == 16 and self.acc_bits != 32:
            raise ValueError(f"acc_bits={self.acc_bits} must be 32 for bf16 (binary32 accumulators)")

    @classmethod
    def from_params(cls, params, **overrides) -> "ChannelSpec":
        """Spec from any object (or mapping) with organisation and timing attributes.

        ``params`` may also have a ``config()`` method returning that object. Each field is
        looked up under the names in :attr:`ALIASES` (default: its own name);
        ``refresh`` is also derived from a ``refresh_mode`` attribute ("off" disables it) and a
        ``timing`` attribute (object or mapping) is searched too. Fields not found keep their
        default except the timing values, which must be present. ``overrides`` win.
        """
        config = getattr(params, "config", None)
        if callable(config):          # a generator's parameters that build their PimConfig
            params = config()
        sources = [params]
        timing = _get(params, "timing")
        if timing is not None:
            sources.append(timing)
        values = {}
        for f in dataclasses.fields(cls):
            for name in cls.ALIASES.get(f.name, (f.name,)):
                found = [v for v in (_get(src, name) for src in sources) if v is not None]
                if found:
                    values[f.name] = found[0]
                    break
        mode = _get(params, "refresh_mode")
        if mode is None and timing is not None:
            mode = _get(timing, "refresh_mode")
        if mode is not None and "refresh" not in values:
            values["refresh"] = str(getattr(mode, "value", mode)).lower() not in ("off", "none", "0", "false")
        if isinstance(values.get("refresh"), str):
            values["refresh"] = values["refresh"].lower() not in ("off", "none", "0", "false")
        required = ("tRCD", "tRCD_MAC", "tRP", "tRAS", "tRC", "tRTP", "tCCD_L", "CL", "BL")
        missing = [name for name in required if name not in values and name not in overrides]
        if missing:
            raise ValueError(f"timing values {missing} not found in {type(params).__name__}")
        values.update(overrides)
        for key, value in list(values.items()):
            if isinstance(value, (bool, np.bool_)):
                values[key] = bool(value)
            elif isinstance(value, (int, np.integer)):
                values[key] = int(value)
        return cls(**values)

    @property
    def banks(self) -> int:
        """Banks in the channel."""
        return self.bank_groups * self.banks_per_group

    @property
    def columns(self) -> int:
        """Columns in a row."""
        return self.row_bytes // self.col_bytes

    @property
    def lanes(self) -> int:
        """Elements in a column (multipliers per bank)."""
        return self.col_bytes * 8 // self.elem_bits

    @property
    def row_elems(self) -> int:
        """Elements in a row."""
        return self.row_bytes * 8 // self.elem_bits

    @property
    def rbufs(self) -> int:
        """Row buffers per bank."""
        return 2 if self.dual_row_buffer else 1

    @property
    def mac_spacing(self) -> int:
        """Minimum MACAB -> MACAB spacing allowed by the table."""
        return max(self.tCCD_L, self.tCCD_MAC)


def _get(obj, name):
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    """One command slot. ``op`` is a name of :data:`OPS`; unused fields are don't-care."""

    op: str = "NOP"
    bg: int = 0
    bank: int = 0
    row: int = 0
    col: int = 0
    acc: int = 0
    slot: int = 0
    rbuf: int = 0
    data: int = 0

    @classmethod
    def of(cls, value, spec: ChannelSpec | None = None) -> "Command":
        """Command from a :class:`Command`, a mapping or an object with the slot fields (``cmd``
        or ``op`` plus ``bg``, ``bank``, ...; values anything ``int()`` accepts), an ISA ``Cmd``
        member, a name, or ``None`` (NOP).

        A packed slot integer needs ``spec`` (fields in :func:`accelgen.hdl.pim.isa.cmd_layout`
        order, ``cmd`` in the least significant bits).
        """
        if value is None:
            return cls()
        if isinstance(value, Command):
            return value
        if isinstance(value, Mapping):
            fields = {k: value[k] for k in ("bg", "bank", "row", "col", "acc", "slot", "rbuf", "data") if k in value}
            op = value.get("op", value.get("cmd", "NOP"))
            return cls(op=op_name(op), **{k: int(v) for k, v in fields.items()})
        if isinstance(value, str):
            return cls(op=op_name(value))
        if hasattr(value, "cmd") and hasattr(value, "bg"):   # an object with the slot's fields
            names = ("cmd", "bg", "bank", "row", "col", "acc", "slot", "rbuf", "data")
            return cls.of({n: getattr(value, n) for n in names if hasattr(value, n)}, spec)
        if isinstance(value, enum.Enum):
            return cls(op=op_name(value))
        if isinstance(value, (int, np.integer)):
            if spec is None:
                raise ValueError("a packed command slot needs the ChannelSpec to unpack it")
            return cls.unpack(int(value), spec)
        raise TypeError(f"cannot make a command of {value!r}")

    @classmethod
    def unpack(cls, value: int, spec: ChannelSpec) -> "Command":
        """Unpack a command slot integer (field order and widths of the ISA's ``cmd_layout``)."""
        fields = {}
        for name, width in slot_field_widths(spec).items():
            fields[name] = value & ((1 << width) - 1)
            value >>= width
        op = fields.pop("cmd")
        return cls(op=op_name(op), **fields)

    def __str__(self):
        if self.op in ("NOP", "PREA", "REF"):
            return self.op
        if self.op in ("ACT", "PRE", "RD", "WR"):
            extra = f" row={self.row}" if self.op == "ACT" else f" col={self.col}" if self.op != "PRE" else ""
            return f"{self.op}(bg={self.bg} bank={self.bank}{extra} rbuf={self.rbuf})"
        if self.op == "ACTAB":
            return f"ACTAB(row={self.row} rbuf={self.rbuf})"
        if self.op == "MACAB":
            return f"MACAB(col={self.col} acc={self.acc} slot={self.slot} rbuf={self.rbuf})"
        if self.op == "WRGB":
            return f"WRGB(col={self.col} slot={self.slot})"
        return f"{self.op}(acc={self.acc})"


def op_name(op) -> str:
    """Canonical command name of ``op`` (ISA enum member, its value, or a name)."""
    if isinstance(op, str):
        name = op.upper()
    elif isinstance(op, enum.Enum):
        name = op.name.upper()
    elif isinstance(op, (int, np.integer)):
        if not 0 <= int(op) < len(OPS):
            return f"UNKNOWN{int(op)}"
        name = OPS[int(op)]
    else:
        try:
            return op_name(int(op))   # e.g. a simulator's logic value
        except (TypeError, ValueError):
            raise TypeError(f"not a command: {op!r}") from None
    return name if name in OPS else f"UNKNOWN({name})"


def slot_field_widths(spec: ChannelSpec) -> dict:
    """Widths of the command-slot fields (the ISA's ``field_widths``), in slot order."""
    def bits(count):
        return max(1, (count - 1).bit_length())
    return {
        "cmd": 4,
        "bg": bits(spec.bank_groups),
        "bank": bits(spec.banks_per_group),
        "row": bits(spec.rows),
        "col": bits(spec.columns),
        "acc": bits(spec.n_acc),
        "slot": bits(spec.gb_slots),
        "rbuf": 1,
        "data": spec.col_bytes * 8,
    }


# --------------------------------------------------------------------------------------------
# Timing table
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """Minimum delay from any ``earlier`` to any ``later`` command in the same ``scope``
    instance ("bank", "bankgroup", "channel" or "gbslot")."""

    name: str
    scope: str
    earlier: frozenset
    later: frozenset
    delay: Callable[[ChannelSpec], int]
    doc: str


def _rule(name, scope, earlier, later, delay, doc):
    return Rule(name, scope, frozenset(earlier.split()), frozenset(later.split()), delay, doc)


#: The checker's own timing table (see the module docstring).
RULES = (
    _rule("tRCD", "bank", "ACT ACTAB", "RD", lambda s: s.tRCD, "activate to read"),
    _rule("tRCDWR", "bank", "ACT ACTAB", "WR", lambda s: s.tRCDWR, "activate to write"),
    _rule("tRCD_MAC", "bank", "ACT ACTAB", "MACAB", lambda s: s.tRCD_MAC, "activate to all-bank MAC"),
    _rule("tRAS", "bank", "ACT ACTAB", "PRE PREA", lambda s: s.tRAS, "activate to precharge"),
    _rule("tRC", "bank", "ACT ACTAB", "ACT ACTAB", lambda s: s.tRC, "activate to activate, same bank"),
    _rule("tRP", "bank", "PRE PREA", "ACT ACTAB", lambda s: s.tRP, "precharge to activate"),
    _rule("tRTP", "bank", "RD MACAB", "PRE PREA", lambda s: s.tRTP, "read/MAC to precharge"),
    _rule("tWR", "bank", "WR", "PRE PREA", lambda s: s.CWL + s.BL + s.tWR, "write recovery (from CWL + BL)"),
    _rule("tRP_REF", "bank", "PRE PREA", "REF", lambda s: s.tRP, "precharge to refresh"),
    _rule("tRC_REF", "bank", "ACT ACTAB", "REF", lambda s: s.tRC, "activate to refresh"),
    _rule("tRRD_L", "bankgroup", "ACT ACTAB", "ACT ACTAB", lambda s: s.tRRD_L, "activate to activate, same bank group"),
    _rule("tCCD_L_RD", "bankgroup", "RD MACAB", "RD MACAB", lambda s: s.tCCD_L, "column read to read, same bank group"),
    _rule("tCCD_L_WR", "bankgroup", "WR", "WR", lambda s: s.tCCD_L, "column write to write, same bank group"),
    _rule("tWTR_L", "bankgroup", "WR", "RD MACAB", lambda s: s.CWL + s.BL + s.tWTR_L, "write to read, same bank group"),
    _rule("tRRD_S", "channel", "ACT ACTAB", "ACT ACTAB", lambda s: s.tRRD_S, "activate to activate"),
    _rule("tCCD_S_RD", "channel", "RD RDMAC", "RD RDMAC", lambda s: s.tCCD_S, "column read to read"),
    _rule("tCCD_S_WR", "channel", "WR WRGB", "WR WRGB", lambda s: s.tCCD_S, "column write to write"),
    _rule("BL_RD", "channel", "RD RDMAC", "RD RDMAC", lambda s: s.BL, "read data bursts do not overlap"),
    _rule("BL_WR", "channel", "WR WRGB", "WR WRGB", lambda s: s.BL, "write data bursts do not overlap"),
    _rule("tRTW", "channel", "RD RDMAC", "WR WRGB", lambda s: s.tRTW, "read to write bus turnaround"),
    _rule("tWTR_S", "channel", "WR WRGB", "RD RDMAC", lambda s: s.CWL + s.BL + s.tWTR_S, "write to read bus turnaround"),
    _rule("tCCD_MAC", "channel", "MACAB", "MACAB", lambda s: s.tCCD_MAC, "all-bank MAC power throttling"),
    _rule("tRFC", "channel", "REF", "ACT ACTAB REF", lambda s: s.tRFC, "refresh cycle time"),
    _rule("tGB", "gbslot", "WRGB", "MACAB", lambda s: s.CWL + s.BL, "global-buffer write lands before a MAC reads the slot"),
)

#: Names of all rules the checker can report: timing rules, tFAW, state rules.
TIMING_RULE_NAMES = tuple(r.name for r in RULES) + ("tFAW",)
STATE_RULE_NAMES = ("state_act_open", "state_closed", "state_rows_differ", "state_wrong_row",
                    "state_ref_open", "state_gb_busy", "state_field", "command_bus", "refresh_starvation")


@dataclass(frozen=True)
class Violation:
    """One broken rule: at ``cycle``, ``command`` needed ``required`` cycles after an earlier
    command (``actual`` were given); state rules have ``required = actual = 0``."""

    cycle: int
    command: str
    rule: str
    required: int
    actual: int
    detail: str = ""
    channel: int = 0

    def __str__(self):
        delay = f": required {self.required}, actual {self.actual}" if (self.required or self.actual) else ""
        extra = f" ({self.detail})" if self.detail else ""
        return f"channel {self.channel} cycle {self.cycle}: {self.command} violates {self.rule}{delay}{extra}"


class TimingViolation(AssertionError):
    """Raised on the first violation when the checker runs with ``on_violation="raise"``."""

    def __init__(self, violation: Violation):
        super().__init__(str(violation))
        self.violation = violation


class TimingChecker:
    """Independent timing and protocol checker of one channel.

    ``check(cycle, cmd)`` validates a command issued at ``cycle`` against the history, then
    records it (and counts, in :attr:`tight`, the rules it meets with zero slack); ``earliest(cmd)`` is the first cycle at which the timing rules (not the state
    rules) allow ``cmd``; ``finish(cycle)`` checks the refresh obligation up to the end of
    ``cycle``. Violations go to :attr:`violations` and, with ``on_violation="raise"``, the
    first raises :class:`TimingViolation`.
    """

    def __init__(self, spec: ChannelSpec, *, on_violation: str = "raise", check_row_field: bool = False,
                 channel: int = 0):
        if on_violation not in ("raise", "record"):
            raise ValueError(f"on_violation={on_violation!r} must be 'raise' or 'record'")
        self.spec = spec
        self.on_violation = on_violation
        self.check_row_field = check_row_field
        self.channel = channel
        self.violations: list[Violation] = []
        self.rules = [r for r in RULES if r.delay(spec) > 0]
        self._delays = {r.name: r.delay(spec) for r in self.rules}
        # last[(scope, instance)][op] = cycle of the latest `op` touching that instance
        self._last: dict = {}
        self._activations: list[tuple[int, int]] = []   # (cycle, weight) for tFAW
        self.open_rows = [[None] * spec.rbufs for _ in range(spec.banks)]
        # gb_locks[bank][rbuf] = GB slots a MACAB read through that open buffer
        self.gb_locks = [[set() for _ in range(spec.rbufs)] for _ in range(spec.banks)]
        self.refreshes = 0
        #: rule name -> commands issued exactly at that rule's minimum delay. A rule that is
        #: never tight cannot tell a controller with that delay one cycle shorter apart.
        self.tight: dict[str, int] = {}
        self.last_cycle = -1
        self.commands = 0
        self._starvation_reported = False

    # -- scopes --------------------------------------------------------------------------
    def _instances(self, cmd: Command):
        """(scope, instance) keys the command touches."""
        spec = self.spec
        op = cmd.op
        keys = [("channel", 0)]
        if op in _SINGLE_BANK_OPS:
            bank = cmd.bg * spec.banks_per_group + cmd.bank
            keys.append(("bank", (bank, cmd.rbuf)))
            keys.append(("bankgroup", cmd.bg))
        elif op in ALL_BANK_OPS:
            rbufs = range(spec.rbufs) if op == "REF" else (cmd.rbuf,)
            keys += [("bank", (b, r)) for b in range(spec.banks) for r in rbufs]
            keys += [("bankgroup", g) for g in range(spec.bank_groups)]
        if op in ("WRGB", "MACAB"):
            keys.append(("gbslot", cmd.slot))
        return keys

    def _timing_terms(self, cycle: int, cmd: Command):
        """Yield (rule, required, actual) for every timing rule that constrains ``cmd``."""
        keys = self._instances(cmd)
        for rule in self.rules:
            if cmd.op not in rule.later:
                continue
            latest = None
            for scope, inst in keys:
                if scope != rule.scope:
                    continue
                hist = self._last.get((scope, inst))
                if not hist:
                    continue
                for op in rule.earlier:
                    t = hist.get(op)
                    if t is not None and (latest is None or t > latest):
                        latest = t
            if latest is not None:
                yield rule.name, self._delays[rule.name], cycle - latest
        if cmd.op in _ACTIVATES and self.spec.tFAW > 0:
            weight = 1 if cmd.op == "ACT" else self.spec.faw_weight_actab
            if weight:
                total = weight
                for t, w in reversed(self._activations):
                    if cycle - t >= self.spec.tFAW:
                        break
                    total += w
                    if total > 4:
                        yield "tFAW", self.spec.tFAW, cycle - t
                        break

    def earliest(self, cmd, after: int = 0) -> tuple[int, str | None]:
        """Earliest cycle (not before ``after`` nor before the next free command slot) at which
        the timing rules allow ``cmd``, and the rule that binds (None if no rule does)."""
        cmd = Command.of(cmd, self.spec)
        best, binding = max(after, self.last_cycle + 1), None
        # Evaluate at cycle 0 offset: actual = -latest, so required - actual = cycle needed.
        for name, required, actual in self._timing_terms(0, cmd):
            if name == "tFAW":
                continue
            need = required - actual   # = latest + required
            if need > best:
                best, binding = need, name
        if cmd.op in _ACTIVATES and self.spec.tFAW > 0:
            # The window only moves forward: step to the first cycle where it is satisfied.
            while any(n == "tFAW" for n, _, _ in self._timing_terms(best, cmd)):
                best += 1
                binding = "tFAW"
        return best, binding

    # -- checking ------------------------------------------------------------------------
    def _report(self, cycle, cmd, rule, required=0, actual=0, detail=""):
        v = Violation(cycle, str(cmd), rule, required, actual, detail, self.channel)
        self.violations.append(v)
        if self.on_violation == "raise":
            raise TimingViolation(v)

    def _check_refresh(self, cycle: int, cmd_text: str):
        """Refresh obligation at the end of every cycle up to ``cycle``."""
        spec = self.spec
        if not spec.refresh or self._starvation_reported:
            return
        # First cycle t with floor((t + 1) / tREFI) - postpone > refreshes.
        first_bad = (self.refreshes + 1 + spec.refresh_postpone) * spec.tREFI - 1
        if first_bad <= cycle:
            self._starvation_reported = True
            self._report(first_bad, cmd_text if first_bad == cycle else "NOP", "refresh_starvation",
                         detail=f"{self.refreshes} REFs issued, "
                                f"{(first_bad + 1) // spec.tREFI - spec.refresh_postpone} due")

    def _check_fields(self, cycle, cmd) -> bool:
        spec = self.spec
        if cmd.op.startswith("UNKNOWN"):
            self._report(cycle, cmd, "state_field", detail=f"unknown command {cmd.op}")
            return False
        limits = {"bg": spec.bank_groups, "bank": spec.banks_per_group, "rbuf": spec.rbufs}
        uses = {
            "ACT": ("bg", "bank", "row", "rbuf"), "PRE": ("bg", "bank", "rbuf"), "PREA": ("rbuf",),
            "RD": ("bg", "bank", "col", "rbuf"), "WR": ("bg", "bank", "col", "rbuf"),
            "ACTAB": ("row", "rbuf"), "MACAB": ("col", "acc", "slot", "rbuf"),
            "WRGB": ("col", "slot"), "RDMAC": ("acc",), "CLRMAC": ("acc",),
        }.get(cmd.op, ())
        limits.update(row=spec.rows, col=spec.columns, acc=spec.n_acc, slot=spec.gb_slots)
        for name in uses:
            value = getattr(cmd, name)
            if not 0 <= value < limits[name]:
                self._report(cycle, cmd, "state_field", detail=f"{name}={value} outside 0..{limits[name] - 1}")
                return False
        return True

    def _check_state(self, cycle, cmd):
        spec = self.spec
        op = cmd.op
        if op in _SINGLE_BANK_OPS:
            bank = cmd.bg * spec.banks_per_group + cmd.bank
            open_row = self.open_rows[bank][cmd.rbuf]
            if op == "ACT" and open_row is not None:
                self._report(cycle, cmd, "state_act_open", detail=f"bank {bank} has row {open_row} open")
            elif op in ("RD", "WR"):
                if open_row is None:
                    self._report(cycle, cmd, "state_closed", detail=f"bank {bank} is closed")
                elif self.check_row_field and cmd.row != open_row:
                    self._report(cycle, cmd, "state_wrong_row", detail=f"bank {bank} has row {open_row} open")
        elif op == "ACTAB":
            opened = [b for b in range(spec.banks) if self.open_rows[b][cmd.rbuf] is not None]
            if opened:
                self._report(cycle, cmd, "state_act_open", detail=f"banks {opened} are open")
        elif op == "MACAB":
            rows = [self.open_rows[b][cmd.rbuf] for b in range(spec.banks)]
            closed = [b for b, r in enumerate(rows) if r is None]
            if closed:
                self._report(cycle, cmd, "state_closed", detail=f"banks {closed} are closed")
            elif len(set(rows)) > 1:
                self._report(cycle, cmd, "state_rows_differ", detail=f"open rows {rows}")
            elif self.check_row_field and rows[0] != cmd.row:
                self._report(cycle, cmd, "state_wrong_row", detail=f"row {rows[0]} is open")
        elif op == "REF":
            opened = [b for b in range(spec.banks) if any(r is not None for r in self.open_rows[b])]
            if opened:
                self._report(cycle, cmd, "state_ref_open", detail=f"banks {opened} are open")
        elif op == "WRGB":
            locked = [b for b in range(spec.banks) if any(cmd.slot in locks for locks in self.gb_locks[b])]
            if locked:
                self._report(cycle, cmd, "state_gb_busy",
                             detail=f"slot {cmd.slot} is read by the open row pass of banks {locked}")

    def check(self, cycle: int, cmd) -> list[Violation]:
        """Check ``cmd`` issued at ``cycle`` (NOP/None allowed), record it, return new violations."""
        cmd = Command.of(cmd, self.spec)
        first_new = len(self.violations)
        self._check_refresh(cycle - 1, "NOP")
        if cmd.op == "NOP":
            self._check_refresh(cycle, "NOP")
            return self.violations[first_new:]
        if cycle <= self.last_cycle:
            self._report(cycle, cmd, "command_bus", self.last_cycle + 1, cycle,
                         detail=f"previous command at cycle {self.last_cycle}")
        if self._check_fields(cycle, cmd):
            self._check_state(cycle, cmd)
            for name, required, actual in self._timing_terms(cycle, cmd):
                if actual < required:
                    self._report(cycle, cmd, name, required, actual)
                elif actual == required:
                    self.tight[name] = self.tight.get(name, 0) + 1
            self._record(cycle, cmd)
        self.last_cycle = max(self.last_cycle, cycle)
        self.commands += 1
        self._check_refresh(cycle, str(cmd))
        return self.violations[first_new:]

    def _record(self, cycle, cmd):
        spec = self.spec
        for key in self._instances(cmd):
            self._last.setdefault(key, {})[cmd.op] = cycle
        op = cmd.op
        if op in _ACTIVATES:
            weight = 1 if op == "ACT" else spec.faw_weight_actab
            if weight:
                self._activations.append((cycle, weight))
                del self._activations[:-8]
        bank = cmd.bg * spec.banks_per_group + cmd.bank
        if op in ("ACT", "PRE"):
            self.open_rows[bank][cmd.rbuf] = cmd.row if op == "ACT" else None
            self.gb_locks[bank][cmd.rbuf] = set()
        elif op in ("ACTAB", "PREA"):
            for b in range(spec.banks):
                self.open_rows[b][cmd.rbuf] = cmd.row if op == "ACTAB" else None
                self.gb_locks[b][cmd.rbuf] = set()
        elif op == "MACAB":
            for b in range(spec.banks):
                self.gb_locks[b][cmd.rbuf].add(cmd.slot)
        elif op == "REF":
            self.refreshes += 1

    def finish(self, cycle: int) -> list[Violation]:
        """Check the refresh obligation up to the end of ``cycle``; return all violations."""
        self._check_refresh(cycle, "NOP")
        return list(self.violations)


# --------------------------------------------------------------------------------------------
# Channel model
# --------------------------------------------------------------------------------------------

def bf16_to_float32(bits) -> np.ndarray:
    """bf16 bit patterns (uint16) as float32 values (exact)."""
    return (np.asarray(bits, dtype=np.uint32) << 16).view(np.float32)


def float32_to_bf16_bits(values) -> np.ndarray:
    """float32 values rounded to bf16 (nearest even) as uint16 bit patterns (NaN stays NaN)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = np.isnan(np.asarray(values, dtype=np.float32))
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16)


@dataclass(frozen=True)
class ReadReturn:
    """Read data due on ``rdata`` in cycle ``cycle`` (= issue cycle + CL).

    ``data`` is the packed ``rdata.data`` integer; ``values`` the same as numbers: the column's
    elements for RD (int8 values or bf16 bit patterns), the accumulators of banks ``0..banks-1``
    for RDMAC (int8 mode: signed integers; bf16 mode: binary32 bit patterns).
    """

    cycle: int
    op: str
    issued: int
    data: int
    values: np.ndarray
    bank: int = 0
    acc: int = 0


class PimChannelModel:
    """Behavioural model of one PIM-DRAM channel (see the module docstring).

    ``step(cycle, cmd)`` applies the command issued at ``cycle`` (after the checker has seen
    it) and returns the :class:`ReadReturn` due in ``cycle``, if any. ``checker`` is this
    channel's :class:`TimingChecker` (``check=False`` disables it, for data-only use).
    """

    def __init__(self, spec: ChannelSpec, *, check: bool = True, on_violation: str = "raise",
                 check_row_field: bool = False, channel: int = 0):
        self.spec = spec
        self.channel = channel
        self.checker = TimingChecker(spec, on_violation=on_violation, check_row_field=check_row_field,
                                     channel=channel) if check else None
        self.rows: dict[tuple[int, int], np.ndarray] = {}
        self.gb = np.zeros((spec.gb_slots, spec.row_bytes), dtype=np.uint8)
        if spec.elem_bits == 8:
            self.acc = np.zeros((spec.banks, spec.n_acc), dtype=np.int64)
        else:
            self.acc = np.zeros((spec.banks, spec.n_acc), dtype=np.float32)
        self.open_rows = [[None] * spec.rbufs for _ in range(spec.banks)]
        self._pending: dict[int, ReadReturn] = {}
        self.counts = {op: 0 for op in OPS}
        self.trace: list[tuple[int, Command]] = []
        self.keep_trace = False

    @classmethod
    def from_params(cls, params, **kwargs) -> "PimChannelModel":
        """Model of one channel of a controller configured with ``params`` (for example the
        ``PimConfig`` of a preset); ``kwargs`` go to the constructor."""
        return cls(ChannelSpec.from_params(params), **kwargs)

    @property
    def violations(self) -> list[Violation]:
        """The checker's violations so far (empty without a checker)."""
        return [] if self.checker is None else self.checker.violations

    # -- array contents ------------------------------------------------------------------
    def row_data(self, bank: int, row: int) -> np.ndarray:
        """The bytes of ``row`` of flat bank ``bank`` (a live view; zeros if never written)."""
        key = (bank, row)
        if key not in self.rows:
            self.rows[key] = np.zeros(self.spec.row_bytes, dtype=np.uint8)
        return self.rows[key]

    def write_row(self, bank: int, row: int, data, offset: int = 0):
        """Write bytes (or elements, see :meth:`elements_to_bytes`) into a row at byte ``offset``."""
        data = np.asarray(data, dtype=np.uint8).ravel()
        if offset < 0 or offset + data.size > self.spec.row_bytes:
            raise ValueError(f"{data.size} bytes at offset {offset} do not fit a {self.spec.row_bytes}-byte row")
        self.row_data(bank, row)[offset:offset + data.size] = data

    def write_row_elements(self, bank: int, row: int, elements, first: int = 0):
        """Write elements (int8 values, or bf16 bit patterns) from element index ``first``."""
        data = self.elements_to_bytes(elements)
        self.write_row(bank, row, data, first * self.spec.elem_bits // 8)

    def row_elements(self, bank: int, row: int) -> np.ndarray:
        """A row as elements (int8 values or bf16 bit patterns)."""
        return self.bytes_to_elements(self.row_data(bank, row))

    def elements_to_bytes(self, elements) -> np.ndarray:
        """Little-endian bytes of int8 values or bf16 bit patterns."""
        elements = np.asarray(elements)
        if self.spec.elem_bits == 8:
            if elements.size and (elements.min() < -128 or elements.max() > 127):
                raise ValueError("int8 elements must be in -128..127")
            return elements.astype(np.int8).view(np.uint8)
        return elements.astype("<u2").view(np.uint8)

    def bytes_to_elements(self, data) -> np.ndarray:
        """Inverse of :meth:`elements_to_bytes`."""
        data = np.ascontiguousarray(data, dtype=np.uint8)
        return data.view(np.int8).astype(np.int64) if self.spec.elem_bits == 8 else data.view("<u2").astype(np.int64)

    def column_word(self, elements) -> int:
        """A column (``lanes`` elements) as the integer of the slot's ``data`` field."""
        return int.from_bytes(self.elements_to_bytes(elements).tobytes(), "little")

    def _word_bytes(self, word: int) -> np.ndarray:
        return np.frombuffer(int(word).to_bytes(self.spec.col_bytes, "little"), dtype=np.uint8)

    # -- simulation ----------------------------------------------------------------------
    def step(self, cycle: int, cmd=None) -> ReadReturn | None:
        """Apply the command issued at ``cycle``; return the read data due in ``cycle``."""
        cmd = Command.of(cmd, self.spec)
        if self.checker is not None:
            self.checker.check(cycle, cmd)
        if cmd.op != "NOP":
            self._apply(cycle, cmd)
        return self._pending.pop(cycle, None)

    def run(self, commands: Iterable[tuple[int, object]], until: int | None = None) -> list[ReadReturn]:
        """Step through ``(cycle, cmd)`` pairs (only the listed cycles) and collect every read
        return up to ``until`` (default: the last return). Convenience for unit tests."""
        returns = []
        last = -1
        for cycle, cmd in commands:
            returns += self.pop_returns(cycle - 1)
            ret = self.step(cycle, cmd)
            if ret is not None:
                returns.append(ret)
            last = cycle
        end = until if until is not None else max([last] + list(self._pending))
        returns += self.pop_returns(end)
        if self.checker is not None:
            self.checker.finish(end)
        return returns

    def pop_returns(self, upto: int) -> list[ReadReturn]:
        """Read returns due at or before ``upto`` that were not handed out by :meth:`step`."""
        due = sorted(c for c in self._pending if c <= upto)
        return [self._pending.pop(c) for c in due]

    def finish(self, cycle: int) -> list[Violation]:
        """End of simulation at ``cycle``: checks the refresh obligation up to the end of
        ``cycle``; returns all of the checker's violations."""
        if self.checker is None:
            return []
        return self.checker.finish(cycle)

    def _apply(self, cycle: int, cmd: Command):
        spec = self.spec
        self.counts[cmd.op] = self.counts.get(cmd.op, 0) + 1
        if self.keep_trace:
            self.trace.append((cycle, cmd))
        op = cmd.op
        bank = cmd.bg * spec.banks_per_group + cmd.bank
        if op == "ACT":
            self.open_rows[bank][cmd.rbuf] = cmd.row
        elif op == "PRE":
            self.open_rows[bank][cmd.rbuf] = None
        elif op == "ACTAB":
            for b in range(spec.banks):
                self.open_rows[b][cmd.rbuf] = cmd.row
        elif op == "PREA":
            for b in range(spec.banks):
                self.open_rows[b][cmd.rbuf] = None
        elif op in ("RD", "WR"):
            row = self.open_rows[bank][cmd.rbuf]
            if row is None:
                return   # protocol error (reported by the checker); nothing to access
            lo = cmd.col * spec.col_bytes
            data = self.row_data(bank, row)
            if op == "WR":
                data[lo:lo + spec.col_bytes] = self._word_bytes(cmd.data)
            else:
                column = data[lo:lo + spec.col_bytes].copy()
                self._schedule(ReadReturn(cycle + spec.CL, "RD", cycle,
                                          int.from_bytes(column.tobytes(), "little"),
                                          self.bytes_to_elements(column), bank=bank))
        elif op == "WRGB":
            lo = cmd.col * spec.col_bytes
            self.gb[cmd.slot, lo:lo + spec.col_bytes] = self._word_bytes(cmd.data)
        elif op == "MACAB":
            self._mac(cmd)
        elif op == "RDMAC":
            values = self.acc[:, cmd.acc].copy()
            if spec.elem_bits == 8:
                bits = [int(v) & ((1 << spec.acc_bits) - 1) for v in values]
            else:
                values = values.view(np.uint32).astype(np.int64)
                bits = [int(v) for v in values]
            data = 0
            for b, v in enumerate(bits):
                data |= v << (b * spec.acc_bits)
            self._schedule(ReadReturn(cycle + spec.CL, "RDMAC", cycle, data, values, acc=cmd.acc))
        elif op == "CLRMAC":
            self.acc[:, cmd.acc] = 0

    def _schedule(self, ret: ReadReturn):
        if ret.cycle in self._pending:
            # Two returns in one cycle can only follow a data-bus violation (BL_RD); keep the
            # first and let the checker's report explain it.
            return
        self._pending[ret.cycle] = ret

    def _mac(self, cmd: Command):
        spec = self.spec
        rows = {self.open_rows[b][cmd.rbuf] for b in range(spec.banks)}
        if None in rows:
            return   # protocol error (reported by the checker)
        lo = cmd.col * spec.col_bytes
        hi = lo + spec.col_bytes
        bank_cols = np.stack([self.row_data(b, self.open_rows[b][cmd.rbuf])[lo:hi] for b in range(spec.banks)])
        vector = self.gb[cmd.slot, lo:hi]
        if spec.elem_bits == 8:
            w = bank_cols.view(np.int8).astype(np.int64)
            x = vector.view(np.int8).astype(np.int64)
            total = self.acc[:, cmd.acc] + w @ x
            mask = (1 << spec.acc_bits) - 1
            total &= mask
            total = np.where(total >= (1 << (spec.acc_bits - 1)), total - (1 << spec.acc_bits), total)
            self.acc[:, cmd.acc] = total
        else:
            w = bf16_to_float32(np.ascontiguousarray(bank_cols).view("<u2"))
            x = bf16_to_float32(np.ascontiguousarray(vector).view("<u2"))
            products = (w * x[None, :]).astype(np.float32)
            acc = self.acc[:, cmd.acc].copy()
            with np.errstate(over="ignore", invalid="ignore"):
                for j in range(spec.lanes):
                    acc = (acc + products[:, j]).astype(np.float32)
            self.acc[:, cmd.acc] = acc

    def trace_rows(self) -> list[tuple]:
        """The applied commands (needs ``keep_trace = True`` before stepping) as rows
        ``(cycle, channel, command, bank group, bank, row, column)``."""
        return [(c, self.channel, cmd.op, cmd.bg, cmd.bank, cmd.row, cmd.col) for c, cmd in self.trace]

    def accumulators(self, acc: int = 0) -> np.ndarray:
        """Current value of accumulator ``acc`` of every bank (int64, or float32 for bf16)."""
        return self.acc[:, acc].copy()


# --------------------------------------------------------------------------------------------
# Helpers: ASAP issue of a command list, GEMV weight placement and a reference command program
# --------------------------------------------------------------------------------------------

def issue_asap(model: PimChannelModel, commands: Iterable, start: int = 0) -> tuple[list, list]:
    """Issue ``commands`` in order, each at the earliest cycle the timing rules allow (and not
    before ``start``), through ``model``. Returns ``(schedule, returns)``: the ``(cycle,
    Command)`` pairs and every :class:`ReadReturn`. Greedy in-order issue is optimal for a fixed
    order, since every rule only sets a minimum distance to earlier commands."""
    if model.checker is None:
        raise ValueError("issue_asap needs a model with a checker")
    schedule, returns = [], []
    cycle = start
    for cmd in commands:
        cmd = Command.of(cmd, model.spec)
        cycle, _ = model.checker.earliest(cmd, after=cycle)
        returns += model.pop_returns(cycle - 1)
        ret = model.step(cycle, cmd)
        if ret is not None:
            returns.append(ret)
        schedule.append((cycle, cmd))
    returns += model.pop_returns(cycle + model.spec.CL)
    return schedule, returns


def gemv_rows(m: int, k: int, spec: ChannelSpec, n_channels: int = 1, row_base: int = 0):
    """Placement of an ``m x k`` matrix for GEMV (the default mapping; see docs/pim_model.md).

    Outputs are taken in groups of ``banks`` (output ``g*banks + b`` is in bank ``b``); group
    ``g`` goes to the ``g % n_channels``-th enabled channel as its local group
    ``g // n_channels``. ``k`` is cut into ``ceil(k / row_elems)`` segments; segment ``s`` of
    local group ``lg`` is DRAM row ``(row_base + lg * segments + s) % rows`` in every bank, element ``e``
    of the segment at element ``e`` of the row. Yields ``(channel_pos, local_group, segment,
    row, bank, output, k_lo, k_hi)`` for every stored piece (padding is left zero).
    """
    banks, seg = spec.banks, spec.row_elems
    segments = -(-k // seg)
    for g in range(-(-m // banks)):
        pos, lg = g % n_channels, g // n_channels
        for s in range(segments):
            row = (row_base + lg * segments + s) % spec.rows
            for b in range(banks):
                out = g * banks + b
                if out < m:
                    yield pos, lg, s, row, b, out, s * seg, min(k, (s + 1) * seg)


def store_gemv(models, w, row_base: int = 0):
    """Write matrix ``w`` (int8 values, or bf16 bit patterns) into the models (one per enabled
    channel, in channel order) with the :func:`gemv_rows` placement."""
    w = np.asarray(w)
    spec = models[0].spec
    for pos, _, _, row, bank, out, lo, hi in gemv_rows(w.shape[0], w.shape[1], spec, len(models), row_base):
        models[pos].write_row_elements(bank, row, w[out, lo:hi])


def gemv_program(spec: ChannelSpec, local_groups: int, k: int, x, row_base: int = 0,
                 clear: bool = True) -> list[Command]:
    """Reference m-outer command list of one channel for :func:`gemv_rows` placement.

    Per local group: CLRMAC (if ``clear``); per segment: WRGB of the segment's columns (slot
    ``s % gb_slots``), ACTAB, MACAB over the columns holding elements of ``x``, PREA; then
    RDMAC. ``x`` holds int8 values or bf16 bit patterns. Padding columns past ``k`` are not
    MAC'd (the short last segment).
    """
    x = np.asarray(x)
    seg, lanes = spec.row_elems, spec.lanes
    segments = -(-k // seg)
    model = PimChannelModel(spec, check=False)   # for packing only
    cmds = []
    for lg in range(local_groups):
        if clear:
            cmds.append(Command("CLRMAC"))
        for s in range(segments):
            slot = s % spec.gb_slots
            ncols = -(-(min(k, (s + 1) * seg) - s * seg) // lanes)
            for c in range(ncols):
                lo = s * seg + c * lanes
                chunk = np.zeros(lanes, dtype=np.int64)
                part = x[lo:min(k, lo + lanes)]
                chunk[:part.size] = part
                cmds.append(Command("WRGB", col=c, slot=slot, data=model.column_word(chunk)))
            cmds.append(Command("ACTAB", row=(row_base + lg * segments + s) % spec.rows))
            cmds += [Command("MACAB", col=c, slot=slot) for c in range(ncols)]
            cmds.append(Command("PREA"))
        cmds.append(Command("RDMAC"))
    return cmds
