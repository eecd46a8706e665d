"""Payload layouts and signatures between the units of the PIM controller.

The units (:mod:`accelgen.hdl.pim`) take the hardware configuration ``config``
(:class:`~accelgen.hdl.pim.presets.PimConfig`) and the layout parameters ``layout``
(:class:`~accelgen.hdl.pim.isa.LayoutParams`); the widths and layouts they share are defined
here once.

Command ports
-------------
Every unit that issues commands has a ``cmd`` port (:func:`command_port`) towards the
:class:`~accelgen.hdl.pim.arbiter.CommandArbiter`. The unit shows the command's fields (its
row buffer and global-buffer slot select the timing-gate variant), the arbiter answers ``ok``
when the enabled channels' timing gates allow that command now, the unit raises ``req`` when
its command is ready *and* ``ok``, and the arbiter raises ``grant`` for the highest-priority
request: the command goes out in the next cycle's slot.
"""

from amaranth.hdl import unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..util import bits_for, index_width
from .isa import Cmd, result_layout

__all__ = [
    "word_bits",
    "index_bits",
    "result_depth",
    "pass_layout",
    "load_layout",
    "activated_layout",
    "command_port",
    "mac_port",
    "precharge_port",
    "activate_port",
    "refresh_port",
    "wrgb_port",
    "RetireSignature",
    "CloseSignature",
    "read_signature",
]


def word_bits(layout) -> int:
    """Width of a vector word count ``0 .. vec_words``."""
    return bits_for(layout.vec_words)


def index_bits(layout) -> int:
    """Width of an output index (the result stream's ``index`` field)."""
    return result_layout(layout)["index"].shape.width


def result_depth(config) -> int:
    """Entries of the result FIFO (accumulator reads in flight plus one block of results)."""
    return 2 * config.n_acc + 1


def pass_layout(config, layout) -> data.StructLayout:
    """Descriptor of one row pass (address generator -> activate unit -> MAC unit).

    ``row``: DRAM row; ``ncols``: its columns (MACABs); ``acc``: accumulator; ``seg_word``,
    ``word_end``: the vector words of its segment (``seg_word .. word_end - 1``);
    ``load_first``: its segment is loaded into a global-buffer slot for it; ``load_last``: the
    last pass reading that load; ``block_last``: the last pass of a block (its accumulators
    are read after it) and ``a_count`` the block's accumulators; ``job_first``/``job_last``:
    the job's first/last pass.
    """
    wb = word_bits(layout)
    cols = config.cols_per_row
    return data.StructLayout({
        "row": index_width(config.rows), "ncols": range(cols + 1), "acc": index_width(config.n_acc),
        "word_end": wb + 1, "seg_word": wb, "load_first": 1, "load_last": 1, "block_last": 1,
        "a_count": range(config.n_acc + 1), "job_last": 1, "job_first": 1,
    })


def load_layout(config, layout) -> data.StructLayout:
    """A global-buffer load request (address generator -> vector loader): ``ncols`` vector
    words from word ``word``."""
    return data.StructLayout({"word": word_bits(layout), "ncols": range(config.cols_per_row + 1)})


def activated_layout(config, layout) -> data.StructLayout:
    """A pass whose row is open (activate unit -> MAC unit): its descriptor and row buffer."""
    return data.StructLayout({"desc": pass_layout(config, layout), "rbuf": 1})


def command_port(fields: dict, answers=("ok",)) -> wiring.Signature:
    """Signature of a unit's command port (the unit's side; see the module docstring).

    Parameters
    ----------
    fields : dict
        ``{name: shape}`` of the slot fields the unit drives (``Out``).
    answers : tuple of str
        Names of the arbiter's timing answers (``In(1)``).
    """
    members = {"req": Out(1), "grant": In(1)}
    members.update({name: Out(shape) for name, shape in fields.items()})
    members.update({name: In(1) for name in answers})
    return wiring.Signature(members)


def mac_port(config) -> wiring.Signature:
    """MAC unit: MACAB / RDMAC / CLRMAC. ``col``, ``slot`` and ``rbuf`` are the pass's (the
    MACAB's timing variant) and go out only with ``column`` (a MACAB); ``ok`` answers for the
    MACAB, ``ok_read`` for an RDMAC."""
    return command_port({"cmd": Cmd, "acc": index_width(config.n_acc), "col": range(config.cols_per_row + 1),
                         "slot": 1, "rbuf": 1, "column": 1}, answers=("ok", "ok_read"))


def precharge_port() -> wiring.Signature:
    """Precharge unit: PREA of row buffer ``rbuf``."""
    return command_port({"rbuf": 1})


def activate_port(config) -> wiring.Signature:
    """Activate unit: ACTAB of ``row`` into row buffer ``rbuf``."""
    return command_port({"row": index_width(config.rows), "rbuf": 1})


def refresh_port() -> wiring.Signature:
    """Refresh engine: REF (to every channel)."""
    return command_port({})


def wrgb_port(config, width: int) -> wiring.Signature:
    """Vector loader: WRGB of ``data`` (a vector-buffer word of ``width`` bits) into column
    ``col`` of slot ``slot``."""
    return command_port({"col": range(config.cols_per_row + 1), "slot": 1, "data": width})


class RetireSignature(wiring.Signature):
    """A row pass's last MACAB is decided (MAC unit -> precharge unit, vector loader).

    Members
    -------
    valid : Out(1)
        Strobe. The MAC unit raises it only while the precharge unit is free.
    rbuf : Out(1)
        The pass's row buffer (to precharge).
    load_last : Out(1)
        The pass is the last one reading its global-buffer load.
    """

    def __init__(self):
        super().__init__({"valid": Out(1), "rbuf": Out(1), "load_last": Out(1)})


class CloseSignature(wiring.Signature):
    """A PREA goes out (precharge unit -> activate unit): ``valid`` strobe, ``rbuf`` the row
    buffer it closes."""

    def __init__(self):
        super().__init__({"valid": Out(1), "rbuf": Out(1)})


def read_signature(layout, width: int) -> wiring.Signature:
    """Vector-buffer read port (the reader's side): ``addr`` a vector word (``Out``), ``data``
    its memory word of ``width`` bits one cycle later (``In``)."""
    return wiring.Signature({"addr": Out(word_bits(layout)), "data": In(unsigned(width))})
