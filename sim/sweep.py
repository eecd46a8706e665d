"""Parameter sweeps: every combination of the given values, verified and synthesized.

Each point is generated, run through its cocotb regression (bit-exact against the golden
model) and synthesized (:func:`run_point`); one CSV row per point, written as the point
finishes. A point that raises, dies or times out becomes a row with ``status=error`` and the
sweep goes on. Points run on a :class:`~accelgen.sim.sweep_backends.Backend` (local processes
or Dask); successful rows are cached, so a rerun skips them. See ``docs/sweeps.md``.
"""

import concurrent.futures
import contextlib
import itertools
import time
import traceback
from pathlib import Path

from ..generators import get_design
from ..generators.export import module_name
from . import flow
from .sweep_backends import Backend
from .sweep_output import ProgressView, ResultCache, RowWriter, cache_key, tool_versions

__all__ = ["GENERIC_COLUMNS", "TARGET_COLUMNS", "parse_sweep", "sweep_points", "sweep_columns", "run_point",
           "run_sweep", "failed_rows"]

#: The synthesis columns of a row: the generic flow's, and any other target's (its summary
#: figures, renamed where the CSV names them differently).
GENERIC_COLUMNS = {"cells": "cells", "logic_depth": "logic_depth", "ff": "flip_flops"}
TARGET_COLUMNS = {key: key for key in ("device", "lut4", "ff", "dsp_mult18", "ccu2", "fmax_mhz")}
#: The columns of every row besides the parameters and the synthesis figures.
POINT_COLUMNS = ["module", "seed", "status", "error", "bit_exact", "sim_problems"]
RUN_COLUMNS = ["elapsed_s", "attempts", "cached"]
#: The file in a point's folder that counts its attempts (shared by every worker that tries it).
ATTEMPTS_FILE = "attempts.txt"


def parse_sweep(text: str) -> dict[str, list[str]]:
    """``"rows=2,4 cols=8"`` -> ``{"rows": ["2", "4"], "cols": ["8"]}``."""
    axes = {}
    for item in text.split():
        name, sep, values = item.partition("=")
        if not sep or not values:
            raise ValueError(f"sweep axis {item!r} must be written NAME=V1,V2,...")
        axes[name] = [value for value in values.split(",") if value]
    return axes


def sweep_points(design_name: str, fixed: list[str], sweep: str) -> list:
    """All parameter objects of the sweep (validated before anything runs)."""
    design = get_design(design_name)
    axes = parse_sweep(sweep)
    points = []
    for combo in itertools.product(*axes.values()):
        assignments = list(fixed) + [f"{name}={value}" for name, value in zip(axes, combo)]
        points.append(design.params.from_strings(assignments))
    return points


def _synthesis_columns(target: str) -> dict:
    return GENERIC_COLUMNS if target == "generic" else TARGET_COLUMNS


def sweep_columns(params, target: str) -> list[str]:
    """The CSV header: parameters, point and status, the target's synthesis figures, run columns."""
    return [*params.to_dict(), *POINT_COLUMNS, *_synthesis_columns(target).values(), *RUN_COLUMNS]


def run_point(design_name: str, params, out_dir: Path, target: str, seed: int) -> dict:
    """Generate, verify and synthesize one point; return its CSV row."""
    design = get_design(design_name)
    columns = _synthesis_columns(target)
    point = flow.characterize(design, params, Path(out_dir) / module_name(design, params), seed=seed,
                              target=target, keys=columns, record_errors=True)
    row = dict(params.to_dict(), module=point.manifest["module"], seed=seed)
    row["bit_exact"] = not point.verdict.problems
    row["sim_problems"] = "; ".join(point.verdict.problems)
    return row | {columns[key]: value for key, value in point.synthesis.summary.items()}


def _point_folder(design_name: str, params, out_dir: Path) -> Path:
    return Path(out_dir) / module_name(get_design(design_name), params)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def _error_row(design_name: str, params, seed: int, error: BaseException) -> dict:
    return dict(params.to_dict(), module=module_name(get_design(design_name), params), seed=seed, status="error",
                error=_first_line(error), bit_exact=False)


def _count_attempt(folder: Path) -> int:
    # A file, not a variable: the attempts of one point may run in different processes or hosts.
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ATTEMPTS_FILE
    try:
        count = int(path.read_text()) + 1
    except (OSError, ValueError):
        count = 1
    path.write_text(str(count))
    return count


def _attempts_so_far(folder: Path) -> int:
    try:
        return int((folder / ATTEMPTS_FILE).read_text())
    except (OSError, ValueError):
        return 0


def _point_task(point_fn, design_name: str, params, out_dir: Path, target: str, seed: int) -> dict:
    """One attempt at one point, on a worker: the row of ``point_fn`` with its status and timing.

    An exception of ``point_fn`` is the point's result (an error row, the traceback in the
    point's ``error.txt``), so the executor retries only lost workers and timeouts.
    """
    folder = _point_folder(design_name, params, out_dir)
    attempts = _count_attempt(folder)
    started = time.monotonic()
    try:
        row = dict(point_fn(design_name, params, out_dir, target, seed))
        row["status"] = "ok" if row.get("bit_exact") is True else "mismatch"
    except Exception as error:  # noqa: BLE001 - any failure of one point is that point's row
        (folder / "error.txt").write_text(traceback.format_exc())
        row = _error_row(design_name, params, seed, error)
    return row | {"elapsed_s": round(time.monotonic() - started, 2), "attempts": attempts, "cached": False}


def failed_rows(rows: list[dict]) -> list[dict]:
    """The rows of points that are not ``ok`` (errors and mismatches)."""
    return [row for row in rows if row.get("status") != "ok"]


def _submit_all(pool, todo, points, point_fn, design_name, out_dir, target, seed) -> dict:
    futures = {}
    for index in todo:
        # A fresh count per sweep: the attempts of an earlier run are not this run's.
        (_point_folder(design_name, points[index], out_dir) / ATTEMPTS_FILE).unlink(missing_ok=True)
        future = pool.submit(_point_task, point_fn, design_name, points[index], out_dir, target, seed)
        futures[future] = (index, time.monotonic())
    return futures


def _collect(pool, futures, points, design_name, out_dir, seed, finish) -> None:
    """Call ``finish(index, row)`` for each future as it completes; a raised future is an error row."""
    try:
        for future in concurrent.futures.as_completed(futures):
            index, submitted = futures[future]
            try:
                row = future.result()
            except Exception as error:  # noqa: BLE001 - lost worker, timeout, executor trouble
                folder = _point_folder(design_name, points[index], out_dir)
                row = _error_row(design_name, points[index], seed, error) | {
                    "elapsed_s": round(time.monotonic() - submitted, 2), "attempts": _attempts_so_far(folder),
                    "cached": False}
            finish(index, row)
    except KeyboardInterrupt:
        for future in futures:
            future.cancel()
        try:
            pool.shutdown(wait=False, cancel_futures=True)  # the local executor kills its running points
        except TypeError:
            pool.shutdown(wait=False)  # Dask's executor: closing the client then drops its tasks
        raise


def _open_cache(out_dir: Path, cache_dir, use_cache: bool, resume: bool) -> ResultCache | None:
    if not use_cache:
        if resume:
            raise ValueError("--resume needs the result cache: drop --no-cache")
        return None
    cache = ResultCache(Path(cache_dir).resolve() if cache_dir else out_dir / "cache")
    if resume and not cache.folder.is_dir():
        raise ValueError(f"--resume: no result cache in {cache.folder} (run the sweep once, or give --cache-dir)")
    return cache


def run_sweep(design_name: str, fixed: list[str], sweep: str, *, out_dir: Path, csv_path: Path | None = None,
              target: str = "generic", jobs: int = 1, seed: int = 1, backend: Backend | None = None,
              executor: concurrent.futures.Executor | None = None, point_fn=None, cache_dir: Path | None = None,
              use_cache: bool = True, resume: bool = False, live: bool | None = None) -> list[dict]:
    """Run every point of the sweep; write one CSV row per point as it finishes; return the rows.

    Parameters
    ----------
    design_name, fixed, sweep
        The design, its fixed ``NAME=VALUE`` parameters and the axes (:func:`parse_sweep`).
        Every point is validated before anything runs (``ValueError``).
    out_dir : Path
        The points' folders (``<module>/``), the default CSV and the default cache.
    csv_path : Path, optional
        The CSV (default ``out_dir/sweep.csv``): rows in completion order while the sweep runs,
        rewritten in point order at the end (columns: :func:`sweep_columns`).
    target, seed
        The synthesis target and the regression's seed, the same for every point.
    jobs : int
        Points in parallel on the default backend (``Backend(jobs=jobs)``).
    backend : Backend, optional
        Where points run, with retries and timeout (ignored when ``executor`` is given).
    executor : concurrent.futures.Executor, optional
        Run the points on this executor instead (left open).
    point_fn : callable, optional
        ``point_fn(design_name, params, out_dir, target, seed) -> row`` (default
        :func:`run_point`); importable by name, as it is pickled to the workers.
    cache_dir, use_cache, resume
        The result cache (default ``out_dir/cache``); ``resume`` insists that it exists.
    live : bool, optional
        The ``rich`` table besides the plain lines (default: when standard output is a terminal).

    Returns
    -------
    list of dict
        The rows in point order; ``status`` is ``ok``, ``mismatch`` or ``error``.
    """
    points = sweep_points(design_name, fixed, sweep)
    backend = backend or Backend(jobs=jobs)
    # Absolute paths: workers (other processes, other hosts) do not share our working directory.
    out_dir = Path(out_dir).resolve()
    csv_path = Path(csv_path).resolve() if csv_path else out_dir / "sweep.csv"
    cache = _open_cache(out_dir, cache_dir, use_cache, resume)
    design_name = get_design(design_name).name
    point_fn = point_fn or run_point
    versions = tool_versions()
    keys = [cache_key(design_name, params, target, seed, versions) for params in points]
    figures = list(_synthesis_columns(target).values())
    where = "the given executor" if executor else backend.describe()
    print(f"{design_name}: {len(points)} point(s), {where}, seed {seed}", flush=True)
    rows: list = [None] * len(points)
    writer = RowWriter(csv_path, sweep_columns(points[0], target))
    with ProgressView(len(points), figures, live) as view:
        def finish(index: int, row: dict) -> None:
            rows[index] = row
            writer.write(row)
            if cache is not None and row.get("status") == "ok" and not row.get("cached"):
                cache.put(keys[index], row)
            view.add(row)

        try:
            todo = []
            for index, key in enumerate(keys):
                cached = cache.get(key) if cache is not None else None
                if cached is not None:
                    finish(index, cached | {"cached": True})
                else:
                    todo.append(index)
            if todo:
                with (contextlib.nullcontext(executor) if executor else backend.executor()) as pool:
                    futures = _submit_all(pool, todo, points, point_fn, design_name, out_dir, target, seed)
                    _collect(pool, futures, points, design_name, out_dir, seed, finish)
        finally:
            writer.close()
    writer.finish(rows)
    print(f"wrote {csv_path}", flush=True)
    return rows

