"""Bit-exact golden models (integer-only numpy) and their float64 references.

Every model states its widths and overflow semantics explicitly and checks its inputs fit
them; none goes through floating point.
"""

import numpy as np

__all__ = ["value_range", "check_fits", "flag_array", "code_array", "matmul_operands", "wrap", "saturate", "matmul", "split_tiles", "tile_matmul",
           "block_matmul", "engine_tile_rows"]


def value_range(width: int, is_signed: bool) -> tuple[int, int]:
    """Inclusive range of a ``width``-bit integer."""
    if is_signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def check_fits(name: str, array, width: int, is_signed: bool) -> np.ndarray:
    """Return ``array`` as int64 after checking every element fits the given integer type."""
    array = np.asarray(array)
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {array.dtype}")
    lo, hi = value_range(width, is_signed)
    # Compared before the cast to int64: a uint64 above 2**63 would wrap to a negative value
    # that passes the range check.
    if array.size and (int(array.min()) < lo or int(array.max()) > hi):
        raise ValueError(
            f"{name} has values in {array.min()}..{array.max()}, outside the "
            f"{'signed' if is_signed else 'unsigned'} {width}-bit range {lo}..{hi}"
        )
    return array.astype(np.int64)


def flag_array(name: str, value) -> np.ndarray:
    """The user's boolean array ``name`` (booleans, or integers that are all 0 or 1) as bool;
    ``ValueError`` naming it otherwise (a float or a 2 is not quietly taken as true)."""
    array = np.asarray(value)
    if array.dtype.kind == "b":
        return array
    if array.dtype.kind in "iu" and ((array == 0) | (array == 1)).all():
        return array.astype(bool)
    raise ValueError(f"{name} must hold booleans (or the integers 0 and 1), not {array.dtype} values "
                     f"in {array.min()}..{array.max()}")


def code_array(arrays: dict, name: str, what: str, width: int, is_signed: bool) -> np.ndarray:
    """The user's array ``name`` of integer codes (any shape, at least one) from ``arrays``, as
    int64, within the ``width``-bit range; ``ValueError`` naming the array otherwise."""
    if name not in arrays:
        raise ValueError(f"inputs must hold an integer array '{name}' of {what} (any shape); '{name}' is missing")
    codes = check_fits(name, arrays[name], width, is_signed)
    if codes.size == 0:
        raise ValueError(f"{name} is empty: give at least one code")
    return codes


def matmul_operands(params, arrays: dict) -> tuple[np.ndarray, np.ndarray]:
    """The user's ``a`` (M x K) and ``b`` (K x N) from ``arrays``, as int64: both present, within
    the operand ranges of ``params`` (``a_width``, ``a_signed``, ``b_width``, ``b_signed``), with
    matching K; ``ValueError`` naming the array otherwise."""
    for key in ("a", "b"):
        if key not in arrays:
            raise ValueError(f"inputs must hold integer arrays 'a' (M x K) and 'b' (K x N); '{key}' is missing")
    a = check_fits("a", arrays["a"], params.a_width, params.a_signed)
    b = check_fits("b", arrays["b"], params.b_width, params.b_signed)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a {a.shape} and b {b.shape} must be (M, K) and (K, N)")
    return a, b


def wrap(values, width: int, is_signed: bool) -> np.ndarray:
    """Two's complement wrap-around of int64 ``values`` to ``width`` bits."""
    values = np.asarray(values, dtype=np.int64)
    if width >= 64:
        return values
    mask = (1 << width) - 1
    low = values & mask
    if is_signed:
        low = np.where(low >= (1 << (width - 1)), low - (1 << width), low)
    return low


def saturate(values, width: int, is_signed: bool) -> np.ndarray:
    """Clamp int64 ``values`` to the ``width``-bit range."""
    lo, hi = value_range(width, is_signed)
    return np.clip(np.asarray(values, dtype=np.int64), lo, hi)


def matmul(a, b, *, a_width, a_signed, b_width, b_signed, acc_width, acc_signed, overflow) -> np.ndarray:
    """``a @ b`` as the systolic array computes it.

    Products are exact. With ``overflow="wrap"`` the accumulator is ``acc_width`` bits of
    two's complement, so the result is the exact sum modulo ``2**acc_width`` (order does
    not matter). With ``"saturate"`` the running sum is clamped after every addition,
    in order ``k = 0, 1, ...``, exactly like the accumulator register.

    All intermediate sums fit int64: ``|a*b| <= 2**32`` and ``K <= 2**16``.
    """
    a = check_fits("a", a, a_width, a_signed)
    b = check_fits("b", b, b_width, b_signed)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a {a.shape} and b {b.shape} are not (M, K) and (K, N)")
    if overflow == "wrap":
        return wrap(a @ b, acc_width, acc_signed)
    if overflow == "saturate":
        acc = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
        for k in range(a.shape[1]):
            acc = saturate(acc + np.outer(a[:, k], b[k, :]), acc_width, acc_signed)
        return acc
    raise ValueError(f"overflow={overflow!r} is not legal: must be 'wrap' or 'saturate'")


def split_tiles(a_beats, b_beats, last) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut stream beats into tiles at each ``last``: ``[(A (rows, K), B (K, cols)), ...]``."""
    ends = np.flatnonzero(np.asarray(last, dtype=bool)) + 1
    if len(ends) == 0 or ends[-1] != len(last):
        raise ValueError("the final beat must end a tile (last=1)")
    starts = np.concatenate([[0], ends[:-1]])
    return [(np.asarray(a_beats)[s:e].T, np.asarray(b_beats)[s:e]) for s, e in zip(starts, ends)]


def tile_matmul(a_beats, b_beats, last, **widths) -> np.ndarray:
    """Expected result rows of the systolic array for a beat stream: ``(tiles*rows, cols)``."""
    return np.concatenate([matmul(a, b, **widths) for a, b in split_tiles(a_beats, b_beats, last)])


def block_matmul(a_blocks, b_blocks, *, a_width, a_signed, b_width, b_signed, acc_width, acc_signed, overflow) -> np.ndarray:
    """One tile of a dot-product engine: ``sum_k a_blocks[k] @ b_blocks[k]``.

    ``a_blocks`` is ``(K, rows, depth)`` and ``b_blocks`` ``(K, depth, cols)``: beat ``k``
    adds the exact product of its blocks (``depth`` products per output). With
    ``overflow="wrap"`` the result is the exact sum modulo ``2**acc_width``; with
    ``"saturate"`` the running sum is clamped after every beat, in order, like the
    accumulator register. With ``depth = 1`` this is :func:`matmul`.
    """
    a = check_fits("a", a_blocks, a_width, a_signed)
    b = check_fits("b", b_blocks, b_width, b_signed)
    if a.ndim != 3 or b.ndim != 3 or a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"a blocks {a.shape} and b blocks {b.shape} are not (K, rows, depth) and (K, depth, cols)")
    beats = np.einsum("kid,kdj->kij", a, b)
    if overflow == "wrap":
        return wrap(beats.sum(axis=0), acc_width, acc_signed)
    if overflow == "saturate":
        acc = np.zeros(beats.shape[1:], dtype=np.int64)
        for beat in beats:
            acc = saturate(acc + beat, acc_width, acc_signed)
        return acc
    raise ValueError(f"overflow={overflow!r} is not legal: must be 'wrap' or 'saturate'")


def engine_tile_rows(a_beats, b_beats, last, **widths) -> np.ndarray:
    """Expected result rows of a dot-product engine for a beat stream: ``(tiles*rows, cols)``.

    ``a_beats`` is ``(beats, rows, depth)``, ``b_beats`` ``(beats, depth, cols)``; ``last``
    ends each tile.
    """
    last = np.asarray(last, dtype=bool)
    ends = np.flatnonzero(last) + 1
    if len(ends) == 0 or ends[-1] != len(last):
        raise ValueError("the final beat must end a tile (last=1)")
    starts = np.concatenate([[0], ends[:-1]])
    a_beats, b_beats = np.asarray(a_beats), np.asarray(b_beats)
    return np.concatenate([block_matmul(a_beats[s:e], b_beats[s:e], **widths) for s, e in zip(starts, ends)])
