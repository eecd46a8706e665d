"""Vector loader of the PIM controller: WRGBs of vector segments into global-buffer slots."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .interfaces import RetireSignature, load_layout, read_signature, word_bits, wrgb_port

__all__ = ["VectorLoader"]


class VectorLoader(wiring.Component):
    """Loads each requested vector segment, one WRGB per column, into the next slot.

    It takes the next load request as soon as it is idle and reads the first column, so that
    the first WRGB can go out the cycle after a slot is released. A column goes out once its
    word is in the vector buffer (``next word < avail_words``, checked a cycle ahead), a slot
    is free or already claimed by this load, and the MAC unit does not ``hold`` the bus.

    Slot credits: ``free_slots`` (a load's first WRGB takes one, the PREA of the last pass
    reading it, ``freed``, gives it back) and ``avail_loads`` (a load's last WRGB adds one,
    the last MACAB of the last pass reading it, ``retire`` with ``load_last``, removes it).

    Members
    -------
    loads : In(stream.Signature(load_layout))
        Load requests in schedule order (taken while ``job_active``).
    job_active : In(1)
        A job is active.
    read : Out(read_signature)
        Vector-buffer read port.
    avail_words : In(word_bits)
        Vector words in the vector buffer.
    hold : In(1)
        Do not issue WRGBs (the MAC unit's reads come).
    retire, freed : In
        A pass's last MACAB, its PREA (slot credits).
    job_done : In(1)
        The job's last cycle (back to slot 0).
    cmd : Out(wrgb_port)
        WRGB requests; ``data`` is the vector-buffer word read.
    busy : Out(1)
        A load is in progress.
    avail_loads : Out(range(gb_slots + 1))
        Loaded segments not yet used up.
    """

    def __init__(self, config, layout, *, width: int):
        self._config = config
        self._layout = layout
        super().__init__({
            "loads": In(stream.Signature(load_layout(config, layout))),
            "job_active": In(1),
            "read": Out(read_signature(layout, width)),
            "avail_words": In(word_bits(layout)),
            "hold": In(1),
            "retire": In(RetireSignature()),
            "freed": In(1),
            "job_done": In(1),
            "cmd": Out(wrgb_port(config, width)),
            "busy": Out(1),
            "avail_loads": Out(range(config.gb_slots + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        c = self._config
        cols, slots = c.cols_per_row, c.gb_slots
        wb = word_bits(self._layout)
        active = self.busy
        word = Signal(wb)              # current column's word address
        col = Signal(range(cols + 1))
        ncols = Signal(range(cols + 1))
        slot = Signal()
        data_ok = Signal()
        claimed = Signal()             # this load's slot is taken (its first WRGB went out)
        free_slots = Signal(range(slots + 1), init=slots)
        fire = self.cmd.grant
        m.d.comb += [
            self.cmd.req.eq(active & data_ok & ~self.hold & (claimed | free_slots.any()) & self.cmd.ok),
            self.cmd.col.eq(col), self.cmd.slot.eq(slot), self.cmd.data.eq(self.read.data),
        ]

        load_done = Signal()
        load_start = Signal()
        consumed = self.retire.valid & self.retire.load_last
        m.d.sync += [
            free_slots.eq(free_slots - load_start + self.freed),
            self.avail_loads.eq(self.avail_loads + load_done - consumed),
        ]

        take = Signal()
        m.d.comb += [self.loads.ready.eq(~active & self.job_active), take.eq(self.loads.valid & self.loads.ready)]
        with m.If(take):
            m.d.sync += [
                active.eq(1), claimed.eq(0), word.eq(self.loads.payload.word), col.eq(0),
                ncols.eq(self.loads.payload.ncols),
            ]
        m.d.comb += load_start.eq(fire & ~claimed)
        with m.If(load_start):
            m.d.sync += claimed.eq(1)
        next_word = Mux(take, self.loads.payload.word, Mux(fire, word + 1, word))
        m.d.comb += self.read.addr.eq(next_word)
        m.d.sync += data_ok.eq(next_word < self.avail_words)
        with m.If(fire):
            m.d.sync += [word.eq(word + 1), col.eq(col + 1)]
            with m.If(col == ncols - 1):
                m.d.comb += load_done.eq(1)
                m.d.sync += active.eq(0)
                if slots > 1:
                    m.d.sync += slot.eq(~slot)
        with m.If(self.job_done):
            m.d.sync += slot.eq(0)
        return m
