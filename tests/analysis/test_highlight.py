"""``hpbench figures --highlight a,b`` and ``make_figures(..., highlight=...)``: the named
optimizers bold over a faded field in every figure; an unknown name is a one-line usage
error naming it and the optimizers there are."""

from __future__ import annotations

import pytest

from hpbench.analysis import lineup, registry, style
from hpbench.analysis.load import load
from hpbench.analysis.report import analyse, make_figures
from tests.analysis.build import ranked, two_optimizers


def test_an_unknown_name_is_one_line_exit_2_naming_it_and_the_choices(tmp_path, capsys):
    from hpbench.cli import main

    res = two_optimizers(tmp_path / "res")
    assert main(["figures", str(res), "--highlight", "alpah,random"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "'alpah'" in err[0] and "did you mean alpha" in err[0]
    assert "alpha, random" in err[0]  # the optimizers of the folder
    assert not (res / "figures").exists()


def test_make_figures_refuses_an_unknown_name(tmp_path):
    res = two_optimizers(tmp_path / "res")
    with pytest.raises(lineup.UnknownOptimizerError, match="'tpe'"):
        make_figures(res, highlight=["tpe"])
    assert lineup.check_highlight("alpha, random", ["alpha", "random"]) == ("alpha", "random")


def test_every_figure_draws_the_highlighted_bold_and_the_others_faded(tmp_path, monkeypatch):
    a = analyse(load(ranked(tmp_path / "res")), budgets=[1.0], highlight=["close"])
    assert a.highlight == ("close",)
    caught = []
    save = style.save

    def keep(fig, stem, **kw):
        caught.append((stem.name, fig))
        return save(fig, stem, **kw)

    monkeypatch.setattr(style, "save", keep)
    registry.draw_all(a, tmp_path / "figs")
    checked = 0
    for name, fig in caught:
        lines = {ln.get_label(): ln for ax in fig.axes for ln in ax.get_lines()
                 if ln.get_label() in ("good", "close", "bad")}
        if not lines:  # the critical-difference diagram draws no labelled lines
            continue
        assert lines["close"].get_linewidth() == lineup.EMPHASIS["bold"]["linewidth"], name
        assert lines["close"].get_alpha() == 1.0
        for other in ("good", "bad"):
            assert lines[other].get_alpha() < 0.5, (name, other)
            assert lines[other].get_zorder() < lines["close"].get_zorder()
        checked += 1
    assert checked >= 7  # ranks, ECDF, profile, four problems, overhead
