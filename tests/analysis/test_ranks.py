import numpy as np
import pytest

from hpbench.analysis import ranks
from hpbench.analysis.curves import budget_points, cube
from hpbench.analysis.load import load
from tests.analysis.build import cell_columns, two_optimizers, write


def test_average_rank_over_problem_repeat_blocks_by_hand(tmp_path):
    r = load(two_optimizers(tmp_path))
    data = ranks.average_ranks(cube(r, budget_points(r)))
    alpha = data[data["optimizer"] == "alpha"].set_index("point")["mean_rank"]
    rnd = data[data["optimizer"] == "random"].set_index("point")["mean_rank"]
    # after one evaluation: p1 blocks alpha 1, tie 1.5, 1; p2 blocks 1, 1, 2
    assert alpha[0.25] == pytest.approx(7.5 / 6)
    assert rnd[0.25] == pytest.approx(10.5 / 6)
    # after four: p1 1, 1, 2; p2 1, 1, 1
    assert alpha[1.0] == pytest.approx(7 / 6)
    assert rnd[1.0] == pytest.approx(11 / 6)
    assert (alpha + rnd == 3).all()  # two optimizers: ranks sum to 3 in every block
    assert set(data["n_blocks"]) == {6}


def test_a_cell_without_incumbent_ranks_last(tmp_path):
    write(tmp_path, "p", "a", 0, cell_columns([None, 5.0]), optimum=0.0, budget=2)
    write(tmp_path, "p", "b", 0, cell_columns([9.0, 9.0]), optimum=0.0, budget=2)
    r = load(tmp_path)
    data = ranks.average_ranks(cube(r, budget_points(r))).set_index(["optimizer", "point"])
    assert data.loc[("a", 0.5), "mean_rank"] == 2.0
    assert data.loc[("a", 1.0), "mean_rank"] == 1.0


def test_an_optimizer_that_did_not_run_is_left_out_of_the_block(tmp_path):
    for opt, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        write(tmp_path, "p", opt, 0, cell_columns([v]), optimum=0.0, budget=1)
    for opt, v in (("a", 2.0), ("b", 1.0)):
        write(tmp_path, "q", opt, 0, cell_columns([v]), optimum=0.0, budget=1)
    r = load(tmp_path)
    data = ranks.average_ranks(cube(r, budget_points(r))).set_index("optimizer")
    assert data.loc["a", "mean_rank"] == 1.5  # ranks 1 (of 3) and 2 (of 2)
    assert data.loc["c", "mean_rank"] == 3.0 and data.loc["c", "n_blocks"] == 1
    assert data.loc["a", "block_size"] == 2.5


def test_rank_figure_draws_the_mean_normalized_ranks(tmp_path):
    r = load(two_optimizers(tmp_path))
    data = ranks.average_ranks(cube(r, budget_points(r)))
    fig, drawn = ranks.plot_ranks(r, data)
    ax = fig.axes[0]
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "alpha")
    assert line.get_xdata().tolist() == [1, 2, 3, 4]
    # two optimizers: rank 1 is 0 and rank 2 is 1, so the normalized rank is mean rank − 1
    want = data[data["optimizer"] == "alpha"]["mean_rank"].to_numpy() - 1
    assert line.get_ydata().tolist() == pytest.approx(want.tolist())
    assert np.allclose(drawn[drawn["optimizer"] == "alpha"]["y"], line.get_ydata())
    assert "(rank − 1) / (n − 1)" in ax.get_ylabel() and "0 = best" in ax.get_ylabel()
    assert ax.get_ylim() == pytest.approx((-0.03, 1.03))


def test_ranks_are_normalized_within_blocks_of_different_sizes(tmp_path):
    """Blocks of 3 and of 2 optimizers (one did not run on q): the last of 3 and the last
    of 2 are both 1, the first of each 0 — a raw mean rank mixes 3 with 2."""
    for opt, v in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        write(tmp_path, "p", opt, 0, cell_columns([v]), optimum=0.0, budget=1)
    for opt, v in (("a", 2.0), ("b", 1.0)):
        write(tmp_path, "q", opt, 0, cell_columns([v]), optimum=0.0, budget=1)
    # a problem only "a" ran on: a block of one ranks nothing
    write(tmp_path, "s", "a", 0, cell_columns([5.0]), optimum=0.0, budget=1)
    r = load(tmp_path)
    data = ranks.average_ranks(cube(r, budget_points(r))).set_index("optimizer")
    assert data.loc["a", "norm_rank"] == pytest.approx(0.5)  # 0 of 3 on p, 1 of 2 on q
    assert data.loc["b", "norm_rank"] == pytest.approx(0.25)  # 0.5 on p, 0 on q
    assert data.loc["c", "norm_rank"] == 1.0
    assert data.loc["a", "mean_rank"] == pytest.approx(4 / 3)  # 1, 2 and 1 (alone on s)
    fig, _ = ranks.plot_ranks(r, data.reset_index())
    c = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() == "c")
    assert c.get_ydata().tolist() == [1.0]
