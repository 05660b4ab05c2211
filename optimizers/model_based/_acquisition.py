"""Shared parts of the model-based optimizers (``gp-bo``, ``rf-smbo``).

* acquisition functions for minimization — expected improvement (Jones, Schonlau & Welch
  1998), its numerically stable logarithm (Ament et al. 2023, "Unexpected Improvements to
  Expected Improvement for Bayesian Optimization", NeurIPS), the lower confidence bound
  (Srinivas et al. 2010, GP-UCB) and the probability of improvement (Kushner 1964) — each
  returning its value and its derivatives with respect to the predictive mean and standard
  deviation, so a differentiable model can chain them to the inputs;
* the initial design (scrambled Sobol, ``scipy.stats.qmc``);
* the acquisition search: many random candidates (categorical combinations enumerated when
  there are few), perturbations of the incumbents, multi-start L-BFGS-B over the continuous
  coordinates when the model has gradients, a one-exchange sweep over the discrete ones, and
  SMAC's gradient-free local search (Hutter, Hoos & Leyton-Brown 2011).

Mixed spaces are handled by ``hpbench.cube.UnitCube``: points are canonical (discrete
coordinates at their bin centres, inactive conditional ones at 0.5, ``UnitCube.canonical``)
and a model sees ``UnitCube.encode``'s features (categoricals one-hot).

All functions maximize the acquisition; all randomness comes from a ``Generator`` passed in.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.special import erfcx, ndtr

from hpbench.cube import UnitCube

ACQUISITIONS = ("ei", "log-ei", "ucb", "pi")

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
#: smallest predictive standard deviation an acquisition divides by
MIN_SIGMA = 1e-9

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray]


def _pdf(z: np.ndarray) -> np.ndarray:
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                         xi: float = 0.0) -> Arrays:
    """EI of a minimization below ``best - xi``: ``sigma * (z Φ(z) + φ(z))``,
    ``z = (best - xi - mu) / sigma`` (Jones et al. 1998, eq. 15).

    Returns ``(ei, d ei / d mu, d ei / d sigma)`` = ``(…, -Φ(z), φ(z))``.
    """
    sigma = np.maximum(sigma, MIN_SIGMA)
    z = (best - xi - mu) / sigma
    cdf, pdf = ndtr(z), _pdf(z)
    return sigma * (z * cdf + pdf), -cdf, pdf


def _log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log(φ(z) + z Φ(z))`` and its derivative ``Φ(z) / (φ(z) + z Φ(z))``, stable for
    very negative ``z`` (Ament et al. 2023, eq. 9: ``φ(z) (1 - |z| r(z))`` with the Mills
    ratio ``r(z) = Φ(z)/φ(z) = sqrt(π/2) erfcx(-z/√2)``)."""
    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    dout = np.empty_like(z)
    hi = z > -1.0
    zh = z[hi]
    h = _pdf(zh) + zh * ndtr(zh)
    out[hi] = np.log(h)
    dout[hi] = ndtr(zh) / h
    zl = z[~hi]
    r = math.sqrt(math.pi / 2.0) * erfcx(-zl / _SQRT2)
    one_minus = 1.0 + zl * r  # = h / φ, > 0 but cancels for large |z|
    # asymptotic series of 1 - |z| r(z) = 1/z² - 3/z⁴ + 15/z⁶ - … where the subtraction fails
    far = zl < -200.0
    z2 = zl[far] ** 2
    one_minus[far] = (1.0 - 3.0 / z2 + 15.0 / z2**2) / z2
    out[~hi] = -0.5 * zl * zl - _LOG_SQRT_2PI + np.log(one_minus)
    dout[~hi] = r / one_minus
    return out, dout


def log_expected_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                             xi: float = 0.0) -> Arrays:
    """``log EI`` (Ament et al. 2023): finite and with useful gradients where EI underflows.

    Returns ``(log ei, d/d mu, d/d sigma)``.
    """
    sigma = np.maximum(sigma, MIN_SIGMA)
    z = (best - xi - mu) / sigma
    lh, dlh = _log_h(z)
    return lh + np.log(sigma), -dlh / sigma, (1.0 - dlh * z) / sigma


def lower_confidence_bound(mu: np.ndarray, sigma: np.ndarray, kappa: float = 2.0) -> Arrays:
    """The confidence bound for minimization, as a quantity to maximize: ``kappa sigma - mu``
    (Srinivas et al. 2010, with a fixed ``kappa`` as in scikit-optimize's ``LCB``)."""
    return kappa * sigma - mu, -np.ones_like(mu), np.full_like(sigma, kappa)


def probability_of_improvement(mu: np.ndarray, sigma: np.ndarray, best: float,
                               xi: float = 0.0) -> Arrays:
    """``P(f < best - xi) = Φ(z)`` (Kushner 1964). Returns ``(pi, d/d mu, d/d sigma)``."""
    sigma = np.maximum(sigma, MIN_SIGMA)
    z = (best - xi - mu) / sigma
    pdf = _pdf(z)
    return ndtr(z), -pdf / sigma, -pdf * z / sigma


def acquisition(name: str, mu: np.ndarray, sigma: np.ndarray, best: float, *,
                xi: float = 0.0, kappa: float = 2.0) -> Arrays:
    """Dispatch to one of ``ACQUISITIONS``; returns ``(value, d/d mu, d/d sigma)``."""
    if name == "ei":
        return expected_improvement(mu, sigma, best, xi)
    if name == "log-ei":
        return log_expected_improvement(mu, sigma, best, xi)
    if name == "ucb":
        return lower_confidence_bound(mu, sigma, kappa)
    if name == "pi":
        return probability_of_improvement(mu, sigma, best, xi)
    raise ValueError(f"acquisition must be one of {list(ACQUISITIONS)}, got {name!r}")


@functools.cache
def _blas_controller() -> Any:
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    import scipy.linalg  # noqa: F401  (load scipy's BLAS so the controller sees it)

    return ThreadpoolController()


def single_threaded_blas() -> contextlib.AbstractContextManager:
    """Run BLAS on one thread inside the block (a no-op without ``threadpoolctl``).

    The models here factorize matrices of a few hundred rows, where BLAS threads only add
    synchronization; on a loaded machine their spin-waiting made a 16-point GP-BO run take
    20x the CPU time of the single-threaded one (measured: 8.4 s vs 0.43 s).
    """
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# outputs


def _skewness(y: np.ndarray) -> float:
    sd = np.std(y)
    return 0.0 if sd <= 0 else float(np.mean(((y - np.mean(y)) / sd) ** 3))


def is_heavy_tailed(y: np.ndarray, skew: float = 0.5) -> bool:
    """All positive, right-skewed (sample skewness above ``skew``), and more symmetric after
    ``log_warp``: the case where modelling a log helps (cf. SMAC's log-transformed costs,
    Hutter et al. 2011, and the output warping of Snoek et al. 2014). Choosing by the
    skewness is a Box-Cox choice restricted to λ in {1, 0}."""
    y = np.asarray(y, dtype=float)
    if len(y) < 3 or np.min(y) <= 0:
        return False
    s = _skewness(y)
    return s > skew and abs(_skewness(log_warp(y))) < s


#: offset of the log warp, as a fraction of (median - min) of the outputs
LOG_SHIFT = 0.1


def log_warp(y: np.ndarray, shift: float | None = None) -> np.ndarray:
    """``log(y - min y + δ)`` with ``δ = shift · (median y - min y)``.

    A plain ``log y`` turns a minimum at (or near) zero into a cusp, ``log r²``, that a
    stationary kernel cannot fit; measuring from the best value plus an offset on the scale
    of the data keeps the bottom smooth and still compresses the long upper tail.
    """
    shift = LOG_SHIFT if shift is None else shift
    lo = np.min(y)
    delta = shift * (np.median(y) - lo)
    if delta <= 0:
        delta = 1.0 if np.max(y) == lo else shift * (np.max(y) - lo)
    return np.log(y - lo + delta)


def model_outputs(values: np.ndarray, *, warp: bool = True) -> tuple[np.ndarray, bool]:
    """Outputs a model is fitted to: NaN (failed trials) replaced by the worst value seen,
    log-warped (``log_warp``) when ``warp`` and heavy-tailed, then standardized. Returns
    ``(y, warped)``.

    Failed trials take the worst observed value so the model learns to avoid their region
    (SMAC's treatment of crashed runs, Hutter et al. 2011); with no successful trial at all
    every output is 0.
    """
    y = np.asarray(values, dtype=float).copy()
    ok = np.isfinite(y)
    if not ok.any():
        return np.zeros_like(y), False
    warped = warp and is_heavy_tailed(y[ok])
    if warped:
        y[ok] = log_warp(y[ok])
    y[~ok] = np.max(y[ok])
    sd = np.std(y)
    return (y - np.mean(y)) / (sd if sd > 1e-12 else 1.0), warped


# ---------------------------------------------------------------------------------------------
# designs and candidates


def sobol_design(cube: UnitCube, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` canonical points: the first ``n`` of a scrambled Sobol block of size 2^m >= n
    (drawing a whole power-of-two block keeps scipy's balance warning quiet)."""
    from scipy.stats import qmc

    m = max(0, math.ceil(math.log2(max(1, n))))
    engine = qmc.Sobol(d=max(1, cube.d), scramble=True, rng=rng)
    return cube.canonical(engine.random_base2(m)[:n, : cube.d])


def default_n_init(d: int, budget: int | None) -> int:
    """Initial design size: ``max(5, d + 1)``, at most a quarter of the budget (at least 2).

    Ax's larger ``max(5, 2d)`` (``choose_generation_strategy``, at most a fifth of the budget)
    did not help gp-bo on seeded Hartmann6: median final regret 0.017 against 0.004 after 100
    evaluations, worst 1.04 against 1.19 (10 repeats, issue 33)."""
    n = max(5, d + 1)
    if budget is not None:
        n = min(n, max(2, budget // 4))
    return n


def random_candidates(cube: UnitCube, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniform points; when the categorical combinations are few (at most n / 8) they
    are enumerated in turn instead of sampled, so each combination gets its share."""
    U = rng.random((n, cube.d))
    combos = cube.n_cat_combos
    if len(cube.cat_idx) and combos <= n // 8:
        idx = np.arange(n) % combos
        for i in cube.cat_idx:
            k = int(cube.levels[i])
            U[:, i] = cube.centres(i)[idx % k]
            idx = idx // k
    return cube.canonical(U)


def perturb(cube: UnitCube, rng: np.random.Generator, centres: np.ndarray, n: int,
            scale: float) -> np.ndarray:
    """``n`` points around ``centres`` (cycled): Gaussian steps of sd ``scale`` on the
    ordered coordinates, and each categorical redrawn with probability 1/d."""
    if len(centres) == 0:
        return np.empty((0, cube.d))
    U = centres[np.arange(n) % len(centres)].copy()
    ordered = cube.ord_idx
    if len(ordered):
        U[:, ordered] += scale * rng.standard_normal((n, len(ordered)))
    for i in cube.cat_idx:
        flip = rng.random(n) < 1.0 / cube.d
        U[flip, i] = rng.random(int(flip.sum()))
    return cube.canonical(np.clip(U, 0.0, 1.0))


def exchange_neighbours(cube: UnitCube, U: np.ndarray) -> np.ndarray:
    """Every point that differs from a row of ``U`` in one discrete coordinate: all other
    levels of a categorical, the adjacent levels of an int."""
    out = []
    for i in cube.disc_idx:
        lv = cube.bin_of(i, U[:, i])
        k = int(cube.levels[i])
        if cube.is_cat[i]:
            for level in range(k):
                rows = lv != level
                if rows.any():
                    out.append(cube.set_level(U[rows], i, level))
        else:
            for step in (-1, 1):
                new = lv + step
                rows = (new >= 0) & (new < k)
                if rows.any():
                    out.append(cube.set_level(U[rows], i, new[rows]))
    return cube.canonical(np.vstack(out)) if out else np.empty((0, cube.d))


def unique_rows(U: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``U`` (to 9 decimals) sorted by decreasing score, ties by order."""
    order = np.argsort(-scores, kind="stable")
    seen: set[bytes] = set()
    keep = []
    for i, key in zip(order, _row_keys(U[order])):
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return U[keep], scores[keep]


def _row_keys(U: np.ndarray) -> list[bytes]:
    # rounding merges float noise; + 0.0 turns -0.0 into 0.0 so equal rows get equal bytes
    R = np.ascontiguousarray(np.round(U, 9) + 0.0)
    return [row.tobytes() for row in R]


def drop_known(U: np.ndarray, scores: np.ndarray,
               known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``U`` (and their scores) that are not rows of ``known`` (to 9 decimals)."""
    if len(known) == 0 or len(U) == 0:
        return U, scores
    seen = set(_row_keys(known))
    far = np.array([k not in seen for k in _row_keys(U)], dtype=bool)
    return U[far], scores[far]


def maximize(f: Callable[[np.ndarray], np.ndarray], cube: UnitCube, rng: np.random.Generator,
             *, incumbents: np.ndarray, known: np.ndarray,
             fg: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
             n_candidates: int = 2048, n_starts: int = 8, local_scale: float = 0.05
             ) -> tuple[np.ndarray, np.ndarray]:
    """Search the acquisition ``f`` (vectorized over canonical points, larger is better).

    1. ``n_candidates`` points: half uniform (categorical combinations enumerated when few),
       half Gaussian perturbations of the ``incumbents`` (sd ``local_scale``);
    2. the best ``n_starts`` distinct ones are refined jointly by L-BFGS-B over the continuous
       and integer coordinates, categoricals held fixed (``fg`` returns values and gradients
       with respect to every coordinate; integers are relaxed, then snapped), as in BoTorch's
       multi-start ``gen_candidates_scipy`` (Balandat et al. 2020);
    3. the refined points' one-exchange neighbours over the discrete coordinates are scored.

    Returns all scored distinct points not in ``known`` (observed or pending), best first.
    """
    n_rand = n_candidates // 2 if len(incumbents) else n_candidates
    U = np.vstack([random_candidates(cube, rng, n_rand),
                   perturb(cube, rng, incumbents, n_candidates - n_rand, local_scale),
                   incumbents])
    scores = f(U)
    U, scores = unique_rows(U, scores)
    starts = U[:n_starts]
    refined = _lbfgsb(fg, cube, starts) if fg is not None and len(cube.ord_idx) and len(starts) \
        else np.empty((0, cube.d))
    new = np.vstack([refined, exchange_neighbours(cube, np.vstack([starts, refined]))])
    if len(new):
        U = np.vstack([U, new])
        scores = np.concatenate([scores, f(new)])
    U, scores = unique_rows(U, scores)
    return drop_known(U, scores, known)


def _lbfgsb(fg: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]], cube: UnitCube,
            starts: np.ndarray, maxiter: int = 200) -> np.ndarray:
    """Jointly maximize the sum of ``fg`` over independent copies of the starts (the copies do
    not interact, so the sum's optimum is every copy's optimum) with ``scipy``'s L-BFGS-B.

    Each copy's term is divided by its value at the start: EI near a well-sampled incumbent
    is ~1e-6, where L-BFGS-B's absolute tolerances (``ftol`` relative to max(|f|, 1),
    ``gtol`` 1e-5) would stop it before the first step; scaled terms are O(1).
    """
    from scipy.optimize import minimize

    cont = cube.ord_idx
    m = len(starts)
    base = starts.copy()
    v0 = np.abs(fg(base)[0])
    scale = np.maximum(v0, max(1e-6 * float(v0.max(initial=0.0)), 1e-300))

    def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
        V = base.copy()
        V[:, cont] = z.reshape(m, len(cont))
        values, grads = fg(V)
        return -float(np.sum(values / scale)), -(grads[:, cont] / scale[:, None]).ravel()

    res = minimize(objective, base[:, cont].ravel(), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, 1.0)] * (m * len(cont)), options={"maxiter": maxiter})
    out = base.copy()
    out[:, cont] = np.clip(res.x.reshape(m, len(cont)), 0.0, 1.0)
    return cube.canonical(out)


def local_search(f: Callable[[np.ndarray], np.ndarray], cube: UnitCube,
                 rng: np.random.Generator, starts: np.ndarray, *, n_neighbours: int = 4,
                 sd: float = 0.2, max_steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """SMAC's local search (Hutter et al. 2011, §4.3): from each start, move to the best
    one-exchange neighbour while that improves ``f``. Neighbours of a point change one active
    coordinate: ``n_neighbours`` Gaussian draws (sd ``sd`` in the unit cube, clipped) for a
    float or int, every other level for a categorical. (SMAC takes the first improving
    neighbour in random order; this evaluates all of them, which vectorizes, and takes the
    best.) Returns every point visited and its score."""
    cur = cube.canonical(starts)
    cur_s = f(cur)
    seen_U, seen_s = [cur], [cur_s]
    moving = np.ones(len(cur), dtype=bool)
    for _ in range(max_steps):
        idx = np.flatnonzero(moving)
        if len(idx) == 0:
            break
        pts = cur[idx]
        act = cube.active(pts)
        neigh, owner = [], []
        for i in range(cube.d):
            rows = np.flatnonzero(act[:, i])
            if len(rows) == 0:
                continue
            if cube.is_cat[i]:
                for level in range(int(cube.levels[i])):
                    V = cube.set_level(pts[rows], i, level)
                    neigh.append(V)
                    owner.append(rows)
            else:
                V = np.repeat(pts[rows], n_neighbours, axis=0)
                V[:, i] = np.clip(V[:, i] + sd * rng.standard_normal(len(V)), 0.0, 1.0)
                neigh.append(V)
                owner.append(np.repeat(rows, n_neighbours))
        if not neigh:
            break
        N = cube.canonical(np.vstack(neigh))
        own = np.concatenate(owner)
        s = f(N)
        seen_U.append(N)
        seen_s.append(s)
        moving[:] = False
        for r in range(len(idx)):
            mine = np.flatnonzero(own == r)
            if len(mine) == 0:
                continue
            b = mine[np.argmax(s[mine])]
            if s[b] > cur_s[idx[r]] + 1e-12:
                cur[idx[r]], cur_s[idx[r]] = N[b], s[b]
                moving[idx[r]] = True
    return np.vstack(seen_U), np.concatenate(seen_s)


def record(observations: Sequence[Any], cube: UnitCube, U: list[np.ndarray], y: list[float],
           pending: list[np.ndarray]) -> None:
    """Append told observations to a model's data (``U`` canonical points, ``y`` values, NaN
    for failures) and drop each from ``pending``, the points asked but not yet told."""
    for obs in observations:
        u = cube.from_configs([obs.config])[0]
        U.append(u)
        y.append(float(obs.value) if obs.ok else math.nan)
        for k, p in enumerate(pending):
            if np.allclose(p, u, atol=1e-9):
                del pending[k]
                break
