"""The figure registry: a figure is one function and one decorator, in any module of
``hpbench.analysis``.

    @figure("ranks", section="aggregates", order=20,
            caption="mean rank over (problem, repeat) blocks")
    def ranks_figure(a: Analysis, out: Path) -> list[Path]:
        fig, _ = plot_ranks(a.results, a.ranks)
        return style.save(fig, out / "ranks", fingerprint=a.results.fingerprint)

The function gets the computed analysis (``hpbench.analysis.report.Analysis``: the results,
the band, the cubes and every number the report shows) and the figures folder; it draws,
saves (``style.save``: PDF and PNG) and returns the files it wrote — none when it has nothing
to draw (no random search, no test values, …). ``report.make_figures`` calls every registered
figure, in order, and puts each PNG in its section of ``report.html`` under its caption: a
text, or a function of the analysis and the PNG's path (a figure that writes several files);
an empty caption shows the file's name.

Sections are the report's ``<h2>`` parts, placed by ``order``; one without a figure is left
out. The report's own tables sit at ``TABLES.order``. A figure in a new section declares it
in its own module with ``add_section(key, title, order)``. Registered figures are found by
importing every module of ``hpbench.analysis`` (``figures()``), so adding a figure touches
only its own module.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from hpbench.analysis.report import Analysis

Draw = Callable[["Analysis", Path], list[Path]]
Caption = str | Callable[["Analysis", Path], str]


@dataclass(frozen=True)
class Section:
    """A part of the report: its heading, its place on the page, and whether its figures sit
    side by side (``grid``: two a row)."""

    key: str
    title: str
    order: int
    grid: bool = False


@dataclass(frozen=True)
class PerProblem:
    """How a figure drawn one problem at a time is drawn by worker processes
    (``hpbench.analysis.parallel``): ``problems(analysis)`` lists the problems it draws, in
    order; ``job(analysis, problems)`` gathers, for a few of them, everything drawing them
    reads — picklable, and small: summaries, never the trial table; ``draw(job, out)``, a
    module-level function, draws them and returns the files in order. The figure's own
    ``draw`` must write the same files, one process doing it all."""

    problems: Callable[[Analysis], list[str]]
    job: Callable[[Analysis, list[str]], Any]
    draw: Callable[[Any, Path], list[Path]]


@dataclass(frozen=True)
class Figure:
    """A registered figure: ``draw(analysis, out)`` writes its files; ``per_problem``: how
    worker processes draw it problem by problem, if they may."""

    name: str
    section: Section
    order: int
    caption: Caption
    draw: Draw
    per_problem: PerProblem | None = None

    def caption_of(self, a: Analysis, png: Path) -> str:
        text = self.caption(a, png) if callable(self.caption) else self.caption
        return text or png.stem


SECTIONS: dict[str, Section] = {}
_FIGURES: dict[str, Figure] = {}


def add_section(key: str, title: str, order: int, *, grid: bool = False) -> Section:
    """Declare a report section (again with the same values is a no-op)."""
    new = Section(key, title, order, grid)
    old = SECTIONS.setdefault(key, new)
    if old != new:
        raise ValueError(f"report section {key!r} is already declared as {old}")
    return new


AGGREGATES = add_section("aggregates", "Aggregates over problems", 10)
STATISTICS = add_section("statistics", "Statistics", 20)
TABLES = add_section("tables", "Tables", 30)  # the report's tables, not figures
PER_PROBLEM = add_section("problems", "Regret per problem", 40, grid=True)
VALIDATION = add_section("overfit", "Validation versus test", 50)
OVERHEAD = add_section("overhead", "Optimizer overhead", 60)


def figure(name: str, *, section: str, order: int, caption: Caption = "",
           per_problem: PerProblem | None = None) -> Callable[[Draw], Draw]:
    """Register the decorated ``draw(analysis, out) -> files`` as figure ``name`` of report
    section ``section`` (a ``SECTIONS`` key), at ``order`` within it; ``per_problem``: how
    to draw it problem by problem in worker processes (``PerProblem``)."""
    if section not in SECTIONS:
        raise ValueError(f"figure {name!r}: unknown report section {section!r}; declare it "
                         f"with add_section() (known: {sorted(SECTIONS)})")

    def register(draw: Draw) -> Draw:
        old = _FIGURES.get(name)
        where = (draw.__module__, draw.__qualname__)
        if old is not None and (old.draw.__module__, old.draw.__qualname__) != where:
            raise ValueError(f"figure {name!r} is registered twice ({old.draw.__module__}."
                             f"{old.draw.__qualname__} and {draw.__module__}."
                             f"{draw.__qualname__})")
        _FIGURES[name] = Figure(name, SECTIONS[section], order, caption, draw, per_problem)
        return draw

    return register


def _import_all() -> None:
    import hpbench.analysis as package

    for info in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{info.name}")


def figures() -> list[Figure]:
    """Every registered figure in report order: by section, then by order within it."""
    _import_all()
    return sorted(_FIGURES.values(), key=lambda f: (f.section.order, f.order, f.name))


def draw_all(a: Analysis, out: Path) -> dict[str, list[Path]]:
    """Draw and save every registered figure into ``out``: its files per figure name."""
    return {f.name: list(f.draw(a, out)) for f in figures()}


def sections(a: Analysis, made: dict[str, list[Path]]
             ) -> list[tuple[Section, list[tuple[Path, str]]]]:
    """The report's figure sections in page order, each with its PNGs and their captions;
    sections without a PNG are left out."""
    parts: dict[Section, list[tuple[Path, str]]] = {}
    for f in figures():  # in section order
        pngs = [p for p in made.get(f.name, []) if p.suffix == ".png"]
        if pngs:
            parts.setdefault(f.section, []).extend((p, f.caption_of(a, p)) for p in pngs)
    return list(parts.items())
