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

from ..hdl.arith import OVERFLOW_MODES, dot_product_range, operand_shape, shape_for_range
from ..hdl.mac import FINAL_ADDERS, MAC_STYLES
from ..hdl.util import ceil_div

__all__ = ["param", "INTERFACE_DEFAULTS", "DesignParams", "OperandShapes", "MacArrayParams", "TileEngineParams"]


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


#: The interface parameters every family has; at their defaults they are left out of
#: :meth:`DesignParams.digest`, so a native configuration keeps its module name.
INTERFACE_DEFAULTS = {"interface": "native", "axis_reset": "aresetn"}


@dataclasses.dataclass(frozen=True)
class DesignParams:
    """Base class of every family's parameters: validated, frozen, hashable, serializable.

    Parameters
    ----------
    interface : str
        Ports of the exported module: ``"native"`` (Amaranth streams ``<name>__payload`` /
        ``__valid`` / ``__ready`` with ``last`` inside the payload, ``clk`` / ``rst``) or
        ``"axis"`` (AXI4-Stream ``s_axis_<name>_t*`` / ``m_axis_<name>_t*`` with ``tlast``,
        ``aclk`` and :attr:`axis_reset`; :class:`accelgen.hdl.axis.AxisWrapper`). The logic
        inside is the same.
    axis_reset : str
        Reset port of the ``axis`` interface: ``"aresetn"`` (active low, the AXI convention)
        or ``"areset"`` (active high); both synchronous.
    """

    interface: str = param("native", "ports: native streams (clk, rst) or axis (AXI4-Stream, aclk)",
                           choices=("native", "axis"))
    axis_reset: str = param("aresetn", "reset port of the axis interface: aresetn (active low) or areset "
                            "(active high)", choices=("aresetn", "areset"))

    #: Fields left out of :meth:`digest` while they hold these values (options added after a
    #: family's first release, so its existing configurations keep their module names).
    digest_neutral = {}

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
        if self.interface != "axis" and self.axis_reset != INTERFACE_DEFAULTS["axis_reset"]:
            raise ValueError(f"axis_reset={self.axis_reset!r} applies only to interface='axis' "
                             f"(interface={self.interface!r})")
        derived = self.resolve()
        for name, value in derived.items():
            object.__setattr__(self, name, value)
        self.check()
        self._check_derived(derived)

    def _check_derived(self, derived: dict) -> None:
        # A derived value must obey its field's declared range too; a family's check() names
        # the parameters behind it, this is the net under a resolve() that forgot one.
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            value = derived.get(field.name)
            meta = field.metadata
            if value is None:
                continue
            low, high, choices = meta.get("min"), meta.get("max"), meta.get("choices")
            if (low is not None and value < low) or (high is not None and value > high) or \
                    (choices is not None and value not in choices):
                legal = _legal_text(meta, _base_type(hints[field.name])[0])
                raise ValueError(f"{field.name}={value!r} (derived) is out of range: must be {legal}; set "
                                 f"{field.name} explicitly or change the parameters it is derived from")

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
        neutral = {**INTERFACE_DEFAULTS, **self.digest_neutral}
        values = {key: value for key, value in self.to_dict().items()
                  if not (key in neutral and neutral[key] == value)}
        text = json.dumps(values, sort_keys=True)
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


@dataclasses.dataclass(frozen=True)
class MacArrayParams(OperandShapes, DesignParams):
    """Operand, accumulator and interface parameters of the multiply-accumulate arrays.

    One copy of the fields and checks every array shares; a family adds its grid (fields where
    it lets them vary, properties where they are fixed) and defines
    :attr:`~OperandShapes.reduction_length`, :attr:`reduction_text`,
    :attr:`default_out_fifo_depth` and :meth:`mac_rejection`.

    Parameters
    ----------
    a_width, b_width : int
        Operand widths in bits (2..16).
    a_signed, b_signed : bool
        Whether operands are two's complement (else unsigned).
    acc_width : int or None
        Accumulator and result width (2..64). Default: the narrowest width that cannot
        overflow for :attr:`~OperandShapes.reduction_length` products. A narrower width needs
        an explicit ``overflow``.
    overflow : str or None
        ``"wrap"`` (two's complement modulo ``2**acc_width``) or ``"saturate"`` (clamp after
        every addition). Must be given when ``acc_width`` is narrower than the safe width;
        otherwise ``"wrap"``. ``carry_save`` and ``booth_serial`` support ``"wrap"`` only.
    out_fifo_depth : int or None
        Result rows buffered (at least one tile, ..4096). Default: enough that the array never
        waits for the result drain when its output is always ready.
    counter_width : int
        Width of ``cycle_count`` and ``mac_count`` (16..64); they wrap.
    mac : str
        MAC micro-architecture, one of :data:`accelgen.hdl.mac.MAC_STYLES` that the array
        supports (:meth:`mac_rejection`); all give bit-identical results.
    """

    a_width: int = param(8, "A operand width in bits", min=2, max=16)
    b_width: int = param(8, "B operand width in bits", min=2, max=16)
    a_signed: bool = param(True, "A operands are signed (two's complement)")
    b_signed: bool = param(True, "B operands are signed (two's complement)")
    acc_width: int | None = param(None, "accumulator/result width; default: never overflows", min=2, max=64)
    overflow: str | None = param(None, "accumulator overflow mode", choices=OVERFLOW_MODES)
    out_fifo_depth: int | None = param(None, "result rows buffered; default: no drain stalls", min=1, max=4096)
    counter_width: int = param(48, "width of the cycle and MAC counters (they wrap)", min=16, max=64)
    mac: str = param("baseline", "MAC micro-architecture (bit-identical results)", choices=MAC_STYLES)

    @property
    def reduction_text(self) -> str:
        """The parameter that bounds the reduction, as error messages name it (``k_max=256``)."""
        raise NotImplementedError

    @property
    def default_out_fifo_depth(self) -> int:
        """Result rows buffered by default (no drain stalls)."""
        raise NotImplementedError

    def mac_rejection(self) -> str | None:
        """Why :attr:`mac` is not legal for this array (a complete error message), or ``None``."""
        return None

    def result_facts(self) -> dict:
        """The result format, for the per-configuration manifest."""
        return {"acc_width": self.acc_width, "acc_signed": self.acc_signed, "overflow": self.overflow, "mac": self.mac}

    def resolve(self):
        derived = {}
        if self.acc_width is None:
            derived["acc_width"] = self.safe_acc_width
        if self.out_fifo_depth is None:
            derived["out_fifo_depth"] = self.default_out_fifo_depth
        if self.overflow is None and (self.acc_width is None or self.acc_width >= self.safe_acc_width):
            derived["overflow"] = "wrap"
        return derived

    def check(self):
        rejection = self.mac_rejection()
        if rejection:
            raise ValueError(rejection)
        safe = self.safe_acc_width
        if self.overflow is None:
            raise ValueError(f"acc_width={self.acc_width} can overflow for {self.reduction_text} (the safe width is "
                             f"{safe}); set overflow to 'wrap' or 'saturate'")
        remedy = (f"use overflow='wrap' (with acc_width >= the safe width {safe} nothing wraps for "
                  f"{self.reduction_text}) or mac='baseline'")
        if self.mac == "carry_save" and self.overflow == "saturate":
            raise ValueError("overflow='saturate' is not legal with mac='carry_save': a carry-save accumulator cannot "
                             f"be clamped after every addition; {remedy}")
        if self.mac == "booth_serial" and self.overflow == "saturate":
            raise ValueError("overflow='saturate' is not legal with mac='booth_serial': it adds a beat's products one "
                             f"Booth digit position at a time, so there is no per-beat sum to clamp; {remedy}")


@dataclasses.dataclass(frozen=True)
class TileEngineParams(MacArrayParams):
    """Parameters of the output-stationary tile engines: the systolic array and the broadcast
    engines (a grid of ``rows x cols`` outputs, ``depth`` products per output and beat).

    A tile of ``K`` beats occupies the input for ``max(K, rows)`` cycles (tile ends at least
    ``rows`` cycles apart, so rows leave one per cycle); its first result row is on the
    output :attr:`skew` ``+`` :attr:`result_latency` cycles after its last beat.

    Parameters
    ----------
    k_max : int
        Longest tile (beats) the accumulators are sized for (1..65536).
    final_adder : str
        Architecture of the carry-propagate adders outside the MAC loops (the carry-save
        results' adders, the busy counters, a pipelined ``same_weight_tree``'s accumulator):
        ``"prefix"`` (explicit parallel-prefix gates, logarithmic depth: for ASIC flows and the
        generic gate figures) or ``"carry_chain"`` (the synthesis tool's ``+``, which FPGA flows
        map onto their carry chains, faster there than a prefix network built of LUTs).
        Results are identical.
    """

    k_max: int = param(64, "longest tile (beats) the accumulator is sized for", min=1, max=65536)
    final_adder: str = param("prefix", "carry-propagate adders: prefix (log-depth gates, ASIC) or carry_chain "
                             "(synthesis '+', FPGA carry chains)", choices=FINAL_ADDERS)

    digest_neutral = {"final_adder": "prefix"}

    @property
    def skew(self) -> int:
        """Cycles by which the last column's results trail the first column's (0: no skew)."""
        return 0

    @property
    def result_latency(self) -> int:
        """Cycles from a tile's last accepted beat to its first result row, less :attr:`skew`."""
        raise NotImplementedError

    @property
    def reduction_length(self) -> int:
        """Longest dot product of one accumulator: ``k_max`` beats of ``depth`` products."""
        return self.k_max * self.depth

    @property
    def reduction_text(self) -> str:
        return f"k_max={self.k_max}"

    @property
    def macs_per_beat(self) -> int:
        """Multiply-accumulates per accepted beat: ``rows * cols * depth``."""
        return self.rows * self.cols * self.depth

    @property
    def default_out_fifo_depth(self) -> int:
        # A tile's rows stay reserved from its last beat until its last row leaves, i.e. for
        # skew + result_latency + rows cycles; tile ends are >= rows cycles apart.
        return self.rows * ceil_div(self.skew + self.result_latency + self.rows, self.rows)

    def check(self):
        super().check()
        if self.out_fifo_depth < self.rows:
            raise ValueError(f"out_fifo_depth={self.out_fifo_depth} is out of range: must be an integer in "
                             f"{self.rows}..4096 (at least rows={self.rows}, one tile of results)")

    def tile_end_cycles(self, tiles: int, k: int) -> list[int]:
        """The cycle (0: the first beat's) in which each of ``tiles`` back-to-back tiles of
        ``k`` beats has its final beat admitted, with no stalls on either side.

        A final beat waits for ``rows`` cycles since the previous tile's and for room: the
        rows of the tiles admitted before it that have not left yet, plus its own ``rows``,
        fit in ``out_fifo_depth``. Row ``r`` of a tile leaves ``skew + result_latency + r``
        cycles after its final beat and frees its place from the next cycle on. With the
        default ``out_fifo_depth`` room never binds.
        """
        if tiles < 1 or k < 1:
            raise ValueError(f"tiles={tiles}, k={k}: both must be at least 1")
        hold, rows, depth = self.skew + self.result_latency, self.rows, self.out_fifo_depth
        # Final beats are >= rows cycles apart, so a tile more than this many tiles back has
        # every row gone: only the recent ones can hold rows.
        recent = ceil_div(hold + rows, rows) + 1
        ends = [k - 1]
        for _ in range(tiles - 1):
            cycle = ends[-1] + max(k, rows)
            while sum(rows - min(rows, max(0, cycle - end - hold)) for end in ends[-recent:]) > depth - rows:
                cycle += 1  # the final beat waits for a row to leave
            ends.append(cycle)
        return ends

    def busy_cycles(self, tiles: int, k: int) -> int:
        """Busy cycles for ``tiles`` back-to-back tiles of ``k`` beats with no stalls.

        One beat per cycle; tile ends at least ``rows`` cycles apart; the last tile's rows
        leave ``skew + result_latency`` cycles after its final beat, one per cycle. This is the
        SCALE-Sim v2 output-stationary fold (``K + R + C - 2``) with the drain of one tile
        hidden under the next, plus the fixed I/O latency:
        ``K + (T - 1) * max(K, rows) + rows + skew + result_latency - 1`` when the result
        buffer never fills (the default ``out_fifo_depth``, or ``K`` at least
        :meth:`stall_free_k`). A smaller buffer with shorter tiles adds the drain stalls of
        :meth:`tile_end_cycles`; exact either way.
        """
        closed_form = k + (tiles - 1) * max(k, self.rows) + self.rows + self.skew + self.result_latency - 1
        if self.out_fifo_depth >= self.default_out_fifo_depth or k >= self.stall_free_k:
            return closed_form
        return self.tile_end_cycles(tiles, k)[-1] + self.skew + self.result_latency + self.rows

    @property
    def stall_free_k(self) -> int:
        """The shortest tile (beats) that never waits for the result drain with this
        ``out_fifo_depth`` when the output is always ready (1 with the default depth).

        E.g. ``out_fifo_depth=rows`` holds one tile: a tile of at least
        ``skew + result_latency + rows`` beats finds the previous tile's rows gone.
        """
        if self.out_fifo_depth >= self.default_out_fifo_depth:
            return 1
        window = self.skew + self.result_latency + self.rows
        # Tiles longer than the drain window never meet a row of an earlier tile.
        tiles = ceil_div(window, self.rows) + 2
        for k in range(1, window + 1):
            ends = self.tile_end_cycles(tiles, k)
            if all(later - earlier == max(k, self.rows) for earlier, later in zip(ends, ends[1:])):
                return k
        return window

    def ideal_cycles(self, m: int, n: int, k: int) -> int:
        """Cycles if every multiplier did useful work every cycle: ``M*N*K / macs_per_beat``."""
        return ceil_div(m * n * k, self.macs_per_beat)
