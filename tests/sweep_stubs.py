"""Cheap stand-ins for ``accelgen.sim.sweep.run_point`` (module-level, so they pickle by name).

:func:`stub_point` reads what to do from ``OUT_DIR/stub.json`` (written by the test with
:func:`plan`), keyed by the point's parameter digest:

- ``fail``: raise ``RuntimeError`` (a deterministic failure);
- ``kill``: the first attempt kills its own process with SIGKILL (a lost worker), later
  attempts succeed (the sentinel is ``OUT_DIR/killed-<digest>``);
- ``sleep``: sleep that many seconds first (a point that outlives a timeout);
- ``peek``: wait until the CSV holds that many rows (rows are written as points finish).

Every call leaves a file in ``OUT_DIR/calls/`` so the tests can count them (:func:`calls`).
"""

import csv
import json
import os
import signal
import time
from pathlib import Path

__all__ = ["plan", "calls", "stub_point"]


def plan(out_dir: Path, **actions) -> None:
    """Write ``stub.json``: ``actions`` maps fail/kill/sleep/peek to {digest: value}."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / "stub.json").write_text(json.dumps(actions))


def calls(out_dir: Path, digest: str | None = None) -> int:
    """How many times the stub ran (for one point's ``digest``, or in all)."""
    folder = Path(out_dir) / "calls"
    if not folder.is_dir():
        return 0
    return sum(1 for path in folder.iterdir() if digest is None or path.name.startswith(digest))


def _rows_in(csv_path: Path) -> int:
    try:
        with open(csv_path, newline="") as handle:
            return sum(1 for _ in csv.DictReader(handle))
    except OSError:
        return 0


def stub_point(design_name, params, out_dir, target, seed) -> dict:
    """A row like :func:`accelgen.sim.sweep.run_point`'s, with the actions of ``stub.json``."""
    out_dir = Path(out_dir)
    actions = json.loads((out_dir / "stub.json").read_text()) if (out_dir / "stub.json").exists() else {}
    digest = params.digest()
    (out_dir / "calls").mkdir(exist_ok=True)
    (out_dir / "calls" / f"{digest}.{os.getpid()}.{time.time_ns()}").touch()
    if digest in actions.get("kill", {}):
        sentinel = out_dir / f"killed-{digest}"
        if not sentinel.exists():
            sentinel.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    if digest in actions.get("peek", {}):
        deadline = time.monotonic() + 10
        while _rows_in(out_dir / "sweep.csv") < actions["peek"][digest] and time.monotonic() < deadline:
            time.sleep(0.05)
        (out_dir / f"peek-{digest}").write_text(str(_rows_in(out_dir / "sweep.csv")))
    time.sleep(actions.get("sleep", {}).get(digest, 0))
    if digest in actions.get("fail", {}):
        raise RuntimeError(f"stub failure of point {digest}\nsecond line")
    return dict(params.to_dict(), module=f"{design_name}_{digest}", seed=seed, bit_exact=True, sim_problems="",
                cells=100 + seed, logic_depth=3, flip_flops=7)
