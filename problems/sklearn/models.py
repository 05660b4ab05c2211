"""Models of the scikit-learn tuning tasks: their search spaces, fidelities and builders.

Each ``Model`` says which tasks it serves, its ``Space`` (ranges from the literature cited on
each entry, log scales where that literature uses them, conditional parameters where the
estimator has them), its fidelity and how to build the estimator for a config:

* ensembles and boosting use their number of members as the fidelity (``n_estimators``
  2 … 32 for forests and AdaBoost, ``max_iter`` 4 … 64 for histogram gradient boosting),
  MLPs their number of epochs (``max_iter``, 4 … 64); that count is
  therefore *not* a hyperparameter of the space — at full fidelity it is the fidelity's
  ``high``, as in the multi-fidelity benchmarks of Falkner et al. (2018, BOHB) and
  Eggensperger et al. (2021, HPOBench);
* every other model uses the fraction of the training rows (1/16 … 1), the ``n_samples``
  resource of successive halving (Jamieson & Talwalkar 2016) that scikit-learn's
  ``HalvingGridSearchCV`` uses.

Scale-sensitive models get a ``StandardScaler`` inside a ``Pipeline`` (fit on the training
fold only); regressors learn a standardized target (``TransformedTargetRegressor``) so that
ranges such as SVR's epsilon or ridge's alpha mean the same on every dataset, while the loss
is reported on the original scale. Every estimator gets ``n_jobs=1`` where it has one and the
``random_state`` it is given.

scikit-learn is imported inside the builders (see ``problems/__init__``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpbench import Categorical, Fidelity, Float, Int, Space

CLASSIFICATION = "classification"
REGRESSION = "regression"

#: the count fidelities (boosting iterations, epochs): a 16-fold range, so successive
#: halving with eta = 2 has five rungs and eta = 4 three
COUNT_RANGE = (4, 64)
#: tree ensembles and AdaBoost pay ~1-3 ms of Python per member, so their full fidelity is
#: 32 members (same 16-fold range) to keep one evaluation near 0.15 s on the small datasets
MEMBERS_RANGE = (2, 32)
#: the training-set fraction fidelity: the same 16-fold range
FRACTION_LOW = 1 / 16

#: cap on libsvm's iterations so that a hopeless C / gamma / degree combination ends in
#: bounded time (with a ConvergenceWarning in the trial's info) instead of minutes
SVM_MAX_ITER = 20_000


@dataclass(frozen=True)
class BuildContext:
    """What a builder needs besides the config."""

    task: str
    random_state: int
    count: int | None  # the count fidelity (members / epochs), None for fraction models
    n_train: int  # rows of the training set the estimator will be fit on
    metric: str
    #: adjustments a builder had to make to the config (reported in the trial's info)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Model:
    """One model of the matrix.

    ``fidelity_param`` names the estimator argument set to the count fidelity, or is None
    for a training-fraction fidelity. ``folds`` is the k of the k-fold cross-validation:
    5 (scikit-learn's default) for the cheap models, 3 for the ensembles, boosting and MLPs,
    so that one full-fidelity evaluation stays well under a second on the larger datasets.
    """

    name: str
    tasks: tuple[str, ...]
    space: Callable[[str], Space]
    build: Callable[[Mapping[str, Any], BuildContext], Any]
    fidelity_param: str | None
    folds: int
    description: str
    count_range: tuple[int, int] = COUNT_RANGE

    def fidelity(self) -> Fidelity:
        if self.fidelity_param is None:
            return Fidelity(FRACTION_LOW, 1.0, name="train_fraction")
        low, high = self.count_range
        return Fidelity(low, high, name=self.fidelity_param, integer=True)


def _scaled(estimator: Any) -> Any:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


def _wrap(estimator: Any, ctx: BuildContext, *, scale: bool) -> Any:
    est = _scaled(estimator) if scale else estimator
    if ctx.task == REGRESSION:
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.preprocessing import StandardScaler

        est = TransformedTargetRegressor(regressor=est, transformer=StandardScaler())
    return est


# --- support vector machines -----------------------------------------------------------------
def _svm_space(task: str) -> Space:
    # Hsu, Chang & Lin (2003), "A practical guide to support vector classification":
    # C in 2^-5 … 2^15 and gamma in 2^-15 … 2^3 on a log grid; degree 2 … 5 for the
    # polynomial kernel; SVR's epsilon on a log scale (on the standardized target)
    params: dict[str, Any] = {
        "kernel": Categorical(["linear", "poly", "rbf", "sigmoid"]),
        "C": Float(2.0 ** -5, 2.0 ** 15, log=True),
        "gamma": Float(2.0 ** -15, 2.0 ** 3, log=True,
                       condition=("kernel", ["poly", "rbf", "sigmoid"])),
        "degree": Int(2, 5, condition=("kernel", ["poly"])),
    }
    if task == REGRESSION:
        params["epsilon"] = Float(1e-3, 1.0, log=True)
    return Space(params)


def _build_svm(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.svm import SVC, SVR

    kw: dict[str, Any] = {"kernel": config["kernel"], "C": config["C"],
                          "max_iter": SVM_MAX_ITER}
    if "gamma" in config:
        kw["gamma"] = config["gamma"]
    if "degree" in config:
        kw["degree"] = config["degree"]
    if ctx.task == REGRESSION:
        return _wrap(SVR(epsilon=config["epsilon"], **kw), ctx, scale=True)
    svc = SVC(random_state=ctx.random_state, **kw)
    if ctx.metric == "logloss":
        from sklearn.calibration import CalibratedClassifierCV

        # log-loss needs probabilities: Platt's sigmoid (Platt 1999) fit on 3-fold
        # out-of-fold decision values, one SVC refit on all rows (what SVC(probability=True)
        # does, in the form scikit-learn 1.9 recommends instead of that deprecated flag)
        svc = CalibratedClassifierCV(svc, method="sigmoid", cv=3, ensemble=False, n_jobs=1)
    return _wrap(svc, ctx, scale=True)


# --- tree ensembles and trees ----------------------------------------------------------------
def _criteria(task: str) -> list[str]:
    return ["gini", "entropy"] if task == CLASSIFICATION else \
        ["squared_error", "absolute_error"]


def _forest_space(task: str) -> Space:
    # Probst, Wright & Boulesteix (2019), "Hyperparameters and tuning strategies for random
    # forest": the share of features per split, node sizes and depth matter; the number of
    # trees is the fidelity (more trees never hurt in expectation, Probst & Boulesteix 2018)
    return Space(
        max_depth=Int(2, 32, log=True),
        max_features=Float(0.05, 1.0),
        min_samples_split=Int(2, 20),
        min_samples_leaf=Int(1, 20),
        criterion=Categorical(_criteria(task)),
    )


def _forest_kwargs(config: Mapping[str, Any], ctx: BuildContext) -> dict[str, Any]:
    return {"n_estimators": ctx.count, "max_depth": config["max_depth"],
            "max_features": config["max_features"],
            "min_samples_split": config["min_samples_split"],
            "min_samples_leaf": config["min_samples_leaf"], "criterion": config["criterion"],
            "n_jobs": 1, "random_state": ctx.random_state}


def _build_rf(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    cls = RandomForestClassifier if ctx.task == CLASSIFICATION else RandomForestRegressor
    return _wrap(cls(**_forest_kwargs(config, ctx)), ctx, scale=False)


def _build_et(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor

    cls = ExtraTreesClassifier if ctx.task == CLASSIFICATION else ExtraTreesRegressor
    return _wrap(cls(**_forest_kwargs(config, ctx)), ctx, scale=False)


def _tree_space(task: str) -> Space:
    # CART (Breiman et al. 1984); ranges of Mantovani et al. (2019), "An empirical study on
    # hyperparameter tuning of decision trees"
    return Space(
        max_depth=Int(1, 30),
        min_samples_split=Int(2, 40, log=True),
        min_samples_leaf=Int(1, 40, log=True),
        max_features=Float(0.1, 1.0),
        criterion=Categorical(_criteria(task)),
    )


def _build_dt(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    cls = DecisionTreeClassifier if ctx.task == CLASSIFICATION else DecisionTreeRegressor
    return _wrap(cls(random_state=ctx.random_state, **dict(config)), ctx, scale=False)


# --- boosting --------------------------------------------------------------------------------
def _hgb_space(task: str) -> Space:
    # the LightGBM-style parameters of Ke et al. (2017) as exposed by
    # HistGradientBoosting*; log ranges as in van Rijn & Hutter (2018) and Probst, Bischl &
    # Boulesteix (2019, "Tunability"); the number of boosting iterations is the fidelity
    return Space(
        learning_rate=Float(0.01, 1.0, log=True),
        max_leaf_nodes=Int(2, 64, log=True),
        min_samples_leaf=Int(1, 64, log=True),
        l2_regularization=Float(1e-6, 10.0, log=True),
    )


def _build_hgb(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    cls = HistGradientBoostingClassifier if ctx.task == CLASSIFICATION else \
        HistGradientBoostingRegressor
    # early stopping off: the iteration count is the fidelity and must mean what it says
    return _wrap(cls(max_iter=ctx.count, early_stopping=False, random_state=ctx.random_state,
                     **dict(config)), ctx, scale=False)


def _ada_space(task: str) -> Space:
    # AdaBoost (Freund & Schapire 1997) / AdaBoost.R2 (Drucker 1997) over shallow CART
    # trees; the number of boosting rounds is the fidelity
    params: dict[str, Any] = {
        "learning_rate": Float(0.01, 2.0, log=True),
        "max_depth": Int(1, 5),
    }
    if task == REGRESSION:
        params["loss"] = Categorical(["linear", "square", "exponential"])
    return Space(params)


def _build_ada(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.ensemble import AdaBoostClassifier, AdaBoostRegressor
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if ctx.task == CLASSIFICATION:
        base = DecisionTreeClassifier(max_depth=config["max_depth"],
                                      random_state=ctx.random_state)
        est = AdaBoostClassifier(base, n_estimators=ctx.count,
                                 learning_rate=config["learning_rate"],
                                 random_state=ctx.random_state)
    else:
        base = DecisionTreeRegressor(max_depth=config["max_depth"],
                                     random_state=ctx.random_state)
        est = AdaBoostRegressor(base, n_estimators=ctx.count, loss=config["loss"],
                                learning_rate=config["learning_rate"],
                                random_state=ctx.random_state)
    return _wrap(est, ctx, scale=False)


# --- nearest neighbours ----------------------------------------------------------------------
def _knn_space(task: str) -> Space:
    # k on a log scale (its effect is multiplicative), uniform or distance weights,
    # Manhattan or Euclidean distance (the Minkowski p of scikit-learn)
    return Space(
        n_neighbors=Int(1, 50, log=True),
        weights=Categorical(["uniform", "distance"]),
        p=Categorical([1, 2]),
    )


def _build_knn(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

    cls = KNeighborsClassifier if ctx.task == CLASSIFICATION else KNeighborsRegressor
    # at a small training fraction k may exceed the rows; use them all rather than fail
    # (the task records the clamp in the trial's info)
    k = min(config["n_neighbors"], ctx.n_train)
    if k != config["n_neighbors"]:
        ctx.notes["n_neighbors"] = k
    return _wrap(cls(n_neighbors=k, weights=config["weights"], p=config["p"], n_jobs=1), ctx,
                 scale=True)


# --- linear models ---------------------------------------------------------------------------
def _logreg_space(task: str) -> Space:
    # C on a log scale 1e-4 … 1e4 (the LogisticRegressionCV default grid); the elastic-net
    # mixing (Zou & Hastie 2005) only where the penalty mixes
    return Space(
        C=Float(1e-4, 1e4, log=True),
        penalty=Categorical(["l2", "l1", "elasticnet"]),
        l1_ratio=Float(0.0, 1.0, condition=("penalty", ["elasticnet"])),
    )


def _penalty_is_deprecated() -> bool:
    from sklearn.linear_model import LogisticRegression

    # scikit-learn 1.8 folds ``penalty`` into ``l1_ratio``; older versions need both
    return inspect.signature(LogisticRegression).parameters["penalty"].default == "deprecated"


def _build_logreg(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import LogisticRegression

    penalty = config["penalty"]
    l1_ratio = {"l2": 0.0, "l1": 1.0}.get(penalty, config.get("l1_ratio"))
    # lbfgs for the smooth penalty; saga, the solver that handles l1 (Defazio et al. 2014)
    kw: dict[str, Any] = {"C": config["C"], "solver": "lbfgs" if penalty == "l2" else "saga",
                          "random_state": ctx.random_state, "max_iter": 100}
    if _penalty_is_deprecated():
        # 1.8 also made n_jobs a no-op that warns when set
        kw["l1_ratio"] = l1_ratio
    else:
        kw["penalty"] = penalty
        kw["n_jobs"] = 1
        if penalty == "elasticnet":
            kw["l1_ratio"] = l1_ratio
    return _wrap(LogisticRegression(**kw), ctx, scale=True)


def _elasticnet_space(task: str) -> Space:
    # alpha on a log scale (glmnet's path, Friedman, Hastie & Tibshirani 2010), the mixing
    # l1_ratio uniform in [0, 1] (Zou & Hastie 2005)
    return Space(alpha=Float(1e-4, 10.0, log=True), l1_ratio=Float(0.0, 1.0))


def _build_elasticnet(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import ElasticNet

    return _wrap(ElasticNet(alpha=config["alpha"], l1_ratio=config["l1_ratio"],
                            random_state=ctx.random_state), ctx, scale=True)


def _ridge_space(task: str) -> Space:
    # Hoerl & Kennard (1970); the RidgeCV-style log range of alphas
    return Space(alpha=Float(1e-4, 1e4, log=True))


def _build_ridge(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import Ridge

    return _wrap(Ridge(alpha=config["alpha"], random_state=ctx.random_state), ctx, scale=True)


def _lasso_space(task: str) -> Space:
    # Tibshirani (1996); above alpha ~ 1 every coefficient of a standardized problem is 0
    return Space(alpha=Float(1e-4, 10.0, log=True))


def _build_lasso(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.linear_model import Lasso

    return _wrap(Lasso(alpha=config["alpha"], random_state=ctx.random_state), ctx, scale=True)


# --- multi-layer perceptrons -----------------------------------------------------------------
def _mlp_space(task: str) -> Space:
    # depth 1 … 3 with a width per active layer (a conditional space), the activation and
    # solver of MLPClassifier / MLPRegressor, L2 alpha and the step size on log scales
    # (Bengio 2012, "Practical recommendations for gradient-based training"); step size and
    # minibatch size only for the stochastic solvers (lbfgs uses neither); the epochs are
    # the fidelity
    return Space(
        n_layers=Int(1, 3),
        n_units_1=Int(4, 128, log=True),
        n_units_2=Int(4, 128, log=True, condition=("n_layers", [2, 3])),
        n_units_3=Int(4, 128, log=True, condition=("n_layers", [3])),
        activation=Categorical(["relu", "tanh", "logistic"]),
        solver=Categorical(["adam", "sgd", "lbfgs"]),
        alpha=Float(1e-6, 1e-1, log=True),
        learning_rate_init=Float(1e-4, 1e-1, log=True, condition=("solver", ["adam", "sgd"])),
        batch_size=Int(16, 256, log=True, condition=("solver", ["adam", "sgd"])),
    )


def _build_mlp(config: Mapping[str, Any], ctx: BuildContext) -> Any:
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    layers = tuple(config[f"n_units_{i}"] for i in range(1, config["n_layers"] + 1))
    kw: dict[str, Any] = {"hidden_layer_sizes": layers, "activation": config["activation"],
                          "solver": config["solver"], "alpha": config["alpha"],
                          "max_iter": ctx.count, "random_state": ctx.random_state}
    if config["solver"] != "lbfgs":
        kw["learning_rate_init"] = config["learning_rate_init"]
        # a batch larger than the training rows would be clipped with a warning anyway
        kw["batch_size"] = min(config["batch_size"], ctx.n_train)
        if kw["batch_size"] != config["batch_size"]:
            ctx.notes["batch_size"] = kw["batch_size"]
    cls = MLPClassifier if ctx.task == CLASSIFICATION else MLPRegressor
    return _wrap(cls(**kw), ctx, scale=True)


BOTH = (CLASSIFICATION, REGRESSION)

MODELS: dict[str, Model] = {m.name: m for m in (
    Model("svc", (CLASSIFICATION,), _svm_space, _build_svm, None, 5,
          "support vector classifier (libsvm), kernel-conditional gamma / degree"),
    Model("svr", (REGRESSION,), _svm_space, _build_svm, None, 5,
          "epsilon-support vector regression (libsvm), kernel-conditional gamma / degree"),
    Model("rf", BOTH, _forest_space, _build_rf, "n_estimators", 3, "random forest",
          MEMBERS_RANGE),
    Model("et", BOTH, _forest_space, _build_et, "n_estimators", 3, "extremely randomized trees",
          MEMBERS_RANGE),
    Model("hgb", BOTH, _hgb_space, _build_hgb, "max_iter", 3,
          "histogram gradient boosting"),
    Model("knn", BOTH, _knn_space, _build_knn, None, 5, "k-nearest neighbours"),
    Model("logreg", (CLASSIFICATION,), _logreg_space, _build_logreg, None, 5,
          "logistic regression with l2 / l1 / elastic-net penalty"),
    Model("elasticnet", (REGRESSION,), _elasticnet_space, _build_elasticnet, None, 5,
          "elastic-net linear regression"),
    Model("ridge", (REGRESSION,), _ridge_space, _build_ridge, None, 5, "ridge regression"),
    Model("lasso", (REGRESSION,), _lasso_space, _build_lasso, None, 5, "lasso regression"),
    Model("mlp", BOTH, _mlp_space, _build_mlp, "max_iter", 3,
          "multi-layer perceptron, conditional depth → widths"),
    Model("dt", BOTH, _tree_space, _build_dt, None, 5, "CART decision tree"),
    Model("ada", BOTH, _ada_space, _build_ada, "n_estimators", 3,
          "AdaBoost over shallow trees", MEMBERS_RANGE),
)}
