"""Behaviour of ``simulated-annealing`` (optimizers/local/annealing.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench import Budget, make_optimizer
from tests.optimizers.cube_problems import MixedSphere, ShiftedSphere, median_best, run


def test_beats_random_on_a_sphere():
    ours = median_best("simulated-annealing", lambda s: ShiftedSphere(5, seed=s), 200)
    rand = median_best("random", lambda s: ShiftedSphere(5, seed=s), 200)
    assert ours < rand / 3


def test_initial_temperature_is_calibrated_from_the_spread_of_the_first_evaluations():
    temps = {}
    for scale in (1.0, 100.0):
        result, opt = run("simulated-annealing", ShiftedSphere(3, seed=4, scale=scale), 30,
                          seed=1, n_init=10)
        first = np.array(result.columns["value"][:10])
        assert opt.config["t0_scale"] * np.std(first) == pytest.approx(opt.T0)
        temps[scale] = opt.T0
    # the same seeds see the same points, so T0 scales with the objective
    assert temps[100.0] == pytest.approx(100.0 * temps[1.0])


def test_geometric_schedule_reaches_the_final_fraction_at_the_end_of_the_budget():
    # patience beyond the budget: no reheat interferes with the schedule
    _, opt = run("simulated-annealing", ShiftedSphere(3, seed=2), 120, seed=0,
                 n_init=20, t_final=1e-3, patience=10_000)
    assert opt.temperature == pytest.approx(opt.T0 * 1e-3, rel=1e-6)


def test_adaptive_schedule_cools_differently():
    runs = {}
    for schedule in ("geometric", "adaptive"):
        _, opt = run("simulated-annealing", ShiftedSphere(3, seed=2), 120, seed=0,
                     schedule=schedule, patience=10_000)
        runs[schedule] = opt.temperature / opt.T0
    assert 0 < runs["adaptive"] < 1
    assert runs["adaptive"] != pytest.approx(runs["geometric"])


def test_reheats_when_stuck():
    _, opt = run("simulated-annealing", ShiftedSphere(2, seed=0), 200, seed=0, patience=15)
    assert opt.reheats >= 1


def test_moves_keep_discrete_values_valid_and_reach_the_mixed_optimum_region():
    result, _ = run("simulated-annealing", MixedSphere(), 200, seed=3)
    assert set(result.columns["param.colour"]) <= set(MixedSphere.COLOURS)
    assert all(isinstance(n, int) for n in result.columns["param.n"])
    assert median_best("simulated-annealing", lambda s: MixedSphere(seed=s), 200) < 1.0


@pytest.mark.parametrize(("key", "value"), [("schedule", "linear"), ("cooling", 1.0),
                                            ("t_final", 0.0), ("n_init", 1),
                                            ("target_accept", 1.0)])
def test_bad_settings_are_refused(key, value):
    with pytest.raises(ValueError, match=key):
        make_optimizer("simulated-annealing", ShiftedSphere(2).space, seed=0,
                       budget=Budget(10), **{key: value})


def test_budget_smaller_than_the_calibration_sample_ends_cleanly():
    result, _ = run("simulated-annealing", ShiftedSphere(3), 3, n_init=10)
    assert result.n_trials == 3 and result.reason == "budget"
