"""Fidelity of the library adapters: for a fixed seed, an adapter run through
``hpbench.runner.run_loop`` proposes exactly the configs that the library's own loop proposes
on the same objective (``study.optimize``, ``fmin``, ``gp_minimize``, ``maximize``,
``optimizer.minimize``, ``ParameterSampler``), failures included where the library's loop
has a way to express them.

Every library here is deterministic under a seed; the one loop that cannot be run as shipped
is ``gbrt_minimize`` under scikit-learn >= 1.6 (see ``skopt_._compatible_gbrt``):
there the adapter is compared with ``base_minimize``, the loop ``gbrt_minimize`` delegates
to, called with ``gbrt_minimize``'s arguments.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Categorical, Evaluation, Float, Int, Problem, Space
from hpbench.runner import run_loop
from tests.optimizers.toy_spaces import CONDITIONAL, PLAIN

SEED = 3



def objective(config: dict) -> float:
    """A 2-d quadratic in (log10 lr, n) plus a categorical offset (and ``extra``)."""
    return ((math.log10(config["lr"]) + 1.5) ** 2 + ((config["n"] - 3) / 4) ** 2
            + (0.0 if config["kind"] == "a" else 0.2 + 0.3 * config.get("extra", 0.0)))


class Tiny(Problem):
    """``objective`` on ``space``; NaN (a failed trial) where ``n == fail_n``."""

    def __init__(self, space: Space, fail_n: int | None = None) -> None:
        super().__init__(space, name="tiny")
        self.fail_n = fail_n

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        if config["n"] == self.fail_n:
            return Evaluation(value=math.nan)
        return objective(config)


def adapter_run(name: str, space: Space, n: int, *, fail_n: int | None = None,
                seed: int = SEED, **settings) -> tuple[list[dict], object]:
    problem = Tiny(space, fail_n=fail_n)
    opt = hpbench.make_optimizer(name, space, seed=seed, budget=Budget(n), **settings)
    result = run_loop(problem, opt, Budget(n))
    assert result.status == "done", result.error
    assert result.n_trials == n
    if fail_n is not None:
        assert "failed" in result.columns["status"], "the run should meet a failing config"
    return [json.loads(c) for c in result.columns["config"]], opt


def same(a: list[dict], b: list[dict]) -> bool:
    """Configs equal, floats to the last bit but for one rounding of a decode step."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for k in x:
            if isinstance(x[k], float) or isinstance(y[k], float):
                if not math.isclose(x[k], y[k], rel_tol=1e-12, abs_tol=1e-15):
                    return False
            elif x[k] != y[k] or type(x[k]) is not type(y[k]):
                return False
    return True


# --------------------------------------------------------------------------------- optuna

def _optuna_objective(space: Space, fail_n: int, record: list):
    def f(trial):
        config = {"lr": trial.suggest_float("lr", 1e-3, 1.0, log=True),
                  "n": trial.suggest_int("n", 1, 8),
                  "kind": trial.suggest_categorical("kind", ["a", "b"])}
        if "extra" in space and config["kind"] == "b":
            config["extra"] = trial.suggest_float("extra", 0.0, 1.0)
        record.append(config)
        if config["n"] == fail_n:
            return float("nan")  # optuna marks the trial FAIL
        return objective(config)
    return f


def _optuna_sampler(name: str, seed: int):
    import optuna

    s = optuna.samplers
    return {
        "optuna-tpe": lambda: s.TPESampler(seed=seed, multivariate=False),
        "optuna-tpe-multivariate": lambda: s.TPESampler(seed=seed, multivariate=True),
        "optuna-gp": lambda: s.GPSampler(seed=seed),
        "optuna-cmaes": lambda: s.CmaEsSampler(seed=seed),
        "optuna-qmc": lambda: s.QMCSampler(qmc_type="sobol", scramble=True, seed=seed),
        "optuna-random": lambda: s.RandomSampler(seed=seed),
    }[name]()


@pytest.mark.parametrize(("name", "n"), [("optuna-tpe", 24), ("optuna-tpe-multivariate", 24),
                                         ("optuna-gp", 13), ("optuna-cmaes", 16),
                                         ("optuna-qmc", 10), ("optuna-random", 10)])
@pytest.mark.parametrize("space", [PLAIN, CONDITIONAL], ids=["plain", "conditional"])
def test_optuna_matches_study_optimize(name, n, space):
    import warnings

    import optuna
    import torch  # noqa: F401  (GPSampler's OpenMP pool, limited like the adapter's)

    from hpbench.optimizers.adapters._common import ThreadLimit

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    record: list[dict] = []
    with warnings.catch_warnings(), ThreadLimit(1)():
        warnings.simplefilter("ignore")
        study = optuna.create_study(sampler=_optuna_sampler(name, SEED))
        study.optimize(_optuna_objective(space, 7, record), n_trials=n)
    ours, _ = adapter_run(name, space, n, fail_n=7)
    assert same(ours, record)
    # and the failures reached Optuna as failures
    assert any(t.state == optuna.trial.TrialState.FAIL for t in study.trials)


# ------------------------------------------------------------------------------- hyperopt

def _hp_space(space: Space):
    from hyperopt import hp

    if "extra" in space:
        kind = hp.choice("kind", [{"kind": "a"},
                                  {"kind": "b", "extra": hp.uniform("extra", 0.0, 1.0)}])
    else:
        kind = hp.choice("kind", ["a", "b"])
    return {"lr": hp.loguniform("lr", math.log(1e-3), math.log(1.0)),
            "n": hp.uniformint("n", 1, 8), "kind": kind}


@pytest.mark.parametrize(("name", "n"), [("hyperopt-tpe", 30), ("hyperopt-anneal", 20),
                                         ("hyperopt-rand", 10)])
@pytest.mark.parametrize("space", [PLAIN, CONDITIONAL], ids=["plain", "conditional"])
def test_hyperopt_matches_fmin(name, n, space):
    from hyperopt import STATUS_FAIL, Trials, anneal, fmin, rand, tpe

    algo = {"hyperopt-tpe": tpe, "hyperopt-anneal": anneal, "hyperopt-rand": rand}[name].suggest
    record: list[dict] = []

    def f(args):
        kind = args["kind"]
        config = {"lr": args["lr"], "n": args["n"],
                  **(kind if isinstance(kind, dict) else {"kind": kind})}
        record.append(config)
        if config["n"] == 7:
            return {"status": STATUS_FAIL}
        return objective(config)

    trials = Trials()
    fmin(f, _hp_space(space), algo=algo, max_evals=n, trials=trials,
         rstate=np.random.default_rng(SEED), show_progressbar=False)
    ours, _ = adapter_run(name, space, n, fail_n=7)
    assert same(ours, record)


def test_hyperopt_labels_stay_unique_for_shared_and_nested_children():
    """A child active under two parent values sits in two branches (two labels); a grandchild
    hangs under it; decoding gives back valid configs of the space."""
    from hpbench.optimizers.adapters.hyperopt_ import HyperoptSpace

    space = Space(kind=Categorical(["a", "b", "c"]),
                  extra=Int(1, 3, condition=("kind", ["b", "c"])),
                  deep=Float(0.0, 1.0, condition=("extra", [2])),
                  x=Float(-1.0, 1.0))
    hs = HyperoptSpace(space)
    assert sorted(hs.labels) == ["deep|kind=b|extra=2", "deep|kind=c|extra=2", "extra|kind=b",
                                 "extra|kind=c", "kind", "x"]
    opt = hpbench.make_optimizer("hyperopt-rand", space, seed=0, budget=Budget(200))
    configs = [s.config for s in opt.ask(200)]
    for c in configs:
        space.validate(c)
    assert {c["kind"] for c in configs} == {"a", "b", "c"}
    assert any("deep" in c for c in configs)


# -------------------------------------------------------------------------- scikit-optimize

def _sk_dims():
    from skopt.space import Categorical as SkCat
    from skopt.space import Integer, Real

    return [Real(1e-3, 1.0, prior="log-uniform", name="lr"), Integer(1, 8, name="n"),
            SkCat(["a", "b"], name="kind")]


def _sk_record(record: list):
    def f(x):
        config = {"lr": float(x[0]), "n": int(x[1]), "kind": str(x[2])}
        record.append(config)
        return objective(config)
    return f


@pytest.mark.parametrize(("name", "n"), [("skopt-gp", 12), ("skopt-forest", 13),
                                         ("skopt-gbrt", 13)])
def test_skopt_matches_its_minimize_functions(name, n):
    from sklearn.utils import check_random_state
    from skopt import forest_minimize, gbrt_minimize, gp_minimize
    from skopt.optimizer import base_minimize
    from skopt.utils import cook_estimator

    from hpbench.optimizers.adapters._common import ThreadLimit
    from hpbench.optimizers.adapters.skopt_ import _compatible_gbrt

    record: list[dict] = []
    with ThreadLimit(1)():  # the adapter's default: the same round-off on both sides
        if name == "skopt-gp":
            gp_minimize(_sk_record(record), _sk_dims(), n_calls=n, random_state=SEED)
        elif name == "skopt-forest":
            forest_minimize(_sk_record(record), _sk_dims(), n_calls=n, random_state=SEED)
        else:
            try:
                gbrt_minimize(_sk_record(record), _sk_dims(), n_calls=n, random_state=SEED)
            except ValueError as exc:  # scikit-learn >= 1.6: skopt 0.10.2's GBRT lost its tag
                assert "has to be a regressor" in str(exc)
                record.clear()
                estimator = _compatible_gbrt(
                    cook_estimator("GBRT", random_state=check_random_state(SEED), n_jobs=1))
                base_minimize(_sk_record(record), _sk_dims(), estimator, n_calls=n,
                              acq_func="LCB", acq_optimizer="sampling", random_state=SEED,
                              xi=0.01, kappa=1.96, n_points=10000)
    ours, _ = adapter_run(name, PLAIN, n)
    assert same(ours, record)


def test_skopt_told_worst_value_for_failures():
    """A failure is told as the worst value so far (never before the first success)."""
    ours, opt = adapter_run("skopt-forest", PLAIN, 22, fail_n=7)
    expected, worst = [], -math.inf
    for c in ours:
        if c["n"] == 7:
            if math.isfinite(worst):
                expected.append(worst)
        else:
            expected.append(objective(c))
            worst = max(worst, expected[-1])
    assert len(expected) < len(ours) or ours[0]["n"] != 7
    assert opt.opt.yi == expected


# ------------------------------------------------------------------------------- bayes_opt

def test_bayes_opt_matches_maximize():
    from bayes_opt import BayesianOptimization

    from hpbench.optimizers.adapters._common import ThreadLimit

    n, init = 8, 5
    record: list[dict] = []

    def f(**u):  # the documented decoding: unit cube through Space.from_unit
        config = PLAIN.from_unit([u[k] for k in PLAIN.names])
        record.append(config)
        return -objective(config)

    bo = BayesianOptimization(f=f, pbounds={k: (0.0, 1.0) for k in PLAIN}, random_state=SEED,
                              verbose=0)
    with ThreadLimit(1)():
        bo.maximize(init_points=init, n_iter=n - init)
    ours, opt = adapter_run("bayes-opt", PLAIN, n)
    assert same(ours, record)
    np.testing.assert_array_equal(opt.bo.space.params, bo.space.params)


def test_bayes_opt_survives_a_duplicate_point():
    """bayes_opt raises NotUniqueError on a repeated point; the adapter counts it instead."""
    from hpbench.optimizers.adapters.bayes_opt_ import BayesOpt

    opt = BayesOpt(PLAIN, seed=0, budget=Budget(4), init_points=2)
    first = opt.ask(1)[0]
    obs = hpbench.Observation(first, 0, 1.0, "ok")
    opt.tell([obs])
    opt.tell([hpbench.Observation(first, 1, 1.0, "ok")])
    assert opt.duplicates == 1
    assert len(opt.bo.space.target) == 1


# ------------------------------------------------------------------------------- nevergrad

@pytest.mark.parametrize(("name", "method"), [("ng-ngopt", "NGOpt"),
                                              ("ng-oneplusone", "OnePlusOne"),
                                              ("ng-twopointsde", "TwoPointsDE"),
                                              ("ng-pso", "PSO"), ("ng-cma", "CMA")])
def test_nevergrad_matches_minimize(name, method):
    import warnings

    import nevergrad as ng

    n = 20
    p = ng.p.Dict(lr=ng.p.Log(lower=1e-3, upper=1.0),
                  n=ng.p.Scalar(lower=1, upper=8).set_integer_casting(),
                  kind=ng.p.Choice(["a", "b"]))
    p.random_state = np.random.RandomState(SEED)
    record: list[dict] = []

    def f(value):
        config = {"lr": float(value["lr"]), "n": int(value["n"]), "kind": value["kind"]}
        record.append(config)
        # the (1+1)-ES and CMA start at the centre, n = 4: fail there
        return math.nan if config["n"] == 4 else objective(config)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ng.optimizers.registry[method](parametrization=p, budget=n, num_workers=1).minimize(f)
    ours, _ = adapter_run(name, PLAIN, n, fail_n=4)
    assert same(ours, record)


# ---------------------------------------------------------------------------- scikit-learn

def test_sklearn_random_matches_parameter_sampler():
    from scipy import stats
    from sklearn.model_selection import ParameterSampler

    n = 40
    common = {"lr": stats.loguniform(1e-3, 1.0), "n": stats.randint(1, 9)}
    dists = [{**common, "kind": ["a"]},
             {**common, "kind": ["b"], "extra": stats.uniform(0.0, 1.0)}]
    record = [{k: (float(v) if k in ("lr", "extra") else int(v) if k == "n" else v)
               for k, v in c.items()}
              for c in ParameterSampler(dists, n_iter=n, random_state=SEED)]
    ours, _ = adapter_run("sklearn-random", CONDITIONAL, n)
    assert same(ours, [{k: c[k] for k in CONDITIONAL if k in c} for c in record])
    assert {c["kind"] for c in ours} == {"a", "b"}


def test_sklearn_grid_is_a_shuffled_parameter_grid():
    from sklearn.model_selection import ParameterGrid

    # budget 16 on (lr, n, kind): levels grow lr 2, n 2, kind 2, lr 3, lr 4 -> 4 * 2 * 2
    grid = ParameterGrid({"lr": [1e-3, 1e-2, 1e-1, 1.0], "n": [1, 8], "kind": ["a", "b"]})
    expected = sorted((round(math.log10(c["lr"]), 9), c["n"], c["kind"]) for c in grid)
    runs = []
    for seed in (1, 2):
        ours, _ = adapter_run("sklearn-grid", PLAIN, 16, seed=seed)
        assert sorted((round(math.log10(c["lr"]), 9), c["n"], c["kind"])
                      for c in ours) == expected
        runs.append(ours)
    assert runs[0] != runs[1], "the visiting order must depend on the seed"


def test_sklearn_grid_covers_conditional_sub_spaces():
    from hpbench.optimizers.adapters.sklearn_search import budget_grid

    spec = budget_grid(CONDITIONAL, 40)
    kinds = [d["kind"] for d in spec]
    assert kinds == [["a"], ["b"]]
    assert "extra" not in spec[0] and "extra" in spec[1]
    ours, _ = adapter_run("sklearn-grid", CONDITIONAL, 40, seed=0)
    assert len({json.dumps(c, sort_keys=True) for c in ours}) == 40


def test_ngopt_runs_a_one_dimensional_problem_to_its_budget():
    """NGOpt picks a metamodel on 1-d problems whose ``float(model.predict(...))`` fails under
    NumPy >= 2.4 ("only 0-dimensional arrays can be converted"); the adapter's shim keeps it
    running to its budget, on the 1-d problems of the default suite."""
    for name in ("ridge-hypergrad", "forrester-mf"):
        problem = hpbench.make_problem(name, seed=0)
        opt = hpbench.make_optimizer("ng-ngopt", problem.space, seed=0, budget=Budget(100))
        result = run_loop(problem, opt, Budget(100))
        assert result.status == "done", result.error
        assert result.n_trials == 100
