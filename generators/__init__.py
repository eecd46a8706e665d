"""Design families and their registry.

Each module in this package defines one family: a frozen :class:`~.params.DesignParams`
subclass and a ``wiring.Component``, tied together by :func:`register`. The CLI, tests,
sweeps and reports find designs with :func:`get_design` / :func:`all_designs`; every module
of the package is imported once on the first lookup, so adding a family touches no central
list. Generators know nothing of their verification: the verification package declares
which designs each of its host models verifies.
"""

import dataclasses
import importlib
import pkgutil
from typing import Callable

from amaranth.lib import wiring

from ..hdl.axis import AxisWrapper
from .params import DesignParams, param

__all__ = ["Design", "DesignComponent", "register", "get_design", "all_designs", "DesignParams", "param"]

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
    report_config : tuple of (name, value)
        Parameters of the configuration ``accelgen report`` (``make run``) characterizes when the
        default configuration is too large to synthesize quickly (empty: the default).
    """

    name: str
    summary: str
    params: type
    build: Callable
    report_config: tuple = ()

    def component(self, params: DesignParams | None = None):
        """Elaborate-ready component for ``params`` (default configuration if omitted): the
        family's top, inside an :class:`~accelgen.hdl.axis.AxisWrapper` when
        ``params.interface == "axis"``."""
        params = params if params is not None else self.params()
        core = self.build(params)
        return AxisWrapper(core, reset=params.axis_reset) if params.interface == "axis" else core


class DesignComponent(wiring.Component):
    """The top of a design family: a ``wiring.Component`` built from one parameters object.

    A family defines :attr:`params_class` and :meth:`members` (its signature, from
    ``self.params``).

    Parameters
    ----------
    params : params_class
        The configuration (validated when it was created).
    """

    #: The family's parameters class (set by each subclass).
    params_class = DesignParams

    def __init__(self, params):
        if not isinstance(params, self.params_class):
            article = "an" if self.params_class.__name__[0] in "AEIOU" else "a"
            raise TypeError(f"params must be {article} {self.params_class.__name__}, not {params!r}")
        self.params = params
        super().__init__(self.members())

    def members(self) -> dict:
        """The signature members of this configuration."""
        raise NotImplementedError


def register(name: str, *, params: type, summary: str, report_config: dict | None = None):
    """Class decorator registering a component class as design ``name``.

    The component class must accept its parameters object as the only constructor argument.
    ``report_config`` names the parameters of the configuration the short report uses instead
    of the default (see :class:`Design`).
    """

    def decorate(component_class):
        if name in _REGISTRY:
            raise ValueError(f"design {name!r} is registered twice")
        _REGISTRY[name] = Design(name=name, summary=summary, params=params, build=component_class,
                                 report_config=tuple(sorted((report_config or {}).items())))
        return component_class

    return decorate


def _discover() -> None:
    # Importing a module runs its @register decorators; modules without one register nothing.
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


def all_designs() -> dict[str, Design]:
    """Every registered design, by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def get_design(name: str) -> Design:
    """The design registered as ``name``; ``ValueError`` listing the legal names otherwise."""
    if name in _REGISTRY:
        # Its module is already imported: no need to import every family.
        return _REGISTRY[name]
    designs = all_designs()
    if name not in designs:
        raise ValueError(f"design={name!r} is unknown; legal designs: {', '.join(designs)}")
    return designs[name]
