"""Verilator ``--lint-only -Wall`` over exported designs, with the documented waivers only."""

import os
import subprocess
import tempfile
from pathlib import Path

from ..generators import Design, DesignParams
from ..generators.export import to_verilog
from .toolchain import WAIVER_FILE, prepare_verilator_env, verilator_root

__all__ = ["lint_design"]


def lint_design(design: Design, params: DesignParams) -> list[str]:
    """Lint one configuration; return the warning/error lines (empty when clean)."""
    module, text = to_verilog(design, params)
    env = prepare_verilator_env(dict(os.environ))
    with tempfile.TemporaryDirectory() as folder:
        verilog = Path(folder) / f"{module}.v"
        verilog.write_text(text)
        result = subprocess.run(
            [str(verilator_root() / "bin" / "verilator"), "--lint-only", "-Wall",
             "--top-module", module, str(WAIVER_FILE), str(verilog)],
            capture_output=True, text=True, env=env,
        )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("%")]
    if result.returncode != 0 and not lines:
        lines = [f"verilator exited with status {result.returncode}"]
    return lines
