"""The figures of a results folder of every registered optimizer (43, as ``make bench``
yields them): each fits its canvas, no two optimizers look alike on one figure, the hue
says the family, many optimizers are drawn in family panels with bands for the best few
only, and a highlight draws the named ones over a faded field."""

from __future__ import annotations

import colorsys

import matplotlib.colors as mcolors
import matplotlib.image as mimage
import numpy as np
import pytest
from matplotlib import rcParams
from matplotlib.transforms import Bbox

from hpbench.analysis import families, lineup, ranks, registry, style
from hpbench.analysis.families import family_of

pytestmark = pytest.mark.xdist_group("many_optimizers")


def _saved_canvas(d) -> Bbox:
    """The part of the figure (display pixels at the PNG's dpi, which ``d.figure`` is set to)
    that the PNG holds: the ``bbox_inches`` it was saved with — the whole figure when none,
    the tight box matplotlib computes for ``"tight"`` — checked against the file's size."""
    fig = d.figure
    fig.set_dpi(d.dpi)
    box = d.bbox_inches
    if box is None:
        canvas = fig.bbox
    else:
        if isinstance(box, str):  # "tight", as matplotlib computes it
            box = fig.get_tightbbox(fig.canvas.get_renderer()).padded(
                rcParams["savefig.pad_inches"])
        canvas = Bbox(box.get_points() * d.dpi)
    h, w = mimage.imread(d.png).shape[:2]
    assert abs(w - canvas.width) <= 1.5 and abs(h - canvas.height) <= 1.5, \
        f"{d.png.name}: {w}×{h} px, but saved with a box of {canvas.width}×{canvas.height}"
    return canvas


def _tick_labels(axis) -> list:
    lo, hi = sorted(axis.get_view_interval())
    out = []
    for tick in axis.get_major_ticks() + axis.get_minor_ticks():
        if not lo <= tick.get_loc() <= hi:
            continue
        out += [t for t in (tick.label1, tick.label2) if t.get_visible() and t.get_text()]
    return out


def _shown(fig) -> list[tuple[str, object]]:
    """(what, artist) of every legend, title, axis label, tick label and text drawn."""
    items = [("figure legend", leg) for leg in fig.legends]
    items += [(f"text {t.get_text()!r}", t) for t in fig.texts]
    if fig._suptitle is not None:
        items.append(("suptitle", fig._suptitle))
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        if ax.get_legend() is not None:
            items.append((f"legend of axes {i}", ax.get_legend()))
        for what, t in (("x label", ax.xaxis.label), ("y label", ax.yaxis.label),
                        ("title", ax.title), ("left title", ax._left_title),
                        ("right title", ax._right_title)):
            items.append((f"{what} of axes {i}", t))
        items += [(f"tick label {t.get_text()!r} of axes {i}", t)
                  for axis in (ax.xaxis, ax.yaxis) for t in _tick_labels(axis)]
        items += [(f"text {t.get_text()!r} of axes {i}", t) for t in ax.texts]
    return [(w, a) for w, a in items
            if a.get_visible() and (not hasattr(a, "get_text") or a.get_text())]


#: figures drawn only from cells this results set does not hold, and the test that draws each
CONDITIONAL = {"parallel": "cells on simulated workers: tests/analysis/test_simulated.py"}


def test_runs_in_one_xdist_worker_under_loadgroup(request):
    """``make test`` (``--dist loadgroup``) keeps this group in one worker, so the figures
    are drawn once: xdist marks a grouped test's id with ``@group`` (pytest 9.2 broke that,
    and ``pyproject.toml`` keeps pytest below it)."""
    if not request.config.getvalue("loadgroup"):  # not an xdist worker under loadgroup
        return
    assert request.node.nodeid.endswith("@many_optimizers"), request.node.nodeid


def test_every_registered_figure_is_drawn(many_drawn):
    for f in registry.figures():
        drawn = any(p.suffix == ".png" for p in many_drawn.made[f.name])
        assert drawn != (f.name in CONDITIONAL), f.name


def test_no_legend_label_or_title_lies_outside_the_saved_canvas(many_drawn):
    """Legends of 43 optimizers were wider than the 960-pixel canvas, cutting off their
    first and last columns and the y label of the ECDF."""
    outside = []
    for name, d in many_drawn.drawn.items():
        canvas = _saved_canvas(d)
        renderer = d.figure.canvas.get_renderer()
        for what, artist in _shown(d.figure):
            b = artist.get_window_extent(renderer)
            if (b.x0 < canvas.x0 - 0.5 or b.x1 > canvas.x1 + 0.5 or b.y0 < canvas.y0 - 0.5
                    or b.y1 > canvas.y1 + 0.5):
                outside.append(f"{name}: {what} at x {b.x0:.0f}…{b.x1:.0f}, y {b.y0:.0f}…"
                               f"{b.y1:.0f} outside the canvas x {canvas.x0:.0f}…"
                               f"{canvas.x1:.0f}, y {canvas.y0:.0f}…{canvas.y1:.0f}")
    assert not outside, "\n".join(outside[:20]) + f"\n({len(outside)} in all)"


def test_nothing_touches_the_edges_of_a_png(many_drawn):
    """A clipped legend or label leaves ink in the outermost pixels; a canvas sized to its
    content has a clear margin all round."""
    touching = []
    for name, d in many_drawn.drawn.items():
        img = mimage.imread(d.png)[..., :3]
        edges = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3),
                                img[:, :2].reshape(-1, 3), img[:, -2:].reshape(-1, 3)])
        if (edges < 0.95).any():
            touching.append(f"{name}: {(edges < 0.95).any(axis=1).sum()} edge pixels inked")
    assert not touching, "\n".join(touching)


def _optimizer_lines(fig) -> list:
    """Every line drawn for an optimizer (labelled with its name) on ``fig``."""
    return [ln for ax in fig.axes for ln in ax.get_lines()
            if not ln.get_label().startswith("_")]


def _look(line) -> tuple:
    rgba = mcolors.to_rgba(line.get_color(), line.get_alpha())
    return tuple(round(c, 4) for c in rgba), line.get_marker()


def test_no_two_optimizers_share_a_colour_and_a_marker(many_drawn):
    names = set(many_drawn.analysis.results.optimizers)
    for name, d in many_drawn.drawn.items():
        owners: dict[tuple, set[str]] = {}
        for line in _optimizer_lines(d.figure):
            owners.setdefault(_look(line), set()).add(line.get_label())
        shared = {look: who for look, who in owners.items() if len(who) > 1}
        assert not shared, f"{name}: {shared}"
        drawn = set().union(*owners.values()) if owners else set()
        assert drawn <= names, name
    ranks = {ln.get_label() for ln in _optimizer_lines(many_drawn.drawn["ranks.png"].figure)}
    assert len(ranks) >= 40


def test_the_hue_says_the_family_and_random_search_is_black_and_dashed(many_drawn):
    fig = many_drawn.drawn["ranks.png"].figure
    for line in _optimizer_lines(fig):
        name = line.get_label()
        rgb = mcolors.to_rgb(line.get_color())
        if name == "random":
            assert rgb == (0, 0, 0) and line.get_linestyle() == "--"
            continue
        family = family_of(name)
        assert family in families.FAMILIES, name  # every registered optimizer has one
        hue, _, sat = colorsys.rgb_to_hls(*rgb)
        if family == "baselines":
            assert sat == pytest.approx(0, abs=1e-6), name  # grey
        else:
            assert hue == pytest.approx(style.FAMILY_HUES[family], abs=0.01), name


def _panels(fig) -> list:
    return [ax for ax in fig.axes if ax.get_lines()]


def test_forty_optimizers_are_drawn_in_family_panels_with_random_search_in_each(many_drawn):
    a = many_drawn.analysis
    fig = many_drawn.drawn["ranks.png"].figure
    panels = _panels(fig)
    assert 3 <= len(panels) < len(a.results.optimizers)
    seen: list[str] = []
    for ax in panels:
        names = [ln.get_label() for ln in ax.get_lines() if not ln.get_label().startswith("_")]
        assert "random" in names
        members = [n for n in names if n != "random"]
        assert 0 < len(members) <= lineup.FACET_ABOVE
        heading = ax.get_title(loc="left")
        for n in members:  # the panel's heading names the family of each of its members
            assert families.title(family_of(n)) in heading, (n, heading)
        assert ax.get_shared_y_axes().joined(ax, panels[0])
        assert ax.get_shared_x_axes().joined(ax, panels[0])
        seen += members
        legend = ax.get_legend()
        assert legend is not None and legend.get_texts()[0].get_text() == "random"
    assert sorted(seen) == sorted(set(seen))  # each optimizer in one panel
    assert len(seen) == len(set(a.ranks["optimizer"])) - 1


def test_bands_only_for_the_five_best_by_final_median(many_drawn):
    a = many_drawn.analysis
    fig = many_drawn.drawn["regret/tuned.png"].figure
    banded = {c.get_gid().removeprefix("band:") for ax in fig.axes for c in ax.collections
              if (c.get_gid() or "").startswith("band:")}
    final = a.curves["tuned"]["evaluations"].sort_values("x").groupby(
        "optimizer", observed=True)["centre"].last()
    assert banded == set(final.nsmallest(5).index)
    widths = {ln.get_label(): ln.get_linewidth() for ln in _optimizer_lines(fig)}
    thin = {w for n, w in widths.items() if n not in banded and n != "random"}
    assert min(widths[n] for n in banded) > max(thin)
    assert "bands for the 5 best by final median" in fig._suptitle.get_text()


def test_a_highlight_draws_the_named_bold_over_a_faded_field_in_one_panel(many_drawn):
    a = many_drawn.analysis
    fig, _ = ranks.plot_ranks(a.results, a.ranks, highlight=["tpe", "bohb"])
    assert len(_panels(fig)) == 1
    lines = {ln.get_label(): ln for ln in _optimizer_lines(fig)}
    assert len(lines) >= 40
    for name in ("tpe", "bohb"):
        bold = lines[name]
        assert bold.get_linewidth() == lineup.EMPHASIS["bold"]["linewidth"]
        assert bold.get_zorder() > max(ln.get_zorder() for n, ln in lines.items()
                                       if n not in ("tpe", "bohb"))
    field = [ln for n, ln in lines.items() if n not in ("tpe", "bohb", "random")]
    assert all(ln.get_alpha() < 0.5 for ln in field)
    # faded: nearer a light grey than the optimizer's own colour, still one look each
    own = style.styles(a.results.optimizers)
    for ln in field:
        assert _to_grey(ln.get_color()) < _to_grey(own[ln.get_label()].color)
    assert len({_look(ln) for ln in lines.values()}) == len(lines)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts[0] == "random" and {"tpe", "bohb"} <= set(texts)
    # every line keeps its entry: the faded field stays identifiable
    assert {ln.get_label() for ln in field} <= set(texts)


def _to_grey(color) -> float:
    return float(np.abs(np.array(mcolors.to_rgb(color)) - 0.78).sum())
