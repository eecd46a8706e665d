"""Dot-product accumulators: ``depth`` products reduced per cycle and accumulated over beats.

The unit behind the ``tree``, ``matrix2d`` and ``cube3d`` engines: one output of the engine.
Its MAC micro-architecture is chosen by ``mac`` (:data:`accelgen.hdl.mac.MAC_STYLES`):

- ``"baseline"``: ``depth`` multipliers, a balanced tree of adders, and a binary accumulator
  (synthesis builds each from ``*`` and ``+``);
- ``"same_weight_tree"``: the radix-4 Booth partial products of all ``depth`` products and
  the binary accumulator are compressed together, column by bit weight, in one carry-save
  tree; a single carry-propagate adder per output and cycle remains;
- ``"carry_save"``: the same tree, but the accumulator is a carry-save pair fed back into it,
  so there is no carry-propagate adder in the loop at all; the pair is added once, when the
  result leaves the engine.

All three compute bit-identical results. (``"booth_serial"`` is not a per-output unit: its
digit positions are shared by a whole grid, see :class:`accelgen.hdl.booth_serial.BoothSerialGrid`.)
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp, dot_product_range, shape_for_range
from .mac import MAC_STYLES, compress, partial_products

__all__ = ["adder_tree", "pipelined_tree", "pipelined_tree_latency", "DotProductAccumulator"]


def adder_tree(values):
    """Balanced binary tree of ``+`` over ``values`` (Amaranth widens every sum exactly)."""
    values = list(values)
    if not values:
        raise ValueError("adder_tree needs at least one value")
    while len(values) > 1:
        paired = [values[i] + values[i + 1] for i in range(0, len(values) - 1, 2)]
        if len(values) % 2:
            paired.append(values[-1])
        values = paired
    return values[0]


def pipelined_tree_latency(count: int, levels_per_stage: int = 1, register_inputs: bool = True) -> int:
    """Cycles of :func:`pipelined_tree` over ``count`` values: a register after every
    ``levels_per_stage`` levels and at the end, plus the input register (``register_inputs``);
    at least one."""
    levels = (count - 1).bit_length()
    return max(1, register_inputs + -(-levels // levels_per_stage))


def pipelined_tree(m, values, combine, shape, name: str, *, levels_per_stage: int = 1,
                   register_inputs: bool = True):
    """Balanced reduction of ``values`` with ``combine`` (e.g. a lane maximum or an adder tree)
    in module ``m``: the inputs registered (``register_inputs``), a register after every
    ``levels_per_stage`` levels of ``combine`` and at the end, so
    :func:`pipelined_tree_latency` cycles with at most ``levels_per_stage`` ``combine`` in a
    register-to-register path (by default one register per level plus one at the end).
    Registers are named ``{name}_l{level}_{index}`` and have ``shape``."""
    if levels_per_stage < 1:
        raise ValueError(f"levels_per_stage={levels_per_stage} is out of range: must be at least 1")
    values = list(values)
    level = 0
    unregistered = 0 if register_inputs else -1  # levels since the last register; -1: none yet
    while True:
        if unregistered == 0 or unregistered >= levels_per_stage or len(values) == 1:
            registered = []
            for index, value in enumerate(values):
                reg = Signal(shape, name=f"{name}_l{level}_{index}")
                m.d.sync += reg.eq(value)
                registered.append(reg)
            values = registered
            unregistered = 0
            if len(values) == 1:
                return values[0]
        values = [combine(values[i], values[i + 1]) if i + 1 < len(values) else values[i]
                  for i in range(0, len(values), 2)]
        unregistered = max(unregistered, 0) + 1
        level += 1


class DotProductAccumulator(wiring.Component):
    """One output of a dot-product engine: ``acc += sum_d a[d] * b[d]`` per valid beat.

    ``last`` marks the final beat of a dot product: the finished sum is written to the result
    register(s), ``done`` pulses for one cycle after it, and the result is held until the
    next finished sum replaces it; the next valid beat starts a fresh sum (no clear cycle),
    so sums run back to back.

    Parameters
    ----------
    a_shape, b_shape : Shape
        Operand shapes.
    depth : int
        Products per beat (``>= 1``).
    acc_shape : Shape
        Accumulator / result shape.
    overflow : str
        ``"wrap"`` or ``"saturate"`` (clamp after every beat's addition; the beat's own sum
        of ``depth`` products is exact). ``"saturate"`` is not possible with
        ``mac="carry_save"``.
    mac : str
        One of :data:`accelgen.hdl.mac.MAC_STYLES` (see the module docstring).

    Members
    -------
    a : In(ArrayLayout(a_shape, depth))
    b : In(ArrayLayout(b_shape, depth))
    valid, last : In(1)
        A beat is present / it is the final beat of a dot product.
    done : Out(1)
        One-cycle pulse: a new finished result is in the result register(s).
    result : Out(acc_shape)
        The finished sum (``mac`` other than ``"carry_save"``).
    result_sum, result_carry : Out(acc_shape.width)
        The finished sum as a carry-save pair (``mac="carry_save"``): the result is
        ``(result_sum + result_carry) mod 2**width``.
    """

    def __init__(self, *, a_shape, b_shape, depth: int, acc_shape, overflow: str = "wrap", mac: str = "baseline"):
        if overflow not in OVERFLOW_MODES:
            raise ValueError(f"overflow must be one of {OVERFLOW_MODES}, not {overflow!r}")
        if mac not in MAC_STYLES:
            raise ValueError(f"mac={mac!r} is not legal: must be one of {', '.join(map(repr, MAC_STYLES))}")
        if mac == "booth_serial":
            raise ValueError("mac='booth_serial' is a grid-level digit-serial unit: use accelgen.hdl.booth_serial.BoothSerialGrid")
        if mac == "carry_save" and overflow != "wrap":
            raise ValueError("mac='carry_save' accumulates in carry-save form and cannot saturate: overflow must be 'wrap'")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth={depth!r} is not legal: must be a positive integer")
        self._a_shape, self._b_shape = a_shape, b_shape
        self._depth = depth
        self._acc_shape = acc_shape
        self._overflow = overflow
        self._mac = mac
        members = {
            "a": In(data.ArrayLayout(a_shape, depth)),
            "b": In(data.ArrayLayout(b_shape, depth)),
            "valid": In(1),
            "last": In(1),
            "done": Out(1),
        }
        if mac == "carry_save":
            members |= {"result_sum": Out(acc_shape.width), "result_carry": Out(acc_shape.width)}
        else:
            members["result"] = Out(acc_shape)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        # Set after a finished sum, so the next beat replaces rather than adds.
        fresh = Signal(init=1)
        m.d.sync += self.done.eq(self.valid & self.last)
        with m.If(self.valid):
            m.d.sync += fresh.eq(self.last)

        a = [self.a[d] for d in range(self._depth)]
        b = [self.b[d] for d in range(self._depth)]
        acc_shape = self._acc_shape
        width = acc_shape.width

        if self._mac == "carry_save":
            acc_sum = Signal(width, name="acc_sum")
            acc_carry = Signal(width, name="acc_carry")
            rows = [row for x, y in zip(a, b) for row in partial_products(x, y, width)]
            # The stored pair is the latest-arriving input of the loop: it goes last.
            rows += [Mux(fresh, 0, acc_sum), Mux(fresh, 0, acc_carry)]
            new_sum, new_carry = compress(rows, width, m=m, name="csa")
            with m.If(self.valid):
                m.d.sync += [acc_sum.eq(new_sum), acc_carry.eq(new_carry)]
                with m.If(self.last):
                    m.d.sync += [self.result_sum.eq(new_sum), self.result_carry.eq(new_carry)]
            return m

        acc = Signal(acc_shape, name="acc")
        previous = Mux(fresh, 0, acc)
        if self._mac == "baseline":
            total = previous + adder_tree(x * y for x, y in zip(a, b))
        else:  # same_weight_tree
            if self._overflow == "wrap":
                tree_width = width
            else:
                # Exact: room for the accumulator plus the beat's dot product.
                beat = shape_for_range(*dot_product_range(self._a_shape, self._b_shape, self._depth))
                tree_width = max(width, beat.width) + 2
            rows = [row for x, y in zip(a, b) for row in partial_products(x, y, tree_width)]
            rows.append(previous)
            tree_sum, tree_carry = compress(rows, tree_width, m=m, name="csa")
            bits = Signal(tree_width, name="tree_total")
            m.d.comb += bits.eq(tree_sum + tree_carry)
            total = bits.as_signed() if acc_shape.signed else bits
        new = clamp(total, acc_shape) if self._overflow == "saturate" else total
        with m.If(self.valid):
            m.d.sync += acc.eq(new)
            with m.If(self.last):
                m.d.sync += self.result.eq(new)
        return m
