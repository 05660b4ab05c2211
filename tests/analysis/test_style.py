"""``hpbench.analysis.style``: what saving a figure costs and shows — each file drawn once,
log-axis labels as plain text, ticks that stay where the data put them."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from hpbench.analysis import style


def _log_figure():
    fig, ax = style.new_figure(4.0, 3.0)
    ax.plot(np.arange(1, 100), np.logspace(-3, 1, 99), label="random")
    style.log_scale(ax.yaxis)
    ax.legend()
    style.add_footer(fig, "suite", "abc123")
    return fig, ax


def test_saving_draws_the_figure_once_per_file(tmp_path, monkeypatch):
    """The layout is done once, before the files; no file draws the figure a second time
    (matplotlib does when any layout engine, even its placeholder for "none", is set)."""
    fig, _ = _log_figure()
    draws = []
    real = Figure.draw

    def counted(self, renderer):
        draws.append(type(renderer).__name__)
        return real(self, renderer)

    monkeypatch.setattr(Figure, "draw", counted)
    files = style.save(fig, tmp_path / "f")
    assert [p.suffix for p in files] == [".pdf", ".png"]
    assert all(p.stat().st_size > 0 for p in files)
    assert len(draws) == 2, draws  # one for the PDF, one for the PNG


def test_log_labels_are_plain_text_with_superscripts():
    fig, ax = _log_figure()
    style.content_box(fig)  # lays the figure out, as saving does
    labels = [t.get_text() for t in ax.yaxis.get_majorticklabels() if t.get_text()]
    assert labels and not any("$" in t for t in labels), labels  # no mathtext
    assert "10\u207b\u00b2" in labels and "10\u2070" in labels, labels  # 10⁻², 10⁰
    assert style.plain_math(r"$\mathdefault{2\times10^{-12}}$") == "2\u00d710\u207b\u00b9\u00b2"
    assert style.plain_math(r"$\mathdefault{-10^{3}}$") == "\u221210\u00b3"
    assert style.plain_math("0.5") == "0.5"


def test_fixed_ticks_are_the_ones_matplotlib_chose():
    fig, ax = _log_figure()
    before = (list(ax.yaxis.get_majorticklocs()), list(ax.yaxis.get_minorticklocs()),
              [t.get_text() for t in ax.yaxis.get_majorticklabels()])
    style.freeze_ticks(fig)
    after = (list(ax.yaxis.get_majorticklocs()), list(ax.yaxis.get_minorticklocs()),
             [t.get_text() for t in ax.yaxis.get_majorticklabels()])
    assert after == before
