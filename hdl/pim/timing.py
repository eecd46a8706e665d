"""The DRAM-PIM timing table: declarative rows ``(scope, earlier, later, minimum delay)``.

Each :class:`TimingRule` says: a command in ``later`` may issue only ``delay(config)`` or more
cycles after the most recent command in ``earlier`` *within the same scope instance*:

``bank``
    the same bank (per row buffer with ``dual_row_buffer``). All-bank commands (ACTAB, MACAB,
    PREA, REF) act on every bank, so they meet every bank-scoped rule.
``bank_group``
    the same bank group. All-bank commands belong to every bank group.
``channel``
    anywhere in the channel.
``gb_slot``
    the same global-buffer slot (WRGB and MACAB carry a slot).
``window``
    the four-activate window (tFAW): the activations issued in any ``delay`` consecutive
    cycles weigh at most 4 (ACT 1, ACTAB ``faw_weight_actab``).

State rules (not delays, also part of the protocol): ACT/ACTAB to an open bank (buffer);
RD/WR/MACAB to a closed bank (buffer); MACAB when the open rows differ between banks; REF
with any bank open; WRGB to a read-locked global-buffer slot (``gb_busy``, see
:class:`~accelgen.hdl.pim.isa.Cmd`); refresh starvation (see :mod:`accelgen.hdl.pim.isa`).

The controller generates its timing gates from this table (rows whose commands it issues);
a channel model's checker implements the same protocol independently.
"""

import dataclasses
from typing import Callable

from .isa import Cmd

__all__ = ["TimingRule", "TIMING_TABLE", "rule_by_name"]

_ACT = frozenset({Cmd.ACT, Cmd.ACTAB})
_PRE = frozenset({Cmd.PRE, Cmd.PREA})
_COL = frozenset({Cmd.RD, Cmd.WR, Cmd.MACAB})
_BUS = frozenset({Cmd.RD, Cmd.WR, Cmd.WRGB, Cmd.RDMAC})
_BUS_RD = frozenset({Cmd.RD, Cmd.RDMAC})
_BUS_WR = frozenset({Cmd.WR, Cmd.WRGB})


@dataclasses.dataclass(frozen=True)
class TimingRule:
    """One row of the timing table.

    Attributes
    ----------
    name : str
        Row name (the parameter it is mainly about; unique).
    scope : str
        ``bank``, ``bank_group``, ``channel``, ``gb_slot`` or ``window``.
    earlier, later : frozenset of Cmd
        Commands the rule spaces.
    delay : callable
        ``delay(config) -> int``: minimum cycles from ``earlier`` to ``later``.
    param : str
        The timing parameter whose reduction by one cycle makes this row shorter (for the
        mutation check).
    """

    name: str
    scope: str
    earlier: frozenset
    later: frozenset
    delay: Callable
    param: str


TIMING_TABLE = (
    TimingRule("tRC", "bank", _ACT, _ACT | {Cmd.REF}, lambda c: c.tRC, "tRC"),
    TimingRule("tRAS", "bank", _ACT, _PRE, lambda c: c.tRAS, "tRAS"),
    TimingRule("tRP", "bank", _PRE, _ACT | {Cmd.REF}, lambda c: c.tRP, "tRP"),
    TimingRule("tRCD", "bank", _ACT, frozenset({Cmd.RD}), lambda c: c.tRCD, "tRCD"),
    TimingRule("tRCDWR", "bank", _ACT, frozenset({Cmd.WR}), lambda c: c.tRCDWR, "tRCDWR"),
    TimingRule("tRCD_MAC", "bank", _ACT, frozenset({Cmd.MACAB}), lambda c: c.tRCD_MAC, "tRCD_MAC"),
    TimingRule("tRTP", "bank", frozenset({Cmd.RD, Cmd.MACAB}), _PRE, lambda c: c.tRTP, "tRTP"),
    TimingRule("tWR", "bank", frozenset({Cmd.WR}), _PRE, lambda c: c.CWL + c.BL + c.tWR, "tWR"),
    TimingRule("tRRD_L", "bank_group", _ACT, _ACT, lambda c: c.tRRD_L, "tRRD_L"),
    TimingRule("tCCD_L", "bank_group", _COL, _COL, lambda c: c.tCCD_L, "tCCD_L"),
    TimingRule("tWTR_L", "bank_group", frozenset({Cmd.WR}), frozenset({Cmd.RD}),
               lambda c: c.CWL + c.BL + c.tWTR_L, "tWTR_L"),
    TimingRule("tRRD_S", "channel", _ACT, _ACT, lambda c: c.tRRD_S, "tRRD_S"),
    TimingRule("tCCD_S", "channel", _COL, _COL, lambda c: c.tCCD_S, "tCCD_S"),
    TimingRule("tCCD_MAC", "channel", frozenset({Cmd.MACAB}), frozenset({Cmd.MACAB}),
               lambda c: c.tCCD_MAC, "tCCD_MAC"),
    TimingRule("tCCD_S_RD", "channel", _BUS_RD, _BUS_RD, lambda c: c.tCCD_S, "tCCD_S"),
    TimingRule("tCCD_S_WR", "channel", _BUS_WR, _BUS_WR, lambda c: c.tCCD_S, "tCCD_S"),
    TimingRule("BL", "channel", _BUS, _BUS, lambda c: c.BL, "BL"),
    TimingRule("tWTR_S", "channel", _BUS_WR, _BUS_RD, lambda c: c.CWL + c.BL + c.tWTR_S, "tWTR_S"),
    TimingRule("tRTW", "channel", _BUS_RD, _BUS_WR, lambda c: c.tRTW, "tRTW"),
    TimingRule("CWL", "gb_slot", frozenset({Cmd.WRGB}), frozenset({Cmd.MACAB}),
               lambda c: c.CWL + c.BL, "CWL"),
    TimingRule("tRFC", "channel", frozenset({Cmd.REF}), _ACT | {Cmd.REF}, lambda c: c.tRFC, "tRFC"),
    TimingRule("tFAW", "window", _ACT, _ACT, lambda c: c.tFAW, "tFAW"),
)


def rule_by_name(name: str) -> TimingRule:
    """The table row called ``name``."""
    for rule in TIMING_TABLE:
        if rule.name == name:
            return rule
    raise ValueError(f"rule={name!r} is unknown; legal: {', '.join(r.name for r in TIMING_TABLE)}")
