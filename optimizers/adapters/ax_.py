"""Ax's default Bayesian optimization (Ax: the Adaptive Experimentation platform, on BoTorch:
Balandat, Karrer, Jiang, Daulton, Letham, Wilson & Bakshy 2020, "BoTorch: A Framework for
Efficient Monte-Carlo Bayesian Optimization", NeurIPS; its acquisition qLogNEI: Ament,
Daulton, Eriksson, Balandat & Bakshy 2023, "Unexpected Improvements to Expected Improvement
for Bayesian Optimization", NeurIPS) through ``ax.Client``'s ``get_next_trials`` /
``complete_trial``, unchanged: ``ax-botorch``. Tested with ax-platform 1.3.1, botorch 0.18.1,
gpytorch 1.15.2 and torch 2.13.0 (CPU).

The generation strategy is the one ``Client`` chooses by default
(``configure_generation_strategy()``, method "fast"): the centre of the search space, then
Sobol points up to 5 trials, then the modular BoTorch model ("MBM defaults": a
``SingleTaskGP``, ``MixedSingleTaskGP`` when the space has categories, with qLogNEI, its
acquisition optimized by Ax's defaults). Only ``initialization_random_seed`` is set (and
``initialization_budget`` when the setting of that name is given).

Mapping of the space: ``Float`` → ``RangeParameterConfig(parameter_type="float", scaling=
"log" or "linear")``, ``Int`` → the same with ``parameter_type="int"``, ``Categorical`` →
an unordered ``ChoiceParameterConfig`` over string labels of the choices (``str(c)``, or
``"i:repr"`` if two would clash; mapped back to the choices). A condition whose parent is a
categorical becomes Ax's hierarchical search space (``dependent_parameters`` of the parent);
a condition on an integer parent cannot be written that way, so its child stays a flat
parameter that Ax always suggests and the adapter leaves out of the config where it is
inactive. The objective is ``"-loss"`` (Ax minimizes ``loss``).

Failed trials are ``mark_trial_failed``: Ax leaves them out of its model.

Seeding and reproducibility: ``Client(random_seed=s)`` (s = the optimizer's seed mod 2**32)
seeds Python's, numpy's and torch's global generators with s inside every
``get_next_trials`` and restores them afterwards, and the Sobol generator gets s as its own
seed: the same seed and the same observations give the same trajectory, and global random
state is left as it was. Ax's INFO log lines are silenced process-wide (its stderr
handler held at WARNING, as Optuna's verbosity in ``optuna_``). The client holds the
experiment, its data and the generation strategy's fitted models; it pickles, and the copy
goes on identically, because every ``get_next_trials`` reseeds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, library_seed
from hpbench.space import Categorical, Float, Int, Space

#: the name of the one metric
METRIC = "loss"


def _choice_labels(param: Categorical) -> list[str]:
    """The choices as Ax labels: ``str(c)``, or ``"i:repr"`` if two would clash."""
    labels = [str(c) for c in param.choices]
    if len(set(labels)) != len(labels):
        labels = [f"{i}:{c!r}" for i, c in enumerate(param.choices)]
    return labels


def to_ax_parameters(space: Space) -> list[Any]:
    """Ax parameter configs of ``space``; conditions on a categorical parent become its
    ``dependent_parameters``."""
    from ax import ChoiceParameterConfig, RangeParameterConfig

    # parent name -> {label of an allowed value: [children]}
    dependents: dict[str, dict[str, list[str]]] = {}
    for name, param in space.items():
        cond = param.condition
        if cond is not None and isinstance(space[cond.parent], Categorical):
            parent = space[cond.parent]
            labels = _choice_labels(parent)
            for value in cond.values:
                label = labels[parent.index(value)]
                dependents.setdefault(cond.parent, {}).setdefault(label, []).append(name)
    out = []
    for name, param in space.items():
        if isinstance(param, Categorical):
            if len(param.choices) < 2:
                raise ValueError(f"ax-botorch: categorical {name!r} has one choice; Ax "
                                 f"needs at least two")
            out.append(ChoiceParameterConfig(name, _choice_labels(param), "str",
                                             is_ordered=False,
                                             dependent_parameters=dependents.get(name)))
        elif isinstance(param, (Float, Int)):
            kind = "int" if isinstance(param, Int) else "float"
            out.append(RangeParameterConfig(name, (param.low, param.high), kind,
                                            scaling="log" if param.log else "linear"))
        else:  # pragma: no cover - Space only admits these three
            raise TypeError(f"parameter {name!r} must be Float, Int or Categorical, "
                            f"got {type(param).__name__}")
    return out


def from_ax(space: Space, parameters: dict[str, Any]) -> dict[str, Any]:
    """The config of Ax's ``parameters``: labels back to choices, numbers inside their
    bounds, inactive parameters left out."""
    config: dict[str, Any] = {}
    for name, param in space.items():
        if name not in parameters:
            continue
        v = parameters[name]
        if isinstance(param, Categorical):
            config[name] = param.choices[_choice_labels(param).index(v)]
        elif isinstance(param, Int):
            config[name] = min(param.high, max(param.low, int(v)))
        else:
            config[name] = min(param.high, max(param.low, float(v)))
    active = space.active(config)
    return {k: config[k] for k in space.names if k in config and k in active}


def quiet_ax() -> Any:
    """Import Ax without its import-time INFO line and hold its stderr handler at WARNING
    (one INFO line per trial otherwise); returns ``ax.Client``."""
    previous = logging.root.manager.disable
    logging.disable(max(previous, logging.INFO))  # only while ax is first imported
    try:
        from ax import Client
        from ax.utils.common.logger import ROOT_STREAM_HANDLER, set_stderr_log_level
    finally:
        logging.disable(previous)
    if ROOT_STREAM_HANDLER.level < logging.WARNING:
        set_stderr_log_level(logging.WARNING)
    return Client


@register_optimizer("ax-botorch", tags=("model-based", "adapter", "botorch", "gp"),
                    packages=("ax", "botorch", "torch"), extra="botorch",
                    description="Ax's default generation strategy: Sobol, then BoTorch's "
                                "GP with qLogNEI (Balandat et al. 2020)")
class AxBoTorch(Optimizer):
    """Ax's ``Client`` with its default generation strategy (see the module docstring).

    Settings: ``initialization_budget`` (trials before the model, centre point included;
    None: Ax's default, 5) and ``threads`` (BLAS/OpenMP threads while Ax works, torch's
    included; 1 by default, see ``_common.ThreadLimit``).
    """

    label = "ax-botorch"
    settings = {"initialization_budget": None, "threads": 1}
    # the conformance suite's run (16 trials): fewer of them model-based, the same switch
    # from Sobol to BoTorch
    conformance_settings = {"initialization_budget": 10}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import torch  # noqa: F401  (load its OpenMP pool before the limiter looks)

        Client = quiet_ax()
        seed = library_seed(self.seed)
        self.client = Client(random_seed=seed)
        self.client.configure_experiment(parameters=to_ax_parameters(space),
                                         name="hpbench")
        self.client.configure_optimization(objective=f"-{METRIC}")
        init = self.config["initialization_budget"]
        if init is not None and (isinstance(init, bool) or not isinstance(init, int)
                                 or init < 1):
            raise ValueError(f"ax-botorch: initialization_budget must be an int >= 1 or "
                             f"None, got {init!r}")
        self.client.configure_generation_strategy(initialization_budget=init,
                                                  initialization_random_seed=seed)
        self._threads = ThreadLimit(self.config["threads"])

    def ask(self, n: int) -> list[Suggestion]:
        with self._threads():
            trials = self.client.get_next_trials(max_trials=n)
        return [Suggestion(from_ax(self.space, p), tag=i) for i, p in trials.items()]

    def tell(self, observations: Sequence[Observation]) -> None:
        with self._threads():
            for obs in observations:
                if obs.ok and math.isfinite(obs.value):
                    self.client.complete_trial(obs.suggestion.tag,
                                               raw_data={METRIC: float(obs.value)})
                else:
                    self.client.mark_trial_failed(obs.suggestion.tag)
