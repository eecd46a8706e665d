"""Reusable Amaranth building blocks shared by the design families.

- :mod:`accelgen.hdl.arith`: operand/accumulator shapes, exact value ranges, overflow handling.
- :mod:`accelgen.hdl.delay`: fixed-latency delay lines (skew buffers).
- :mod:`accelgen.hdl.pe`: processing elements (multiply-accumulate cells).
- :mod:`accelgen.hdl.mac`: bit-level MAC blocks: Booth partial products, carry-save
  compressor trees, and the ``mac`` styles built from them.
- :mod:`accelgen.hdl.fixedpoint`: named rounding modes and saturation, for tables, golden
  models and hardware alike.
"""
