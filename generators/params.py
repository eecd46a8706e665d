"""Parameter dataclasses shared by every design family.

A family's parameters are a frozen dataclass deriving from :class:`DesignParams`. Fields are
declared with :func:`param`, which records the documentation and the legal range; the base
class checks types and ranges when an instance is created, and the family adds its
cross-parameter checks in :meth:`DesignParams.check`. An invalid instance cannot exist, so
every path (Python API, CLI, sweeps) gets the same ``ValueError`` before any elaboration.
"""

import dataclasses
import hashlib
import json
import types
import typing

from ..hdl.arith import dot_product_range, operand_shape, shape_for_range

__all__ = ["param", "DesignParams", "OperandShapes"]


def param(default, doc: str, *, min=None, max=None, choices=None):
    """Declare a parameter field.

    Parameters
    ----------
    default :
        Default value. ``None`` means "derived from the other parameters" (the family
        fills it in :meth:`DesignParams.resolve`).
    doc : str
        One-line description, shown by ``accelgen list``.
    min, max : int, optional
        Inclusive legal range of an integer parameter.
    choices : tuple, optional
        Legal values of a string parameter.
    """
    return dataclasses.field(
        default=default, metadata={"doc": doc, "min": min, "max": max, "choices": choices}
    )


def _base_type(annotation):
    """``int | None`` -> ``(int, True)``; ``bool`` -> ``(bool, False)``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return args[0], True
    return annotation, False


def _legal_text(meta, kind) -> str:
    if meta["choices"] is not None:
        return "one of " + ", ".join(repr(choice) for choice in meta["choices"])
    if kind is bool:
        return "true or false"
    if meta["min"] is not None and meta["max"] is not None:
        return f"an integer in {meta['min']}..{meta['max']}"
    if meta["min"] is not None:
        return f"an integer >= {meta['min']}"
    return f"a value of type {kind.__name__}"


@dataclasses.dataclass(frozen=True)
class DesignParams:
    """Base class of every family's parameters: validated, frozen, hashable, serializable."""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kind, optional = _base_type(hints[field.name])
            meta = field.metadata
            if value is None and optional:
                continue
            legal = _legal_text(meta, kind)
            # bool is a subclass of int: an int parameter must not accept True/False.
            if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{field.name}={value!r} is not legal: must be {legal}")
            if kind is bool and not isinstance(value, bool):
                raise ValueError(f"{field.name}={value!r} is not legal: must be {legal}")
            if kind is str and not isinstance(value, str):
                raise ValueError(f"{field.name}={value!r} is not legal: must be {legal}")
            if meta.get("choices") is not None and value not in meta["choices"]:
                raise ValueError(f"{field.name}={value!r} is not legal: must be {legal}")
            if meta.get("min") is not None and value < meta["min"]:
                raise ValueError(f"{field.name}={value!r} is out of range: must be {legal}")
            if meta.get("max") is not None and value > meta["max"]:
                raise ValueError(f"{field.name}={value!r} is out of range: must be {legal}")
        for name, value in self.resolve().items():
            object.__setattr__(self, name, value)
        self.check()

    def resolve(self) -> dict:
        """Values for parameters left as ``None`` that are derived from the others."""
        return {}

    def check(self) -> None:
        """Cross-parameter checks; raise ``ValueError`` naming parameter, value and legal range."""

    # -- conversion -------------------------------------------------------------------------
    @classmethod
    def field_docs(cls) -> list[tuple[str, str, object, str]]:
        """``(name, type, default, description + legal range)`` for every parameter."""
        hints = typing.get_type_hints(cls)
        rows = []
        for field in dataclasses.fields(cls):
            kind, optional = _base_type(hints[field.name])
            legal = _legal_text(field.metadata, kind)
            default = "derived" if field.default is None else field.default
            rows.append((field.name, kind.__name__, default, f"{field.metadata['doc']} ({legal})"))
        return rows

    @classmethod
    def from_strings(cls, assignments: list[str]) -> "DesignParams":
        """Build from ``["rows=4", "a_signed=false", ...]`` as given on the command line."""
        hints = typing.get_type_hints(cls)
        names = {field.name for field in dataclasses.fields(cls)}
        values = {}
        for assignment in assignments:
            name, sep, text = assignment.partition("=")
            name = name.strip()
            if not sep:
                raise ValueError(f"parameter {assignment!r} must be written NAME=VALUE")
            if name not in names:
                raise ValueError(
                    f"unknown parameter {name!r}; legal parameters: {', '.join(sorted(names))}"
                )
            kind, optional = _base_type(hints[name])
            text = text.strip()
            if optional and text.lower() in ("none", ""):
                values[name] = None
            elif kind is bool:
                lowered = text.lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no"):
                    raise ValueError(f"{name}={text!r} is not legal: must be true or false")
                values[name] = lowered in ("1", "true", "yes")
            elif kind is int:
                try:
                    values[name] = int(text, 0)
                except ValueError:
                    raise ValueError(f"{name}={text!r} is not legal: must be an integer") from None
            else:
                values[name] = text
        return cls(**values)

    def to_dict(self) -> dict:
        """All parameters (derived ones filled in), JSON-serializable."""
        return dataclasses.asdict(self)

    def digest(self) -> str:
        """Short stable hash of the parameter values, used to name modules and builds."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


class OperandShapes:
    """Mixin for parameter classes of multiply-accumulate designs.

    Derives the Amaranth shapes from the fields ``a_width``, ``a_signed``, ``b_width``,
    ``b_signed`` and ``acc_width``, and the overflow-safe accumulator width from
    :attr:`reduction_length`, which each design defines (the longest sum of products one
    accumulator or partial sum can hold).
    """

    @property
    def reduction_length(self) -> int:
        """Longest number of products summed into one accumulator."""
        raise NotImplementedError

    @property
    def a_shape(self):
        """Amaranth shape of an A operand (activation)."""
        return operand_shape(self.a_width, self.a_signed)

    @property
    def b_shape(self):
        """Amaranth shape of a B operand (weight)."""
        return operand_shape(self.b_width, self.b_signed)

    @property
    def safe_acc_width(self) -> int:
        """Narrowest accumulator width that cannot overflow for :attr:`reduction_length` products."""
        return shape_for_range(*dot_product_range(self.a_shape, self.b_shape, self.reduction_length)).width

    @property
    def acc_signed(self) -> bool:
        """Results are signed when either operand is."""
        return self.a_signed or self.b_signed

    @property
    def acc_shape(self):
        """Amaranth shape of an accumulator / result."""
        return operand_shape(self.acc_width, self.acc_signed)
