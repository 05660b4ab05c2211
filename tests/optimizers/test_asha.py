"""ASHA (Li et al. 2020): promotions checked against an independent replay of Algorithm 2."""

from __future__ import annotations

import json
import math

import pytest

import hpbench
from hpbench import Budget
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem

RUNGS = [1.0, 3.0, 9.0, 27.0]


def _run(problem, budget, batch=None, **settings):
    opt = hpbench.make_optimizer("asha", problem.space, seed=4, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget), batch=batch)
    assert result.status == "done", result.error
    return opt, result


def _replay(cols, eta=3, rungs=RUNGS):
    """Check every job of a trajectory against Algorithm 2 of Li et al. (2020), round by
    round: a promotion from rung k must be the best not-yet-promoted config among the top
    ⌊|rung k| / η⌋ completed there (highest rung first), with nothing promotable above it;
    a new config may only start when nothing is promotable. Returns the promotion count."""
    completed = [[] for _ in rungs]  # (value, trial, config) completed at each rung
    promoted = [set() for _ in rungs]
    rung_of = {}
    n_promotions = 0
    trials = list(zip(cols["trial"], cols["round"], cols["fidelity"], cols["resume_from"],
                      cols["value"], cols["config"]))
    rounds = sorted(set(cols["round"]))
    for rnd in rounds:
        jobs = [t for t in trials if t[1] == rnd]
        for trial, _, f, resume, _value, config in jobs:
            k = rungs.index(float(f))
            rung_of[trial] = k
            promotable = None
            for j in range(len(rungs) - 2, -1, -1):
                n_top = math.floor(len(completed[j]) / eta + 1e-9)
                top = sorted(completed[j], key=lambda d: (d[0], d[1]))[:n_top]
                candidates = [d for d in top if d[2] not in promoted[j] and math.isfinite(d[0])]
                if candidates:
                    promotable = (j, candidates[0])
                    break
            if promotable is None:
                assert k == 0 and resume is None, f"trial {trial}: nothing was promotable"
                continue
            j, (_, src_trial, src_config) = promotable
            assert k == j + 1, f"trial {trial} ran at rung {k}, expected a promotion to {j + 1}"
            assert config == src_config and resume == src_trial
            promoted[j].add(src_config)
            n_promotions += 1
        for trial, _, _f, _, value, config in jobs:  # results join their rung when told
            completed[rung_of[trial]].append((value if math.isfinite(value) else math.inf,
                                              trial, config))
    return n_promotions


def test_sequential_asha_promotes_as_algorithm_2():
    problem = EpochProblem(27)
    _, result = _run(problem, 15)
    cols = result.columns
    # the first promotion comes once η = 3 results are in at the bottom rung
    assert [f for f in cols["fidelity"][:4]] == [1, 1, 1, 3]
    assert cols["resume_from"][3] == min(range(3), key=lambda t: cols["value"][t])
    assert _replay(cols) > 10
    assert 27 in cols["fidelity"]  # configs reach full fidelity


def test_batched_asha_never_promotes_twice_and_waits_for_results():
    problem = EpochProblem(27)
    _, result = _run(problem, 15, batch=4)
    cols = result.columns
    assert _replay(cols) > 5
    configs = [(json.loads(c)["x"], f) for c, f in zip(cols["config"], cols["fidelity"])]
    assert len(configs) == len(set(configs)), "a config ran twice at the same rung"


def test_failed_results_fill_a_rung_but_are_never_promoted():
    class Failing(EpochProblem):
        def _evaluate(self, config, *, fidelity=None, ctx=None):
            if config["x"] < 0.3:
                raise RuntimeError("diverged")
            return super()._evaluate(config, fidelity=fidelity, ctx=ctx)

    _, result = _run(Failing(27), 10)
    cols = result.columns
    assert "failed" in cols["status"]
    failed = {c for c, s in zip(cols["config"], cols["status"]) if s == "failed"}
    promoted = [c for c, r in zip(cols["config"], cols["resume_from"]) if r is not None]
    assert promoted and not failed & set(promoted)
    _replay(cols)


def test_early_stopping_rate_moves_the_bottom_rung():
    _, result = _run(EpochProblem(27), 10, early_stopping_rate=1)
    assert min(result.columns["fidelity"]) == 3
    with pytest.raises(ValueError, match="early_stopping_rate must be an integer"):
        _run(EpochProblem(27), 10, early_stopping_rate=4)


def test_without_checkpoints_promotions_retrain():
    _, result = _run(EpochProblem(27, checkpoint=False), 10)
    cols = result.columns
    assert all(r is None for r in cols["resume_from"])
    assert cols["cost_fe"] == pytest.approx([f / 27 for f in cols["fidelity"]])
