"""Particle swarm optimization in the unit cube.

Kennedy & Eberhart 1995, "Particle swarm optimization", Proc. ICNN: each particle moves
with a velocity pulled towards its own best point and its neighbourhood's best point. The
whole swarm moves at once (synchronous update), so one generation is one batch.

* ``variant="constriction"`` (default): Clerc & Kennedy 2002, "The particle swarm —
  explosion, stability, and convergence in a multidimensional complex space", IEEE TEC
  6(1): ``v <- chi (v + phi1 r1 (p - x) + phi2 r2 (g - x))`` with ``phi1 = phi2 = 2.05``,
  ``chi = 0.7298``; ``variant="inertia"``: Shi & Eberhart 1998, "A modified particle swarm
  optimizer", inertia weight falling linearly from 0.9 to 0.4 over the budget,
  ``c1 = c2 = 2`` (Shi & Eberhart 1999);
* velocity clamping to ``vmax`` (Eberhart & Shi 2000, ``vmax`` = the range, i.e. 1 cube
  unit, tamed here to 0.5);
* ``topology="global"`` (gbest) or ``"ring"`` (lbest with the two index neighbours,
  Kennedy & Mendes 2002);
* bounds: ``"reflect"`` mirrors a particle at a face and reverses that velocity component;
  ``"absorb"`` stops it on the face with that velocity component zeroed (Robinson &
  Rahmat-Samii 2004, "Particle swarm optimization in electromagnetics", IEEE TAP 52(2));
* swarm size ``10 + 2 sqrt(d)`` (SPSO 2007, Clerc 2012, "Standard particle swarm
  optimisation"); initial velocities ``(U - x) / 2`` (SPSO 2007).

Integer coordinates move as real numbers and are evaluated at the bin they fall in (the
personal and neighbourhood bests are the evaluated, snapped points). A categorical
coordinate has no direction to move in, so it follows a discrete analogue of the update:
it keeps its category, or takes its personal best's or its neighbourhood best's, with
probabilities proportional to the three terms' weights (``w``, ``c1 r1``, ``c2 r2``), and is
redrawn uniformly with probability ``1/d`` (the probabilistic discrete PSOs of Strasser,
Goodman, Sheppard & Butcher 2016, GECCO, work in the same spirit).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer, worst_as_inf

#: Clerc & Kennedy 2002 constriction: phi = phi1 + phi2 = 4.1
PHI1 = PHI2 = 2.05
CHI = 2.0 / abs(2.0 - (PHI1 + PHI2) - math.sqrt((PHI1 + PHI2) ** 2 - 4.0 * (PHI1 + PHI2)))


@register_optimizer("pso", tags=("population", "swarm"),
                    description="particle swarm (Kennedy & Eberhart 1995) with constriction "
                                "(Clerc & Kennedy 2002), gbest or ring topology")
class ParticleSwarm(SteppedOptimizer):
    """Particle swarm (see the module docstring).

    Settings: ``swarm_size`` (None: ``10 + 2 sqrt(d)``), ``variant`` ("constriction" or
    "inertia"), ``topology`` ("global" or "ring"), ``bounds`` ("reflect" or "absorb"),
    ``vmax`` (velocity clamp per coordinate, cube units), ``w_start``/``w_end`` (the inertia
    variant's weights), ``c1``/``c2`` (the inertia variant's accelerations).
    """

    label = "pso"
    settings = {"swarm_size": None, "variant": "constriction", "topology": "global",
                "bounds": "reflect", "vmax": 0.5, "w_start": 0.9, "w_end": 0.4,
                "c1": 2.0, "c2": 2.0}
    choices = {"variant": ("constriction", "inertia"), "topology": ("global", "ring"),
               "bounds": ("reflect", "absorb")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        size = cfg["swarm_size"]
        if size is None:
            size = 10 + int(2 * math.sqrt(self.cube.d))
        if int(size) < 2:
            raise ValueError(f"pso: swarm_size must be >= 2, got {size!r}")
        if not float(cfg["vmax"]) > 0:
            raise ValueError(f"pso: vmax must be > 0, got {cfg['vmax']!r}")
        self.swarm_size = int(size)
        self.batch_size = self.swarm_size
        total = self.budget.evaluations
        self._generations = max(1, (total or 100 * self.swarm_size) // self.swarm_size)
        # state, exposed for tests
        self.positions: np.ndarray | None = None
        self.velocities: np.ndarray | None = None
        self.generation = 0

    def _coefficients(self) -> tuple[float, float, float]:
        """(w, c1, c2) for the current generation."""
        cfg = self.config
        if cfg["variant"] == "constriction":
            return CHI, CHI * PHI1, CHI * PHI2
        frac = min(1.0, self.generation / max(1, self._generations - 1))
        w = float(cfg["w_start"]) + (float(cfg["w_end"]) - float(cfg["w_start"])) * frac
        return w, float(cfg["c1"]), float(cfg["c2"])

    def _neighbourhood_best(self, pbest: np.ndarray, pval: np.ndarray) -> np.ndarray:
        n = len(pval)
        if self.config["topology"] == "global":
            return np.repeat(pbest[int(np.argmin(pval))][None, :], n, axis=0)
        idx = np.stack([(np.arange(n) - 1) % n, np.arange(n), (np.arange(n) + 1) % n])
        pick = idx[np.argmin(pval[idx], axis=0), np.arange(n)]
        return pbest[pick]

    def _bound(self, X: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keep positions in ``[0, 1]``: mirror (reversing velocity) or absorb (zeroing it)."""
        if self.config["bounds"] == "absorb":
            out = (X < 0.0) | (X > 1.0)
            return np.clip(X, 0.0, 1.0), np.where(out, 0.0, V)
        folds = np.floor(X)  # how many faces were crossed, with sign
        period = np.mod(X, 2.0)
        Xr = np.where(period > 1.0, 2.0 - period, period)
        flip = np.mod(folds, 2.0) != 0
        return np.clip(Xr, 0.0, 1.0), np.where(flip, -V, V)

    def _search(self) -> Search:
        cube, cfg, rng = self.cube, self.config, self.rng
        n, d = self.swarm_size, cube.d
        X = rng.random((n, d))
        V = (rng.random((n, d)) - X) / 2.0
        vmax = float(cfg["vmax"])
        self.positions, self.velocities = X, V
        pbest = cube.snap(X)
        pval = worst_as_inf((yield pbest))
        while True:
            w, c1, c2 = self._coefficients()
            G = self._neighbourhood_best(pbest, pval)
            r1, r2 = rng.random((n, d)), rng.random((n, d))
            V = w * V + c1 * r1 * (pbest - X) + c2 * r2 * (G - X)
            V = np.clip(V, -vmax, vmax)
            X, V = self._bound(X + V, V)
            for i in cube.cat_idx:
                # discrete analogue of the velocity update for an unordered coordinate
                weights = np.stack([np.full(n, w), c1 * r1[:, i], c2 * r2[:, i]], axis=1)
                u = rng.random(n) * weights.sum(axis=1)
                take_p = (u >= weights[:, 0]) & (u < weights[:, 0] + weights[:, 1])
                take_g = u >= weights[:, 0] + weights[:, 1]
                X[take_p, i], X[take_g, i] = pbest[take_p, i], G[take_g, i]
                redraw = rng.random(n) < 1.0 / max(1, d)
                X[redraw, i] = cube.resample_categories(i, X[redraw, i], rng)
                V[:, i] = 0.0
            self.positions, self.velocities = X, V
            S = cube.snap(X)
            values = worst_as_inf((yield S))
            better = values < pval
            pbest[better], pval[better] = S[better], values[better]
            self.generation += 1
