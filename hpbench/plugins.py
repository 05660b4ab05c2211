"""Plugins named on the command line (``--plugin``) or in a suite (``plugins = [...]``):
modules that register problems or optimizers when imported.

Installed packages add entries through the entry-point groups ``hpbench.problems`` and
``hpbench.optimizers``; a plugin is for code that is not installed — a module on the path, or
a ``.py`` file — such as a problem written in a script. Every process that builds a cell
imports its plugins first (the driver, every worker of every backend, every evaluation
child), so a problem registered in a script works under ``--timeout``, ``--batch`` and
``--workers`` as it does serially.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = ["PluginError", "load_plugins", "normalize"]


class PluginError(ValueError):
    """A plugin that cannot be imported."""


def _is_file(name: str) -> bool:
    return name.endswith(".py") or "/" in name or "\\" in name


def normalize(name: str, base: Path | None = None) -> str:
    """A plugin's name as every process can import it: a module name as given, a file as its
    absolute path (relative to ``base``, else to the current folder)."""
    if not isinstance(name, str) or not name.strip():
        raise PluginError(f"a plugin must be a module name or a .py file, got {name!r}")
    if not _is_file(name):
        return name
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def _load_file(path: str) -> None:
    """Import a ``.py`` file under a module name made from its path (the same name in every
    process, so entries it registers keep one origin)."""
    tag = hashlib.blake2b(path.encode(), digest_size=4).hexdigest()
    module = f"hpbench_plugin_{Path(path).stem}_{tag}"
    if module in sys.modules:
        return
    if not Path(path).is_file():
        raise PluginError(f"plugin file {path} does not exist")
    spec = importlib.util.spec_from_file_location(module, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[module] = loaded
    try:
        spec.loader.exec_module(loaded)
    except BaseException:
        del sys.modules[module]
        raise


def load_plugins(names: Iterable[str]) -> None:
    """Import each plugin once per process; ``PluginError`` (one line) when one fails."""
    for name in names:
        try:
            if _is_file(name):
                _load_file(name)
            else:
                importlib.import_module(name)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"cannot import plugin {name!r}: "
                              f"{type(exc).__name__}: {exc}") from None
