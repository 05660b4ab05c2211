"""Simulated annealing in the unit cube, with discrete-aware neighbourhoods.

Kirkpatrick, Gelatt & Vecchi 1983, "Optimization by simulated annealing", Science 220:
Metropolis acceptance (Metropolis et al. 1953) of a neighbour with probability
``min(1, exp(-delta / T))`` under a decreasing temperature ``T``. Here:

* neighbourhood: each coordinate is perturbed with probability ``perturb / d`` (at least
  one): a Gaussian step of scale ``step`` (reflected at the faces of the cube) for a
  float, a step of at least one level for an integer, another category drawn uniformly for
  a categorical (``hpbench.cube.UnitCube.mutate``);
* the step follows the rule of Corana, Marchesi, Martini & Ridella 1987 ("Minimizing
  multimodal functions of continuous variables with the simulated annealing algorithm",
  ACM TOMS 13(3)): after every block of moves it grows when the acceptance ratio is above
  ``target_accept + 0.1`` and shrinks when it is below ``target_accept - 0.1`` (their
  ``c = 2``). Corana et al. aim at 0.5; the default here is 0.2, Rechenberg's 1/5 success
  rule (1973), because in a run of a few hundred moves most of them happen at low
  temperature, where acceptance is the success rate, and 0.5 keeps the steps too long to
  refine (measured on the synthetic suite, benchmarks/test_population.py);
* the initial temperature is calibrated from the spread of the first ``n_init`` uniform
  evaluations (White 1984, "Concepts of scale in simulated annealing": ``T0`` of the order
  of the standard deviation of the objective): ``T0 = t0_scale * std``. White's scale
  (``t0_scale = 1``) suits runs long enough to equilibrate at every temperature; short
  runs do better starting cooler, so the default is 0.3;
* ``schedule="geometric"``: ``T <- alpha * T`` per move (Kirkpatrick et al. 1983), with
  ``alpha`` chosen so that ``T`` falls to ``t_final * T0`` at the end of the budget (or
  ``cooling`` when given); ``schedule="adaptive"``: after each block of moves
  ``T <- T * exp(-lam * T / sigma)`` with ``sigma`` the standard deviation of the values
  met in the block (Huang, Romeo & Sangiovanni-Vincentelli 1986, ICCAD, ``lam = 0.7``);
* reheating: after ``patience`` moves without a new best the walk restarts from the best
  point with ``T`` raised back to ``reheat * T0`` and the step reset (Ingber 1989, "Very
  fast simulated re-annealing", re-annealing).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer

#: Corana et al. 1987 step-adjustment constant, and half-width of the acceptance band
CORANA_C, BAND = 2.0, 0.1
#: Huang et al. 1986 cooling constant of the adaptive schedule
HUANG_LAMBDA = 0.7


@register_optimizer("simulated-annealing", tags=("local", "stochastic"),
                    description="simulated annealing (Kirkpatrick et al. 1983), Metropolis "
                                "acceptance, calibrated temperature, reheating")
class SimulatedAnnealing(SteppedOptimizer):
    """Simulated annealing (see the module docstring).

    Settings: ``schedule`` ("geometric" or "adaptive"), ``n_init`` (uniform evaluations that
    calibrate ``T0``; None: ``max(5, min(20, budget // 20))``), ``t0_scale``, ``t_final``
    (geometric: final temperature as a fraction of ``T0``), ``cooling`` (geometric factor
    per move; None derives it from the budget), ``step0`` (initial Gaussian step, cube
    units), ``perturb`` (expected number of coordinates changed per move), ``block`` (moves
    per step/temperature adaptation), ``target_accept`` (acceptance ratio the step size
    aims at), ``patience`` (moves without a new best before a
    reheat; None: ``max(30, 10 d)``), ``reheat`` (fraction of ``T0`` after a reheat).
    """

    label = "simulated-annealing"
    settings = {"schedule": "geometric", "n_init": None, "t0_scale": 0.3, "t_final": 1e-3,
                "cooling": None, "step0": 0.15, "perturb": 2.0, "block": 10,
                "target_accept": 0.2,
                "patience": None, "reheat": 0.3}
    choices = {"schedule": ("geometric", "adaptive")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        if cfg["cooling"] is not None and not 0.0 < float(cfg["cooling"]) < 1.0:
            raise ValueError(f"simulated-annealing: cooling must be in (0, 1), "
                             f"got {cfg['cooling']!r}")
        if not 0.0 < float(cfg["t_final"]) < 1.0:
            raise ValueError(f"simulated-annealing: t_final must be in (0, 1), "
                             f"got {cfg['t_final']!r}")
        if not 0.0 < float(cfg["target_accept"]) < 1.0:
            raise ValueError(f"simulated-annealing: target_accept must be in (0, 1), "
                             f"got {cfg['target_accept']!r}")
        total = self.budget.evaluations
        n_init = cfg["n_init"]
        if n_init is None:
            n_init = max(5, min(20, (total or 200) // 20))
        if int(n_init) < 2:
            raise ValueError(f"simulated-annealing: n_init must be >= 2 to measure a spread, "
                             f"got {n_init!r}")
        self.n_init = int(n_init)
        self.patience = int(cfg["patience"] or max(30, 10 * self.cube.d))
        if cfg["cooling"] is not None:
            self.alpha = float(cfg["cooling"])
        else:
            moves = max(1, (total or 1000) - self.n_init)
            self.alpha = float(cfg["t_final"]) ** (1.0 / moves)
        # the trace of the schedule, for tests and reports
        self.T0 = math.nan
        self.temperature = math.nan
        self.reheats = 0

    def _calibrate(self, values: np.ndarray) -> float:
        finite = values[np.isfinite(values)]
        spread = float(np.std(finite)) if len(finite) >= 2 else 0.0
        if spread <= 0.0:
            # a flat start tells nothing about scale; any positive T makes uphill moves
            # possible, and the adaptive step still works
            spread = max(1.0, float(np.abs(finite).max())) if len(finite) else 1.0
        return float(self.config["t0_scale"]) * spread

    def _search(self) -> Search:
        cube, cfg, rng = self.cube, self.config, self.rng
        X0 = cube.snap(rng.random((self.n_init, cube.d)))
        F0 = np.asarray((yield X0), dtype=float)
        self.T0 = self.temperature = T = self._calibrate(F0)
        finite = np.where(np.isnan(F0), np.inf, F0)
        j = int(np.argmin(finite))
        x, fx = X0[j].copy(), float(finite[j])
        best_x, best_f = x.copy(), fx
        movable = ~(cube.is_disc & (cube.levels < 2))
        p = min(1.0, float(cfg["perturb"]) / max(1, int(movable.sum())))
        step0 = float(cfg["step0"])
        step = step0
        block, accepted, met = int(cfg["block"]), 0, []
        low = max(0.01, float(cfg["target_accept"]) - BAND)
        high = min(0.99, float(cfg["target_accept"]) + BAND)
        since_best = 0
        while True:
            mask = (rng.random(cube.d) < p) & movable
            if not mask.any() and movable.any():
                mask[rng.choice(np.flatnonzero(movable))] = True
            y = cube.mutate(x, mask, step, rng)
            fy = float((yield y[None, :])[0])
            met.append(fy)
            if not math.isnan(fy):
                delta = fy - fx
                if delta <= 0 or (T > 0 and rng.random() < math.exp(-delta / T)):
                    x, fx = y, fy
                    accepted += 1
                if fy < best_f:
                    best_x, best_f, since_best = y.copy(), fy, 0
                else:
                    since_best += 1
            else:
                since_best += 1
            if cfg["schedule"] == "geometric":
                T *= self.alpha
            if len(met) >= block:
                ratio = accepted / len(met)
                if ratio > high:
                    step *= 1.0 + CORANA_C * (ratio - high) / (1.0 - high)
                elif ratio < low:
                    step /= 1.0 + CORANA_C * (low - ratio) / low
                step = min(0.5, max(1e-6, step))
                if cfg["schedule"] == "adaptive":
                    vals = np.asarray(met)
                    vals = vals[np.isfinite(vals)]
                    sigma = float(np.std(vals)) if len(vals) >= 2 else 0.0
                    factor = math.exp(-HUANG_LAMBDA * T / sigma) if sigma > 0 else 0.5
                    # Huang et al. bound the decrease to keep quasi-equilibrium
                    T *= min(0.99, max(0.5, factor))
                accepted, met = 0, []
            if since_best >= self.patience:
                self.reheats += 1
                x, fx = best_x.copy(), best_f
                T = max(T, float(cfg["reheat"]) * self.T0)
                step = step0
                since_best = 0
            self.temperature = T
