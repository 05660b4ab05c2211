"""Suites: which problems meet which optimizers, how often, under which budget.

A suite is a TOML file::

    name = "smoke"
    problems = ["branin", "hartmann6", "ackley-*"]   # names or shell-style patterns
    optimizers = ["random", "sobol"]
    repeats = 3
    budget = 20                 # full-fidelity-equivalent evaluations
    budget_unit = "evaluations" # or "cost", "seconds"
    seed = 0                    # the master seed
    batch = 1                   # optional: suggestions asked and evaluated per round
    timeout = 60                # optional: seconds per evaluation and per optimizer call
    sim_workers = [1, 8]        # optional: simulated parallel workers (int or list; a list
                                # multiplies the cells: asha@1w, asha@8w; docs/simulated-clock.md)
    plugins = ["my_problems", "scripts/extra.py"]   # optional: modules that register entries
    exclude_tags = ["uninformative"]  # optional: patterns skip problems with these tags

    [[groups]]                  # optional: more problems with their own optimizers
    problems = ["sklearn-svc-breast_cancer-error"]   # (and repeats, budget, budget_unit,
    optimizers = ["random", "tpe"]                   #  batch, timeout, description)
    budget = 30

    [settings.sobol]            # optional per-optimizer settings (in every group)
    scramble = true

``exclude_tags`` leaves out of what a problem *pattern* matches every problem whose registry
entry carries one of the tags (the ``paper`` suite's ``"*"`` skips the tasks the shipped
spread tables flag ``uninformative``, ``problems/spread.py``); a problem named exactly is run
whatever its tags, since it was asked for by name. A tag no problem carries excludes nothing.

A group is a further cross product of problems × optimizers run into the same results
folder, inheriting every key it does not set. It is how one suite gives expensive problems
(scikit-learn, PyTorch) a smaller budget and fewer optimizers than cheap synthetic ones while
the analysis still reads one folder; a problem / optimizer / repeat may appear in one group
only. Command-line overrides of repeats, budget, seed, batch and timeout reach every group;
naming problems or optimizers on the command line asks for exactly that cross product, so it
drops the groups.

The packaged suites (``default``, ``smoke``, ``paper``) live in ``hpbench/suites``.
"""

from __future__ import annotations

import fnmatch
import importlib.resources
import math
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpbench.budget import UNITS, Budget
from hpbench.cell import Cell
from hpbench.optimizer import check_settings
from hpbench.plugins import PluginError, load_plugins, normalize
from hpbench.registry import entries, listed, make_problem, unknown_name_message
from hpbench.store import ResultsDir

KEYS = {"name", "description", "problems", "optimizers", "repeats", "budget", "budget_unit",
        "seed", "batch", "timeout", "settings", "problem_settings", "groups", "plugins",
        "exclude_tags", "sim_workers"}
#: a suite's name names its folder: letters, digits, '.', '_' and '-' only, no path
NAME_RULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
#: the most cells a suite may plan (``n_cells``): more is a typo, not an experiment
MAX_CELLS = 200_000
#: the keys a ``[[groups]]`` entry may set; the rest it inherits from the suite
GROUP_KEYS = {"description", "problems", "optimizers", "repeats", "budget", "budget_unit",
              "batch", "timeout", "exclude_tags", "sim_workers"}


class SuiteError(ValueError):
    """A suite file or option that does not make sense."""


@dataclass(frozen=True)
class Suite:
    name: str
    problems: tuple[str, ...]
    optimizers: tuple[str, ...]
    repeats: int = 3
    budget: Budget = field(default_factory=lambda: Budget(50))
    seed: int = 0
    batch: int | None = None
    timeout: float | None = None
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    #: further cross products run into the same folder (sub-suites of the same name, seed,
    #: settings and problem settings; see the module docstring)
    groups: tuple[Suite, ...] = ()
    #: modules or .py files imported before the suite's names are looked up, in every
    #: process that builds a cell (``hpbench.plugins``)
    plugins: tuple[str, ...] = ()
    #: simulated parallel workers of each cell (``hpbench.simclock``); None: not simulated.
    #: Several values multiply the cells (labelled ``<optimizer>@<K>w``)
    sim_workers: tuple[int | None, ...] = (None,)

    def n_cells(self) -> int:
        """How many cells ``cells()`` gives, without making them."""
        own = len(self.problems) * len(self.optimizers) * len(self.sim_workers) * self.repeats
        return own + sum(g.n_cells() for g in self.groups)

    def cells(self) -> list[Cell]:
        own = [Cell(problem=p, optimizer=o, budget=self.budget, repeat=r, master_seed=self.seed,
                    suite=self.name, batch=self.batch, timeout=self.timeout,
                    settings=dict(self.settings.get(o, {})),
                    problem_settings=dict(self.problem_settings.get(p, {})),
                    plugins=self.plugins, sim_workers=k)
               for p in self.problems for o in self.optimizers for k in self.sim_workers
               for r in range(self.repeats)]
        return own + [c for g in self.groups for c in g.cells()]

    def all_problems(self) -> tuple[str, ...]:
        """Every problem of the suite and its groups, in order of first appearance."""
        return tuple(dict.fromkeys(p for s in (self, *self.groups) for p in s.problems))

    def all_optimizers(self) -> tuple[str, ...]:
        """Every optimizer of the suite and its groups, in order of first appearance."""
        return tuple(dict.fromkeys(o for s in (self, *self.groups) for o in s.optimizers))

    def _cross_toml(self, *, seed: bool) -> list[str]:
        """The TOML lines of this suite's (or group's) own cross product."""
        lines = [f"description = {_toml(self.description)}"] if self.description else []
        lines += [f"problems = {_toml(list(self.problems))}",
                  f"optimizers = {_toml(list(self.optimizers))}",
                  f"repeats = {self.repeats}",
                  f"budget = {_toml(self.budget.amount)}",
                  f"budget_unit = {_toml(self.budget.unit)}"]
        if seed:
            lines.append(f"seed = {self.seed}")
        if self.batch is not None:
            lines.append(f"batch = {self.batch}")
        if self.timeout is not None:
            lines.append(f"timeout = {_toml(self.timeout)}")
        if self.sim_workers != (None,):
            lines.append(f"sim_workers = {_toml(list(self.sim_workers))}")
        return lines

    def to_toml(self) -> str:
        lines = [f"name = {_toml(self.name)}", *self._cross_toml(seed=True)]
        if self.plugins:
            lines.append(f"plugins = {_toml(list(self.plugins))}")
        for group in self.groups:
            lines += ["\n[[groups]]", *group._cross_toml(seed=False)]
        for table, content in (("settings", self.settings),
                               ("problem_settings", self.problem_settings)):
            for key, values in content.items():
                lines.append(f"\n[{table}.{_toml(key)}]")
                lines += [f"{k} = {_toml(v)}" for k, v in values.items()]
        return "\n".join(lines) + "\n"


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml(x) for x in v) + "]"
    return str(v)


def packaged_suites() -> list[str]:
    folder = importlib.resources.files("hpbench") / "suites"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def suite_description(source: str) -> str:
    """The ``description`` of a packaged suite (by name) or of a suite file, read without
    the registry (what ``hpbench list suites`` shows)."""
    data, _ = _read_toml(source)
    return str(data.get("description", ""))


def _read_toml(source: str) -> tuple[dict, str]:
    path = Path(source)
    if source.endswith(".toml") or path.exists():
        if not path.is_file():
            raise SuiteError(f"suite file {source} does not exist")
        text, origin = path.read_text(), str(path)
    else:
        resource = importlib.resources.files("hpbench") / "suites" / f"{source}.toml"
        if not resource.is_file():
            raise SuiteError(unknown_name_message("suite", source, packaged_suites(),
                                                  also="or a path to a .toml file"))
        text, origin = resource.read_text(), f"packaged suite {source}"
    try:
        return tomllib.loads(text), origin
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"malformed suite file {origin}: {exc}") from None


def _expand(kind: str, patterns: Iterable[str], origin: str, resolve: bool = True,
            exclude_tags: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Names from names and shell patterns, checked against the registry (``resolve``; else
    taken as written, which is how a stored ``suite.toml`` is read without its plugins).
    A pattern skips the entries that carry one of ``exclude_tags``; an exact name does not."""
    table = entries(kind) if resolve else {}
    names: list[str] = []
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise SuiteError(f"{origin}: {kind} names must be strings, got {pattern!r}")
        if not resolve:
            matched = [pattern]
        elif any(ch in pattern for ch in "*?["):
            matched = fnmatch.filter(table, pattern)
            if not matched:
                raise SuiteError(f"{origin}: pattern {pattern!r} matches no {kind} "
                                 f"({listed(kind, len(table))})")
            matched = [m for m in matched if not exclude_tags.intersection(table[m].tags)]
        elif pattern in table:
            matched = [pattern]
        else:
            raise SuiteError(unknown_name_message(kind, pattern, table,
                                                  listing=listed(kind, len(table))))
        names += [m for m in matched if m not in names]
    if not names:
        left_out = f" (exclude_tags {sorted(exclude_tags)} left out all they matched)" \
            if exclude_tags else ""
        raise SuiteError(f"{origin}: no {kind}s selected{left_out}")
    return tuple(names)


def _exclude_tags(data: dict, origin: str) -> frozenset[str]:
    tags = data.get("exclude_tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t.strip() for t in tags):
        raise SuiteError(f"{origin}: exclude_tags must be a list of tag names (strings), "
                         f"got {tags!r}")
    return frozenset(tags)


def _positive_int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SuiteError(f"{what} must be an integer > 0, got {value!r}")
    return value


def _cross(data: dict, origin: str, resolve: bool = True) -> dict[str, Any]:
    """The validated cross-product keys of a suite or of one of its groups."""
    for key in ("problems", "optimizers"):
        if key not in data:
            raise SuiteError(f"{origin}: missing {key!r} (a list of names)")
        if not isinstance(data[key], list):
            raise SuiteError(f"{origin}: {key!r} must be a list of names, got {data[key]!r}")
    problems = _expand("problem", data["problems"], origin, resolve, _exclude_tags(data, origin))
    optimizers = _expand("optimizer", data["optimizers"], origin, resolve)
    repeats = _positive_int(data.get("repeats", 3), "repeats")
    unit = data.get("budget_unit", "evaluations")
    if unit not in UNITS:
        raise SuiteError(f"budget_unit must be one of {list(UNITS)}, got {unit!r}")
    amount = data.get("budget", 50)
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not amount > 0 \
            or not math.isfinite(amount):
        raise SuiteError(f"budget must be a finite number > 0, got {amount!r}")
    if unit == "evaluations" and not float(amount).is_integer():
        raise SuiteError(f"an evaluations budget must be a whole number, got {amount!r} (a "
                         "fractional budget is counted in cost units: budget_unit = \"cost\")")
    batch = data.get("batch")
    if batch is not None:
        batch = _positive_int(batch, "batch")
    timeout = data.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or not 0 < timeout < math.inf):
        raise SuiteError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return {"problems": problems, "optimizers": optimizers, "repeats": repeats,
            "budget": Budget(float(amount), unit), "batch": batch,
            "timeout": float(timeout) if timeout is not None else None,
            "description": str(data.get("description", "")),
            "sim_workers": _sim_workers(data.get("sim_workers"), batch)}


def _sim_workers(value: Any, batch: int | None) -> tuple[int | None, ...]:
    """``sim_workers`` (an int or a list of ints, each > 0) as the cells' values."""
    if value is None:
        return (None,)
    values = value if isinstance(value, list | tuple) else [value]
    if not values or any(isinstance(k, bool) or not isinstance(k, int) or k <= 0
                         for k in values):
        raise SuiteError(f"sim_workers must be a positive integer or a list of them (the "
                         f"number of simulated workers), got {value!r}")
    if batch is not None:
        raise SuiteError(f"sim_workers ({value!r}) and batch ({batch}) cannot be combined: "
                         "the simulated workers decide how many configs are asked at once")
    return tuple(dict.fromkeys(values))


def _group_crosses(data: dict, groups: list[dict], overrides: dict[str, Any], origin: str,
                   resolve: bool) -> list[dict[str, Any]]:
    """The cross products of the ``[[groups]]``: each inherits the suite's keys it does not
    set, and the command line's overrides reach all of them."""
    inherited = {k: data[k] for k in GROUP_KEYS - {"description", "problems", "optimizers"}
                 if k in data}
    crosses = []
    for i, group in enumerate(groups, 1):
        where = f"{origin} [[groups]] #{i}"
        stray = set(group) - GROUP_KEYS
        if stray:
            raise SuiteError(f"{where}: unknown key(s) {sorted(stray)}; "
                             f"allowed: {sorted(GROUP_KEYS)}")
        crosses.append(_cross({**inherited, **group,
                               **{k: v for k, v in overrides.items() if k in GROUP_KEYS}},
                              where, resolve))
    return crosses


def _check_pairs(crosses: list[dict[str, Any]], origin: str) -> None:
    seen: dict[tuple[str, str], int] = {}
    for i, cross in enumerate(crosses):
        for pair in ((p, Cell(p, o, cross["budget"], sim_workers=k).label)
                     for p in cross["problems"] for o in cross["optimizers"]
                     for k in cross["sim_workers"]):
            if pair in seen:
                raise SuiteError(f"{origin}: the suite runs {pair[0]}/{pair[1]} twice "
                                 f"(in {_part(seen[pair])} and {_part(i)}); "
                                 "a problem × optimizer pair may appear in one group only")
            seen[pair] = i


def _settings_tables(data: dict, file_parts: list[dict], crosses: list[dict[str, Any]],
                     origin: str, resolve: bool) -> dict[str, dict[str, dict[str, Any]]]:
    """``settings`` and ``problem_settings``, each restricted to the names the suite runs."""
    selected = {"problem": {p for c in crosses for p in c["problems"]},
                "optimizer": {o for c in crosses for o in c["optimizers"]}}
    tables = {}
    for key, kind in (("settings", "optimizer"), ("problem_settings", "problem")):
        table = data.get(key, {})
        if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
            raise SuiteError(f"{origin}: [{key}.<{kind}>] tables expected")
        # names the file itself runs are fine even when the command line selects others
        # (`--problems branin` on a suite with settings for a problem of a dropped group)
        declared = {n for d in file_parts if isinstance(d.get(f"{kind}s"), list)
                    for n in _expand(kind, d[f"{kind}s"], origin, resolve)}
        stray = set(table) - declared - selected[kind]
        if stray:
            raise SuiteError(f"{origin}: [{key}] names {kind}(s) not in the suite: "
                             f"{sorted(stray)}")
        tables[key] = {n: v for n, v in table.items() if n in selected[kind]}
    return tables


def load_suite(source: str = "default", *, resolve: bool = True, **overrides: Any) -> Suite:
    """Load a packaged suite by name or a TOML file by path, then apply command-line
    ``overrides`` (problems, optimizers, repeats, budget, budget_unit, seed, batch,
    timeout, sim_workers, plugins; None values are ignored). Overrides of the cross-product
    keys reach every group; naming problems or optimizers drops the groups (see the module
    docstring). The suite's plugins are imported first; every name, setting and problem setting is
    checked against the registry. ``resolve=False`` takes names and settings as written (no
    registry, no plugins: for reading a stored ``suite.toml``)."""
    data, origin = _read_toml(source)
    unknown = set(data) - KEYS
    if unknown:
        raise SuiteError(f"{origin}: unknown key(s) {sorted(unknown)}; allowed: {sorted(KEYS)}")
    overrides = {k: v for k, v in overrides.items() if v is not None}
    plugins = _plugins(data, overrides.pop("plugins", ()), source, origin, resolve)
    groups = data.get("groups", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise SuiteError(f"{origin}: 'groups' must be [[groups]] tables")
    file_parts = [data, *groups]
    if "problems" in overrides or "optimizers" in overrides:
        groups = []
    data = {**data, **overrides}
    name = data.get("name") or Path(source).stem
    if not isinstance(name, str) or not NAME_RULE.match(name) or ".." in name:
        raise SuiteError(f"{origin}: name must be letters, digits, '.', '_' and '-' (it names "
                         f"the results folder), got {name!r}")
    top = _cross(data, origin, resolve)
    crosses = _group_crosses(data, groups, overrides, origin, resolve)
    _check_pairs([top, *crosses], origin)
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SuiteError(f"seed must be an integer >= 0, got {seed!r}")
    tables = _settings_tables(data, file_parts, [top, *crosses], origin, resolve)
    if resolve:
        _check_settings(tables, origin)
    common = {"name": name, "seed": seed, "plugins": plugins, **tables}
    return Suite(**common, **top,
                 groups=tuple(Suite(**common, **cross) for cross in crosses))


def _plugins(data: dict, extra: Iterable[str], source: str, origin: str,
             resolve: bool) -> tuple[str, ...]:
    """The suite's plugins (files relative to the suite file) and the command line's
    (relative to the current folder), imported now unless ``resolve`` is off."""
    listed = data.get("plugins", [])
    if not isinstance(listed, list) or isinstance(extra, str):
        raise SuiteError(f"{origin}: plugins must be a list of module names or .py files, "
                         f"got {listed if not isinstance(listed, list) else extra!r}")
    base = Path(source).resolve().parent if Path(source).is_file() else None
    try:
        names = [normalize(n, base) for n in listed] + [normalize(n) for n in extra]
        names = list(dict.fromkeys(names))
        if resolve:
            load_plugins(names)
    except PluginError as exc:
        raise SuiteError(f"{origin}: {exc}") from None
    return tuple(names)


def _check_settings(tables: dict[str, dict[str, dict[str, Any]]], origin: str) -> None:
    """Every ``[settings.<optimizer>]`` against the optimizer's declared settings and
    choices, and every ``[problem_settings.<problem>]`` by building the problem with it."""
    for name, settings in tables["settings"].items():
        try:
            check_settings(name, settings)
        except ValueError as exc:
            raise SuiteError(f"{origin}: [settings.{name}]: {exc}") from None
    for name, settings in tables["problem_settings"].items():
        try:
            make_problem(name, seed=None, **settings)
        except (TypeError, ValueError) as exc:
            raise SuiteError(f"{origin}: [problem_settings.{name}]: "
                             f"{_setting_error(exc)}") from None


def _setting_error(exc: Exception) -> str:
    text = str(exc)
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
    return f"unknown setting {unexpected.group(1)!r}" if unexpected else text


def _part(i: int) -> str:
    return "the top level" if i == 0 else f"group #{i}"


def stored_suite(results: ResultsDir) -> Suite | None:
    """The suite a results folder was run with (its ``suite.toml``), names taken as written:
    a folder is read without the plugins that ran it. None when there is none;
    ``SuiteError`` when it cannot be read."""
    if not results.suite_file.is_file():
        return None
    return load_suite(str(results.suite_file), resolve=False)


def with_name(suite: Suite, name: str) -> Suite:
    return replace(suite, name=name)
