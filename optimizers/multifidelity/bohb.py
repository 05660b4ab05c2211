"""BOHB (Falkner, Klein & Hutter 2018, "BOHB: Robust and Efficient Hyperparameter Optimization at
Scale", ICML): Hyperband's brackets, with new configs drawn from a TPE-like ratio of kernel
density estimates fitted per fidelity instead of at random.

The model (Falkner et al. 2018, §4 and Algorithm 2; constants of their reference
implementation, HpBandSter's ``config_generators/bohb.py``):

* every result is stored with its fidelity; failed trials with loss +inf;
* the model is built on the *largest* fidelity that has enough results:
  ``n_good = max(N_min, ⌊q n⌋)`` best and ``n_bad = max(N_min, ⌊(1 − q) n⌋)`` following
  results, ``q = top_n_percent = 15 %``, ``N_min = min_points_in_model = d + 1``, and both
  sets need more than ``d`` rows;
* two product kernel density estimators ``l`` (good) and ``g`` (bad) over the unit-cube
  coordinates: Gaussian kernels for floats and integers (an integer is a float snapped to its
  bin centre afterwards, as ConfigSpace does), Aitchison–Aitken kernels for categories;
  bandwidths by the normal-reference rule ``1.06 σ n^{-1/(d+4)}`` (statsmodels'
  ``KDEMultivariate(bw="normal_reference")``, which the reference implementation uses),
  clipped below at ``min_bandwidth = 1e-3`` (and a category's above at ``(c − 1)/c``, the
  uniform kernel);
* a fraction ``random_fraction = 1/3`` of new configs is drawn at random; the others are the
  best of ``num_samples = 64`` candidates by ``g(x)/l(x)`` (which maximizes expected
  improvement, Bergstra et al. 2011), each candidate drawn around a random good point —
  floats from a normal truncated to [0, 1] with the bandwidth widened by
  ``bandwidth_factor = 3``, categories kept with probability ``1 − λ`` and uniform otherwise;
* an inactive conditional coordinate of a training point is imputed from a random other
  point where it is active (uniform where none is), as the reference implementation does.

The KDE is written here in numpy rather than through statsmodels: same kernels and
bandwidth rule, a vectorized log-density, and one private ``Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench import Observation, Space, register_optimizer
from hpbench.cube import UnitCube
from hpbench.optimizers.multifidelity.hyperband import HyperbandBase

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class ProductKDE:
    """A product-kernel density over rows of ``data`` (shape (n, d)) in cube coordinates.

    ``levels[j] > 0`` marks coordinate ``j`` categorical with that many levels; its data are
    level indices. Others are continuous in [0, 1].
    """

    def __init__(self, data: np.ndarray, levels: np.ndarray, min_bandwidth: float) -> None:
        data = np.asarray(data, dtype=float)
        n, d = data.shape
        if n < 1:
            raise ValueError(f"ProductKDE needs at least one row, got shape {data.shape}")
        self.data, self.levels = data, np.asarray(levels, dtype=int)
        self.cat = self.levels > 0
        self.cont = ~self.cat
        bw = 1.06 * data.std(axis=0) * n ** (-1.0 / (d + 4))
        bw = np.maximum(bw, min_bandwidth)
        with np.errstate(divide="ignore", invalid="ignore"):
            uniform = np.where(self.cat, (self.levels - 1) / np.maximum(self.levels, 1), 1.0)
        self.bw = np.where(self.cat, np.minimum(bw, uniform), bw)

    def logpdf(self, X: np.ndarray) -> np.ndarray:
        """log density at the rows of ``X`` (shape (m, d)), vectorized over rows and data."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        D = self.data
        logk = np.zeros((len(X), len(D)))
        c = self.cont
        if c.any():
            z = (X[:, None, c] - D[None, :, c]) / self.bw[c]
            logk += (-0.5 * z * z).sum(-1) - (np.log(self.bw[c]) + _LOG_SQRT_2PI).sum()
        for j in np.flatnonzero(self.cat):
            lam, levels = self.bw[j], self.levels[j]
            same = X[:, None, j] == D[None, :, j]
            if levels < 2:
                continue  # one level: the kernel is 1 everywhere
            logk += np.where(same, math.log(max(1.0 - lam, 1e-300)),
                             math.log(max(lam / (levels - 1), 1e-300)))
        top = logk.max(axis=1, keepdims=True)
        return (top[:, 0] + np.log(np.exp(logk - top).sum(axis=1))) - math.log(len(D))


@register_optimizer("bohb", tags=("multi-fidelity", "bandit", "model-based"),
                    description="BOHB (Falkner et al. 2018): Hyperband brackets, configs from "
                                "per-fidelity KDEs")
class BOHB(HyperbandBase):
    """Settings: Hyperband's (``eta``, ``min_fidelity``, ``resume``, ``budget_aware``) and
    BOHB's (``top_n_percent`` 15, ``num_samples`` 64, ``random_fraction`` 1/3,
    ``bandwidth_factor`` 3, ``min_bandwidth`` 1e-3, ``min_points_in_model`` None = d + 1)."""

    settings = {**HyperbandBase.settings, "top_n_percent": 15, "num_samples": 64,
                "random_fraction": 1 / 3, "bandwidth_factor": 3.0, "min_bandwidth": 1e-3,
                "min_points_in_model": None}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        self.cube = UnitCube(space)
        d = self.cube.d
        n_min = self.config["min_points_in_model"]
        self.n_min = d + 1 if n_min is None else max(d + 1, int(n_min))
        #: per fidelity: KDE-coordinate rows, active masks and losses of every result there
        self.data: dict[float, tuple[list[np.ndarray], list[np.ndarray], list[float]]] = {}
        self._model_cache: dict[tuple[float, int], tuple[ProductKDE, ProductKDE] | None] = {}
        # categorical coordinates hold level indices in the KDE, others cube values
        self._kde_levels = np.where(self.cube.is_cat, self.cube.levels, 0)

    # data -----------------------------------------------------------------------------------
    def _encode(self, config: dict) -> tuple[np.ndarray, np.ndarray]:
        u = self.space.to_unit(config)
        active = set(self.space.active(config))
        mask = np.array([n in active for n in self.space.names], dtype=bool)
        cats = self.cube.cat_idx
        u[cats] = self.cube.levels_at(u, cats)
        return u, mask

    def _observe(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            f = self.fidelity.high if obs.suggestion.fidelity is None else \
                float(obs.suggestion.fidelity)
            rows, masks, losses = self.data.setdefault(f, ([], [], []))
            u, mask = self._encode(dict(obs.config))
            rows.append(u)
            masks.append(mask)
            losses.append(obs.value if obs.ok and math.isfinite(obs.value) else math.inf)

    def _impute(self, rows: np.ndarray, masks: np.ndarray) -> np.ndarray:
        out = rows.copy()
        for i, j in zip(*np.nonzero(~masks)):
            donors = np.flatnonzero(masks[:, j])
            if len(donors):
                out[i, j] = rows[donors[self.rng.integers(len(donors))], j]
            elif self.cube.is_cat[j]:
                out[i, j] = float(self.rng.integers(self.cube.levels[j]))
            else:
                out[i, j] = self.rng.random()
        return out

    def model(self) -> tuple[ProductKDE, ProductKDE] | None:
        """(good, bad) KDEs on the largest fidelity with enough results, or None."""
        d = self.cube.d
        for f in sorted(self.data, reverse=True):
            rows, masks, losses = self.data[f]
            n = len(rows)
            if n < self.n_min:
                continue
            key = (f, n)
            if key not in self._model_cache:
                self._model_cache[key] = self._fit_kdes(rows, masks, losses, d)
            if self._model_cache[key] is not None:
                return self._model_cache[key]
        return None

    def _fit_kdes(self, rows: list, masks: list, losses: list, d: int
             ) -> tuple[ProductKDE, ProductKDE] | None:
        n = len(rows)
        q = float(self.config["top_n_percent"])
        n_good = max(self.n_min, math.floor(q * n / 100))
        n_bad = max(self.n_min, math.floor((100 - q) * n / 100))
        order = np.argsort(np.asarray(losses), kind="stable")
        good, bad = order[:n_good], order[n_good:n_good + n_bad]
        if len(good) <= d or len(bad) <= d:
            return None
        R, M = np.array(rows), np.array(masks)
        min_bw = float(self.config["min_bandwidth"])
        return (ProductKDE(self._impute(R[good], M[good]), self._kde_levels, min_bw),
                ProductKDE(self._impute(R[bad], M[bad]), self._kde_levels, min_bw))

    # proposals ------------------------------------------------------------------------------
    def propose(self, good: ProductKDE, bad: ProductKDE) -> dict:
        """The best of ``num_samples`` candidates drawn around good points, by ``g/l``."""
        from scipy.stats import truncnorm

        m = int(self.config["num_samples"])
        idx = self.rng.integers(len(good.data), size=m)
        X = good.data[idx].copy()
        c = good.cont
        if c.any():
            mu = X[:, c]
            sd = np.broadcast_to(good.bw[c] * float(self.config["bandwidth_factor"]), mu.shape)
            X[:, c] = truncnorm.rvs((0.0 - mu) / sd, (1.0 - mu) / sd, loc=mu, scale=sd,
                                    random_state=self.rng)
        for j in np.flatnonzero(good.cat):
            resample = self.rng.random(m) >= 1.0 - good.bw[j]
            X[resample, j] = self.rng.integers(good.levels[j], size=int(resample.sum()))
        score = np.maximum(bad.logpdf(X), -745.0) - np.maximum(good.logpdf(X), -745.0)
        best = X[int(np.argmin(score))].copy()
        cats = self.cube.cat_idx
        best[cats] = self.cube.centres_at(best[cats].astype(int), cats)
        return self.space.from_unit(self.cube.snap(best))

    def _new_configs(self, n: int, fidelity: float) -> list[dict]:
        out = []
        for _ in range(n):
            kdes = self.model()
            if kdes is None or self.rng.random() < float(self.config["random_fraction"]):
                out.append(self.space.sample(self.rng))
            else:
                out.append(self.propose(*kdes))
        return out
