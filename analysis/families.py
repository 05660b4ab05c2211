"""The family of each optimizer: the folder of ``hpbench.optimizers`` its registered class
lives in (``baselines``, ``local``, ``population``, ``model_based``, ``multifidelity``,
``gradient``, ``rl``, ``adapters``).

Figures of thirty or forty optimizers are read family by family: a family is one hue, one
panel when a figure is split into panels, one group of the legend. The family comes from the
registry (``hpbench.registry``: the module of the entry's class), not from the name, so a
new optimizer file in a family folder joins its family with no list to update. An optimizer
a plugin package registers belongs to that package (its top-level module); one the registry
does not know here — a folder analysed without the plugins that ran it — to ``"other"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

#: the family folders in the order figures show them: the baselines first (random search is
#: every figure's reference), the built-in methods by kind, then the adapters of libraries
FAMILIES = ("baselines", "model_based", "multifidelity", "population", "local", "gradient",
            "rl", "adapters")
OTHER = "other"
_PACKAGE = "hpbench.optimizers."


def family_of_origin(origin: str) -> str:
    """The family of a registry entry from its origin (``module.qualname``):
    ``hpbench.optimizers.<family>.<module>.<class>`` → ``<family>``; a class outside
    ``hpbench.optimizers`` → its top-level package; no module → ``"other"``."""
    if origin.startswith(_PACKAGE):
        parts = origin[len(_PACKAGE):].split(".")
        return parts[0] if len(parts) > 2 else OTHER
    top = origin.split(".", 1)[0]
    return top if top and top not in ("?", "__main__") and "." in origin else OTHER


def _registered() -> dict[str, str]:
    """Family of every optimizer the registry knows now (discovering it imports every
    optimizer module, once per process; their libraries stay unimported)."""
    from hpbench import registry

    # a module that fails to import is reported by the registry and its entries are absent
    return {name: family_of_origin(e.origin) for name, e in registry.entries("optimizer").items()}


def family_of(name: str) -> str:
    """The family of optimizer ``name``; ``"other"`` when the registry does not know it."""
    return _registered().get(_registry_name(name), OTHER)


def families(names: Iterable[str]) -> dict[str, str]:
    """{name: family} of ``names``."""
    known = _registered()
    return {n: known.get(_registry_name(n), OTHER) for n in names}


def _registry_name(label: str) -> str:
    """The registered name of an optimizer label: ``asha@8w`` (a cell on 8 simulated
    workers, docs/simulated-clock.md) is ``asha``."""
    return label.split("@", 1)[0]


def family_order(present: Iterable[str]) -> list[str]:
    """The families of ``present`` in figure order: ``FAMILIES``' order, then the others
    (plugin packages, ``"other"`` last) alphabetically."""
    found = set(present)
    known = [f for f in FAMILIES if f in found]
    rest = sorted(found - set(FAMILIES) - {OTHER})
    return known + rest + ([OTHER] if OTHER in found else [])


def by_family(names: Sequence[str], fams: dict[str, str]) -> list[str]:
    """``names`` grouped by family (in ``family_order``), keeping their order inside a
    family."""
    rank = {f: i for i, f in enumerate(family_order(fams[n] for n in names))}
    return sorted(names, key=lambda n: rank[fams[n]])  # sorted() is stable


#: headings of the families whose folder name is not the word
TITLES = {"model_based": "model-based", "multifidelity": "multi-fidelity",
          "rl": "reinforcement learning"}


def title(family: str) -> str:
    """A family as a heading: ``model_based`` → ``model-based``."""
    return TITLES.get(family, family.replace("_", "-"))
