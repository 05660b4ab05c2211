import math

import numpy as np
import pytest

from hpbench import Budget, Optimizer, Suggestion
from hpbench.runner import run_loop
from tests.toy import Quadratic, ToyProblem


class Scripted(Optimizer):
    """Suggests from a script; records what it was told."""

    def __init__(self, space, script, **kw):
        super().__init__(space, seed=0, budget=kw.pop("budget", 10), **kw)
        self.script = list(script)
        self.told = []

    def ask(self, n):
        out, self.script = self.script[:n], self.script[n:]
        return out

    def tell(self, observations):
        self.told.extend(observations)


class Sampler(Optimizer):
    batch_size = 3

    def ask(self, n):
        self.asked = [*getattr(self, "asked", []), n]
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        pass


def test_stops_exactly_at_the_budget_and_times_each_phase():
    p = Quadratic(2)
    opt = Sampler(p.space, seed=1, budget=10)
    result = run_loop(p, opt, Budget(10))
    assert result.n_trials == 10 and result.reason == "budget"
    assert opt.asked == [3, 3, 3, 1]  # the last ask is trimmed to what the budget allows
    cols = result.columns
    assert cols["budget_used"] == list(range(1, 11))
    assert cols["round"] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    for key in ("ask_s", "eval_s", "tell_s"):
        assert all(v >= 0 for v in cols[key]) and len(cols[key]) == 10
    assert all(e >= s for s, e in zip(cols["t_start"], cols["t_end"]))


def test_failures_are_recorded_and_told():
    p = ToyProblem(fail_rate=0.6)
    opt = Sampler(p.space, seed=2, budget=30)
    told = []
    opt.tell = told.extend
    result = run_loop(p, opt, Budget(30))
    status = result.columns["status"]
    errors = result.columns["error"]
    assert result.n_trials == 30 and len(told) == 30
    assert any(e.startswith("RuntimeError: toy objective failed on purpose") for e in errors)
    assert any(e == "objective returned nan" for e in errors)
    for obs, s in zip(told, status):
        assert obs.status == s
        assert obs.ok == (s == "ok")
        if s != "ok":
            assert math.isnan(obs.value)


def test_infinite_value_is_a_failed_trial():
    p = Quadratic(1)
    p._evaluate = lambda config, **kw: math.inf
    opt = Scripted(p.space, [{"x0": 0.1}])
    result = run_loop(p, opt, Budget(1))
    assert result.columns["status"] == ["failed"]
    assert result.columns["error"] == ["objective returned inf"]


def test_out_of_space_suggestion_fails_the_cell_with_the_reason():
    p = Quadratic(1)
    opt = Scripted(p.space, [{"x0": 0.5}, {"x0": 3.0}])
    result = run_loop(p, opt, Budget(5))
    assert result.status == "failed"
    assert "suggestion outside the space: x0 must be in [-1.0, 1.0], got 3.0" in result.reason
    assert result.n_trials == 1  # the valid first trial is kept


def test_optimizer_raising_fails_only_the_cell():
    class Broken(Sampler):
        def tell(self, observations):
            raise ZeroDivisionError("boom")

    p = Quadratic(1)
    result = run_loop(p, Broken(p.space, seed=0, budget=5), Budget(5))
    assert result.status == "failed"
    assert result.reason.startswith("optimizer raised in tell: ZeroDivisionError: boom")
    assert "Traceback" in result.error


def test_fidelity_and_resume_accounting():
    p = ToyProblem()
    script = [Suggestion({"lr": 0.01, "x": 0.0, "layers": 2, "width": 32, "kind": "a"},
                         fidelity=3),
              Suggestion({"lr": 0.01, "x": 0.0, "layers": 2, "width": 32, "kind": "a"},
                         fidelity=9, resume_from=0),
              Suggestion({"lr": 0.1, "x": 0.5, "layers": 1, "width": 8, "kind": "c"})]
    opt = Scripted(p.space, script)
    result = run_loop(p, opt, Budget(2))
    cols = result.columns
    # 3/9 of an evaluation, then the 6 epochs from 3 to 9, then one full evaluation
    assert np.allclose(cols["cost_fe"], [1 / 3, 2 / 3, 1.0])
    assert np.allclose(cols["budget_used"], [1 / 3, 1.0, 2.0])
    assert cols["fidelity"] == [3, 9, 9]
    assert cols["resume_from"] == [None, 0, None]


def test_suggestion_that_does_not_fit_is_not_evaluated():
    p = ToyProblem()
    c = {"lr": 0.01, "x": 0.0, "layers": 2, "width": 32, "kind": "a"}
    opt = Scripted(p.space, [Suggestion(c, fidelity=6), Suggestion(c, fidelity=6)])
    result = run_loop(p, opt, Budget(1))
    assert result.n_trials == 1 and result.reason == "budget"
    assert result.columns["budget_used"] == [pytest.approx(2 / 3)]


def test_resume_from_unknown_trial_is_an_optimizer_error():
    p = ToyProblem()
    c = {"lr": 0.01, "x": 0.0, "layers": 2, "width": 32, "kind": "a"}
    result = run_loop(p, Scripted(p.space, [Suggestion(c, fidelity=3, resume_from=7)]),
                      Budget(1))
    assert result.status == "failed" and "names no finished trial" in result.reason


def test_fidelity_on_problem_without_one_is_refused():
    p = Quadratic(1)
    result = run_loop(p, Scripted(p.space, [Suggestion({"x0": 0.0}, fidelity=1)]), Budget(1))
    assert result.status == "failed" and "has no fidelity" in result.reason


def test_exhausted_optimizer_ends_the_cell():
    p = Quadratic(1)
    result = run_loop(p, Scripted(p.space, [{"x0": 0.0}]), Budget(5))
    assert result.n_trials == 1 and result.reason == "optimizer-exhausted"


def test_cost_budget_counts_problem_cost():
    p = ToyProblem()
    opt = Sampler(p.space, seed=0, budget=Budget(27, "cost"))
    result = run_loop(p, opt, Budget(27, "cost"))
    assert result.n_trials == 3 and result.columns["cum_cost"][-1] == 27


def test_hypergradient_reaches_the_optimizer():
    p = ToyProblem()
    c = {"lr": 0.1, "x": 0.5, "layers": 2, "width": 32, "kind": "a"}
    opt = Scripted(p.space, [Suggestion(c, want_grad=True)])
    run_loop(p, opt, Budget(1))
    assert opt.told[0].grad == {"lr": pytest.approx(8.0), "x": pytest.approx(4.0)}
