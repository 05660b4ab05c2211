"""COCO's three noise models of the bbob-noisy suite, drawn from a problem's own generator.

cocoex draws its noise from two process-wide counters (``RANDSEED``, ``RANDNSEED`` in
COCO's ``suite_bbob_noisy_utilities.c``): every noisy evaluation of *any* problem advances
them, and building any cocoex ``Suite`` resets them to 30. Its noise is therefore
deterministic only in the order of every evaluation and suite made in the process, the same
for every instance and repeat, and not settable from a seed. hpbench's contract is "same
seed, same values" whatever else the process does, so the noisy problems apply the same
formulas (``transform_obj_{gaussian,uniform,cauchy}_noise.c``, cocoex 2.8) to the noiseless
value with variates from ``numpy.random.default_rng(child_seed(seed, "noise"))``.

Every variate is made from uniforms in (0, 1] (normals by Box-Muller, as COCO's legacy
generator makes them), and one evaluation takes one row of ``UNIFORMS[model]`` uniforms,
so a batch of n configs draws exactly what n single evaluations would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: COCO adds this to every noisy value, so a noisy value never reaches f_opt exactly
TOL = 1.01e-8
#: uniforms per evaluation of each model
UNIFORMS = {"gaussian": 2, "uniform": 2, "cauchy": 5}


@dataclass(frozen=True)
class NoiseModel:
    """One of COCO's noise models with its parameters (``alpha``, ``beta``, ``p``)."""

    kind: str  # "gaussian", "uniform" or "cauchy"
    alpha: float = 0.0
    beta: float = 0.0
    p: float = 0.0

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """The uniforms of ``n`` evaluations, shape (n, UNIFORMS[kind]), in (0, 1]."""
        return 1.0 - rng.random((n, UNIFORMS[self.kind]))

    def apply(self, f: np.ndarray, f_opt: float, u: np.ndarray) -> np.ndarray:
        """The noisy values of noiseless values ``f`` (inside the box: COCO's boundary
        penalty is zero there) with the uniforms ``u`` of ``draw``."""
        if self.kind == "gaussian":
            return (f - f_opt) * np.exp(self.beta * _normal(u[:, 0], u[:, 1])) + TOL + f_opt
        if self.kind == "uniform":
            factor = u[:, 0] ** self.beta
            scaling = np.maximum((1e9 / ((f - f_opt) + 1e-99)) ** (self.alpha * u[:, 1]), 1.0)
            return (f - f_opt) * factor * scaling + TOL + f_opt
        if self.kind == "cauchy":
            ratio = _normal(u[:, 1], u[:, 2]) / np.abs(_normal(u[:, 3], u[:, 4]) + 1e-199)
            noise = np.where(u[:, 0] < self.p, 1e3 + ratio, 1e3)
            return f + np.maximum(self.alpha * noise, 0.0) + TOL
        raise ValueError(f"noise model must be gaussian, uniform or cauchy, got {self.kind!r}")


def _normal(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


def model_of(function: int, dimension: int) -> NoiseModel:
    """The noise model of bbob-noisy function 101..130 in ``dimension`` (COCO's
    ``suite_bbob_noisy.c``): f101-f106 moderate noise, f107-f130 severe, each base function
    with Gaussian, uniform and Cauchy noise in turn."""
    if not 101 <= function <= 130:
        raise ValueError(f"bbob-noisy functions are 101..130, got {function!r}")
    kind = ("gaussian", "uniform", "cauchy")[(function - 101) % 3]
    moderate = function <= 106
    if kind == "gaussian":
        return NoiseModel(kind, beta=0.01 if moderate else 1.0)
    if kind == "uniform":
        alpha = 0.49 + 1.0 / dimension
        return NoiseModel(kind, alpha=0.01 * alpha if moderate else alpha,
                          beta=0.01 if moderate else 1.0)
    return NoiseModel(kind, alpha=0.01 if moderate else 1.0, p=0.05 if moderate else 0.2)
