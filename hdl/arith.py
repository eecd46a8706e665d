"""Integer shapes, exact value ranges and overflow handling.

Widths in accelgen are never guessed: every accumulator width is derived from the exact
range of the values it can hold, and every place where a value may not fit names its
overflow mode (:data:`OVERFLOW_MODES`).
"""

from amaranth.hdl import Const, Mux, Shape, Signal, Value, signed, unsigned

__all__ = [
    "OVERFLOW_MODES",
    "operand_shape",
    "shape_range",
    "product_range",
    "dot_product_range",
    "shape_for_range",
    "clamp",
    "split_product",
]

#: Legal overflow modes. ``"wrap"`` keeps the low bits (two's complement arithmetic modulo
#: ``2**width``); ``"saturate"`` clamps to the most negative / most positive code.
OVERFLOW_MODES = ("wrap", "saturate")


def operand_shape(width: int, is_signed: bool) -> Shape:
    """Return ``signed(width)`` or ``unsigned(width)``."""
    return signed(width) if is_signed else unsigned(width)


def shape_range(shape) -> tuple[int, int]:
    """Smallest and largest integer representable in ``shape`` (inclusive)."""
    shape = Shape.cast(shape)
    if shape.signed:
        return -(1 << (shape.width - 1)), (1 << (shape.width - 1)) - 1
    return 0, (1 << shape.width) - 1


def product_range(a_shape, b_shape) -> tuple[int, int]:
    """Exact range of ``a * b`` over all operand codes."""
    a_lo, a_hi = shape_range(a_shape)
    b_lo, b_hi = shape_range(b_shape)
    corners = [a_lo * b_lo, a_lo * b_hi, a_hi * b_lo, a_hi * b_hi]
    return min(corners), max(corners)


def dot_product_range(a_shape, b_shape, length: int) -> tuple[int, int]:
    """Exact range of a sum of ``length`` products ``a * b``."""
    lo, hi = product_range(a_shape, b_shape)
    return length * lo, length * hi


def shape_for_range(lo: int, hi: int) -> Shape:
    """Narrowest shape holding every integer in ``[lo, hi]``; signed only if ``lo < 0``."""
    return Shape.cast(range(lo, hi + 1))


def clamp(value, shape):
    """Amaranth expression: ``value`` saturated to the range of ``shape``.

    ``value`` must be wide enough to hold the unsaturated result; the clamp then compares
    exactly, and the result fits ``shape`` without truncation.
    """
    lo, hi = shape_range(shape)
    value = Value.cast(value)
    value_lo, value_hi = shape_range(value.shape())
    # Compare only on the sides the value can reach: an unsigned value is never below 0, and a
    # constant comparison is a Verilator UNSIGNED / CMPCONST warning.
    result = Mux(value < lo, lo, value) if value_lo < lo else value
    return Mux(value > hi, hi, result) if value_hi > hi else result


#: Bits of ``a`` per partial product of :func:`split_product`: an unsigned 17-bit chunk times an
#: operand of up to 17 bits fits one signed 18 x 18 FPGA multiplier.
PRODUCT_CHUNK = 17


def split_product(m, a, b, name: str):
    """``a * b`` with registered partial products, for a wide ``a`` and a narrow ``b``.

    ``a`` is cut into :data:`PRODUCT_CHUNK`-bit pieces (the top one carries the sign); each piece
    times ``b`` is registered in module ``m``, so one multiplier block ends each path and the
    sum of the shifted pieces (returned, combinational: register it) starts the next. The value
    is exact: one cycle after ``a`` and ``b``, the result equals their product.
    """
    a, b = Value.cast(a), Value.cast(b)
    width = a.shape().width
    if width == 0:
        # A zero-width operand (e.g. a constant 0: an exp scale so small that S*log2(e)
        # rounds to 0) has no pieces; the product is 0.
        return Const(0, 1)
    pieces = []
    for index, low in enumerate(range(0, width, PRODUCT_CHUNK)):
        top = low + PRODUCT_CHUNK >= width
        chunk = a[low:] if top else a[low:low + PRODUCT_CHUNK]
        chunk = chunk.as_signed() if top and a.shape().signed else chunk
        reg = Signal(signed(chunk.shape().width + b.shape().width + 1), name=f"{name}_pp{index}")
        m.d.sync += reg.eq(chunk * b)
        pieces.append(reg if low == 0 else reg << low)
    total = pieces[0]
    for piece in pieces[1:]:
        total = total + piece
    return total
