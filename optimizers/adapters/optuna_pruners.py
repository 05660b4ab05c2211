"""Optuna's TPE sampler with its pruners, as the Optuna tutorials use them (Akiba et al. 2019,
"Optuna: A Next-generation Hyperparameter Optimization Framework", KDD; pruning tutorial).

Every config is an Optuna trial (``study.ask``, parameters suggested define-by-run as in
``optuna_``) that "trains" step by step: step ``k`` evaluates it at fidelity
``f_k``, the value is ``trial.report(value, step=k)``-ed, and the trial stops as soon as
``trial.should_prune()`` says so (told ``TrialState.PRUNED``, which TPE ranks by its last
reported value) or when it reaches full fidelity (told its value). A failed step fails the
trial (``TrialState.FAIL``).

* ``optuna-tpe-sha``: ``SuccessiveHalvingPruner(min_resource=1, reduction_factor=η)`` —
  asynchronous successive halving (Li et al. 2020) on the steps;
* ``optuna-tpe-hyperband``: ``HyperbandPruner(min_resource=1, max_resource=m,
  reduction_factor=η)`` — Li et al. (2017)'s brackets over the same steps, TPE modelling each
  bracket's trials separately (Optuna's bracket filter).

Steps. The step is the fidelity in units of ``min_fidelity`` (default: the problem's
lowest): where the problem offers checkpoints, a config is evaluated at every multiple
``f_k = high · k / m``, ``k = 1 … m`` (``m = high / min_fidelity`` capped at ``max_steps``),
each step resuming from the previous step's trial and paying only the increment — every
epoch reported, as in the tutorials. Without checkpoints a step would retrain from scratch,
so it is evaluated only where the pruner can decide: at the rungs ``min_fidelity · η^i``
(steps ``η^i``).

Batch asks: ``ask(n)`` first continues the trials that are waiting for their next step, then
opens new ones (TPE's ``constant_liar``, on by default in Optuna 5, accounts for the running
trials).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hpbench import Observation, Optimizer, Space, Suggestion, register_optimizer
from hpbench.optimizers.adapters._common import library_seed
from hpbench.optimizers.adapters.optuna_ import quiet_optuna, suggest_config
from hpbench.optimizers.multifidelity._common import check_eta, fidelity_arg, fidelity_ladder


@dataclass
class _Run:
    """An Optuna trial in progress: its config, the index of its next step, and the hpbench
    trial to resume from."""

    trial: Any
    config: dict
    next: int = 0
    last_trial: int | None = None
    ready: bool = False


_TAGS = ("multi-fidelity", "model-based", "adapter", "optuna", "tpe")


@register_optimizer("optuna-tpe-sha", tags=(*_TAGS, "bandit"), packages=("optuna",),
                    extra="optuna", settings={"pruner": "sha"},
                    description="Optuna TPE + SuccessiveHalvingPruner, every step reported")
@register_optimizer("optuna-tpe-hyperband", tags=(*_TAGS, "bandit"), packages=("optuna",),
                    extra="optuna", settings={"pruner": "hyperband"},
                    description="Optuna TPE + HyperbandPruner, every step reported")
class OptunaPruned(Optimizer):
    """Settings: ``pruner`` ("sha" or "hyperband"), ``eta`` (3, an integer: Optuna's
    ``reduction_factor``), ``min_fidelity`` (None: the problem's lowest), ``max_steps`` (27),
    ``sampler_options`` (keyword arguments of ``TPESampler`` besides ``seed``)."""

    requires = frozenset({"fidelity"})
    settings = {"pruner": "sha", "eta": 3, "min_fidelity": None, "max_steps": 27,
                "sampler_options": {}}
    choices = {"pruner": ("sha", "hyperband")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError("the Optuna pruner optimizers need a problem with a fidelity "
                             "(requires=['fidelity'])")
        eta = self.config["eta"]
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ValueError(f"eta must be an integer >= 2 (Optuna's reduction_factor), "
                             f"got {eta!r}")
        max_steps = self.config["max_steps"]
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"max_steps must be an integer >= 1, got {max_steps!r}")
        self.eta = int(check_eta(eta))
        self.ladder = fidelity_ladder(self.fidelity, self.eta, self.config["min_fidelity"])
        fid = self.fidelity
        self.m = max(1, min(max_steps, math.floor(fid.high / self.ladder[0] + 1e-9)))
        self.runs: dict[int, _Run] = {}
        self._next_id = 0
        self.study: Any = None
        self.incumbent: Observation | None = None
        self._steps: list[tuple[int, float]] | None = None

    # set-up (lazy: the problem's capabilities are known at the first ask) ----------------
    def _setup(self) -> None:
        import optuna

        quiet_optuna()
        fid = self.fidelity
        if "checkpoint" in (self.problem_capabilities or ()):
            steps = []
            for k in range(1, self.m + 1):
                f = fid.high * k / self.m
                f = float(round(f)) if fid.integer else f
                f = min(fid.high, max(fid.low, f))
                if not steps or f > steps[-1][1]:
                    steps.append((k, f))
        else:
            steps = [(max(1, round(f / fid.high * self.m)), f) for f in self.ladder]
        self._steps = steps
        self._resume = "checkpoint" in (self.problem_capabilities or ())
        sampler = optuna.samplers.TPESampler(seed=library_seed(self.seed),
                                             **dict(self.config["sampler_options"]))
        if self.config["pruner"] == "sha":
            pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                            reduction_factor=self.eta)
        else:
            pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=self.m,
                                                    reduction_factor=self.eta)
        # HyperbandPruner assigns trials to brackets by a hash of the study name and the
        # trial number; Optuna's default name is a random UUID, which would make runs differ
        self.study = optuna.create_study(sampler=sampler, pruner=pruner, direction="minimize",
                                         storage=optuna.storages.InMemoryStorage(),
                                         study_name=f"hpbench-{self.seed}")
        self._state = optuna.trial.TrialState

    # the protocol ----------------------------------------------------------------------------
    def _step(self, run_id: int) -> Suggestion:
        run = self.runs[run_id]
        run.ready = False
        _, f = self._steps[run.next]
        resume = run.last_trial if self._resume else None
        return Suggestion(dict(run.config), fidelity=fidelity_arg(self.fidelity, f),
                          resume_from=resume, tag=run_id)

    def ask(self, n: int) -> list[Suggestion]:
        if self.study is None:
            self._setup()
        out = [self._step(i) for i in [i for i, r in self.runs.items() if r.ready][:n]]
        while len(out) < max(1, n):
            trial = self.study.ask()
            run_id = self._next_id
            self._next_id += 1
            self.runs[run_id] = _Run(trial, suggest_config(trial, self.space))
            out.append(self._step(run_id))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            run_id = obs.suggestion.tag
            run = self.runs[run_id]
            if not (obs.ok and math.isfinite(obs.value)):
                self.study.tell(run.trial, state=self._state.FAIL)
                del self.runs[run_id]
                continue
            step, _ = self._steps[run.next]
            run.trial.report(obs.value, step=step)
            run.last_trial = obs.trial
            run.next += 1
            if run.next == len(self._steps):
                self.study.tell(run.trial, obs.value)
                del self.runs[run_id]
                if self.incumbent is None or obs.value < self.incumbent.value:
                    self.incumbent = obs
            elif run.trial.should_prune():
                self.study.tell(run.trial, state=self._state.PRUNED)
                del self.runs[run_id]
            else:
                run.ready = True
