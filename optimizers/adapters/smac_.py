"""SMAC3's facades (Lindauer, Eggensperger, Feurer, Biedenkapp, Deng, Benjamins, Ruhopf, Sass &
Hutter 2022, "SMAC3: A Versatile Bayesian Optimization Package for Hyperparameter
Optimization", JMLR 23(54)) through ``smac.ask()`` / ``smac.tell()``, unchanged. Tested with
smac 2.4.1 and ConfigSpace 1.2.2.

Entries and the facades they wrap (each with SMAC's own defaults):

* ``smac-bb``: ``BlackBoxFacade`` — a GP (Matérn-5/2 + noise kernel, hyperparameters by
  maximum a posteriori), EI, Sobol initial design;
* ``smac-hpo``: ``HyperparameterOptimizationFacade`` — a random forest on log costs, log-EI,
  Sobol initial design, 20 % interleaved random configs;
* ``smac-mf``: ``MultiFidelityFacade`` — Hyperband (η = ``eta``, 3) with the same random
  forest choosing the configs of new brackets (BOHB-like), on problems with a fidelity.
  SMAC's budget *is* the problem's fidelity: ``min_budget`` / ``max_budget`` are its range;
  an integer fidelity gets SMAC's budget rounded to the nearest integer (Hyperband's
  ``max · η^-k`` is rarely one). The configuration at SMAC's ``max_budget`` is asked at
  full fidelity.

Mapping of the space (``to_configspace``): ``Float`` → ``Float(name, (low, high), log=)``,
``Int`` → ``Integer``, ``Categorical`` → ``Categorical`` over the choices (as strings, mapped
back), and a condition → ``EqualsCondition`` (one value) or ``InCondition`` (several) on its
parent. The scenario: ``n_trials`` = the cell's evaluations budget (it sizes SMAC's initial
design: at most a quarter of it; SMAC's 100 when the budget is not in evaluations),
``deterministic=True`` (hpbench gives no per-trial seed, so SMAC's intensifier evaluates a
config once instead of re-running it on other seeds) and ``seed`` = the optimizer's seed.
So ``smac-hpo`` with seed ``s`` and ``HyperparameterOptimizationFacade`` on the same scenario
driven by hand ask the same configs (``tests/optimizers/test_smac.py`` checks it).

Failed trials are told ``StatusType.CRASHED`` with a crash cost: the ``crash_cost`` setting,
or by default the worst value observed so far (SMAC's own default crash cost, infinity, would
put an infinity into its surrogate models). A failure before any success waits, still a
running trial for SMAC, until the first success gives a worst value.

SMAC writes its scenario and run history when the facade is built; that goes into a
temporary folder removed as soon as the facade exists (the optimizer is not told the cell's
scratch folder), and ``tell(save=False)`` writes nothing more: a cell leaves no
``smac3_output/``. SMAC's logging is not configured (``logging_level=False``, which would
otherwise reconfigure the root logger) and its ``smac`` logger is held at ERROR while the
adapter calls it. Seeding: SMAC draws from its own ``RandomState``s seeded by the scenario,
so the same seed gives the same trajectory for all three facades; global random state is
saved and restored around every call anyway. The facade holds a live generator (its
intensifier's), so the adapter does not pickle (``picklable = False``).
"""

from __future__ import annotations

import logging
import math
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, WorstSoFar, library_seed
from hpbench.seeds import global_random_state_kept
from hpbench.space import Categorical, Float, Int, Space

#: facade kind -> name of the class in ``smac``
FACADES = {
    "bb": "BlackBoxFacade",
    "hpo": "HyperparameterOptimizationFacade",
    "mf": "MultiFidelityFacade",
}

#: SMAC's own ``n_trials`` default, used when the budget is not counted in evaluations
_SMAC_N_TRIALS = 100


def _choice_labels(param: Categorical) -> list[str]:
    """The choices as ConfigSpace labels: ``str(c)``, or ``"i:repr"`` if two would clash."""
    labels = [str(c) for c in param.choices]
    if len(set(labels)) != len(labels):
        labels = [f"{i}:{c!r}" for i, c in enumerate(param.choices)]
    return labels


def to_configspace(space: Space, seed: int | None = None) -> Any:
    """The ``ConfigSpace.ConfigurationSpace`` of ``space``, conditions included."""
    import ConfigSpace as CS

    cs = CS.ConfigurationSpace(seed=seed)
    hps: dict[str, Any] = {}
    labels: dict[str, dict[Any, str]] = {}
    for name, param in space.items():
        if isinstance(param, Float):
            hp = CS.Float(name, (float(param.low), float(param.high)), log=param.log)
        elif isinstance(param, Int):
            hp = CS.Integer(name, (int(param.low), int(param.high)), log=param.log)
        elif isinstance(param, Categorical):
            names = _choice_labels(param)
            labels[name] = dict(zip(param.choices, names))
            hp = CS.Categorical(name, names)
        else:  # pragma: no cover - Space only admits these three
            raise TypeError(f"parameter {name!r} must be Float, Int or Categorical, "
                            f"got {type(param).__name__}")
        hps[name] = hp
    cs.add(list(hps.values()))
    conditions = []
    for name, param in space.items():
        cond = param.condition
        if cond is None:
            continue
        parent = space[cond.parent]
        values = [labels[cond.parent][v] if cond.parent in labels else v for v in cond.values]
        if isinstance(parent, Int):
            values = [int(v) for v in values]
        elif isinstance(parent, Float):
            values = [float(v) for v in values]
        if len(values) == 1:
            conditions.append(CS.EqualsCondition(hps[name], hps[cond.parent], values[0]))
        else:
            conditions.append(CS.InCondition(hps[name], hps[cond.parent], values))
    if conditions:
        cs.add(conditions)
    return cs


def from_configuration(space: Space, configuration: Any) -> dict[str, Any]:
    """A ConfigSpace ``Configuration`` (or mapping) as an hpbench config: plain Python values
    in the order of the space, categorical labels mapped back to the choices, inactive
    parameters left out."""
    values = dict(configuration)
    out: dict[str, Any] = {}
    for name, param in space.items():
        if name not in values or values[name] is None:
            continue
        v = values[name]
        if isinstance(param, Float):
            # ConfigSpace goes through the unit interval: keep round-off inside the bounds
            out[name] = min(param.high, max(param.low, float(v)))
        elif isinstance(param, Int):
            out[name] = int(v)
        else:
            back = dict(zip(_choice_labels(param), param.choices))
            out[name] = back[v]
    return out


@contextmanager
def quiet_smac(level: int = logging.ERROR):
    """Hold the ``smac`` logger at ``level`` for the block (SMAC logs every intensification
    step at INFO), then restore it."""
    logger = logging.getLogger("smac")
    old = logger.level
    logger.setLevel(max(level, old))
    try:
        yield
    finally:
        logger.setLevel(old)


def make_scenario(space: Space, *, seed: int, n_trials: int, output_directory: Path,
                  fidelity: Any = None) -> Any:
    """The ``smac.Scenario`` the adapter runs (see the module docstring)."""
    from smac import Scenario

    kwargs: dict[str, Any] = {}
    if fidelity is not None:
        kwargs = {"min_budget": float(fidelity.low), "max_budget": float(fidelity.high)}
    return Scenario(to_configspace(space), name="hpbench", output_directory=output_directory,
                    deterministic=True, n_trials=n_trials, seed=seed, **kwargs)


def make_facade(kind: str, scenario: Any, *, eta: int = 3, gp_restarts: int | None = None,
                local_search_iterations: int | None = None) -> Any:
    """SMAC's facade of ``kind`` (a key of ``FACADES``) on ``scenario``, for ask/tell only.

    ``gp_restarts`` (``bb`` only) and ``local_search_iterations``, when given, size two inner
    loops of the facade's own components, which are otherwise SMAC's defaults: the restarts
    of the GP's hyperparameter fit (10) and the acquisition maximizer's local searches (10).
    """
    import smac

    if kind not in FACADES:
        raise ValueError(f"facade must be one of {sorted(FACADES)}, got {kind!r}")
    cls = getattr(smac, FACADES[kind])
    extra: dict[str, Any] = {}
    if kind == "mf":
        extra["intensifier"] = cls.get_intensifier(scenario, eta=eta)
    if gp_restarts is not None:
        if kind != "bb":
            raise ValueError(f"gp_restarts: only the bb facade has a GP, got facade={kind!r}")
        extra["model"] = blackbox_gp(scenario, n_restarts=gp_restarts)
    if local_search_iterations is not None:
        extra["acquisition_maximizer"] = cls.get_acquisition_maximizer(
            scenario, local_search_iterations=local_search_iterations)
    # overwrite=True: never continue (or, worse, ask on stdin about) an old run in the folder
    return cls(scenario, None, logging_level=False, overwrite=True, **extra)


def blackbox_gp(scenario: Any, *, n_restarts: int) -> Any:
    """``BlackBoxFacade.get_model(scenario)`` with ``n_restarts`` restarts of the
    hyperparameter fit: SMAC's ``get_model`` does not take it, so the vanilla branch is
    written out here (a test checks that at SMAC's default, 10, the model's ``meta`` equals
    ``get_model``'s)."""
    from smac import BlackBoxFacade
    from smac.model.gaussian_process import GaussianProcess

    return GaussianProcess(configspace=scenario.configspace,
                           kernel=BlackBoxFacade.get_kernel(scenario=scenario),
                           n_restarts=n_restarts, normalize_y=True, seed=scenario.seed)


_TAGS = ("model-based", "adapter", "smac")


@register_optimizer("smac-hpo", tags=(*_TAGS, "random-forest"),
                    packages=("smac", "ConfigSpace"), extra="smac", settings={"facade": "hpo"},
                    description="SMAC3 HyperparameterOptimizationFacade (random forest, log-EI)")
class Smac(Optimizer):
    """A SMAC3 facade driven by ``ask`` / ``tell``.

    Settings: ``facade`` (a key of ``FACADES``), ``eta`` (Hyperband's, ``smac-mf`` only),
    ``crash_cost`` (the cost told for a failed trial; None: the worst value so far),
    ``n_trials`` (SMAC's scenario budget; None: the cell's evaluations budget),
    ``threads`` (BLAS/OpenMP threads while SMAC works; 1, see ``_common.ThreadLimit``),
    ``gp_restarts`` (``bb`` only) and ``local_search_iterations``: the inner loops of
    ``make_facade`` (None: SMAC's defaults). The conformance suite runs with fewer local
    searches (and ``smac-bb`` with fewer GP restarts), the same code path.
    """

    settings = {"facade": "hpo", "eta": 3, "crash_cost": None, "n_trials": None, "threads": 1,
                "gp_restarts": None, "local_search_iterations": None}
    choices = {"facade": tuple(FACADES)}
    picklable = False
    conformance_settings = {"local_search_iterations": 2}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        kind = self.config["facade"]
        if kind == "mf" and self.fidelity is None:
            raise ValueError("smac-mf needs a problem with a fidelity (requires=['fidelity'])")
        seed = library_seed(self.seed)
        if seed is None:  # an unseeded run: SMAC's seed=-1 would draw from Python's random
            seed = int(self.rng.integers(2**31))
        for key, least in (("gp_restarts", 0), ("local_search_iterations", 1)):
            v = self.config[key]
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < least):
                raise ValueError(f"{key} must be None (SMAC's default) or an integer >= "
                                 f"{least}, got {v!r}")
        n_trials = self.config["n_trials"] or _n_trials(self.budget.evaluations)
        self._threads = ThreadLimit(self.config["threads"])
        with tempfile.TemporaryDirectory(prefix="hpbench-smac-") as tmp, self._calls():
            scenario = make_scenario(space, seed=seed, n_trials=n_trials,
                                     output_directory=Path(tmp),
                                     fidelity=self.fidelity if kind == "mf" else None)
            self.smac = make_facade(
                kind, scenario, eta=self.config["eta"], gp_restarts=self.config["gp_restarts"],
                local_search_iterations=self.config["local_search_iterations"])
        self._worst = WorstSoFar()
        self._waiting: list[Any] = []  # failures told once there is a worst value

    @contextmanager
    def _calls(self):
        """Around every call into SMAC: its logger quiet, global random state restored, and
        with ``threads`` 1 one BLAS thread and joblib's sequential backend (SMAC's random forest
        asks joblib for every core, ``n_jobs=-1``: on 10 trees of a few dozen points the
        thread pool costs more than it gains, and the trees are the same either way)."""
        import joblib

        with ExitStack() as stack:
            stack.enter_context(quiet_smac())
            stack.enter_context(warnings.catch_warnings())
            # SMAC's local search logs np.mean(times) at DEBUG even when it made no step
            warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
            warnings.filterwarnings("ignore", "invalid value encountered in scalar divide",
                                    RuntimeWarning)
            # SMAC seeds its own RandomStates, but its dependencies (scikit-learn's GP
            # optimizer restarts, emcee) are free to draw from the global generators
            stack.enter_context(global_random_state_kept())
            stack.enter_context(self._threads())
            if self.config["threads"] == 1:
                stack.enter_context(joblib.parallel_config(backend="sequential"))
            yield

    def _fidelity(self, budget: float | None) -> float | None:
        fid = self.fidelity
        if budget is None or fid is None:
            return None
        f = min(fid.high, max(fid.low, float(budget)))
        if fid.integer:
            f = float(min(fid.high, max(fid.low, math.floor(f + 0.5))))
        return None if f >= fid.high else f

    def ask(self, n: int) -> list[Suggestion]:
        out = []
        with self._calls():
            for _ in range(n):
                info = self.smac.ask()
                out.append(Suggestion(from_configuration(self.space, info.config),
                                      fidelity=self._fidelity(info.budget), tag=info))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        self._worst.update(o.value for o in observations if o.ok)
        crash = self.config["crash_cost"]
        if crash is None:
            crash = self._worst.impute()
        with self._calls():
            for obs in observations:
                if obs.ok:
                    self.smac.tell(obs.suggestion.tag, TrialValue(cost=float(obs.value)),
                                   save=False)
                else:
                    self._waiting.append(obs.suggestion.tag)
            if crash is not None:
                for info in self._waiting:
                    self.smac.tell(info, TrialValue(cost=float(crash),
                                                    status=StatusType.CRASHED), save=False)
                self._waiting.clear()


def _n_trials(evaluations: float | None) -> int:
    if evaluations is None:
        return _SMAC_N_TRIALS
    return max(1, math.ceil(evaluations))


@register_optimizer("smac-bb", tags=(*_TAGS, "gp"), packages=("smac", "ConfigSpace"),
                    extra="smac", settings={"facade": "bb"},
                    description="SMAC3 BlackBoxFacade (GP, EI; Lindauer et al. 2022)")
class SmacBlackBox(Smac):
    """``Smac`` with the ``BlackBoxFacade``. Its conformance runs fit the GP with 2 restarts
    instead of 10: most of its 19 CPU s per 16-trial run went to the 11 L-BFGS-B fits of
    every ask."""

    conformance_settings = {"gp_restarts": 2, "local_search_iterations": 2}


@register_optimizer("smac-mf", tags=(*_TAGS, "multi-fidelity", "random-forest"),
                    packages=("smac", "ConfigSpace"), extra="smac", settings={"facade": "mf"},
                    description="SMAC3 MultiFidelityFacade (Hyperband with a random forest)")
class SmacMultiFidelity(Smac):
    """``Smac`` with the ``MultiFidelityFacade``: needs a problem with a fidelity."""

    requires = frozenset({"fidelity"})
