"""Spread versus noise: the measurement, the shipped tables, the "uninformative" flag in the
registry and in `hpbench list problems` (the suite side is in tests/hpbench/test_suite.py)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from hpbench.cli import main
from hpbench.problems import spread
from hpbench.registry import entries, make_problem

CHEAP = "sklearn-ridge-diabetes-mse"


def _row(**changes) -> spread.SpreadRow:
    row = spread.SpreadRow("sklearn-x-y-error", {}, 32, 0, 0.2, 0.05, 0.04, 0.1, 6, 5, 0.01,
                           0.02, 1.0)
    return replace(row, **changes)


# --- the numbers --------------------------------------------------------------------------
def test_interaction_sd_ignores_config_and_instance_shifts_and_measures_the_rest():
    config, instance = np.array([[0.0], [1.0], [5.0]]), np.array([[0.0, 2.0, -1.0, 0.5]])
    assert spread.interaction_sd(config + instance) == pytest.approx(0.0, abs=1e-12)
    # one cell off by d: residuals sum of squares d^2 (M-1)(S-1)/(M S) over (M-1)(S-1) df
    v = config + instance
    v[1, 2] += 0.6
    assert spread.interaction_sd(v) == pytest.approx(0.6 / math.sqrt(12))
    assert math.isnan(spread.interaction_sd(np.ones((1, 4))))


def test_noise_configs_are_picked_between_the_10th_and_90th_percentile():
    values = np.array([100.0, 1.0, np.nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, -50.0])
    picked = spread.noise_ranks(values, 3)
    assert [values[i] for i in picked] == [1.0, 5.0, 9.0]  # not the outliers, not the NaN
    assert spread.noise_ranks(np.array([np.nan]), 3) == []


def test_the_flag_is_spread_at_most_noise():
    assert not _row(spread_iqr=0.05, noise_sd=0.01).uninformative
    assert _row(spread_iqr=0.01, noise_sd=0.02).uninformative
    assert _row(spread_iqr=0.0, noise_sd=0.0).uninformative  # nothing to tell apart
    assert not _row(noise_sd=math.nan).uninformative  # unmeasured noise flags nothing
    note = _row(spread_iqr=0.0123, noise_sd=0.0456, settings={"epochs": 5}).note()
    assert note == ("uninformative: spread (IQR over 32 random configs) 0.0123 <= noise "
                    "(config x instance sd, 5 instances) 0.0456 at epochs=5")


def test_measure_is_seeded_and_its_spread_is_that_of_the_configs_it_evaluates():
    row = spread.measure(CHEAP, n_configs=8, n_noise=3, n_instances=2)
    again = spread.measure(CHEAP, n_configs=8, n_noise=3, n_instances=2)
    assert replace(row, cpu_s=0) == replace(again, cpu_s=0)
    problem = make_problem(CHEAP)
    from hpbench.seeds import child_seed

    configs = problem.space.sample(np.random.default_rng(child_seed(0, "spread", CHEAP)), 8)
    values = [problem.evaluate(c).value for c in configs]
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    assert row.spread_iqr == pytest.approx(q75 - q25) and row.median == pytest.approx(q50)
    assert (row.n_configs, row.n_failed, row.n_noise, row.n_instances) == (8, 0, 3, 2)
    # within-config variation = instance shifts + interaction, so with M = 3 configs
    # instance_sd^2 >= noise_sd^2 (M - 1) / M
    assert row.noise_sd > 0 and row.instance_sd >= row.noise_sd * math.sqrt(2 / 3) - 1e-9


# --- the table ----------------------------------------------------------------------------
def test_table_round_trips_and_the_command_resumes(tmp_path, capsys):
    path = tmp_path / "spread.csv"
    rows = [_row(), _row(problem="sklearn-a-b-mse", spread_iqr=0.001, settings={"k": 2})]
    spread.write_table(rows, path)
    assert spread.read_table(path) == {r.problem: r for r in rows}
    assert "uninformative" in path.read_text().splitlines()[7]  # the header names the flag
    argv = ["--problems", CHEAP, "--n-configs", "6", "--n-noise", "2", "--n-instances", "2",
            "--table", str(path)]
    assert spread.main(argv) == 0
    assert CHEAP in capsys.readouterr().out
    first = path.read_bytes()
    assert spread.main(argv) == 0  # resumed: the row is there, nothing is measured again
    assert capsys.readouterr().out == "" and path.read_bytes() == first
    assert set(spread.read_table(path)) == {r.problem for r in rows} | {CHEAP}


def test_a_table_with_other_columns_is_refused(tmp_path):
    path = tmp_path / "spread.csv"
    path.write_text("problem,spread\nx,1\n")
    with pytest.raises(ValueError, match="columns must be"):
        spread.read_table(path)


def test_registration_tags_and_notes_only_flagged_rows(tmp_path):
    path = tmp_path / "spread.csv"
    spread.write_table([_row(problem="sklearn-a", spread_iqr=0.001),
                        _row(problem="sklearn-b")], path)
    tags, note = spread.registration("sklearn-a", ("sklearn",), path)
    assert tags == ("sklearn", "uninformative") and note.startswith("uninformative: spread")
    assert spread.registration("sklearn-b", ("sklearn",), path) == (("sklearn",), "")
    assert spread.registration("sklearn-c", ("sklearn",), path) == (("sklearn",), "")


# --- the shipped tables -------------------------------------------------------------------
def _measured() -> dict[str, object]:
    return {n: e for n, e in entries("problem").items()
            if n.startswith(("sklearn-", "torch-")) and "surrogate" not in e.tags}


def test_the_shipped_tables_cover_every_sklearn_and_torch_problem_and_nothing_else():
    names = set(_measured())
    assert {n for n in names if n.startswith("torch-")}  # the torch family is registered
    shipped = {n for path in spread.TABLES.values() for n in spread.read_table(path)}
    assert shipped == names


def test_the_registry_carries_the_shipped_flags_with_their_numbers(capsys):
    flagged = []
    for name, entry in _measured().items():
        row = spread.lookup(name)
        assert ("uninformative" in entry.tags) == row.uninformative, name
        assert entry.note == (row.note() if row.uninformative else ""), name
        if row.uninformative:
            flagged.append(name)
            # the flag is registry metadata: the built problem's tags (and fingerprint) are not
            # touched by a remeasured table
    assert main(["list", "problems", "--tag", "uninformative"]) == 0
    out = capsys.readouterr().out
    for name in flagged:
        line = next(i for i, x in enumerate(out.splitlines()) if x.startswith(name + " "))
        assert "uninformative: spread" in out.splitlines()[line + 1]
    assert len([x for x in out.splitlines() if x.startswith(("sklearn-", "torch-"))]) \
        == len(flagged)


def test_the_left_out_adaboost_log_loss_tasks_are_named_nowhere():
    from hpbench.problems.sklearn import best_known

    assert not [n for n in entries("problem") if n.startswith("sklearn-ada-")
                and n.endswith("-logloss")]
    assert not [t for t, _ in best_known.read_table() if t.startswith("sklearn-ada-")
                and t.endswith("-logloss")]
