"""Who is on a figure, in which panel, and how loud: the design of figures for thirty or
forty optimizers.

One panel of forty curves, forty bands and a forty-entry legend is spaghetti. A ``Lineup``
decides, once per figure:

* **panels** — up to ``FACET_ABOVE`` (10) optimizers share one panel; beyond that the figure
  becomes a grid of family panels on shared axes, each also showing random search as the
  reference: a family of more than ten is split evenly into panels of its own, small
  families share a panel with their neighbours up to ten lines;
* **emphasis** — the ``top_k`` (5) best by the figure's own final score (lowest final median
  regret, mean rank, …) are drawn full width with their band; the others are thin lines
  without a band, so the bands that are drawn can be seen;
* **highlight** — named optimizers drawn bold on top of a faded field (one panel: the point
  is to compare them with everything else); only they get bands. ``hpbench figures
  --highlight a,b`` and ``make_figures(..., highlight=...)`` set it, and a command that
  compares one optimizer against its family or all (``hpbench compare``) needs nothing more;
* **legends** — grouped by family with a heading per family, at the figure's right (one
  panel) or beside each panel (a grid).

Colours, markers and dashes stay ``style.styles``': an optimizer looks the same in every
figure of a report, whatever its emphasis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.lines import Line2D

from hpbench.analysis import families, style
from hpbench.analysis.style import BASELINE, Style

TOP_K = 5
FACET_ABOVE = 10
#: columns of a grid of single-kind panels
WRAP = 3

#: line width, marker size, drawing order and opacity of each emphasis
EMPHASIS = {
    "lead": {"linewidth": 1.5, "markersize": 4.0, "zorder": 3, "alpha": 1.0},
    "thin": {"linewidth": 0.8, "markersize": 2.5, "zorder": 2, "alpha": 0.9},
    "faded": {"linewidth": 0.8, "markersize": 2.5, "zorder": 1, "alpha": 0.45},
    "bold": {"linewidth": 2.4, "markersize": 5.0, "zorder": 6, "alpha": 1.0},
    "reference": {"linewidth": 1.3, "markersize": 4.0, "zorder": 4, "alpha": 1.0},
}


class UnknownOptimizerError(ValueError):
    """A name to highlight that the results do not hold."""


def check_highlight(names: Iterable[str], available: Sequence[str]) -> tuple[str, ...]:
    """``names`` as given (stripped, empty ones dropped), each one an optimizer of the
    results; an unknown one raises ``UnknownOptimizerError`` naming it, the close matches
    and the optimizers there are."""
    from hpbench.registry import unknown_name_message

    if isinstance(names, str):  # "a,b" as the command line gives it
        names = names.split(",")
    out = tuple(dict.fromkeys(n.strip() for n in names if n.strip()))
    for name in out:
        if name not in available:
            raise UnknownOptimizerError(
                "--highlight: " + unknown_name_message("optimizer", name, available))
    return out


@dataclass(frozen=True)
class Panel:
    """One panel of a figure: its heading (a family; empty when the figure has one panel)
    and the optimizers it draws, the reference first."""

    title: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class Lineup:
    """How one figure draws its optimizers (see the module docstring)."""

    styles: Mapping[str, Style]
    panels: tuple[Panel, ...]
    banded: frozenset[str]
    highlight: frozenset[str]
    top_k: int
    score: str = ""

    @property
    def faceted(self) -> bool:
        return len(self.panels) > 1

    def names(self) -> list[str]:
        """Every optimizer drawn, each once, in panel order."""
        return list(dict.fromkeys(n for p in self.panels for n in p.names))

    def emphasis(self, name: str) -> str:
        if name == BASELINE:
            return "reference"
        if self.highlight:
            return "bold" if name in self.highlight else "faded"
        return "lead" if name in self.banded else "thin"

    def line_kw(self, name: str) -> dict:
        """Keywords of ``Axes.plot`` for ``name``: its style at its emphasis."""
        kw = {**self.styles[name].line_kw(), **EMPHASIS[self.emphasis(name)]}
        if self.emphasis(name) == "faded":
            kw["color"] = style.faded(kw["color"])
        return kw

    def band_kw(self, name: str) -> dict | None:
        """Keywords of ``fill_between`` for ``name``'s band, None when it gets none; the
        band's ``gid`` names its optimizer."""
        if name not in self.banded:
            return None
        return {"color": self.styles[name].color, "alpha": 0.15, "linewidth": 0,
                "zorder": EMPHASIS[self.emphasis(name)]["zorder"] - 0.5,
                "gid": f"band:{name}"}

    def band_note(self) -> str:
        """What a title says about the bands when not every optimizer has one."""
        drawn = [n for n in self.names() if n != BASELINE]
        if self.highlight:
            return "bands for the highlighted only"
        if len(self.banded) >= len(drawn):
            return ""
        return f"bands for the {self.top_k} best by {self.score}" if self.score else \
            f"bands for {self.top_k}"


def lineup(optimizers: Sequence[str], present: Iterable[str], *,
           highlight: Sequence[str] = (), scores: Mapping[str, float] | None = None,
           score: str = "", top_k: int = TOP_K, facet_above: int = FACET_ABOVE,
           fams: Mapping[str, str] | None = None) -> Lineup:
    """The lineup of a figure that draws ``present`` (optimizers with data on it) out of the
    results' ``optimizers`` (which fix the styles).

    ``scores``: each optimizer's final score, lower is better (``score`` says what it is,
    for the title); the ``top_k`` best get bands. ``highlight``: optimizers drawn bold over
    a faded field, in one panel. More than ``facet_above`` optimizers besides random search
    (and nothing highlighted): one panel per family."""
    fams = dict(fams) if fams is not None else families.families(optimizers)
    styles = style.styles(optimizers, fams)
    shown = families.by_family([n for n in optimizers if n in set(present)], fams)
    members = [n for n in shown if n != BASELINE]
    ref = (BASELINE,) if BASELINE in shown else ()
    if highlight or len(members) <= facet_above:
        panels: tuple[Panel, ...] = (Panel("", ref + tuple(members)),)
    else:
        panels = tuple(Panel(title, ref + chunk) for title, chunk in
                       _family_chunks(members, fams, facet_above))
    return Lineup(styles=styles, panels=panels,
                  banded=_banded(shown, highlight, scores, top_k),
                  highlight=frozenset(highlight), top_k=top_k, score=score)


def _family_chunks(members: Sequence[str], fams: Mapping[str, str], size: int
                   ) -> list[tuple[str, tuple[str, ...]]]:
    """(heading, optimizers) per panel, in family order: a family of more than ``size``
    members is split evenly into ⌈n / size⌉ panels of its own; smaller families share a
    panel with the next ones while it holds at most ``size`` (a family of one or two is not
    worth a panel of its own, and every panel costs the reader a look)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    heads: list[str] = []
    names: list[str] = []

    def close() -> None:
        if names:
            out.append((" · ".join(heads), tuple(names)))
        heads.clear()
        names.clear()

    for family in families.family_order(fams[n] for n in members):
        mine = [n for n in members if fams[n] == family]
        if len(mine) > size:
            close()
            k = math.ceil(len(mine) / size)
            for i, idx in enumerate(np.array_split(np.arange(len(mine)), k)):
                out.append((f"{families.title(family)} ({i + 1}/{k})",
                            tuple(mine[j] for j in idx)))
            continue
        if len(names) + len(mine) > size:
            close()
        heads.append(families.title(family))
        names.extend(mine)
    close()
    return out


def _banded(shown: Sequence[str], highlight: Sequence[str],
            scores: Mapping[str, float] | None, top_k: int) -> frozenset[str]:
    """The highlighted (when any); else the ``top_k`` lowest finite scores (everyone when
    there is no score or few optimizers)."""
    if highlight:
        return frozenset(highlight)
    if scores is None or len(shown) <= top_k:
        return frozenset(shown)
    ranked = sorted((s, n) for n, s in scores.items() if n in shown and np.isfinite(s))
    return frozenset(n for _, n in ranked[:top_k])


def one_metric_figure(optimizers: Sequence[str], series: Mapping[str, Series], *,
                      highlight: Sequence[str], score: str, higher_is_better: bool = False,
                      step: bool = False):
    """The figure of one metric against one x axis (ranks, profiles, overhead): the lineup
    scored by each line's final value, its panels, and the lines drawn. Returns the lineup,
    the figure and ``axes[panel][0]``."""
    sign = -1.0 if higher_is_better else 1.0
    lu = lineup(optimizers, series, highlight=highlight,
                scores={n: sign * float(s.y[-1]) for n, s in series.items()}, score=score)
    fig, grid = panel_axes(lu, 1, width=5.0, height=3.8)
    draw_series(lu, grid, series, step=step)
    return lu, fig, grid


# ---------------------------------------------------------------------------------------
# the panels of a figure


def panel_axes(lu: Lineup, kinds: int = 1, *, width: float = 4.0, height: float = 3.2,
               legend_width: float = 1.6):
    """A figure for ``lu`` with ``kinds`` panels per optimizer group (e.g. evaluations and
    wall time): one row of ``kinds`` panels when the lineup has one panel; else a grid of
    family panels — wrapped ``WRAP`` to a row for one kind, a row per family (a column per
    kind) for more. Axes of one kind share both axes. Returns the figure and the axes as
    ``axes[panel][kind]``."""
    n = len(lu.panels)
    if n == 1:
        fig, axs = style.new_figure(width * kinds + legend_width, height, ncols=kinds)
        return fig, [list(np.atleast_1d(axs))]
    rows, cols = (math.ceil(n / WRAP), min(n, WRAP)) if kinds == 1 else (n, kinds)
    w = (0.8 * width + legend_width) * cols if kinds == 1 else \
        0.8 * width * cols + legend_width
    fig, grid = style.new_figure(w, 0.75 * height * rows, nrows=rows, ncols=cols)
    flat = list(np.asarray(grid).ravel())
    axes = [[flat[i]] for i in range(n)] if kinds == 1 else [list(row) for row in grid]
    for ax in flat[n:] if kinds == 1 else []:
        ax.remove()
    for k in range(kinds):  # one kind shares its axes across the panels
        first = axes[0][k]
        for row in axes[1:]:
            row[k].sharex(first)
            row[k].sharey(first)
    return fig, axes


@dataclass(frozen=True)
class Series:
    """One optimizer's line (and its band, when it has one) on a figure."""

    x: np.ndarray
    y: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def draw_series(lu: Lineup, axes, series: Mapping[str, Series], *, kind: int = 0,
                step: bool = False) -> None:
    """Draw each panel's optimizers from ``series`` on its ``kind``-th axes: a line (a step
    function with ``step``), and the band the lineup gives it where ``low`` and ``high``
    are finite."""
    for panel, row in zip(lu.panels, axes):
        ax = row[kind]
        for name in panel.names:
            s = series.get(name)
            if s is None:
                continue
            ax.plot(s.x, s.y, markevery=max(1, len(s.x) // 8),
                    drawstyle="steps-post" if step else "default", **lu.line_kw(name))
            band = lu.band_kw(name)
            if band is None or s.low is None or s.high is None:
                continue
            ok = np.isfinite(s.low) & np.isfinite(s.high)
            if ok.any():
                ax.fill_between(s.x, np.where(ok, s.low, 1.0), np.where(ok, s.high, 1.0),
                                where=ok, step="post" if step else None, **band)


def label_panels(lu: Lineup, axes, xlabels: Sequence[str], ylabels: Sequence[str],
                 titles: Sequence[str] = ()) -> None:
    """Axis labels: x on the panels at the grid's bottom (tick labels too, the x axes are
    shared), y once for a grid of one quantity, else on each panel's first column (and other
    columns where it differs); a family heading on each group's first panel, the kinds'
    titles over the top row."""
    wrapped = lu.faceted and len(axes[0]) == 1
    # one y label for the whole grid when every panel shows the same quantity (a label per
    # row of panels is taller than the row)
    shared_y = lu.faceted and len(set(ylabels)) == 1
    if shared_y:
        axes[0][0].figure.supylabel(ylabels[0], fontsize=10)
    for p, row in enumerate(axes):
        heading = lu.panels[p].title
        for k, ax in enumerate(row):
            if p + (WRAP if wrapped else 1) >= len(axes):  # nothing below it
                ax.set_xlabel(xlabels[k])
            else:
                ax.tick_params(axis="x", which="both", labelbottom=False)
            if not shared_y and (k == 0 or ylabels[k] != ylabels[0]):
                ax.set_ylabel(ylabels[k])
            if p == 0 and not wrapped and k < len(titles) and titles[k]:
                # over a family heading: the kind's title a line higher
                ax.set_title(titles[k] + ("\n" if heading else ""), fontsize=8)
        if heading:
            row[0].set_title(heading, loc="left", fontsize=8, fontweight="bold")


def add_legends(fig, lu: Lineup, axes) -> None:
    """Legends: beside each panel of a grid (the panel's optimizers, random search first);
    one at the figure's right for one panel (with a highlight as well: the highlighted drawn
    bold, the field faded, each line named). Where a legend holds several families, a bold
    heading names each."""
    if lu.faceted:
        for panel, row in zip(lu.panels, axes):
            _legend(row[-1], lu, _handles(row[0], panel.names), loc="upper left",
                    bbox_to_anchor=(1.02, 1.0), fontsize=6.5, borderaxespad=0.0)
        return
    names = lu.panels[0].names
    handles = _handles(axes[0][0], names)
    # with a highlight too, every line keeps its legend entry (the faded ones drawn faded,
    # the highlighted bold): a faded line must still be identifiable
    ncol = 1 if len(handles) <= 24 else 2
    _legend(fig, lu, handles, loc="outside right upper", fontsize=7, ncol=ncol)


def _handles(ax, names: Sequence[str]) -> list:
    """The first artist labelled with each of ``names`` on ``ax`` (a line, or a scatter),
    in that order."""
    by_label: dict[str, object] = {}
    for artist in [*ax.get_lines(), *ax.collections]:
        by_label.setdefault(artist.get_label(), artist)
    return [by_label[n] for n in names if n in by_label]


def _legend(where, lu: Lineup, handles: list, **kw) -> None:
    """A legend of ``handles`` on ``where`` (axes or figure): random search first, then the
    optimizers by family, under a bold heading per family when there are several, then
    entries that are not optimizers (the faded field)."""
    if not handles:
        return
    fam = {h.get_label(): lu.styles[h.get_label()].family for h in handles
           if h.get_label() in lu.styles and h.get_label() != BASELINE}
    order = families.family_order(fam.values())
    entries = [(h, h.get_label(), False) for h in handles if h.get_label() == BASELINE]
    for family in order:
        if len(order) > 1:
            entries.append((Line2D([], [], linestyle="none"), families.title(family), True))
        entries += [(h, h.get_label(), False) for h in handles
                    if fam.get(h.get_label()) == family]
    entries += [(h, h.get_label(), False) for h in handles
                if h.get_label() not in fam and h.get_label() != BASELINE]
    if _fit_height(where, len(entries), kw):  # bottom-aligned: the title keeps the top
        kw["loc"] = kw["loc"].replace("upper", "lower")
    leg = where.legend([e[0] for e in entries], [e[1] for e in entries], frameon=False,
                       handlelength=2.2, **kw)
    for text, (_, _, head) in zip(leg.get_texts(), entries):
        if head:
            text.set_fontweight("bold")


def _fit_height(where, n_entries: int, kw: dict) -> bool:
    """Make a figure whose legend (beside the axes) would be taller than the figure tall
    enough to hold it below the title (a legend the canvas cannot hold spills over the
    title); True when it grew."""
    from matplotlib.figure import Figure

    if not isinstance(where, Figure):
        return False
    rows = math.ceil(n_entries / kw.get("ncol", 1))
    size = kw.get("fontsize", 10)
    needed = rows * size * 1.75 / 72 + 0.9  # a row: the text plus label spacing; + title
    if needed <= where.get_figheight() - 0.5:
        return False
    where.set_figheight(max(where.get_figheight(), needed))
    return True
