import numpy as np
import pytest

from hpbench.analysis import overfit, overhead
from hpbench.analysis.curves import budget_points, cubes
from hpbench.analysis.load import load
from tests.analysis.build import cell_columns, two_optimizers, write


@pytest.fixture
def results(tmp_path):
    return load(two_optimizers(tmp_path))


def test_validation_and_test_regret_of_the_incumbent_by_hand(results):
    assert overfit.problems_with_test(results) == ["p2"]
    t = results.trials
    a0 = t[(t["problem"] == "p2") & (t["optimizer"] == "alpha") & (t["repeat"] == 0)]
    # incumbent by observed value: trials 0, 1, 1, 1; test values 2.6, 1.5; best test 1.0
    assert a0["val_regret"].tolist() == [1.5, 0, 0, 0]
    assert a0["test_regret"].tolist() == pytest.approx([1.6, 0.5, 0.5, 0.5])
    r0 = t[(t["problem"] == "p2") & (t["optimizer"] == "random") & (t["repeat"] == 0)]
    assert r0["test_regret"].tolist() == pytest.approx([2.1, 1.2, 1.2, 0.9])
    pairs = overfit.final_pairs(results).set_index(["optimizer", "repeat"])
    assert pairs.loc[("alpha", 0), ["val_regret", "test_regret"]].tolist() == \
        pytest.approx([0.0, 0.5])
    assert pairs.loc[("random", 1), ["val_regret", "test_regret"]].tolist() == \
        pytest.approx([0.5, 0.5])


def test_overfit_figure_draws_medians_and_final_points(results):
    cs = cubes(results, budget_points(results), ["val_regret", "test_regret"])
    curves = overfit.overfit_curves(cs["val_regret"], cs["test_regret"], "p2")
    alpha = curves[curves["optimizer"] == "alpha"]
    # alpha's validation regret per repeat: [1.5,0,0,0], [1.5,1.5,1.5,0], [2.2,1.2,0.2,0]
    assert alpha["val_regret"].tolist() == pytest.approx([1.5, 1.2, 0.2, 0.0])
    fig, drawn = overfit.plot_overfit(results, "p2", curves, overfit.final_pairs(results))
    solid = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "alpha")
    # the smallest positive regret drawn is 0.1 (random's test regret): 0 a decade below it
    assert solid.get_ydata().tolist() == pytest.approx([1.5, 1.2, 0.2, 0.01])
    assert "regret 0 drawn at 0.01" in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_ylim()[0] == pytest.approx(0.01 / 10 ** 0.15)
    pts = drawn["final"]
    assert len(pts) == 6 and set(pts["optimizer"]) == {"alpha", "random"}
    assert len(fig.axes[1].collections) == 2  # one scatter per optimizer


def test_the_final_scatter_compares_validation_and_test_values_of_one_configuration(results):
    """Validation regret (vs the best true value) against test regret (vs the best test
    value) put y = x between two references; the values themselves share one."""
    pairs = overfit.final_pairs(results)
    cs = cubes(results, budget_points(results), ["val_regret", "test_regret"])
    curves = overfit.overfit_curves(cs["val_regret"], cs["test_regret"], "p2")
    fig, drawn = overfit.plot_overfit(results, "p2", curves, pairs)
    scatter = fig.axes[1]
    alpha = next(c for c in scatter.collections if c.get_label() == "alpha")
    # alpha's final incumbent, repeat 0: validation value 1.0 (trial 1), its test value 1.5
    assert alpha.get_offsets()[0].tolist() == pytest.approx([1.0, 1.5])
    assert "validation value" in scatter.get_xlabel() and scatter.get_ylabel() == "test value"
    assert "the test value against the\nvalidation value of the same configuration" in \
        scatter.get_title()
    diagonal = [ln for ln in scatter.get_lines() if ln.get_label() == "_nolegend_"]
    assert len(diagonal) == 1
    x, y = diagonal[0].get_data()
    assert list(x) == list(y)  # test = validation
    want = pairs[pairs["problem"] == "p2"]
    assert sorted(drawn["final"]["x"]) == pytest.approx(sorted(want["val_value"]))


def test_overhead_is_ask_plus_tell_per_trial_by_number_of_observations(tmp_path):
    write(tmp_path, "p", "slow", 0, cell_columns([1, 1, 1, 1], ask_s=[0.1, 0.2, 0.4, 0.8]),
          optimum=0.0)
    write(tmp_path, "p", "fast", 0, cell_columns([1, 1, 1, 1], ask_s=[0.01] * 4),
          optimum=0.0)
    r = load(tmp_path)
    data = overhead.overhead(r, bins=3)
    slow = data[data["optimizer"] == "slow"]
    # tell takes half the ask time in these cells: ask + tell = 1.5 × ask = .15, .3, .6, 1.2;
    # bins of observations + 1 with edges floor(geomspace(1, 5, 4)) = 1, 2, 5: {1}, {2, 3, 4}
    got = dict(zip(slow["x"], slow["median"]))
    assert got == pytest.approx({1.0: 0.15, 3.0: 0.6})
    assert slow["n"].tolist() == [1, 3]
    assert data[data["optimizer"] == "fast"]["median"].tolist() == pytest.approx([0.015] * 2)
    fig, drawn = overhead.plot_overhead(r, data)
    assert drawn[drawn["optimizer"] == "slow"]["y"].tolist() == pytest.approx([0.15, 0.6])
    line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "slow")
    assert line.get_xdata().tolist() == [1.0, 3.0]
    assert np.allclose(line.get_ydata(), [0.15, 0.6])
