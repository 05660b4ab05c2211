"""Synthetic multi-fidelity problems: cheap surfaces with a fidelity parameter, a cost that grows
with it, checkpoints, and the true optimum at full fidelity.

Registered names and their formulas (``s`` is the fidelity, ``s = 1`` full fidelity):

``forrester-mf``
    Forrester, Sóbester & Keane (2008), *Engineering Design via Surrogate Modelling*, §8.5
    (also Forrester, Sóbester & Keane 2007, Proc. R. Soc. A 463): on ``x ∈ [0, 1]``
    ``f_high(x) = (6x − 2)² sin(12x − 4)`` and the published low-fidelity form
    ``f_low(x) = A f_high(x) + B (x − 0.5) − C`` with ``A = 0.5, B = 10, C = −5``. The continuous
    fidelity interpolates linearly, ``f(x, s) = s f_high(x) + (1 − s) f_low(x)``, so ``s = 0``
    is the published low-fidelity function and ``s = 1`` the high-fidelity one. The low
    fidelity is deceptive: its minimizer is near ``x = 0.092``, the high fidelity's at
    ``x* = 0.75725`` with ``f* = −6.02074`` (refined by bounded scalar minimization). So is
    every fidelity below ``s ≈ 0.4243``: the minimizer of ``f(·, s)`` stays in the high
    fidelity's local basin (``x ≈ 0.10–0.12``, full-fidelity regret above 5.1): every
    Hyperband rung below 1 with η = 3 (1/27, 1/9, 1/3) and all but the 1/2 rung with η = 2.
    At ``s = 1/2`` the minimizer is at ``x ≈ 0.751``, still 0.0216 above ``f*``.
``augmented-branin``
    BoTorch's ``AugmentedBranin`` (``botorch.test_functions.multi_fidelity``; the
    multi-fidelity BO tutorials): Branin with ``b`` replaced by ``b − 0.1 (1 − s)``. At every
    fidelity the minimum value is ``5/(4π) ≈ 0.397887`` (at ``x1 = π`` a matching ``x2``
    exists), but its location moves with ``s``; at ``s = 1`` it is Branin.
``augmented-hartmann6``
    BoTorch's ``AugmentedHartmann``: Hartmann-6 with ``α1`` replaced by ``α1 − 0.1 (1 − s)``, so
    lower fidelities are shallower; at ``s = 1`` it is Hartmann-6 (minimum −3.32237).

Fidelity
    ``s ∈ [1/27, 1]`` (``MIN_FIDELITY``; a fidelity of 0 cannot have a positive cost), so
    Hyperband with η = 3 gets its four brackets (R = 27). The formulas above are evaluated at
    ``s`` itself, as BoTorch does; ``s = 0`` stays available in the module functions for
    checking published values.

Cost
    ``Evaluation.cost`` is the fidelity trained: ``s`` for a fresh evaluation, ``s − s₀`` for
    a resume from a trial that reached ``s₀`` (the runner charges the same increment in
    full-fidelity-equivalent evaluations, ``(s − s₀) / 1``). ``Evaluation.seconds``, the
    modelled duration the simulated parallel clock uses, is the cost in virtual seconds
    (``SECONDS_AT_FULL_FIDELITY``: 1 s for a full evaluation).

Checkpoints
    The value depends only on the config and the fidelity, so a resume is bookkeeping: it
    changes the cost, never the value. That is enough to test that Hyperband and PBT pay
    only increments (PBT's resume from another member's trial with a changed config is
    allowed; the surface has no state to copy).

Seeded instances
    As ``surfaces`` (and with its helpers ``draw_shift`` and ``Fold``): ``seed=None``
    is the published function; an integer seed shifts the design variables (never the
    fidelity) by up to 20 % of each width, folded back into the box, which moves the optimum
    and keeps its value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpbench.problem import EvalContext, Evaluation, Fidelity, Optimum, Problem
from hpbench.problems.synthetic.functions import _H6_A, _H6_P, SPECS, hartmann6
from hpbench.problems.synthetic.surfaces import Fold, draw_shift
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Float, Space

#: lowest fidelity of the registered problems: R = 27 minimum-fidelity units, so Hyperband
#: with η = 3 has s_max = 3 (Li et al. 2017, Table 1)
MIN_FIDELITY = 1.0 / 27.0

#: Forrester et al. (2008) low-fidelity constants
FORRESTER_A, FORRESTER_B, FORRESTER_C = 0.5, 10.0, -5.0
#: minimizer and minimum of f_high on [0, 1] (bounded scalar minimization, xatol 1e-13)
FORRESTER_X_OPT = 0.7572487561660257
FORRESTER_F_OPT = -6.020740055767081


# --------------------------------------------------------------------------- formulas

def forrester_high(x: np.ndarray) -> np.ndarray:
    """Forrester et al. (2008): ``(6x − 2)² sin(12x − 4)``."""
    return (6.0 * x - 2.0) ** 2 * np.sin(12.0 * x - 4.0)


def forrester_low(x: np.ndarray) -> np.ndarray:
    """Forrester et al. (2008) low fidelity: ``A f_high(x) + B (x − 0.5) − C``."""
    return FORRESTER_A * forrester_high(x) + FORRESTER_B * (x - 0.5) - FORRESTER_C


def forrester(X: np.ndarray, s: np.ndarray) -> np.ndarray:
    """``s f_high + (1 − s) f_low`` for rows ``X`` (shape (n, 1)) at fidelities ``s``."""
    x = X[:, 0]
    return s * forrester_high(x) + (1.0 - s) * forrester_low(x)


def augmented_branin(X: np.ndarray, s: np.ndarray) -> np.ndarray:
    """BoTorch's AugmentedBranin: Branin with ``b − 0.1 (1 − s)`` in place of ``b``."""
    x1, x2 = X[:, 0], X[:, 1]
    b = 5.1 / (4 * math.pi**2) - 0.1 * (1.0 - s)
    return (x2 - b * x1**2 + 5 / math.pi * x1 - 6.0) ** 2 \
        + 10.0 * (1 - 1 / (8 * math.pi)) * np.cos(x1) + 10.0


def augmented_hartmann6(X: np.ndarray, s: np.ndarray) -> np.ndarray:
    """BoTorch's AugmentedHartmann: Hartmann-6 with ``α1 − 0.1 (1 − s)`` in place of ``α1``."""
    D = X - _H6_P[0]
    first = np.exp(-(_H6_A[0] * D * D).sum(-1))
    return hartmann6(X, np) + 0.1 * (1.0 - s) * first


#: the modelled duration of an evaluation from scratch at full fidelity (``Evaluation.seconds``:
#: the cost, a fraction of a full evaluation, taken as that many virtual seconds), so that the
#: simulated parallel clock (``--sim-workers``) runs these problems on a deterministic clock
#: instead of their microseconds of measured time
SECONDS_AT_FULL_FIDELITY = 1.0

# --------------------------------------------------------------------------- problem

class MultiFidelityProblem(Problem):
    """A surface ``formula(X, s)`` on a box with a continuous fidelity ``s`` (see the module
    docstring for cost, checkpoints and seeded shifts)."""

    capabilities = frozenset({"fidelity", "checkpoint", "vectorized"})

    def __init__(self, *, name: str, formula: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 low: Sequence[float], high: Sequence[float], x_opt: Sequence[float],
                 f_opt: float, source: str, seed: int | None = None,
                 min_fidelity: float = MIN_FIDELITY, tags: Sequence[str] = ()) -> None:
        low_a, high_a = np.asarray(low, float), np.asarray(high, float)
        x_opt_a = np.asarray(x_opt, float)
        space = Space({f"x{i}": Float(float(lo), float(hi)) for i, (lo, hi)
                       in enumerate(zip(low_a, high_a))})
        self._formula = formula
        self._fold: Fold | None = None
        location = x_opt_a
        if seed is not None:
            shift = draw_shift(np.random.default_rng(child_seed(seed, "shift")), x_opt_a,
                               low_a, high_a)
            self._fold = Fold(low_a, high_a, shift)
            location = np.clip(x_opt_a + shift, low_a, high_a)
            source += f"; shifted by seed {seed} (f(reflect(x - s)), same value)"
        self._names = space.names
        # fidelity each finished trial reached, to charge a resume only the increment
        self._reached: dict[int, float] = {}
        super().__init__(space, seed=seed, name=name,
                         optimum=Optimum(float(f_opt), {n: float(v) for n, v in
                                                        zip(space.names, location)},
                                         source + " (at full fidelity)", kind="exact"),
                         fidelity=Fidelity(min_fidelity, 1.0, name="fidelity"),
                         tags=tags)

    def values(self, X: np.ndarray, s: np.ndarray) -> np.ndarray:
        """Values of the rows of ``X`` (design variables, shape (n, d)) at fidelities ``s``."""
        if self._fold is not None:
            X = self._fold(X, np)
        return self._formula(X, s)

    def _cost(self, s: float, ctx: EvalContext | None) -> float:
        start = 0.0
        if ctx is not None:
            if ctx.resume_from is not None:
                start = self._reached.get(ctx.resume_from, 0.0)
            self._reached[ctx.trial] = s
        return max(0.0, s - start)

    def _fid(self, fidelity: float | None) -> float:
        return 1.0 if fidelity is None else self.fidelity.check(fidelity)

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        s = self._fid(fidelity)
        X = np.array([[config[n] for n in self._names]], dtype=float)
        value = float(self.values(X, np.array([s]))[0])
        cost = self._cost(s, ctx)
        return Evaluation(value, cost=cost, seconds=cost * SECONDS_AT_FULL_FIDELITY)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        """All configs in one array pass (same values and costs as one by one)."""
        fidelities, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        if not configs:
            return []
        s = np.array([self._fid(f) for f in fidelities])
        X = np.array([[c[k] for k in self._names] for c in configs], dtype=float)
        values = self.values(X, s).tolist()
        costs = [self._cost(float(si), x) for si, x in zip(s.tolist(), ctxs)]
        return [Evaluation(v, cost=c, seconds=c * SECONDS_AT_FULL_FIDELITY)
                for v, c in zip(values, costs)]

    def cleanup(self, scratch: Any) -> None:
        self._reached.clear()


# --------------------------------------------------------------------------- registry

_TAGS = ("synthetic", "multi-fidelity", "continuous")
_BOTORCH = "BoTorch botorch.test_functions.multi_fidelity"


@register_problem("forrester-mf", tags=(*_TAGS, "1d", "deceptive-low-fidelity"),
                  description="Forrester (2008) with its published low-fidelity form, "
                              "continuous fidelity s ∈ [1/27, 1]; minimum −6.02074")
def forrester_mf(seed: int | None = None) -> MultiFidelityProblem:
    return MultiFidelityProblem(
        name="forrester-mf", formula=forrester, low=[0.0], high=[1.0],
        x_opt=[FORRESTER_X_OPT], f_opt=FORRESTER_F_OPT, seed=seed, tags=(*_TAGS, "1d"),
        source="−6.02074 at x = 0.75725; Forrester, Sóbester & Keane 2008 (low fidelity "
               "A=0.5, B=10, C=−5); location refined by bounded scalar minimization")


@register_problem("augmented-branin", tags=(*_TAGS, "2d"),
                  description="BoTorch's AugmentedBranin, fidelity s ∈ [1/27, 1]; "
                              "minimum 0.397887")
def augmented_branin_mf(seed: int | None = None) -> MultiFidelityProblem:
    spec = SPECS["branin"]
    return MultiFidelityProblem(
        name="augmented-branin", formula=augmented_branin, low=spec.lower(2),
        high=spec.upper(2), x_opt=spec.x_opt(2), f_opt=spec.f_opt(2), seed=seed,
        tags=(*_TAGS, "2d"), source=f"{spec.source}; {_BOTORCH}.AugmentedBranin")


@register_problem("augmented-hartmann6", tags=(*_TAGS, "6d"),
                  description="BoTorch's AugmentedHartmann, fidelity s ∈ [1/27, 1]; "
                              "minimum −3.32237")
def augmented_hartmann6_mf(seed: int | None = None) -> MultiFidelityProblem:
    spec = SPECS["hartmann6"]
    return MultiFidelityProblem(
        name="augmented-hartmann6", formula=augmented_hartmann6, low=spec.lower(6),
        high=spec.upper(6), x_opt=spec.x_opt(6), f_opt=spec.f_opt(6), seed=seed,
        tags=(*_TAGS, "6d"), source=f"{spec.source}; {_BOTORCH}.AugmentedHartmann")
