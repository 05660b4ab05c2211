"""Datasets and validation splits of the scikit-learn tuning tasks.

Every dataset ships with scikit-learn or is generated with a fixed generator seed, so nothing
is downloaded and every machine sees the same rows. What changes with a problem's seed is the
*split*: a stratified train / test split, the seeded k folds of the train part that the
objective averages over, and the nested subsamples used at a reduced training-set fidelity.

Protocol (the one the scikit-learn user guide, section 3.1 "Cross-validation", recommends):
the test part is held out before any tuning; the optimizer only ever sees the k-fold
cross-validated loss on the train part; the test loss of a configuration refit on the whole
train part is recorded for the analysis (validation versus test regret) but never returned
as the objective. Regression targets are stratified on quantile bins so that both parts
cover the range of ``y`` (the usual trick for small regression sets, e.g. diabetes' 442
rows).

scikit-learn is imported inside the functions that need it (see ``problems/__init__``).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: seed of the generated datasets: fixed, so the data never depends on the problem's seed
GENERATOR_SEED = 20240601

#: share of the rows held out as the test part (scikit-learn's ``train_test_split`` default)
TEST_SIZE = 0.25

#: number of quantile bins a regression target is stratified on
REGRESSION_BINS = 5


@dataclass(frozen=True)
class Dataset:
    """A dataset of the matrix: its task type and how to load it."""

    name: str
    task: str  # "classification" or "regression"
    loader: Callable[[], tuple[np.ndarray, np.ndarray]]
    description: str


def _load_builtin(fn: str) -> Callable[[], tuple[np.ndarray, np.ndarray]]:
    def load() -> tuple[np.ndarray, np.ndarray]:
        from sklearn import datasets

        return getattr(datasets, fn)(return_X_y=True)
    return load


def _make_classification() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    # 5 informative, 5 redundant (linear combinations) and 10 noise features, 3 classes and
    # 5% flipped labels: the "hard but learnable" setting of Guyon (2003), the NIPS feature
    # selection challenge design that make_classification implements.
    return make_classification(n_samples=600, n_features=20, n_informative=5, n_redundant=5,
                               n_repeated=0, n_classes=3, n_clusters_per_class=2, flip_y=0.05,
                               class_sep=1.0, random_state=GENERATOR_SEED)


def _make_friedman1() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_friedman1

    # Friedman (1991), "Multivariate adaptive regression splines": 5 relevant inputs out of
    # 10, unit Gaussian noise on a target of range ~[0, 30]
    return make_friedman1(n_samples=600, n_features=10, noise=1.0,
                          random_state=GENERATOR_SEED)


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("iris", "classification", _load_builtin("load_iris"),
            "Fisher's iris: 150 rows, 4 features, 3 classes"),
    Dataset("wine", "classification", _load_builtin("load_wine"),
            "UCI wine recognition: 178 rows, 13 features, 3 classes"),
    Dataset("breast_cancer", "classification", _load_builtin("load_breast_cancer"),
            "UCI breast cancer Wisconsin (diagnostic): 569 rows, 30 features, 2 classes"),
    Dataset("digits", "classification", _load_builtin("load_digits"),
            "UCI optical digits 8x8: 1797 rows, 64 features, 10 classes"),
    Dataset("synthetic", "classification", _make_classification,
            "make_classification: 600 rows, 20 features (5 informative, 5 redundant, 10 noise),"
            " 3 classes, 5% label noise"),
    Dataset("diabetes", "regression", _load_builtin("load_diabetes"),
            "Efron et al. (2004) diabetes: 442 rows, 10 features"),
    Dataset("friedman1", "regression", _make_friedman1,
            "make_friedman1: 600 rows, 10 features (5 relevant), noise 1"),
)}


@functools.cache
def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows of dataset ``name`` as read-only float64 ``X`` and int / float64 ``y``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}")
    ds = DATASETS[name]
    X, y = ds.loader()
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64 if ds.task == "classification" else np.float64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def strata(y: np.ndarray, task: str) -> np.ndarray:
    """Class labels, or the quantile bin of a regression target, to stratify on."""
    if task == "classification":
        return y
    edges = np.quantile(y, np.linspace(0, 1, REGRESSION_BINS + 1)[1:-1])
    return np.searchsorted(edges, y, side="right")


@dataclass(frozen=True)
class Split:
    """One seed's split: train / test rows and the folds of the train part.

    ``folds`` index into the train part; ``orders`` hold, per fold and for the refit on the
    whole train part (last entry), a fixed order of the training rows whose stratified
    prefixes are the nested subsamples of a reduced training-set fidelity.
    """

    train: np.ndarray
    test: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    orders: tuple[np.ndarray, ...]

    def digest(self) -> str:
        """A hash of every index array, for the problem's fingerprint."""
        h = hashlib.blake2b(digest_size=8)
        for a in (self.train, self.test, *[i for f in self.folds for i in f], *self.orders):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
            h.update(b"|")
        return h.hexdigest()


def make_split(y: np.ndarray, task: str, *, n_folds: int, split_seed: int, fold_seed: int,
               order_seed: int, test_size: float = TEST_SIZE) -> Split:
    """A stratified train / test split and stratified, shuffled k folds of the train part."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1), got {test_size}")
    if n_folds < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    rows = np.arange(len(y))
    s = strata(y, task)
    train, test = train_test_split(rows, test_size=test_size, stratify=s,
                                   random_state=split_seed % 2**32)
    train, test = np.sort(train), np.sort(test)
    s_train = strata(y[train], task)
    kfold = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=fold_seed % 2**32)
    folds = tuple((np.asarray(tr), np.asarray(va)) for tr, va in kfold.split(train, s_train))
    rng = np.random.default_rng(order_seed)
    orders = tuple(rng.permutation(n) for n in [len(tr) for tr, _ in folds] + [len(train)])
    return Split(train=train, test=test, folds=folds, orders=orders)


#: rows every stratum keeps in a subsample: 3, so that a 3-fold inner split (the Platt
#: calibration of SVC's probabilities) still sees every class
MIN_PER_STRATUM = 3


def subsample(rows: np.ndarray, order: np.ndarray, labels: np.ndarray, fraction: float, *,
              minimum: int = MIN_PER_STRATUM) -> np.ndarray:
    """The first ``fraction`` of ``rows`` in the fixed ``order``, per stratum.

    Subsamples are nested (a smaller fraction is a subset of a larger one), as in successive
    halving's ``n_samples`` resource (Jamieson & Talwalkar 2016; scikit-learn's
    ``HalvingGridSearchCV``), and every stratum keeps at least ``minimum`` rows so that no
    class vanishes from a small training set.
    """
    if fraction >= 1.0:
        return rows
    ordered = rows[order]
    lab = labels[ordered]
    keep = np.zeros(len(ordered), dtype=bool)
    for c in np.unique(lab):
        where = np.flatnonzero(lab == c)
        k = min(len(where), max(minimum, int(np.ceil(fraction * len(where)))))
        keep[where[:k]] = True
    return np.sort(ordered[keep])
