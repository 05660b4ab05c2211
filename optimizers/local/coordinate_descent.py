"""Coordinate descent: one coordinate at a time, a bounded line search on each.

Cyclic coordinate search (Wright 2015, "Coordinate descent algorithms", Math. Programming
151, section 2; the derivative-free form is the coordinate search of Kolda, Lewis & Torczon
2003, SIAM Review 45(3)), adapted to mixed spaces:

* a continuous coordinate (or an integer with many levels) gets a bounded line search in an
  interval of half-width ``step`` around the incumbent: golden-section steps (Kiefer 1953)
  followed by one successive-parabolic-interpolation step through the three best points
  (Brent 1973, "Algorithms for minimization without derivatives", ch. 5; Press et al.,
  Numerical Recipes, section 10.2). ``scipy.optimize.minimize_scalar`` implements the same
  steps, but it calls the objective itself; the ask/tell contract needs the inverted
  control flow, so the steps are written out here;
* a categorical or integer coordinate with at most ``enumerate_max`` levels is enumerated
  whole (one batch: the runner may evaluate the levels in parallel);
* the step of a coordinate shrinks by ``shrink`` when its search did not improve, and
  follows the distance moved when it did;
* a sweep over all coordinates that improves nothing (or steps all below ``min_step``)
  ends the descent: it restarts from a fresh uniform point (the best point found so far
  stays the run's best).

``order="random"`` visits the coordinates in a fresh seeded permutation every sweep
(randomized coordinate descent, Nesterov 2012, SIAM J. Optim. 22(2)). Integer values seen
again (snapping to the same bin) are taken from a cache instead of being re-evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer

#: golden-section ratio (sqrt(5) - 1) / 2 (Kiefer 1953)
GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


@register_optimizer("coordinate-descent", tags=("local", "stochastic"),
                    description="cyclic coordinate search: golden-section + parabolic line "
                                "searches, enumeration of small discrete coordinates, restarts")
class CoordinateDescent(SteppedOptimizer):
    """Coordinate search with bounded line searches and restarts (see the module docstring).

    Settings: ``order`` ("cyclic" or "random": a seeded permutation per sweep),
    ``line_evals`` (evaluations per continuous line search), ``step0`` (initial half-width of
    the line-search interval, cube units), ``shrink`` (step factor after a search without
    improvement), ``min_step`` (restart when every continuous step is below it),
    ``enumerate_max`` (discrete coordinates with at most this many levels are enumerated).
    """

    label = "coordinate-descent"
    settings = {"order": "cyclic", "line_evals": 4, "step0": 0.5, "shrink": 0.5,
                "min_step": 1e-3, "enumerate_max": 10}
    choices = {"order": ("cyclic", "random")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        cfg = self.config
        if int(cfg["line_evals"]) < 2:
            raise ValueError(f"coordinate-descent: line_evals must be >= 2, "
                             f"got {cfg['line_evals']!r}")
        if not 0.0 < float(cfg["shrink"]) < 1.0:
            raise ValueError(f"coordinate-descent: shrink must be in (0, 1), "
                             f"got {cfg['shrink']!r}")
        if not 0.0 < float(cfg["step0"]) <= 1.0:
            raise ValueError(f"coordinate-descent: step0 must be in (0, 1], "
                             f"got {cfg['step0']!r}")
        self._cache: dict[tuple, float] = {}
        self.restarts = 0  # number of fresh starts after the first (for tests and reports)

    # evaluation through the cache ------------------------------------------------------------
    def _evaluate(self, P: np.ndarray) -> Generator[np.ndarray, np.ndarray, np.ndarray]:
        """Values of the (snapped) points ``P``: only unseen ones are yielded for evaluation."""
        P = self.cube.snap(np.atleast_2d(P))
        keys = self.cube.keys(P)
        fresh: list[int] = []
        seen: set[tuple] = set()
        for j, k in enumerate(keys):
            if k not in self._cache and k not in seen:
                seen.add(k)
                fresh.append(j)
        if fresh:
            values = yield P[fresh]
            for j, v in zip(fresh, values):
                self._cache[keys[j]] = float(v)
        return np.array([self._cache[k] for k in keys])

    def _search(self) -> Search:
        cube, cfg = self.cube, self.config
        while True:
            x = cube.snap(self.rng.random(cube.d))
            # a fresh start is always evaluated (never taken from the cache) so every restart
            # hands the runner at least one point, even in a small, fully seen space
            fx = float((yield x[None, :])[0])
            self._cache[cube.key(x)] = fx
            steps = np.full(cube.d, float(cfg["step0"]))
            while True:
                improved = False
                order = (np.arange(cube.d) if cfg["order"] == "cyclic"
                         else self.rng.permutation(cube.d))
                for i in order:
                    n = int(cube.levels[i])
                    if cube.is_disc[i] and n < 2:
                        continue
                    if cube.is_disc[i] and n <= int(cfg["enumerate_max"]):
                        t, ft = yield from self._enumerate(x, i)
                    else:
                        t, ft = yield from self._line_search(x, fx, i, steps[i])
                    fx_ok = fx if not math.isnan(fx) else math.inf
                    if ft < fx_ok:
                        moved = abs(t - x[i])
                        x = x.copy()
                        x[i] = t
                        fx = ft
                        improved = True
                        steps[i] = min(float(cfg["step0"]), max(2.0 * moved, cfg["min_step"]))
                    else:
                        steps[i] *= float(cfg["shrink"])
                cont = cube.is_float | (cube.levels > int(cfg["enumerate_max"]))
                tiny = not cont.any() or bool(np.all(steps[cont] < float(cfg["min_step"])))
                if not improved or (tiny and not cube.is_disc.any()):
                    break
            self.restarts += 1

    def _enumerate(self, x: np.ndarray, i: int) -> Generator[np.ndarray, np.ndarray,
                                                             tuple[float, float]]:
        """Every level of discrete coordinate ``i`` (the incumbent's is known)."""
        n = int(self.cube.levels[i])
        P = np.repeat(x[None, :], n, axis=0)
        P[:, i] = self.cube.centres(i)
        values = yield from self._evaluate(P)
        vals = np.where(np.isnan(values), np.inf, values)
        j = int(np.argmin(vals))
        return float(P[j, i]), float(vals[j])

    def _line_search(self, x: np.ndarray, fx: float, i: int,
                     step: float) -> Generator[np.ndarray, np.ndarray, tuple[float, float]]:
        """Golden-section steps on ``[x_i - step, x_i + step]`` (clipped to the cube), then
        one parabolic step through the three best points (Brent 1973)."""
        budget = int(self.config["line_evals"])
        a, b = max(0.0, x[i] - step), min(1.0, x[i] + step)
        ts: list[float] = [float(x[i])]
        fs: list[float] = [fx if not math.isnan(fx) else math.inf]

        def probe(points: list[float]) -> np.ndarray:
            P = np.repeat(x[None, :], len(points), axis=0)
            P[:, i] = points
            return P

        c, e = b - GOLDEN * (b - a), a + GOLDEN * (b - a)
        vals = yield from self._evaluate(probe([c, e]))
        fc, fe = (float(v) if not math.isnan(v) else math.inf for v in vals)
        ts += [c, e]
        fs += [fc, fe]
        used = 2
        while used < budget - 1:
            if fc <= fe:
                b, e, fe = e, c, fc
                c = b - GOLDEN * (b - a)
                v = (yield from self._evaluate(probe([c])))[0]
                fc = float(v) if not math.isnan(v) else math.inf
                ts.append(c)
                fs.append(fc)
            else:
                a, c, fc = c, e, fe
                e = a + GOLDEN * (b - a)
                v = (yield from self._evaluate(probe([e])))[0]
                fe = float(v) if not math.isnan(v) else math.inf
                ts.append(e)
                fs.append(fe)
            used += 1
        if used < budget:
            t_new = _parabola_vertex(ts, fs)
            lo, hi = max(0.0, x[i] - step), min(1.0, x[i] + step)
            if (t_new is None or not lo <= t_new <= hi
                    or min(abs(t_new - t) for t in ts) < 1e-9):
                # no usable vertex: one more golden step into the better half
                t_new = (b - GOLDEN * (b - a)) if fc <= fe else (a + GOLDEN * (b - a))
            v = (yield from self._evaluate(probe([t_new])))[0]
            ts.append(float(self.cube.snap(probe([t_new]))[0, i]))
            fs.append(float(v) if not math.isnan(v) else math.inf)
        # snapped values: a large integer coordinate reports the bin centre it evaluated
        j = int(np.argmin(fs))
        t_best = float(self.cube.snap(probe([ts[j]]))[0, i])
        return t_best, float(fs[j])


def _parabola_vertex(ts: list[float], fs: list[float]) -> float | None:
    """Vertex of the parabola through the three best finite points (None if degenerate or
    opening downwards)."""
    pts = sorted((f, t) for t, f in zip(ts, fs) if math.isfinite(f))
    if len(pts) < 3:
        return None
    (f2, t2), (f1, t1), (f3, t3) = pts[0], pts[1], pts[2]
    (ta, fa), (tb, fb), (tc, fc) = sorted([(t1, f1), (t2, f2), (t3, f3)])
    if tb - ta <= 0 or tc - tb <= 0:
        return None
    # a minimum needs positive curvature (second divided difference > 0)
    if (fc - fb) / (tc - tb) - (fb - fa) / (tb - ta) <= 0:
        return None
    num = (t2 - t1) ** 2 * (f2 - f3) - (t2 - t3) ** 2 * (f2 - f1)
    den = (t2 - t1) * (f2 - f3) - (t2 - t3) * (f2 - f1)
    if den == 0:
        return None
    return float(t2 - 0.5 * num / den)
