"""The ``dask`` backend: cells as ``dask.distributed`` tasks, one task per worker at a time
(one cell, or several cheap ones run in turn), on a ``LocalCluster`` of ``workers`` processes
or on the cluster at a scheduler address (e.g. one dask-jobqueue starts on Slurm). How deaths
are charged, the liveness rule and how to secure a scheduler: docs/dask.md. ``distributed``
is imported only when a run uses this backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import logging
import os
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import CancelledError
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hpbench._procutil import apply_memory_limit
from hpbench.backends import (
    CHEAP_S,
    CostModel,
    DoneFn,
    ProgressFn,
    _check_retries,
    _death_reason,
    _error_outcome,
    _progress_adapter,
    _Throttled,
    backend,
)
from hpbench.cell import Cell
from hpbench.execute import CellOutcome, ResultsWriteError, execute_cell, record_failure
from hpbench.store import deferred_dir_sync

#: seconds between the driver's looks at the cluster's workers
DASK_POLL = 0.2
#: seconds without any Dask worker after which a run stops (option ``worker_timeout``; the
#: environment variable HPBENCH_DASK_WORKER_TIMEOUT sets it for ``hpbench run``)
WORKER_TIMEOUT = 120.0
#: seconds one request to the scheduler, or fetching one cell's outcome, may take
DASK_REQUEST_TIMEOUT = 30.0
#: how often a job whose worker vanished before the job confirmed its start (so the job cannot
#: have caused it) is resubmitted without a death charged; beyond that such deaths count
MAX_UNCONFIRMED = 3
#: seconds of expected work one Dask task holds at most when it groups cheap cells (each
#: task costs a round of scheduler messages and a wake-up of the driver, about as much as a
#: cheap cell's trials), and how many cells at most
BATCH_S = 4.0
MAX_BATCH = 64
_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")


class ClusterLostError(RuntimeError):
    """The Dask cluster had no worker for ``worker_timeout`` seconds, or the client closed: the
    run stops. ``outcomes`` holds every cell's outcome; the cells that could not finish are
    "failed" with the reason but not written, so the same command run again does them."""

    def __init__(self, message: str, outcomes: list[CellOutcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


def _confirm_start(start: tuple[str, str] | None, cell: int = 0,
                   done: CellOutcome | None = None) -> None:
    """Tell the scheduler that cell ``cell`` of this task starts (and how the one before it,
    ``done``, ended), and wait until it knows: the driver charges a worker's death only to the
    cell that had confirmed its start on that worker and not finished (``_DaskRun.settle``)."""
    if start is None:
        return
    from distributed import get_worker
    from distributed.utils import sync

    worker = get_worker()
    msg = {"job": start[1], "cell": cell, "done": None if done is None else asdict(done)}
    with contextlib.suppress(Exception):  # best effort: unconfirmed deaths are capped
        sync(worker.loop, worker.scheduler.log_event, topic=start[0], msg=msg,
             callback_timeout=DASK_REQUEST_TIMEOUT)


def _dask_cells(cells: list[Cell], out: Path, options: dict[str, Any], topic: str | None,
                start: tuple[str, str] | None = None) -> list[CellOutcome]:
    """The cells of one Dask task, in turn (one, or several cheap ones: ``_DaskRun.take``);
    progress goes to the client as events on ``topic``. Each cell confirms its start first,
    so a death is charged to the cell that caused it, never to its neighbours in the task.
    The cells' folders are fsync'd once, at the end of the task (``deferred_dir_sync``)."""
    send = None
    if topic is not None:
        from distributed import get_worker

        worker = get_worker()
        name = str(worker.name)

        def send(msg: tuple) -> None:
            worker.log_event(topic, {"key": msg[1], "spent": msg[2], "worker": name})
    apply_memory_limit(options.get("memory_limit"))
    outcomes: list[CellOutcome] = []
    with deferred_dir_sync():
        for j, cell in enumerate(cells):
            _confirm_start(start, j, outcomes[-1] if outcomes else None)
            if send is not None and j:
                send(("progress", cell.key, 0.0))  # it starts (the driver said so for the first)
            on_trial = _Throttled(send, cell.key) if send is not None else None
            try:
                outcomes.append(execute_cell(cell, out, on_trial=on_trial, **options))
            except ResultsWriteError:
                raise
            except Exception as exc:  # e.g. the problem could not be built: record, go on
                outcomes.append(_error_outcome(cell, exc))
    return outcomes


def _dask_record(cell: Cell, out: Path, reason: str, attempts: int,
                 start: tuple[str, str] | None = None) -> list[CellOutcome]:
    _confirm_start(start)
    return [record_failure(cell, out, reason, attempts=attempts)]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _comm_schemes() -> list[str]:
    """The address schemes this ``distributed`` can connect with (tcp, tls, ws, wss, ucx, inproc,
    and those other packages add through the entry-point group distributed.comm.backends)."""
    from distributed.comm import registry

    plugins = importlib.metadata.entry_points(group="distributed.comm.backends")
    return sorted(set(registry.backends) | {ep.name for ep in plugins})


def _parse_scheduler(address: Any) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a scheduler address, or ``ValueError`` naming what is wrong."""
    schemes = _comm_schemes()
    accepted = ", ".join(f"{s}://" for s in schemes)
    like = f"like tcp://HOST:PORT (schemes: {accepted})"
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"scheduler address must be {like}, got {address!r}")
    scheme, sep, rest = address.partition("://")
    if not sep:  # distributed reads HOST:PORT as tcp://HOST:PORT
        if "/" in address or ":" not in address:
            raise ValueError(f"scheduler address {address!r} is not {like}")
        scheme, rest = "tcp", address
    if scheme not in schemes:
        raise ValueError(f"unknown scheme {scheme}:// in scheduler address {address!r} "
                         f"(accepted: {accepted})")
    if scheme == "inproc":  # inproc://HOST/PID/N: a scheduler inside this process
        return scheme, rest, None
    host, _, port = rest.rpartition(":")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"scheduler address {address!r} needs a port number (1-65535) after "
                         f"the host, like {scheme}://HOST:8786")
    if not _HOST.fullmatch(host):
        raise ValueError(f"scheduler address {address!r} has no valid host name before the "
                         f"port ({scheme}://HOST:PORT)")
    return scheme, host.strip("[]"), int(port)


def _probe_scheduler(address: str, scheme: str, host: str, port: int | None,
                     timeout: float) -> Any:
    """Connect as a ``Client`` would (TLS credentials from the dask config) and ask the
    scheduler at ``address`` who it is; runs in its own thread and event loop."""
    import asyncio
    import socket

    from distributed.comm import connect
    from distributed.security import Security

    if port is not None and scheme in ("tcp", "tls", "ws", "wss"):
        # a refused connection or an unknown host is known at once, without the retries of
        # distributed's connect
        socket.create_connection((host, port), timeout=timeout).close()

    async def identity() -> Any:
        args = Security().get_connection_args("client")
        comm = await connect(address, timeout=timeout, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return asyncio.run(asyncio.wait_for(identity(), timeout))


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Raise ``ValueError`` with one line unless ``address`` is a well-formed Dask scheduler
    address at which a scheduler answers within ``timeout`` seconds. Call it before anything is
    written: a bad address otherwise fails only after the client's 30 s connect timeout."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    scheme, host, port = _parse_scheduler(address)
    unreachable = f"no Dask scheduler answers at {address} within {timeout:g} s"
    pool = ThreadPoolExecutor(1)  # bounds name resolution too; its own event loop
    try:
        reply = pool.submit(_probe_scheduler, address, scheme, host, port, timeout).result(
            timeout + 1)
    except TypeError as exc:
        if "ssl_context" not in str(exc):  # e.g. a transport that is not installed
            raise ValueError(f"{unreachable} (TypeError: {_one_line(exc)})") from None
        raise ValueError(f"scheduler address {address} needs TLS credentials: set "
                         "distributed.comm.tls.ca-file, .client.cert and .client.key in the "
                         "dask config (docs/dask.md)") from None
    except socket.gaierror:
        raise ValueError(f"{unreachable} (unknown host {host!r})") from None
    except ConnectionRefusedError:
        raise ValueError(f"{unreachable} (connection refused)") from None
    except TimeoutError:  # the probe's own, or the thread's
        raise ValueError(unreachable) from None
    except Exception as exc:  # OSError, SSL errors, a reset connection
        raise ValueError(f"{unreachable} ({type(exc).__name__}: {_one_line(exc)})") from None
    finally:
        pool.shutdown(wait=False)
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise ValueError(f"{address} answers, but not as a Dask scheduler")


@contextlib.contextmanager
def dask_client(workers: int = 2, scheduler: str | None = None, *,
                memory_limit: int | None = None):
    """A ``distributed.Client``: on ``scheduler`` if given, else on a new ``LocalCluster`` of
    ``workers`` processes × 1 thread, whose nannies restart a dead worker for as long as the
    run lasts."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        check_scheduler(scheduler)
        with Client(scheduler, timeout=DASK_REQUEST_TIMEOUT) as client:
            yield client
        return
    # a LocalCluster closes the nanny of a worker that is not back 15 s after it died
    # (lost-worker-timeout), so cells that keep killing workers left a run with none: keep
    # the nannies for the run. A task whose worker died fails at once (allowed-failures 0).
    # hpbench reports deaths itself, hence the silenced logs; and the workers' statistical
    # profiler (a stack sample every 10 ms) stays off: it about doubled the CPU time of
    # pure-Python cells (benchmarks/test_backends.py)
    # Likewise the clocks that run whether or not there is work: the event-loop tick (every
    # 20 ms in the scheduler, each nanny and each worker), the system monitor (500 ms) and the
    # memory monitor (100 ms) cost a LocalCluster of 2 workers 7 % of a core when idle, and
    # more on a loaded machine, where a run lasts longer (benchmarks/test_backends.py); slower
    # clocks change only how soon Dask notices a blocked loop or a worker near its memory
    # limit (hpbench's own memory_limit is an rlimit, not this monitor)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.deploy.lost-worker-timeout": 10 * 365 * 86400,
                          "distributed.worker.profile.enabled": False,
                          "distributed.admin.tick.interval": "1s",
                          "distributed.admin.system-monitor.interval": "2s",
                          "distributed.worker.memory.monitor-interval": "500ms"}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.CRITICAL,
                               memory_limit=memory_limit or "auto")
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()


def _worker_timeout(value: Any) -> float:
    if value is None:
        value = os.environ.get("HPBENCH_DASK_WORKER_TIMEOUT") or WORKER_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise ValueError(f"worker_timeout must be a number of seconds > 0, got {value!r}")
    return seconds


@backend("dask")
def run_dask(cells: Sequence[Cell], out: Path, *, workers: int = 2,
             progress: ProgressFn | None = None, on_done: DoneFn | None = None,
             scheduler: str | None = None, retries: int = 2, journal: bool | None = None,
             memory_limit: int | None = None, client: Any = None,
             worker_timeout: float | None = None, **_: object) -> list[CellOutcome]:
    """Cells as Dask tasks (``client``: an existing ``distributed.Client`` to use), one per
    worker at a time. ``worker_timeout``: seconds without any worker before the run stops
    with ``ClusterLostError`` (default 120, or HPBENCH_DASK_WORKER_TIMEOUT)."""
    retries = _check_retries(retries)
    timeout = _worker_timeout(worker_timeout)
    if client is None:
        with dask_client(workers, scheduler, memory_limit=memory_limit) as own:
            return _run_on_client(own, cells, out, progress, on_done, retries, journal,
                                  memory_limit, timeout)
    return _run_on_client(client, cells, out, progress, on_done, retries, journal, memory_limit,
                          timeout)


def _run_on_client(client, cells, out, progress, on_done, retries, journal, memory_limit,
                   worker_timeout: float = WORKER_TIMEOUT) -> list[CellOutcome]:
    options = {"journal": journal, "memory_limit": memory_limit}
    return _DaskRun(client, cells, out, _progress_adapter(progress), on_done, retries, options,
                    worker_timeout).run()


class _DaskRun:
    """The ``dask`` backend's driver. Jobs, ("cell", i) or ("record", i) (writing cell i as
    failed after its workers kept dying), wait in a queue here, not on the scheduler: each is
    submitted to one idle worker and restricted to it, so a worker runs one hpbench job at a
    time whatever the scheduler's settings (queuing, work stealing, allowed failures). Cells
    known to be cheap (``CostModel``) go to a worker several at a time in one task (``take``),
    run there in turn, each confirming its start. When a worker dies, the cell running on it
    is the only one that can have caused it: it is charged the death if it had confirmed its
    start, else resubmitted (``MAX_UNCONFIRMED``); the cells of its task that finished keep
    their outcomes, those that had not started go back to the queue uncharged. No worker for
    ``worker_timeout`` seconds stops the run with ``ClusterLostError``."""

    def __init__(self, client, cells: Sequence[Cell], out: Path, report, on_done,
                 retries: int, options: dict[str, Any], worker_timeout: float) -> None:
        self.client, self.cells, self.out, self.report = client, cells, out, report
        self.on_done, self.retries, self.options = on_done, retries, options
        self.worker_timeout = worker_timeout
        run_id = uuid.uuid4().hex[:12]
        self.prefix, self.start_topic = f"hpbench-{run_id}", f"hpbench-start-{run_id}"
        self.topic = f"hpbench-progress-{run_id}" if report else None
        self.pending: deque[tuple[str, int]] = deque(("cell", i) for i in range(len(cells)))
        self.deaths: dict[int, list[str]] = {}
        self.unconfirmed: dict[int, int] = {}
        self.outcomes: dict[int, CellOutcome] = {}
        self.running: dict[str, tuple[Any, str, list[int]]] = {}  # worker -> (future, kind,
        # the cells of its task)
        self.costs = CostModel()
        self.workers: set[str] = set()  # the running workers at the last look
        self.fatal: ResultsWriteError | None = None
        self.submitted, self.looked, self.seen = 0, float("-inf"), time.monotonic()
        self.wake = threading.Event()

    def ask(self, op: str, **kw: Any) -> Any:
        """A request to the scheduler that gives up after ``DASK_REQUEST_TIMEOUT``."""
        return self.client.sync(getattr(self.client.scheduler, op),
                                callback_timeout=DASK_REQUEST_TIMEOUT, **kw)

    def submit(self, worker: str, kind: str, idx: list[int]) -> None:
        self.submitted += 1
        key = f"{self.prefix}-{kind}-{idx[0]}-{self.submitted}"
        cell, start, where = self.cells[idx[0]], (self.start_topic, key), [worker]
        if kind == "cell":
            fut = self.client.submit(_dask_cells, [self.cells[i] for i in idx], self.out,
                                     self.options, self.topic, start, key=key, workers=where,
                                     allow_other_workers=False)
            if self.report:
                self.report(cell.key, 0.0, worker)  # it starts
        else:
            deaths = self.deaths[idx[0]]
            fut = self.client.submit(_dask_record, cell, self.out, _death_reason(cell, deaths),
                                     len(deaths), start, key=key, workers=where,
                                     allow_other_workers=False)
        fut.add_done_callback(lambda _: self.wake.set())
        self.running[worker] = (fut, kind, idx)

    def groupable(self, kind: str, i: int) -> float | None:
        """The expected seconds of job (kind, i) if it may share a task, else None: a cheap
        cell that never lost a worker."""
        if kind != "cell" or i in self.deaths or i in self.unconfirmed:
            return None
        seconds = self.costs.expected(self.cells[i])
        return seconds if seconds is not None and seconds <= CHEAP_S else None

    def take(self) -> tuple[str, list[int]]:
        """The next job: the first queued one, with the cheap cells queued right behind it
        when it is cheap too, up to ``BATCH_S`` seconds of expected work (fewer near the end
        of the run, so that every worker gets a share)."""
        kind, i = self.pending.popleft()
        idx, total = [i], self.groupable(kind, i)
        if total is None:
            return kind, idx
        share = len(self.pending) // (2 * max(1, len(self.workers)))
        while self.pending and len(idx) < min(MAX_BATCH, 1 + share):
            seconds = self.groupable(*self.pending[0])
            if seconds is None or total + seconds > BATCH_S:
                break
            idx.append(self.pending.popleft()[1])
            total += seconds
        return kind, idx

    def dispatch(self) -> None:
        for worker in sorted(self.workers - set(self.running)):
            if self.fatal is not None or not self.pending:
                return
            self.submit(worker, *self.take())

    def finish(self, i: int, outcome: CellOutcome, kind: str) -> None:
        # a recorded failure took as many attempts as there were deaths, a run one more
        outcome.attempts = len(self.deaths.get(i, ())) + (kind == "cell")
        self.outcomes[i] = outcome
        self.costs.learn(self.cells[i], outcome)
        if self.on_done:
            self.on_done(outcome)

    def requeue(self, kind: str, idx: list[int]) -> None:
        """Put jobs back at the head of the queue, in their order."""
        self.pending.extendleft((kind, i) for i in reversed(idx))

    def lost(self, kind: str, idx: list[int]) -> bool:
        """Resubmit a job lost through no fault of its own; False when that happened too often
        (to its first cell)."""
        self.unconfirmed[idx[0]] = self.unconfirmed.get(idx[0], 0) + 1
        if self.unconfirmed[idx[0]] > MAX_UNCONFIRMED:
            return False
        self.requeue(kind, idx)
        return True

    def settle(self, key: str, kind: str, idx: list[int]) -> int | None:
        """After job ``key`` ended without a result: finish the cells that had finished (from
        their neighbours' start confirmations); the position in ``idx`` of the cell that had
        confirmed its start and not finished, or None when none had started."""
        try:
            events = self.ask("events", topic=self.start_topic)
        except Exception:  # the scheduler does not answer: cannot tell
            return None
        at = None
        for _, msg in events:
            if isinstance(msg, dict) and msg.get("job") == key:
                at = max(at or 0, int(msg["cell"]))
                if msg.get("done"):
                    j = int(msg["cell"]) - 1
                    if idx[j] not in self.outcomes:
                        self.finish(idx[j], CellOutcome(**msg["done"]), kind)
        return at

    def died(self, key: str, kind: str, idx: list[int], reason: str) -> None:
        """The worker running job ``key`` died: charge the cell that had confirmed its start
        there and not finished, and run it again, or record it as failed after ``retries``
        deaths; the cells of the job that had not started go back to the queue uncharged."""
        at = self.settle(key, kind, idx)
        if at is None:
            if self.lost(kind, idx):
                return
            at = 0
            reason += f" (before the job confirmed its start, {self.unconfirmed[idx[0]]} times)"
        i = idx[at]
        self.requeue(kind, idx[at + 1:])
        cell = self.cells[i]
        if kind == "record":
            self.finish(i, CellOutcome(cell.key, "error", reason=(
                f"{_death_reason(cell, self.deaths[i])}; recording the failure also died: "
                f"{reason}")), kind)
            return
        self.deaths.setdefault(i, []).append(reason)
        self.pending.appendleft(("cell" if len(self.deaths[i]) <= self.retries else "record",
                                 i))

    def collect(self, worker: str) -> None:
        """The job on ``worker`` ended: its outcome, a death, or a fatal write error."""
        from distributed.scheduler import KilledWorker

        fut, kind, idx = self.running.pop(worker)
        try:
            if fut.status == "cancelled":
                raise TimeoutError("cancelled")
            outcomes = fut.result(timeout=DASK_REQUEST_TIMEOUT)
        except KilledWorker as exc:
            self.workers.discard(worker)  # gone, though the last look still listed it
            return self.died(fut.key, kind, idx, _killed_reason(exc))
        except ResultsWriteError as exc:
            self.fatal = self.fatal or exc  # start nothing new; running jobs finish
            return
        except (TimeoutError, asyncio.CancelledError, CancelledError):
            # cancelled by another client, or its result went with its worker: not its fault
            at = self.settle(fut.key, kind, idx) or 0
            idx = idx[at:]
            if not self.lost(kind, idx):
                self.requeue(kind, idx[1:])
                self.finish(idx[0], CellOutcome(self.cells[idx[0]].key, "error", reason=(
                    f"its Dask task was lost {self.unconfirmed[idx[0]]} times (cancelled, or "
                    "its result went with its worker)")), kind)
            return
        except Exception as exc:
            outcomes = [_error_outcome(self.cells[i], exc) for i in idx]
        for i, outcome in zip(idx, outcomes):
            self.finish(i, outcome, kind)

    def look(self) -> None:
        """Refresh the workers; a worker that held a job and is gone died; no worker at all
        for ``worker_timeout`` seconds stops the run."""
        self.looked = now = time.monotonic()
        try:
            self.workers = set(self.ask("ncores_running"))
            # a busy worker that is not running (paused, closing) may still be there: ask
            # about those only, so that a look is one request while all is well
            absent = [w for w in self.running if w not in self.workers]
            present = set(self.running) - set(absent)
            if absent:
                present |= set(self.ask("ncores", workers=absent))
        except Exception:  # the scheduler does not answer: no worker that we know of
            self.workers, present, answered = set(), set(self.running), False
        else:
            answered = True
        for worker in [w for w in self.running if w not in present]:
            if self.running[worker][0].done():  # it finished before the worker went
                self.collect(worker)
                continue
            fut, kind, idx = self.running.pop(worker)
            fut.cancel()
            self.died(fut.key, kind, idx, "its Dask worker went away (the worker's log has why)")
        if self.workers or (answered and present):
            self.seen = now
        elif self.client.status in ("closing", "closed"):
            self.give_up("the Dask client was closed")
        elif now - self.seen > self.worker_timeout:
            where = getattr(self.client.scheduler, "address", "?")
            self.give_up(f"no Dask worker alive for {self.worker_timeout:g} s (scheduler "
                         f"{where}{'' if answered else ', which does not answer'})")

    def give_up(self, why: str) -> None:
        left = sorted({i for _, _, idx in self.running.values() for i in idx
                       if i not in self.outcomes} | {i for _, i in self.pending})
        for i in left:
            deaths = self.deaths.get(i)
            after = f" after {_death_reason(self.cells[i], deaths)}" if deaths else ""
            self.finish(i, CellOutcome(self.cells[i].key, "failed", reason=(
                f"not finished{after}: {why}")), "cell")
        outcomes = [self.outcomes.get(i) or CellOutcome(self.cells[i].key, "error",
                                                        reason="not run")
                    for i in range(len(self.cells))]
        raise ClusterLostError(
            f"{why}; {len(left)} of {len(self.cells)} cells not finished (not recorded: run the "
            "same command again to resume them)", outcomes)

    def run(self) -> list[CellOutcome]:
        if self.topic:
            report = self.report

            def handler(event) -> None:
                msg = event[1] if isinstance(event, tuple) else event
                report(msg["key"], msg["spent"], msg["worker"])

            self.client.subscribe_topic(self.topic, handler)
        try:
            while (self.pending and self.fatal is None) or self.running:
                self.wake.clear()
                for worker in [w for w, (f, _, _) in self.running.items() if f.done()]:
                    self.collect(worker)
                if time.monotonic() - self.looked >= DASK_POLL:
                    self.look()
                self.dispatch()
                if not any(f.done() for f, _, _ in self.running.values()):
                    self.wake.wait(DASK_POLL)
        finally:
            with contextlib.suppress(Exception):  # interrupted: leave nothing queued
                self.client.cancel([f for f, _, _ in self.running.values()])
            if self.topic:
                with contextlib.suppress(Exception):
                    self.client.unsubscribe_topic(self.topic)
        if self.fatal is not None:
            raise self.fatal
        return [self.outcomes[i] for i in range(len(self.cells))]


def _killed_reason(exc: BaseException) -> str:
    # the scheduler knows only that the worker went away; the nanny's log has the signal
    return "the Dask worker running it died (KilledWorker; the worker log names the signal)"
