"""Recording a live problem for its surrogate: ``hpbench tabulate PROBLEM --configs N``.

A recording evaluates N configurations of a problem at every fidelity level, for several
problem seeds, and stores what each evaluation returned and what it cost, so that a surrogate
model (``hpbench.problems.surrogate``) can stand in for the problem at a small fraction of
its price. ``docs/surrogates.md`` ("Recording a problem") describes the command, the format
and the costs measured; the format is summarized here.

Folder ``<out>/<problem>/`` (``out`` defaults to ``problems/surrogate/data/``):

``recording.parquet`` (zstd), one row per (config, seed, fidelity level): ``config_id``
(int64, 0 … N-1 in design order), ``origin`` ("best-known" | "sobol"), ``seed`` (int64, the
problem seed of the live instance), ``fidelity`` (float64; 1.0 for a problem without one),
``value``, ``true_value``, ``test_value`` (float64, NaN when failed or absent), ``cost`` (the
problem's units, as ``Evaluation.cost`` of an evaluation from scratch at that level),
``seconds`` (CPU seconds, ``time.process_time``, of an evaluation from scratch at that
level: for a learning curve recorded by resuming, the cumulative sum of the increments),
``status`` ("ok" | "failed"), ``config`` (canonical JSON, sorted keys, inactive conditional
parameters absent).

``recording.json``: the problem, its settings, each seed's fingerprint (``Problem.
fingerprint()``, as a results folder stores it) and the entry's code version, the fidelity
and its levels, the seeds, N, the Sobol seed, the library versions, the command that
reproduces the recording and the CPU seconds its evaluations took.

The design: the best-known configurations of the problem first (the scikit-learn tasks'
``best_known.csv``, one per distinct config, in table order), then a scrambled Sobol design
of the unit cube (``scipy.stats.qmc.Sobol``, seed ``--sobol-seed``) mapped by
``Space.from_unit``; a longer recording keeps the configs (and ids) of a shorter one.

The levels (``default_levels``): a problem that can resume from checkpoints (the torch nets)
records every integer level — every epoch — from one training per (config, seed), resumed
level to level; a problem without checkpoints is evaluated from scratch at each level: every
integer level when there are at most ``MAX_INTEGER_LEVELS`` of them, otherwise the rungs the
multi-fidelity optimizers ask for (``high · η^-k`` for η = 2 and 3: ``Fidelity.ladder``, which
Hyperband and ASHA use, with their default η = 3) plus both ends.

Resuming and splitting: the unit of work is one (config, seed) — a learning curve or a set
of levels — written atomically to ``<problem>/.parts/``; the recording is assembled from the
parts when every unit is there. ``--skip-existing`` keeps the units already recorded (parts,
or rows of an existing recording made by the same code on the same instance) and the units
another process holds (a claim per unit, as ``best_known_search.row_claim``), so a stopped
run resumes by running it again, and N processes running the same command split the work;
``--workers W`` starts W such processes itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpbench import registry
from hpbench.errors import UsageError
from hpbench.locks import claim
from hpbench.problem import EvalContext, Problem
from hpbench.problems.cli_args import number_list, setting
from hpbench.store import atomic_write

__all__ = ["COLUMNS", "DATA", "Plan", "add_tabulate", "default_levels", "design", "make_plan",
           "read_recording", "record"]

#: where the shipped recordings live (one folder per problem)
DATA = Path(__file__).resolve().parent / "data"
RECORDING = "recording.parquet"
META = "recording.json"
PARTS = ".parts"
#: bump when the recording's layout changes
FORMAT = 1
SOBOL_SEED = 0
#: an integer fidelity without checkpoints is recorded at every level up to this many levels
MAX_INTEGER_LEVELS = 8
#: the η of the geometric rungs recorded (factor 2, and the optimizers' default 3)
ETAS = (2, 3)
#: the fidelity column of a problem without a fidelity
NO_FIDELITY = 1.0
COLUMNS = {"config_id": "int64", "origin": "string", "seed": "int64", "fidelity": "float64",
           "value": "float64", "true_value": "float64", "test_value": "float64",
           "cost": "float64", "seconds": "float64", "status": "string", "config": "string"}


def canonical(config: Mapping[str, Any]) -> str:
    """The config as canonical JSON: sorted keys, inactive parameters absent."""
    return json.dumps({k: v for k, v in config.items() if v is not None}, sort_keys=True)


# levels ------------------------------------------------------------------------------------
def default_levels(problem: Problem) -> list[float]:
    """The levels recorded when ``--levels`` is not given (see the module docstring)."""
    fid = problem.fidelity
    if fid is None:
        return [NO_FIDELITY]
    integers = fid.integer and (fid.high - fid.low + 1 <= MAX_INTEGER_LEVELS
                                or "checkpoint" in problem.capabilities)
    if integers:
        return [float(x) for x in range(int(fid.low), int(fid.high) + 1)]
    levels = {float(fid.low), float(fid.high)}
    for eta in ETAS:
        levels.update(fid.ladder(eta))
    return sorted(levels)


def _checked_levels(problem: Problem, levels: Sequence[float] | None) -> list[float]:
    if levels is None:
        return default_levels(problem)
    fid = problem.fidelity
    if fid is None:
        raise UsageError(f"tabulate: {problem.name} has no fidelity, so --levels does not "
                         f"apply; leave it out to record the problem at its one level")
    out = set()
    for x in levels:
        try:
            out.add(fid.check(float(x)))
        except ValueError as exc:
            raise UsageError(f"tabulate: --levels: {exc} ({problem.name}'s {fid.name})") \
                from None
    return sorted(out)


# the design -----------------------------------------------------------------------------
def best_known_configs(problem: Problem) -> list[dict[str, Any]]:
    """The distinct configurations of the problem's best-known table, in table order (the
    scikit-learn tasks; none for other problems)."""
    if not problem.name.startswith("sklearn-"):
        return []
    from hpbench.problems.sklearn.best_known import read_table

    seen: dict[str, dict[str, Any]] = {}
    for (task, _), row in read_table().items():
        if task == problem.name:
            config = dict(problem.space.validate(row.config))
            seen.setdefault(canonical(config), config)
    return list(seen.values())


def design(problem: Problem, n: int, sobol_seed: int = SOBOL_SEED
           ) -> list[tuple[str, dict[str, Any]]]:
    """``n`` (origin, config) pairs: the best-known configs, then scrambled Sobol points."""
    from scipy.stats import qmc

    out = [("best-known", c) for c in best_known_configs(problem)][:n]
    n_sobol = n - len(out)
    if n_sobol > 0:
        d = max(1, len(problem.space))
        engine = qmc.Sobol(d=d, scramble=True, seed=np.random.default_rng(sobol_seed))
        # the first 2^m points of one sequence: a longer design extends a shorter one
        points = engine.random_base2(max(0, math.ceil(math.log2(n_sobol))))[:n_sobol]
        out += [("sobol", dict(problem.space.from_unit(p[:len(problem.space)])))
                for p in points]
    return out


# the plan -------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a recording holds: the problem, its settings, the configs, seeds and levels."""

    problem: str
    settings: dict[str, Any]
    configs: list[tuple[str, dict[str, Any]]]
    seeds: list[int]
    levels: list[float]
    sobol_seed: int
    fingerprints: dict[str, str]
    code_version: str
    fidelity: dict[str, Any] | None
    resumed: bool
    command: str = ""
    _instances: dict[int, Problem] = field(default_factory=dict, repr=False)
    _warm: set[int] = field(default_factory=set, repr=False)

    @property
    def n(self) -> int:
        return len(self.configs)

    def instance(self, seed: int) -> Problem:
        """The live problem at ``seed``, built once per process and warmed up."""
        if seed not in self._instances:
            self._instances[seed] = registry.make_problem(self.problem, seed=seed,
                                                          **self.settings)
        problem = self._instances[seed]
        if seed not in self._warm:
            self._warm.add(seed)
            # the first evaluation of a process or an instance pays for loading data and
            # libraries: spent here, so no recorded unit is charged for it
            with contextlib.suppress(Exception), \
                    tempfile.TemporaryDirectory(prefix="hpbench-tabulate-") as scratch:
                low = None if problem.fidelity is None else problem.fidelity.low
                problem.evaluate(self.configs[0][1], fidelity=low,
                                 ctx=EvalContext(trial=0, scratch=Path(scratch)))
                problem.cleanup(Path(scratch))
        return problem

    def identity(self, config_id: int, seed: int) -> dict[str, Any]:
        """Everything that can change the unit's rows except the clock."""
        origin, config = self.configs[config_id]
        return {"format": FORMAT, "problem": self.problem, "settings": self.settings,
                "fingerprint": self.fingerprints[str(seed)], "code": self.code_version,
                "levels": self.levels, "resumed": self.resumed, "config_id": config_id,
                "origin": origin, "config": canonical(config), "seed": seed}

    def units(self) -> list[tuple[int, int]]:
        return [(i, s) for i in range(self.n) for s in self.seeds]


def make_plan(problem: str, n: int, seeds: Sequence[int] = (0, 1, 2),
              levels: Sequence[float] | None = None, settings: Mapping[str, Any] | None = None,
              sobol_seed: int = SOBOL_SEED, command: str = "") -> Plan:
    """Check the request and build the plan; raises ``UsageError`` (one line, what is wrong
    and what is allowed) before anything is written."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise UsageError(f"tabulate: --configs must be an integer >= 1, got {n!r}")
    seeds = list(dict.fromkeys(int(s) for s in seeds))
    if not seeds:
        raise UsageError("tabulate: --seeds must name at least one integer seed, got none")
    entry = registry.get_entry("problem", problem)  # an unknown name: UnknownNameError
    entry.require()
    settings = dict(settings or {})
    try:
        probe = registry.make_problem(problem, seed=seeds[0], **settings)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"tabulate: {problem}: {str(exc).splitlines()[0]}") from None
    plan = Plan(problem, settings, design(probe, int(n), sobol_seed), seeds,
                _checked_levels(probe, levels), int(sobol_seed), {}, entry.code_version(),
                None if probe.fidelity is None else {
                    "name": probe.fidelity.name, "low": probe.fidelity.low,
                    "high": probe.fidelity.high, "integer": probe.fidelity.integer},
                "checkpoint" in probe.capabilities and probe.fidelity is not None, command)
    for s in seeds:  # fingerprinted fresh, as a results folder does, before any warm-up
        instance = probe if s == seeds[0] else registry.make_problem(problem, seed=s,
                                                                     **settings)
        plan._instances[s] = instance
        plan.fingerprints[str(s)] = instance.fingerprint()
    return plan


# one unit: a learning curve or a set of levels ------------------------------------------
def _row(ev, level: float, cost: float, seconds: float) -> dict[str, Any]:
    value = float(ev.value)
    ok = math.isfinite(value)
    test = math.nan if ev.test_value is None else float(ev.test_value)
    true = math.nan if ev.true_value is None else float(ev.true_value)
    return {"fidelity": level, "value": value if ok else math.nan,
            "true_value": true if ok else math.nan, "test_value": test if ok else math.nan,
            "cost": cost, "seconds": seconds, "status": "ok" if ok else "failed"}


def _failed(level: float, cost: float, seconds: float) -> dict[str, Any]:
    return {"fidelity": level, "value": math.nan, "true_value": math.nan,
            "test_value": math.nan, "cost": cost, "seconds": seconds, "status": "failed"}


def _curve(problem: Problem, config: dict, levels: list[float]) -> list[dict[str, Any]]:
    """One training resumed from level to level: cumulative cost and CPU seconds."""
    rows: list[dict[str, Any]] = []
    cost = seconds = 0.0
    broken = False
    with tempfile.TemporaryDirectory(prefix="hpbench-tabulate-") as scratch:
        for i, level in enumerate(levels):
            if broken:  # a training that raised left no state to resume
                rows.append(_failed(level, math.nan, math.nan))
                continue
            ctx = EvalContext(trial=i, scratch=Path(scratch),
                              resume_from=None if i == 0 else i - 1)
            t0 = time.process_time()
            try:
                ev = problem.evaluate(config, fidelity=level, ctx=ctx)
            except Exception:
                seconds += time.process_time() - t0
                rows.append(_failed(level, math.nan, seconds))
                broken = True
                continue
            seconds += time.process_time() - t0
            cost += float(ev.cost)
            rows.append(_row(ev, level, cost, seconds))
        problem.cleanup(Path(scratch))
    return rows


def _from_scratch(problem: Problem, config: dict, levels: list[float],
                  has_fidelity: bool) -> list[dict[str, Any]]:
    rows = []
    for level in levels:
        t0 = time.process_time()
        try:
            ev = problem.evaluate(config, fidelity=level if has_fidelity else None)
        except Exception:
            rows.append(_failed(level, math.nan, time.process_time() - t0))
            continue
        rows.append(_row(ev, level, float(ev.cost), time.process_time() - t0))
    return rows


def record_unit(plan: Plan, config_id: int, seed: int) -> list[dict[str, Any]]:
    """The rows of one (config, seed): every level of the plan."""
    problem = plan.instance(seed)
    origin, config = plan.configs[config_id]
    if plan.resumed:
        rows = _curve(problem, config, plan.levels)
    else:
        rows = _from_scratch(problem, config, plan.levels, plan.fidelity is not None)
    text = canonical(config)
    return [{"config_id": config_id, "origin": origin, "seed": seed, **r, "config": text}
            for r in rows]


# files ----------------------------------------------------------------------------------
def _table(rows: list[dict[str, Any]], meta: dict[str, Any] | None = None):
    import pyarrow as pa

    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS.items()])
    table = pa.Table.from_pylist(rows, schema=schema)
    if meta is not None:
        table = table.replace_schema_metadata({"hpbench.unit": json.dumps(meta)})
    return table


def _write(path: Path, table) -> None:
    import pyarrow.parquet as pq

    atomic_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"))


def _part(folder: Path, config_id: int, seed: int) -> Path:
    return folder / PARTS / f"c{config_id:06d}-s{seed}.parquet"


def _part_rows(path: Path, identity: dict[str, Any]):
    """The part's table if it is intact and of this identity, else None."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"hpbench.unit", b"null"))
    except (OSError, ValueError):
        return None
    return table.replace_schema_metadata(None) if meta == identity else None


def read_recording(folder: Path | str):
    """(rows as a pandas DataFrame, metadata) of a recording folder."""
    import pyarrow.parquet as pq

    folder = Path(folder)
    meta = json.loads((folder / META).read_text())
    return pq.read_table(folder / RECORDING).to_pandas(), meta


def _recorded_units(plan: Plan, folder: Path) -> dict[tuple[int, int], Any]:
    """Units of an existing recording that the plan can keep: same code, settings, levels
    and instance, and the same config under the same id."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        meta = json.loads((folder / META).read_text())
        table = pq.read_table(folder / RECORDING)
    except (OSError, ValueError):
        return {}
    same = (meta.get("format") == FORMAT and meta.get("code_version") == plan.code_version
            and meta.get("settings") == plan.settings and meta.get("levels") == plan.levels
            and meta.get("resumed") == plan.resumed)
    if not same:
        return {}
    out = {}
    for config_id, seed in plan.units():
        if meta.get("fingerprints", {}).get(str(seed)) != plan.fingerprints[str(seed)]:
            continue
        rows = table.filter(pc.and_(pc.equal(table["config_id"], config_id),
                                    pc.equal(table["seed"], seed)))
        identity = plan.identity(config_id, seed)
        if rows.num_rows == len(plan.levels) and \
                set(rows["config"].to_pylist()) == {identity["config"]} and \
                set(rows["origin"].to_pylist()) == {identity["origin"]}:
            out[(config_id, seed)] = rows
    return out


def _versions() -> dict[str, str]:
    import importlib.metadata

    out = {"python": sys.version.split()[0]}
    for dist in ("hpbench", "numpy", "scipy", "scikit-learn", "torch", "pyarrow"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    return out


def _unit_seconds(table, resumed: bool) -> float:
    secs = [s for s in table["seconds"].to_pylist() if s is not None and math.isfinite(s)]
    return (max(secs) if resumed else sum(secs)) if secs else 0.0


def _assemble(plan: Plan, folder: Path, keep: bool) -> bool:
    """Write the recording once every unit is recorded (``keep``: units of the existing
    recording count); False while some are missing."""
    import pyarrow as pa

    kept = _recorded_units(plan, folder) if keep else {}
    tables = []
    for config_id, seed in plan.units():
        table = kept.get((config_id, seed))
        if table is None:
            table = _part_rows(_part(folder, config_id, seed), plan.identity(config_id, seed))
        if table is None:
            return False
        tables.append(table)
    whole = pa.concat_tables(tables)
    cpu = sum(_unit_seconds(t, plan.resumed) for t in tables)
    status = whole["status"].to_pylist()
    meta = {"format": FORMAT, "problem": plan.problem, "settings": plan.settings,
            "fingerprints": plan.fingerprints, "code_version": plan.code_version,
            "fidelity": plan.fidelity, "levels": plan.levels, "resumed": plan.resumed,
            "seeds": plan.seeds, "n_configs": plan.n,
            "n_best_known": sum(o == "best-known" for o, _ in plan.configs),
            "sobol_seed": plan.sobol_seed, "versions": _versions(), "command": plan.command,
            "cpu_seconds": round(cpu, 3), "n_rows": whole.num_rows,
            "n_failed": status.count("failed"), "columns": COLUMNS}
    _write(folder / RECORDING, whole)
    atomic_write(folder / META, json.dumps(meta, indent=1, sort_keys=True) + "\n")
    # only this plan's parts: a process recording a longer plan may be adding its own
    for config_id, seed in plan.units():
        _part(folder, config_id, seed).unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        (folder / PARTS).rmdir()  # once empty
    return True


def _work(plan: Plan, folder: Path, progress: bool, keep: bool) -> int:
    """Record every unit nobody holds and nobody recorded (``keep``: in the existing
    recording either); returns how many it recorded."""
    kept = _recorded_units(plan, folder) if keep else {}
    done = 0
    for config_id, seed in plan.units():
        if (config_id, seed) in kept:
            continue
        identity = plan.identity(config_id, seed)
        path = _part(folder, config_id, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        with claim(f"{path}.lock") as mine:
            # checked once claimed: the holder before this one may have just finished it
            if not mine or _part_rows(path, identity) is not None:
                continue
            t0 = time.process_time()
            rows = record_unit(plan, config_id, seed)
            _write(path, _table(rows, identity))
        done += 1
        if progress:
            print(f"{plan.problem} config {config_id} seed {seed}: "
                  f"{time.process_time() - t0:.2f} CPU s", flush=True)
    return done


def _spec(plan: Plan) -> dict[str, Any]:
    return {"problem": plan.problem, "n": plan.n, "seeds": plan.seeds,
            "levels": plan.levels, "settings": plan.settings, "sobol_seed": plan.sobol_seed,
            "command": plan.command}


def _worker(spec: dict[str, Any], folder: str, progress: bool, keep: bool) -> int:
    return _work(make_plan(**spec), Path(folder), progress, keep)


def record(plan: Plan, out: Path | str = DATA, *, skip_existing: bool = False,
           workers: int = 1, progress: bool = False) -> Path | None:
    """Record ``plan`` into ``<out>/<problem>/``; the folder once the recording is whole,
    None while units held by other processes are missing (run again with
    ``skip_existing`` to finish it). Without ``skip_existing`` every unit is evaluated
    anew (parts of an earlier run are dropped; the old recording stays until the new one
    replaces it)."""
    folder = Path(out) / plan.problem
    folder.mkdir(parents=True, exist_ok=True)
    if not skip_existing:
        shutil.rmtree(folder / PARTS, ignore_errors=True)
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            jobs = [pool.submit(_worker, _spec(plan), str(folder), progress, skip_existing)
                    for _ in range(workers)]
            for job in jobs:
                job.result()
    else:
        _work(plan, folder, progress, skip_existing)
    with claim(folder / ".assemble.lock") as mine:
        if mine and _assemble(plan, folder, skip_existing):
            return folder
    return None


# command line ---------------------------------------------------------------------------
_ints = number_list(int, "integers")
_floats = number_list(float, "numbers")


def add_tabulate(sub: argparse._SubParsersAction):
    """The ``tabulate`` command (entry point of the group ``hpbench.commands``)."""
    p = sub.add_parser("tabulate", help="record a problem at every fidelity level for a "
                                        "surrogate (docs/surrogates.md)",
                       description="Evaluate N configurations of a problem at every "
                                   "fidelity level for several seeds and record values, test "
                                   "values and CPU seconds (docs/surrogates.md).")
    p.add_argument("problem", help="a registered problem")
    p.add_argument("--configs", type=int, required=True, metavar="N",
                   help="configurations: the best-known ones, then a scrambled Sobol design")
    p.add_argument("--seeds", type=_ints, default=[0, 1, 2],
                   help="problem seeds, comma-separated (default 0,1,2)")
    p.add_argument("--levels", type=_floats, default=None,
                   help="fidelity levels, comma-separated (default: every epoch of a "
                        "problem with checkpoints, else the optimizers' rungs and the ends)")
    p.add_argument("--set", type=setting, action="append", default=[], dest="settings",
                   metavar="KEY=VALUE", help="a problem setting (JSON value), repeatable")
    p.add_argument("--out", type=Path, default=DATA,
                   help="folder of recordings (default: the package's data folder)")
    p.add_argument("--sobol-seed", type=int, default=SOBOL_SEED,
                   help=f"seed of the scrambled Sobol design (default {SOBOL_SEED})")
    p.add_argument("--skip-existing", action="store_true",
                   help="keep units already recorded and units another process is "
                        "recording: resumes a stopped run, splits one over processes")
    p.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    p.add_argument("--quiet", action="store_true", help="no line per unit")
    return _cmd_tabulate


def _command(args: argparse.Namespace) -> str:
    parts = ["hpbench", "tabulate", args.problem, "--configs", str(args.configs),
             "--seeds", ",".join(map(str, args.seeds))]
    if args.levels is not None:
        parts += ["--levels", ",".join(f"{x:g}" for x in args.levels)]
    for key, value in args.settings:
        parts += ["--set", f"{key}={json.dumps(value)}"]
    if args.sobol_seed != SOBOL_SEED:
        parts += ["--sobol-seed", str(args.sobol_seed)]
    return shlex.join(parts)


def _cmd_tabulate(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError(f"tabulate: --workers must be an integer >= 1, got {args.workers}")
    t0 = time.process_time()
    plan = make_plan(args.problem, args.configs, args.seeds, args.levels,
                     dict(args.settings), args.sobol_seed, _command(args))
    folder = record(plan, args.out, skip_existing=args.skip_existing, workers=args.workers,
                    progress=not args.quiet)
    if folder is None:
        print(f"{args.problem}: other processes hold some units; the last of them to finish "
              f"writes the recording (if one was stopped, run again with --skip-existing)",
              file=sys.stderr)
        return 1
    meta = json.loads((folder / META).read_text())
    print(f"{folder}: {meta['n_rows']} rows ({plan.n} configs x {len(plan.seeds)} seeds x "
          f"{len(plan.levels)} levels), {meta['n_failed']} failed, "
          f"{meta['cpu_seconds']:.0f} CPU s of evaluations "
          f"({time.process_time() - t0:.0f} in this process)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hpbench.problems.surrogate.record …``: the command without the CLI."""
    parser = argparse.ArgumentParser(prog="hpbench")
    add_tabulate(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return _cmd_tabulate(args)
    except (UsageError, registry.UnknownNameError, registry.MissingDependencyError) as exc:
        print(f"hpbench: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
