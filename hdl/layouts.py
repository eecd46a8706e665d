"""Payload layouts of accelgen's streams: the one definition that hardware, packers and
manifests read.

Every vector stream of the designs (tile operands and results, rows of a softmax, lanes of an
elementwise unit) is a :class:`TileStreamSignature`: a valid/ready stream whose payload is a
:class:`~amaranth.lib.data.StructLayout` of ``data`` (``lanes`` elements), optional per-lane
flag fields, and an optional ``last`` bit that ends a tile or row. Fields are placed in that
order from bit 0, so ``data`` element ``i`` always starts at bit ``i * element width``.

:func:`payload_fields` describes any payload layout field by field (offset, width, element
shape, element count), which is how the manifests and the packers of
:mod:`accelgen.verif.packing` find the bits, instead of recomputing offsets.
"""

from amaranth.hdl import Shape, ShapeCastable, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["TileStreamSignature", "payload_fields", "element_shape"]

_RESERVED = ("data", "last")


class TileStreamSignature(wiring.Signature):
    """Signature of a valid/ready stream of vector beats (compatible with
    :class:`amaranth.lib.stream.Signature`: the same ``payload``, ``valid`` and ``ready``
    members, so :func:`~amaranth.lib.wiring.connect` joins the two).

    Parameters
    ----------
    elem_shape : shape-castable
        Shape of one element of ``data`` (itself a layout for nested operands, e.g. an
        ``ArrayLayout(a_shape, depth)`` per row of a broadcast engine).
    lanes : int
        Elements per beat (``>= 1``).
    flags : tuple of str
        Names of per-lane flag fields (``lanes`` bits each) placed after ``data``, e.g.
        ``("keep", "mask")``.
    last : bool
        Whether the payload ends with a ``last`` bit (final beat of a tile or row).

    Members
    -------
    payload : Out(payload_layout)
        ``{"data": ArrayLayout(elem_shape, lanes), <flag>: lanes, ..., "last": 1}``.
    valid : Out(1)
        A beat is available.
    ready : In(1)
        The beat is accepted.
    """

    def __init__(self, elem_shape, lanes: int, *, flags: tuple = (), last: bool = True):
        if not isinstance(elem_shape, ShapeCastable):
            Shape.cast(elem_shape)  # raises TypeError for anything that is not a shape
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
            raise TypeError(f"lanes must be a positive integer, not {lanes!r}")
        flags = tuple(flags)
        for flag in flags:
            if not isinstance(flag, str) or not flag.isidentifier() or flag in _RESERVED:
                raise ValueError(f"flags must be field names other than {_RESERVED}, not {flag!r}")
        if len(set(flags)) != len(flags):
            raise ValueError(f"flags must be distinct, not {flags!r}")
        if not isinstance(last, bool):
            raise TypeError(f"last must be a bool, not {last!r}")
        self._elem_shape = elem_shape
        self._lanes = lanes
        self._flags = flags
        self._last = last
        fields = {"data": data.ArrayLayout(elem_shape, lanes)}
        fields |= {flag: unsigned(lanes) for flag in flags}
        if last:
            fields["last"] = unsigned(1)
        self._payload_layout = data.StructLayout(fields)
        super().__init__({"payload": Out(self._payload_layout), "valid": Out(1), "ready": In(1)})

    @property
    def elem_shape(self):
        """Shape of one ``data`` element."""
        return self._elem_shape

    @property
    def lanes(self) -> int:
        """Elements per beat."""
        return self._lanes

    @property
    def flags(self) -> tuple:
        """Names of the per-lane flag fields."""
        return self._flags

    @property
    def last(self) -> bool:
        """Whether the payload has a ``last`` bit."""
        return self._last

    @property
    def payload_layout(self) -> data.StructLayout:
        """The payload's layout (what packers and manifests read)."""
        return self._payload_layout

    def __eq__(self, other):
        return (type(other) is type(self) and other.elem_shape == self.elem_shape
                and other.lanes == self.lanes and other.flags == self.flags and other.last == self.last)

    def __repr__(self):
        flags = f", flags={self._flags!r}" if self._flags else ""
        last = "" if self._last else ", last=False"
        return f"TileStreamSignature({self._elem_shape!r}, {self._lanes}{flags}{last})"

    def create(self, *, path=None, src_loc_at=0):
        """An interface with ``payload``, ``valid`` and ``ready`` signals."""
        return wiring.PureInterface(self, path=path, src_loc_at=1 + src_loc_at)


def element_shape(shape) -> tuple[Shape, int]:
    """``(innermost element shape, element count)`` of a (possibly nested) ``ArrayLayout``;
    ``(shape, 1)`` for anything else. Nested arrays are stored row-major, so the elements
    are contiguous in that order."""
    count = 1
    while isinstance(shape, data.ArrayLayout):
        count *= shape.length
        shape = shape.elem_shape
    return Shape.cast(shape), count


def payload_fields(layout) -> dict:
    """Field by field description of a payload layout.

    Returns
    -------
    dict
        ``{field: {"offset": bit, "width": bits, "elem_width": bits, "elem_signed": bool,
        "count": elements}}`` for a ``StructLayout`` (nested arrays flattened row-major), or
        ``{"": {...}}`` for a payload that is a plain shape or an ``ArrayLayout``.
    """
    if isinstance(layout, data.StructLayout):
        members = [(name, field.offset, field.shape) for name, field in layout]
    else:
        members = [("", 0, layout)]
    fields = {}
    for name, offset, shape in members:
        elem, count = element_shape(shape)
        fields[name] = {"offset": offset, "width": elem.width * count, "elem_width": elem.width,
                        "elem_signed": elem.signed, "count": count}
    return fields
