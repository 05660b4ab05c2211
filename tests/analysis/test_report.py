import base64
import json
import re

import matplotlib.colors as mcolors
import numpy as np
import pandas as pd
import pytest

from hpbench.analysis import registry, style
from hpbench.analysis.load import load
from hpbench.analysis.report import analyse, make_figures, resolve_budgets
from hpbench.store import ResultsDir
from tests.analysis.build import two_optimizers


def test_styles_are_distinct_fixed_and_readable_in_greyscale():
    names = ["random"] + [f"opt{i}" for i in range(29)]
    st = style.styles(names)
    combos = {(s.color, s.marker, str(s.linestyle)) for s in st.values()}
    assert len(combos) == 30
    # the first ten non-baseline optimizers differ in marker even where hues look alike
    assert len({st[f"opt{i}"].marker for i in range(10)}) == 10
    assert st["random"].color == (0.0, 0.0, 0.0)
    assert style.styles(names) == st  # fixed: the same list gives the same styles
    # greyscale: the ten palette colours do not all share one luminance
    lum = [0.2126 * r + 0.7152 * g + 0.0722 * b for r, g, b in
           (mcolors.to_rgb(st[f"opt{i}"].color) for i in range(10))]
    assert max(lum) - min(lum) > 0.3


def test_make_figures_writes_every_output_and_the_report(tmp_path):
    out = make_figures(two_optimizers(tmp_path / "res"))
    assert out == ResultsDir(tmp_path / "res").figures == tmp_path / "res" / "figures"
    names = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    for stem in ("regret/p1", "regret/p2", "normalized_regret", "ranks", "ecdf",
                 "performance_profile", "overhead", "overfit/p2"):
        assert {f"{stem}.pdf", f"{stem}.png"} <= names, stem
    for t in ("regret_1_evaluation", "regret_2_evaluations", "regret_4_evaluations",
              "summary"):
        assert {f"tables/{t}.md", f"tables/{t}.tex", f"tables/{t}.csv"} <= names, t
    html = (out / "report.html").read_text()
    r = load(tmp_path / "res")
    assert r.fingerprint in html and "abc123" in html  # fingerprint, git revision
    for png in out.rglob("*.png"):  # every figure is in the report, named with its PDF
        rel = png.relative_to(out).as_posix()
        assert base64.b64encode(png.read_bytes()).decode() in html
        assert f"<code>{rel[:-4]}.pdf</code>" in html
    assert "vs best seen" in html  # the note on p2's reference
    assert "<b>0.25 [0.175, 0.625]</b>" in html  # alpha is best on p1
    csv = pd.read_csv(out / "tables" / "regret_4_evaluations.csv")
    row = csv[(csv["problem"] == "p1") & (csv["optimizer"] == "alpha")].iloc[0]
    assert row["best"] and row["median"] == 0.25 and row["reference"] == "optimum"


def test_without_random_search_the_normalized_figure_is_skipped_and_said(tmp_path):
    res = two_optimizers(tmp_path / "res", with_random=False)
    out = make_figures(res, tmp_path / "figs", band="ci", budgets=[2, 4])
    assert not (out / "normalized_regret.png").exists()
    assert (out / "regret" / "p1.png").exists()
    html = (out / "report.html").read_text()
    assert "no &#x27;random&#x27; optimizer" in html
    assert "mean and 95% bootstrap CI" in html
    assert (out / "tables" / "regret_2_evaluations.md").exists()


def test_budgets_are_shares_or_amounts(tmp_path):
    r = load(two_optimizers(tmp_path))
    fr, labels = resolve_budgets(r, None)
    assert fr.tolist() == [0.25, 0.5, 1.0] and labels == ["1 evaluation", "2 evaluations",
                                                          "4 evaluations"]
    fr, labels = resolve_budgets(r, [4, 0.5])
    assert fr.tolist() == [0.5, 1.0]
    with pytest.raises(ValueError, match="exceeds"):
        resolve_budgets(r, [8])
    with pytest.raises(ValueError, match="> 0"):
        resolve_budgets(r, [0])


def test_analysis_numbers_are_what_the_report_shows(tmp_path):
    r = load(two_optimizers(tmp_path))
    a = analyse(r, budgets=[1.0])
    vb = a.versus_best["4 evaluations"].set_index(["problem", "optimizer"])
    assert vb.loc[("p1", "alpha"), "median"] == 0.25
    assert a.normalized is not None and a.friedman["4 evaluations"] is not None
    assert np.isfinite(a.ranks["mean_rank"]).all()
    assert json.dumps(a.seconds)  # every step timed


def test_bad_band_is_refused(tmp_path):
    r = load(two_optimizers(tmp_path))
    with pytest.raises(ValueError, match="band must be one of"):
        analyse(r, band="sd")


def _headings(html: str) -> list[str]:
    return re.findall(r"<h2>(.*?)</h2>", html)


def test_the_registry_draws_the_report_in_its_section_order(tmp_path):
    names = [f.name for f in registry.figures()]
    assert names == ["normalized_regret", "ranks", "ecdf", "performance_profile", "cd",
                     "regret", "parallel", "overfit", "overhead"]
    out = make_figures(two_optimizers(tmp_path / "res"))
    html = (out / "report.html").read_text()
    assert _headings(html) == ["How to read this report", "Notes", "Aggregates over problems",
                               "Statistics", "Tables", "Regret per problem",
                               "Validation versus test", "Optimizer overhead",
                               "Suite definition", "Environment"]
    assert ("<figcaption>critical-difference diagram at 4 evaluations (100 % of the budget) · "
            "<code>cd_4_evaluations.pdf</code></figcaption>") in html
    assert ("<figcaption>Dolan-Moré performance profile (regret ≤ 0.001·r0) · "
            "<code>performance_profile.pdf</code></figcaption>") in html
    # three panels side by side take a whole row of the grid, not half of it
    assert "<h2>Regret per problem</h2><div class='grid'>\n<figure class='wide'>" in html


def test_a_figure_is_one_decorated_function(tmp_path, monkeypatch):
    # a private copy of the registry: the figure below exists for this test only
    monkeypatch.setattr(registry, "_FIGURES", dict(registry._FIGURES))
    monkeypatch.setattr(registry, "SECTIONS", dict(registry.SECTIONS))
    registry.add_section("extra", "Extra pictures", 55)

    @registry.figure("cells_per_optimizer", section="extra", order=1,
                     caption=lambda a, png: f"cells of {len(a.results.optimizers)} optimizers")
    def cells_figure(a, out):
        fig, ax = style.new_figure()
        ax.bar(a.results.optimizers, a.results.cells.groupby("optimizer").size())
        return style.save(fig, out / "cells", fingerprint=a.results.fingerprint)

    out = make_figures(two_optimizers(tmp_path / "res"), tmp_path / "figs")
    assert (out / "cells.png").is_file() and (out / "cells.pdf").is_file()
    html = (out / "report.html").read_text()
    heads = _headings(html)
    assert heads.index("Extra pictures") == heads.index("Validation versus test") + 1
    cells_png = base64.b64encode((out / "cells.png").read_bytes()).decode()
    assert f"src='data:image/png;base64,{cells_png}'" in html and "cells of 2 optimizers" in html
    with pytest.raises(ValueError, match="unknown report section"):
        registry.figure("x", section="nowhere", order=1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.figure("ecdf", section="extra", order=2)(cells_figure)


def test_a_section_without_figures_is_left_out(tmp_path):
    res = two_optimizers(tmp_path / "res", with_random=False)
    for f in res.glob("p2/*/*.parquet"):
        f.unlink()  # p2 held the only test values
    html = (make_figures(res, tmp_path / "figs") / "report.html").read_text()
    assert "Validation versus test" not in _headings(html)
    assert not (tmp_path / "figs" / "overfit").exists()
