"""Verification: golden models, stream drivers/monitors/scoreboards, cocotb testbenches.

- :mod:`accelgen.verif.golden`: bit-exact, integer-only numpy models (and float64 references).
- :mod:`accelgen.verif.packing`: packing numpy arrays into Amaranth struct/array payload bits.
- :mod:`accelgen.verif.streams`: cocotb valid/ready source, sink and scoreboard with random
  stalls and backpressure (import only inside a simulation).
- ``tb_<design>``: the cocotb test modules, driven by :mod:`accelgen.sim.runner`.
"""
