import math

import numpy as np
import pandas as pd
import pytest

from hpbench.analysis import profiles
from hpbench.analysis.curves import budget_points, cube
from hpbench.analysis.load import load
from tests.analysis.build import two_optimizers


@pytest.fixture
def results(tmp_path):
    return load(two_optimizers(tmp_path))


def test_targets_are_log_spaced_from_the_median_first_regret(results):
    # first regrets on p1: random 5, 3, 8; alpha 4, 3, 6 → median 4.5
    # on p2: random 2, 3.5, 0.2; alpha 1.5, 1.5, 2.2 → median 1.75
    assert results.problems["r0"].tolist() == pytest.approx([4.5, 1.75])
    t = profiles.targets(results)
    assert t.shape == (2, 41)
    assert t.loc["p1"].tolist() == pytest.approx((4.5 * 10 ** (-np.arange(41) / 5)).tolist())


def test_ecdf_fractions_by_hand(results):
    c = cube(results, budget_points(results))
    tgt = pd.DataFrame([[0.5, 1, 2, 4], [0.25, 0.5, 1, 2]], index=["p1", "p2"])
    e = profiles.ecdf(c, tgt)
    alpha = e[e["optimizer"] == "alpha"]
    # (problem, repeat, target) triples reached by alpha after 1, 2, 3, 4 evaluations
    assert alpha["reached"].tolist() == [4, 10, 19, 23]
    assert alpha["fraction"].tolist() == pytest.approx([4 / 24, 10 / 24, 19 / 24, 23 / 24])
    assert set(alpha["total"]) == {24}


def test_runtimes_and_performance_profile_by_hand(results):
    # tau 0.25: solved means regret <= 1.125 on p1 and <= 0.4375 on p2
    rt = profiles.runtimes(results, tau=0.25).set_index(["problem", "optimizer", "repeat"])
    got = rt["runtime"]
    assert [got[("p1", "random", r)] for r in range(3)] == [4, math.inf, 4]
    assert [got[("p1", "alpha", r)] for r in range(3)] == [2, 3, 4]
    assert [got[("p2", "random", r)] for r in range(3)] == [math.inf, math.inf, 1]
    assert [got[("p2", "alpha", r)] for r in range(3)] == [2, 4, 3]
    prof = profiles.performance_profile(rt.reset_index())
    alpha = prof[prof["optimizer"] == "alpha"].set_index("alpha")["fraction"]
    rnd = prof[prof["optimizer"] == "random"].set_index("alpha")["fraction"]
    assert list(alpha.index) == [1.0, 2.0, 3.0]
    assert alpha.tolist() == pytest.approx([5 / 6, 5 / 6, 1.0])
    assert rnd.tolist() == pytest.approx([2 / 6, 3 / 6, 3 / 6])
    assert set(prof["instances"]) == {6}


def test_profile_figures_draw_their_data(results):
    c = cube(results, budget_points(results))
    e = profiles.ecdf(c, profiles.targets(results))
    fig, drawn = profiles.plot_ecdf(results, e, 41)
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "alpha")
    assert line.get_xdata().tolist() == [1, 2, 3, 4]
    assert line.get_ydata().tolist() == pytest.approx(
        e[e["optimizer"] == "alpha"]["fraction"].tolist())
    prof = profiles.performance_profile(profiles.runtimes(results, 0.25))
    fig, drawn = profiles.plot_performance_profile(results, prof, 0.25)
    assert drawn[drawn["optimizer"] == "random"]["x"].tolist()[:3] == [1.0, 2.0, 3.0]
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "random")
    assert line.get_ydata().tolist()[:3] == pytest.approx([2 / 6, 3 / 6, 3 / 6])
    assert fig.axes[0].get_xscale() == "log"
