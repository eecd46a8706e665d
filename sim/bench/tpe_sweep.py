"""``make sweep-tpe``: architecture x MAC style x size, synthesized, with a Pareto plot.

::

    python -m accelgen.sim.bench.tpe_sweep [--sizes 2,4,8] [--target ecp5|generic] [--out DIR] [--workers N]

Every engine of the ``tpe`` section (:data:`accelgen.sim.bench.tpe.ENGINE_MACS`) at each size,
through the MAC-style flows (:func:`accelgen.sim.bench._common.mac_style_flows`); writes
``DIR/sweep.csv`` (default ``out/sweep_tpe``) and a Pareto plot ``DIR/pareto.png`` (area vs
throughput, colour = Fmax).
"""

import argparse
import csv
import functools
import sys
from pathlib import Path

from ._common import Point, export_point, logic_cells, mac_style_flows, make_point, run_parallel
from .tpe import ENGINE_MACS

__all__ = ["sweep_points", "run_tpe_sweep", "pareto_front", "main"]


def sweep_points(sizes=(2, 4, 8)) -> list[Point]:
    """Architecture x MAC style x size (int8): square arrays of ``n x n``, trees of ``2n`` lanes
    x ``n`` outputs, cubes of ``n/2 x n/2 x n``."""
    points = []
    for n in sizes:
        shapes = [("systolic", f"OS {n}x{n}", dict(rows=n, cols=n, k_max=256)),
                  ("matrix2d", f"2D {n}x{n}", dict(rows=n, cols=n, k_max=256)),
                  ("tree", f"tree K{2 * n}xN{n}", dict(depth=2 * n, cols=n, k_max=256)),
                  ("cube3d", f"cube {max(1, n // 2)}x{max(1, n // 2)}x{n}", dict(rows=max(1, n // 2), cols=max(1, n // 2),
                                                                                 depth=n, k_max=256))]
        for design, label, kwargs in shapes:
            for mac in ENGINE_MACS[design]:
                points.append(make_point(design, label, mac, counter_width=16, **kwargs))
    return points


def _sweep_row(point: Point, out_dir: Path, flows) -> dict:
    verilog, top = export_point(point, out_dir)
    result = mac_style_flows(verilog, top, out_dir / point.slug, flows=flows)
    g = result["generic"]
    e = result.get("ecp5_nodsp") or {}
    fmax = e.get("fmax_mhz")
    return {"design": point.design, "config": point.label, "mac": point.mac, "multipliers": point.macs_per_cycle,
            "gates": g["gates"], "ff": g["ff"], "logic_depth": g["logic_depth"],
            "lut4": e.get("lut4"), "ccu2": e.get("ccu2"), "ecp5_ff": e.get("ff"), "logic_cells": logic_cells(e) if e else None,
            "fmax_mhz": fmax,
            "gmacs": point.macs_per_cycle * fmax / 1000 if fmax else None,
            "macs_per_gate_delay": point.macs_per_cycle / g["logic_depth"] if g["logic_depth"] else None}


def run_tpe_sweep(out_dir: Path, *, sizes=(2, 4, 8), target: str = "ecp5", workers: int = 2) -> list[dict]:
    """Synthesize every sweep point; write ``sweep.csv`` and ``pareto.png`` into ``out_dir``.

    Throughput is the steady-state MAC rate: multipliers x Fmax (tiles of K >= rows beats keep
    every multiplier busy, see the engines' cycle models); with ``target="generic"`` Fmax is
    replaced by 1 / logic depth (a relative figure).
    """
    out_dir = Path(out_dir)
    flows = ("generic", "ecp5_nodsp") if target == "ecp5" else ("generic",)
    calls = [functools.partial(_sweep_row, point, out_dir / "designs", flows) for point in sweep_points(sizes)]
    rows = run_parallel(calls, workers, describe=lambda index, row: (
        f"{row['config']} {row['mac']}: {row['gates']} gates, depth {row['logic_depth']}, Fmax {row['fmax_mhz']}"))
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sweep.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    _pareto_plot(rows, out_dir / "pareto.png", target)
    print(f"wrote {out_dir / 'sweep.csv'} and {out_dir / 'pareto.png'}")
    return rows


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points not dominated (smaller area and higher throughput)."""
    front = []
    for i, (area, rate) in enumerate(points):
        if not any((a <= area and r >= rate) and (a < area or r > rate) for j, (a, r) in enumerate(points) if j != i):
            front.append(i)
    return front


def _pareto_plot(rows: list[dict], path: Path, target: str) -> None:
    # matplotlib is imported here, not at the top: it is slow to import and only this plot
    # needs it (and the sweep still writes its CSV where it is missing).
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no Pareto plot", flush=True)
        return
    if target == "ecp5":
        usable = [row for row in rows if row["gmacs"] and row["logic_cells"]]
        area = [row["logic_cells"] for row in usable]
        rate = [row["gmacs"] for row in usable]
        colour = [row["fmax_mhz"] for row in usable]
        xlabel, ylabel, clabel = "ECP5 logic cells (-nodsp)", "throughput (GMAC/s)", "Fmax (MHz)"
    else:
        usable = rows
        area = [row["gates"] for row in usable]
        rate = [row["macs_per_gate_delay"] for row in usable]
        colour = [row["logic_depth"] for row in usable]
        xlabel, ylabel, clabel = "gates (2-input)", "MACs per cycle / logic depth", "logic depth"
    markers = {"baseline": "o", "carry_save": "s", "same_weight_tree": "^"}
    fig, ax = plt.subplots(figsize=(8, 6))
    for mac, marker in markers.items():
        idx = [i for i, row in enumerate(usable) if row["mac"] == mac]
        if idx:
            sc = ax.scatter([area[i] for i in idx], [rate[i] for i in idx], c=[colour[i] for i in idx], marker=marker,
                            cmap="viridis", vmin=min(colour), vmax=max(colour), label=mac, edgecolors="black")
    for i, row in enumerate(usable):
        ax.annotate(f"{row['config']}", (area[i], rate[i]), fontsize=6, xytext=(3, 3), textcoords="offset points")
    front = sorted(pareto_front(list(zip(area, rate))), key=lambda i: area[i])
    ax.plot([area[i] for i in front], [rate[i] for i in front], "r--", linewidth=1, label="Pareto front")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(sc, ax=ax, label=clabel)
    ax.legend()
    ax.set_title("accelgen TPEs: architecture x MAC style x size (int8)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.bench.tpe_sweep",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/sweep_tpe")
    parser.add_argument("--sizes", default="2,4,8", help="comma-separated array sizes n (default: 2,4,8)")
    parser.add_argument("--target", choices=("generic", "ecp5"), default="ecp5")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        sizes = tuple(int(size) for size in args.sizes.split(",") if size)
        run_tpe_sweep(Path(args.out), sizes=sizes, target=args.target, workers=args.workers)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
