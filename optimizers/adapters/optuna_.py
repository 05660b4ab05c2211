"""Optuna's samplers (Akiba et al. 2019, "Optuna: A Next-generation Hyperparameter Optimization
Framework", KDD) through ``study.ask`` / ``study.tell``, unchanged.

Each ask opens an Optuna trial on an in-memory study and suggests the parameters
define-by-run, in the order of the space: a conditional parameter is suggested only when its
parent's value activates it, exactly as an Optuna objective written by hand would do. So
``optuna.create_study(sampler=S(seed=s)).optimize(f, n)`` and this adapter with seed ``s``
propose the same configs (``tests/optimizers/test_adapter_fidelity.py`` checks it).

Mapping of the space: ``Float`` → ``suggest_float(low, high, log=)``, ``Int`` →
``suggest_int(low, high, log=)``, ``Categorical`` → ``suggest_categorical(choices)``.
Failed (and timed-out) trials are told as ``TrialState.FAIL``, which Optuna's samplers
leave out of their models. Telling goes through ``optuna.study._tell._tell_with_warning``,
the function both ``Study.tell`` and ``study.optimize`` finish a trial with: ``Study.tell``
only adds a deep copy of the finished trial for its return value, which cost 0.23 ms a
trial here, about 2 % of a 400-trial TPE run (``benchmarks/test_adapters.py``); the public
``Study.tell`` is used if that private function ever moves. Batch asks open several trials
before telling any; TPE's ``constant_liar`` (on by default since Optuna 5) then treats the
running ones as pessimistic.

Entries and the samplers they wrap:

* ``optuna-tpe``: ``TPESampler(multivariate=False)``, the independent TPE of Bergstra et al.
  2011 (NeurIPS) — Optuna 5 made the multivariate TPE the default, so the classic one is
  asked for explicitly;
* ``optuna-tpe-multivariate``: ``TPESampler(multivariate=True)`` (Falkner et al. 2018, BOHB's
  kernel density estimator; Optuna 5's default);
* ``optuna-gp``: ``GPSampler`` (GP with a Matérn-5/2 kernel and log-EI, needs torch), run
  with one BLAS/OpenMP thread (``threads``; see ``_common.ThreadLimit``);
* ``optuna-cmaes``: ``CmaEsSampler`` (Hansen 2016, "The CMA Evolution Strategy: A Tutorial";
  the ``cmaes`` package of Nomura & Shibata 2024); categorical and conditional parameters go
  to its independent random sampler, as in Optuna;
* ``optuna-qmc``: ``QMCSampler(qmc_type="sobol", scramble=True)`` — scrambled, because the
  unscrambled Sobol sequence is the same for every seed and repeats would be copies of one
  run (Owen 1998, "Scrambling Sobol' and Niederreiter–Xing points");
* ``optuna-random``: ``RandomSampler``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, library_seed
from hpbench.space import Categorical, Float, Int, Space

#: sampler kind -> name of the class in ``optuna.samplers``
SAMPLERS = {
    "tpe": "TPESampler",
    "gp": "GPSampler",
    "cmaes": "CmaEsSampler",
    "qmc": "QMCSampler",
    "random": "RandomSampler",
}


def make_sampler(kind: str, seed: int | None, options: Mapping[str, Any] | None = None):
    """The Optuna sampler of ``kind`` (a key of ``SAMPLERS``) seeded with ``seed``."""
    import optuna

    if kind not in SAMPLERS:
        raise ValueError(f"sampler must be one of {sorted(SAMPLERS)}, got {kind!r}")
    cls = getattr(optuna.samplers, SAMPLERS[kind])
    with warnings.catch_warnings():
        # QMCSampler still carries Optuna's "experimental" label; it says nothing about a run
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return cls(seed=seed, **dict(options or {}))


def suggest_config(trial: Any, space: Space) -> dict[str, Any]:
    """Suggest ``space`` define-by-run on an Optuna ``trial``, in the order of the space,
    skipping parameters their parent's value leaves inactive."""
    config: dict[str, Any] = {}
    for name, param in space.items():
        cond = param.condition
        if cond is not None and (cond.parent not in config
                                 or name not in space.active(config)):
            continue
        if isinstance(param, Float):
            config[name] = trial.suggest_float(name, param.low, param.high, log=param.log)
        elif isinstance(param, Int):
            config[name] = trial.suggest_int(name, param.low, param.high, log=param.log)
        elif isinstance(param, Categorical):
            config[name] = trial.suggest_categorical(name, list(param.choices))
        else:  # pragma: no cover - Space only admits these three
            raise TypeError(f"parameter {name!r} must be Float, Int or Categorical, "
                            f"got {type(param).__name__}")
    return config


def quiet_optuna() -> None:
    """Silence Optuna's per-trial INFO lines (its logger is process-wide, like Optuna's own
    ``set_verbosity``), keeping warnings."""
    import optuna

    if optuna.logging.get_verbosity() < optuna.logging.WARNING:
        optuna.logging.set_verbosity(optuna.logging.WARNING)


_TAGS = ("model-based", "adapter", "optuna")


@register_optimizer("optuna-tpe", tags=(*_TAGS, "tpe"), packages=("optuna",), extra="optuna",
                    settings={"sampler": "tpe", "options": {"multivariate": False}},
                    description="Optuna's independent TPE (Bergstra et al. 2011)")
@register_optimizer("optuna-tpe-multivariate", tags=(*_TAGS, "tpe"), packages=("optuna",),
                    extra="optuna",
                    settings={"sampler": "tpe", "options": {"multivariate": True}},
                    description="Optuna's multivariate TPE (Falkner et al. 2018)")
@register_optimizer("optuna-gp", tags=(*_TAGS, "gp"), packages=("optuna", "torch", "scipy"),
                    extra="optuna", settings={"sampler": "gp", "threads": 1},
                    description="Optuna's GPSampler (Matérn-5/2 GP, log-EI)")
@register_optimizer("optuna-cmaes", tags=(*_TAGS, "evolution"), packages=("optuna", "cmaes"),
                    extra="optuna",
                    settings={"sampler": "cmaes", "options": {"warn_independent_sampling": False}},
                    description="Optuna's CmaEsSampler (CMA-ES, Hansen 2016)")
@register_optimizer("optuna-qmc", tags=("quasi-random", "adapter", "optuna"),
                    packages=("optuna", "scipy"), extra="optuna",
                    settings={"sampler": "qmc",
                              "options": {"qmc_type": "sobol", "scramble": True,
                                          "warn_independent_sampling": False}},
                    description="Optuna's QMCSampler (scrambled Sobol)")
@register_optimizer("optuna-random", tags=("baseline", "adapter", "optuna"),
                    packages=("optuna",), extra="optuna", settings={"sampler": "random"},
                    description="Optuna's RandomSampler")
class OptunaSampler(Optimizer):
    """An Optuna sampler on an in-memory study, driven by ``study.ask`` / ``study.tell``.

    Settings: ``sampler`` (a key of ``SAMPLERS``), ``options`` (keyword arguments of the
    sampler's constructor besides ``seed``) and ``threads`` (BLAS/OpenMP threads while the
    sampler works, torch's included; None, the default, leaves the library's threading;
    ``optuna-gp`` uses 1, see ``_common.ThreadLimit``).
    """

    settings = {"sampler": "tpe", "options": {}, "threads": None}
    choices = {"sampler": tuple(SAMPLERS)}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import optuna

        quiet_optuna()
        self._sampler = make_sampler(self.config["sampler"], library_seed(self.seed),
                                     self.config["options"])
        self.study = optuna.create_study(sampler=self._sampler, direction="minimize",
                                         storage=optuna.storages.InMemoryStorage())
        self._fail = optuna.trial.TrialState.FAIL
        try:
            from optuna.study._tell import _tell_with_warning
        except ImportError:  # pragma: no cover - a future Optuna may move it
            self._tell = self.study.tell
        else:  # a partial, not a closure: the optimizer pickles
            self._tell = functools.partial(_tell_with_warning, self.study)
        if self.config["sampler"] == "gp":
            import torch  # noqa: F401  (load its OpenMP pool before the limiter looks)
        self._threads = ThreadLimit(self.config["threads"])

    def ask(self, n: int) -> list[Suggestion]:
        out = []
        with self._threads():
            for _ in range(n):
                trial = self.study.ask()
                out.append(Suggestion(suggest_config(trial, self.space), tag=trial.number))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        with self._threads():
            for obs in observations:
                if obs.ok:
                    self._tell(obs.suggestion.tag, obs.value)
                else:
                    self._tell(obs.suggestion.tag, state=self._fail)
