"""The ``incumbent`` trial column: the runner records an optimizer's ``recommend`` hook after
each round's ``tell`` (and nothing per trial for an optimizer without one), the store keeps
it, and a hook that names no usable trial fails the cell with a message saying why."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench import Budget, Optimizer, Suggestion, make_optimizer, make_problem
from hpbench.cell import Cell
from hpbench.execute import execute_cell
from hpbench.optimizer import recommender
from hpbench.runner import run_loop
from hpbench.store import ResultsDir, read_cell
from hpbench.testing.toy import ToyProblem
from hpbench.trials import TRIAL_COLUMNS
from tests.toy import Quadratic


class Sampler(Optimizer):
    """Random configs, ``batch_size`` at a time."""

    batch_size = 2

    def ask(self, n):
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        self.told = [*getattr(self, "told", []), *observations]


class FirstOk(Sampler):
    """Always recommends the first trial that ended ok (not the best one)."""

    def recommend(self):
        return next((o.trial for o in getattr(self, "told", []) if o.ok), None)


def test_a_real_cell_file_records_the_incumbent_column(tmp_path):
    cell = Cell(suite="t", problem="branin-noisy", optimizer="random", repeat=0,
                master_seed=0, budget=Budget(6))
    outcome = execute_cell(cell, tmp_path)
    assert outcome.status == "done"
    table, _ = read_cell(ResultsDir(tmp_path).cell_files()[0], ["trial", "incumbent"])
    assert str(table.schema.field("incumbent").type) == TRIAL_COLUMNS["incumbent"]
    # random search has no hook: no opinion, the analysis takes the best observed value
    assert table.column("incumbent").to_pylist() == [None] * 6


def test_a_recommend_hook_is_recorded_after_each_round():
    p = Quadratic(2)
    result = run_loop(p, FirstOk(p.space, seed=0, budget=6), Budget(6))
    # rounds of two: the first trial of a round carries the recommendation in force when
    # it ran, the last one the answer after the round's tell
    assert result.columns["incumbent"] == [None, 0, 0, 0, 0, 0]
    plain = run_loop(p, Sampler(p.space, seed=0, budget=6), Budget(6))
    assert plain.columns["incumbent"] == [None] * 6
    assert plain.columns["value"] == result.columns["value"]  # the hook changes nothing else


def test_only_an_overridden_hook_is_called():
    p = Quadratic(2)
    assert recommender(Sampler(p.space, seed=0, budget=1)) is None
    assert recommender(FirstOk(p.space, seed=0, budget=1)) is not None


@pytest.mark.parametrize("answer, message", [
    (7, "recommend() returned trial 7, which is not a trial that ended ok"),
    (1.0, "recommend() returned 1.0; expected a trial number or None"),
    (True, "recommend() returned True; expected a trial number or None"),
])
def test_a_recommendation_of_no_usable_trial_fails_the_cell(answer, message):
    class Bad(Sampler):
        def recommend(self):
            return answer

    p = Quadratic(2)
    result = run_loop(p, Bad(p.space, seed=0, budget=6), Budget(6))
    assert result.status == "failed" and result.reason.startswith(
        "optimizer raised in recommend: OptimizerError: " + message), result.reason
    # the trials so far are kept, every column as long as the others
    assert result.n_trials == 2 and result.columns["incumbent"] == [None, None]


def test_a_recommendation_below_full_fidelity_is_refused():
    class LowFidelity(Optimizer):
        def ask(self, n):
            return [Suggestion(self.space.sample(self.rng), fidelity=3) for _ in range(n)]

        def tell(self, observations):
            self.last = observations[-1].trial

        def recommend(self):
            return self.last

    p = ToyProblem()
    result = run_loop(p, LowFidelity(p.space, seed=0, budget=3, fidelity=p.fidelity),
                      Budget(3))
    assert result.status == "failed"
    assert "evaluated at fidelity 3 < full fidelity 9" in result.reason


def test_gp_bo_recommends_its_lowest_posterior_mean_without_changing_its_trajectory():
    class NoHook(type(make_optimizer("gp-bo", Quadratic(2).space, seed=0, budget=1))):
        recommend = Optimizer.recommend  # the base's: never called

    def run(with_hook: bool):
        p = make_problem("branin-noisy", seed=3)
        o = make_optimizer("gp-bo", p.space, seed=1, budget=Budget(16))
        if not with_hook:
            o.__class__ = NoHook
        return run_loop(p, o, Budget(16)).columns

    hooked, plain = run(True), run(False)
    assert hooked["config"] == plain["config"]  # recommend reuses the fit ask would make
    inc = hooked["incumbent"]
    assert plain["incumbent"] == [None] * 16
    assert any(i is not None for i in inc)
    ok = [i for i in inc if i is not None]
    assert all(0 <= i < 16 and hooked["status"][i] == "ok" for i in ok)
    # the model's choice is not always the best observed value (noise)
    best_seen = [int(np.argmin(hooked["value"][:k + 1])) for k in range(16)]
    assert any(i is not None and i != b for i, b in zip(inc, best_seen))
