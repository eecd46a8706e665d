"""cocotb drivers for Amaranth valid/ready streams, with random stalls and backpressure.

All sources and sinks of a testbench advance in one loop (:class:`StreamBench`): at each
falling clock edge every source decides ``valid``/``payload`` and every sink decides
``ready``; in the read-only phase before the next rising edge each of them records whether
a transfer happens. One loop for all streams keeps the cost at two simulator triggers per
cycle and makes the stimulus a pure function of the seed.

Sinks also check the producer side of the stream rules: once ``valid`` is high it stays
high, with the same payload, until the transfer.
"""

import collections
import random

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from .axis_streams import AxisEndpoints, AxisSink, AxisSource

__all__ = ["StreamSource", "StreamSink", "Scoreboard", "StreamBench", "StreamProtocolError", "reset_trigger",
           "seeded_rng"]


class StreamProtocolError(AssertionError):
    """The design broke a valid/ready rule."""


class _StreamPorts:
    """The ``<name>__valid`` / ``<name>__payload`` / ``<name>__ready`` handles of one stream."""

    def __init__(self, dut, name: str, rng: random.Random):
        self.name = name
        self._valid = getattr(dut, f"{name}__valid")
        self._payload = getattr(dut, f"{name}__payload")
        self._ready = getattr(dut, f"{name}__ready")
        self._rng = rng


class StreamSource(_StreamPorts):
    """Drives ``<name>__valid`` / ``<name>__payload``; reads ``<name>__ready``.

    Parameters
    ----------
    dut : cocotb handle
        The top level.
    name : str
        Stream name (port prefix).
    stall : float
        Probability, per cycle, of holding ``valid`` low while data is waiting (0 = none).
    rng : random.Random
        Source of the stall pattern.
    """

    def __init__(self, dut, name: str, *, stall: float = 0.0, rng: random.Random):
        super().__init__(dut, name, rng)
        self.stall = stall
        self._queue = collections.deque()
        self._current = None
        self.sent = 0
        self._valid.value = 0

    def send(self, payloads) -> None:
        """Queue payloads (ints), sent in order."""
        self._queue.extend(payloads)

    @property
    def idle(self) -> bool:
        """Everything queued has been transferred."""
        return self._current is None and not self._queue

    def drive(self) -> None:
        if self._current is None and self._queue and self._rng.random() >= self.stall:
            self._current = self._queue.popleft()
            self._payload.value = self._current
        # Rule: valid is never withdrawn before the transfer.
        self._valid.value = int(self._current is not None)

    def sample(self) -> None:
        if self._current is not None and int(self._ready.value):
            self._current = None
            self.sent += 1


class StreamSink(_StreamPorts):
    """Drives ``<name>__ready`` (randomly low with probability ``backpressure``); records transfers."""

    def __init__(self, dut, name: str, *, backpressure: float = 0.0, rng: random.Random):
        super().__init__(dut, name, rng)
        self.backpressure = backpressure
        self.received = []
        self.expect_count = 0
        self._pending = None  # payload offered but not taken in the previous cycle
        self._ready.value = 0

    @property
    def done(self) -> bool:
        return len(self.received) >= self.expect_count

    def drive(self) -> None:
        self._ready.value = int(self._rng.random() >= self.backpressure)

    def hold(self) -> None:
        """Stop accepting beats (between jobs)."""
        self._ready.value = 0

    def sample(self, cycle: int) -> None:
        valid = int(self._valid.value)
        if self._pending is not None:
            payload = int(self._payload.value.to_unsigned()) if valid else None
            if not valid or payload != self._pending:
                raise StreamProtocolError(
                    f"stream {self.name!r}, cycle {cycle}: valid/payload changed before the transfer "
                    f"(held {self._pending:#x}, now valid={valid} payload={payload})"
                )
        if valid:
            payload = int(self._payload.value.to_unsigned())
            if int(self._ready.value):
                self.received.append(payload)
                self._pending = None
            else:
                self._pending = payload
        else:
            self._pending = None


class Scoreboard:
    """Compares received items with expected ones, in order: nothing lost, duplicated or reordered."""

    def __init__(self, name: str, describe=repr):
        self.name = name
        self._describe = describe

    def check(self, expected: list, received: list) -> None:
        for index, (want, got) in enumerate(zip(expected, received)):
            if want != got:
                raise AssertionError(
                    f"{self.name}: item {index} of {len(expected)} differs\n"
                    f"  expected {self._describe(want)}\n  received {self._describe(got)}"
                )
        if len(received) != len(expected):
            raise AssertionError(f"{self.name}: expected {len(expected)} items, received {len(received)}")


class StreamBench:
    """Clock, reset and the shared per-cycle loop of a design's sources and sinks.

    Parameters
    ----------
    dut : cocotb handle
        The top level.
    period_ns : int
        Clock period.
    interface : str
        ``"native"`` (``clk``, ``rst``, ``<name>__payload/valid/ready``) or ``"axis"`` (``aclk``,
        ``axis_reset``, AXI4-Stream ports driven by cocotbext-axi,
        :mod:`accelgen.verif.axis_streams`).
    axis_reset : str
        The reset port of the ``axis`` interface (``"aresetn"`` or ``"areset"``).
    layouts : dict or None
        Payload layout of every stream (needed by the ``axis`` interface to place ``last``).
    """

    def __init__(self, dut, *, period_ns: int = 10, interface: str = "native", axis_reset: str = "aresetn",
                 layouts: dict | None = None):
        self.dut = dut
        self.cycle = 0
        self.sources: list[StreamSource] = []
        self.sinks: list[StreamSink] = []
        #: What the last reset in mid-stream interrupted (:func:`reset_trigger`), for the job's outputs.
        self.reset_report: dict | None = None
        if interface == "axis":
            self.clock, self._reset, self._reset_level = dut.aclk, getattr(dut, axis_reset), int(axis_reset == "areset")
            self._axis = AxisEndpoints(dut, layouts or {}, axis_reset)
            # cocotbext-axi raises tvalid at the rising edge after it is given a frame (the native
            # source drives at the falling edge before it) and hands a frame over one cycle after
            # its final transfer: two cycles of the driver's, not the design's.
            self.driver_cycles = 2
        else:
            self.clock, self._reset, self._reset_level = dut.clk, dut.rst, 1
            self._axis = None
            self.driver_cycles = 0
        Clock(self.clock, period_ns, unit="ns").start()

    def source(self, name: str, *, stall: float = 0.0, rng: random.Random):
        """A source for input stream ``name`` on this bench's interface (not yet added to :attr:`sources`)."""
        if self._axis is not None:
            return AxisSource(self._axis, name, stall=stall, rng=rng)
        return StreamSource(self.dut, name, stall=stall, rng=rng)

    def sink(self, name: str, *, backpressure: float = 0.0, rng: random.Random):
        """A sink for output stream ``name`` on this bench's interface (not yet added to :attr:`sinks`)."""
        if self._axis is not None:
            return AxisSink(self._axis, name, backpressure=backpressure, rng=rng)
        return StreamSink(self.dut, name, backpressure=backpressure, rng=rng)

    async def reset(self, cycles: int = 2) -> None:
        """Synchronous reset, then release on a falling edge."""
        self._reset.value = self._reset_level
        for _ in range(cycles):
            await RisingEdge(self.clock)
        await FallingEdge(self.clock)
        self._reset.value = 1 - self._reset_level

    async def run(self, *, timeout_cycles: int, progress=None, stop=None) -> int:
        """Advance until every source is idle and every sink has its expected count.

        Returns the number of cycles taken, less :attr:`driver_cycles` (the same count on
        either interface); raises ``TimeoutError`` past ``timeout_cycles``.
        ``progress(cycle)`` is called every 4096 cycles when given. ``stop()``, when given, is
        asked after every cycle; when it returns true the run ends there, with the job
        unfinished (for a reset in mid-stream).
        """
        start = self.cycle
        while not (all(s.idle for s in self.sources) and all(s.done for s in self.sinks)):
            if self.cycle - start > timeout_cycles:
                state = ", ".join(
                    [f"{s.name}: sent {s.sent}" for s in self.sources]
                    + [f"{s.name}: received {len(s.received)}/{s.expect_count}" for s in self.sinks]
                )
                raise TimeoutError(f"no progress after {timeout_cycles} cycles ({state})")
            await FallingEdge(self.clock)
            for source in self.sources:
                source.drive()
            for sink in self.sinks:
                sink.drive()
            await ReadOnly()
            for source in self.sources:
                source.sample()
            for sink in self.sinks:
                sink.sample(self.cycle)
            self.cycle += 1
            if progress is not None and self.cycle % 4096 == 0:
                progress(self.cycle)
            if stop is not None and stop():
                await FallingEdge(self.clock)  # out of the read-only phase: the caller drives next
                return self.cycle - start
        await FallingEdge(self.clock)
        for source in self.sources:
            source.drive()
            if isinstance(source, AxisSource):  # its monitor checks what the port took
                source.finish()
        for sink in self.sinks:
            sink.hold()
        return self.cycle - start - self.driver_cycles


def reset_trigger(bench: StreamBench, reset_at) -> "callable":
    """The ``stop`` condition of a reset in mid-stream: true ``delay`` cycles after the sinks
    together have received ``beats`` beats (``reset_at = (beats, delay)``), and at the latest
    when all but one of the job's result beats are in. Records in
    ``bench.reset_report`` the cycle and the beats sent and received when it fires."""
    beats, delay = (int(value) for value in reset_at)
    countdown = [delay]

    def stop() -> bool:
        received = sum(len(sink.received) for sink in bench.sinks)
        # Never later than one beat before the end: the reset must land inside the job.
        last_chance = received >= sum(sink.expect_count for sink in bench.sinks) - 1
        if received < beats and not last_chance:
            return False
        countdown[0] -= 1
        if countdown[0] >= 0 and not last_chance:
            return False
        bench.reset_report = {"reset_cycle": bench.cycle,
                              "reset_sent": sum(source.sent for source in bench.sources),
                              "reset_received": sum(len(sink.received) for sink in bench.sinks)}
        return True
    return stop


def seeded_rng(seed: int, *labels) -> random.Random:
    """A generator whose sequence depends only on ``seed`` and the labels."""
    return random.Random(f"{seed}:" + ":".join(map(str, labels)))

