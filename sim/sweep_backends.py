"""Where sweep points run: the executors behind ``accelgen sweep --backend local|dask``.

The sweep loop sees only a :class:`concurrent.futures.Executor`; a :class:`Backend` makes one
(:meth:`Backend.executor`):

- ``local`` (the default, standard library only): an :class:`IsolatedExecutor`, one fresh
  Python process per attempt of a point, ``jobs`` at a time. A process that dies without an
  answer (``os._exit``, SIGKILL, the OOM killer) or outlives ``timeout`` is killed with its
  process group (the tools it started go too) and the point runs again, up to ``retries``
  more times; then its future raises :class:`PointLost` or :class:`PointTimeout`.
- ``dask`` (the extra ``accelgen[dask]``): Dask distributed's ``Client.get_executor(retries=...,
  pure=False)`` on a ``LocalCluster`` of ``jobs`` workers, on a running scheduler
  (``address``) or on a dask-jobqueue cluster (``cluster`` = slurm, pbs or lsf, with
  ``cluster_opts`` passed to it and ``.adapt(maximum=max_workers)``). The scheduler runs the
  point of a worker that dies again elsewhere (``distributed.scheduler.allowed-failures`` =
  ``retries`` on the clusters made here); with a ``timeout`` each attempt runs in a child
  process of the worker, killed when it overruns, and the timeout counts against ``retries``.

An exception raised by the point itself is the point's result and is not retried: the sweep
turns it into an error row before it reaches the executor (:mod:`accelgen.sim.sweep`).

``python -m accelgen.sim.sweep_backends REQUEST ANSWER`` is the child side of
:func:`run_isolated`.
"""

import ast
import concurrent.futures
import contextlib
import dataclasses
import importlib.util
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

__all__ = ["BACKENDS", "CLUSTERS", "PointLost", "PointTimeout", "Backend", "IsolatedExecutor", "TimeoutExecutor",
           "run_isolated", "parse_cluster_opts", "jobqueue_cluster"]

BACKENDS = ("local", "dask")
#: ``--cluster`` names and their dask-jobqueue classes.
CLUSTERS = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster"}
#: What a batch job gets unless ``--cluster-opt`` says otherwise: one worker process with one
#: thread (a point is one single-threaded tool run after another).
JOB_DEFAULTS = {"cores": 1, "processes": 1, "memory": "4GiB"}
DASK_EXTRA = "pip install 'accelgen[dask]'"


class PointLost(RuntimeError):
    """The process running a point died without an answer (killed, crashed, out of memory)."""


class PointTimeout(RuntimeError):
    """A point ran longer than the sweep's ``timeout`` and was killed."""


def _kill_group(process: subprocess.Popen) -> None:
    # The child leads its own session: killing the group also stops the tools it started.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def run_isolated(fn, args: tuple, *, timeout: float | None = None, live: set | None = None):
    """``fn(*args)`` in a fresh Python process; its return value, or its exception raised here.

    ``fn`` and ``args`` travel by pickle (``fn`` must be importable by name; the child gets this
    process's ``sys.path``). Raises :class:`PointTimeout` when the child runs longer than
    ``timeout`` seconds (it is killed with its process group) and :class:`PointLost` when it
    dies without an answer. ``live``, if given, holds the running child while it runs, so an
    executor can kill it on shutdown.
    """
    folder = Path(tempfile.mkdtemp(prefix="accelgen-point-"))
    request, answer = folder / "request.pkl", folder / "answer.pkl"
    try:
        with open(request, "wb") as handle:
            # sys.path first, as its own pickle: the child needs it to unpickle ``fn``.
            pickle.dump(list(sys.path), handle)
            pickle.dump((fn, args), handle)
        process = subprocess.Popen([sys.executable, "-m", __name__, str(request), str(answer)],
                                   start_new_session=True)
        if live is not None:
            live.add(process)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait()
            raise PointTimeout(f"timed out after {timeout:g} s") from None
        finally:
            if live is not None:
                live.discard(process)
        _kill_group(process)  # stray tool processes of a finished point
        if not answer.exists():
            status = process.returncode
            how = f"signal {-status}" if status < 0 else f"exit status {status}"
            raise PointLost(f"worker process died ({how})")
        with open(answer, "rb") as handle:
            ok, value = pickle.load(handle)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if ok:
        return value
    raise value


def _child_main(request: str, answer: str) -> None:
    """The child of :func:`run_isolated`: unpickle the call, run it, pickle the outcome."""
    try:
        with open(request, "rb") as handle:
            sys.path[:0] = [entry for entry in pickle.load(handle) if entry not in sys.path]
            # Inside the try: a function that cannot be imported here is an answer, not a lost worker.
            fn, args = pickle.load(handle)
        outcome = (True, fn(*args))
    except BaseException as error:  # noqa: BLE001 - every failure travels back as the answer
        outcome = (False, error)
    try:
        data = pickle.dumps(outcome)
    except Exception as error:  # noqa: BLE001 - an unpicklable result or exception
        data = pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))
    # Written whole, then renamed: a child killed while writing leaves no answer at all.
    with open(answer + ".tmp", "wb") as handle:
        handle.write(data)
    os.replace(answer + ".tmp", answer)


class IsolatedExecutor(concurrent.futures.Executor):
    """At most ``jobs`` calls at a time, each attempt in a fresh process (:func:`run_isolated`).

    A dead or timed-out attempt is retried up to ``retries`` times; after the last one the
    future raises :class:`PointLost` or :class:`PointTimeout`. An exception raised by the call
    itself is its result (not retried). ``shutdown(cancel_futures=True)`` kills running calls.
    """

    def __init__(self, jobs: int, *, retries: int = 0, timeout: float | None = None):
        self.retries, self.timeout = retries, timeout
        self._threads = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sweep-point")
        self._live: set = set()
        self._closing = threading.Event()

    def submit(self, fn, /, *args, **kwargs):
        """Schedule ``fn(*args)`` (no keyword arguments: they would not pass through pickle here)."""
        if kwargs:
            raise TypeError("IsolatedExecutor.submit takes positional arguments only")
        return self._threads.submit(self._attempts, fn, args)

    def _attempts(self, fn, args):
        for attempt in range(self.retries + 1):
            try:
                return run_isolated(fn, args, timeout=self.timeout, live=self._live)
            except (PointLost, PointTimeout):
                if attempt == self.retries or self._closing.is_set():
                    raise

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop; with ``cancel_futures`` also drop queued calls and kill the running ones."""
        if cancel_futures:
            self._closing.set()
            for process in list(self._live):
                _kill_group(process)
        self._threads.shutdown(wait=wait, cancel_futures=cancel_futures)


def _call_isolated(fn, args: tuple, timeout: float):
    """``fn(*args)`` through :func:`run_isolated` (the task a :class:`TimeoutExecutor` submits)."""
    return run_isolated(fn, args, timeout=timeout)


class TimeoutExecutor(concurrent.futures.Executor):
    """An executor whose calls each run in a child process of the worker, killed after ``timeout`` s.

    Wraps another executor (Dask's): the wrapped executor's retries then also cover timeouts.
    """

    def __init__(self, inner: concurrent.futures.Executor, timeout: float):
        self.inner, self.timeout = inner, timeout

    def submit(self, fn, /, *args, **kwargs):
        """Schedule ``fn(*args)`` on the wrapped executor, in a killable child process."""
        if kwargs:
            raise TypeError("TimeoutExecutor.submit takes positional arguments only")
        return self.inner.submit(_call_isolated, fn, args, self.timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Shut the wrapped executor down (Dask's takes no ``cancel_futures``: its client drops them)."""
        self.inner.shutdown(wait=wait)


def parse_cluster_opts(items) -> dict:
    """``["queue=cpu", "cores=2"]`` -> ``{"queue": "cpu", "cores": 2}`` (Python literals or text)."""
    options = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--cluster-opt {item!r} must be written KEY=VALUE (e.g. queue=cpu)")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # plain words: a queue name, a walltime, a memory size
        options[key.strip()] = value
    return options


def jobqueue_cluster(kind: str, options: dict):
    """A dask-jobqueue cluster (``kind`` = slurm, pbs or lsf) with :data:`JOB_DEFAULTS` | ``options``.

    It submits no job until it is scaled or adapted; ``cluster.job_script()`` shows the script.
    """
    import dask_jobqueue  # optional: the extra accelgen[dask]

    try:
        return getattr(dask_jobqueue, CLUSTERS[kind])(**(JOB_DEFAULTS | options))
    except (TypeError, ValueError) as error:
        # dask-jobqueue names the bad keyword; the first line is enough for the one-line error.
        raise ValueError(f"--cluster-opt for --cluster {kind}: {str(error).splitlines()[0]}") from None


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where and how a sweep's points run; checked when created (``ValueError`` naming the option).

    ``kind`` is ``local`` or ``dask``; ``jobs`` the parallel points (local processes, or the
    workers of a Dask ``LocalCluster``; the default ``max_workers`` of a batch cluster);
    ``retries`` the extra attempts after a lost worker or a timeout; ``timeout`` the seconds
    one attempt may take (``None``: no limit); ``address`` a running Dask scheduler;
    ``cluster`` a dask-jobqueue cluster kind with ``cluster_opts`` (``KEY=VALUE`` strings)
    and at most ``max_workers`` jobs.
    """

    kind: str = "local"
    jobs: int = 1
    retries: int = 2
    timeout: float | None = None
    address: str | None = None
    cluster: str | None = None
    cluster_opts: tuple = ()
    max_workers: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "cluster_opts", tuple(self.cluster_opts or ()))
        if self.kind not in BACKENDS:
            raise ValueError(f"--backend {self.kind!r}: legal backends are {', '.join(BACKENDS)}")
        if not isinstance(self.jobs, int) or self.jobs < 1:
            raise ValueError(f"-j/--jobs {self.jobs}: must be an integer of at least 1")
        if not isinstance(self.retries, int) or self.retries < 0:
            raise ValueError(f"--retries {self.retries}: must be an integer of 0 or more")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"--timeout {self.timeout}: must be a positive number of seconds")
        if self.max_workers is not None and self.max_workers < 1:
            raise ValueError(f"--max-workers {self.max_workers}: must be an integer of at least 1")
        self._check_dask_options()

    def _check_dask_options(self) -> None:
        dask_only = {"--address": self.address, "--cluster": self.cluster,
                     "--cluster-opt": self.cluster_opts, "--max-workers": self.max_workers}
        if self.kind == "local":
            for option, value in dask_only.items():
                if value:
                    raise ValueError(f"{option} {value}: needs --backend dask (the local backend runs here)")
            return
        if self.address and self.cluster:
            raise ValueError(f"--address {self.address} and --cluster {self.cluster}: give one of them")
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise ValueError(f"--cluster {self.cluster!r}: legal clusters are {', '.join(CLUSTERS)}")
        if (self.cluster_opts or self.max_workers) and not self.cluster:
            raise ValueError("--cluster-opt and --max-workers: need --cluster slurm|pbs|lsf")
        parse_cluster_opts(self.cluster_opts)
        if importlib.util.find_spec("distributed") is None:
            raise ValueError(f"--backend dask: Dask distributed is not installed ({DASK_EXTRA})")
        if self.cluster and importlib.util.find_spec("dask_jobqueue") is None:
            raise ValueError(f"--cluster {self.cluster}: dask-jobqueue is not installed ({DASK_EXTRA})")

    def describe(self) -> str:
        """One line for the sweep's log: where the points run."""
        limits = f"{self.retries} retries" + (f", timeout {self.timeout:g} s" if self.timeout else "")
        if self.kind == "local":
            return f"local processes, {self.jobs} in parallel, {limits}"
        where = (f"scheduler {self.address}" if self.address else
                 f"{self.cluster} jobs, at most {self.max_workers or self.jobs}" if self.cluster else
                 f"a local cluster of {self.jobs} workers")
        return f"Dask ({where}), {limits}"

    @contextlib.contextmanager
    def executor(self):
        """The executor of this backend, closed (clusters and clients too) on leaving the block."""
        if self.kind == "local":
            pool = IsolatedExecutor(self.jobs, retries=self.retries, timeout=self.timeout)
            try:
                yield pool
            finally:
                pool.shutdown(wait=True)
            return
        with self._dask_executor() as pool:
            yield pool

    @contextlib.contextmanager
    def _dask_executor(self):
        import dask  # optional: the extra accelgen[dask]
        import distributed

        cluster = None
        # The schedulers made here give a point as many worker deaths as --retries allows.
        with dask.config.set({"distributed.scheduler.allowed-failures": self.retries}):
            if self.address:
                try:
                    client = distributed.Client(self.address)
                except OSError as error:  # unreachable or not a scheduler: one line, like other bad options
                    raise ValueError(f"--address {self.address}: {str(error).splitlines()[0]}") from None
            else:
                if self.cluster:
                    cluster = jobqueue_cluster(self.cluster, parse_cluster_opts(self.cluster_opts))
                    cluster.adapt(minimum=0, maximum=self.max_workers or self.jobs)
                else:
                    cluster = distributed.LocalCluster(n_workers=self.jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None)
                client = distributed.Client(cluster)
        try:
            pool = client.get_executor(retries=self.retries, pure=False)
            yield TimeoutExecutor(pool, self.timeout) if self.timeout else pool
        finally:
            client.close()
            if cluster is not None:
                cluster.close()


if __name__ == "__main__":
    _child_main(*sys.argv[1:3])
