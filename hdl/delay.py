"""Fixed-latency delay lines, used as the skew buffers in front of systolic arrays."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["DelayLine"]


class DelayLine(wiring.Component):
    """Delay a value by a fixed number of clock cycles.

    Every stage is a plain register (no enable): whatever is at ``i`` appears at ``o``
    exactly ``depth`` cycles later. With ``depth == 0`` the line is a wire.

    Parameters
    ----------
    shape : shape-castable
        Shape of the delayed value (a plain shape or a :mod:`amaranth.lib.data` layout).
    depth : int
        Number of register stages, ``>= 0``.

    Members
    -------
    i : In(shape)
        Value entering the line.
    o : Out(shape)
        ``i`` delayed by ``depth`` cycles.
    """

    def __init__(self, shape, depth: int):
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f"DelayLine depth must be a non-negative integer, not {depth!r}")
        self._shape = shape
        self._depth = depth
        super().__init__({"i": In(shape), "o": Out(shape)})

    @property
    def depth(self) -> int:
        """Number of register stages."""
        return self._depth

    def elaborate(self, platform):
        m = Module()
        previous = self.i
        for index in range(self._depth):
            stage = Signal(self._shape, name=f"stage{index}")
            m.d.sync += stage.eq(previous)
            previous = stage
        m.d.comb += self.o.eq(previous)
        return m
