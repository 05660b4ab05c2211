"""Data sets and per-seed splits of the torch problems (numpy only)."""

from __future__ import annotations

import numpy as np
import pytest

from hpbench.problems.torch import data as torch_data
from hpbench.seeds import child_seed


def test_digits_split_is_a_stratified_partition():
    X, y = torch_data.load_digits_arrays()
    assert X.shape == (1797, 64) and set(np.unique(y)) == set(range(10))
    rng = np.random.default_rng(0)
    tr, va, te = torch_data.stratified_split(y, rng)
    joined = np.concatenate([tr, va, te])
    assert len(joined) == len(y) and len(np.unique(joined)) == len(y)  # disjoint, complete
    assert abs(len(tr) / len(y) - 0.6) < 0.01 and abs(len(va) / len(y) - 0.2) < 0.01
    for part in (tr, va, te):
        share = np.bincount(y[part], minlength=10) / len(part)
        # each class is cut separately: proportions agree to about one example per class
        assert np.allclose(share, np.bincount(y, minlength=10) / len(y), atol=0.01)


def test_split_depends_on_seed_only():
    a, b = torch_data.digits(4), torch_data.digits(4)
    assert a.digest == b.digest
    np.testing.assert_array_equal(a.X_val, b.X_val)
    assert torch_data.digits(5).digest != a.digest
    assert torch_data.digits(None).digest == torch_data.digits(0).digest


def test_standardized_with_training_statistics_only():
    d = torch_data.digits(1)
    assert abs(float(d.X_train.mean())) < 1e-5 and abs(float(d.X_train.std()) - 1) < 1e-4
    # the validation part is transformed with the training mean / sd, not its own
    X, y = torch_data.load_digits_arrays()
    tr, va, _ = torch_data.stratified_split(
        y, np.random.default_rng(child_seed(1, "split")))
    mean, sd = X[tr].mean(dtype=np.float64), X[tr].std(dtype=np.float64)
    np.testing.assert_allclose(d.X_val, (X[va] - mean) / sd, rtol=1e-5, atol=1e-5)
    assert d.X_val.dtype == np.float32 and d.y_val.dtype == np.int64
    assert d.image_shape == (1, 8, 8) and d.n_classes == 10


def test_synthetic_data_fixed_across_problem_seeds_and_split_per_seed():
    X1, y1 = torch_data.make_synthetic(1000, 16)
    X2, y2 = torch_data.make_synthetic(1000, 16)
    assert X1 is X2 and y1 is y2  # cached
    assert X1.shape == (1000, 16) and set(np.unique(y1)) == set(range(10))
    a, b = torch_data.synthetic(1, n_samples=1000, n_features=16), \
        torch_data.synthetic(2, n_samples=1000, n_features=16)
    assert a.digest != b.digest
    # flipped labels leave classes of ~100: per-class rounding moves a few examples
    assert sum(a.sizes) == 1000 and all(abs(n - m) <= 5 for n, m in zip(a.sizes, (600, 200, 200)))
    # every class about equally frequent (2% labels flipped uniformly)
    counts = np.bincount(y1, minlength=10)
    assert counts.min() > 80 and counts.max() < 120


def test_synthetic_is_not_linearly_trivial_but_learnable():
    """A least-squares linear classifier stays well short of what the MLP reaches (the
    problem must reward capacity), yet clearly beats chance."""
    d = torch_data.synthetic(0, n_samples=4000, n_features=32)
    A = np.hstack([d.X_train, np.ones((len(d.X_train), 1))])
    W, *_ = np.linalg.lstsq(A, np.eye(10)[d.y_train], rcond=None)
    Av = np.hstack([d.X_val, np.ones((len(d.X_val), 1))])
    err = float(np.mean((Av @ W).argmax(1) != d.y_val))
    assert 0.1 < err < 0.8, err


@pytest.mark.parametrize("fractions", [(0.5, 0.5), (0.6, 0.3, 0.3), (0.0, 0.5, 0.5)])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(ValueError, match="fractions"):
        torch_data.stratified_split(np.zeros(10, dtype=int), np.random.default_rng(0),
                                    fractions)
