"""Sweeps that survive and scale: rows as points finish, error rows, retries, timeouts, the cache,
the local and Dask backends, the command line. Stub points (``sweep_stubs``) keep them fast; one
real point runs end to end."""

import concurrent.futures
import csv
import importlib.util
import io
import time
from pathlib import Path

import pytest
from rich.console import Console

import sweep_stubs
from accelgen.sim import sweep, sweep_backends
from accelgen.sim.cli import main
from accelgen.sim.sweep import failed_rows, run_sweep, sweep_columns, sweep_points
from accelgen.sim.sweep_backends import Backend, jobqueue_cluster, parse_cluster_opts
from accelgen.sim.sweep_output import cache_key, progress_line, render_table, tool_versions
from sweep_stubs import calls, plan, stub_point

try:
    import dask_jobqueue
    import dask_jobqueue.local
    import distributed
except ImportError:  # the extra accelgen[dask] is optional
    dask_jobqueue = distributed = None

needs_dask = pytest.mark.skipif(distributed is None, reason="needs the extra accelgen[dask]")

FIXED = ["lanes=1", "in_frac=2"]
AXIS = "width=4,5,6,7"
DIGESTS = [params.digest() for params in sweep_points("gelu", FIXED, AXIS)]


def _table(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def _stub_sweep(out_dir, axis=AXIS, **options):
    return run_sweep("gelu", FIXED, axis, out_dir=out_dir, point_fn=stub_point, live=False, **options)


def _check_survivors(out_dir, rows):
    """Point 1 lost its worker once and was retried; point 2 failed for good; 0 and 3 ran once."""
    table = _table(out_dir / "sweep.csv")
    assert [row["width"] for row in table] == ["4", "5", "6", "7"]  # point order at the end
    assert [row["status"] for row in table] == ["ok", "ok", "error", "ok"]
    assert [row["attempts"] for row in table] == ["1", "2", "1", "1"]
    assert table[2]["error"] == f"RuntimeError: stub failure of point {DIGESTS[2]}"
    assert table[1]["cells"] == "101" and table[1]["bit_exact"] == "True"
    assert calls(out_dir, DIGESTS[1]) == 2 and calls(out_dir, DIGESTS[2]) == 1  # a failure is not retried
    assert "second line" in (out_dir / f"gelu_{DIGESTS[2]}" / "error.txt").read_text()
    assert failed_rows(rows) == [rows[2]]


def test_csv_columns_are_known_before_the_first_row():
    params = sweep_points("gelu", FIXED, "width=4")[0]
    columns = sweep_columns(params, "generic")
    assert columns[:len(params.to_dict())] == list(params.to_dict())
    assert columns[len(params.to_dict()):] == ["module", "seed", "status", "error", "bit_exact", "sim_problems",
                                               "cells", "logic_depth", "flip_flops", "elapsed_s", "attempts",
                                               "cached"]
    assert "fmax_mhz" in sweep_columns(params, "ecp5")


def test_local_backend_survives_a_killed_worker_and_a_failing_point(tmp_path, capsys):
    plan(tmp_path, kill={DIGESTS[1]: 1}, fail={DIGESTS[2]: 1})
    rows = _stub_sweep(tmp_path, backend=Backend(jobs=2, retries=1))
    _check_survivors(tmp_path, rows)
    out = capsys.readouterr().out
    assert f"gelu_{DIGESTS[2]}: error RuntimeError: stub failure" in out
    assert sum(line.startswith("[") and "/4] gelu_" in line for line in out.splitlines()) == 4


def test_rows_reach_the_csv_as_points_finish(tmp_path):
    # The last point waits until the three before it are in the CSV (one point at a time).
    plan(tmp_path, peek={DIGESTS[3]: 3})
    with concurrent.futures.ThreadPoolExecutor(1) as threads:
        _stub_sweep(tmp_path, executor=threads)
    assert (tmp_path / f"peek-{DIGESTS[3]}").read_text() == "3"


def test_a_lost_point_becomes_an_error_row_after_its_retries(tmp_path):
    # With no retries, the one lost attempt is final.
    plan(tmp_path, kill={DIGESTS[0]: 1})
    rows = _stub_sweep(tmp_path, axis="width=4", backend=Backend(jobs=1, retries=0))
    assert rows[0]["status"] == "error" and rows[0]["error"] == "PointLost: worker process died (signal 9)"
    assert rows[0]["attempts"] == 1


def test_local_timeout_becomes_an_error_row_after_retries(tmp_path):
    # 5 s: room for a loaded CI machine to start the other point's process and finish it.
    plan(tmp_path, sleep={DIGESTS[1]: 60})
    started = time.monotonic()
    rows = _stub_sweep(tmp_path, axis="width=4,5", backend=Backend(jobs=2, retries=1, timeout=5))
    assert time.monotonic() - started < 40
    assert [row["status"] for row in rows] == ["ok", "error"]
    assert rows[1]["error"] == "PointTimeout: timed out after 5 s" and rows[1]["attempts"] == 2


def test_rerun_skips_cached_points_and_other_seeds_or_versions_miss(tmp_path, monkeypatch, capsys):
    threads = concurrent.futures.ThreadPoolExecutor(2)  # the cache is the subject here, not the processes
    plan(tmp_path, fail={DIGESTS[2]: 1})
    _stub_sweep(tmp_path, executor=threads)
    assert calls(tmp_path) == 4 and len(list((tmp_path / "cache").glob("*.json"))) == 3  # only ok rows
    capsys.readouterr()
    plan(tmp_path)  # the failure is fixed: a resumed sweep runs only that point
    rows = _stub_sweep(tmp_path, executor=threads, resume=True)
    assert calls(tmp_path) == 5 and calls(tmp_path, DIGESTS[2]) == 2
    assert [row["cached"] for row in rows] == [True, True, False, True]
    assert [row["status"] for row in _table(tmp_path / "sweep.csv")] == ["ok"] * 4
    assert capsys.readouterr().out.count(": cached") == 3
    _stub_sweep(tmp_path, executor=threads, seed=2)
    assert calls(tmp_path) == 9
    versions = tool_versions() | {"amaranth": "0.0.0"}
    monkeypatch.setattr(sweep, "tool_versions", lambda: versions)
    _stub_sweep(tmp_path, executor=threads)
    assert calls(tmp_path) == 13
    _stub_sweep(tmp_path, executor=threads, use_cache=False)
    assert calls(tmp_path) == 17
    threads.shutdown()
    params = sweep_points("gelu", FIXED, "width=4")[0]
    assert cache_key("gelu", params, "generic", 1, versions) != cache_key("gelu", params, "generic", 1,
                                                                          tool_versions())
    assert cache_key("gelu", params, "generic", 1, versions) != cache_key("gelu", params, "ecp5", 1, versions)


def test_resume_needs_a_cache(tmp_path):
    with pytest.raises(ValueError, match="--resume: no result cache"):
        _stub_sweep(tmp_path, resume=True)
    with pytest.raises(ValueError, match="--resume needs the result cache"):
        _stub_sweep(tmp_path, resume=True, use_cache=False)
    assert calls(tmp_path) == 0


def test_backend_options_are_checked(monkeypatch):
    cases = [({"jobs": 0}, "-j/--jobs 0"), ({"retries": -1}, "--retries -1"), ({"timeout": 0}, "--timeout 0"),
             ({"kind": "ray"}, "legal backends are local, dask"),
             ({"address": "tcp://host:8786"}, "--address tcp://host:8786: needs --backend dask"),
             ({"kind": "dask", "cluster": "sge"}, "legal clusters are slurm, pbs, lsf"),
             ({"kind": "dask", "address": "tcp://h:1", "cluster": "slurm"}, "give one of them"),
             ({"kind": "dask", "cluster_opts": ("queue=cpu",)}, "need --cluster"),
             ({"kind": "dask", "cluster": "slurm", "cluster_opts": ("queue",)}, "must be written KEY=VALUE")]
    for options, message in cases:
        with pytest.raises(ValueError, match=message.replace("|", r"\|")):
            Backend(**options)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "distributed"
                        else real(name, *args))
    with pytest.raises(ValueError, match=r"pip install 'accelgen\[dask\]'"):
        Backend("dask")


def test_cli_sweep_exit_status_counts_the_failed_points(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sweep, "run_point", stub_point)
    args = ["sweep", "gelu", "-p", "lanes=1", "-p", "in_frac=2", "--sweep", "width=4,5", "-o", str(tmp_path),
            "-j", "2"]
    plan(tmp_path, fail={DIGESTS[1]: 1})
    assert main(args) == 1
    assert "1 of 2 points failed" in capsys.readouterr().out
    plan(tmp_path)
    assert main(args + ["--resume"]) == 0
    out = capsys.readouterr().out
    assert "all 2 points ok" in out and ": cached" in out and calls(tmp_path) == 3
    for extra, message in [(["--retries", "-1"], "--retries -1"), (["--timeout", "0"], "--timeout 0"),
                           (["--backend", "local", "--address", "tcp://h:1"], "needs --backend dask"),
                           (["--sweep", "width=99"], "width=99")]:
        assert main(args + extra) == 2
        assert f"accelgen: error: " in (err := capsys.readouterr().err) and message in err
    assert calls(tmp_path) == 3  # refused before anything ran


def test_progress_line_and_rich_table():
    rows = [{"module": "gelu_a", "status": "ok", "cells": 12, "elapsed_s": 1.25, "attempts": 1},
            {"module": "gelu_b", "status": "error", "error": "PointLost: worker process died", "elapsed_s": 3,
             "attempts": 3},
            {"module": "gelu_c", "status": "ok", "cells": 9, "elapsed_s": 0, "cached": True}]
    assert progress_line(1, 3, rows[0], ["cells"]) == "[1/3] gelu_a: ok cells=12 (1.2 s)"
    assert progress_line(2, 3, rows[1]) == "[2/3] gelu_b: error PointLost: worker process died (3.0 s, 3 attempts)"
    assert progress_line(3, 3, rows[2], ["cells"]).startswith("[3/3] gelu_c: cached cells=9")
    console = Console(file=io.StringIO(), width=120, record=True)
    console.print(render_table(rows, 4, ["cells"]))
    text = console.export_text()
    assert "gelu_b" in text and "worker process died" in text and "3/4 points finished, 1 failed" in text


@needs_dask
def test_dask_local_cluster_survives_a_killed_worker_and_a_failing_point(tmp_path):
    plan(tmp_path, kill={DIGESTS[1]: 1}, fail={DIGESTS[2]: 1})
    rows = _stub_sweep(tmp_path, backend=Backend("dask", jobs=2, retries=1))
    _check_survivors(tmp_path, rows)


@needs_dask
def test_dask_scheduler_address_with_a_timeout(tmp_path):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        plan(tmp_path, sleep={DIGESTS[1]: 60})
        rows = _stub_sweep(tmp_path, axis="width=4,5",
                           backend=Backend("dask", address=cluster.scheduler_address, retries=0, timeout=5))
    assert [row["status"] for row in rows] == ["ok", "error"]
    assert rows[1]["error"] == "PointTimeout: timed out after 5 s" and rows[1]["attempts"] == 1


@needs_dask
def test_slurm_job_script_carries_the_cluster_options():
    options = parse_cluster_opts(["queue=cpu", "walltime=01:00:00", "account=hw", "memory=8GB",
                                  "job_extra_directives=['--exclusive']",
                                  "scheduler_options={'dashboard_address': None}"])
    assert options["job_extra_directives"] == ["--exclusive"]
    cluster = jobqueue_cluster("slurm", options)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for line in ["#SBATCH -p cpu", "#SBATCH -t 01:00:00", "#SBATCH -A hw", "#SBATCH --mem=8G", "#SBATCH --exclusive",
                 "--nthreads 1"]:
        assert line in script, script
    with pytest.raises(ValueError, match="--cluster-opt for --cluster slurm"):
        jobqueue_cluster("slurm", {"no_such_option": 1})


@needs_dask
def test_dask_jobqueue_cluster_adapts_and_runs_the_points(tmp_path, monkeypatch):
    # dask-jobqueue's own local "batch system" (jobs are local processes): the --cluster path
    # of a real Slurm cluster, from the options to adapt(), without Slurm.
    monkeypatch.setattr(dask_jobqueue, "LocalCluster", dask_jobqueue.local.LocalCluster, raising=False)
    monkeypatch.setitem(sweep_backends.CLUSTERS, "local", "LocalCluster")
    # Its workers start afresh (`python -m distributed.cli.dask_worker`): they find the stubs
    # the way a cluster's workers find accelgen, on their path.
    monkeypatch.setenv("PYTHONPATH", str(Path(sweep_stubs.__file__).parent))
    plan(tmp_path, fail={DIGESTS[1]: 1})
    rows = _stub_sweep(tmp_path, axis="width=4,5,6",
                       backend=Backend("dask", cluster="local", max_workers=2, cluster_opts=("memory=1GiB",)))
    assert [row["status"] for row in rows] == ["ok", "error", "ok"]
    assert calls(tmp_path) == 3


@pytest.mark.cocotb
@pytest.mark.synth
def test_one_real_point_end_to_end(tmp_path):
    rows = run_sweep("gelu", FIXED, "width=4", out_dir=tmp_path, backend=Backend(jobs=1, timeout=600), live=False)
    assert rows[0]["status"] == "ok" and rows[0]["bit_exact"] is True and rows[0]["cells"] > 0
    assert _table(tmp_path / "sweep.csv")[0]["module"] == f"gelu_{DIGESTS[0]}"
    again = run_sweep("gelu", FIXED, "width=4", out_dir=tmp_path, live=False)
    assert again[0]["cached"] is True and again[0]["cells"] == rows[0]["cells"]
