"""What the benchmark sections share: number formats, exports, parallel runs and synthesis.

- Formats of the Markdown tables: :func:`pct`, :func:`num`, :func:`fixed`.
- :func:`run_parallel`: calls run a few at a time in threads (each call's work is a tool
  process), with one progress line per finished call; :func:`synthesize_designs`: designs
  exported once and their flows run that way (:func:`accelgen.sim.flow.synthesize`).
- The MAC-style comparison flows of the ``tpe`` and ``booth_serial`` sections and of
  ``make bench-compare`` / ``make sweep-tpe``: :class:`Point` (an engine configuration),
  :func:`export_point`, :func:`mac_style_flows` (2-input gates and logic depth, ECP5 with and
  without DSPs) and :func:`logic_cells`.
"""

import concurrent.futures
import dataclasses
import functools
import re
import time
from pathlib import Path
from typing import Callable

from ...generators import get_design
from ...synth import summary, synth_ecp5, synth_generic
from .. import flow

__all__ = ["INT8", "ABC_GATES", "pct", "num", "fixed", "run_parallel", "synthesize_designs", "Point", "make_point",
           "export", "export_point", "mac_style_flows", "logic_cells", "brief"]

#: Operands of the int8 x int8 signed configurations.
INT8 = dict(a_width=8, b_width=8, a_signed=True, b_signed=True)

#: The 2-input gate library of the generic counts (the paper RTL reference measurements).
ABC_GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"

#: Figures kept of the MAC-style flows (:func:`accelgen.synth.summary`).
GENERIC_FIGURES = ("gates", "ff", "logic_depth", "cells_by_type", "yosys_version", "critical_path")
ECP5_FIGURES = ("device", "lut4", "ccu2", "ff", "dsp_mult18", "dpram", "pnr_comb", "fmax_mhz", "note", "yosys_version",
                "critical_path", "fmax_seeds", "pnr_error")


# -- formats -------------------------------------------------------------------------------------

def pct(value: float, digits: int = 2) -> str:
    """A fraction as a percentage: ``0.9876`` -> ``"98.76 %"``."""
    return f"{100 * value:.{digits}f} %"


def num(value, fmt: str = "{}") -> str:
    """``value`` formatted with ``fmt``, or ``"n/a"`` if it is ``None``."""
    return "n/a" if value is None else fmt.format(value)


def fixed(value, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals, or ``"n/a"`` if it is ``None``."""
    return num(value, f"{{:.{digits}f}}")


# -- parallel runs -------------------------------------------------------------------------------

def run_parallel(calls: list[Callable], workers: int,
                 describe: Callable[[int, object], str | list[str]] | None = None) -> list:
    """Run the zero-argument ``calls``, ``workers`` at a time; their results in the order of ``calls``.

    After each call finishes, the line (or lines) ``describe(index, result)`` is printed with the
    number of calls done and the time elapsed.
    """
    results = [None] * len(calls)
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(call): index for index, call in enumerate(calls)}
        for done, future in enumerate(concurrent.futures.as_completed(futures), 1):
            index = futures[future]
            results[index] = future.result()
            if describe is not None:
                lines = describe(index, results[index])
                for line in [lines] if isinstance(lines, str) else lines:
                    print(f"  [{done}/{len(calls)}] {line} ({time.perf_counter() - start:.0f} s elapsed)", flush=True)
    return results


def export(design: str, params, design_dir: Path) -> tuple[Path, str]:
    """Write one configuration into ``design_dir``; its Verilog file and top module."""
    manifest = flow.generate(design, params, design_dir)
    return Path(design_dir) / manifest["verilog"], manifest["module"]


def synthesize_designs(jobs: list[tuple], out_dir: Path, *, workers: int) -> dict[tuple[str, str], dict]:
    """Run ``(key, design, params, target)`` synthesis jobs, ``workers`` at a time.

    Each configuration is exported once to ``out_dir/<key>`` and each of its flows works in
    ``out_dir/<key>/<target>``. Returns the flow reports by ``(key, target)``.
    """
    manifests, configs = {}, {}
    for key, design, params, target in jobs:
        if key not in manifests:
            manifests[key], configs[key] = flow.generate(design, params, Path(out_dir) / key), (design, params)
        elif configs[key] != (design, params):
            raise ValueError(f"synthesis key {key!r} names two configurations")
    calls = [functools.partial(flow.synthesize, Path(out_dir) / key, manifests[key], target,
                               workdir=Path(out_dir) / key / target)
             for key, design, params, target in jobs]
    done = run_parallel(calls, workers, describe=lambda index, _: f"synth {jobs[index][0]} {jobs[index][3]}: done")
    return {(key, target): synthesis.report for (key, _, _, target), synthesis in zip(jobs, done)}


# -- MAC-style flows -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Point:
    """One int8 engine configuration to synthesize: design name, parameters (without ``mac``), label."""

    design: str
    kwargs: tuple
    label: str
    mac: str = "baseline"

    @property
    def params(self):
        """The validated parameters of this point."""
        return get_design(self.design).params(**dict(self.kwargs), mac=self.mac, **INT8)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "_", f"{self.label}_{self.mac}").strip("_")

    @property
    def macs_per_cycle(self) -> int:
        """Multipliers of the configuration (MACs per cycle at full utilization)."""
        p = self.params
        return p.rows * p.cols * getattr(p, "depth", 1)


def make_point(design, label, mac="baseline", **kwargs) -> Point:
    """A :class:`Point` of ``design`` with parameters ``kwargs``."""
    return Point(design, tuple(sorted(kwargs.items())), label, mac)


def export_point(point: Point, out_dir: Path) -> tuple[Path, str]:
    """Write ``point`` into ``out_dir/<slug>``; its Verilog file and top module."""
    return export(point.design, point.params, Path(out_dir) / point.slug)


def mac_style_flows(verilog, top: str, workdir: Path, *, frontend=None, flows=("generic", "ecp5", "ecp5_nodsp"),
                    place_nodsp: bool = True, seeds=None, freq_mhz: float = 100.0) -> dict:
    """Run the requested flows on one netlist; the summarized figures of each.

    ``generic``: ``synth -flatten`` re-mapped to :data:`ABC_GATES` (gates, FF, logic depth,
    critical path); ``ecp5``: ``synth_ecp5`` with DSPs, not placed; ``ecp5_nodsp``:
    ``synth_ecp5 -nodsp``, placed if ``place_nodsp`` (once per seed of ``seeds`` if given, Fmax
    the median: :func:`accelgen.synth.synth_ecp5`) with the clock constraint ``freq_mhz``. ``frontend`` replaces the reading of
    ``verilog`` (a file or a list of files), see :func:`accelgen.synth.synth_generic`.
    """
    result = {}
    if "generic" in flows:
        report = synth_generic(verilog, top, workdir / "generic", frontend=frontend, abc_gates=ABC_GATES)
        result["generic"] = summary(report, "generic", GENERIC_FIGURES)
    if "ecp5" in flows:
        report = synth_ecp5(verilog, top, workdir / "ecp5", frontend=frontend, place=False)
        result["ecp5"] = summary(report, "ecp5", ECP5_FIGURES)
    if "ecp5_nodsp" in flows:
        report = synth_ecp5(verilog, top, workdir / "ecp5_nodsp", frontend=frontend, nodsp=True, place=place_nodsp,
                            seeds=seeds, freq_mhz=freq_mhz)
        result["ecp5_nodsp"] = summary(report, "ecp5_nodsp", ECP5_FIGURES)
    return result


def logic_cells(ecp5: dict) -> int | None:
    """ECP5 logic cells of a summary: nextpnr's ``TRELLIS_COMB`` count if placed, else LUT4 plus
    two per CCU2C carry slice."""
    if ecp5.get("pnr_comb") is not None:
        return ecp5["pnr_comb"]
    if ecp5.get("lut4") is None:
        return None
    return ecp5["lut4"] + 2 * (ecp5.get("ccu2") or 0)


def brief(row: dict) -> str:
    """One line of a row of :func:`mac_style_flows` figures (progress output)."""
    parts = []
    if "generic" in row:
        g = row["generic"]
        parts.append(f"{g['gates']} gates, {g['ff']} FF, depth {g['logic_depth']}")
    if "ecp5_nodsp" in row:
        e = row["ecp5_nodsp"]
        fmax = f"{e['fmax_mhz']:.1f} MHz" if e.get("fmax_mhz") else (e.get("note") or "n/a")
        parts.append(f"ECP5 -nodsp {e['lut4']} LUT4 {e['ccu2']} CCU2C {e['ff']} FF, {fmax}")
    return f"{row['label']} {row['mac']}: " + "; ".join(parts)
