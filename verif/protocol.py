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

__all__ = ["HostModel", "VerificationPlan", "check_user_arrays"]


@runtime_checkable
class HostModel(Protocol):
    """What every host model module provides (checked by :func:`accelgen.verif.plan_for`)."""

    #: Registry names of the designs this host verifies.
    VERIFIES: tuple[str, ...]
    #: Names of the arrays :meth:`user_jobs` reads (required and optional); any other name in
    #: the user's inputs is refused, so that a misspelt optional array is not silently ignored.
    USER_INPUTS: tuple[str, ...]

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


#: dtype kinds a user array may have: booleans, integers, floats (each host narrows further).
_NUMERIC_KINDS = "biuf"


def check_user_arrays(host, arrays: dict) -> None:
    """The checks every host's :meth:`HostModel.user_jobs` relies on, before it sees ``arrays``:
    only names the host reads (:attr:`HostModel.USER_INPUTS`), numeric arrays (no object,
    string, complex or structured dtypes), none empty, no NaN or infinity. ``ValueError``
    naming the array otherwise."""
    unknown = sorted(set(arrays) - set(host.USER_INPUTS))
    if unknown:
        raise ValueError(f"inputs hold unknown array{'s' if len(unknown) > 1 else ''} "
                         f"{', '.join(repr(name) for name in unknown)}: the legal names are "
                         f"{', '.join(repr(name) for name in host.USER_INPUTS)}")
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.kind not in _NUMERIC_KINDS:
            raise ValueError(f"{name} has dtype {array.dtype}: must hold integers (booleans or real numbers where "
                             "the design says so)")
        if array.size == 0:
            raise ValueError(f"{name} is empty (shape {array.shape}): give at least one element")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinity: every element must be finite")
