"""Payload words from numpy arrays and back, with every bit offset read from the layout.

Amaranth exports a stream's payload as one flat vector; its layout (a
:class:`~amaranth.lib.data.StructLayout`, e.g. of an :class:`accelgen.hdl.layouts.TileStreamSignature`)
says where each field starts. :func:`pack_beats` and :func:`unpack_beats` place and take fields
by those offsets (:func:`accelgen.hdl.layouts.payload_fields`), so a testbench never computes a
bit position itself. Payload words are Python ints (arbitrary width).
"""

import numpy as np

from ..hdl.layouts import payload_fields

__all__ = ["pack_array", "unpack_array", "pack_beats", "unpack_beats", "stream_layouts"]


def pack_array(values, width: int) -> int:
    """Pack one vector of integers (two's complement for negatives) into an int, element ``i``
    at bits ``[i*width, (i+1)*width)``."""
    mask = (1 << width) - 1
    word = 0
    for index, value in enumerate(values):
        word |= (int(value) & mask) << (index * width)
    return word


def unpack_array(word: int, width: int, count: int, is_signed: bool) -> list[int]:
    """Inverse of :func:`pack_array`."""
    mask = (1 << width) - 1
    out = []
    for index in range(count):
        value = (word >> (index * width)) & mask
        if is_signed and value >> (width - 1):
            value -= 1 << width
        out.append(value)
    return out


def _field_values(name, field, values, beats):
    values = np.asarray(values)
    if len(values) != beats:
        raise ValueError(f"field {name!r} has {len(values)} beats, the other fields {beats}")
    return values.reshape(beats, field["count"])


def pack_beats(layout, **fields) -> list[int]:
    """One payload word per beat.

    Each keyword is a field of ``layout`` (``data``, ``last``, ...) with an array whose first
    axis is the beat: ``(beats, ...)`` for an array field (the trailing axes are flattened
    row-major, as nested ``ArrayLayout``\\ s store them), ``(beats,)`` for a one-element field.
    Fields left out are zero.
    """
    described = payload_fields(layout)
    unknown = set(fields) - set(described)
    if unknown:
        raise ValueError(f"fields {sorted(unknown)} are not in the payload layout (fields: {sorted(described)})")
    beats = len(next(iter(fields.values())))
    words = [0] * beats
    for name, values in fields.items():
        field = described[name]
        values = _field_values(name, field, values, beats)
        for beat in range(beats):
            words[beat] |= pack_array(values[beat], field["elem_width"]) << field["offset"]
    return words


def unpack_beats(layout, words) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_beats`: every field as an int64 array, ``(beats, count)`` for array
    fields and ``(beats,)`` for one-element fields, signed where the element shape is."""
    out = {}
    for name, field in payload_fields(layout).items():
        mask = (1 << field["width"]) - 1
        values = np.array([unpack_array((word >> field["offset"]) & mask, field["elem_width"], field["count"],
                                        field["elem_signed"]) for word in words], dtype=np.int64)
        values = values.reshape(len(words), field["count"])
        out[name] = values[:, 0] if field["count"] == 1 and name != "data" else values
    return out


def stream_layouts(component) -> dict:
    """The payload layout of every stream member of a component, by member name (of the design
    inside, for an AXI4-Stream wrapper: ``tdata`` and ``tlast`` carry the same fields)."""
    component = getattr(component, "core", component)
    layouts = {}
    for name, member in component.signature.members.items():
        if member.is_signature and "payload" in member.signature.members:
            layouts[name] = member.signature.members["payload"].shape
    return layouts
