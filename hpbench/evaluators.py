"""Evaluators: how the runner gets a config's ``Evaluation``.

``run_loop(..., evaluator=)`` calls ``evaluator(problem, config, fidelity, ctx)`` for one
trial. An evaluator that also has ``evaluate_many(problem, items)`` (items are
``(config, fidelity, ctx)`` triples) is handed a whole round at once and evaluates it
concurrently; it returns, per item, ``(Evaluation or exception, eval_s, t_start, t_end)``.

* ``evaluate_inline`` (``hpbench.runner``): in the calling process; the default, the leanest.
* ``ProcessEvaluator``: in child processes that hold their own instance of the problem, built
  from its registry name and seed (the instance is checked against the parent's
  fingerprint). A child is killed when an evaluation exceeds the timeout (the trial is
  recorded as ``timeout``) or dies (the trial is ``failed`` with the signal), and is replaced
  for the next trial, so the cell goes on. Children are kept per process and reused across
  trials and cells: the cost per trial is one round trip through a socket.
* ``ThreadEvaluator``: threads sharing the parent's instance, for problems that release the
  GIL and are safe to call from several threads (``Problem.concurrency = "threads"``). It
  cannot enforce a timeout (a thread cannot be killed), so a timeout selects processes.
* ``VectorEvaluator``: ``problem.evaluate_batch`` in one pass, for problems with the
  ``vectorized`` capability (same values as one at a time, by that capability's contract).

Values are identical to inline evaluation whenever a problem's evaluation is a function of
its instance and the config. A problem that draws noise from one stream per instance sees,
under ``--batch q`` with processes, q streams (one per child, items of a round dealt to
children in order, so a run is still reproducible), and a fresh stream after a child was
replaced; ``VectorEvaluator`` keeps the single stream.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from hpbench._procutil import describe_exit
from hpbench.problem import EvalContext, Evaluation, Problem

Item = tuple[Mapping[str, Any], float | None, EvalContext | None]
Outcome = tuple[Evaluation | BaseException, float, float, float]


class EvaluationCrashed(RuntimeError):
    """The process evaluating a config died (segfault, os._exit, killed)."""


class ProblemSpec(NamedTuple):
    """How a child process builds the same problem instance as the parent."""

    name: str
    seed: int | None
    settings: Mapping[str, Any]
    fingerprint: str | None = None  # the parent's, checked by the child; None skips the check
    plugins: tuple[str, ...] = ()  # imported by the child before it builds the problem


def timed_inline(problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                 ctx: EvalContext | None) -> Outcome:
    t_start = time.time()
    t0 = time.perf_counter()
    try:
        rec: Evaluation | BaseException = problem.evaluate(config, fidelity=fidelity, ctx=ctx)
    except Exception as exc:
        rec = exc
    return rec, time.perf_counter() - t0, t_start, time.time()


# -- child processes ------------------------------------------------------------------------


def _child_env() -> dict[str, str]:
    # the child must import what this process imports (plugins, test modules on sys.path)
    paths = [os.path.abspath(p) for p in sys.path if p]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


class _Child:
    """One evaluation child process and the socket to it."""

    def __init__(self, memory_limit: int | None) -> None:
        ours, theirs = socket.socketpair()
        try:
            self.proc = subprocess.Popen(
                # -P: the current folder is not put on the child's path, so a pickle.py
                # (or any module) lying there is not imported in place of the real one
                [sys.executable, "-P", "-m", "hpbench._evalchild", str(theirs.fileno()),
                 str(os.getpid()), str(memory_limit or 0)],
                pass_fds=(theirs.fileno(),), env=_child_env(), stdin=subprocess.DEVNULL,
                # its own process group: a kill takes the objective's own helpers with it,
                # and Ctrl-C reaches the parent only
                start_new_session=True)
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.memory_limit = memory_limit
        self.started = 0.0
        self.loading = False  # "load" sent, "ready" not read yet

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        self.proc.wait()
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, EOFError, ValueError):
            self.conn.send(("stop",))
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        self.conn.close()

    def died(self) -> EvaluationCrashed:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # closed its end but still running: end it
            self.kill()
            code = self.proc.returncode
        self.conn.close()
        return EvaluationCrashed(f"evaluation process died: {describe_exit(code)}")

    def load(self, spec: ProblemSpec) -> None:
        self.conn.send(("load", spec.name, spec.seed, dict(spec.settings), spec.plugins))

    def loaded(self, spec: ProblemSpec) -> None:
        try:
            reply = self.conn.recv()
        except (EOFError, OSError):
            raise self.died() from None
        if reply[0] == "error":
            raise reply[1]
        if spec.fingerprint is not None and reply[1] != spec.fingerprint:
            raise RuntimeError(f"the evaluation process built a different instance of "
                               f"{spec.name} (fingerprint {reply[1]}, expected "
                               f"{spec.fingerprint}); is the problem deterministic?")

    def start(self, item: Item) -> None:
        config, fidelity, ctx = item
        self.conn.send(("eval", dict(config), fidelity, ctx))
        self.started = time.monotonic()

    def result(self, timeout: float | None) -> Outcome:
        """The outcome of the evaluation started last; kills the child on timeout or crash
        (the caller replaces it)."""
        if timeout is not None:
            remaining = self.started + timeout - time.monotonic()
            if not self.conn.poll(max(0.0, remaining)):
                self.kill()
                return self._lost(TimeoutError(
                    f"evaluation exceeded the timeout of {timeout:g} s"))
        try:
            reply = self.conn.recv()
        except (EOFError, OSError):
            return self._lost(self.died())
        return reply[1], reply[2], reply[3], reply[4]

    def _lost(self, exc: BaseException) -> Outcome:
        elapsed = time.monotonic() - self.started
        now = time.time()
        return exc, elapsed, now - elapsed, now


_IDLE: list[_Child] = []
_IDLE_LOCK = threading.Lock()  # a Dask worker may run cells in several threads


def _acquire(n: int, memory_limit: int | None) -> list[_Child]:
    out: list[_Child] = []
    with _IDLE_LOCK:
        for child in list(_IDLE):
            if len(out) == n:
                break
            if child.memory_limit == memory_limit:
                _IDLE.remove(child)
                if child.alive:
                    out.append(child)
                else:
                    child.conn.close()
    while len(out) < n:
        out.append(_Child(memory_limit))
    return out


@atexit.register
def _stop_idle() -> None:
    with _IDLE_LOCK:
        children = list(_IDLE)
        _IDLE.clear()
    for child in children:
        child.stop()


class ProcessEvaluator:
    """Evaluates in ``slots`` child processes, each ended after ``timeout`` seconds.

    The children are spawned and loaded in parallel when the evaluator is built; item ``i``
    of a round goes to child ``i % slots``. ``close()`` returns the children to a
    per-process pool for the next cell.
    """

    def __init__(self, spec: ProblemSpec, *, slots: int = 1, timeout: float | None = None,
                 memory_limit: int | None = None) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.spec, self.timeout, self.memory_limit = spec, timeout, memory_limit
        self.children: list[_Child | None] = list(_acquire(slots, memory_limit))
        self.replaced = 0
        try:
            for child in self.children:
                child.load(spec)
            for child in self.children:
                child.loaded(spec)
        except BaseException:
            for child in self.children:
                child.kill()
            raise

    def _child(self, k: int) -> _Child:
        child = self.children[k]
        if child is None or not child.alive:
            child = self._respawn(k)
        if child.loading:
            child.loading = False
            try:
                child.loaded(self.spec)
            except BaseException:
                self.children[k] = None
                child.kill()
                raise
        return child

    def _respawn(self, k: int) -> _Child:
        """A new child for slot ``k``, loading the problem while the caller goes on (a
        timed-out child is replaced at once, so its start overlaps the optimizer's work)."""
        child = _Child(self.memory_limit)
        child.load(self.spec)
        child.loading = True
        self.children[k] = child
        self.replaced += 1
        return child

    def __call__(self, problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                 ctx: EvalContext | None) -> Evaluation:
        child = self._child(0)
        child.start((config, fidelity, ctx))
        rec = child.result(self.timeout)[0]
        if isinstance(rec, BaseException):
            if not child.alive:
                self._respawn(0)
            raise rec
        return rec

    def evaluate_many(self, problem: Problem, items: Sequence[Item]) -> list[Outcome]:
        out: list[Outcome] = []
        slots = len(self.children)
        for wave in range(0, len(items), slots):
            chunk = items[wave:wave + slots]
            children = [self._child(k) for k in range(len(chunk))]
            for child, item in zip(children, chunk):
                child.start(item)
            for k, child in enumerate(children):
                out.append(child.result(self.timeout))
                if not child.alive:
                    self._respawn(k)
        return out

    def close(self, scratch: Any = None) -> None:
        """Let the children clean up after the problem, and keep them for the next cell."""
        for k, child in enumerate(self.children):
            self.children[k] = None
            if child is None or not child.alive:
                continue
            try:
                if child.loading:
                    child.loading = False
                    child.loaded(self.spec)
                child.conn.send(("cleanup", scratch))
                if child.conn.poll(30):
                    child.conn.recv()
                    with _IDLE_LOCK:
                        _IDLE.append(child)
                    continue
            except Exception:  # a child that cannot tidy up is not kept
                pass
            child.kill()


class ThreadEvaluator:
    """Evaluates a round in ``slots`` threads on the parent's problem instance."""

    def __init__(self, slots: int) -> None:
        self.pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="hpbench-eval")

    def __call__(self, problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                 ctx: EvalContext | None) -> Evaluation:
        return problem.evaluate(config, fidelity=fidelity, ctx=ctx)

    def evaluate_many(self, problem: Problem, items: Sequence[Item]) -> list[Outcome]:
        futures = [self.pool.submit(timed_inline, problem, *item) for item in items]
        return [f.result() for f in futures]

    def close(self, scratch: Any = None) -> None:
        self.pool.shutdown(wait=True)


class VectorEvaluator:
    """A round through ``problem.evaluate_batch`` in one pass (the ``vectorized`` capability);
    when the batch raises, each item is evaluated alone so the failure lands on its trial."""

    def __call__(self, problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                 ctx: EvalContext | None) -> Evaluation:
        return problem.evaluate(config, fidelity=fidelity, ctx=ctx)

    def evaluate_many(self, problem: Problem, items: Sequence[Item]) -> list[Outcome]:
        t_start = time.time()
        t0 = time.perf_counter()
        try:
            recs = problem.evaluate_batch([i[0] for i in items], [i[1] for i in items],
                                          [i[2] for i in items])
        except Exception:
            return [timed_inline(problem, *item) for item in items]
        share = (time.perf_counter() - t0) / max(1, len(items))
        t_end = time.time()
        return [(rec, share, t_start, t_end) for rec in recs]

    def close(self, scratch: Any = None) -> None:
        pass


def make_evaluator(problem: Problem, spec: ProblemSpec, *, batch: int | None,
                   timeout: float | None, memory_limit: int | None = None):
    """The evaluator a cell needs, and its name for the metadata; ``None`` means inline.

    A timeout or a memory limit needs processes (a child can be killed, and its address space
    capped without capping the run's). Without either, ``batch`` > 1 evaluates a round
    concurrently: in one vectorized pass where the problem offers it, in threads where the
    problem says it is thread-safe and releases the GIL (``concurrency = "threads"``), else in
    ``batch`` processes.
    """
    q = batch or 1
    isolate = timeout is not None or memory_limit is not None
    if not isolate and q <= 1:
        return None, "inline"
    if not isolate:
        if "vectorized" in problem.capabilities:
            return VectorEvaluator(), "vectorized"
        if getattr(problem, "concurrency", "processes") == "threads":
            return ThreadEvaluator(q), f"threads({q})"
    return (ProcessEvaluator(spec, slots=q, timeout=timeout, memory_limit=memory_limit),
            f"processes({q})")
