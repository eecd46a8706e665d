"""``make bench-compare``: the bit-weight TPE paper's RTL next to accelgen's equivalents.

::

    python -m accelgen.sim.bench.tpe_compare --hpte PATH [--out DIR] [--quick] [--workers N]

Synthesizes the user's own checkout of wqzustc/High-Performance-Tensor-Processing-Engines
(nothing of it is vendored or fetched) next to accelgen's equivalent configurations, through
the same flows and tools (:func:`accelgen.sim.bench._common.mac_style_flows`; the paper's
sources are read with ``read_slang``), and writes ``DIR/tpe_compare.json`` and
``DIR/tpe_compare.md`` (default ``bench/``). The ``tpe`` section's report includes the table
when ``bench/tpe_compare.json`` exists.
"""

import argparse
import functools
import json
import re
import sys
import time
from pathlib import Path

from ._common import ABC_GATES, export_point, mac_style_flows, make_point, run_parallel
from .tpe import pe_rows, render_compare

__all__ = ["anchor_configs", "run_compare", "main"]


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
    user's checkout), ``dw02`` (needs the Wallace-tree model), and ``accelgen`` (a
    :class:`~accelgen.sim.bench._common.Point`, or ``"pe:<mac>"`` for the MAC cell alone).
    """
    root = Path(root)
    os_dir = "OPT1/systolic_array_os"
    opt1_files = [f"{name}.v" for name in ("booth_partial_product_generator_pp1", "booth_partial_product_generator",
                                           "booth_pp_gen", "inv_conveter_8", "inv_unit_nor_out", "inv_unit",
                                           "opt1_mac", "pe", "top")]
    opt2_files = [f"{name}.sv" for name in ("partial_product_select", "top_pe_tile", "top_tpe", "tree_full_sum",
                                            "vector_encoder", "weight_rf")]
    configs = [
        dict(name="mac_pe", top="mac", defines={}, files=_files(root, f"{os_dir}/mac_pe", ["mac.v"]), dw02=False,
             accelgen="pe:baseline"),
        dict(name="opt1_pe", top="opt1_mac", defines={"ACC_WIDTH": 32, "INPUT_PIP": 1},
             files=_files(root, f"{os_dir}/opt1_pe"), dw02=True, accelgen="pe:carry_save"),
    ]
    sizes = [4] if quick else [4, 8, 16]
    for n in sizes:
        shape = dict(rows=n, cols=n, k_max=256, acc_width=32, counter_width=16)
        configs += [
            dict(name=f"os_mac{n}", top="top", defines={"A_H": n, "B_W": n, "WIDTH": 8, "ACC_WIDTH": 32},
                 files=_files(root, f"{os_dir}/array_mac_based", ["pe.v", "top.v"]), dw02=False,
                 accelgen=make_point("systolic", f"OS {n}x{n}", "baseline", **shape)),
            dict(name=f"os_opt1_{n}", top="top", defines={"A_H": n, "B_W": n, "WIDTH": 8, "ACC_WIDTH": 32},
                 files=_files(root, f"{os_dir}/array_opt1_based", opt1_files), dw02=True,
                 accelgen=make_point("systolic", f"OS {n}x{n}", "carry_save", **shape)),
        ]
    if not quick:
        cube = dict(rows=8, cols=8, depth=8, k_max=1, counter_width=16)
        configs += [
            dict(name="cube_mac8", top="top", defines={"N": 8, "WIDTH": 8}, files=_files(root, "OPT1/cube/array_mac_based"),
                 dw02=False, accelgen=make_point("cube3d", "cube 8x8x8", "baseline", **cube)),
            dict(name="cube_opt1_8", top="top", defines={"N": 8, "WIDTH": 8},
                 files=_files(root, "OPT1/cube/array_opt1_based"), dw02=True,
                 accelgen=make_point("cube3d", "cube 8x8x8", "carry_save", **cube)),
        ]
    for n in ([4] if quick else [4, 16]):
        configs.append(dict(name=f"opt2_n{n}", top="top_tpe", defines={"N": n}, files=_files(root, "OPT2", opt2_files),
                            dw02=True, accelgen=make_point("tree", f"tree K16xN{n}", "same_weight_tree", depth=16,
                                                           cols=n, k_max=1, counter_width=16)))
    for n in ([16] if quick else [16, 32]):
        configs.append(dict(name=f"opt4c_n{n}", top="top_pe_column", defines={"N": n},
                            files=_files(root, "OPT3_OPT4C/pe", ["pe.v", "sparse_encoder.v"])
                            + _files(root, "OPT3_OPT4C/array", ["top_pe_column.v"]), dw02=True,
                            accelgen=make_point("matrix2d", f"2D {n}x1", "carry_save", rows=n, cols=1, k_max=256,
                                                acc_width=26, overflow="wrap", counter_width=16)))
    return configs


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


def _anchor_row(config: dict, root: Path, workdir: Path, flows) -> dict:
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
        return mac_style_flows(files, config["top"], workdir, frontend=frontend, flows=flows, place_nodsp=False)
    except (RuntimeError, ValueError) as error:
        return {"error": str(error).splitlines()[0]}


def _accelgen_row(config: dict, workdir: Path, flows) -> dict:
    target = config["accelgen"]
    if isinstance(target, str):
        pe = [row for row in pe_rows(workdir) if row["mac"] == target.split(":")[1]][0]
        return {key: pe[key] for key in ("generic", "ecp5_nodsp") if key in pe} | {"label": f"OS PE {pe['mac']}"}
    verilog, top = export_point(target, workdir)
    return mac_style_flows(verilog, top, workdir / target.slug, flows=flows, place_nodsp=False) | {
        "label": f"{target.design} {target.label} {target.mac}"}


def run_compare(hpte: Path, out_dir: Path, *, quick: bool = False, workers: int = 2) -> dict:
    """Synthesize the paper's configurations from ``hpte`` and accelgen's equivalents."""
    hpte = Path(hpte).resolve()
    if not (hpte / "OPT1").is_dir():
        raise ValueError(f"HPTE={hpte} does not look like a High-Performance-Tensor-Processing-Engines checkout "
                         "(no OPT1/ folder)")
    configs = anchor_configs(hpte, quick)
    flows = ("generic", "ecp5_nodsp")
    work = Path(out_dir) / "tpe_compare"
    tasks = []
    for config in configs:
        name = config["name"]
        tasks.append(("paper", config, functools.partial(_anchor_row, config, hpte, work / "paper" / name, flows)))
        tasks.append(("accelgen", config, functools.partial(_accelgen_row, config, work / "accelgen" / name, flows)))
    done = run_parallel([call for _, _, call in tasks], workers,
                        describe=lambda index, _: f"{tasks[index][1]['name']} ({tasks[index][0]}) done")
    rows = {config["name"]: {"name": config["name"]} for config in configs}
    for (source, config, _), result in zip(tasks, done):
        rows[config["name"]][source] = result
    result = {"hpte": "user checkout (path not recorded)", "quick": quick, "abc_gates": ABC_GATES,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": list(rows.values())}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "tpe_compare.json").write_text(json.dumps(result, indent=2) + "\n")
    (Path(out_dir) / "tpe_compare.md").write_text(
        "# accelgen vs the bit-weight TPE paper's RTL\n\n" + "\n".join(render_compare(result)) + "\n")
    return result


def main(argv=None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench.tpe_compare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--hpte", required=True,
                        help="path of your High-Performance-Tensor-Processing-Engines checkout")
    parser.add_argument("--out", default="bench", help="folder of tpe_compare.json/.md (default: bench)")
    parser.add_argument("--quick", action="store_true", help="small configurations only")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        run_compare(Path(args.hpte), Path(args.out), quick=args.quick, workers=args.workers)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    print(f"wrote {Path(args.out) / 'tpe_compare.json'} and {Path(args.out) / 'tpe_compare.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
