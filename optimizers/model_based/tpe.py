"""Tree-structured Parzen estimator (``tpe``): a small reference implementation.

Bergstra, Bardenet, Bengio & Kégl 2011, "Algorithms for Hyper-Parameter Optimization"
(NeurIPS), §4. Instead of modelling p(y | x), TPE models the configs of the good trials and of
the rest separately:

    l(x) = p(x | y in the best γ-fraction),    g(x) = p(x | y in the rest),

and suggests the candidate drawn from l that maximizes l(x) / g(x), which is equivalent to
maximizing expected improvement under this model (Bergstra et al. 2011, eq. 4).

The parts, each a few lines below, with the choices of Optuna's ``TPESampler`` defaults
(Akiba et al. 2019) as reviewed by Watanabe 2023, "Tree-Structured Parzen Estimator:
Understanding Its Algorithm Components and Their Roles for Better Empirical Performance":

* ``split``: trials sorted by value (failed trials count as worst), the best
  ``min(ceil(γ n), max_good)`` are good (γ = 0.1, at most 25);
* one estimator per parameter and group (univariate TPE), fitted only on the trials where the
  parameter was active — the "tree" in the name: a conditional parameter's density ignores
  trials in which it did not exist;
* numbers live in the unit cube of ``Space.to_unit`` (so log scales are handled by the space):
  a mixture of Gaussians truncated to [0, 1], one per observation with the adaptive bandwidth
  of Bergstra et al. (the larger gap to its neighbours, clipped to [1 / min(100, n + 2), 1]:
  hyperopt's "magic clip", counting the prior as a kernel as Optuna does), plus a prior
  component N(0.5, 1) of weight ``prior_weight``; integers are the same mixture's mass over
  each integer's bin;
* categoricals: each observation's kernel puts 1 on its level plus ``prior_weight / (n + 1)``
  on every level, mixed with a uniform prior kernel (Optuna's smoothing, which sharpens as
  observations accumulate);
* observation weights: equal for the 25 most recent trials of a group, linearly decreasing for
  older ones (hyperopt's ``linear_forgetting``);
* ``n_candidates`` (24) draws from l per parameter; the one with the largest
  ``log l - log g`` wins. The first ``n_startup`` (10) configs are uniformly random.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

from hpbench import Optimizer, register_optimizer
from hpbench.cube import UnitCube
from hpbench.optimizer import Observation

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def n_good(n: int, gamma: float, max_good: int) -> int:
    """Size of the good group among ``n`` trials: ``min(ceil(γ n), max_good)``."""
    return min(math.ceil(gamma * n), max_good)


def recency_weights(n: int, flat: int = 25) -> np.ndarray:
    """Weights of ``n`` observations, oldest first: 1 for the last ``flat``, a ramp from
    ``1/n`` up to 1 for the older ones (hyperopt's ``linear_forgetting``)."""
    if n <= flat:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, num=n - flat), np.ones(flat)])


class NumericParzen:
    """Mixture of Gaussians truncated to [0, 1]: one per observation plus a broad prior."""

    def __init__(self, mus: np.ndarray, weights: np.ndarray, prior_weight: float = 1.0,
                 magic_clip: bool = True) -> None:
        mus = np.asarray(mus, dtype=float)
        sigma = self.bandwidths(mus, magic_clip)
        self.mu = np.append(mus, 0.5)
        self.sigma = np.append(sigma, 1.0)
        w = np.append(np.asarray(weights, dtype=float), prior_weight)
        self.w = w / w.sum()
        self.cdf_lo = ndtr(-self.mu / self.sigma)
        self.cdf_hi = ndtr((1.0 - self.mu) / self.sigma)
        self.log_z = np.log(self.cdf_hi - self.cdf_lo)

    @staticmethod
    def bandwidths(mus: np.ndarray, magic_clip: bool = True) -> np.ndarray:
        """Each point's bandwidth: the larger gap to its sorted neighbours (the outermost
        points use their one inner gap), clipped to ``[1 / min(100, n + 2), 1]`` (Bergstra
        et al. 2011; hyperopt's ``adaptive_parzen_normal``; ``n + 2`` counts the prior kernel
        as Optuna's ``_ParzenEstimator`` does)."""
        n = len(mus)
        if n == 0:
            return np.empty(0)
        order = np.argsort(mus, kind="stable")
        s = np.concatenate([[0.0], mus[order], [1.0]])
        left, right = s[1:-1] - s[:-2], s[2:] - s[1:-1]
        sig = np.maximum(left, right)
        if n >= 2:
            sig[0], sig[-1] = right[0], left[-1]
        lo = 1.0 / min(100.0, n + 2.0) if magic_clip else 1e-12
        out = np.empty(n)
        out[order] = np.clip(sig, lo, 1.0)
        return out

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        k = rng.choice(len(self.w), size=m, p=self.w)
        q = self.cdf_lo[k] + rng.random(m) * (self.cdf_hi[k] - self.cdf_lo[k])
        x = self.mu[k] + self.sigma[k] * ndtri(np.clip(q, 1e-300, 1.0 - 1e-16))
        return np.clip(x, 0.0, 1.0)

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        z = (x[:, None] - self.mu) / self.sigma
        terms = -0.5 * z * z - np.log(self.sigma) - _LOG_SQRT_2PI - self.log_z + np.log(self.w)
        return logsumexp(terms, axis=1)

    def log_mass(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Log probability of the intervals ``[lo, hi]`` (the bins of an integer)."""
        p = ndtr((hi[:, None] - self.mu) / self.sigma) - ndtr((lo[:, None] - self.mu) / self.sigma)
        return np.log(np.maximum(p / np.exp(self.log_z), 0.0) @ self.w + 1e-300)


class CategoricalParzen:
    """Smoothed, weighted level frequencies: ``p = Σ_c w_c row_c`` with ``row_c`` putting 1
    on observation c's level plus ``prior_weight / (n + 1)`` everywhere (normalized), and a
    uniform prior row."""

    def __init__(self, levels: np.ndarray, weights: np.ndarray, k: int,
                 prior_weight: float = 1.0) -> None:
        levels = np.asarray(levels, dtype=int)
        rows = np.full((len(levels), k), prior_weight / (len(levels) + 1))
        rows[np.arange(len(levels)), levels] += 1.0
        rows /= rows.sum(axis=1, keepdims=True)
        rows = np.vstack([rows, np.full(k, 1.0 / k)])
        w = np.append(np.asarray(weights, dtype=float), prior_weight)
        self.p = (w / w.sum()) @ rows

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        return rng.choice(len(self.p), size=m, p=self.p)

    def log_prob(self, levels: np.ndarray) -> np.ndarray:
        return np.log(self.p[levels])


@register_optimizer("tpe", tags=("model-based", "tpe"),
                    description="tree-structured Parzen estimator (Bergstra et al. 2011)")
class TPE(Optimizer):
    """Univariate TPE (Bergstra et al. 2011); see the module docstring.

    Settings: ``gamma`` (good fraction), ``max_good`` (cap on the good group),
    ``n_startup`` (random configs first), ``n_candidates`` (draws from l per parameter),
    ``prior_weight``, ``magic_clip`` (bandwidth floor), ``forget_after`` (recent trials with
    full weight).
    """

    batch_size = 1
    settings = {"gamma": 0.1, "max_good": 25, "n_startup": 10, "n_candidates": 24,
                "prior_weight": 1.0, "magic_clip": True, "forget_after": 25}

    def __init__(self, space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        if not 0.0 < float(cfg["gamma"]) <= 1.0:
            raise ValueError(f"tpe: gamma must be in (0, 1], got {cfg['gamma']!r}")
        for key in ("max_good", "n_candidates", "forget_after"):
            if int(cfg[key]) < 1:
                raise ValueError(f"tpe: {key} must be >= 1, got {cfg[key]!r}")
        if int(cfg["n_startup"]) < 0 or float(cfg["prior_weight"]) <= 0:
            raise ValueError(f"tpe: need n_startup >= 0 and prior_weight > 0, got "
                             f"n_startup={cfg['n_startup']!r}, "
                             f"prior_weight={cfg['prior_weight']!r}")
        self.cube = UnitCube(space)
        self._U: list[np.ndarray] = []  # unit coordinates of each told trial
        self._active: list[np.ndarray] = []  # which parameters were active in it
        self._y: list[float] = []  # its value, NaN when it failed

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            self._U.append(self.space.to_unit(obs.config))
            self._active.append(np.array([n in obs.config for n in self.space.names]))
            self._y.append(float(obs.value) if obs.ok else math.nan)

    def split(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the good and the other trials (failed trials rank last; ties by age)."""
        y = np.array(self._y, dtype=float)
        y = np.where(np.isnan(y), np.inf, y)
        order = np.argsort(y, kind="stable")
        k = n_good(len(y), float(self.config["gamma"]), int(self.config["max_good"]))
        return np.sort(order[:k]), np.sort(order[k:])

    def ask(self, n: int) -> list[dict]:
        if len(self._y) < int(self.config["n_startup"]):
            return self.space.sample(self.rng, n)
        good, bad = self.split()
        models: dict[int, tuple] = {}
        return [self._sample(good, bad, models) for _ in range(n)]

    def _estimator(self, i: int, trials: np.ndarray):
        """The Parzen estimator of parameter ``i`` from ``trials`` where it was active."""
        cfg = self.config
        trials = trials[np.array([self._active[t][i] for t in trials], dtype=bool)] \
            if len(trials) else trials
        u = np.array([self._U[t][i] for t in trials])
        w = recency_weights(len(trials), int(cfg["forget_after"]))
        if self.cube.is_cat[i]:
            return CategoricalParzen(self.cube.bin_of(i, u).astype(int), w,
                                     int(self.cube.levels[i]), cfg["prior_weight"])
        return NumericParzen(u, w, cfg["prior_weight"], bool(cfg["magic_clip"]))

    def _sample(self, good: np.ndarray, bad: np.ndarray, models: dict) -> dict:
        """One config: per active parameter, the best of ``n_candidates`` draws from l by
        ``log l - log g``. Parents come before their children, so activity is known."""
        config: dict[str, Any] = {}
        m = int(self.config["n_candidates"])
        cube = self.cube
        for i, (name, param) in enumerate(self.space.items()):
            if param.condition is not None and name not in self.space.active(config):
                continue
            if i not in models:
                models[i] = (self._estimator(i, good), self._estimator(i, bad))
            l_est, g_est = models[i]
            cand = l_est.sample(self.rng, m)
            if cube.is_cat[i]:
                score = l_est.log_prob(cand) - g_est.log_prob(cand)
                config[name] = param.choices[int(cand[np.argmax(score)])]
                continue
            if cube.is_int[i]:  # an integer's probability is the mass of its bin
                level = cube.bin_of(i, cand)
                lo, hi = (edges[level] for edges in cube.bin_edges(i))
                score = l_est.log_mass(lo, hi) - g_est.log_mass(lo, hi)
                cand = cube.centres(i)[level]
            else:
                score = l_est.log_pdf(cand) - g_est.log_pdf(cand)
            config[name] = param.from_unit(float(cand[np.argmax(score)]))
        return config
