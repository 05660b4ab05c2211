"""Datasets and per-seed splits for the PyTorch net problems (numpy only; nothing downloaded).

* ``digits``: scikit-learn's bundled copy of the UCI optical-recognition handwritten digits
  test set (Alpaydin & Kaynak 1998; ``sklearn.datasets.load_digits``): 1797 images of 8x8
  pixels with values 0..16, 10 classes.
* ``synthetic``: a generated 10-class problem (``make_synthetic``), large enough that training
  takes real time; the speed benchmarks use it.

Every seed gets its own stratified train / validation / test split (60 / 20 / 20 by default),
drawn with ``np.random.default_rng(child_seed(seed, "split"))``; ``seed=None`` is the canonical
split of seed 0. Features are standardized with one mean and one standard deviation computed
on the training part only (a scalar pair, so images keep their spatial structure and the
validation and test sets leak nothing into training).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hpbench.seeds import child_seed

#: train / validation / test fractions of every split
FRACTIONS = (0.6, 0.2, 0.2)
#: the seed the generated data set is drawn from (the data never changes with the problem
#: seed; only the split, weight initialization and shuffling do)
SYNTHETIC_DATA_SEED = 20240601


@dataclass(frozen=True)
class Dataset:
    """Split, standardized arrays (float32 features, int64 labels) and what describes them."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    #: shape of one example as an image (channels, height, width), None for plain vectors
    image_shape: tuple[int, int, int] | None
    digest: str  # BLAKE2b of every array: the problem fingerprint uses it

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def sizes(self) -> tuple[int, int, int]:
        return len(self.y_train), len(self.y_val), len(self.y_test)


@functools.lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as (X float32 in [0, 16], y int64); read once per process."""
    from sklearn.datasets import load_digits

    data = load_digits()
    X = np.ascontiguousarray(data.data, dtype=np.float32)
    y = np.ascontiguousarray(data.target, dtype=np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


@functools.lru_cache(maxsize=4)
def make_synthetic(n_samples: int = 10_000, n_features: int = 32, n_classes: int = 10,
                   seed: int = SYNTHETIC_DATA_SEED) -> tuple[np.ndarray, np.ndarray]:
    """A non-linear 10-class problem in the spirit of Guyon's Madelon generator (NIPS 2003
    feature-selection challenge, the recipe behind ``sklearn.datasets.make_classification``):
    two Gaussian clusters per class around random points in a 16-dimensional informative
    space (cluster spread 1, centres N(0, 1.5^2)), then the informative features mixed by a
    random linear map followed by ``tanh`` into ``n_features`` observed features, plus
    Gaussian noise (sd 0.1) and 2% flipped labels. No linear model separates it; an MLP
    learns it over several epochs.
    """
    if n_samples < 10 * n_classes or n_features < 2 or n_classes < 2:
        raise ValueError(f"make_synthetic: need n_samples >= 10 n_classes, n_features >= 2 and "
                         f"n_classes >= 2, got n_samples={n_samples}, n_features={n_features}, "
                         f"n_classes={n_classes}")
    rng = np.random.default_rng(seed)
    informative = min(16, n_features)
    centres = rng.normal(0.0, 1.5, size=(n_classes, 2, informative))
    y = np.arange(n_samples) % n_classes
    rng.shuffle(y)
    cluster = rng.integers(0, 2, size=n_samples)
    Z = centres[y, cluster] + rng.normal(0.0, 1.0, size=(n_samples, informative))
    mix = rng.normal(0.0, 1.0 / np.sqrt(informative), size=(informative, n_features))
    X = np.tanh(Z @ mix) + rng.normal(0.0, 0.1, size=(n_samples, n_features))
    flip = rng.random(n_samples) < 0.02
    y = np.where(flip, rng.integers(0, n_classes, size=n_samples), y)
    X = np.ascontiguousarray(X, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.int64)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def stratified_split(y: np.ndarray, rng: np.random.Generator,
                     fractions: Sequence[float] = FRACTIONS) -> tuple[np.ndarray, ...]:
    """Index arrays (train, validation, test), each class divided in ``fractions``.

    Every class is shuffled with ``rng`` and cut at the rounded cumulative fractions, so the
    class proportions agree across the parts to within one example per class.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or np.any(fractions <= 0) or abs(fractions.sum() - 1) > 1e-9:
        raise ValueError(f"split fractions must be three positive numbers summing to 1, "
                         f"got {list(fractions)}")
    parts: list[list[np.ndarray]] = [[], [], []]
    cuts = np.cumsum(fractions)[:2]
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        idx = idx[rng.permutation(len(idx))]
        a, b = np.round(cuts * len(idx)).astype(int)
        for part, chunk in zip(parts, (idx[:a], idx[a:b], idx[b:])):
            part.append(chunk)
    # sorted so the order of the examples does not depend on the class loop
    return tuple(np.sort(np.concatenate(p)) for p in parts)


def _digest(*arrays: np.ndarray) -> str:
    h = hashlib.blake2b(digest_size=8)
    for a in arrays:
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def split_dataset(name: str, X: np.ndarray, y: np.ndarray, seed: int | None, *,
                  n_classes: int, image_shape: tuple[int, int, int] | None = None) -> Dataset:
    """Split ``X, y`` for ``seed`` and standardize with the training part's mean and sd."""
    rng = np.random.default_rng(child_seed(0 if seed is None else seed, "split"))
    tr, va, te = stratified_split(y, rng)
    mean = float(X[tr].mean(dtype=np.float64))
    sd = float(X[tr].std(dtype=np.float64))
    if not sd > 0:
        raise ValueError(f"{name}: the training features are constant (sd={sd}); cannot "
                         f"standardize")

    def prep(index: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray((X[index] - mean) / sd, dtype=np.float32)

    arrays = (prep(tr), y[tr].copy(), prep(va), y[va].copy(), prep(te), y[te].copy())
    return Dataset(name, *arrays, n_classes=n_classes, image_shape=image_shape,
                   digest=_digest(*arrays))


def digits(seed: int | None) -> Dataset:
    """The digits data split for ``seed``."""
    X, y = load_digits_arrays()
    return split_dataset("digits", X, y, seed, n_classes=10, image_shape=(1, 8, 8))


def synthetic(seed: int | None, n_samples: int = 10_000, n_features: int = 32) -> Dataset:
    """The generated data set (fixed for all seeds) split for ``seed``."""
    X, y = make_synthetic(n_samples, n_features)
    return split_dataset(f"synthetic-{n_samples}x{n_features}", X, y, seed, n_classes=10)
