"""accelgen: verified, synthesizable RTL generators for AI accelerators.

The sub-packages map the repository's folders: :mod:`accelgen.hdl` (building blocks),
:mod:`accelgen.generators` (design families), :mod:`accelgen.verif` (golden models and
testbenches), :mod:`accelgen.sim` (Verilator/cocotb runner, CLI, benchmarks) and
:mod:`accelgen.synth` (Yosys/nextpnr flows).
"""

import importlib.metadata

#: The installed distribution's version (``pyproject.toml`` is its one source).
__version__ = importlib.metadata.version("accelgen")
