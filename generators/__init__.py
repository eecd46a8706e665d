"""Design families and their registry.

Each module in this package defines one family: a frozen :class:`~.params.DesignParams`
subclass and a ``wiring.Component``, tied together by :func:`register`. The CLI, tests,
sweeps and reports find designs with :func:`get_design` / :func:`all_designs`; modules are
discovered automatically, so adding a family touches no central list.
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable

from .params import DesignParams, param

__all__ = ["Design", "register", "get_design", "all_designs", "DesignParams", "param"]

_REGISTRY: dict[str, "Design"] = {}


@dataclasses.dataclass(frozen=True)
class Design:
    """A registered design family.

    Attributes
    ----------
    name : str
        Registry name, used on the command line (``accelgen generate NAME``).
    summary : str
        One-line description.
    params : type
        The family's :class:`DesignParams` subclass; ``params()`` is the default configuration.
    build : callable
        ``build(params) -> wiring.Component``.
    testbench : str
        Dotted name of the cocotb test module that verifies it (in :mod:`accelgen.verif`).
    host : str
        Dotted name of the host-side verification module (no cocotb imports), which
        provides ``regression_jobs(params, rng)``, ``check(params, jobs, outputs)``,
        ``user_jobs(params, arrays)`` and ``user_outputs(params, arrays, outputs)``.
    """

    name: str
    summary: str
    params: type
    build: Callable
    testbench: str
    host: str

    def host_module(self):
        """The host-side verification module (stimulus, checks, user tensors)."""
        return importlib.import_module(self.host)

    def component(self, params: DesignParams | None = None):
        """Elaborate-ready component for ``params`` (default configuration if omitted)."""
        return self.build(params if params is not None else self.params())


def register(name: str, *, params: type, testbench: str, host: str, summary: str):
    """Class decorator registering a component class as design ``name``.

    The component class must accept its parameters object as the only constructor argument.
    """

    def decorate(component_class):
        if name in _REGISTRY:
            raise ValueError(f"design {name!r} is registered twice")
        _REGISTRY[name] = Design(
            name=name, summary=summary, params=params, build=component_class,
            testbench=testbench, host=host,
        )
        return component_class

    return decorate


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


def all_designs() -> dict[str, Design]:
    """Every registered design, by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_design(name: str) -> Design:
    """The design registered as ``name``; ``ValueError`` listing the legal names otherwise."""
    designs = all_designs()
    if name not in designs:
        raise ValueError(f"design={name!r} is unknown; legal designs: {', '.join(designs)}")
    return designs[name]
