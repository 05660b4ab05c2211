"""``Check``: one conformance check bound to one registered entry, and the ways to run them
(``run_checks`` without pytest, ``parametrize`` with it)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Check", "ConformanceError", "bind", "parametrize", "run_checks"]


class ConformanceError(AssertionError):
    """Several checks failed (``check_optimizer`` / ``check_problem`` run them all)."""


@dataclass(frozen=True)
class Check:
    """A check of the registered ``kind`` ("optimizer" or "problem") ``entry``.

    Calling it runs the check: it returns None or raises ``AssertionError`` whose message
    starts with the check's ``id``, e.g. ``optimizer:random:global_random_state``.
    """

    kind: str
    entry: str
    name: str
    func: Callable[[], None]

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.entry}:{self.name}"

    def __call__(self) -> None:
        try:
            self.func()
        except AssertionError as exc:
            message = str(exc) or "assertion failed"
            raise AssertionError(f"{self.id}: {message}").with_traceback(
                exc.__traceback__) from None

    def __repr__(self) -> str:
        return f"<Check {self.id}>"


def _names(names: str | Iterable[str]) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def bind(kind: str, table: Mapping[str, Callable[..., None]], names: str | Iterable[str],
         select: Iterable[str] | None, **kwargs: Any) -> list[Check]:
    """One ``Check`` per entry in ``names`` and check of ``table`` (``select``: only these
    check names), entry by entry; ``kwargs`` go to every check function."""
    chosen = list(table) if select is None else list(select)
    unknown = [c for c in chosen if c not in table]
    if unknown:
        raise ValueError(f"unknown {kind} check(s) {unknown}; known: {list(table)}")
    return [Check(kind, entry, check, functools.partial(table[check], entry, **kwargs))
            for entry in _names(names) for check in chosen]


def run_checks(checks: Sequence[Check]) -> None:
    """Run every check; raise ``ConformanceError`` listing all the failures, if any."""
    failures = []
    for check in checks:
        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        head = f"{len(failures)} of {len(checks)} conformance checks failed"
        raise ConformanceError(head + ":\n\n" + "\n\n".join(failures))


def parametrize(checks: Sequence[Check], argname: str = "check"):
    """``pytest.mark.parametrize(argname, checks)`` with each check's ``id`` as test id."""
    import pytest

    return pytest.mark.parametrize(argname, [pytest.param(c, id=c.id) for c in checks])
