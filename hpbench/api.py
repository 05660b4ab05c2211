"""The Python entry point that the CLI wraps: ``hpbench.run``."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench._procutil import parse_bytes
from hpbench.backends import get_backend
from hpbench.execute import CellOutcome, environment
from hpbench.progress import Progress
from hpbench.store import ResultsDir
from hpbench.suite import Suite, SuiteError, load_suite


@dataclass
class RunSummary:
    suite: Suite
    out: Path
    outcomes: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def __str__(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("done", "skipped", "failed", "not-applicable",
                                                  "error") if self.count(s)]
        return (f"suite {self.suite.name}: {len(self.outcomes)} cells ({', '.join(parts)}) "
                f"in {self.seconds:.1f} s -> {self.out}")


def suite_fingerprint(suite: Suite) -> str:
    blob = json.dumps({"suite": suite.to_toml()}, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def run(suite: str | Suite = "default", *, problems: Sequence[str] | None = None,
        optimizers: Sequence[str] | None = None, repeats: int | None = None,
        budget: float | None = None, budget_unit: str | None = None, seed: int | None = None,
        batch: int | None = None, timeout: float | None = None,
        out: str | Path | None = None, workers: int = 1, backend: str | None = None,
        progress: bool = False, retries: int = 2, journal: bool | None = None,
        memory_limit: int | str | None = None, **backend_options: Any) -> RunSummary:
    """Run a suite (a packaged name, a TOML path, or a ``Suite``) and store every cell.

    Keyword options override the suite's values. Cells already finished in ``out`` (valid file,
    same problem fingerprint and budget) are skipped; the rest are (re)done.

    ``backend``: "serial", "processes" or "dask" (default: serial for one worker, processes
    for more; dask when a ``scheduler`` address is given). ``retries``: how many times a cell
    whose worker died is run again before it is recorded as failed. ``journal``: keep a trial
    journal that a resumed cell replays (None: for problems tagged "expensive").
    ``memory_limit``: address space per worker and evaluation child ("2G", bytes).
    Other keywords go to the backend (``scheduler="tcp://host:8786"``, ``client=`` for dask).
    Raises ``ResultsWriteError`` when ``out`` cannot be written during the run.
    """
    if isinstance(suite, Suite):
        spec = suite
    else:
        spec = load_suite(suite, problems=list(problems) if problems else None,
                          optimizers=list(optimizers) if optimizers else None, repeats=repeats,
                          budget=budget, budget_unit=budget_unit, seed=seed, batch=batch,
                          timeout=timeout)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SuiteError(f"workers must be an integer >= 1, got {workers!r}")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise SuiteError(f"retries must be an integer >= 0, got {retries!r}")
    try:
        memory_limit = parse_bytes(memory_limit)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    if backend is None and backend_options.get("scheduler"):
        backend = "dask"
    backend = backend or ("serial" if workers == 1 else "processes")
    try:
        run_cells = get_backend(backend)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None
    out = Path(out) if out is not None else Path("results") / spec.name
    results = ResultsDir(out)
    results.check_writable()
    results.write(results.suite_file, spec.to_toml())
    results.migrate()
    cells = spec.cells()
    t0 = time.perf_counter()
    bar = Progress(cells, enabled=progress)
    try:
        outcomes = run_cells(cells, out, workers=workers, progress=bar.update,
                             on_done=bar.done, retries=retries, journal=journal,
                             memory_limit=memory_limit, **backend_options)
    finally:
        bar.close()
    summary = RunSummary(spec, out, outcomes, time.perf_counter() - t0)
    run_info = {"suite": spec.name, "suite_fingerprint": suite_fingerprint(spec),
                "backend": backend, "workers": workers, "seconds": summary.seconds,
                "finished": time.time(), "cells": len(cells),
                "counts": {s: summary.count(s) for s in ("done", "skipped", "failed",
                                                         "not-applicable", "error")},
                **environment()}
    results.write(results.run_file, json.dumps(run_info, indent=2, default=str))
    return summary
