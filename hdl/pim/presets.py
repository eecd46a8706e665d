"""Memory organisation and DRAM timing of a PIM-DRAM channel, and the named presets.

A :class:`PimConfig` holds everything about the memory device that the controller, its
timing gates and any channel model need: the organisation (banks, rows, row and column
bytes), the element type and PIM resources (accumulators per bank, global-buffer slots,
dual row buffers) and the timing table in clock cycles (``tCK`` of the command clock).
It validates itself: an inconsistent configuration raises ``ValueError`` naming the
parameter, its value and the legal range.

Timing parameters (all in cycles; "A -> B: d" means B issues at least d cycles after A)
-------------------------------------------------------------------------------------
tRCD       ACT/ACTAB -> RD, same bank.
tRCDWR     ACT/ACTAB -> WR, same bank.
tRCD_MAC   ACT/ACTAB -> MACAB, same bank (PIM MACs need a longer row-to-column delay).
tRP        PRE/PREA -> ACT/ACTAB/REF, same bank (precharge time).
tRAS       ACT/ACTAB -> PRE/PREA, same bank (minimum row-open time).
tRC        ACT/ACTAB -> ACT/ACTAB/REF, same bank (row cycle).
tRTP       RD/MACAB -> PRE/PREA, same bank (read to precharge).
tWR        write recovery: WR -> PRE/PREA, same bank, is CWL + BL + tWR.
tCCD_S     column to column (RD, WR, MACAB), any banks of the channel; also RD/RDMAC ->
           RD/RDMAC and WR/WRGB -> WR/WRGB.
tCCD_L     column to column (RD, WR, MACAB), same bank group (all-bank commands share every
           bank group).
tCCD_MAC   MACAB -> MACAB (PIM MAC spacing; a power throttle can make it longer than tCCD_L).
tRRD_S     ACT/ACTAB -> ACT/ACTAB, any banks of the channel.
tRRD_L     ACT/ACTAB -> ACT/ACTAB, same bank group.
tFAW       four-activate window: the activations issued in any tFAW consecutive cycles weigh
           at most 4 (ACT weighs 1, ACTAB weighs faw_weight_actab; weight 0 exempts it).
tWTR_S     write to read turnaround: WR/WRGB -> RD/RDMAC is CWL + BL + tWTR_S, any banks.
tWTR_L     WR -> RD, same bank group: CWL + BL + tWTR_L.
tRTW       read to write turnaround: RD/RDMAC -> WR/WRGB.
CL         read latency: RD/RDMAC data on ``rdata`` CL cycles after the command.
CWL        write latency: WRGB -> MACAB reading that global-buffer slot is CWL + BL.
BL         burst duration on the external data bus in command-clock cycles: RD, WR, WRGB and
           RDMAC are at least BL apart.
tREFI      average refresh interval (the obligation in :mod:`accelgen.hdl.pim.isa`).
tRFC       REF -> ACT/ACTAB/REF (refresh cycle time).

Derived quantities: ``mac_spacing = max(tCCD_S, tCCD_L, tCCD_MAC)`` is the achievable MACAB
period; a full row pass of ``R`` columns (ACTAB, R MACABs, PREA, ready for the next ACTAB)
takes ``max(tRC, tRAS + tRP, tRCD_MAC + (R-1)*mac_spacing + tRTP + tRP)`` cycles.

Presets
-------
``aim_gddr6``, ``hbm2_pim``, ``jedec_gddr6``, ``jedec_hbm2``: :data:`PRESETS` maps each name
to ``{parameter: (value, source)}``; :func:`preset_config` builds the :class:`PimConfig`.
"""

import dataclasses

__all__ = [
    "TIMING_NAMES",
    "ORG_NAMES",
    "PimConfig",
    "PRESETS",
    "preset_config",
    "preset_sources",
]

#: The timing parameters, in table order (all integers, cycles).
TIMING_NAMES = (
    "tRCD", "tRCDWR", "tRCD_MAC", "tRP", "tRAS", "tRC", "tRTP", "tWR",
    "tCCD_S", "tCCD_L", "tCCD_MAC", "tRRD_S", "tRRD_L", "tFAW", "tWTR_S", "tWTR_L",
    "tRTW", "CL", "CWL", "BL", "tREFI", "tRFC",
)

#: Organisation parameters a preset fixes.
ORG_NAMES = ("bank_groups", "banks_per_group", "rows", "row_bytes", "col_bytes", "faw_weight_actab")

#: Legal ranges of the timing parameters (inclusive).
TIMING_RANGES = {name: (1, 255) for name in TIMING_NAMES}
TIMING_RANGES.update({"tREFI": (16, 65535), "tRFC": (1, 4095), "CWL": (0, 255)})


def _is_pow2(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


@dataclasses.dataclass(frozen=True)
class PimConfig:
    """Organisation, PIM resources and timing of one PIM-DRAM channel (all channels alike).

    Parameters
    ----------
    bank_groups, banks_per_group : int
        Bank groups per channel (1..8) and banks per group (1..8).
    rows : int
        Rows per bank (power of two, 2..65536).
    row_bytes, col_bytes : int
        Bytes per DRAM row (page) and per column burst; powers of two, row a multiple of column.
    elem_bits : int
        Element width: 8 (int8) or 16 (bf16).
    acc_bits : int
        Accumulator width (32).
    n_acc : int
        Accumulators per bank (1 = stock AiM; more enables k-outer reuse of a vector segment).
    gb_slots : int
        Global-buffer slots (1 = stock; 2 lets the next vector segment load during MACs).
    dual_row_buffer : bool
        Two row buffers per bank (what-if; needs modified DRAM): bank-scoped rules apply per
        buffer, so the next row can be activated while MACs run on the current one.
    faw_weight_actab : int
        Weight of an ACTAB in the four-activate window (0..4; 0 exempts it).
    refresh_mode : str
        ``"ab"`` (all-bank REF every tREFI on average) or ``"off"``.
    refresh_postpone : int
        REFs that may be postponed (0..8).
    tRCD ... tRFC : int
        The timing table (see the module docstring).
    """

    bank_groups: int = 4
    banks_per_group: int = 4
    rows: int = 16384
    row_bytes: int = 2048
    col_bytes: int = 32
    elem_bits: int = 8
    acc_bits: int = 32
    n_acc: int = 1
    gb_slots: int = 1
    dual_row_buffer: bool = False
    faw_weight_actab: int = 0
    refresh_mode: str = "ab"
    refresh_postpone: int = 0
    tRCD: int = 36
    tRCDWR: int = 28
    tRCD_MAC: int = 56
    tRP: int = 32
    tRAS: int = 54
    tRC: int = 89
    tRTP: int = 12
    tWR: int = 33
    tCCD_S: int = 2
    tCCD_L: int = 2
    tCCD_MAC: int = 2
    tRRD_S: int = 11
    tRRD_L: int = 11
    tFAW: int = 42
    tWTR_S: int = 9
    tWTR_L: int = 11
    tRTW: int = 22
    CL: int = 24
    CWL: int = 6
    BL: int = 2
    tREFI: int = 3333
    tRFC: int = 210

    def __post_init__(self):
        self.check()

    # -- derived -----------------------------------------------------------------------------
    @property
    def banks(self) -> int:
        """Banks per channel."""
        return self.bank_groups * self.banks_per_group

    @property
    def cols_per_row(self) -> int:
        """Columns (bursts) per row."""
        return self.row_bytes // self.col_bytes

    @property
    def lanes(self) -> int:
        """Elements per column."""
        return self.col_bytes * 8 // self.elem_bits

    @property
    def elems_per_row(self) -> int:
        """Elements per row (one K segment)."""
        return self.cols_per_row * self.lanes

    @property
    def mac_spacing(self) -> int:
        """Achievable MACAB period: max(tCCD_S, tCCD_L, tCCD_MAC)."""
        return max(self.tCCD_S, self.tCCD_L, self.tCCD_MAC)

    def row_pass_cycles(self, columns: int | None = None) -> int:
        """ACTAB-to-next-ACTAB period of a pass over ``columns`` columns (default: full row)."""
        r = self.cols_per_row if columns is None else columns
        return max(self.tRC, self.tRAS + self.tRP,
                   self.tRCD_MAC + (r - 1) * self.mac_spacing + self.tRTP + self.tRP)

    def timing(self) -> dict:
        """The timing table as ``{name: cycles}``."""
        return {name: getattr(self, name) for name in TIMING_NAMES}

    def replace(self, **changes) -> "PimConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def mutated(self, name: str, delta: int = -1) -> "PimConfig":
        """A copy with timing parameter ``name`` changed by ``delta``, *not* validated.

        Only for the mutation check: a controller elaborated from a mutant must be caught
        by a checker that keeps the true values, even if the mutant is inconsistent.
        """
        if name not in TIMING_NAMES:
            raise ValueError(f"name={name!r} is not legal: must be one of {', '.join(TIMING_NAMES)}")
        copy = object.__new__(PimConfig)
        for field in dataclasses.fields(self):
            object.__setattr__(copy, field.name, getattr(self, field.name))
        object.__setattr__(copy, name, getattr(self, name) + delta)
        return copy

    # -- validation --------------------------------------------------------------------------
    def check(self) -> None:
        """Raise ``ValueError`` naming the parameter, its value and the legal range."""

        def need(ok, name, legal):
            if not ok:
                raise ValueError(f"{name}={getattr(self, name)!r} is not legal: must be {legal}")

        for name in ("bank_groups", "banks_per_group"):
            value = getattr(self, name)
            need(isinstance(value, int) and 1 <= value <= 8, name, "an integer in 1..8")
        need(isinstance(self.rows, int) and _is_pow2(self.rows) and 2 <= self.rows <= 65536,
             "rows", "a power of two in 2..65536")
        need(isinstance(self.col_bytes, int) and _is_pow2(self.col_bytes) and 2 <= self.col_bytes <= 128,
             "col_bytes", "a power of two in 2..128")
        need(isinstance(self.row_bytes, int) and self.row_bytes >= self.col_bytes
             and self.row_bytes % self.col_bytes == 0,
             "row_bytes", f"a multiple of col_bytes={self.col_bytes}")
        need(_is_pow2(self.row_bytes) and self.row_bytes <= 16384,
             "row_bytes", "a power of two in col_bytes..16384")
        need(self.elem_bits in (8, 16), "elem_bits", "8 (int8) or 16 (bf16)")
        need(self.acc_bits == 32, "acc_bits", "32")
        need(isinstance(self.n_acc, int) and 1 <= self.n_acc <= 64, "n_acc", "an integer in 1..64")
        need(isinstance(self.gb_slots, int) and 1 <= self.gb_slots <= 2, "gb_slots", "1 or 2")
        need(isinstance(self.dual_row_buffer, bool), "dual_row_buffer", "true or false")
        need(isinstance(self.faw_weight_actab, int) and 0 <= self.faw_weight_actab <= 4,
             "faw_weight_actab", "an integer in 0..4")
        need(self.refresh_mode in ("ab", "off"), "refresh_mode", "one of 'ab', 'off'")
        need(isinstance(self.refresh_postpone, int) and 0 <= self.refresh_postpone <= 8,
             "refresh_postpone", "an integer in 0..8")
        for name in TIMING_NAMES:
            lo, hi = TIMING_RANGES[name]
            value = getattr(self, name)
            need(isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi,
                 name, f"an integer in {lo}..{hi}")
        if self.tRC < self.tRAS + self.tRP:
            raise ValueError(
                f"tRC={self.tRC} is not legal: must be >= tRAS + tRP = {self.tRAS} + {self.tRP} "
                f"= {self.tRAS + self.tRP}"
            )
        if self.tCCD_L < self.tCCD_S:
            raise ValueError(f"tCCD_L={self.tCCD_L} is not legal: must be >= tCCD_S={self.tCCD_S}")
        if self.tRRD_L < self.tRRD_S:
            raise ValueError(f"tRRD_L={self.tRRD_L} is not legal: must be >= tRRD_S={self.tRRD_S}")
        if self.tWTR_L < self.tWTR_S:
            raise ValueError(f"tWTR_L={self.tWTR_L} is not legal: must be >= tWTR_S={self.tWTR_S}")
        if self.refresh_mode != "off":
            # A row pass plus a refresh must fit between two refresh deadlines, or refresh at
            # row-pass boundaries cannot keep up.
            worst = self.row_pass_cycles() + self.tRFC + self.tRP
            if self.tREFI <= worst:
                raise ValueError(
                    f"tREFI={self.tREFI} is not legal: must be > row pass + tRFC + tRP = {worst} "
                    f"(refresh happens between row passes)"
                )


def _src(values: dict, source: str) -> dict:
    return {name: (value, source) for name, value in values.items()}


_AIM = "arkhadem/aim_simulator src/dram/impl/GDDR6.cpp GDDR6_AiM_timing (tCK 0.5 ns)"
_AIM_ORG = "SK hynix GDDR6-AiM (ISSCC'22): 16 banks in 4 groups, 2 KB rows, 32 B (256-bit) columns"
_RAMU_GDDR6 = "CMU-SAFARI/ramulator2 python/ramulator/dram/gddr6.py GDDR6_14000_1350mV_double (tCK 570 ps)"
_PIMSIM = "SAITPublic/PIMSimulator ini/HBM2_samsung_2M_16B_x64.ini (tCK 1 ns; numbers only)"
_NEWTON = "NewtonSim configs/HBM2_8Gb_x128 in casys-kaist/NeuPIMs (tCK 1 ns)"
_ASSUMED = "assumed (not in the public source; typical value)"

#: Named presets: ``{name: {parameter: (value, source)}}``.
PRESETS = {
    "aim_gddr6": {
        **_src({"bank_groups": 4, "banks_per_group": 4, "rows": 16384, "row_bytes": 2048,
                "col_bytes": 32}, _AIM_ORG),
        "faw_weight_actab": (0, _AIM + ": nFAW marked 'not used' for ACT16"),
        **_src({"tRCD": 36, "tRCDWR": 28, "tRCD_MAC": 56, "tRP": 32, "tRAS": 54, "tRC": 89,
                "tRTP": 12, "tWR": 33, "tCCD_S": 2, "tCCD_L": 2, "tCCD_MAC": 2, "tRRD_S": 11,
                "tRRD_L": 11, "tFAW": 42, "tWTR_S": 9, "tWTR_L": 11, "CWL": 6, "tREFI": 3333,
                "tRFC": 210}, _AIM),
        "CL": (24, _ASSUMED + ": GDDR6 read latency at 14-16 Gb/s"),
        "BL": (2, _ASSUMED + ": a 32 B burst every 2 tCK, the nCCDS WR-class spacing"),
        "tRTW": (22, _ASSUMED + ": CL + BL + 2 - CWL"),
    },
    "jedec_gddr6": {
        **_src({"bank_groups": 4, "banks_per_group": 4, "rows": 16384, "row_bytes": 2048,
                "col_bytes": 32}, "JEDEC GDDR6 8 Gb x16 organisation (ramulator2 GDDR6_8Gb_x16)"),
        "faw_weight_actab": (4, _ASSUMED + ": an all-bank ACT charged as 4 ACTs"),
        **_src({"tRCD": 27, "tRP": 27, "tRAS": 53, "tCCD_S": 2, "tCCD_L": 4, "tRRD_S": 8,
                "tFAW": 29, "tREFI": 3333, "tRFC": 211}, _RAMU_GDDR6),
        "tRC": (80, _RAMU_GDDR6 + " lists nRC 79 < nRAS + nRP = 80; raised to 80 for consistency"),
        "tRCDWR": (27, _ASSUMED + ": = tRCD"),
        "tRCD_MAC": (27, _ASSUMED + ": = tRCD (no extra MAC latency)"),
        "tCCD_MAC": (4, _ASSUMED + ": = tCCD_L"),
        "tRRD_L": (8, _ASSUMED + ": = tRRD_S"),
        "tRTP": (6, _ASSUMED), "tWR": (27, _ASSUMED + ": 15.4 ns"),
        "tWTR_S": (9, _ASSUMED), "tWTR_L": (11, _ASSUMED),
        "CL": (24, _ASSUMED), "CWL": (6, _ASSUMED), "BL": (2, _ASSUMED),
        "tRTW": (22, _ASSUMED + ": CL + BL + 2 - CWL"),
    },
    "hbm2_pim": {
        **_src({"bank_groups": 4, "banks_per_group": 4, "col_bytes": 32}, _PIMSIM + ": 16 banks, 256-bit prefetch"),
        "rows": (16384, _ASSUMED), "row_bytes": (1024, "HBM2 1 KB page"),
        "faw_weight_actab": (1, _PIMSIM + ": in AB mode the ACT rate is limited per command"),
        **_src({"tRCD": 14, "tRCDWR": 10, "tRAS": 33, "tRC": 47, "tRP": 14, "tCCD_S": 2,
                "tCCD_L": 4, "tRRD_S": 4, "tRRD_L": 6, "tFAW": 16, "tWR": 16, "tWTR_S": 4,
                "tWTR_L": 9, "tRTP": 5, "tREFI": 3900, "tRFC": 350}, _PIMSIM),
        "tRCD_MAC": (14, _ASSUMED + ": = tRCDRD"),
        "tCCD_MAC": (4, "HBM-PIM: one PIM column command per tCCD_L"),
        "CL": (14, _ASSUMED), "CWL": (4, _ASSUMED), "BL": (2, "HBM2 BL4 on a DDR bus"),
        "tRTW": (14, _ASSUMED + ": CL + BL + 2 - CWL"),
    },
    "jedec_hbm2": {
        **_src({"bank_groups": 4, "banks_per_group": 4, "col_bytes": 32, "row_bytes": 1024},
               "JEDEC HBM2 8 Gb x128: 16 banks, 1 KB page, 256-bit prefetch"),
        "rows": (16384, _ASSUMED),
        "faw_weight_actab": (4, _ASSUMED + ": Newton G_ACT counts against tFAW; charged as 4 ACTs"),
        **_src({"tRCD": 14, "tRP": 14, "tRAS": 34, "tRRD_S": 4, "tRRD_L": 6, "tFAW": 30,
                "tWR": 16, "tRFC": 260, "tREFI": 3900}, _NEWTON),
        "tRC": (48, _NEWTON + ": tRAS + tRP"),
        "tCCD_S": (2, "CMU-SAFARI/ramulator2 hbm2.py HBM2_2000Mbps (in tCK)"),
        "tCCD_L": (4, "CMU-SAFARI/ramulator2 hbm2.py HBM2_2000Mbps (in tCK)"),
        "tRCDWR": (14, _ASSUMED + ": = tRCD"), "tRCD_MAC": (14, _ASSUMED + ": = tRCD"),
        "tCCD_MAC": (4, _ASSUMED + ": = tCCD_L"), "tRTP": (4, _ASSUMED),
        "tWTR_S": (6, "pim.md §5 HBM2 column (6/8 tCK)"), "tWTR_L": (8, "pim.md §5 HBM2 column (6/8 tCK)"),
        "CL": (14, _ASSUMED), "CWL": (4, _ASSUMED), "BL": (2, "HBM2 BL4 on a DDR bus"),
        "tRTW": (14, _ASSUMED + ": CL + BL + 2 - CWL"),
    },
}

for _name, _table in PRESETS.items():
    _missing = set(TIMING_NAMES + ORG_NAMES) - set(_table)
    assert not _missing, f"preset {_name} misses {sorted(_missing)}"


def preset_sources(name: str) -> dict:
    """``{parameter: source}`` of preset ``name``."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not legal: must be one of {', '.join(PRESETS)}")
    return {key: source for key, (_, source) in PRESETS[name].items()}


def preset_config(name: str, **overrides) -> PimConfig:
    """The :class:`PimConfig` of preset ``name`` with ``overrides`` applied (validated)."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is not legal: must be one of {', '.join(PRESETS)}")
    values = {key: value for key, (value, _) in PRESETS[name].items()}
    values.update(overrides)
    fields = {field.name for field in dataclasses.fields(PimConfig)}
    unknown = set(values) - fields
    if unknown:
        raise ValueError(f"unknown PIM parameter(s) {sorted(unknown)}; legal: {', '.join(sorted(fields))}")
    return PimConfig(**values)
