import numpy as np
import pytest

from hpbench.analysis.curves import (
    band,
    bootstrap_mean_ci,
    budget_points,
    cube,
    lookup_rows,
    problem_curves,
    quantiles,
    step_lookup,
    summarize,
)
from hpbench.analysis.load import load
from tests.analysis.build import cell_columns, two_optimizers, write


def test_lookup_finds_the_last_row_within_each_budget():
    codes = np.array([0, 0, 0, 2, 2])
    x = np.array([1.0, 2.0, 2.0, 0.5, 3.0])
    y = np.array([10.0, 20.0, 21.0, 30.0, 40.0])
    q_codes = np.array([0, 0, 0, 0, 1, 2, 2, 2, 3])
    q_x = np.array([0.5, 1.0, 2.0, 9.0, 5.0, 0.4, 0.5, 2.9, 1.0])
    rows = lookup_rows(codes, x, q_codes, q_x)
    assert rows.tolist() == [-1, 0, 2, 2, -1, -1, 3, 3, -1]
    out = step_lookup(codes, x, y, q_codes, q_x)
    np.testing.assert_array_equal(out, [np.nan, 10, 21, 21, np.nan, np.nan, 30, 30, np.nan])


def test_lookup_tolerates_float_sums_but_not_more():
    codes = np.zeros(3, dtype=np.int64)
    x = np.array([0.1 + 0.2, 0.6, 1.0 + 1e-7])  # 0.30000000000000004
    rows = lookup_rows(codes, x, np.zeros(3, np.int64), np.array([0.3, 0.6, 1.0]))
    assert rows.tolist() == [0, 1, 1]


def test_lookup_agrees_with_a_plain_loop_on_random_data():
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 30, 200)
    codes = np.repeat(np.arange(200), lengths)
    x = np.concatenate([np.sort(rng.random(k) * 100) for k in lengths])
    q_codes = rng.integers(-1, 201, 2000)
    q_x = rng.random(2000) * 110 - 5
    rows = lookup_rows(codes, x, q_codes, q_x)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i in range(len(q_codes)):
        c = q_codes[i]
        want = -1
        if 0 <= c < 200:
            for j in range(starts[c], starts[c + 1]):
                if x[j] <= q_x[i] * (1 + 1e-9) + 1e-9:
                    want = j
        assert rows[i] == want


def test_quantiles_match_numpy_and_treat_inf_as_largest():
    rng = np.random.default_rng(0)
    a = rng.random((50, 7))
    np.testing.assert_allclose(quantiles(a, [0.25, 0.5, 0.75], axis=1),
                               np.quantile(a, [0.25, 0.5, 0.75], axis=1))
    b = np.array([[1.0, 2.0, np.nan, 4.0], [1.0, np.inf, np.inf, np.nan]])
    q = quantiles(b, [0.5, 0.25, 0.75])
    assert q[:, 0].tolist() == [2.0, 1.5, 3.0]
    assert q[:, 1].tolist() == [np.inf, np.inf, np.inf]
    c = np.array([[1.0, 2.0, np.inf]])
    assert quantiles(c, [0.5, 0.25, 0.75])[:, 0].tolist() == [2.0, 1.5, np.inf]


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    a = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 5.0, 5.0, np.nan], [1.0, np.inf, 1.0, 1.0]])
    m, lo, hi = bootstrap_mean_ci(a, np.random.default_rng(1))
    assert m.tolist() == [2.5, 5.0, np.inf]
    assert 1.0 <= lo[0] < 2.5 < hi[0] <= 4.0
    assert (lo[1], hi[1]) == (5.0, 5.0)
    assert hi[2] == np.inf
    m2, lo2, hi2 = bootstrap_mean_ci(a, np.random.default_rng(1))
    assert (m2 == m).all() and (lo2 == lo).all() and (hi2 == hi).all()


def test_band_refuses_unknown_kinds():
    with pytest.raises(ValueError, match="band must be one of"):
        band(np.ones((2, 3)), "std")


def test_cube_holds_every_cells_regret_at_every_evaluation(tmp_path):
    r = load(two_optimizers(tmp_path))
    points = budget_points(r)
    assert points.tolist() == [0.25, 0.5, 0.75, 1.0]
    c = cube(r, points)
    assert c.values.shape == (2, 2, 3, 4)
    a = c.optimizers.index("alpha")
    assert c.values[0, a, 2].tolist() == [6, 6, 2, 1]
    assert c.values[1, c.optimizers.index("random"), 1].tolist() == [3.5, 3.5, 0.5, 0.5]


def test_a_cell_without_incumbent_is_inf_and_a_missing_cell_nan(tmp_path):
    write(tmp_path, "p", "a", 0, cell_columns([None, 2.0]), optimum=0.0, budget=2)
    write(tmp_path, "p", "b", 1, cell_columns([1.0, 1.0]), optimum=0.0, budget=2)
    c = cube(load(tmp_path), [0.5, 1.0])
    assert c.values[0, 0, 0].tolist() == [np.inf, 2.0]
    assert np.isnan(c.values[0, 0, 1]).all()  # a ran no repeat 1


def test_median_and_iqr_per_evaluation_by_hand(tmp_path):
    r = load(two_optimizers(tmp_path))
    s = summarize(problem_curves(r, "p1", "evaluations"), "iqr")
    alpha = s[s["optimizer"] == "alpha"]
    assert alpha["x"].tolist() == [1, 2, 3, 4]
    assert alpha["centre"].tolist() == [4, 3, 0.5, 0.25]
    rnd = s[s["optimizer"] == "random"]
    assert rnd["centre"].tolist() == [5, 3, 3, 1]
    # repeats {0.5, 1, 2} at evaluation 4: quartiles 0.75 and 1.5
    assert rnd["low"].tolist()[-1] == 0.75 and rnd["high"].tolist()[-1] == 1.5
    assert set(s["n"]) == {3}


def test_mean_band_uses_the_bootstrap(tmp_path):
    r = load(two_optimizers(tmp_path))
    s = summarize(problem_curves(r, "p1", "evaluations"), "ci")
    alpha = s[s["optimizer"] == "alpha"]
    assert alpha["centre"].tolist() == pytest.approx([13 / 3, 10 / 3, 2.6 / 3, 1.35 / 3])
    assert (alpha["low"] <= alpha["centre"]).all() and (alpha["centre"] <= alpha["high"]).all()
    # the interval lies within the smallest and largest repeat
    assert alpha["low"].tolist()[0] >= 3 and alpha["high"].tolist()[0] <= 6


def test_cost_axis_follows_cumulative_cost(tmp_path):
    write(tmp_path, "p", "a", 0, cell_columns([3, 2, 1], cost=[1, 5, 1]), optimum=0.0,
          budget=3)
    curves = problem_curves(load(tmp_path), "p", "cost", n=8)
    # grid from the first cost (1) to the last (7)
    assert curves["x"].tolist() == pytest.approx(np.linspace(1, 7, 8).tolist())
    # 2 is reached at cost 6, 1 at cost 7
    expected = [3, 3, 3, 3, 3, 3, 2, 1]  # grid 1, 1.86, …, 5.29, 6.14, 7
    assert curves["regret"].tolist() == expected
