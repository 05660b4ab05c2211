import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from hpbench.analysis import stats
from hpbench.analysis.curves import cube
from hpbench.analysis.load import load
from tests.analysis.build import cell_columns, ranked, two_optimizers, write


def test_friedman_and_nemenyi_by_hand(tmp_path):
    r = load(ranked(tmp_path))
    res = stats.friedman(cube(r, [1.0]), 0)
    assert res.optimizers == ["bad", "close", "good"]
    assert res.avg_ranks.to_dict() == {"bad": 3.0, "close": 2.0, "good": 1.0}
    # chi2_F = 12 N / (k (k+1)) (sum R^2 - k (k+1)^2 / 4) = 12*4/12 * (14 - 12) = 8
    assert res.statistic == pytest.approx(8.0)
    assert res.p_value == pytest.approx(math.exp(-4))  # chi2 with 2 dof: exp(-x/2)
    # Demsar (2006) table 5: q_0.05 = 2.343 for k = 3
    assert res.cd == pytest.approx(2.343 * math.sqrt(3 * 4 / (6 * 4)), abs=1e-3)
    assert res.pairwise.loc["good", "bad"] < 0.05 < res.pairwise.loc["good", "close"]
    assert res.pairwise.loc["good", "good"] == 1.0


def test_wilcoxon_holm_posthoc(tmp_path):
    r = load(ranked(tmp_path, n_problems=6))
    res = stats.friedman(cube(r, [1.0]), 0, posthoc="wilcoxon")
    assert res.posthoc == "wilcoxon" and res.cd is None
    # six problems, always ordered: the smallest two-sided exact p is 2/64; Holm over 3
    assert res.pairwise.loc["good", "bad"] == pytest.approx(min(1.0, 3 * 2 / 64))


def test_two_optimizers_fall_back_to_wilcoxon(tmp_path):
    r = load(two_optimizers(tmp_path))
    res = stats.friedman(cube(r, [1.0]), 0)
    assert res.posthoc == "wilcoxon"
    assert any("Wilcoxon signed-rank" in n for n in res.notes)


def test_incomplete_blocks_drop_the_optimizer_with_most_holes(tmp_path):
    ranked(tmp_path, n_problems=3, repeats=5)
    write(tmp_path, "q0", "mf", 0, cell_columns([1.0, 1.0]), optimum=0.0, budget=2)
    r = load(tmp_path)
    res = stats.friedman(cube(r, [1.0]), 0)
    assert "mf" not in res.optimizers and res.problems == ["q0", "q1", "q2"]
    assert any("mf" in n for n in res.notes)


def test_too_few_problems_gives_no_test(tmp_path):
    write(tmp_path, "p", "a", 0, cell_columns([1.0]), optimum=0.0, budget=1)
    write(tmp_path, "p", "b", 0, cell_columns([2.0]), optimum=0.0, budget=1)
    assert stats.friedman(cube(load(tmp_path), [1.0]), 0) is None


def test_mann_whitney_against_the_best_per_problem(tmp_path):
    r = load(two_optimizers(tmp_path))
    vb = stats.versus_best(cube(r, [1.0]), 0).set_index(["problem", "optimizer"])
    p1a, p1r = vb.loc[("p1", "alpha")], vb.loc[("p1", "random")]
    assert p1a["best"] and not p1r["best"]
    assert (p1a["median"], p1a["q25"], p1a["q75"]) == (0.25, 0.175, 0.625)
    assert p1r["median"] == 1.0 and p1r["n"] == 3
    want = mannwhitneyu([1, 2, 0.5], [0.25, 0.1, 1], alternative="greater").pvalue
    assert p1r["p_value"] == pytest.approx(want)
    assert p1r["not_worse"] == (want >= 0.05)
    assert math.isnan(p1a["p_value"]) and p1a["not_worse"]


def test_holm_correction_and_marks(tmp_path):
    r = load(ranked(tmp_path, n_problems=1))
    vb = stats.versus_best(cube(r, [1.0]), 0).set_index("optimizer")
    assert vb.loc["good", "best"]
    # fully separated samples of five: exact one-sided p = 1/252; Holm doubles the smaller
    assert vb.loc["bad", "p_value"] == pytest.approx(1 / 252)
    assert vb.loc["bad", "p_adjusted"] == pytest.approx(2 / 252)
    assert not vb.loc["bad", "not_worse"]
    assert vb.loc["close", "not_worse"] and vb.loc["close", "p_adjusted"] > 0.05
    assert stats.holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx(
        [0.03, 0.06, 0.06])


def test_critical_difference_diagram_draws_the_mean_ranks(tmp_path):
    r = load(ranked(tmp_path))
    res = stats.friedman(cube(r, [1.0]), 0)
    fig, drawn = stats.plot_cd(r, res, "2 evaluations")
    assert drawn.to_dict() == {"good": 1.0, "close": 2.0, "bad": 3.0}
    ax = fig.axes[0]
    xs = sorted(float(c.get_offsets()[0][0]) for c in ax.collections)
    assert xs == [1.0, 2.0, 3.0]
    labels = {t.get_text() for t in ax.texts}
    assert {"good (1.00)", "(3.00) bad"} <= labels
    assert "Friedman p = 0.0183" in ax.get_title()


def test_no_incumbent_is_worst_and_shown_as_infinite(tmp_path):
    for s in range(3):
        write(tmp_path, "p", "dead", s, cell_columns([None, None]), optimum=0.0, budget=2)
        write(tmp_path, "p", "alive", s, cell_columns([5.0, 1.0 + s]), optimum=0.0, budget=2)
    vb = stats.versus_best(cube(load(tmp_path), [1.0]), 0).set_index("optimizer")
    assert vb.loc["alive", "best"] and vb.loc["alive", "median"] == 2.0
    assert vb.loc["dead", "median"] == math.inf and vb.loc["dead", "mean"] == math.inf
    # "nothing found" ranks above every number (ties among the dead: normal approximation)
    want = mannwhitneyu([1e300] * 3, [1.0, 2.0, 3.0], alternative="greater").pvalue
    assert vb.loc["dead", "p_value"] == pytest.approx(want)
