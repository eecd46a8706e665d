"""AXI4-Stream ports around a component with valid/ready streams.

accelgen's native streams are exported as ``<name>__payload`` / ``<name>__valid`` /
``<name>__ready`` with the tile's ``last`` bit packed inside the payload. FPGA tools (Vivado
IP integrator, Quartus Platform Designer) and AXI verification IP (cocotbext-axi) look for
AXI4-Stream names instead, and treat ``tlast`` as the end of a frame. :class:`AxisWrapper`
gives a component those ports without touching its logic:

- every input stream ``x`` becomes a slave port ``s_axis_x_tdata`` / ``_tvalid`` / ``_tready``
  (``_tlast`` when the payload ends with a ``last`` bit), every output stream a master port
  ``m_axis_x_*``;
- ``tdata`` is the payload without ``last``, at the same bit offsets, zero-padded to a whole
  number of bytes (input padding bits are ignored, output padding bits are 0);
- ``tlast`` is the payload's ``last`` bit: one tile (or row) is one frame. A stream without a
  ``last`` bit (a job descriptor, an operand stream whose framing the other stream carries) has
  no ``tlast``; each of its beats is a transfer of its own;
- the clock is ``aclk`` and the reset ``aresetn`` (synchronous, active low, the AXI convention)
  or ``areset`` (synchronous, active high);
- every other port (counters, status, the PIM DRAM ports) keeps its name.

``tkeep``, ``tstrb``, ``tid``, ``tdest`` and ``tuser`` are left out: every beat is whole.
"""

from amaranth.hdl import Cat, ClockDomain, ClockSignal, Module, ResetSignal, Shape, Signal, Value
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXIS_RESETS", "AxisWrapper", "axis_stream_map"]

#: Legal reset ports of the wrapper: active-low ``aresetn`` or active-high ``areset``.
AXIS_RESETS = ("aresetn", "areset")


def _is_stream(member) -> bool:
    return member.is_signature and {"payload", "valid", "ready"} <= set(member.signature.members)


def _ends_with_last(layout) -> bool:
    """Whether a payload layout's top bit is a one-bit ``last`` field (it then becomes ``tlast``)."""
    if not isinstance(layout, data.StructLayout) or "last" not in layout.members:
        return False
    field = layout["last"]
    return Shape.cast(field.shape).width == 1 and field.offset == layout.size - 1


def axis_stream_map(component: wiring.Component) -> dict:
    """How each stream of ``component`` maps onto AXI4-Stream ports.

    Returns
    -------
    dict
        ``{stream: {"port": "s_axis_<stream>" or "m_axis_<stream>", "input": bool,
        "tdata_bits": payload bits in tdata, "tdata_width": padded width, "tlast": bool}}``.
    """
    streams = {}
    for name, member in component.signature.members.items():
        if not _is_stream(member):
            continue
        layout = member.signature.members["payload"].shape
        has_last = _ends_with_last(layout)
        bits = Shape.cast(layout).width - int(has_last)
        incoming = member.flow == In
        streams[name] = {
            "port": f"{'s' if incoming else 'm'}_axis_{name}",
            "input": incoming,
            "tdata_bits": bits,
            "tdata_width": 8 * max(1, -(-bits // 8)),
            "tlast": has_last,
        }
    return streams


class AxisWrapper(wiring.Component):
    """The AXI4-Stream face of ``core`` (see the module documentation for the port rules).

    Parameters
    ----------
    core : wiring.Component
        The design; its stream members are valid/ready streams (``payload``, ``valid``,
        ``ready``), every other member a plain port.
    reset : str
        ``"aresetn"`` (active low) or ``"areset"`` (active high); both synchronous.

    Attributes
    ----------
    core : wiring.Component
        The wrapped design (its stream layouts are what packers read).
    streams : dict
        :func:`axis_stream_map` of ``core``.
    """

    def __init__(self, core: wiring.Component, *, reset: str = "aresetn"):
        if reset not in AXIS_RESETS:
            raise ValueError(f"reset={reset!r} is not legal: must be one of {', '.join(AXIS_RESETS)}")
        self.core = core
        self.reset_name = reset
        self.streams = axis_stream_map(core)
        members = {"aclk": In(1), reset: In(1)}
        for name, member in core.signature.members.items():
            if name in self.streams:
                members |= self._stream_members(self.streams[name])
            elif member.is_signature:
                raise TypeError(f"member {name!r} of {type(core).__name__} is an interface but not a "
                                f"valid/ready stream: the AXI4-Stream wrapper cannot map it")
            else:
                members[name] = member
        if {"aclk", reset} & set(core.signature.members):
            raise ValueError(f"{type(core).__name__} has a port named like the wrapper's clock or reset")
        super().__init__(members)

    @staticmethod
    def _stream_members(stream: dict) -> dict:
        port, incoming = stream["port"], stream["input"]
        into, out_of = (In, Out) if incoming else (Out, In)
        members = {f"{port}_tdata": into(stream["tdata_width"]), f"{port}_tvalid": into(1),
                   f"{port}_tready": out_of(1)}
        if stream["tlast"]:
            members[f"{port}_tlast"] = into(1)
        return members

    def manifest(self) -> dict:
        """The core's manifest entries plus the interface: clock, reset and the stream map."""
        notes = self.core.manifest() if hasattr(self.core, "manifest") else {}
        level = "low" if self.reset_name == "aresetn" else "high"
        return notes | {"interface": "axis", "clock": "aclk",
                        "reset": f"{self.reset_name} (synchronous, active {level})", "axis": self.streams}

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        # The wrapper owns the clock domain, so the exported module has aclk/aresetn instead of
        # Amaranth's implicit clk/rst ports.
        m.domains.sync = ClockDomain("sync")
        reset = getattr(self, self.reset_name)
        m.d.comb += [ClockSignal("sync").eq(self.aclk),
                     ResetSignal("sync").eq(~reset if self.reset_name == "aresetn" else reset)]
        for name, member in core.signature.members.items():
            if name in self.streams:
                self._connect_stream(m, getattr(core, name), self.streams[name])
            elif member.flow == In:
                m.d.comb += getattr(core, name).eq(getattr(self, name))
            else:
                m.d.comb += getattr(self, name).eq(getattr(core, name))
        return m

    def _connect_stream(self, m, stream, info) -> None:
        port = info["port"]
        tdata, tvalid, tready = (getattr(self, f"{port}_{suffix}") for suffix in ("tdata", "tvalid", "tready"))
        payload = Value.cast(stream.payload)
        bits = info["tdata_bits"]
        if info["input"]:
            fields = [tdata[:bits]] + ([getattr(self, f"{port}_tlast")] if info["tlast"] else [])
            # A named signal keeps the core's payload port one readable vector in the Verilog.
            joined = Signal(len(payload), name=f"{port}_payload")
            m.d.comb += [joined.eq(Cat(*fields)), payload.eq(joined), stream.valid.eq(tvalid),
                         tready.eq(stream.ready)]
        else:
            m.d.comb += [tdata.eq(payload[:bits]), tvalid.eq(stream.valid), stream.ready.eq(tready)]
            if info["tlast"]:
                m.d.comb += getattr(self, f"{port}_tlast").eq(payload[bits])
