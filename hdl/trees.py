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

Pipelining: the reduction of a beat's ``depth`` products is feed-forward, only the
accumulation is a loop. With ``pipeline=n`` the unit puts ``n`` register stages into the
feed-forward part (the last one right in front of the loop, so the loop holds only the
accumulate step), placed by :func:`place_stages` on the estimated logic depth of each step
(:func:`reduction_plan`); the result appears ``n`` cycles later. :func:`stages_for_depth`
gives the fewest stages that bring every stage under a depth target.
"""

import dataclasses

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .arith import OVERFLOW_MODES, clamp, dot_product_range, shape_for_range
from .mac import FINAL_ADDERS, MAC_STYLES, compress, compress_stages, final_add, partial_products
from .util import ceil_log2

__all__ = ["adder_tree", "pipelined_tree", "pipelined_tree_latency", "DotProductAccumulator", "ReductionPlan",
           "reduction_plan", "place_stages", "stages_for_depth", "BOOTH_LEVELS", "CSA_STAGE_LEVELS"]

#: Estimated two-input gate levels (the cells of the generic flow, ``abc -g``) of the steps of a
#: reduction; estimates for placing registers, the synthesized depth is measured by the benchmarks.
#: Radix-4 Booth recoding and multiple selection of the partial products:
BOOTH_LEVELS = 6
#: One compressor stage: a full adder's sum is an XOR3 (2 levels), its carry a majority (3).
CSA_STAGE_LEVELS = 3


def _ripple_levels(width: int) -> int:
    # Generic synthesis maps ``+`` and ``*``'s final adder to a ripple-carry chain.
    return 2 * width


def _prefix_levels(width: int) -> int:
    # prefix_add: propagate/generate, ceil_log2 levels of g | (p & g'), the final XOR.
    return 2 + 2 * ceil_log2(max(width, 2))


@dataclasses.dataclass(frozen=True)
class ReductionPlan:
    """Estimated logic depth of a dot-product accumulator's steps.

    Attributes
    ----------
    steps : tuple of int
        Feed-forward steps from the operand registers to the accumulate loop, in order, each
        its estimated gate levels; a register stage may follow any step.
    loop : int
        Levels of the accumulate loop (the accumulator back to itself), which no register
        stage can shorten.
    unpipelined : int or None
        Levels of the whole unit without stages, where it is built differently (a
        compressor style then joins the accumulator to the products' tree); ``None``: the
        steps followed by the loop.
    """

    steps: tuple
    loop: int
    unpipelined: int | None = None

    def stage_depths(self, cuts) -> list[int]:
        """Levels of each pipeline segment for register stages after the steps in ``cuts``."""
        depths, run = [], 0
        for index, levels in enumerate(self.steps):
            run += levels
            if index in cuts:
                depths.append(run)
                run = 0
        return depths + [run]

    def depth(self, stages: int) -> int:
        """Estimated longest path with ``stages`` register stages (the loop included)."""
        if stages == 0 and self.unpipelined is not None:
            return self.unpipelined
        segments = self.stage_depths(place_stages(self, stages))
        segments[-1] += self.loop  # the unregistered tail runs into the loop
        return max(segments + [self.loop])


def reduction_plan(*, a_shape, b_shape, depth: int, acc_shape, mac: str, overflow: str = "wrap",
                   final_adder: str = "prefix") -> ReductionPlan:
    """The :class:`ReductionPlan` of a :class:`DotProductAccumulator` with these parameters
    (depths in generic gates: a ``carry_chain`` adder counts as a ripple chain)."""
    width = acc_shape.width
    if mac == "baseline":
        product = a_shape.width + b_shape.width
        steps = [_ripple_levels(product)] + [_ripple_levels(product + level + 1) for level in range(ceil_log2(depth))]
        loop = 1 + _ripple_levels(width) + (4 if overflow == "saturate" else 0)
        return ReductionPlan(tuple(steps), loop)
    tree_width = _tree_width(a_shape, b_shape, depth, acc_shape, overflow)
    a, b = Signal(a_shape), Signal(b_shape)
    rows = [row for _ in range(depth) for row in partial_products(a, b, tree_width)]
    steps = [BOOTH_LEVELS] + [CSA_STAGE_LEVELS] * compress_stages(rows, tree_width)
    joined = BOOTH_LEVELS + CSA_STAGE_LEVELS * compress_stages(rows + [Signal(acc_shape)] * (2 if mac == "carry_save"
                                                                                            else 1), tree_width)
    if mac == "carry_save":
        loop = 1 + 2 * CSA_STAGE_LEVELS  # the pair joins the product pair: a 4:2 compressor
        return ReductionPlan(tuple(steps), loop, joined + 1)
    saturate = 4 if overflow == "saturate" else 0
    adder = _prefix_levels(tree_width) if final_adder == "prefix" else _ripple_levels(tree_width)
    loop = 1 + CSA_STAGE_LEVELS + adder + saturate
    # Unpipelined, the tree's pair is added by `+`, which generic synthesis maps to a ripple chain.
    return ReductionPlan(tuple(steps), loop, joined + 1 + _ripple_levels(tree_width) + saturate)


def _tree_width(a_shape, b_shape, depth, acc_shape, overflow) -> int:
    if overflow == "wrap":
        return acc_shape.width
    # Exact: room for the accumulator plus the beat's dot product, so the clamp sees the true sum.
    beat = shape_for_range(*dot_product_range(a_shape, b_shape, depth))
    return max(acc_shape.width, beat.width) + 2


def place_stages(plan: ReductionPlan, stages: int) -> frozenset:
    """The steps of ``plan`` that register stages follow, for ``stages`` stages: always the last
    step (so the loop holds only the accumulation), the others placed so that the longest
    segment is as short as possible (exact, by dynamic programming)."""
    steps = list(plan.steps)
    if not 0 <= stages <= len(steps):
        raise ValueError(f"stages={stages!r} is not legal: must be an integer in 0..{len(steps)}")
    if stages == 0:
        return frozenset()
    count = len(steps)
    prefix = [0]
    for levels in steps:
        prefix.append(prefix[-1] + levels)
    # best[k][i]: the smallest longest segment covering steps[:i] with k cuts, the last after step i-1.
    inf = float("inf")
    best = [[inf] * (count + 1) for _ in range(stages + 1)]
    choice = [[None] * (count + 1) for _ in range(stages + 1)]
    best[0][0] = 0
    for k in range(1, stages + 1):
        for i in range(k, count + 1):
            for j in range(k - 1, i):
                value = max(best[k - 1][j], prefix[i] - prefix[j])
                if value < best[k][i]:
                    best[k][i], choice[k][i] = value, j
    cuts, i = [], count
    for k in range(stages, 0, -1):
        cuts.append(i - 1)
        i = choice[k][i]
    return frozenset(cuts)


def stages_for_depth(plan: ReductionPlan, target: int) -> int:
    """The fewest register stages for which every pipeline segment of ``plan`` is at most
    ``target`` levels deep; where no placement gets there, the fewest stages that reach the
    shortest longest segment possible (a step deeper than ``target``, or the loop, then bounds
    the depth, and :meth:`ReductionPlan.depth` says by how much)."""
    depths = [plan.depth(stages) for stages in range(len(plan.steps) + 1)]
    for stages, value in enumerate(depths):
        if value <= target:
            return stages
    return depths.index(min(depths))


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
    pipeline : int
        Register stages between the operands and the accumulate loop (``0..len(plan.steps)``
        of :func:`reduction_plan`), placed by :func:`place_stages`; ``done`` and the result
        come ``pipeline`` cycles later. ``0``: products, reduction and accumulation in one
        cycle (with a compressor style, the accumulator joins the partial products' tree).
    final_adder : str
        Architecture of the accumulate loop's adder of a pipelined ``same_weight_tree``
        (:data:`accelgen.hdl.mac.FINAL_ADDERS`).

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

    def __init__(self, *, a_shape, b_shape, depth: int, acc_shape, overflow: str = "wrap", mac: str = "baseline",
                 pipeline: int = 0, final_adder: str = "prefix"):
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
        self.plan = reduction_plan(a_shape=a_shape, b_shape=b_shape, depth=depth, acc_shape=acc_shape, mac=mac,
                                   overflow=overflow, final_adder=final_adder)
        if not isinstance(pipeline, int) or isinstance(pipeline, bool) or not 0 <= pipeline <= len(self.plan.steps):
            raise ValueError(f"pipeline={pipeline!r} is not legal: must be an integer in 0..{len(self.plan.steps)} "
                             f"(the feed-forward steps of this reduction)")
        self._pipeline = pipeline
        if final_adder not in FINAL_ADDERS:
            raise ValueError(f"final_adder={final_adder!r} is not legal: must be one of "
                             f"{', '.join(map(repr, FINAL_ADDERS))}")
        self._final_adder = final_adder
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
        if self._pipeline:
            return self._elaborate_pipelined()
        m = Module()
        fresh = self._track_sums(m, self.valid, self.last)

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

    def _track_sums(self, m, valid, last):
        """``done`` one cycle after a final beat; the returned ``fresh`` is set after a finished
        sum, so the next beat replaces the accumulator rather than adds to it."""
        fresh = Signal(init=1, name="fresh")
        m.d.sync += self.done.eq(valid & last)
        with m.If(valid):
            m.d.sync += fresh.eq(last)
        return fresh

    def _elaborate_pipelined(self):
        m = Module()
        cuts = place_stages(self.plan, self._pipeline)
        # valid and last travel with the beat through the stages (reset, unlike the data).
        valid, last = self.valid, self.last
        for stage in range(1, self._pipeline + 1):
            valid_next, last_next = Signal(name=f"valid_p{stage}"), Signal(name=f"last_p{stage}")
            m.d.sync += [valid_next.eq(valid), last_next.eq(last)]
            valid, last = valid_next, last_next
        fresh = self._track_sums(m, valid, last)

        a = [self.a[d] for d in range(self._depth)]
        b = [self.b[d] for d in range(self._depth)]
        acc_shape = self._acc_shape
        width = acc_shape.width
        if self._mac == "baseline":
            acc = Signal(acc_shape, name="acc")
            new = Mux(fresh, 0, acc) + _registered_sum(m, [x * y for x, y in zip(a, b)], cuts)
        else:
            tree_width = _tree_width(self._a_shape, self._b_shape, self._depth, acc_shape, self._overflow)
            rows = [row for x, y in zip(a, b) for row in partial_products(x, y, tree_width)]
            beat_sum, beat_carry = compress(rows, tree_width, m=m, name="csa", register_after=cuts)
            if self._mac == "carry_save":
                acc_sum = Signal(width, name="acc_sum")
                acc_carry = Signal(width, name="acc_carry")
                new_sum, new_carry = compress([beat_sum, beat_carry, Mux(fresh, 0, acc_sum), Mux(fresh, 0, acc_carry)],
                                              width, m=m, name="acc_csa")
                with m.If(valid):
                    m.d.sync += [acc_sum.eq(new_sum), acc_carry.eq(new_carry)]
                    with m.If(last):
                        m.d.sync += [self.result_sum.eq(new_sum), self.result_carry.eq(new_carry)]
                return m
            acc = Signal(acc_shape, name="acc")
            loop_sum, loop_carry = compress([beat_sum, beat_carry, Mux(fresh, 0, acc)], tree_width, m=m, name="acc_csa")
            bits = final_add(m, loop_sum, loop_carry, tree_width, style=self._final_adder, name="acc_cpa")
            new = bits.as_signed() if acc_shape.signed else bits
        if self._overflow == "saturate":
            new = clamp(new, acc_shape)
        with m.If(valid):
            m.d.sync += acc.eq(new)
            with m.If(last):
                m.d.sync += self.result.eq(new)
        return m


def _registered_sum(m, values, cuts):
    """Balanced ``+`` tree over ``values`` with plain registers after the steps in ``cuts``:
    step 0 is the values themselves, step ``l`` the ``l``-th level of sums."""
    values = list(values)
    level = 0
    while True:
        if level in cuts:
            registered = []
            for index, value in enumerate(values):
                reg = Signal(value.shape(), name=f"sum_r{level}_{index}", reset_less=True)
                m.d.sync += reg.eq(value)
                registered.append(reg)
            values = registered
        if len(values) == 1:
            return values[0]
        values = [values[i] + values[i + 1] if i + 1 < len(values) else values[i] for i in range(0, len(values), 2)]
        level += 1
