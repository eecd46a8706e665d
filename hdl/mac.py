"""Bit-level multiply-accumulate building blocks: partial products and carry-save compressors.

A product ``a * b`` is a sum of partial products, each carrying a bit weight; a sum of
products is a sum of all their partial products. These blocks expose that sum explicitly so
that engines can choose *where* the single carry-propagate addition happens
(:data:`MAC_STYLES`):

- :func:`partial_products` turns ``a * b`` into a few rows (radix-4 Booth recoding of ``a``
  by default) whose sum modulo ``2**width`` is the product;
- :func:`compress` reduces any number of rows to two (a carry-save pair) with a Dadda tree of
  explicit full and half adders (XOR / majority), so synthesis sees a compressor tree and no
  ``+`` operator; the caller adds the two rows (one carry-propagate adder) only where the
  result is needed in binary;
- :func:`prefix_add` is that carry-propagate adder with logarithmic depth, so the addition
  moved out of the MAC loop does not become the longest path where the result leaves.

Everything is modulo ``2**width``: rows are ``width``-bit values and carries out of the top
column are dropped, which is exactly two's complement wrap-around at ``width`` bits.

Constant bits (for example the sign-extension constants of Booth rows, or the known-zero low
bits of a shifted row) are tracked at elaboration time: they never occupy a compressor input
when they are zero, and all constant one bits of a compression are folded into a single
constant row.
"""

import functools
import operator

from amaranth.hdl import Cat, Const, Signal, Value
from amaranth.hdl import _ast

from .util import ceil_div

__all__ = ["MAC_STYLES", "MAC_STYLE_DOCS", "PP_ENCODINGS", "FINAL_ADDERS", "partial_products", "compress",
           "compress_stages", "prefix_add", "final_add"]

#: The multiply-accumulate micro-architectures engines offer (their ``mac`` parameter).
MAC_STYLES = ("baseline", "carry_save", "same_weight_tree", "booth_serial")

#: One-paragraph description of each :data:`MAC_STYLES` entry.
MAC_STYLE_DOCS = {
    "baseline": (
        "Multiply, then add: each product is formed by the synthesis tool's multiplier and "
        "added to a binary accumulator (one carry-propagate adder per MAC and cycle). The "
        "reference every other style must match bit for bit."
    ),
    "carry_save": (
        "Compressed accumulation (the 'compressed accumulative PE'): the accumulator is kept "
        "as a carry-save pair (sum, carry); each cycle the radix-4 Booth partial products and "
        "the stored pair go through one 3:2 compressor tree, with no carry-propagate adder in "
        "the loop. The pair is added once, when the result leaves the PE."
    ),
    "same_weight_tree": (
        "For engines that reduce several products per output and cycle (adder trees): the "
        "partial products of all the products are compressed together, column by bit weight, "
        "in one tree, and only one carry-propagate adder per output remains (instead of one "
        "multiplier's final adder per product plus an adder tree)."
    ),
    "booth_serial": (
        "Digit-serial with zero skipping (the paper's sparsity-encoded serial PE, OPT3/OPT4C), "
        "for the broadcast engines: the A operands of a beat are recoded into radix-4 Booth "
        "digits and the grid adds one digit position per cycle (a partial product from {0, "
        "+-B, +-2B} per product, no multiplier), skipping the positions where every A operand "
        "of the beat has a zero digit. A beat takes max(1, nonzero positions) cycles, so the "
        "throughput depends on the data; needs overflow='wrap'."
    ),
}

#: Carry-propagate adder architectures of :func:`final_add`: ``"prefix"`` (:func:`prefix_add`,
#: explicit gates of logarithmic depth, for ASIC flows) or ``"carry_chain"`` (the synthesis
#: tool's ``+``, which FPGA flows map onto their dedicated carry chains).
FINAL_ADDERS = ("prefix", "carry_chain")

#: Partial-product encodings of :func:`partial_products`.
PP_ENCODINGS = ("booth_radix4", "and_array")


# -- bit algebra over Amaranth 1-bit values and Python constants 0/1 --------------------------

def _is_const(bit) -> bool:
    return isinstance(bit, int)


def _is_zero(bit) -> bool:
    return _is_const(bit) and bit == 0


def _not(x):
    return 1 - x if _is_const(x) else ~x


def _xor(*bits):
    parity = 0
    variables = []
    for bit in bits:
        if _is_const(bit):
            parity ^= bit
        else:
            variables.append(bit)
    if not variables:
        return parity
    value = functools.reduce(operator.xor, variables)
    return ~value if parity else value


def _and(x, y):
    if _is_const(x):
        return y if x else 0
    if _is_const(y):
        return x if y else 0
    return x & y


def _or(x, y):
    if _is_const(x):
        return 1 if x else y
    if _is_const(y):
        return 1 if y else x
    return x | y


def _majority(x, y, z):
    consts = [bit for bit in (x, y, z) if _is_const(bit)]
    variables = [bit for bit in (x, y, z) if not _is_const(bit)]
    if len(variables) == 3:
        return (x & y) | (x & z) | (y & z)
    if len(variables) == 2:
        u, v = variables
        return (u | v) if consts[0] else (u & v)
    if len(variables) == 1:
        ones = sum(consts)
        return 1 if ones == 2 else (variables[0] if ones == 1 else 0)
    return 1 if sum(consts) >= 2 else 0


def _value_bits(value) -> list:
    """The bits of ``value``, least significant first; constant bits as Python ints."""
    value = Value.cast(value)
    if isinstance(value, Const):
        code = value.value & ((1 << len(value)) - 1)
        return [(code >> i) & 1 for i in range(len(value))]
    if isinstance(value, _ast.Concat):
        bits = []
        for part in value.parts:
            bits += _value_bits(part)
        return bits
    if isinstance(value, _ast.Slice):
        return _value_bits(value.value)[value.start:value.stop]
    return [value[i] for i in range(len(value))]


class _BitMatrix:
    """Bits to be summed, by column (bit weight), modulo ``2**width``; constants kept apart."""

    def __init__(self, width: int):
        self.width = width
        self.columns = [[] for _ in range(width)]
        self.constant = 0

    def add_bit(self, position: int, bit):
        if position >= self.width:
            return
        if _is_const(bit):
            self.constant += bit << position
        else:
            self.columns[position].append(bit)

    def add_vector(self, bits, *, signed: bool, shift: int = 0):
        """Add the integer whose bits are ``bits`` (LSB first), two's complement if ``signed``.

        The sign bit ``s`` of weight ``-2**n`` is added as ``~s`` of weight ``2**n`` plus the
        constant ``-2**n``, so the vector never needs sign extension up to ``width``.
        """
        last = len(bits) - 1
        for index, bit in enumerate(bits):
            position = shift + index
            if signed and index == last:
                if _is_const(bit):
                    self.constant -= bit << position
                else:
                    self.add_bit(position, ~bit)
                    self.constant -= 1 << position
            else:
                self.add_bit(position, bit)

    def add_value(self, value, shift: int = 0):
        value = Value.cast(value)
        self.add_vector(_value_bits(value), signed=value.shape().signed, shift=shift)

    def finish(self) -> list[list]:
        """The columns with the folded constant added as at most one ``1`` per column."""
        constant = self.constant % (1 << self.width)
        columns = [list(column) for column in self.columns]
        for position in range(self.width):
            if (constant >> position) & 1:
                columns[position].append(1)
        return columns


def _pack_rows(columns: list[list], width: int) -> list[Value]:
    """Rows (``width``-bit unsigned values) holding the bits of ``columns``, one per level."""
    height = max((len(column) for column in columns), default=0)
    rows = []
    for level in range(height):
        bits = []
        for column in columns:
            bit = column[level] if level < len(column) else 0
            bits.append(Const(bit, 1) if _is_const(bit) else bit)
        rows.append(Cat(*bits))
    return rows


# -- partial products -------------------------------------------------------------------------

def _operand_bits(value) -> tuple[list, bool]:
    value = Value.cast(value)
    return _value_bits(value), value.shape().signed


def _extend(bits: list, signed: bool, width: int) -> list:
    """``bits`` sign- or zero-extended (or truncated) to ``width`` bits."""
    fill = bits[-1] if signed else 0
    return (bits + [fill] * width)[:width]


def _booth_rows(matrix: _BitMatrix, a_bits, a_signed, b_bits, b_signed):
    """Radix-4 Booth recoding of ``a``: digits ``d_j`` in {-2..2} of weight ``4**j``.

    An unsigned ``a`` is recoded as a signed number one bit wider (its top digit is then
    never negative). Row ``j`` is ``d_j * b``: the multiple ``|d_j| * b`` selected by the
    ``one``/``two`` signals, inverted when ``neg`` (``-M = ~M + 1``, the ``+1`` added as a
    single bit of weight ``4**j``).
    """
    n = len(a_bits) + (0 if a_signed else 1)
    digits = ceil_div(n, 2)
    a_ext = _extend(a_bits, a_signed, 2 * digits) if a_signed else (a_bits + [0] * (2 * digits))[: 2 * digits]
    # Width of the signed row |d|*b inverted: b signed -> -M-1 fits nb+1 bits; unsigned -> nb+2.
    k = len(b_bits) + (1 if b_signed else 2)
    b_ext = _extend(b_bits, b_signed, k)
    for j in range(digits):
        x0 = a_ext[2 * j - 1] if j > 0 else 0
        x1 = a_ext[2 * j]
        x2 = a_ext[2 * j + 1]
        one = _xor(x1, x0)
        two = _or(_and(x2, _and(_not(x1), _not(x0))), _and(_not(x2), _and(x1, x0)))
        neg = x2
        row = []
        for i in range(k):
            magnitude = _or(_and(one, b_ext[i]), _and(two, b_ext[i - 1] if i > 0 else 0))
            row.append(_xor(magnitude, neg))
        matrix.add_vector(row, signed=True, shift=2 * j)
        matrix.add_bit(2 * j, neg)


def _and_array_rows(matrix: _BitMatrix, a_bits, a_signed, b_bits, b_signed):
    """One row ``a_j * b * 2**j`` per bit of ``a``; the sign bit of a signed ``a`` weighs
    ``-2**(n-1)``, so that row is subtracted (inverted, plus one)."""
    last = len(a_bits) - 1
    for j, a_bit in enumerate(a_bits):
        if a_signed and j == last:
            k = len(b_bits) + 1
            row = [_not(_and(a_bit, b_bit)) for b_bit in _extend(b_bits, b_signed, k)]
            matrix.add_vector(row, signed=True, shift=j)
            matrix.add_bit(j, 1)
        else:
            row = [_and(a_bit, b_bit) for b_bit in b_bits]
            matrix.add_vector(row, signed=b_signed, shift=j)


def _product_matrix(a, b, width: int, encoding: str) -> _BitMatrix:
    if encoding not in PP_ENCODINGS:
        raise ValueError(f"encoding={encoding!r} is not legal: must be one of {', '.join(map(repr, PP_ENCODINGS))}")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width={width!r} is not legal: must be a positive integer")
    a_bits, a_signed = _operand_bits(a)
    b_bits, b_signed = _operand_bits(b)
    for name, bits in (("a", a_bits), ("b", b_bits)):
        if not 1 <= len(bits) <= 32:
            raise ValueError(f"operand {name} is {len(bits)} bits wide: must be 1..32 bits")
    matrix = _BitMatrix(width)
    if encoding == "booth_radix4":
        _booth_rows(matrix, a_bits, a_signed, b_bits, b_signed)
    else:
        _and_array_rows(matrix, a_bits, a_signed, b_bits, b_signed)
    return matrix


def partial_products(a, b, width: int, *, encoding: str = "booth_radix4") -> list[Value]:
    """Partial-product rows of ``a * b``.

    Parameters
    ----------
    a, b : Value
        Operands; each is signed or unsigned according to its Amaranth shape (1..32 bits).
    width : int
        Width of the rows; their sum is taken modulo ``2**width``. Use a width that holds
        the product (or the whole accumulation) to get the exact result.
    encoding : str
        ``"booth_radix4"`` (default): ``a`` is recoded into ``ceil(n/2)`` radix-4 digits in
        {-2, -1, 0, 1, 2} (``n`` = width of ``a``, plus one if unsigned), each selecting a
        multiple of ``b``. ``"and_array"``: one row ``a_j & b`` per bit of ``a``.

    Returns
    -------
    list of Value
        Unsigned ``width``-bit rows whose sum modulo ``2**width`` equals ``a * b`` modulo
        ``2**width``. Bits are packed column by column (a row holds at most one bit of each
        weight), so there are as many rows as the tallest column: the signs of the Booth
        rows are handled with the constant sign-extension trick (the constants of all rows
        folded into one), and the ``+1`` of each negative row sits in a free low bit of
        another row where possible.
    """
    matrix = _product_matrix(a, b, width, encoding)
    return _pack_rows(matrix.finish(), width)


# -- compression ------------------------------------------------------------------------------

def _dadda_targets(height: int) -> list[int]:
    targets = [2]
    while targets[-1] < height:
        targets.append(targets[-1] * 3 // 2)
    return [t for t in reversed(targets) if t < height]


def _reduce_stage(columns: list[list], target: int, width: int) -> list[list]:
    """One Dadda stage: full adders (3:2) and half adders (2:2) bring every column's height
    down to ``target``, counting the carries that arrive from the column below."""
    carries = [[] for _ in range(width + 1)]
    result = []
    for position in range(width):
        bits = columns[position]
        used = 0
        sums = []
        height = len(bits) + len(carries[position])
        while height > target:
            left = len(bits) - used
            if height - target >= 2 and left >= 3:
                x, y, z = bits[used:used + 3]
                used += 3
                sums.append(_xor(x, y, z))
                carry = _majority(x, y, z)
                height -= 2
            elif left >= 2:
                x, y = bits[used:used + 2]
                used += 2
                sums.append(_xor(x, y))
                carry = _and(x, y)
                height -= 1
            else:
                break
            if not _is_zero(carry):
                carries[position + 1].append(carry)
        # Oldest bits first: the next stage consumes them before the new sums and carries.
        column = bits[used:] + carries[position] + [bit for bit in sums if not _is_zero(bit)]
        result.append(column)
    return result


def _materialize(m, columns: list[list], width: int, name: str, *, register: bool = False) -> list[list]:
    """Give a stage's bits names: one ``width``-bit signal per level of the columns, comb, or with
    ``register`` a plain register (no reset: a pipeline stage whose contents matter only when the
    beat it carries is valid). Constant bits stay constants."""
    height = max((len(column) for column in columns), default=0)
    out = [[] for _ in range(width)]
    domain = m.d.sync if register else m.d.comb
    for level in range(height):
        if all(level >= len(column) or _is_const(column[level]) for column in columns):
            for position, column in enumerate(columns):
                if level < len(column):
                    out[position].append(column[level])
            continue
        row = Signal(width, name=f"{name}_{level}", reset_less=register)
        for position, column in enumerate(columns):
            if level < len(column):
                bit = column[level]
                if _is_const(bit):
                    out[position].append(bit)
                else:
                    domain += row[position].eq(bit)
                    out[position].append(row[position])
    return out


def compress_stages(rows, width: int) -> int:
    """Number of compressor stages :func:`compress` uses for ``rows`` (0 when at most two rows
    remain after constant folding); the stage indices of ``register_after`` are ``0..`` this."""
    matrix = _BitMatrix(width)
    for row in rows:
        matrix.add_value(row)
    columns = matrix.finish()
    stages = 0
    # The same loop as compress (without naming signals): a pass may need a second round.
    while max((len(column) for column in columns), default=0) > 2:
        for target in _dadda_targets(max(len(column) for column in columns)):
            columns = _reduce_stage(columns, target, width)
            stages += 1
    return stages


def compress(rows, width: int, *, m=None, name: str = "csa", register_after=()) -> tuple[Value, Value]:
    """Carry-save reduction of ``rows`` to a (sum, carry) pair.

    Parameters
    ----------
    rows : list of Value
        Any number of values; each is sign- or zero-extended to ``width`` bits according to
        its shape (a signed row narrower than ``width`` costs no sign-extension bits: its
        sign is handled with the constant sign-extension trick). Constant bits are folded.
    width : int
        Width of the result; everything is computed modulo ``2**width``.
    m : Module, optional
        When given, the bits after each compressor stage are named comb signals of ``m``
        (``<name>_s<stage>_<level>``) and the results are signals ``<name>_sum`` and
        ``<name>_carry``. The logic is the same; the Verilog is easier to read and the
        Amaranth simulator evaluates the tree in linear rather than exponential time.
    name : str
        Prefix of those signal names.
    register_after : collection of int
        Pipeline the tree: the bits are registered (``<name>_r<stage>_<level>``, plain
        registers) after these stages; ``0`` registers the input rows themselves and ``s``
        the bits after compressor stage ``s`` (``1..``:func:`compress_stages`). Needs ``m``.
        The pair then arrives ``len(register_after)`` cycles after the rows.

    Returns
    -------
    (Value, Value)
        Two unsigned ``width``-bit values with ``(sum + carry) % 2**width == sum(rows) %
        2**width``. The tree is a Dadda tree of explicit full adders (``x ^ y ^ z`` and the
        majority function) and half adders; rows listed later enter later stages where the
        tree allows, so put the rows that arrive last (from the deepest logic) last.
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width={width!r} is not legal: must be a positive integer")
    matrix = _BitMatrix(width)
    for row in rows:
        matrix.add_value(row)
    columns = matrix.finish()
    register_after = set(register_after)
    if register_after and m is None:
        raise ValueError("compress needs m to register stages")
    if not register_after <= set(range(compress_stages(rows, width) + 1)):
        raise ValueError(f"register_after={sorted(register_after)} is not legal: stages are "
                         f"0..{compress_stages(rows, width)}")
    if 0 in register_after:
        columns = _materialize(m, columns, width, f"{name}_r0", register=True)
    stage = 0
    while True:
        height = max((len(column) for column in columns), default=0)
        if height <= 2:
            break
        for target in _dadda_targets(height):
            columns = _reduce_stage(columns, target, width)
            if m is not None:
                columns = _materialize(m, columns, width, f"{name}_s{stage}")
            stage += 1
            if stage in register_after:
                columns = _materialize(m, columns, width, f"{name}_r{stage}", register=True)
        if stage > 64:  # pragma: no cover - every stage removes bits; cannot happen
            raise RuntimeError("compressor tree did not converge")
    pair = []
    for level in range(2):
        bits = [column[level] if level < len(column) else 0 for column in columns]
        value = Cat(*(Const(bit, 1) if _is_const(bit) else bit for bit in bits))
        if m is not None:
            signal = Signal(width, name=f"{name}_{'sum' if level == 0 else 'carry'}")
            m.d.comb += signal.eq(value)
            value = signal
        pair.append(value)
    return pair[0], pair[1]



def _kept_signal(m, value, name: str) -> Signal:
    """A comb signal marked ``keep``: logic optimizers (ABC) must preserve it as a net, so
    they cannot restructure across it. Without this, area-driven mapping turns the prefix
    network back into a ripple-carry chain (same function, fewer gates, ``width`` levels)."""
    signal = Signal(len(value), name=name, attrs={"keep": 1})
    m.d.comb += signal.eq(value)
    return signal


def prefix_add(m, a, b, width: int, *, name: str = "cpa") -> Signal:
    """``(a + b) % 2**width`` by a Sklansky parallel-prefix adder of explicit gates.

    The carry of bit ``i`` is the group generate of bits ``0..i-1``, combined in
    ``ceil(log2(width))`` levels of ``g | (p & g')`` cells, so the depth grows with
    ``log2(width)`` (about 13 two-input gates at 32 bits) instead of ``width``: the synthesis
    tool's default mapping of ``+`` to generic gates is a ripple-carry adder (two gates per
    bit). Used where a carry-save pair becomes binary, outside the MAC loop. The level signals
    are marked ``keep`` so that logic optimization preserves the prefix structure. FPGA flows
    map it to LUTs rather than the carry chain, which at one adder per column costs little.

    Parameters
    ----------
    m : Module
        The module that receives the comb logic (one named signal per prefix level,
        ``<name>_g<level>`` / ``<name>_p<level>``, for readable Verilog and a fast simulator).
    a, b : Value
        Addends; the low ``width`` bits of each are used.
    width : int
        Width of the sum (carries out of the top bit are dropped).
    name : str
        Prefix of the signal names.

    Returns
    -------
    Signal
        The ``width``-bit sum.
    """
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width={width!r} is not legal: must be a positive integer")
    a, b = Value.cast(a), Value.cast(b)
    a_bits = a.as_unsigned()[:width] if len(a) >= width else a.as_unsigned()
    b_bits = b.as_unsigned()[:width] if len(b) >= width else b.as_unsigned()
    propagate = _kept_signal(m, a_bits ^ b_bits, f"{name}_p0")
    generate = _kept_signal(m, a_bits & b_bits, f"{name}_g0")
    half_sum = propagate
    level = 0
    # After level l, bit i holds the generate/propagate of the group from the start of its
    # 2**(l+1)-aligned block up to i (the whole prefix 0..i once 2**(l+1) > i).
    while (1 << level) < width:
        span = 1 << level
        g_bits, p_bits = [], []
        for i in range(width):
            if i & span:
                j = (i & ~(span - 1)) - 1  # last bit of the lower half of this block
                g_bits.append(generate[i] | (propagate[i] & generate[j]))
                p_bits.append(propagate[i] & propagate[j])
            else:
                g_bits.append(generate[i])
                p_bits.append(propagate[i])
        level += 1
        generate = _kept_signal(m, Cat(*g_bits), f"{name}_g{level}")
        if (1 << level) < width:  # the last level's group propagates are not needed
            propagate = _kept_signal(m, Cat(*p_bits), f"{name}_p{level}")
    total = Signal(width, name=f"{name}_sum")
    m.d.comb += total.eq(half_sum ^ (generate << 1)[:width])
    return total


def final_add(m, a, b, width: int, *, style: str = "prefix", name: str = "cpa") -> Signal:
    """``(a + b) % 2**width`` by the architecture ``style`` of :data:`FINAL_ADDERS`.

    ``"prefix"`` is :func:`prefix_add` (a Sklansky network of kept gates: logarithmic depth
    in any flow, but FPGA flows build it from LUTs); ``"carry_chain"`` is ``+``, which generic
    synthesis maps to a ripple-carry chain (two gates per bit) and FPGA flows to their fast
    carry chains. Both return a ``width``-bit signal ``<name>_sum`` of ``m``.
    """
    if style not in FINAL_ADDERS:
        raise ValueError(f"style={style!r} is not legal: must be one of {', '.join(map(repr, FINAL_ADDERS))}")
    if style == "prefix":
        return prefix_add(m, a, b, width, name=name)
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"width={width!r} is not legal: must be a positive integer")
    total = Signal(width, name=f"{name}_sum")
    m.d.comb += total.eq(Value.cast(a).as_unsigned() + Value.cast(b).as_unsigned())
    return total
