"""SMAC-style random-forest SMBO (``rf-smbo``).

Sequential model-based optimization with a random-forest surrogate, after Hutter, Hoos &
Leyton-Brown 2011, "Sequential Model-Based Optimization for General Algorithm
Configuration" (LION 5), with the defaults of SMAC3's hyperparameter-optimization facade
(Lindauer et al. 2022, JMLR 23(54)):

* a scrambled Sobol initial design (SMAC3: 10 configs per parameter, at most 10% of the
  budget; here at least 2);
* a forest of 10 bootstrapped regression trees (scikit-learn) on the unit-cube encoding,
  categoricals one-hot and inactive parameters imputed as -1, outside every active value, so
  trees can split them off (SMAC's imputation of inactive parameters); the prediction is the
  mean across trees and its uncertainty the variance across trees (Hutter et al. 2011, §4.2;
  pyrfr's default in SMAC3);
* outputs as in ``gp-bo``: failed trials take the worst value seen, heavy-tailed positive
  outputs are log-transformed (SMAC3 log-scales costs), then standardized;
* expected improvement, maximized by a local search (one-exchange neighbourhood, Gaussian
  steps of sd 0.2 for numbers, every other level for categoricals) from the 10 observed
  configs with the highest EI and the 10 best of 10 000 random configs, which are also
  ranked ("local and sorted random search");
* random interleaving: each suggestion is replaced by a uniformly random config with
  probability ``random_fraction`` (0.2, SMAC3's ``ProbabilityRandomDesign``; the 2011 paper
  alternated model-based and random configs) — the guard that makes SMAC's search global.

Not included: intensification (racing configs over instances and repeated runs), which only
matters for noisy multi-instance algorithm configuration; every evaluation here is final.
A batch ``ask(n)`` takes the n best distinct configs of one acquisition search, as SMAC3's
challenger list does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench import Optimizer, register_optimizer
from hpbench.cube import UnitCube
from hpbench.optimizer import Observation
from hpbench.optimizers.model_based import _acquisition as acq

#: the feature value of an inactive parameter: outside every active value, so trees can split
#: inactive parameters off (SMAC's imputation)
INACTIVE = -1.0


@register_optimizer("rf-smbo", tags=("model-based", "smac"), packages=("sklearn",),
                    extra="sklearn",
                    description="SMAC-style random-forest SMBO with EI and local search")
class RFSMBO(Optimizer):
    """Random-forest SMBO (Hutter et al. 2011); see the module docstring.

    Settings: ``n_trees``, ``min_samples_split``, ``min_samples_leaf``, ``max_features``
    (scikit-learn forest), ``n_init`` (None: SMAC3's rule), ``random_fraction``,
    ``n_random`` (random configs ranked per search), ``n_local`` (local-search starts of each
    kind), ``xi`` (EI margin), ``warp`` (allow the log transform).
    """

    batch_size = 1
    settings = {"n_trees": 10, "min_samples_split": 2, "min_samples_leaf": 1,
                "max_features": 1.0, "n_init": None, "random_fraction": 0.2,
                "n_random": 10_000, "n_local": 10, "xi": 0.0, "warp": True}

    def __init__(self, space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        if not 0.0 <= float(cfg["random_fraction"]) <= 1.0:
            raise ValueError(f"rf-smbo: random_fraction must be in [0, 1], "
                             f"got {cfg['random_fraction']!r}")
        for key in ("n_trees", "n_random", "n_local"):
            if int(cfg[key]) < 1:
                raise ValueError(f"rf-smbo: {key} must be >= 1, got {cfg[key]!r}")
        self.cube = UnitCube(space)
        n_init = cfg["n_init"]
        if n_init is None:
            budget = self.budget.evaluations
            n_init = 10 * len(space) if budget is None else min(10 * len(space), budget // 10)
            n_init = max(2, n_init)
        if int(n_init) < 1:
            raise ValueError(f"rf-smbo: n_init must be >= 1, got {n_init!r}")
        self._design = list(acq.sobol_design(self.cube, int(n_init), self.rng))
        self._U: list[np.ndarray] = []
        self._y: list[float] = []
        self._pending: list[np.ndarray] = []

    def ask(self, n: int) -> list[dict]:
        if self.cube.d == 0:
            return [{} for _ in range(n)]
        chosen: list[np.ndarray] = []
        while self._design and len(chosen) < n:
            chosen.append(self._design.pop(0))
        if len(chosen) < n:
            m = n - len(chosen)
            ranked = np.empty((0, self.cube.d))
            if np.isfinite(self._y).sum() >= 2:
                with acq.single_threaded_blas():
                    ranked = self._ranked(chosen)
            take = 0
            for _ in range(m):
                if take < len(ranked) and self.rng.random() >= self.config["random_fraction"]:
                    chosen.append(ranked[take])
                    take += 1
                else:
                    chosen.append(self.cube.canonical(self.rng.random((1, self.cube.d)))[0])
        self._pending.extend(chosen)
        return self.cube.to_configs(np.array(chosen))

    def tell(self, observations: Sequence[Observation]) -> None:
        acq.record(observations, self.cube, self._U, self._y, self._pending)

    def _forest(self, y: np.ndarray):
        from sklearn.ensemble import RandomForestRegressor

        cfg = self.config
        forest = RandomForestRegressor(
            n_estimators=int(cfg["n_trees"]), min_samples_split=cfg["min_samples_split"],
            min_samples_leaf=cfg["min_samples_leaf"], max_features=cfg["max_features"],
            bootstrap=True, random_state=int(self.rng.integers(2**31 - 1)))
        return forest.fit(self.cube.encode(np.array(self._U), INACTIVE), y)

    def _ranked(self, chosen: Sequence[np.ndarray]) -> np.ndarray:
        """Configs ranked by EI, best first, none already observed or pending."""
        y, _ = acq.model_outputs(np.array(self._y), warp=self.config["warp"])
        forest = self._forest(y)
        ok = np.isfinite(self._y)
        best = float(np.min(y[ok]))
        xi = float(self.config["xi"])
        cube = self.cube

        def f(U: np.ndarray) -> np.ndarray:
            # the trees' own predict, without scikit-learn's per-call input validation (the
            # trees compare in float32 either way)
            X = cube.encode(U, INACTIVE).astype(np.float32)
            per_tree = np.stack([t.tree_.predict(X).reshape(len(X), -1)[:, 0]
                                 for t in forest.estimators_])
            return acq.expected_improvement(per_tree.mean(0), per_tree.std(0), best, xi)[0]

        observed = np.array(self._U)
        k = int(self.config["n_local"])
        rand = acq.random_candidates(cube, self.rng, int(self.config["n_random"]))
        rand_s = f(rand)
        obs_s = f(observed)
        starts = np.vstack([observed[np.argsort(-obs_s, kind="stable")[:k]],
                            rand[np.argsort(-rand_s, kind="stable")[:k]]])
        local, local_s = acq.local_search(f, cube, self.rng, starts)
        top = np.argsort(-rand_s, kind="stable")[:1000]  # more than any batch needs
        U, s = acq.unique_rows(np.vstack([local, rand[top]]),
                               np.concatenate([local_s, rand_s[top]]))
        known = np.array([*self._U, *self._pending, *chosen]).reshape(-1, cube.d)
        return acq.drop_known(U, s, known)[0]
