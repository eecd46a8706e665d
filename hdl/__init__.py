"""Reusable Amaranth building blocks shared by the design families.

- :mod:`accelgen.hdl.arith`: operand/accumulator shapes, exact value ranges, overflow handling.
- :mod:`accelgen.hdl.delay`: fixed-latency delay lines (skew buffers).
- :mod:`accelgen.hdl.pe`: processing elements (multiply-accumulate cells).
- :mod:`accelgen.hdl.mac`: bit-level MAC blocks: Booth partial products, carry-save
  compressor trees, and the ``mac`` styles built from them.
- :mod:`accelgen.hdl.fixedpoint`: named rounding modes and saturation, for tables, golden
  models and hardware alike.
- :mod:`accelgen.hdl.util`: integer helpers (``ceil_div``, ``index_width``, logarithms).
- :mod:`accelgen.hdl.trees`: adder trees, pipelined reduction trees, dot-product accumulators.
- :mod:`accelgen.hdl.queues`: stream queues between pipeline stages (a queue with a same-cycle
  path while empty; a block-RAM queue with a flip-flop head).
- :mod:`accelgen.hdl.layouts`: payload layouts of the streams (``TileStreamSignature``), read
  by hardware, packers and manifests alike.
- :mod:`accelgen.hdl.tile_io`: the tile engines' stream shell: operand admission, result
  rows, busy counters.
- :mod:`accelgen.hdl.pim`: the DRAM-PIM controller's hardware:

  - :mod:`accelgen.hdl.pim.isa`: command set, command slot and stream layouts (the contract
    between the PIM controller and any channel model);
  - :mod:`accelgen.hdl.pim.presets`: PIM-DRAM organisation and timing, named presets, checks;
  - :mod:`accelgen.hdl.pim.timing`: the declarative DRAM-PIM timing table;
  - :mod:`accelgen.hdl.pim.gate`: the per-channel timing gate generated from that table.
"""
