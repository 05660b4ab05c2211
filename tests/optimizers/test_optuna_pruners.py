"""Optuna TPE with SuccessiveHalvingPruner / HyperbandPruner: every step reported, each step
continuing the previous one's checkpoint, pruned trials stopped."""

from __future__ import annotations

import json

import optuna
import pytest

import hpbench
from hpbench import Budget
from hpbench.runner import run_loop
from tests.optimizers.mf_toy import EpochProblem

NAMES = ["optuna-tpe-sha", "optuna-tpe-hyperband"]


def _run(name, problem, budget, batch=None, **settings):
    opt = hpbench.make_optimizer(name, problem.space, seed=2, budget=Budget(budget),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(budget), batch=batch)
    assert result.status == "done", result.error
    return opt, result


def _chains(cols):
    """Group trials into per-config chains by following resume_from."""
    chains: dict[int, list[int]] = {}
    head: dict[int, int] = {}
    for t, r in zip(cols["trial"], cols["resume_from"]):
        root = t if r is None else head[r]
        head[t] = root
        chains.setdefault(root, []).append(t)
    return list(chains.values())


@pytest.mark.parametrize("name", NAMES)
def test_every_step_is_reported_and_resumes_the_last(name):
    problem = EpochProblem(9)
    opt, result = _run(name, problem, 12)
    cols = result.columns
    chains = _chains(cols)
    trials = {t.number: t for t in opt.study.get_trials(deepcopy=False)}
    assert len(trials) == len(chains)  # one Optuna trial per config
    for chain, trial in zip(chains, [trials[i] for i in sorted(trials)]):
        fids = [cols["fidelity"][t] for t in chain]
        assert fids == list(range(1, len(chain) + 1))  # epoch after epoch
        assert len({cols["config"][t] for t in chain}) == 1
        values = [cols["value"][t] for t in chain]
        assert dict(trial.intermediate_values) == dict(zip(range(1, len(chain) + 1), values))
        assert json.loads(cols["config"][chain[0]]) == trial.params
        if trial.state == optuna.trial.TrialState.COMPLETE:
            assert len(chain) == 9 and trial.value == values[-1]
        elif trial.state == optuna.trial.TrialState.PRUNED:
            assert len(chain) < 9
    states = [t.state for t in trials.values()]
    assert optuna.trial.TrialState.PRUNED in states
    assert optuna.trial.TrialState.COMPLETE in states
    # a step resumed from the last one pays one epoch
    for t, r in enumerate(cols["resume_from"]):
        if r is not None:
            assert cols["cost_fe"][t] == pytest.approx(1 / 9)


def test_sha_pruner_stops_at_its_rungs():
    problem = EpochProblem(27)
    opt, _result = _run("optuna-tpe-sha", problem, 15)
    pruned = [t for t in opt.study.get_trials(deepcopy=False)
              if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned
    # SuccessiveHalvingPruner(min_resource=1, reduction_factor=3) decides at steps 1, 3, 9
    assert {max(t.intermediate_values) for t in pruned} <= {1, 3, 9}


def test_without_checkpoints_only_the_rungs_are_evaluated():
    problem = EpochProblem(27, checkpoint=False)
    _, result = _run("optuna-tpe-sha", problem, 15)
    cols = result.columns
    assert set(cols["fidelity"]) <= {1, 3, 9, 27}
    assert all(r is None for r in cols["resume_from"])
    assert cols["cost_fe"] == pytest.approx([f / 27 for f in cols["fidelity"]])


def test_failed_step_fails_the_trial():
    class Failing(EpochProblem):
        def _evaluate(self, config, *, fidelity=None, ctx=None):
            if config["x"] < 0.3 and fidelity is not None and fidelity >= 2:
                raise RuntimeError("diverged")
            return super()._evaluate(config, fidelity=fidelity, ctx=ctx)

    opt, _result = _run("optuna-tpe-sha", Failing(9), 10)
    failed = [t for t in opt.study.get_trials(deepcopy=False)
              if t.state == optuna.trial.TrialState.FAIL]
    assert failed and all(t.params["x"] < 0.3 for t in failed)


def test_batch_asks_continue_waiting_trials_first():
    problem = EpochProblem(9)
    _opt, result = _run("optuna-tpe-sha", problem, 6, batch=3)
    cols = result.columns
    first_round = [t for t, r in zip(cols["trial"], cols["round"]) if r == 0]
    second_round = [t for t, r in zip(cols["trial"], cols["round"]) if r == 1]
    assert [cols["fidelity"][t] for t in first_round] == [1, 1, 1]
    continued = [cols["resume_from"][t] for t in second_round if cols["resume_from"][t]
                 is not None]
    assert continued  # not every trial was pruned after one epoch, and they go on first
    assert cols["resume_from"][second_round[0]] in first_round


def test_settings_are_validated():
    problem = EpochProblem(9)
    with pytest.raises(ValueError, match="eta must be an integer >= 2"):
        hpbench.make_optimizer("optuna-tpe-sha", problem.space, seed=0, budget=5,
                               fidelity=problem.fidelity, eta=2.5)
