"""cocotbext-axi endpoints behind the interface of accelgen's own stream drivers.

A design exported with ``interface=axis`` (:class:`accelgen.hdl.axis.AxisWrapper`) is driven
by cocotbext-axi: an ``AxiStreamSource`` per input stream, an ``AxiStreamSink`` per output
stream and an ``AxiStreamMonitor`` on every input, with their pause generators seeded like the
native drivers' stall and backpressure patterns. :class:`AxisSource` and :class:`AxisSink`
give them the interface of :class:`~accelgen.verif.streams.StreamSource` and
:class:`~accelgen.verif.streams.StreamSink` (payload words in, payload words out, ``last``
at the payload's top bit), so every family's testbench runs unchanged on either interface.

A payload with ``last`` travels as frames: the beats up to and including a ``last`` beat are
one ``AxiStreamFrame`` (``tlast`` on its final beat). ``tdata`` is little-endian bytes, the
payload's bits below ``last`` zero-padded to whole bytes.
"""

import itertools

from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamMonitor, AxiStreamSink, AxiStreamSource

__all__ = ["AxisEndpoints", "AxisSource", "AxisSink", "frames_of", "beats_of"]


class AxisProtocolError(AssertionError):
    """An AXI4-Stream port carried something the payload cannot (e.g. padding bits set)."""


def frames_of(payloads, bits: int, has_tlast: bool, tdata_bytes: int) -> list[bytes]:
    """Payload words -> ``tdata`` byte strings, one per frame.

    With ``tlast``, a frame ends at each beat whose bit ``bits`` (``last``) is set; the words
    must end with such a beat. Without, every beat is a frame.
    """
    frames, current = [], bytearray()
    mask = (1 << bits) - 1
    for word in payloads:
        current += (word & mask).to_bytes(tdata_bytes, "little")
        if not has_tlast or (word >> bits) & 1:
            frames.append(bytes(current))
            current = bytearray()
    if current:
        raise ValueError(f"{len(current) // tdata_bytes} beat(s) after the last 'last' beat cannot be sent as "
                         f"AXI4-Stream frames (tlast ends every frame)")
    return frames


def beats_of(tdata, bits: int, has_tlast: bool, tdata_bytes: int, name: str) -> list[int]:
    """One received frame's ``tdata`` bytes -> payload words (``last`` on the final beat)."""
    tdata = bytes(tdata)
    if len(tdata) % tdata_bytes:
        raise AxisProtocolError(f"{name}: a frame of {len(tdata)} bytes is not whole {tdata_bytes}-byte beats")
    count = len(tdata) // tdata_bytes
    words = []
    for index in range(count):
        word = int.from_bytes(tdata[index * tdata_bytes:(index + 1) * tdata_bytes], "little")
        if word >> bits:
            raise AxisProtocolError(f"{name}: padding bits of tdata set in beat {index} ({word:#x})")
        if has_tlast and index == count - 1:
            word |= 1 << bits
        words.append(word)
    return words


def _pauses(rng, probability: float):
    """A pause generator: True (pause) with ``probability`` each cycle, drawn from ``rng``."""
    return (rng.random() < probability for _ in itertools.count())


class AxisEndpoints:
    """The cocotbext-axi objects of one simulation, made once per stream (they follow the
    reset themselves, so every job reuses them).

    Parameters
    ----------
    dut : cocotb handle
        The wrapper's top level (``aclk``, ``aresetn`` or ``areset``, ``s_axis_*``, ``m_axis_*``).
    layouts : dict
        Payload layout of every stream, by stream name (the design's own layouts).
    reset : str
        ``"aresetn"`` or ``"areset"``.
    """

    def __init__(self, dut, layouts: dict, reset: str):
        self.dut = dut
        self.layouts = layouts
        self._reset = getattr(dut, reset)
        self._active_level = reset == "areset"
        self._made = {}

    def _bus(self, port: str):
        return AxiStreamBus.from_prefix(self.dut, port)

    def _payload_bits(self, name: str, port: str) -> tuple[int, bool, int]:
        has_tlast = hasattr(self.dut, f"{port}_tlast")
        bits = self.layouts[name].size - int(has_tlast)
        return bits, has_tlast, len(getattr(self.dut, f"{port}_tdata")) // 8

    def source(self, name: str):
        """``(AxiStreamSource, AxiStreamMonitor, (bits, has_tlast, tdata bytes))`` of input ``name``."""
        if ("s", name) not in self._made:
            port = f"s_axis_{name}"
            kwargs = dict(clock=self.dut.aclk, reset=self._reset, reset_active_level=self._active_level)
            self._made["s", name] = (AxiStreamSource(self._bus(port), **kwargs),
                                     AxiStreamMonitor(self._bus(port), **kwargs), self._payload_bits(name, port))
        return self._made["s", name]

    def sink(self, name: str):
        """``(AxiStreamSink, (bits, has_tlast, tdata bytes))`` of output ``name``."""
        if ("m", name) not in self._made:
            port = f"m_axis_{name}"
            sink = AxiStreamSink(self._bus(port), clock=self.dut.aclk, reset=self._reset,
                                 reset_active_level=self._active_level)
            self._made["m", name] = (sink, self._payload_bits(name, port))
        return self._made["m", name]


class AxisSource:
    """An input stream driven by cocotbext-axi's ``AxiStreamSource`` with a seeded pause
    generator; its ``AxiStreamMonitor`` checks that the port accepted exactly the frames sent.

    Parameters
    ----------
    endpoints : AxisEndpoints
    name : str
        Stream name (the port is ``s_axis_<name>``).
    stall : float
        Probability, per cycle, of pausing the source (``tvalid`` low).
    rng : random.Random
        Source of the pause pattern.
    """

    def __init__(self, endpoints: AxisEndpoints, name: str, *, stall: float = 0.0, rng):
        self.name = name
        self._axi, self._monitor, (self._bits, self._tlast, self._bytes) = endpoints.source(name)
        self._axi.clear()
        while not self._monitor.empty():
            self._monitor.recv_nowait()
        self._axi.set_pause_generator(_pauses(rng, stall) if stall > 0 else None)
        self._axi.pause = False
        self._frames = []
        self._started = False

    @property
    def sent(self) -> int:
        """Beats taken from the queue so far (whole frames; for progress and timeout messages)."""
        return (sum(map(len, self._frames)) - self._axi.queue_occupancy_bytes) // self._bytes

    def send(self, payloads) -> None:
        """Queue payload words, as frames ending at each ``last`` beat."""
        frames = frames_of(payloads, self._bits, self._tlast, self._bytes)
        self._frames += frames
        if self._started:
            for frame in frames:
                self._axi.send_nowait(AxiStreamFrame(frame))

    @property
    def idle(self) -> bool:
        """Every queued frame has been transferred."""
        return self._started and self._axi.idle()

    def drive(self) -> None:
        """Hand the frames to cocotbext-axi on the first cycle after the job's reset (a frame
        queued earlier would start before the reset and be flushed by it)."""
        if not self._started:
            self._started = True
            for frame in self._frames:
                self._axi.send_nowait(AxiStreamFrame(frame))

    def sample(self) -> None:
        """Nothing to do each cycle: cocotbext-axi samples the handshake."""

    def finish(self) -> None:
        """Check with the monitor that the port took exactly the beats sent, in order."""
        seen = []
        while not self._monitor.empty():
            seen.append(bytes(self._monitor.recv_nowait().tdata))
        sent = b"".join(self._frames)
        if b"".join(seen) != sent:
            raise AxisProtocolError(f"s_axis_{self.name}: the monitor saw {len(b''.join(seen)) // self._bytes} "
                                    f"beats that differ from the {len(sent) // self._bytes} sent")
        if self._tlast and len(seen) != len(self._frames):
            raise AxisProtocolError(f"s_axis_{self.name}: the monitor saw {len(seen)} frames, "
                                    f"{len(self._frames)} were sent")


class AxisSink:
    """An output stream received by cocotbext-axi's ``AxiStreamSink`` with a seeded pause
    generator (``tready`` low); frames are split back into payload words.

    Parameters
    ----------
    endpoints : AxisEndpoints
    name : str
        Stream name (the port is ``m_axis_<name>``).
    backpressure : float
        Probability, per cycle, of pausing the sink.
    rng : random.Random
        Source of the pause pattern.
    """

    def __init__(self, endpoints: AxisEndpoints, name: str, *, backpressure: float = 0.0, rng):
        self.name = name
        self._axi, (self._bits, self._tlast, self._bytes) = endpoints.sink(name)
        while not self._axi.empty():
            self._axi.recv_nowait()
        self._axi.set_pause_generator(_pauses(rng, backpressure) if backpressure > 0 else None)
        self._axi.pause = False
        self.received = []
        self.expect_count = 0

    @property
    def done(self) -> bool:
        """All expected beats arrived (in whole frames)."""
        return len(self.received) >= self.expect_count

    def drive(self) -> None:
        """Nothing to do each cycle: cocotbext-axi drives ``tready``."""

    def sample(self, cycle: int) -> None:
        """Take the frames completed so far."""
        while not self._axi.empty():
            frame = self._axi.recv_nowait()
            self.received += beats_of(frame.tdata, self._bits, self._tlast, self._bytes, f"m_axis_{self.name}")

    def hold(self) -> None:
        """Stop accepting beats (between jobs)."""
        self._axi.set_pause_generator(None)
        self._axi.pause = True
