"""The Python entry point that the CLI wraps: ``hpbench.run``."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.backends import BACKENDS
from hpbench.execute import CellOutcome, environment
from hpbench.progress import Progress
from hpbench.suite import Suite, SuiteError, load_suite


class OutputError(ValueError):
    """The output folder cannot be written."""


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


def check_writable(out: Path) -> None:
    """Raise ``OutputError`` unless ``out`` exists as a writable folder or can be created."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"output folder {out} cannot be created: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"output folder {out} is not writable ({probe} denies writing)")
    try:  # root passes os.access everywhere; a read-only file system still says no here
        fd, name = _tempfile_in(probe)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise OutputError(f"output folder {out} is not writable: {exc.strerror}") from None


def _tempfile_in(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix=".hpbench-probe-", dir=folder)


def suite_fingerprint(suite: Suite) -> str:
    blob = json.dumps({"suite": suite.to_toml()}, sort_keys=True).encode()
    return hashlib.blake2b(blob, digest_size=8).hexdigest()


def run(suite: str | Suite = "default", *, problems: Sequence[str] | None = None,
        optimizers: Sequence[str] | None = None, repeats: int | None = None,
        budget: float | None = None, budget_unit: str | None = None, seed: int | None = None,
        batch: int | None = None, timeout: float | None = None,
        out: str | Path | None = None, workers: int = 1, backend: str | None = None,
        progress: bool = False, **backend_options: Any) -> RunSummary:
    """Run a suite (a packaged name, a TOML path, or a ``Suite``) and store every cell.

    Keyword options override the suite's values. Cells already finished in ``out`` (valid file,
    same problem fingerprint and budget) are skipped; the rest are (re)done.
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
    backend = backend or ("serial" if workers == 1 else "processes")
    if backend not in BACKENDS:
        raise SuiteError(f"unknown backend {backend!r} (valid: {', '.join(sorted(BACKENDS))})")
    out = Path(out) if out is not None else Path("results") / spec.name
    check_writable(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.toml").write_text(spec.to_toml())
    cells = spec.cells()
    t0 = time.perf_counter()
    bar = Progress(cells, enabled=progress)
    try:
        outcomes = BACKENDS[backend](cells, out, workers=workers, progress=bar.update,
                                     on_done=bar.done, **backend_options)
    finally:
        bar.close()
    summary = RunSummary(spec, out, outcomes, time.perf_counter() - t0)
    run_info = {"suite": spec.name, "suite_fingerprint": suite_fingerprint(spec),
                "backend": backend, "workers": workers, "seconds": summary.seconds,
                "finished": time.time(), "cells": len(cells),
                "counts": {s: summary.count(s) for s in ("done", "skipped", "failed",
                                                         "not-applicable", "error")},
                **environment()}
    tmp = out / ".run.json.tmp"
    tmp.write_text(json.dumps(run_info, indent=2, default=str))
    os.replace(tmp, out / "run.json")
    return summary
