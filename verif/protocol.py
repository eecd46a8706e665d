"""The contract between a design family and the code that verifies it.

A *host model* is a module ``accelgen.verif.<family>_host`` (no cocotb imports): it turns
user tensors and random stimulus into simulation jobs, and checks what the simulation
returns against the bit-exact golden model and the analytic cycle models. Its cocotb
testbench is the module ``accelgen.verif.tb_<family>``, which streams each job's inputs into
the design and saves what comes out.

A *job* is a dict: ``name`` (str), ``inputs`` (dict of numpy arrays, saved to an ``.npz``),
``stall`` and ``backpressure`` (probabilities per cycle, default 0), ``check`` (compare with
the golden model inside the testbench, default true), plus any keys the host model itself
reads back in :meth:`HostModel.check` (e.g. the tile count of a stall-free job).
"""

import dataclasses
import types
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["HostModel", "VerificationPlan"]


@runtime_checkable
class HostModel(Protocol):
    """What every host model module provides (checked by :func:`accelgen.verif.plan_for`)."""

    #: Registry names of the designs this host verifies.
    VERIFIES: tuple[str, ...]

    def regression_jobs(self, params, rng: np.random.Generator) -> list[dict]:
        """The standard regression of one configuration: corner cases and random stimulus,
        with random stalls and backpressure, plus stall-free jobs whose cycle counts the
        check compares with the analytic model."""

    def check(self, params, jobs: list[dict], outputs: list[dict]) -> list[str]:
        """Compare each job's saved outputs with the golden model and the counters; return the
        problems found (empty when everything is exact)."""

    def user_jobs(self, params, arrays: dict) -> list[dict]:
        """Jobs computing the user's tensors (``accelgen run --inputs``); ``ValueError`` naming
        the array when one is missing or does not fit the configuration."""

    def user_outputs(self, params, arrays: dict, outputs: list[dict]) -> dict:
        """The arrays written to the user's output file (results and the RTL's counters)."""


@dataclasses.dataclass(frozen=True)
class VerificationPlan:
    """How to verify one registered design.

    Attributes
    ----------
    design : str
        Registry name of the design.
    host : HostModel
        Its host model module.
    testbench : str
        Dotted name of its cocotb test module (what the cocotb runner imports).
    """

    design: str
    host: types.ModuleType
    testbench: str
