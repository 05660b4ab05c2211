"""One look for every figure: a fixed colour, marker and line style per optimizer, the
footer with the suite's fingerprint, and saving as PDF and PNG.

Figures are built on ``matplotlib.figure.Figure`` with an explicit Agg canvas, never through
``pyplot``: no global figure registry to leak, no global backend switched under a user's
notebook, and safe to call from any thread.

Colours come from seaborn's ``colorblind`` palette (Wong, *Nature Methods* 8:441, 2011);
since ten hues cannot separate thirty optimizers, and hues vanish in greyscale, every
optimizer also gets its own marker and, beyond the first ten, its own dash pattern. Random
search, the baseline every normalized figure refers to, is always black and dashed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

BASELINE = "random"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*", "h", "p", "d")
LINESTYLES = ("-", (0, (5, 1.5)), (0, (1, 1)), (0, (4, 1.5, 1, 1.5)))
DPI = 150


@dataclass(frozen=True)
class Style:
    color: tuple[float, float, float]
    marker: str
    linestyle: str | tuple
    label: str

    def line_kw(self) -> dict:
        return {"color": self.color, "marker": self.marker, "linestyle": self.linestyle,
                "label": self.label, "markersize": 4, "linewidth": 1.3}


def styles(optimizers: Sequence[str]) -> dict[str, Style]:
    """The style of each optimizer, fixed by its position in ``optimizers`` (the results'
    optimizer order), so every figure of a report draws an optimizer the same way."""
    import seaborn as sns

    palette = [tuple(c) for c in sns.color_palette("colorblind", 10)]
    out: dict[str, Style] = {}
    k = 0
    for name in optimizers:
        if name == BASELINE:
            out[name] = Style((0.0, 0.0, 0.0), "x", (0, (3, 2)), name)
            continue
        # markers (13) and colours (10) cycle at coprime lengths: pairs repeat only after
        # 130 optimizers; dash patterns change every ten
        out[name] = Style(palette[k % len(palette)], MARKERS[k % len(MARKERS)],
                          LINESTYLES[(k // len(palette)) % len(LINESTYLES)], name)
        k += 1
    return out


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
    """Write the suite's fingerprint in the figure's top-right corner, so a printed figure
    still names the run that made it. (The top, because legends below the axes would
    collide with a bottom line.)"""
    fig.text(0.998, 0.998, footer_text(suite, fingerprint, extra), ha="right", va="top",
             fontsize=5.5, color="0.35")
    # keep the line clear of titles and axes
    engine = fig.get_layout_engine()
    if isinstance(engine, ConstrainedLayoutEngine):
        engine.set(rect=(0, 0, 1, 0.975))


def save(fig: Figure, stem: Path, *, fingerprint: str = "", title: str = "") -> list[Path]:
    """Save ``fig`` as ``stem.pdf`` and ``stem.png`` (fingerprint in the files' metadata too)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    pdf, png = stem.with_suffix(".pdf"), stem.with_suffix(".png")
    subject = f"hpbench fingerprint {fingerprint}" if fingerprint else "hpbench"
    fig.savefig(pdf, metadata={"Title": title or stem.name, "Subject": subject,
                               "Creator": "hpbench analysis"})
    # the layout (in figure fractions, independent of dpi) is done: reuse it for the PNG
    # instead of measuring every tick label again
    if isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        fig.set_layout_engine("none")
    fig.savefig(png, dpi=DPI, metadata={"Title": title or stem.name, "Description": subject})
    return [pdf, png]


def slug(label: str) -> str:
    """A label as part of a file name (``"25% of the budget"`` -> ``25__of_the_budget``)."""
    return "".join(ch if ch.isalnum() else "_" for ch in label).strip("_")


def readable_log_ticks(axis) -> None:
    """Plain-number labels at 1-2-5 steps (or 1-2-3-5) on a log axis that spans under two
    decades, where matplotlib labels every minor tick (3×10⁻², 4×10⁻², 6×10⁻², …) and on a
    panel a third of a figure wide the labels run into each other. Call it once the axis holds
    its data; a wider or a too narrow axis keeps matplotlib's ticks."""
    lo, hi = sorted(axis.get_view_interval())
    if not (lo > 0 and hi / lo < 100):
        return
    for subs, enough in (((1.0, 2.0, 5.0), 3), ((1.0, 2.0, 3.0, 5.0), 2)):
        locator = LogLocator(base=10, subs=subs)
        if sum(lo <= t <= hi for t in locator.tick_values(lo, hi)) >= enough:
            break
    else:
        return
    axis.set_major_locator(locator)
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_minor_formatter(NullFormatter())


def legend_below(fig: Figure, ax, ncols: int | None = None) -> None:
    """One legend for the whole figure, below the axes (many optimizers do not fit inside)."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    ncols = ncols or min(len(labels), 5)
    fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize=7,
               frameon=False)
