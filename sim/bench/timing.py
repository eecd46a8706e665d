"""Benchmark section ``timing``: the timing-closure options of the tensor engines.

The engines' defaults keep the unpipelined reductions and the parallel-prefix final adders of
the ``tpe`` section. This section measures what the options buy on the configurations whose
clock the ``tpe`` section and ``make bench-compare`` found behind the bit-weight paper's RTL:

- ``pipeline`` / ``depth_target`` (register stages in each output's reduction, ``tree``,
  ``matrix2d``, ``cube3d``);
- ``final_adder="carry_chain"`` (the adders outside the MAC loops left as ``+``, which ECP5
  maps onto its carry chains instead of a prefix network of LUT4s).

Every point goes through the flows of ``make bench-compare``: generic gates / FF / ``ltp``
depth with the critical path, and ECP5 ``synth_ecp5 -nodsp`` placed out of context with seeds
1, 2, 3 (Fmax the median; each seed's critical path recorded). Points are measured one after
the other and each is kept in ``<out>/timing/<slug>.json`` as soon as it is done (keyed by its
parameters, the tool versions and the Verilog's digest), so an interrupted run resumes where it
stopped and a changed design is measured again.
"""

import hashlib
import json
import tempfile
from pathlib import Path

from . import BenchContext, BenchSection
from ._common import brief, export_point, logic_cells, mac_style_flows, make_point, num
from .tpe import _fmax_text, path_text
from .tpe_compare import FREQ_MHZ, SEEDS, tool_versions

__all__ = ["POINTS", "run_bench", "render_markdown", "failures", "SECTION"]

_OS = dict(k_max=256, acc_width=32, counter_width=16)
_TREE = dict(depth=16, k_max=1, counter_width=16)
_COLUMN = dict(rows=1, cols=16, k_max=256, acc_width=26, overflow="wrap", counter_width=16)

#: ``(point, target text)`` in the order they are measured (most wanted first).
POINTS = [
    (make_point("tree", "tree K16xN4 pipeline=3 carry_chain", "same_weight_tree", cols=4, pipeline=3,
                final_adder="carry_chain", **_TREE), "≥ 125 MHz at ≤ 13.3k cells (paper OPT2, same flow: 121.1 MHz)"),
    (make_point("systolic", "OS 4x4 carry_chain", "carry_save", rows=4, cols=4, final_adder="carry_chain", **_OS),
     "paper OPT1 4x4, same flow: 112.2 MHz"),
    (make_point("cube3d", "cube 4x4x4 depth_target=12 carry_chain", "carry_save", rows=4, cols=4, depth=4,
                k_max=1, counter_width=16, depth_target=12, final_adder="carry_chain"), "≥ 125 MHz"),
    (make_point("systolic", "OS 8x8 register_partials carry_chain", "carry_save", rows=8, cols=8,
                register_partials=True, final_adder="carry_chain", **_OS),
     "≥ 130 MHz at ≤ 22.2k LUT4 (paper OPT1 8x8, same flow: 104.5 MHz, 26.7k LUT4)"),
    # The gate-saving row select on the same array: what it costs on ECP5.
    (make_point("systolic", "OS 8x8 register_partials mux_tree carry_chain", "carry_save", rows=8, cols=8,
                register_partials=True, row_select="mux_tree", final_adder="carry_chain", **_OS),
     "row_select=\"mux_tree\" next to the row above (fewer generic gates; ECP5 cost)"),
    (make_point("tree", "tree K16xN4 pipeline=3 carry_chain", "carry_save", cols=4, pipeline=3,
                final_adder="carry_chain", **_TREE), "≥ 125 MHz at ≤ 13.3k cells"),
    (make_point("matrix2d", "2D column 1x16", "booth_serial", **_COLUMN),
     "≥ 147 MHz at ≤ 3.6k LUT4 (paper OPT4C)"),
    (make_point("tree", "tree K16xN4 depth_target=20", "same_weight_tree", cols=4, depth_target=20, **_TREE),
     "generic depth ≤ 34 (paper OPT2)"),
    # Four times the cells of K16xN4: the slowest placement by far, measured last.
    (make_point("tree", "tree K16xN16 pipeline=4 carry_chain", "same_weight_tree", cols=16, pipeline=4,
                final_adder="carry_chain", **_TREE), "≥ 144 MHz at ≤ the paper's OPT2 N16 cells"),
]


def _key(point) -> str:
    return json.dumps({"design": point.design, "mac": point.mac, "params": dict(point.kwargs),
                       "seeds": list(SEEDS), "freq_mhz": FREQ_MHZ, "tools": tool_versions()}, sort_keys=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _measured_digest(stored: dict, folder: Path) -> str | None:
    """The Verilog digest a stored row was measured on (rows from before it was recorded:
    the Verilog file kept in the point's folder)."""
    if "verilog_sha256" in stored["row"]:
        return stored["row"]["verilog_sha256"]
    files = sorted(folder.glob("*.v"))
    return _digest(files[0]) if len(files) == 1 else None


def _measure(point, target: str, out_dir: Path) -> dict:
    # A stored row counts only for the same parameters, tools and Verilog: a change of the
    # hardware behind unchanged parameters is measured again.
    with tempfile.TemporaryDirectory() as tmp:
        fresh, _ = export_point(point, Path(tmp))
        digest = _digest(fresh)
    cache = out_dir / f"{point.slug}.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == _key(point) and _measured_digest(stored, out_dir / point.slug) == digest:
            print(f"{point.label} {point.mac}: stored", flush=True)
            return stored["row"] | {"target": target}  # the target is text, not a measurement
    verilog, top = export_point(point, out_dir)
    params = point.params
    row = {"label": point.label, "design": point.design, "mac": point.mac, "target": target,
           "params": params.to_dict(), "pipeline": getattr(params, "pipeline", None),
           "result_latency": params.result_latency, "verilog_sha256": digest}
    try:
        row |= mac_style_flows(verilog, top, out_dir / point.slug, flows=("generic", "ecp5_nodsp"), seeds=SEEDS,
                               freq_mhz=FREQ_MHZ)
        print(brief(row), flush=True)
    except (RuntimeError, ValueError) as error:
        row["error"] = str(error).splitlines()[0]
        print(f"{point.label} {point.mac}: {row['error']}", flush=True)
    cache.write_text(json.dumps({"key": _key(point), "row": row}, indent=2) + "\n")
    return row


def run_bench(ctx: BenchContext) -> dict:
    """Measure every point (the first one only with ``quick``), one at a time."""
    points = POINTS[:1] if ctx.quick else POINTS
    rows = [_measure(point, target, ctx.out_dir) for point, target in points]
    return {"quick": ctx.quick, "seeds": list(SEEDS), "freq_mhz": FREQ_MHZ, "rows": rows}


def render_markdown(result: dict) -> list[str]:
    """This section of ``BENCHMARKS.md``."""
    lines = [
        "## Timing closure options of the tensor engines (`timing`)",
        "",
        "Signed int8. `pipeline` / `depth_target`: register stages in each output's reduction (the latency grows "
        "by the stages, the cycle model with it; throughput is unchanged). `final_adder=carry_chain`: the adders "
        "outside the MAC loops as `+` (ECP5 carry chains) instead of parallel-prefix gates. Same flows as "
        "`make bench-compare`: generic `abc -g` gates and `ltp` depth; ECP5 `-nodsp` out of context, Fmax the "
        f"median of seeds {' / '.join(map(str, result['seeds']))} at a {result['freq_mhz']:g} MHz constraint.",
        "",
        "| configuration | mac | stages | latency | gates | FF | depth | ECP5 logic cells / FF | Fmax MHz | target "
        "| generic critical path | ECP5 critical path |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|---|---|---|",
    ]
    for row in result["rows"]:
        if "error" in row:
            lines.append(f"| {row['label']} | {row['mac']} | | | error: {row['error'][:80]} | | | | | "
                         f"{row['target']} | | |")
            continue
        g, n = row.get("generic") or {}, row.get("ecp5_nodsp") or {}
        lines.append(
            f"| {row['label']} | {row['mac']} | {num(row.get('pipeline'))} | {row['result_latency']} "
            f"| {num(g.get('gates'))} | {num(g.get('ff'))} | {num(g.get('logic_depth'))} "
            f"| {num(logic_cells(n))} / {num(n.get('ff'))} | {_fmax_text(n)} | {row['target']} "
            f"| {path_text(g.get('critical_path'))} | {path_text(n.get('critical_path'))} |")
    lines.append("")
    if result.get("quick"):
        lines += ["*Quick run (`--quick`): the first point only.*", ""]
    if result.get("not_measured"):
        lines += [f"*Not measured in this run: {', '.join(result['not_measured'])}.*", ""]
    return lines


def failures(result: dict) -> list[str]:
    """Points whose flows failed (the targets are reported next to each row, not enforced)."""
    return [f"{row['label']} {row['mac']}: {row['error']}" for row in result["rows"] if "error" in row]


SECTION = BenchSection(name="timing", order=31, run=run_bench, render=render_markdown, failures=failures)
