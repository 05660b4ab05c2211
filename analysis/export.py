"""``hpbench export coco|ioh RESULTS_DIR --out DIR``: a results folder in the formats of
COCO (``cocopp``) and IOHprofiler (IOHanalyzer), added to the ``hpbench`` command line
through the entry-point group ``hpbench.commands``.

Both exporters *replay* each cell: they rebuild the cell's problem instance from its
metadata (``problem_seed``, ``problem_settings``), walk its trials in order and evaluate each
stored config through the format's own library with its own logger attached (cocoex's
``Observer``, ioh's ``Analyzer``), so the files are written by COCO's and IOH's code, never
by hand. The replayed values are checked against the stored ones: a mismatch means the
problem changed since the run and is refused. What this module holds is what both share:
selecting and reading the cells (``read_runs``), the staging folder that makes an export
all-or-nothing (``staged``), and the command.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: the trial columns a replay needs (``hpbench.trials.TRIAL_COLUMNS`` names)
REPLAY_COLUMNS = ["trial", "config", "status", "value", "true_value", "fidelity"]

#: relative tolerance of a replayed value against the stored one: the same formula through
#: another code path (a vectorized batch, another library's implementation) differs in the
#: last bits, a changed problem instance by far more
RTOL = 1e-9


class ExportError(ValueError):
    """An export that cannot be done (no such folder, nothing to export, a replay that does
    not reproduce the stored values, an output folder in use)."""


@dataclass
class CellRun:
    """One cell to replay: its keys, its problem instance and its trials in order.

    ``configs`` are the stored configs (the ``config`` column, JSON), ``ok`` whether each
    trial ended ``ok``, ``full`` whether it ran at full fidelity, ``value`` / ``true_value``
    the stored values (NaN where the trial failed)."""

    problem_name: str
    optimizer: str
    repeat: int
    problem: Any
    configs: list[dict[str, Any]]
    ok: np.ndarray
    full: np.ndarray
    value: np.ndarray
    true_value: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.problem_name}/{self.optimizer}/repeat-{self.repeat}"

    def vector(self, k: int) -> np.ndarray:
        """Trial ``k``'s config as a vector in the space's parameter order."""
        config = self.configs[k]
        return np.array([float(config[name]) for name in self.problem.space], dtype=float)


def read_runs(results_dir: Path, select: Callable[[dict[str, Any]], bool],
              keep: Callable[[Any], bool]) -> tuple[list[CellRun], dict[str, int]]:
    """The cells of ``results_dir`` to export, in file order, and counts of the cells left
    out (``other``: not selected or not kept, ``empty``: no trials, e.g. not-applicable,
    ``corrupt``).

    ``select(meta)`` decides from a cell's metadata alone whether its problem is built at
    all (building a scikit-learn or PyTorch task only to skip it would load its data);
    ``keep(problem)`` then decides on the built instance."""
    from hpbench import registry
    from hpbench.store import CorruptCell, ResultsDir, read_cell

    folder = ResultsDir(results_dir)
    if not folder.root.is_dir():
        raise ExportError(f"{results_dir} is not a results folder (no such folder)")
    skipped = {"other": 0, "empty": 0, "corrupt": 0}
    built: dict[str, Any] = {}
    runs = []
    for path, meta, _error in folder.metas():
        if meta is None:
            skipped["corrupt"] += 1
            continue
        if not meta.get("n_trials"):
            skipped["empty"] += 1
            continue
        if not select(meta):
            skipped["other"] += 1
            continue
        settings = meta.get("problem_settings") or {}
        key = json.dumps([meta["problem"], meta.get("problem_seed"), settings], sort_keys=True)
        if key not in built:
            try:
                built[key] = registry.make_problem(meta["problem"],
                                                   seed=meta.get("problem_seed"), **settings)
            except (registry.UnknownNameError, registry.MissingDependencyError) as exc:
                raise ExportError(f"cannot rebuild the problem of {path}: "
                                  f"{str(exc).splitlines()[0]}") from None
        problem = built[key]
        if not keep(problem):
            skipped["other"] += 1
            continue
        try:
            table, _ = read_cell(path, REPLAY_COLUMNS)
        except CorruptCell:
            skipped["corrupt"] += 1
            continue
        runs.append(_cell_run(meta, problem, table.to_pydict()))
    return runs, skipped


def has_exact_optimum(meta: dict[str, Any]) -> bool:
    """Whether a cell's problem instance has an exact optimum (from its metadata)."""
    return (meta.get("optimum") or {}).get("kind") == "exact"


def tagged(tag: str) -> Callable[[dict[str, Any]], bool]:
    """Whether a cell's problem is registered with ``tag`` (from its metadata; a problem
    that is not registered here is not selected)."""
    from hpbench import registry

    def select(meta: dict[str, Any]) -> bool:
        entry = registry.entries("problem").get(meta.get("problem", ""))
        return entry is not None and tag in entry.tags

    return select


def _cell_run(meta: dict[str, Any], problem: Any, cols: dict[str, list]) -> CellRun:
    order = np.argsort(np.asarray(cols["trial"]), kind="stable")
    fidelity = np.array([math.nan if f is None else f for f in cols["fidelity"]], dtype=float)
    high = (meta.get("fidelity") or {}).get("high")
    full = np.isnan(fidelity) if high is None else (
        np.isnan(fidelity) | (fidelity >= float(high) * (1 - 1e-9)))
    ok = np.array([s == "ok" for s in cols["status"]], dtype=bool)

    def floats(name: str) -> np.ndarray:
        return np.array([math.nan if v is None else v for v in cols[name]], dtype=float)

    return CellRun(meta["problem"], meta["optimizer"], int(meta["repeat"]), problem,
                   [json.loads(cols["config"][i]) for i in order], ok[order], full[order],
                   floats("value")[order], floats("true_value")[order])


def check_value(run: CellRun, k: int, replayed: float, stored: float, what: str) -> None:
    """Refuse a replay whose value differs from the stored one (beyond round-off)."""
    if not math.isclose(replayed, stored, rel_tol=RTOL, abs_tol=1e-12):
        raise ExportError(
            f"{run.label}: trial {k} replayed through {what} gives {replayed!r}, the results "
            f"folder holds {stored!r}: the problem instance is not the one that was run "
            "(another version of hpbench or of the library?)")


def check_out(out: Path | str) -> Path:
    """``out`` unless it exists and is not an empty folder (an export never mixes with
    other files): checked before the replay starts, and again before writing."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"--out {out} exists and is not an empty folder; name a new one")
    return out


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh temporary folder beside ``out``, renamed to ``out`` when the block ends
    without an exception and removed otherwise: an export is whole or absent.

    ``out`` must not exist or be an empty folder (``check_out``)."""
    out = check_out(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        if out.exists():
            out.rmdir()  # empty, checked above
        # a folder is published by one rename(2); the one-file atomic writer is the store's
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def skipped_note(skipped: dict[str, int], what: str) -> str:
    """One line saying how many cells were left out and why ('' when none)."""
    parts = [f"{skipped['other']} not {what}" if skipped.get("other") else "",
             f"{skipped['empty']} without trials" if skipped.get("empty") else "",
             f"{skipped['corrupt']} corrupt" if skipped.get("corrupt") else ""]
    parts = [p for p in parts if p]
    return f"skipped {sum(skipped.values())} cells ({', '.join(parts)})" if parts else ""


# -- the command ----------------------------------------------------------------------------
FORMATS = {"coco": "COCO's logger format, for cocopp (BBOB cells only)",
           "ioh": "IOHprofiler's format, for IOHanalyzer (problems with an exact optimum)"}


def add_export(sub: argparse._SubParsersAction) -> object:
    """Add the ``export`` subcommand to ``sub``; returns its handler."""
    p = sub.add_parser("export", help="a results folder in COCO's or IOHprofiler's format",
                       description="Replay a results folder's trials through COCO's or "
                                   "IOHprofiler's logger: " + "; ".join(
                                       f"{k}: {v}" for k, v in FORMATS.items()) + ".")
    p.add_argument("format", choices=sorted(FORMATS), help="the format to write")
    p.add_argument("dir", type=Path, help="a results folder (what `hpbench run` wrote)")
    p.add_argument("--out", type=Path, required=True,
                   help="a new (or empty) folder for the export")
    return cmd_export


def cmd_export(args: argparse.Namespace) -> int:
    from hpbench.errors import UsageError

    try:
        if args.format == "coco":
            from hpbench.analysis.export_coco import export_coco as export
        else:
            from hpbench.analysis.export_ioh import export_ioh as export
        summary = export(args.dir, args.out)
    except ExportError as exc:
        raise UsageError(f"hpbench export {args.format}: {exc}") from None
    print(summary)
    return 0
