"""``hpbench new optimizer|problem NAME``: write a working, documented template module."""

from __future__ import annotations

import importlib
import importlib.resources
import keyword
import re
from pathlib import Path

from hpbench import registry

NAME_RULE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")


class TemplateError(ValueError):
    """A name that cannot become a module, or one that exists already."""


def _package_dir(kind: str) -> Path:
    package = importlib.import_module(registry.PACKAGES[kind])
    return Path(next(iter(package.__path__)))


def write_template(kind: str, name: str, *, folder: Path | None = None) -> Path:
    """Write ``<folder>/<module>.py`` registering ``name``; refuse to overwrite anything."""
    if not NAME_RULE.match(name):
        raise TemplateError(f"{kind} name must be lowercase letters, digits and '-' "
                            f"(starting with a letter), got {name!r}")
    module = name.replace("-", "_")
    if keyword.iskeyword(module):
        raise TemplateError(f"{kind} name {name!r} is a Python keyword")
    if name in registry.entries(kind):
        raise TemplateError(f"{kind} {name!r} is already registered")
    folder = folder or _package_dir(kind)
    path = folder / f"{module}.py"
    if path.exists():
        raise TemplateError(f"{path} already exists")
    text = (importlib.resources.files("hpbench") / "templates" / f"{kind}.py.tmpl").read_text()
    cls = "".join(part.capitalize() for part in module.split("_"))
    path.write_text(text.replace("{{name}}", name).replace("{{Class}}", cls))
    registry.rediscover()
    return path
