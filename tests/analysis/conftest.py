"""Shared fixtures of the analysis tests: a results folder of every registered optimizer (as
``make bench`` yields them) and every registered figure of it, drawn once per session.

The tests that use them carry ``@pytest.mark.xdist_group("many_optimizers")`` so that
``make test`` (``--dist loadgroup``) draws the figures in one worker, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from matplotlib.figure import Figure

from tests.analysis.build import many_optimizers


def pytest_configure(config):
    # known under -p no:xdist too
    config.addinivalue_line("markers", "xdist_group(name): run in one xdist worker")


@dataclass
class Drawn:
    """One saved figure: the ``Figure`` as it was laid out for its PNG, the files, and the
    ``bbox_inches`` and ``dpi`` its PNG was saved with (``Figure.savefig``'s arguments)."""

    figure: Figure
    png: Path
    pdf: Path
    bbox_inches: object
    dpi: float


@pytest.fixture(scope="session")
def many_folder(tmp_path_factory) -> Path:
    """Every registered optimizer on two problems, two repeats (``build.many_optimizers``)."""
    return many_optimizers(tmp_path_factory.mktemp("many") / "results")


@dataclass
class Many:
    """Every registered figure of ``many_folder``: the analysis, the files per figure name
    (``registry.draw_all``) and each saved figure by its PNG's path relative to the figures
    folder (``ranks.png``, ``regret/fid.png``, …)."""

    analysis: object
    made: dict[str, list[Path]]
    drawn: dict[str, Drawn]


@pytest.fixture(scope="session")
def many_drawn(many_folder, tmp_path_factory) -> Many:
    """Draw every registered figure of ``many_folder``, catching each ``Figure`` as
    ``style.save`` writes it."""
    from hpbench.analysis import registry, style
    from hpbench.analysis.load import load
    from hpbench.analysis.report import analyse

    caught: list[tuple[Figure, list[Path]]] = []
    saved: dict[str, dict] = {}  # PNG path -> savefig's keywords
    save, savefig = style.save, Figure.savefig

    def keep(fig, stem, **kw):
        paths = save(fig, stem, **kw)
        caught.append((fig, paths))
        return paths

    def spy(fig, fname, **kw):
        saved[str(fname)] = kw
        return savefig(fig, fname, **kw)

    out = tmp_path_factory.mktemp("many_figures")
    a = analyse(load(many_folder), budgets=[1.0])  # one critical-difference diagram
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(style, "save", keep)
        mp.setattr(Figure, "savefig", spy)
        made = registry.draw_all(a, out)
    drawn = {}
    for fig, paths in caught:
        png = next(p for p in paths if p.suffix == ".png")
        pdf = next(p for p in paths if p.suffix == ".pdf")
        kw = saved[str(png)]
        drawn[png.relative_to(out).as_posix()] = Drawn(
            fig, png, pdf, kw.get("bbox_inches"), kw.get("dpi") or fig.dpi)
    return Many(a, made, drawn)
