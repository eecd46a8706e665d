"""Tiled GEMM engine (design ``gemm``): on-chip buffers and a tile scheduler around an array.

``C = A @ B`` for any ``M x K`` times ``K x N`` (up to ``m_max``, ``k_max``, ``n_max``) on a
``rows x cols`` array. A job starts with one descriptor beat ``{m, n, k}``; the engine then
takes ``A`` and ``B`` on their streams, writes them into on-chip buffers
(``amaranth.lib.memory``), feeds the array tile by tile, and sends ``C`` on its stream.
Loading and compute overlap at the word level: a tile's beat is fed as soon as the words it
needs have arrived, and the next ``B`` block is loaded into the second bank of the ``B``
buffer while the current one computes.

Engines (``engine``):

``os``
    The output-stationary array (:class:`~accelgen.generators.systolic.SystolicArray`). Each
    output tile ``(nt, mt)`` streams ``K`` beats: column ``k`` of the A row block and row ``k``
    of the B column block. All of ``A`` stays in the A buffer (reused for every column block);
    ``B`` goes through the double-buffered B buffer one ``K x cols`` block at a time. The
    ``C`` buffer is the array's result FIFOs (``c_buffer_words`` rows).
``ws``
    The weight-stationary array (:class:`~accelgen.generators.systolic_ws.SystolicWSArray`).
    Each ``rows x cols`` block of ``B`` (``K`` padded to a multiple of ``rows`` with zeros) is
    a weight tile; all ``M`` rows of the matching slice of ``A`` stream through it. The
    partial sums of the K blocks accumulate in the ``C`` buffer (``c_buffer_words`` rows of
    ``cols`` sums, read-modify-write); the last K block's sums go straight to ``C``.
``tree``, ``matrix2d``, ``cube3d``
    The broadcast dot-product engines (:mod:`accelgen.generators.engines`), driven exactly like
    ``os`` but with ``depth`` K lanes per beat: each output tile streams ``ceil(K/depth)``
    beats of a ``rows x depth`` block of A and a ``depth x cols`` block of B (K padded with
    zeros). ``tree`` has ``rows = 1``; ``matrix2d`` has ``depth = 1``.

Stream formats (``a`` and ``b`` beats are rows of ``rows`` / ``cols`` operands; lanes past
the matrix edge are ignored, the engine pads with zeros itself):

- ``desc``: ``{m, n, k}``, one beat per job; accepted when the previous job has finished.
- ``b`` (both engines): for each column block ``nt``, for ``k`` in ``0..K-1``:
  ``B[k, nt*cols : (nt+1)*cols]``.
- ``b`` with ``depth > 1``: for each column block ``nt``, for each K group ``kg``:
  ``B[kg*depth : (kg+1)*depth, nt*cols : (nt+1)*cols]`` as ``[depth][cols]``.
- ``a``, engine ``os`` (and ``tree``, ``matrix2d``, ``cube3d``): for each row block ``mt``, for
  each K group ``kg``: ``A[mt*rows : (mt+1)*rows, kg*depth : (kg+1)*depth]`` as
  ``[rows][depth]`` (with ``depth = 1``: a column segment).
- ``a``, engine ``ws``: for each K block ``kt``, for ``m`` in ``0..M-1``:
  ``A[m, kt*rows : (kt+1)*rows]`` (a row segment).
- ``c``: for each column block ``nt``, for ``m`` in ``0..M-1``: ``C[m, nt*cols : (nt+1)*cols]``
  (columns past ``N`` are zero); ``last`` on the job's final beat.

``cycle_count`` counts the cycles of each job from the descriptor to the final ``C`` beat;
``mac_count`` the array's multiply-accumulates (padding included). :func:`analytic_cycles`
predicts ``cycle_count`` for stall-free streams (SCALE-Sim-style fold formulas with the
array's fill and drain and the buffer pipeline).

Modules: :mod:`~.params` (parameters and cycle models), :mod:`~.buffers` (job control, A and
B buffers), :mod:`~.feeders` (buffer words to the array's operand streams),
:mod:`~.collectors` (the array's result rows to ``c``) and :mod:`~.engine` (the top, which
only instantiates and connects them).
"""

from .engine import GemmEngine
from .params import (A_REUSE_POLICIES, BROADCAST_ENGINES, ENGINES, FEED_LATENCY, GEMM_MAC_STYLES, WS_COLLECT_LATENCY,
                     GemmParams, a_stream_passes, analytic_cycles, fold_counts, scalesim_cycles)

__all__ = ["GemmParams", "GemmEngine", "ENGINES", "GEMM_MAC_STYLES", "BROADCAST_ENGINES", "A_REUSE_POLICIES",
           "FEED_LATENCY", "WS_COLLECT_LATENCY", "analytic_cycles", "scalesim_cycles", "fold_counts",
           "a_stream_passes"]
