"""The registry of problems and optimizers.

Entries are added with the ``register_problem`` / ``register_optimizer`` decorators in the
modules of the ``problems`` and ``optimizers`` packages (found by walking them), or in other
packages through the entry-point groups ``hpbench.problems`` and ``hpbench.optimizers``.
A name can be registered once; a second registration under the same name is refused.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import numbers
import pkgutil
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpbench.budget import Budget
from hpbench.problem import Fidelity, Problem
from hpbench.space import Space

#: the packages whose modules register the built-in entries (walked recursively; modules and
#: folders whose name starts with "_" are helpers and not imported by the walk)
PACKAGES = {"problem": "hpbench.problems", "optimizer": "hpbench.optimizers"}
ENTRY_POINT_GROUPS = {"problem": "hpbench.problems", "optimizer": "hpbench.optimizers"}


class UnknownNameError(ValueError):
    """A problem or optimizer name that is not registered."""


class MissingDependencyError(ImportError):
    """An entry whose optional library is not installed."""


@dataclass(frozen=True)
class Entry:
    kind: str  # "problem" or "optimizer"
    name: str
    factory: Callable[..., Any]
    description: str = ""
    tags: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()  # importable modules the entry needs
    extra: str = ""  # the pyproject extra that installs them
    settings: dict[str, Any] = field(default_factory=dict)  # fixed settings of this entry
    origin: str = ""
    #: a remark `hpbench list` prints with the entry (a problem family's measured caveat,
    #: e.g. the numbers behind an "uninformative" tag)
    note: str = ""
    #: how a problem's instances are indexed (``INSTANCES``): "seed" (a hashed seed per
    #: repeat) or "repeat" (the seed is the repeat index itself)
    instances: str = "seed"

    def missing(self) -> list[str]:
        missing = [p for p in self.packages if importlib.util.find_spec(p) is None]
        # an external optimizer's own environment (hpbench.external): ["make peers"] unbuilt
        unready = getattr(self.factory, "unready", None)
        return missing + unready() if unready is not None else missing

    @property
    def available(self) -> bool:
        return not self.missing()

    def require(self) -> None:
        missing = self.missing()
        if missing and getattr(self.factory, "unready", None) is not None:
            raise MissingDependencyError(
                f"{self.kind} {self.name!r} runs in its own environment "
                f"{self.factory.peer.env_dir}, which is not built (run `make peers`)")
        if missing:
            hint = f"pip install 'hpbench[{self.extra}]'" if self.extra else \
                f"pip install {' '.join(missing)}"
            raise MissingDependencyError(
                f"{self.kind} {self.name!r} needs {', '.join(missing)}, which is not installed "
                f"({hint})")

    @property
    def requires(self) -> frozenset[str]:
        """Problem capabilities an optimizer entry requires."""
        return frozenset(getattr(self.factory, "requires", frozenset()))

    def code_version(self) -> str:
        """A short hash of the code behind the entry: the source files of the modules that
        define it (every class of its MRO, so a shared base such as ``SteppedOptimizer``
        counts) and the installed versions of the libraries it needs. A change to either may
        change its results, so a stored cell made with other code is redone."""
        return _code_version(self.factory, self.packages)


@functools.cache
def _code_version(factory: Any, packages: tuple[str, ...]) -> str:
    classes = factory.__mro__ if isinstance(factory, type) else (factory,)
    modules = dict.fromkeys(getattr(c, "__module__", "") for c in classes)
    digest = hashlib.blake2b(digest_size=8)
    # an external optimizer's declaration and worker scripts (hpbench.external)
    for path in getattr(factory, "code_files", ()):
        with open(path, "rb") as fh:
            digest.update(fh.read())
    for name in modules:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path and name.split(".")[0] not in ("builtins", "abc", "typing"):
            with open(path, "rb") as fh:
                digest.update(fh.read())
    dists = _distributions()
    for package in packages:
        for dist in dists.get(package, ()):
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                digest.update(f"{dist}=={importlib.metadata.version(dist)}".encode())
    return digest.hexdigest()


@functools.cache
def _distributions() -> Mapping[str, list[str]]:
    return importlib.metadata.packages_distributions()  # import name -> distributions


_ENTRIES: dict[str, dict[str, Entry]] = {"problem": {}, "optimizer": {}}
_DISCOVERED = {"problem": False, "optimizer": False}
BROKEN: dict[str, str] = {}  # module name -> import error, reported by `hpbench list`


def _origin(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _register(kind: str, name: str, factory: Callable[..., Any], **meta: Any) -> Entry:
    if not isinstance(name, str) or not name or name != name.strip():
        raise ValueError(f"{kind} names must be non-empty strings without surrounding spaces, "
                         f"got {name!r}")
    entry = Entry(kind=kind, name=name, factory=factory, origin=_origin(factory),
                  **{k: (tuple(v) if k in ("tags", "packages") else v) for k, v in meta.items()})
    table = _ENTRIES[kind]
    old = table.get(name)
    if old is not None and (old.origin != entry.origin or old.settings != entry.settings):
        raise ValueError(f"{kind} {name!r} is already registered by {old.origin}; "
                         f"refusing a second one from {entry.origin}")
    table[name] = entry
    return entry


#: how a problem family indexes its instances: "seed", a problem seed hashed from (master
#: seed, problem, repeat) (``hpbench.seeds.problem_seed``), from which the problem draws its
#: instance; "repeat", the seed is the repeat index itself, for families with a published
#: list of instances (COCO's BBOB: repeat k is instance k % 15 + 1)
INSTANCES = ("seed", "repeat")


def register_problem(name: str, factory: Callable[..., Problem] | None = None, *,
                     description: str = "", tags: Iterable[str] = (),
                     packages: Iterable[str] = (), extra: str = "",
                     settings: dict[str, Any] | None = None, note: str = "",
                     instances: str = "seed"):
    """Register a problem factory ``factory(seed=None, **settings) -> Problem``.

    Used as a decorator on a ``Problem`` subclass or a function, or called with ``factory``.
    ``note`` is a remark `hpbench list problems` prints with it; ``instances`` says what
    seed a cell builds it with (``INSTANCES``).
    """
    if instances not in INSTANCES:
        raise ValueError(f"problem {name!r}: instances must be one of {INSTANCES}, got "
                         f"{instances!r}")

    def deco(f):
        _register("problem", name, f, description=description or _doc_line(f), tags=tags,
                  packages=packages, extra=extra, settings=dict(settings or {}), note=note,
                  instances=instances)
        return f
    return deco if factory is None else deco(factory)


def register_optimizer(name: str, *, description: str = "", tags: Iterable[str] = (),
                       packages: Iterable[str] = (), extra: str = "",
                       settings: dict[str, Any] | None = None, note: str = ""):
    """Register an ``Optimizer`` subclass under ``name`` (stackable: one class, many names,
    each with its own fixed ``settings``); ``note`` is a remark `hpbench list` prints."""
    def deco(cls):
        _register("optimizer", name, cls, description=description or _doc_line(cls),
                  tags=tags, packages=packages, extra=extra, settings=dict(settings or {}),
                  note=note)
        return cls
    return deco


def _doc_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _discover(kind: str) -> None:
    if _DISCOVERED[kind]:
        return
    _DISCOVERED[kind] = True
    package_name = PACKAGES[kind]
    try:
        package = importlib.import_module(package_name)
    except ImportError as exc:  # pragma: no cover - the packages ship with hpbench
        BROKEN[package_name] = str(exc)
        package = None
    if package is not None:
        for module in _modules(package):
            try:
                importlib.import_module(module)
            except Exception as exc:  # a broken module must not break the others
                BROKEN[module] = f"{type(exc).__name__}: {exc}"
                warnings.warn(f"hpbench: could not import {module}: {exc}", stacklevel=2)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS[kind]):
        try:
            loaded = ep.load()
        except Exception as exc:
            BROKEN[ep.value] = f"{type(exc).__name__}: {exc}"
            warnings.warn(f"hpbench: could not load entry point {ep.value}: {exc}", stacklevel=2)
            continue
        if callable(loaded) and not isinstance(loaded, type):
            loaded()  # a function that registers entries


def _modules(package: Any) -> list[str]:
    """Every module below ``package``, family folders included, in a stable order; names
    starting with "_" (helpers, or a folder of them) are skipped."""
    found = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        name = f"{package.__name__}.{info.name}"
        if info.ispkg:
            found += _modules(importlib.import_module(name))
        else:
            found.append(name)
    return found


def unregister(kind: str, name: str) -> None:
    """Remove entry ``name`` (a test's or a session's temporary registration); no error if
    it is not registered."""
    _ENTRIES[kind].pop(name, None)


def rediscover() -> None:
    """Forget the discovery state (after ``hpbench new`` wrote a module, for instance)."""
    importlib.invalidate_caches()
    for kind in _DISCOVERED:
        _DISCOVERED[kind] = False


def entries(kind: str) -> dict[str, Entry]:
    _discover(kind)
    return dict(sorted(_ENTRIES[kind].items()))


def get_entry(kind: str, name: str) -> Entry:
    table = entries(kind)
    if name not in table:
        raise UnknownNameError(unknown_name_message(kind, name, table,
                                                    listing=listed(kind, len(table))))
    return table[name]


#: the command that lists every registered name of a kind
LISTINGS = {"problem": "hpbench list problems", "optimizer": "hpbench list optimizers"}
#: an unknown-name error spells out the valid names when there are at most this many;
#: longer lists (179 problems) are left to its ``listing``
SPELLED_OUT = 12


def listed(kind: str, n: int) -> str:
    """Where the ``n`` registered names of ``kind`` are listed, for an error message."""
    return f"`{LISTINGS[kind]}` lists all {n}"


def unknown_name_message(kind: str, name: str, names: Iterable[str], *,
                         listing: str | None = None, also: str = "") -> str:
    """One line: the unknown ``name``, its close matches, and where the valid names are:
    spelled out when there are few or no ``listing`` says where to find them (``also`` is
    added to them, e.g. "or a path to a .toml file"), else ``listing`` (``listed``)."""
    names = list(names)
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    if listing is None or len(names) <= SPELLED_OUT:
        where = "valid: " + (", ".join([*names, also] if also else names) or "none")
    else:
        where = listing
    return f"unknown {kind} {name!r}{hint} ({where})"


def instances_by_repeat(name: str) -> bool:
    """Whether problem ``name`` is registered with ``instances="repeat"`` (False for a name
    that is not registered: building it fails with the unknown-name error)."""
    _discover("problem")
    entry = _ENTRIES["problem"].get(name)
    return entry is not None and entry.instances == "repeat"


def list_problems() -> list[str]:
    """Names of all registered problems."""
    return list(entries("problem"))


def list_optimizers() -> list[str]:
    """Names of all registered optimizers."""
    return list(entries("optimizer"))


def make_problem(name: str, seed: int | None = None, **settings: Any) -> Problem:
    """Build problem ``name``: ``seed=None`` is the canonical published function, an integer
    seed that repeat's instance."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
                             or seed < 0):
        raise ValueError(f"seed must be None (the canonical problem) or an integer >= 0, "
                         f"got {seed!r}")
    entry = get_entry("problem", name)
    entry.require()
    problem = entry.factory(seed=seed, **{**entry.settings, **settings})
    if not problem.name:
        problem.name = name
    return problem


def make_optimizer(name: str, space: Space, *, seed: int | None, budget: Budget | float,
                   fidelity: Fidelity | None = None, **settings: Any):
    """Build optimizer ``name`` for ``space``."""
    entry = get_entry("optimizer", name)
    entry.require()
    return entry.factory(space, seed=seed, budget=budget, fidelity=fidelity,
                         **{**entry.settings, **settings})
