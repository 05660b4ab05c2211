"""Which suite a results folder holds after a run: a folder belongs to one suite.

A run into a folder that already holds a ``suite.toml`` may repeat it, run part of it, or
extend it (more problems, optimizers or repeats, every shared cell defined the same way); any
other change (budget, seed, settings, batch, timeout of a cell both define) would leave cells
of two experiments under one ``suite.toml``, so it is refused unless the user asks to replace
the folder's suite. ``reconcile`` decides which; it neither reads nor writes files.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hpbench.cell import Cell
from hpbench.suite import Suite, SuiteError

#: the fields of a cell that define its experiment, with the words that name them
DEFINING = (("budget", "budget"), ("master_seed", "seed"), ("batch", "batch"),
            ("timeout", "timeout"), ("settings", "optimizer settings"),
            ("problem_settings", "problem settings"))


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, default=str) if value else "none"
    return "none" if value is None else str(value)


def _by_key(suite: Suite) -> dict[str, Cell]:
    return {c.key: c for c in suite.cells()}


def difference(stored: Suite, new: Suite) -> str | None:
    """The first way a cell both suites define differs, in words; None when none does."""
    if stored.name != new.name:
        return f"suite name {stored.name!r} there, {new.name!r} asked"
    old = _by_key(stored)
    for key, cell in _by_key(new).items():
        if key not in old:
            continue
        for attr, words in DEFINING:
            a, b = getattr(old[key], attr), getattr(cell, attr)
            if a != b:
                return f"{words} of {key}: {_shown(a)} there, {_shown(b)} asked"
    return None


def _table_clash(a: dict[str, dict], b: dict[str, dict], words: str) -> str | None:
    for name in sorted(set(a) & set(b)):
        if a[name] != b[name]:
            return f"{words} of {name}: {_shown(a[name])} there, {_shown(b[name])} asked"
    return None


def reconcile(stored: Suite | None, new: Suite, *, replace_suite: bool = False,
              where: str = "the folder") -> Suite | None:
    """The suite to write as the folder's ``suite.toml`` (None: keep the stored one).

    Same cells or fewer: keep the stored suite. More cells, all the stored ones among them:
    the new suite. Other problem × optimizer pairs beside the stored ones: both, the new
    suite's parts as groups. Anything else raises ``SuiteError`` naming the difference,
    unless ``replace_suite``."""
    if stored is None or replace_suite:
        return new
    if stored.to_toml() == new.to_toml():
        return None
    why = difference(stored, new)
    if why is None:
        old, asked = set(_by_key(stored)), set(_by_key(new))
        if asked <= old:
            return None
        if old <= asked:
            return new
        merged, why = _merge(stored, new)
        if merged is not None:
            return merged
    raise SuiteError(f"{where} holds another experiment of suite {stored.name!r} ({why}); run "
                     "into another --out, or pass --replace-suite to make this the folder's "
                     "suite (its cells that differ are set aside and redone)")


def _pairs(suite: Suite) -> set[tuple[str, str, int | None]]:
    # (a cell on K simulated workers is another pair than the optimizer's without)
    own = {(p, o, k) for p in suite.problems for o in suite.optimizers
           for k in suite.sim_workers}
    return own.union(*(_pairs(g) for g in suite.groups))


def _merge(stored: Suite, new: Suite) -> tuple[Suite | None, str]:
    """The stored suite with the new one's cross products added as groups, when they share
    no problem × optimizer pair and agree on seed and settings; else None and why not."""
    if _pairs(stored) & _pairs(new):
        return None, ("it runs some of the same problem × optimizer pairs with other repeats, "
                      "and one suite.toml cannot hold both")
    if stored.seed != new.seed:
        return None, f"seed {stored.seed} there, {new.seed} asked"
    clash = _table_clash(stored.settings, new.settings, "optimizer settings") or _table_clash(
        stored.problem_settings, new.problem_settings, "problem settings")
    if clash:
        return None, clash
    parts = tuple(replace(p, groups=(), description="") for p in (new, *new.groups))
    return replace(stored, groups=stored.groups + parts,
                   settings={**stored.settings, **new.settings},
                   problem_settings={**stored.problem_settings, **new.problem_settings},
                   plugins=tuple(dict.fromkeys(stored.plugins + new.plugins))), ""
