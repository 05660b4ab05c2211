"""The Python entry point that the CLI wraps: ``hpbench.run``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench._procutil import parse_bytes
from hpbench.backends import get_backend, run_serial
from hpbench.execute import CellOutcome, environment
from hpbench.progress import Progress, in_plan_order, scout_order
from hpbench.store import ResultsDir
from hpbench.suite import MAX_CELLS, Suite, SuiteError, load_suite, stored_suite
from hpbench.suite_merge import reconcile

#: the statuses a run's summary counts
STATUSES = ("done", "skipped", "failed", "not-applicable", "error")


@dataclass
class RunSummary:
    suite: Suite
    out: Path
    outcomes: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def __str__(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in STATUSES if self.count(s)]
        return (f"suite {self.suite.name}: {len(self.outcomes)} cells ({', '.join(parts)}) "
                f"in {self.seconds:.1f} s -> {self.out}")


def suite_fingerprint(suite: Suite) -> str:
    blob = json.dumps({"suite": suite.to_toml()}, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def _names(value: Any, what: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value \
            or not all(isinstance(v, str) and v for v in value):
        raise SuiteError(f"{what} must be a non-empty list of names or patterns, got {value!r}")
    return list(value)


def _count(value: Any, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise SuiteError(f"{what} must be an integer >= {least}, got {value!r}")
    return value


def _check_options(workers: Any, retries: Any, journal: Any, progress: Any,
                   out: Any, backend_options: Any) -> None:
    _count(workers, "workers", 1)
    _count(retries, "retries", 0)
    if journal not in (None, True, False):
        raise SuiteError(f"journal must be None (auto), True or False, got {journal!r}")
    if not isinstance(progress, bool):
        raise SuiteError(f"progress must be True or False, got {progress!r}")
    if out is not None and (not isinstance(out, str | os.PathLike) or not str(out).strip()):
        raise SuiteError(f"out must be a folder path, got {out!r}")
    if backend_options is not None and not isinstance(backend_options, Mapping):
        raise SuiteError(f"backend_options must be a dict, got {backend_options!r}")


def default_out(spec: Suite, adhoc: bool) -> Path:
    """``results/<name>`` for a suite as written; ``results/<name>-<hash>`` for one changed
    on the command line, so an ad-hoc run never lands in another run's folder."""
    return Path("results") / (f"{spec.name}-{suite_fingerprint(spec)}" if adhoc else spec.name)


def run(suite: str | Path | Suite = "default", *, problems: Sequence[str] | None = None,
        optimizers: Sequence[str] | None = None, repeats: int | None = None,
        budget: float | None = None, budget_unit: str | None = None, seed: int | None = None,
        batch: int | None = None, timeout: float | None = None,
        plugins: Sequence[str] | None = None, out: str | Path | None = None,
        replace_suite: bool = False, workers: int = 1, backend: str | None = None,
        progress: bool = False, retries: int = 2, journal: bool | None = None,
        memory_limit: int | str | None = None, scheduler: str | None = None,
        client: Any = None, worker_timeout: float | None = None,
        backend_options: Mapping[str, Any] | None = None,
        sim_workers: int | Sequence[int] | None = None) -> RunSummary:
    """Run a suite and store every cell in a results folder; returns a ``RunSummary``.

    - ``suite``: a packaged suite name ("default", "smoke", "paper"), a suite TOML file, or
      a ``hpbench.suite.Suite``. For a name or file, ``problems`` and ``optimizers`` (names
      or shell patterns, replacing the suite's and its groups'), ``repeats``, ``budget``,
      ``budget_unit`` ("evaluations", "cost", "seconds"), ``seed`` (the master seed),
      ``batch`` (suggestions per round) and ``timeout`` (seconds per evaluation and per
      optimizer call) override the suite's values, and ``sim_workers`` (K, or a list of
      K: each cell on K simulated workers under a virtual clock, docs/simulated-clock.md)
      sets them.
    - ``plugins``: more modules or .py files that register entries (``hpbench.plugins``).
    - ``out``: the results folder; default ``results/<suite name>``, or
      ``results/<name>-<hash of the suite>`` when options changed the suite. A folder
      belongs to one suite: a run that repeats, narrows or extends it (more problems,
      optimizers, repeats) goes on; one that changes a cell both define (budget, seed,
      settings, batch, timeout) raises ``SuiteError``, unless ``replace_suite`` (the cells
      that differ are set aside and redone). Cells already finished with the same identity
      (``Cell.identity``) are skipped; the rest are (re)done.
    - ``workers``: cells run at once. ``backend``: "serial", "processes", "dask" or one a
      plugin registers (default: serial for one worker, processes for more; dask when
      ``scheduler`` or ``client`` is given). ``progress``: show a progress bar.
    - ``retries``: how many times a cell whose worker died is run again before it is
      recorded as failed. ``journal``: keep a trial journal that a resumed cell replays
      (None: for problems tagged "expensive"). ``memory_limit``: address space per worker
      and evaluation child ("2G", or bytes).
    - ``scheduler``: a Dask scheduler address; ``client``: a ``distributed.Client`` to use;
      ``worker_timeout``: seconds without a Dask worker before the run stops
      (docs/dask.md). ``backend_options``: more keywords for a backend a plugin registers.

    Bad input raises ``SuiteError`` (a ``ValueError``) before anything is written;
    ``ResultsWriteError`` when ``out`` cannot be written during the run.
    """
    _check_options(workers, retries, journal, progress, out, backend_options)
    spec, adhoc = _load(suite, plugins, problems=problems, optimizers=optimizers,
                        repeats=repeats, budget=budget, budget_unit=budget_unit, seed=seed,
                        batch=batch, timeout=timeout,
                        sim_workers=list(sim_workers) if isinstance(sim_workers, Sequence)
                        else sim_workers)
    try:
        memory_limit = parse_bytes(memory_limit)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    backend, run_cells, options = _backend(backend, workers, scheduler, client, worker_timeout,
                                           backend_options)
    out = Path(out) if out is not None else default_out(spec, adhoc)
    results = ResultsDir(out)
    results.check_writable()
    _own_folder(results, spec, replace_suite)
    results.migrate()
    cells = spec.cells()
    t0 = time.perf_counter()
    bar = Progress(cells, enabled=progress, workers=workers)
    order = scout_order(cells)  # a few cells of every problem first: the ETA learns them
    queue = [cells[i] for i in order]
    try:
        outcomes = run_cells(queue, out, workers=workers, progress=bar.update,
                             on_done=bar.done, retries=retries, journal=journal,
                             memory_limit=memory_limit, **options)
        outcomes = _wait_for_claimed(queue, outcomes, out, bar, journal, memory_limit)
    finally:
        bar.close()
    outcomes = in_plan_order(order, outcomes)
    summary = RunSummary(spec, out, outcomes, time.perf_counter() - t0)
    run_info = {"suite": spec.name, "suite_fingerprint": suite_fingerprint(spec),
                "backend": backend, "workers": workers, "seconds": summary.seconds,
                "finished": time.time(), "cells": len(cells),
                "counts": {s: summary.count(s) for s in STATUSES}, **environment()}
    results.write(results.run_file, json.dumps(run_info, indent=2, default=str))
    return summary


def _load(suite: Any, plugins: Any, **overrides: Any) -> tuple[Suite, bool]:
    """The suite to run, checked, and whether options changed it (an ad-hoc run)."""
    overrides["problems"] = _names(overrides["problems"], "problems")
    overrides["optimizers"] = _names(overrides["optimizers"], "optimizers")
    extra = _names(plugins, "plugins") or []
    adhoc = any(v is not None for v in overrides.values()) or bool(extra)
    if isinstance(suite, Suite):
        if adhoc:
            raise SuiteError("options like problems= or budget= apply to a suite name or file; "
                             "change a Suite object with dataclasses.replace")
        spec = suite
    elif isinstance(suite, str | os.PathLike) and str(suite).strip():
        spec = load_suite(str(suite), plugins=extra or None, **overrides)
    else:
        raise SuiteError(f"suite must be a suite name, a .toml path or a Suite, got {suite!r}")
    if spec.n_cells() > MAX_CELLS:
        raise SuiteError(f"suite {spec.name!r} plans {spec.n_cells():,} cells, more than "
                         f"{MAX_CELLS:,}: check repeats, problems and optimizers")
    return spec, adhoc


def _backend(backend: str | None, workers: int, scheduler: str | None, client: Any,
             worker_timeout: float | None, backend_options: Mapping[str, Any] | None
             ) -> tuple[str, Callable[..., list[CellOutcome]], dict[str, Any]]:
    """The backend's name, its function and its options; a Dask scheduler address is
    checked (it answers, as a scheduler) before anything is written."""
    if backend is None and (scheduler or client is not None):
        backend = "dask"
    backend = backend or ("serial" if workers == 1 else "processes")
    try:
        run_cells = get_backend(backend)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    options = dict(backend_options or {})
    if backend == "dask":
        from hpbench.dask_backend import check_scheduler

        options.update(scheduler=scheduler, client=client, worker_timeout=worker_timeout)
        if scheduler and client is None:
            try:
                check_scheduler(scheduler)
            except ValueError as exc:
                raise SuiteError(str(exc)) from None
    elif scheduler or client is not None or worker_timeout is not None:
        raise SuiteError(f"scheduler, client and worker_timeout are for backend 'dask', "
                         f"not {backend!r}")
    return backend, run_cells, options


def _own_folder(results: ResultsDir, spec: Suite, replace_suite: bool) -> None:
    """Write ``suite.toml`` as the folder's suite after this run (``suite_merge``), or
    refuse the run when the folder holds another experiment."""
    stored = None
    if not replace_suite:
        try:
            stored = stored_suite(results)
        except SuiteError as exc:
            raise SuiteError(f"{results.suite_file} cannot be read ({exc}); pass "
                             "--replace-suite to replace it") from None
    keep = reconcile(stored, spec, where=str(results.root))
    if keep is not None:
        results.write(results.suite_file, keep.to_toml())


def _wait_for_claimed(cells, outcomes, out, bar, journal, memory_limit):
    """Cells another driver on the same folder held: wait for it, then find each done (or
    run it, if that driver died), so a run ends with every cell accounted for."""
    held = [i for i, o in enumerate(outcomes) if o.status == "claimed"]
    if not held:
        return outcomes
    again = run_serial([cells[i] for i in held], out, progress=bar.update, on_done=bar.done,
                       journal=journal, memory_limit=memory_limit, wait_claimed=True)
    outcomes = list(outcomes)
    for i, outcome in zip(held, again, strict=True):
        outcomes[i] = outcome
    return outcomes
