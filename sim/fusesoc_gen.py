"""accelgen as a FuseSoC generator: the ``accelgen`` generator of the core
``accelgen:gen:accelgen`` (``fusesoc/accelgen_gen.core``).

FuseSoC runs ``python3 fusesoc/accelgen_gen.py <input.yml>`` in an empty output folder; the
input (generator API 1.0) holds ``gapi``, ``files_root``, ``vlnv`` and the ``parameters`` of
the user's ``generate:`` block::

    parameters:
      design: systolic          # a registered design (``accelgen list``)
      params: {rows: 8, cols: 8}  # its parameters; the rest keep their defaults

:func:`run_generator` writes the same folder as ``accelgen generate`` (Verilog,
``params.json``, ``manifest.json``, ``<module>.vlt``) and a core named ``vlnv``, which FuseSoC
then adds to the build. Parameters given to ``fusesoc run`` on the command line do not reach
generators (fusesoc#675): each configuration is its own ``generate:`` block.

This module reads YAML with PyYAML, which comes with FuseSoC; accelgen's own commands do not
import it.
"""

import sys
from pathlib import Path

import yaml

from ..generators import get_design
from .flow import generate

__all__ = ["GAPI", "run_generator", "main"]

#: The FuseSoC generator API version this generator reads.
GAPI = "1.0"

_KEYS = {"design", "params"}


def _assignment(name: str, value) -> str:
    """``NAME=VALUE`` as the command line writes it (YAML gives bool, int, None or str)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"{name}={'none' if value is None else value}"


def run_generator(input_file: Path, out_dir: Path | None = None) -> dict:
    """Generate the configuration that the FuseSoC generator input ``input_file`` asks for
    into ``out_dir`` (default: the current folder); return its manifest.

    Raises
    ------
    ValueError
        On an unknown API version, a missing or unknown design, or an illegal parameter.
    """
    data = yaml.safe_load(Path(input_file).read_text()) or {}
    if str(data.get("gapi")) != GAPI:
        raise ValueError(f"generator API {data.get('gapi')!r} is not supported (accelgen reads {GAPI})")
    parameters = data.get("parameters") or {}
    unknown = set(parameters) - _KEYS
    if unknown:
        raise ValueError(f"unknown generator parameters {sorted(unknown)}: give `design` and `params`")
    if "design" not in parameters:
        raise ValueError("the generator parameters must name a `design` (see `accelgen list`)")
    design = get_design(parameters["design"])
    values = parameters.get("params") or {}
    if not isinstance(values, dict):
        raise ValueError("`params` must be a mapping NAME: VALUE")
    params = design.params.from_strings([_assignment(name, value) for name, value in values.items()])
    return generate(design, params, Path.cwd() if out_dir is None else Path(out_dir), vlnv=data["vlnv"])


def main(argv: list[str] | None = None) -> int:
    """``accelgen_gen.py <input.yml>``: status 0, or 2 with one error line."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: accelgen_gen.py <fusesoc generator input.yml>", file=sys.stderr)
        return 2
    try:
        manifest = run_generator(Path(argv[0]))
    except (ValueError, KeyError) as error:
        print(f"accelgen generator: error: {error}", file=sys.stderr)
        return 2
    print(f"accelgen generator: wrote {manifest['core']} (module {manifest['module']})")
    return 0
