"""One look for every figure: a fixed colour, marker and line style per optimizer, the
footer with the suite's fingerprint, log axes and the place they draw 0 at, and saving as
PDF and PNG cut to their content. (Which optimizers a figure draws, in which panel and how
loud: ``hpbench.analysis.lineup``.)

Figures are built on ``matplotlib.figure.Figure`` with an explicit Agg canvas, never through
``pyplot``: no global figure registry to leak, no global backend switched under a user's
notebook, and safe to call from any thread.

Thirty or forty optimizers cannot each get a hue that the eye (or a greyscale print) tells
apart, so the colour says the *family* (``hpbench.analysis.families``: the folder of
``optimizers/``) and the member is told by lightness (three levels, dark to light) and by
marker (thirteen); lightness and marker cycle at coprime lengths, so the first 39 members of a
family all differ, and beyond that the lightness shifts a little each round: no two
optimizers share a colour and a marker. Random search, the baseline every normalized figure
refers to, is always black and dashed.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FixedFormatter,
    FixedLocator,
    FuncFormatter,
    LogFormatterSciNotation,
    LogLocator,
    NullFormatter,
)
from matplotlib.transforms import Bbox

from hpbench.analysis import families

BASELINE = "random"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p", "d")
LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1)), (0, (4, 1.5, 1, 1.5)))
DPI = 150
#: the margin around a figure's content in its files (``bbox_inches="tight"``)
PAD_INCHES = 0.05
#: the ``gid`` of the footer line (``add_footer``), which ``save`` places
FOOTER = "hpbench-footer"

#: hue (HLS, 0…1) of each family: eight well separated hues, grey for the baselines (whose
#: reference, random search, is black)
FAMILY_HUES = {"model_based": 0.59, "multifidelity": 0.08, "population": 0.40,
               "local": 0.99, "gradient": 0.76, "rl": 0.15, "adapters": 0.50}
#: hues of families the table does not name (plugin packages, "other"), in turn
EXTRA_HUES = (0.88, 0.28, 0.68, 0.03, 0.45, 0.83)
#: HLS lightness of a family's members, dark to light (a greyscale print tells them apart)
LIGHTNESS = (0.30, 0.47, 0.64)
SATURATION = 0.8


@dataclass(frozen=True)
class Style:
    color: tuple[float, float, float]
    marker: str
    linestyle: str | tuple
    label: str
    family: str = families.OTHER

    def line_kw(self) -> dict:
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle,
                "label": self.label, "markersize": 4, "linewidth": 1.3}


def family_colors(fams: Sequence[str]) -> dict[str, tuple[float, float]]:
    """(hue, saturation) of each family of ``fams``; families without a hue of their own
    take the extra hues in turn."""
    out: dict[str, tuple[float, float]] = {}
    extra = 0
    for f in families.family_order(fams):
        if f == "baselines":
            out[f] = (0.0, 0.0)
        elif f in FAMILY_HUES:
            out[f] = (FAMILY_HUES[f], SATURATION)
        else:
            out[f] = (EXTRA_HUES[extra % len(EXTRA_HUES)], SATURATION)
            extra += 1
    return out


def member_style(name: str, family: str, k: int, hue: tuple[float, float]) -> Style:
    """The style of the ``k``-th member of a family of hue ``hue``."""
    rounds = k // (len(LIGHTNESS) * len(MARKERS))  # after 39 members: a shade apart
    light = min(LIGHTNESS[k % len(LIGHTNESS)] + 0.03 * rounds, 0.9)
    color = tuple(float(c) for c in colorsys.hls_to_rgb(hue[0], light, hue[1]))
    return Style(color, MARKERS[k % len(MARKERS)],
                 LINESTYLES[(k // len(MARKERS)) % len(LINESTYLES)], name, family)


def styles(optimizers: Sequence[str], fams: Mapping[str, str] | None = None
           ) -> dict[str, Style]:
    """The style of each optimizer, fixed by its family (``fams``; default: the registry's)
    and its position among the family's members in ``optimizers`` (the results' optimizer
    order), so every figure of a report draws an optimizer the same way."""
    fams = dict(fams) if fams is not None else families.families(optimizers)
    hues = family_colors([fams[n] for n in optimizers])
    out: dict[str, Style] = {}
    seen: dict[str, int] = {}
    for name in optimizers:
        family = fams[name]
        if name == BASELINE:
            out[name] = Style((0.0, 0.0, 0.0), "x", (0, (3, 2)), name, family)
            continue
        k = seen[family] = seen.get(family, -1) + 1
        out[name] = member_style(name, family, k, hues[family])
    return out


def legible(color: Sequence[float] | str, lightness: float = 0.36) -> tuple[float, float, float]:
    """``color`` darkened to at most ``lightness`` (HLS) for text on white: the light members
    of a family (cyan at L = 0.64) are fine as lines but too faint as labels."""
    import colorsys

    from matplotlib.colors import to_rgb

    h, l, s = colorsys.rgb_to_hls(*to_rgb(color))
    return colorsys.hls_to_rgb(h, min(l, lightness), s)


def faded(color: Sequence[float], share: float = 0.65) -> tuple[float, float, float]:
    """``color`` moved ``share`` of the way to a light grey: the field behind highlighted
    optimizers keeps a trace of its hue (and stays distinct) without competing."""
    grey = np.array([0.78, 0.78, 0.78])
    return tuple(float(v) for v in (1 - share) * np.asarray(color[:3]) + share * grey)


def new_figure(width: float = 6.4, height: float = 4.0, *, nrows: int = 1, ncols: int = 1,
               layout: str | None = "constrained", **subplot_kw) -> tuple[Figure, object]:
    """A figure on an Agg canvas and its axes (an array when more than one)."""
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=True, **subplot_kw)
    return fig, axes


def footer_text(suite: str, fingerprint: str, extra: str = "") -> str:
    text = f"hpbench · suite {suite} · fingerprint {fingerprint}"
    return f"{text} · {extra}" if extra else text


def add_footer(fig: Figure, suite: str, fingerprint: str, extra: str = "") -> None:
    """Name the suite and its fingerprint in the figure's top-right corner, so a printed
    figure still names the run that made it. ``save`` moves the line above everything else
    the figure holds (a title, a legend), where it cannot run into either."""
    fig.text(0.998, 0.998, footer_text(suite, fingerprint, extra), ha="right", va="top",
             fontsize=5.5, color="0.35", gid=FOOTER)


def save(fig: Figure, stem: Path, *, fingerprint: str = "", title: str = "") -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` and ``stem.png`` (fingerprint in the files' metadata too).

    Both files are cut to the figure's content plus ``PAD_INCHES`` (what
    ``bbox_inches="tight"`` does): a legend of forty optimizers or a long label widens the
    canvas instead of running off its edge. The layout is done and measured once, for both
    files, instead of once per file and once more per ``"tight"``."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    pdf, png = stem.with_suffix(".pdf"), stem.with_suffix(".png")
    subject = f"hpbench fingerprint {fingerprint}" if fingerprint else "hpbench"
    box = content_box(fig)
    fig.savefig(pdf, bbox_inches=box, metadata={"Title": title or stem.name,
                                                "Subject": subject,
                                                "Creator": "hpbench analysis"})
    fig.savefig(png, dpi=DPI, bbox_inches=box,
                metadata={"Title": title or stem.name, "Description": subject})
    return [pdf, png]


def content_box(fig: Figure) -> Bbox:
    """The box (inches) the files of ``fig`` show: its artists' tight box, with the footer
    placed over its top-right corner, padded. Lays the figure out first, then fixes the
    layout (in figure fractions, independent of dpi), so that saving does not measure every
    tick label again. Measured at the PNG's dpi: hinted text is a little wider there than
    at the figure's, and a right-aligned label would lose its first letter."""
    freeze_ticks(fig)
    engine = fig.get_layout_engine()
    if engine is not None:
        engine.execute(fig)
        # no engine at all, not "none": matplotlib's placeholder for "none" still makes every
        # savefig draw the whole figure once more before drawing it into the file (a third
        # of the time of saving a per-problem figure)
        with matplotlib.rc_context({"figure.autolayout": False,
                                    "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
    for leg in fig.legends:
        # a figure legend anchors to the figure's box, which saving replaces by the cut box:
        # pin it where the layout put it
        leg.set_bbox_to_anchor((0, 0, 1, 1), transform=fig.transFigure)
    dpi = fig.get_dpi()
    fig.set_dpi(DPI)
    renderer = fig.canvas.get_renderer()
    footers = [t for t in fig.texts if t.get_gid() == FOOTER]
    for t in footers:
        t.set_in_layout(False)
    box = fig.get_tightbbox(renderer)
    width, height = fig.get_size_inches()
    for t in footers:
        t.set(position=(box.x1 / width, (box.y1 + 0.03) / height), va="bottom",
              in_layout=True)
    # the figure's tight box is the union of its artists' boxes: add the moved footers to
    # the one just measured instead of measuring every tick label a second time
    footer_boxes = [Bbox(t.get_window_extent(renderer).get_points() / fig.dpi)
                    for t in footers]
    box = Bbox.union([box, *footer_boxes]).padded(PAD_INCHES)
    fig.set_dpi(dpi)
    return box


def freeze_ticks(fig: Figure) -> None:
    """Fix every axis's ticks and labels where its locators and formatters put them now.

    Laying a figure out, measuring it and drawing it into two files asks each axis for its
    ticks dozens of times (each spine, each shared sibling, each pass), and each time a log
    locator and formatter compute them again: a third of the time of a per-problem figure.
    Call it once the figure holds all its data (its limits are final); the ticks drawn are
    the same ones."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if isinstance(axis.major.locator, FixedLocator) and \
                    isinstance(axis.major.formatter, FixedFormatter):
                continue  # shared axes share their tickers: fixed with the first of them
            major = axis.get_majorticklocs()
            minor = axis.get_minorticklocs()  # those on a major tick already left out
            major_labels = axis.major.formatter.format_ticks(major)
            minor_labels = axis.minor.formatter.format_ticks(minor)
            axis.set_major_locator(FixedLocator(major))
            axis.set_major_formatter(FixedFormatter(major_labels))
            axis.set_minor_locator(FixedLocator(minor))
            axis.set_minor_formatter(FixedFormatter(minor_labels))


def slug(label: str) -> str:
    """A label as part of a file name (``"25% of the budget"`` -> ``25__of_the_budget``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")


_SUPERSCRIPT = str.maketrans("-0123456789", "\u207b\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076"
                             "\u2077\u2078\u2079")
_MATHTEXT = re.compile(r"\$\\mathdefault\{(.*)\}\$")


class PlainLogFormatter(LogFormatterSciNotation):
    """matplotlib's log-axis labels (``10⁻²``, ``2×10⁻²``, on the same ticks) as plain text
    with Unicode superscripts instead of mathtext: laying out and drawing a mathtext label
    parses it with pyparsing, once per label, size and dpi, which was a tenth of the time of
    drawing a per-problem figure; plain text is measured from the font's metrics alone."""

    def __call__(self, x, pos=None):
        return plain_math(super().__call__(x, pos))


def plain_math(label: str) -> str:
    """A ``$\\mathdefault{…}$`` tick label of matplotlib's log formatters as plain text:
    ``\\times`` as ×, ``^{-2}`` as superscripts, the minus sign as U+2212; other text as it
    is."""
    m = _MATHTEXT.fullmatch(label)
    if m is None:
        return label
    body = m.group(1).replace("\\times", "\u00d7")
    body = re.sub(r"\^\{(-?\d+)\}", lambda e: e.group(1).translate(_SUPERSCRIPT), body)
    return body.replace("-", "\u2212")


def log_scale(axis) -> None:
    """A log scale on ``axis`` (``ax.xaxis`` or ``ax.yaxis``) with minor ticks at 2 and 5 of
    each decade: matplotlib's default of all eight says little more, and laying those out
    took half the time of saving a grid of panels. Labels in plain text
    (``PlainLogFormatter``), where matplotlib's are mathtext."""
    axis.axes.set(**{f"{axis.axis_name}scale": "log"})
    axis.set_minor_locator(LogLocator(base=10, subs=(2.0, 5.0)))
    axis.set_major_formatter(PlainLogFormatter(10))
    axis.set_minor_formatter(PlainLogFormatter(10, labelOnlyBase=False))


def readable_log_ticks(axis) -> None:
    """Plain-number labels at 1-2-5 steps (or 1-2-3-5) on a log axis that spans under two
    decades, where matplotlib labels every minor tick (3×10⁻², 4×10⁻², 6×10⁻², …) and on a
    panel a third of a figure wide the labels run into each other. Call it once the axis holds
    its data; a wider or a too narrow axis keeps matplotlib's ticks."""
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and hi / lo < 100):
        return
    decades = range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
    for subs, enough in (((1.0, 2.0, 5.0), 3), ((1.0, 2.0, 3.0, 5.0), 2)):
        # counted by hand: LogLocator.tick_values falls back to linear ticks (0.015, 0.02,
        # 0.025, …) when its grid has one tick in the view, and those would count as many
        if sum(lo <= s * 10.0 ** e <= hi for e in decades for s in subs) >= enough:
            break
    else:
        return
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def zero_floor(values: np.ndarray | Sequence[float]) -> float | None:
    """Where a log axis draws 0: a decade below the smallest positive finite value shown,
    rounded down to a power of ten; None when no value is 0 (nothing to place). A fixed
    floor (1e-12) stretched axes over twelve empty decades whenever one run hit the optimum.
    """
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if not (v <= 0).any():
        return None
    positive = v[v > 0]
    if not len(positive):
        return 0.1
    return float(10.0 ** (np.floor(np.log10(positive.min())) - 1))


def on_log_axis(values: np.ndarray | Sequence[float], floor: float | None) -> np.ndarray:
    """``values`` as a log axis draws them: 0 (and below) at ``floor``, ``inf`` (nothing
    found yet) and NaN hidden."""
    v = np.asarray(values, dtype=float)
    low = floor if floor is not None else np.nextafter(0.0, 1.0)
    return np.where(np.isfinite(v), np.where(v > 0, v, low), np.nan)


def floor_note(floor: float | None, what: str = "regret") -> str:
    """The words an axis label adds when it draws 0 at ``floor``."""
    return "" if floor is None else f"{what} 0 drawn at {floor:g}, dotted line"


def mark_floor(ax, floor: float | None) -> None:
    """A dotted line where 0 is drawn, and the axis cut just below it (to the data)."""
    if floor is None:
        return
    ax.axhline(floor, color="0.55", linewidth=0.7, linestyle=":", zorder=0.5)
    ax.set_ylim(floor / 10 ** 0.15, max(ax.get_ylim()[1], floor * 10))
