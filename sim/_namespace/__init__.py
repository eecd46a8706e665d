"""accelgen: verified, synthesizable RTL generators for AI accelerators.

The sub-packages map the repository's folders: :mod:`accelgen.hdl` (building blocks),
:mod:`accelgen.generators` (design families), :mod:`accelgen.verif` (golden models and
testbenches), :mod:`accelgen.sim` (Verilator/cocotb runner, CLI) and :mod:`accelgen.synth`
(Yosys/nextpnr flows).
"""

__version__ = "0.1.0"
