"""FuseSoC CAPI2 core files for generated configurations.

:func:`write_core` writes ``<module>.core`` next to a configuration's Verilog (called by
:func:`accelgen.sim.flow.generate`, so every generated folder has one), plus
``<module>.vlt``: the documented Verilator waivers (``sim/amaranth_waivers.vlt``), limited to
this configuration's file so that they do not switch warnings off in a user's own sources.
The folder is then self-contained: ``fusesoc --cores-root <folder> run --target lint <vlnv>``.

The core has one module and no ``parameters:`` section: Amaranth emits no Verilog
``parameter``\\ s, every configuration is its own module (the parameters are in the
``description``, ``params.json`` and ``manifest.json``).

The YAML is written here by hand rather than with PyYAML: it is a fixed, small structure, and
accelgen's own install does not need a YAML library; every string is emitted as a JSON string,
which is a valid YAML double-quoted scalar, so module names and parameter values need no
escaping rules of our own. Key order is fixed and nothing depends on the machine or the date.
"""

import json
import re
from pathlib import Path

from .. import __version__
from .toolchain import WAIVER_FILE

__all__ = ["VENDOR", "LIBRARY", "core_name", "core_text", "waiver_text", "write_core"]

#: Vendor and library of every generated core's VLNV: ``accelgen:ip:<module>:<version>``.
VENDOR, LIBRARY = "accelgen", "ip"

#: ``lint_off -rule NAME`` lines of the waiver file (the only form it uses).
_RULE = re.compile(r"^(lint_off\s+-rule\s+\w+)\s*$")


def core_name(manifest: dict) -> str:
    """The VLNV of a configuration's core: ``accelgen:ip:<module>:<accelgen version>``."""
    return f"{VENDOR}:{LIBRARY}:{manifest['module']}:{__version__}"


def waiver_text(verilog: str) -> str:
    """The documented waivers, each limited to the file ``verilog`` (a file name).

    Verilator applies a ``lint_off`` without ``-file`` to every source of the run; a core that
    is a dependency of someone else's design must not waive warnings in their files.
    """
    lines = []
    for line in WAIVER_FILE.read_text().splitlines():
        match = _RULE.match(line)
        lines.append(f'{match.group(1)} -file "*{verilog}"' if match else line)
    return "\n".join(lines) + "\n"


def _cli_value(value) -> str:
    """A parameter value as ``accelgen generate -p NAME=VALUE`` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "none" if value is None else str(value)


def _description(manifest: dict) -> str:
    params = " ".join(f"{key}={_cli_value(value)}" for key, value in sorted(manifest["params"].items()))
    return f"accelgen {manifest['design']} configuration: {params}"


def _yaml(value, indent: int = 0) -> list[str]:
    """Block-style YAML lines of a dict / list of plain values; strings as JSON strings."""
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)):
                lines.append(f"{pad}{key}:")
                lines += _yaml(item, indent + 1)
            else:
                lines.append(f"{pad}{key}: {json.dumps(item)}")
    else:
        for item in value:
            lines.append(f"{pad}- {json.dumps(item)}")
    return lines


def core_text(manifest: dict, *, name: str | None = None, waivers: str | None = None) -> str:
    """The CAPI2 text of the core of the configuration described by ``manifest``.

    Parameters
    ----------
    manifest : dict
        The manifest of :func:`accelgen.generators.export.write_design` (``design``,
        ``module``, ``verilog``, ``params``).
    name : str, optional
        The VLNV (default: :func:`core_name`; a FuseSoC generator names its output core).
    waivers : str, optional
        The waiver file's name (default ``<module>.vlt``).
    """
    module = manifest["module"]
    waivers = waivers or f"{module}.vlt"
    # The waivers are in the default target, which is what a core that depends on this one
    # gets: only Verilator reads `vlt` files, and they cover only this core's Verilog file.
    body = {
        "name": name or core_name(manifest),
        "description": _description(manifest),
        "filesets": {
            "rtl": {"files": [manifest["verilog"]], "file_type": "verilogSource"},
            "waivers": {"files": [waivers], "file_type": "vlt"},
            "meta": {"files": ["manifest.json", "params.json"], "file_type": "user"},
        },
        "targets": {
            "default": {"filesets": ["rtl", "waivers", "meta"], "toplevel": module},
            # Edalize's flow API (the tool API is deprecated there): `fusesoc run --target lint`.
            "lint": {
                "description": "Verilator --lint-only -Wall with the documented waivers",
                "filesets": ["rtl", "waivers", "meta"],
                "toplevel": module,
                "flow": "lint",
                "flow_options": {"tool": "verilator", "verilator_options": ["-Wall"]},
            },
            "synth": {
                "description": "Yosys synth_ecp5 to a JSON netlist (runs `yosys`: see accelgen-yosys)",
                "filesets": ["rtl", "meta"],
                "toplevel": module,
                "flow": "generic",
                "flow_options": {"tool": "yosys", "arch": "ecp5", "output_format": "json"},
            },
        },
    }
    header = [
        "CAPI=2:",
        f"# Written by accelgen {__version__} for one configuration of `{manifest['design']}`;",
        "# regenerate it with `accelgen generate` rather than editing it.",
    ]
    return "\n".join(header + _yaml(body)) + "\n"


def write_core(manifest: dict, out_dir: Path, *, name: str | None = None) -> Path:
    """Write ``<module>.core`` and ``<module>.vlt`` into ``out_dir`` (the folder that holds the
    configuration's Verilog, ``params.json`` and ``manifest.json``); return the core's path.

    ``name`` is the core's VLNV (default :func:`core_name`).
    """
    out_dir = Path(out_dir)
    module = manifest["module"]
    (out_dir / f"{module}.vlt").write_text(waiver_text(manifest["verilog"]))
    path = out_dir / f"{module}.core"
    path.write_text(core_text(manifest, name=name))
    return path
