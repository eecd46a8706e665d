"""Stream queues for pipelines that hand data between stages.

- :class:`BypassFIFO`: a queue whose empty state is a wire (an entry written to an empty
  queue is readable in the same cycle).
- :class:`BlockRamFIFO`: a deep queue in block RAM whose head is held in flip-flops, so the
  RAM's slow clock-to-output never reaches the reader's logic.
- :class:`TwoRegisterFIFO`: two entries in two registers, nothing in front of their inputs.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["BypassFIFO", "BlockRamFIFO", "TwoRegisterFIFO"]


class BypassFIFO(wiring.Component):
    """First-in first-out queue with a same-cycle path through it while it is empty.

    Behind the path is a :class:`amaranth.lib.fifo.SyncFIFO` (asynchronous read: an entry
    stored at cycle ``t`` is readable at ``t + 1``), so an entry is never later than one
    cycle, and is readable in its own write cycle when nothing is queued before it.

    Parameters
    ----------
    width : int
        Bits of an entry.
    depth : int
        Entries that can wait (``>= 1``).

    Members
    -------
    w : In(stream.Signature(width))
        Entries in. ``w.ready`` is the queue's room; a writer that reserves room by credit may
        ignore it.
    r : Out(stream.Signature(width))
        Entries out, in order. ``r.payload`` depends combinationally on ``w.payload`` and
        ``r.valid`` on ``w.valid`` while the queue is empty.
    """

    def __init__(self, width: int, depth: int):
        if depth < 1:
            raise ValueError(f"depth={depth} is out of range: must be at least 1")
        self.width = width
        self.depth = depth
        super().__init__({"w": In(stream.Signature(width)), "r": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.queue = queue = fifo.SyncFIFO(width=self.width, depth=self.depth)
        through = ~queue.r_rdy  # empty: the writer's entry is the head
        m.d.comb += [
            self.r.valid.eq(queue.r_rdy | self.w.valid),
            self.r.payload.eq(Mux(through, self.w.payload, queue.r_data)),
            queue.r_en.eq(self.r.ready),
            queue.w_data.eq(self.w.payload),
            # An entry taken in its own write cycle is not stored.
            queue.w_en.eq(self.w.valid & ~(through & self.r.ready)),
            self.w.ready.eq(queue.w_rdy),
        ]
        return m


class BlockRamFIFO(wiring.Component):
    """First-in first-out queue of ``depth + 2`` entries: a
    :class:`amaranth.lib.fifo.SyncFIFOBuffered` (block RAM) refilling a
    :class:`TwoRegisterFIFO` that the reader sees.

    A block RAM's data output is valid late in the cycle (on ECP5 about 5.6 ns after the
    clock), so a reader whose handshake depends on the data (e.g. on a ``last`` flag) would
    put that delay, its own logic and the RAM's read enable in one path. Here the RAM's read
    enable depends only on registered fill levels. An entry written to an empty queue is
    readable 3 cycles later.

    Parameters
    ----------
    width : int
        Bits of an entry.
    depth : int
        Entries of the block-RAM part (``>= 2``).

    Members
    -------
    w : In(stream.Signature(width))
        Entries in (``w.ready``: room in the RAM part).
    r : Out(stream.Signature(width))
        Entries out, in order; ``r.valid`` and ``r.payload`` come from flip-flops (through a
        two-way multiplexer).
    """

    #: Cycles from an entry written to an empty queue to the entry being readable.
    latency = 3

    def __init__(self, width: int, depth: int):
        if depth < 2:
            raise ValueError(f"depth={depth} is out of range: must be at least 2")
        self.width = width
        self.depth = depth
        super().__init__({"w": In(stream.Signature(width)), "r": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = fifo.SyncFIFOBuffered(width=self.width, depth=self.depth)
        m.submodules.head = head = TwoRegisterFIFO(self.width)
        wiring.connect(m, wiring.flipped(self.w), ram.w_stream)
        wiring.connect(m, ram.r_stream, head.w)
        wiring.connect(m, head.r, wiring.flipped(self.r))
        return m


class TwoRegisterFIFO(wiring.Component):
    """First-in first-out queue of two entries held in two registers written in turn.

    An entry goes straight into a register's data input (the register's enable selects it),
    with no logic in front: the queue can take a block RAM's late data output. An entry
    written at cycle ``t`` is readable at ``t + 1``; ``w.ready`` and ``r.valid`` are
    registered fill levels.

    Parameters
    ----------
    width : int
        Bits of an entry.

    Members
    -------
    w : In(stream.Signature(width))
    r : Out(stream.Signature(width))
    """

    def __init__(self, width: int):
        self.width = width
        super().__init__({"w": In(stream.Signature(width)), "r": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        entries = [Signal(self.width, name=f"entry_{i}") for i in range(2)]
        write_next, read_next = Signal(), Signal()
        level = Signal(range(3))
        do_write = self.w.valid & self.w.ready
        do_read = self.r.valid & self.r.ready
        m.d.comb += [
            self.w.ready.eq(level != 2),
            self.r.valid.eq(level != 0),
            self.r.payload.eq(Mux(read_next, entries[1], entries[0])),
        ]
        for index, entry in enumerate(entries):
            with m.If(do_write & (write_next == index)):
                m.d.sync += entry.eq(self.w.payload)
        with m.If(do_write):
            m.d.sync += write_next.eq(~write_next)
        with m.If(do_read):
            m.d.sync += read_next.eq(~read_next)
        m.d.sync += level.eq(level + do_write - do_read)
        return m
