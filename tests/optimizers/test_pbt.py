"""Population-based training: the trajectory, exploit (checkpoint copies), explore, the
incumbent."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Float, Space
from hpbench.optimizers.multifidelity.pbt import PBT
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem

P = 8


def _run(problem, budget, **settings):
    opt = hpbench.make_optimizer("pbt", problem.space, seed=5, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget))
    assert result.status == "done", result.error
    return opt, result


def test_every_member_has_a_value_at_every_step():
    problem = EpochProblem(9)
    _, result = _run(problem, 2 * P)
    cols = result.columns
    assert len(cols["trial"]) == 2 * 9 * P  # two populations, nine steps, P members
    assert cols["round"][:P] == [0] * P  # a generation is asked for at once
    for step in range(18):
        block = cols["fidelity"][step * P:(step + 1) * P]
        assert block == [step % 9 + 1] * P
    assert cols["budget_used"][-1] == pytest.approx(2 * P)  # resumes pay the interval


def test_exploit_copies_a_top_checkpoint_and_explore_changes_the_config():
    problem = EpochProblem(9)
    _, result = _run(problem, P)
    cols = result.columns
    configs = [json.loads(c) for c in cols["config"]]
    cut = math.ceil(0.25 * P)
    copies = 0
    for step in range(1, 9):
        prev = list(range((step - 1) * P, step * P))
        now = list(range(step * P, (step + 1) * P))
        ranked = sorted(prev, key=lambda t: (cols["value"][t], t))
        top, bottom = set(ranked[:cut]), set(ranked[-cut:])
        for member, t in enumerate(now):
            src = cols["resume_from"][t]
            assert src in prev  # every step continues a checkpoint of the last step
            own = prev[member]
            if own in bottom:
                # exploit: the bottom member continues a top member's checkpoint ...
                assert src in top
                # ... with an explored config (perturbed or resampled)
                assert configs[t] != configs[src]
                copies += 1
            else:
                assert src == own and configs[t] == configs[own]
    assert copies == 8 * cut


def test_explore_perturbs_by_the_published_factors_or_resamples():
    space = Space(a=Float(0.0, 1.0), b=Float(0.0, 1.0))
    opt = PBT(space, seed=1, budget=Budget(10), fidelity=EpochProblem(9).fidelity,
              resample_prob=0.0)
    u = np.array([0.5, 0.25])
    for _ in range(20):
        new = opt.explore({"a": 0.5, "b": 0.25})
        ratios = np.array([new["a"], new["b"]]) / u
        assert all(min(abs(r - 0.8), abs(r - 1.2)) < 1e-12 for r in ratios)
    opt = PBT(space, seed=1, budget=Budget(10), fidelity=EpochProblem(9).fidelity,
              resample_prob=1.0)
    news = [opt.explore({"a": 0.5, "b": 0.25})["a"] for _ in range(50)]
    assert np.std(news) > 0.2  # resampled uniformly


def test_failed_members_copy_a_survivor():
    class Failing(EpochProblem):
        def _evaluate(self, config, *, fidelity=None, ctx=None):
            if config["x"] < 0.4:
                raise RuntimeError("diverged")
            return super()._evaluate(config, fidelity=fidelity, ctx=ctx)

    _, result = _run(Failing(9), P)
    cols = result.columns
    assert "failed" in cols["status"]
    for r in cols["resume_from"]:
        if r is not None:
            assert cols["status"][r] == "ok"  # never continues a failed trial


def test_incumbent_is_the_best_full_length_member():
    problem = EpochProblem(9, optimistic=True)
    opt, result = _run(problem, 2 * P)
    cols = result.columns
    full = [v for v, f in zip(cols["value"], cols["fidelity"]) if f == 9]
    assert len(full) == 2 * P
    assert opt.incumbent.value == min(full)
    assert opt.incumbent.suggestion.fidelity is None
    assert min(cols["value"]) < opt.incumbent.value  # lower-fidelity values look better


def test_pbt_improves_on_its_initial_population():
    problem = EpochProblem(9)
    _, result = _run(problem, P, resample_prob=0.0)
    cols = result.columns
    # value = x + (1 - f/9): the initial members' x, and the final ones' (full fidelity)
    first = np.array(cols["value"][:P]) - 8 / 9
    last = np.array(cols["value"][-P:])
    # bottom members copy and perturb top ones, so the population's x improves
    assert np.median(last) < 0.5 * np.median(first)


def test_budget_aware_last_population_fits():
    problem = EpochProblem(9)
    _, result = _run(problem, 12)  # one population of 8, then 4 members fit
    cols = result.columns
    assert cols["budget_used"][-1] == pytest.approx(12)
    assert cols["fidelity"][-4:] == [9] * 4 and len(cols["trial"]) == 9 * 12
