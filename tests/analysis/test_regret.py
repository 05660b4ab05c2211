from itertools import pairwise

import numpy as np
import pytest

from hpbench.analysis import regret, style
from hpbench.analysis.curves import budget_points, cube
from hpbench.analysis.load import load
from tests.analysis.build import cell_columns, two_optimizers, write


@pytest.fixture
def results(tmp_path):
    return load(two_optimizers(tmp_path))


def _line(ax, label):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(lines) == 1, label
    return lines[0]


def test_problem_figure_draws_the_median_of_each_optimizer(results):
    fig, drawn = regret.plot_problem(results, "p1")
    # one unit of cost per trial: the cost panel would repeat the evaluations panel
    ax_evals, ax_wall = fig.axes
    alpha = _line(ax_evals, "alpha")
    assert alpha.get_xdata().tolist() == [1, 2, 3, 4]
    assert alpha.get_ydata().tolist() == [4, 3, 0.5, 0.25]
    assert _line(ax_evals, "random").get_ydata().tolist() == [5, 3, 3, 1]
    assert ax_evals.get_yscale() == "log" and ax_wall.get_xscale() == "log"
    assert ax_evals.get_ylabel() == "regret"
    assert ax_evals.get_xlabel() == "evaluations (= cumulative cost)"
    assert set(drawn) == {"evaluations", "wall"}
    assert "median and interquartile range" in fig._suptitle.get_text()
    assert any(results.fingerprint in t.get_text() for t in fig.texts)


def test_a_cost_that_differs_from_the_evaluations_gets_its_own_panel(tmp_path):
    for r in range(2):
        write(tmp_path, "p", "random", r, cell_columns([4, 3, 2, 1], cost=[2, 1, 3, 1]),
              optimum=0.0)
    results = load(tmp_path)
    assert regret.problem_axes(results, "p") == ("evaluations", "cost", "wall")
    fig, drawn = regret.plot_problem(results, "p")
    ax_evals, ax_cost, _ = fig.axes
    assert ax_evals.get_xlabel() == "evaluations" and ax_cost.get_xlabel() == "cumulative cost"
    assert _line(ax_cost, "random").get_xdata()[-1] == 7  # 2 + 1 + 3 + 1
    assert set(drawn) == {"evaluations", "cost", "wall"}


def test_zero_regret_is_drawn_a_decade_below_the_smallest_regret_shown(results):
    """A fixed floor of 1e-12 stretched the log axis over twelve empty decades."""
    fig, drawn = regret.plot_problem(results, "p2")
    ax = fig.axes[0]
    alpha = _line(ax, "alpha")
    # p2's smallest positive regret shown is 0.1 (alpha's lower quartile after three
    # evaluations): alpha's median of 0 at the end is drawn at 0.01, and the axis stops there
    assert alpha.get_ydata().tolist() == pytest.approx([1.5, 1.2, 0.2, 0.01])
    assert ax.get_ylim()[0] == pytest.approx(0.01 / 10 ** 0.15)
    assert ax.get_ylabel() == "regret vs best seen\n(regret 0 drawn at 0.01, dotted line)"
    floor_line = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [0.01, 0.01]]
    assert len(floor_line) == 1 and floor_line[0].get_linestyle() == ":"
    d = drawn["evaluations"]
    assert d[d["optimizer"] == "alpha"]["y"].tolist() == pytest.approx([1.5, 1.2, 0.2, 0.01])
    # no zero drawn: no floor, and nothing said
    fig, _ = regret.plot_problem(results, "p1")
    assert "drawn at" not in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_ylim()[0] > 0.1


def test_each_optimizer_keeps_its_style_in_every_figure(results):
    f1, _ = regret.plot_problem(results, "p1")
    f2, _ = regret.plot_problem(results, "p2")
    summary = regret.normalized_summary(cube(results, budget_points(results)))
    f3, _ = regret.plot_normalized(results, summary)
    for name in results.optimizers:
        got = {(tuple(_line(f.axes[0], name).get_color()), _line(f.axes[0], name).get_marker())
               for f in (f1, f2, f3)}
        assert len(got) == 1
    st = style.styles(results.optimizers)
    assert tuple(_line(f1.axes[0], "random").get_color()) == st["random"].color == (0, 0, 0)


def test_normalized_regret_median_and_bayesmark_mean_by_hand(results):
    c = cube(results, budget_points(results))
    norm = regret.normalized(c)
    a, rnd = c.optimizers.index("alpha"), c.optimizers.index("random")
    # p1: alpha median / random median per evaluation: 4/5, 3/3, 0.5/3, 0.25/1
    assert norm[0, a].tolist() == pytest.approx([0.8, 1.0, 0.5 / 3, 0.25])
    assert norm[:, rnd].tolist() == [[1.0] * 4, [1.0] * 4]
    # p2 at 4 evaluations: alpha's median regret is 0 — normalized 0, the optimum
    assert norm[1, a, 3] == 0.0
    s = regret.normalized_summary(c)
    last = s[(s["optimizer"] == "alpha") & (s["point"] == 1.0)].iloc[0]
    assert last["median"] == pytest.approx(0.25 / 2)
    # clip levels: random's median regret after one evaluation, 5 on p1 and 2 on p2
    assert regret.clip_levels(c).tolist() == [5.0, 2.0]
    # clipped means: alpha p1 (0.05+0.02+0.2)/3 = 0.09, p2 0; random 0.7/3 and 0.2
    assert last["mean"] == pytest.approx(0.045 / ((0.7 / 3 + 0.2) / 2))
    assert last["ci_low"] <= last["mean"] <= last["ci_high"]
    rnd_rows = s[s["optimizer"] == "random"]
    assert rnd_rows["mean"].tolist() == pytest.approx([1.0] * 4)
    assert rnd_rows["median"].tolist() == [1.0] * 4


def test_normalized_figure_draws_what_the_summary_says(results):
    summary = regret.normalized_summary(cube(results, budget_points(results)))
    fig, drawn = regret.plot_normalized(results, summary)
    alpha = _line(fig.axes[0], "alpha")
    want = summary[summary["optimizer"] == "alpha"]
    assert alpha.get_xdata().tolist() == [1, 2, 3, 4]  # x in evaluations
    assert alpha.get_ydata().tolist() == pytest.approx(want["median"].tolist())
    assert _line(fig.axes[1], "alpha").get_ydata().tolist() == pytest.approx(
        want["mean"].tolist())
    assert set(drawn["panel"]) == {"median", "mean"}


def test_normalization_needs_the_baseline(tmp_path):
    r = load(two_optimizers(tmp_path, with_random=False))
    with pytest.raises(KeyError, match="random"):
        regret.normalized(cube(r, budget_points(r)))


def test_problem_figures_are_written_as_pdf_and_png(results, tmp_path):
    paths = regret.write_problem_figures(results, tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names == ["p1.pdf", "p1.png", "p2.pdf", "p2.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert np.all([p.parent.name == "regret" for p in paths])


def test_problems_without_the_baseline_are_left_out_of_normalized_regret(tmp_path):
    from hpbench.analysis.report import analyse

    two_optimizers(tmp_path)
    write(tmp_path, "p3", "alpha", 0, cell_columns([1.0, 1.0, 1.0, 1.0]), optimum=0.0)
    r = load(tmp_path)
    c = cube(r, budget_points(r))
    assert np.isnan(regret.normalized(c)[2]).all()
    assert np.isnan(regret.normalized_mean(c)[2]).all()
    s = regret.normalized_summary(c)
    assert set(s["n_problems"]) == {2}
    assert any("p3" in n and "normalized regret leaves out" in n
               for n in analyse(r, problem_curves=False).notes)


def test_normalized_median_is_undefined_where_random_reached_the_reference():
    from hpbench.analysis.curves import Cube

    # problem 0: random's median regret reaches 0 at the last point, alpha's does not
    # problem 1: an ordinary problem where alpha halves random's regret
    values = np.array([
        [[[4.0, 2.0, 1.0], [4.0, 2.0, 1.0], [4.0, 2.0, 1.0]],     # p0 alpha
         [[4.0, 1.0, 0.0], [4.0, 1.0, 0.0], [4.0, 1.0, 1.0]]],    # p0 random
        [[[1.0, 0.5, 0.25]] * 3,                                  # p1 alpha
         [[2.0, 1.0, 0.5]] * 3]])                                 # p1 random
    c = Cube(values=values, problems=["p0", "p1"], optimizers=["alpha", "random"],
             repeats=[0, 1, 2], points=np.array([1 / 3, 2 / 3, 1.0]))
    norm = regret.normalized(c)
    assert norm[0, 0].tolist()[:2] == [1.0, 2.0]
    assert np.isnan(norm[0, 0, 2]), "alpha / a random median of 0 has no finite value"
    assert norm[0, 1, 2] == 1.0  # random against itself: both at the reference
    s = regret.normalized_summary(c)
    last = s[(s["optimizer"] == "alpha") & (s["point"] == 1.0)].iloc[0]
    assert last["median"] == pytest.approx(0.5)  # p1 alone
    assert last["n_problems"] == 1
    assert np.isfinite(last["mean"])


def _drawn_tick_labels(fig, axis):
    """(text, window extent) of the tick labels of ``axis`` that the figure draws."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = sorted(axis.get_view_interval())
    ticks = axis.get_major_ticks() + axis.get_minor_ticks()
    return [(t.label1.get_text(), t.label1.get_window_extent(renderer)) for t in ticks
            if t.label1.get_visible() and t.label1.get_text() and lo <= t.get_loc() <= hi]


@pytest.mark.parametrize("ask_s", [[0.015, 0.05, 0.2, 0.6], [0.2, 0.25, 0.3, 0.4],
                                   [1e-4, 1e-2, 1.0, 100.0], [0.001] * 4])
def test_wall_time_tick_labels_are_readable(tmp_path, ask_s):
    """A wall-time axis spanning one or two decades got a label on every minor tick
    (3×10⁻², 4×10⁻², 6×10⁻², …), which ran into each other; and it must keep some labels.
    Over a third of a decade (0.011 … 0.044 s) matplotlib fell back to linear ticks every
    0.005 s, which ran into each other too."""
    for s in range(2):
        write(tmp_path, "p", "random", s, cell_columns([4, 3, 2, 1], ask_s=ask_s), optimum=0.0)
    fig, _ = regret.plot_problem(load(tmp_path), "p")
    wall = next(ax for ax in fig.axes if ax.get_xlabel() == "wall time (s)")
    labels = _drawn_tick_labels(fig, wall.xaxis)
    assert len(labels) >= 2, labels
    boxes = sorted((b.x0, b.x1, text) for text, b in labels)
    for (_, right, a), (left, _, b) in pairwise(boxes):
        assert right < left, f"tick labels {a!r} and {b!r} overlap"
