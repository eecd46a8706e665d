"""Verification: golden models, stream drivers/monitors/scoreboards, cocotb testbenches.

Modules, by role (one naming scheme):

- ``<family>_host``: host models (:class:`~accelgen.verif.protocol.HostModel`): stimulus,
  mapping of user tensors to jobs, checks against the golden model and cycle models. Each
  declares the designs it verifies in ``VERIFIES``; :func:`plan_for` finds it from there.
- ``tb_<family>``: the cocotb testbench of that host's designs, run by :mod:`accelgen.sim.runner`.
- ``golden``, ``<family>_golden``: bit-exact, integer-only numpy models and float64 references.
- ``packing``: payload words from numpy arrays and back, with offsets read from the payload
  layouts of :mod:`accelgen.hdl.layouts`.
- ``streams`` (cocotb) and ``pysim_streams`` (Amaranth simulator): valid/ready sources,
  sinks and scoreboards with random stalls and backpressure.
"""

import functools
import importlib
import pkgutil

from .protocol import HostModel, VerificationPlan

__all__ = ["HostModel", "VerificationPlan", "plan_for", "all_plans"]

_HOST_SUFFIX = "_host"


@functools.cache
def all_plans() -> dict[str, VerificationPlan]:
    """The verification plan of every design some host model declares, by design name."""
    plans = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.endswith(_HOST_SUFFIX):
            continue
        host = importlib.import_module(f"{__name__}.{info.name}")
        if not isinstance(host, HostModel):
            raise TypeError(f"{host.__name__} does not provide the HostModel contract "
                            "(VERIFIES, regression_jobs, check, user_jobs, user_outputs)")
        testbench = f"{__name__}.tb_{info.name[:-len(_HOST_SUFFIX)]}"
        for design in host.VERIFIES:
            if design in plans:
                raise ValueError(f"design {design!r} is verified by both {plans[design].host.__name__} "
                                 f"and {host.__name__}")
            plans[design] = VerificationPlan(design, host, testbench)
    return plans


def plan_for(design: str) -> VerificationPlan:
    """The host model and testbench that verify the registered design ``design``."""
    plans = all_plans()
    if design not in plans:
        raise ValueError(f"design={design!r} has no host model: add a module "
                         f"accelgen.verif.<family>{_HOST_SUFFIX} with VERIFIES = ({design!r},)")
    return plans[design]
