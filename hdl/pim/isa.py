"""Command set and stream layouts of the DRAM-PIM controller (``pim_ctrl``).

This module is the contract between the controller and any model of the memory: it says what
each command does, which fields of a command slot it uses and when data moves. A behavioural
model of a PIM-DRAM channel is written against this text alone.

Channel organisation
--------------------
A channel has ``bank_groups * banks_per_group`` banks. Bank ``b`` (flat index, used
everywhere a bank is numbered as one integer) is bank ``b % banks_per_group`` of bank group
``b // banks_per_group``. A DRAM row holds ``row_bytes``; a column (one burst) holds
``col_bytes``, so a row has ``row_bytes // col_bytes`` columns. Elements are ``elem_bits``
wide (8: int8, 16: bf16); a column holds ``lanes = col_bytes * 8 // elem_bits`` elements,
element ``j`` of a column in bits ``[j*elem_bits, (j+1)*elem_bits)`` (little-endian: element
0 in the least significant bits, byte 0 of the column is the least significant byte).

Each bank has a row buffer (two with ``dual_row_buffer``; field ``rbuf`` selects one) holding
the open row, a MAC unit of ``lanes`` multipliers and an adder tree, and ``n_acc``
accumulators of ``acc_bits`` (32) bits. The channel has a global buffer (GB) of ``gb_slots``
slots; each slot holds one row's worth of vector elements (``row_bytes``), i.e. one
``col_bytes`` entry per column address.

Cycles and the command slot
---------------------------
The controller presents one command slot per channel per clock cycle (:func:`cmd_layout`).
Cycle ``n`` is the ``n``-th rising clock edge after reset is released (the first edge with
reset low is cycle 0); the slot value sampled at that edge is the command "issued at cycle
``n``". ``NOP`` in a slot means no command. Every timing rule "B at least ``d`` after A"
means ``cycle(B) - cycle(A) >= d``.

Read data returns on the channel's ``rdata`` port (:func:`rdata_layout`): a command issued at
cycle ``n`` that returns data (``RD``, ``RDMAC``) makes ``rdata.valid`` high with its data in
cycle ``n + CL`` only, i.e. the controller samples it at edge ``n + CL``. Write data (``WR``,
``WRGB``) travels in the slot's ``data`` field of the issuing cycle (the DFI write-data phase
``CWL`` later is abstracted away; its timing effect is in the timing rules).

Fields of a slot: ``cmd`` (:class:`Cmd`), ``bg`` (bank group), ``bank`` (bank within its
group), ``row`` (row address), ``col`` (column address), ``acc`` (accumulator index),
``slot`` (global-buffer slot), ``rbuf`` (row buffer, 0 unless ``dual_row_buffer``), ``data``
(``col_bytes * 8`` bits). Fields a command does not use are don't-care (the controller drives
them to 0). All fields are at least one bit wide.

Arithmetic of MACAB
-------------------
int8 (``elem_bits == 8``): elements are two's complement; each product is exact; the lane
products and the accumulator are summed exactly and the accumulator keeps the sum modulo
``2**acc_bits`` as a two's complement number (wrap-around). The result is therefore exactly
``W @ x`` whenever it fits in ``acc_bits``.

bf16 (``elem_bits == 16``): accumulators hold IEEE binary32 bit patterns (``acc_bits`` 32).
Each product of two bf16 values is computed exactly in binary32 (it always fits); then, in lane
order ``j = 0 .. lanes-1``, ``acc = round_nearest_even_binary32(acc + product_j)``. No
flushing of subnormals; NaN/Inf propagate as in IEEE 754.

Refresh obligation
------------------
With refresh enabled, by the end of every cycle ``t`` at least
``floor((t + 1) / tREFI) - refresh_postpone`` REF commands must have been issued since cycle 0
(``refresh_postpone`` REFs may be postponed, JEDEC style). Fewer is a refresh-starvation
violation. Issuing more often is always allowed.
"""

import dataclasses

from amaranth.hdl import unsigned
from amaranth.lib import data, enum

from ..util import ceil_div, index_width

__all__ = [
    "Cmd",
    "CMD_BITS",
    "JobOp",
    "LayoutParams",
    "PIM_COMMANDS",
    "ALL_BANK_COMMANDS",
    "READ_DATA_COMMANDS",
    "WRITE_DATA_COMMANDS",
    "cmd_layout",
    "rdata_layout",
    "job_layout",
    "vec_layout",
    "result_layout",
    "field_widths",
]


#: Width of the command field of a slot.
CMD_BITS = 4


class Cmd(enum.IntEnum, shape=CMD_BITS):
    """DRAM / PIM commands of one channel's command slot (the shape of the slot's ``cmd`` field).

    An :class:`amaranth.lib.enum.IntEnum`: in hardware a ``cmd`` field or signal is a view that
    compares with members and shows names in waveforms; on the host a member is an ``int``.

    Normal commands (single bank unless noted):

    NOP
        No command.
    ACT
        Activate: opens row ``row`` of bank (``bg``, ``bank``) into its row buffer ``rbuf``.
        The bank (buffer) must be closed.
    PRE
        Precharge bank (``bg``, ``bank``), row buffer ``rbuf``: closes it. Precharging a closed
        bank is legal and does nothing (but still counts for timing).
    PREA
        Precharge all: closes row buffer ``rbuf`` of every bank (both buffers are addressed
        separately with ``dual_row_buffer``). Counts as a PRE on every bank for timing.
    RD
        Read column ``col`` of the open row of bank (``bg``, ``bank``, ``rbuf``): its
        ``col_bytes`` arrive on ``rdata`` (low ``col_bytes*8`` bits) ``CL`` cycles later. The
        bank must be open.
    WR
        Write ``data`` to column ``col`` of the open row of bank (``bg``, ``bank``, ``rbuf``).
        The bank must be open.
    REF
        All-bank refresh. Every row buffer of every bank must be closed. Row contents, the
        global buffer and the accumulators are unchanged.

    PIM commands (all banks of the channel at once unless noted):

    ACTAB
        All-bank activate: opens row ``row`` into row buffer ``rbuf`` of every bank. Every bank
        (that buffer) must be closed. Counts as an ACT on every bank for the bank-scoped
        timing rules, as one command for the channel-scoped ones, and with weight
        ``faw_weight_actab`` (0..4) in the four-activate window.
    MACAB
        All-bank multiply-accumulate on column ``col``: for every bank ``b``,
        ``acc[b][acc] += sum_j rowbuf[b][rbuf].elem[col*lanes + j] * gb[slot].elem[col*lanes + j]``
        for ``j`` in ``0 .. lanes-1`` (arithmetic: see the module docstring). Every bank's
        buffer ``rbuf`` must be open, all on the same row. Counts as a column read (RD) on every
        bank for the bank-scoped rules (tRCD_MAC instead of tRCD; tRTP to the PRE). Does not use
        the external data bus.
    WRGB
        Global-buffer write: ``gb[slot]`` column ``col`` := ``data`` (``lanes`` elements).
        Uses the external data bus like WR, touches no bank. A MACAB that reads ``gb[slot]``
        must come at least ``CWL + BL`` cycles after every WRGB to that slot (the data lands
        at the end of its burst). A slot is read-locked while a row pass uses it: a WRGB to
        slot ``s`` is illegal while any row buffer that a MACAB has read with ``slot == s``
        since it was opened is still open (rule ``gb_busy``; the lock ends with the PRE/PREA
        that closes the buffer).
    RDMAC
        Accumulator read: the value of accumulator ``acc`` of every bank, taken at the issuing
        cycle, is returned on ``rdata`` ``CL`` cycles later (bank ``b`` in bits
        ``[b*acc_bits, (b+1)*acc_bits)``). Uses the external data bus like RD. Banks may be
        open or closed. Accumulators are not changed.
    CLRMAC
        Accumulator clear: accumulator ``acc`` of every bank := 0. Banks may be open or closed.
        Takes effect at the issuing cycle (a MACAB in a later cycle adds to 0; an RDMAC in an
        earlier cycle already has its value).
    """

    NOP = 0
    ACT = 1
    PRE = 2
    PREA = 3
    RD = 4
    WR = 5
    REF = 6
    ACTAB = 7
    MACAB = 8
    WRGB = 9
    RDMAC = 10
    CLRMAC = 11


#: Commands beyond the JEDEC set.
PIM_COMMANDS = frozenset({Cmd.ACTAB, Cmd.MACAB, Cmd.WRGB, Cmd.RDMAC, Cmd.CLRMAC})
#: Commands addressing every bank of the channel.
ALL_BANK_COMMANDS = frozenset({Cmd.PREA, Cmd.REF, Cmd.ACTAB, Cmd.MACAB, Cmd.RDMAC, Cmd.CLRMAC})
#: Commands whose data returns on ``rdata`` ``CL`` cycles after issue.
READ_DATA_COMMANDS = frozenset({Cmd.RD, Cmd.RDMAC})
#: Commands carrying write data on the external bus (in the slot's ``data`` field).
WRITE_DATA_COMMANDS = frozenset({Cmd.WR, Cmd.WRGB})


class JobOp(enum.IntEnum, shape=2):
    """Operation of a job descriptor (the shape of its ``op`` field).

    All four compute ``y = W @ x`` for an ``M x K`` matrix ``W`` stored in the PIM rows
    starting at the job's ``row_base`` (layout: ``docs/pim.md`` and :mod:`accelgen.generators.pim_ctrl`)
    and a ``K``-element vector ``x`` from the vector stream.

    GEMV
        Accumulators are cleared first: ``y = W @ x``.
    GEMV_ACC
        Accumulators are not cleared: ``y = W @ x + y_prev``, where ``y_prev`` is what the
        previous job with the same ``M`` and channel mask left in the accumulators (its
        results); used to split ``K`` across jobs.
    ATTN_QK
        Attention scores ``s = Kmat @ q`` of one head: ``W`` is the key cache (one key per
        row, ``K = d_head``), ``x`` the query. Same schedule as GEMV.
    ATTN_PV
        Attention context ``o = V^T @ p``: ``W`` is the value cache stored transposed (one
        head dimension per row, ``K`` = sequence length), ``x`` the probabilities. Same
        schedule as GEMV.
    """

    GEMV = 0
    GEMV_ACC = 1
    ATTN_QK = 2
    ATTN_PV = 3


@dataclasses.dataclass(frozen=True)
class LayoutParams:
    """What the slot and stream layouts of one controller configuration depend on.

    The layout functions of this module take any object with these attributes; this is the
    public one. :meth:`of` builds it from a :class:`~accelgen.hdl.pim.presets.PimConfig` and
    the job limits.
    """

    bank_groups: int
    banks_per_group: int
    rows: int
    row_bytes: int
    col_bytes: int
    elem_bits: int
    acc_bits: int
    n_acc: int
    gb_slots: int
    channels: int
    m_max: int
    k_max: int
    tag_bits: int

    @classmethod
    def of(cls, config, *, channels: int, m_max: int, k_max: int, tag_bits: int) -> "LayoutParams":
        """The layout parameters of ``config`` (organisation) and the job limits."""
        org = {name: getattr(config, name) for name in (
            "bank_groups", "banks_per_group", "rows", "row_bytes", "col_bytes", "elem_bits", "acc_bits",
            "n_acc", "gb_slots")}
        return cls(**org, channels=channels, m_max=m_max, k_max=k_max, tag_bits=tag_bits)

    @property
    def banks(self) -> int:
        """Banks per channel."""
        return self.bank_groups * self.banks_per_group

    @property
    def lanes(self) -> int:
        """Elements per column."""
        return self.col_bytes * 8 // self.elem_bits

    @property
    def vec_words(self) -> int:
        """Columns of the longest vector: ``ceil(k_max / lanes)``."""
        return ceil_div(self.k_max, self.lanes)


def field_widths(p) -> dict:
    """Widths of the command-slot fields for organisation ``p``.

    ``p`` needs ``bank_groups``, ``banks_per_group``, ``rows``, ``row_bytes``, ``col_bytes``,
    ``n_acc`` and ``gb_slots`` attributes.
    """
    return {
        "cmd": CMD_BITS,
        "bg": index_width(p.bank_groups),
        "bank": index_width(p.banks_per_group),
        "row": index_width(p.rows),
        "col": index_width(p.row_bytes // p.col_bytes),
        "acc": index_width(p.n_acc),
        "slot": index_width(p.gb_slots),
        "rbuf": 1,
        "data": p.col_bytes * 8,
    }


def cmd_layout(p) -> data.StructLayout:
    """Layout of one channel's command slot (fields in the order listed; ``cmd`` is a :class:`Cmd`)."""
    widths = field_widths(p)
    return data.StructLayout({name: Cmd if name == "cmd" else unsigned(width) for name, width in widths.items()})


def rdata_layout(p) -> data.StructLayout:
    """Layout of one channel's read-data return: ``valid`` and ``data``.

    ``data`` is ``max(col_bytes*8, banks*acc_bits)`` bits: RD returns a column in the low
    ``col_bytes*8`` bits, RDMAC returns accumulator ``acc`` of bank ``b`` in bits
    ``[b*acc_bits, (b+1)*acc_bits)``.
    """
    banks = p.bank_groups * p.banks_per_group
    return data.StructLayout({
        "valid": 1,
        "data": unsigned(max(p.col_bytes * 8, banks * p.acc_bits)),
    })


def job_layout(p) -> data.StructLayout:
    """Job descriptor: ``op`` (:class:`JobOp`), ``row_base``, ``m``, ``k``, ``ch_mask``, ``tag``.

    ``p`` needs ``rows``, ``m_max``, ``k_max``, ``channels`` and ``tag_bits``. ``m`` is in
    ``1..m_max``, ``k`` in ``1..k_max``; ``ch_mask`` bit ``c`` enables channel ``c`` (at least
    one bit set).
    """
    return data.StructLayout({
        "op": JobOp,
        "row_base": unsigned(index_width(p.rows)),
        "m": unsigned(p.m_max.bit_length()),
        "k": unsigned(p.k_max.bit_length()),
        "ch_mask": unsigned(p.channels),
        "tag": unsigned(p.tag_bits),
    })


def vec_layout(p) -> data.StructLayout:
    """One beat of the input-vector stream: ``data``, one column (``lanes`` elements) of x.

    A job of length ``K`` takes ``ceil(K / lanes)`` beats in K order; elements past ``K`` in
    the last beat must be zero.
    """
    return data.StructLayout({"data": unsigned(p.col_bytes * 8)})


def result_layout(p) -> data.StructLayout:
    """One beat of the result stream: ``tag``, ``index``, ``values``, ``last``.

    ``p`` needs the organisation fields plus ``acc_bits``, ``m_max``, ``channels``, ``n_acc``
    and ``tag_bits``.

    ``values`` holds ``banks`` results of ``acc_bits`` (value ``i`` is output ``index + i``
    of the job; outputs at or beyond ``M`` are padding and read as 0 for int8); ``last`` marks
    the job's final beat.
    """
    banks = p.bank_groups * p.banks_per_group
    return data.StructLayout({
        "tag": unsigned(p.tag_bits),
        # Padding outputs of the last group reach past M by less than one group per channel.
        "index": unsigned((p.m_max + p.channels * banks * p.n_acc).bit_length()),
        "values": data.ArrayLayout(unsigned(p.acc_bits), banks),
        "last": 1,
    })
