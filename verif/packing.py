"""Packing numpy arrays into the flat payload vectors Amaranth exports.

An ``ArrayLayout(shape, n)`` puts element ``i`` at bits ``[i*w, (i+1)*w)``; a ``StructLayout``
places fields in declaration order from bit 0. Payloads are Python ints (arbitrary width).
"""

import numpy as np

__all__ = ["pack_array", "unpack_array", "pack_rows", "unpack_rows"]


def pack_array(values, width: int) -> int:
    """Pack one vector of integers (two's complement for negatives) into an int."""
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


def pack_rows(matrix, width: int, flags=None, flag_offset: int | None = None) -> list[int]:
    """Pack each row of ``matrix`` as one payload; optional 1-bit ``flags`` above the data."""
    matrix = np.asarray(matrix)
    offset = matrix.shape[1] * width if flag_offset is None else flag_offset
    words = [pack_array(row, width) for row in matrix]
    if flags is not None:
        words = [word | (int(flag) << offset) for word, flag in zip(words, flags)]
    return words


def unpack_rows(words, width: int, count: int, is_signed: bool, flag_offset: int | None = None):
    """Unpack payloads into ``(matrix (len(words), count) int64, flags or None)``."""
    matrix = np.array([unpack_array(word, width, count, is_signed) for word in words], dtype=np.int64)
    matrix = matrix.reshape(len(words), count)
    if flag_offset is None:
        return matrix, None
    flags = np.array([(word >> flag_offset) & 1 for word in words], dtype=np.int64)
    return matrix, flags
