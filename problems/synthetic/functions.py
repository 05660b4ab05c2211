"""Formulas, domains and published optima of the classic synthetic test functions.

Each formula is written once, vectorized over the rows of an ``(n, d)`` array ``X``, and takes
the array namespace ``xp`` (``numpy`` or ``torch``) as an argument. Only operations both
namespaces share are used (arithmetic, ``%``, ``@``, ``.sum(-1)``, ``.mean(-1)``, ``.prod(-1)``,
``xp.sin/cos/exp/sqrt/abs``), so one formula serves single evaluation, batch evaluation and
torch autograd (hypergradients). Constant arrays are converted with ``asx`` for torch.

Domains and optima follow Surjanovic & Bingham, *Virtual Library of Simulation Experiments:
Test Functions and Datasets* (Simon Fraser University, 2013,
https://www.sfu.ca/~ssurjano/optimization.html) unless a docstring says otherwise. Where the
published optimum value is rounded, ``Spec.f_opt`` holds the value of the formula at the
published (or refined) location, so regret is never negative; the published figure is quoted
next to it and agrees with it to the published precision.

This module registers nothing; ``surfaces`` builds problems from ``SPECS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

Array = Any  # a numpy ndarray or a torch Tensor of shape (n, d)


def asx(a: np.ndarray, X: Array, xp: Any) -> Array:
    """``a`` in the namespace and dtype of ``X`` (a no-op for numpy)."""
    return a if xp is np else xp.as_tensor(a, dtype=X.dtype)


@cache
def _index(d: int) -> np.ndarray:
    return np.arange(1.0, d + 1.0)


# --------------------------------------------------------------------------- formulas

_BRANIN_B = 5.1 / (4 * math.pi**2)
_BRANIN_C = 5 / math.pi
_BRANIN_T = 1 / (8 * math.pi)


def branin(X: Array, xp: Any) -> Array:
    """Branin (Branin 1972; Dixon & Szegő 1978): a=1, b=5.1/(4π²), c=5/π, r=6, s=10, t=1/(8π).

    Three global minima 5/(4π) ≈ 0.397887 at (−π, 12.275), (π, 2.275), (9.42478, 2.475).
    """
    x1, x2 = X[:, 0], X[:, 1]
    return (x2 - _BRANIN_B * x1**2 + _BRANIN_C * x1 - 6.0) ** 2 \
        + 10.0 * (1 - _BRANIN_T) * xp.cos(x1) + 10.0


_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array([[3689.0, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547],
                         [381, 5743, 8828]])
_H6_A = np.array([[10.0, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312.0, 1696, 5569, 124, 8283, 5886],
                         [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650],
                         [4047, 8828, 8732, 5743, 1091, 381]])


def _hartmann(X: Array, xp: Any, A: np.ndarray, P: np.ndarray) -> Array:
    D = X[:, None, :] - asx(P, X, xp)
    # sums over the last axis, not a matmul: BLAS may round a batch differently from one row
    return -(asx(_H_ALPHA, X, xp) * xp.exp(-(asx(A, X, xp) * D * D).sum(-1))).sum(-1)


def hartmann3(X: Array, xp: Any) -> Array:
    """Hartmann 3-D (Dixon & Szegő 1978): −Σᵢ αᵢ exp(−Σⱼ Aᵢⱼ (xⱼ − Pᵢⱼ)²) on [0, 1]³."""
    return _hartmann(X, xp, _H3_A, _H3_P)


def hartmann6(X: Array, xp: Any) -> Array:
    """Hartmann 6-D (Dixon & Szegő 1978): −Σᵢ αᵢ exp(−Σⱼ Aᵢⱼ (xⱼ − Pᵢⱼ)²) on [0, 1]⁶."""
    return _hartmann(X, xp, _H6_A, _H6_P)


def rosenbrock(X: Array, xp: Any) -> Array:
    """Rosenbrock (1960): Σᵢ 100 (xᵢ₊₁ − xᵢ²)² + (xᵢ − 1)²."""
    head = X[:, :-1]
    return (100.0 * (X[:, 1:] - head * head) ** 2 + (head - 1.0) ** 2).sum(-1)


def ackley(X: Array, xp: Any) -> Array:
    """Ackley (1987) with a=20, b=0.2, c=2π."""
    # the 1e-300 keeps d sqrt / dx finite (0, not NaN) at x = 0 (the canonical cube centre);
    # it is absorbed by rounding for any mean square above ~1e-284, so values are unchanged
    r = xp.sqrt((X * X).mean(-1) + 1e-300)
    return -20.0 * xp.exp(-0.2 * r) - xp.exp(xp.cos(2 * math.pi * X).mean(-1)) + 20.0 + math.e


def rastrigin(X: Array, xp: Any) -> Array:
    """Rastrigin (1974; generalized by Mühlenbein et al. 1991): 10d + Σ xᵢ² − 10 cos(2π xᵢ)."""
    return 10.0 * X.shape[-1] + (X * X - 10.0 * xp.cos(2 * math.pi * X)).sum(-1)


def levy(X: Array, xp: Any) -> Array:
    """Levy (Laguna & Martí 2005 form), wᵢ = 1 + (xᵢ − 1)/4."""
    W = 1.0 + (X - 1.0) / 4.0
    w1, wd, mid = W[:, 0], W[:, -1], W[:, :-1]
    s1 = xp.sin(math.pi * w1)
    smid = xp.sin(math.pi * mid + 1.0)
    sd = xp.sin(2 * math.pi * wd)
    return s1 * s1 + ((mid - 1.0) ** 2 * (1.0 + 10.0 * smid * smid)).sum(-1) \
        + (wd - 1.0) ** 2 * (1.0 + sd * sd)


def griewank(X: Array, xp: Any) -> Array:
    """Griewank (1981): Σ xᵢ²/4000 − Π cos(xᵢ/√i) + 1."""
    root_i = asx(np.sqrt(_index(X.shape[-1])), X, xp)
    return (X * X).sum(-1) / 4000.0 - xp.cos(X / root_i).prod(-1) + 1.0


def styblinski_tang(X: Array, xp: Any) -> Array:
    """Styblinski & Tang (1990): ½ Σ xᵢ⁴ − 16 xᵢ² + 5 xᵢ."""
    X2 = X * X
    return 0.5 * (X2 * X2 - 16.0 * X2 + 5.0 * X).sum(-1)


def six_hump_camel(X: Array, xp: Any) -> Array:
    """Six-hump camel (Dixon & Szegő 1978): (4 − 2.1x₁² + x₁⁴/3)x₁² + x₁x₂ + (−4 + 4x₂²)x₂²."""
    x1, x2 = X[:, 0], X[:, 1]
    a, b = x1 * x1, x2 * x2
    return (4.0 - 2.1 * a + a * a / 3.0) * a + x1 * x2 + (-4.0 + 4.0 * b) * b


def goldstein_price(X: Array, xp: Any) -> Array:
    """Goldstein & Price (1971) on [−2, 2]²."""
    x1, x2 = X[:, 0], X[:, 1]
    p = 1.0 + (x1 + x2 + 1.0) ** 2 * (19.0 - 14.0 * x1 + 3.0 * x1 * x1 - 14.0 * x2
                                      + 6.0 * x1 * x2 + 3.0 * x2 * x2)
    q = 30.0 + (2.0 * x1 - 3.0 * x2) ** 2 * (18.0 - 32.0 * x1 + 12.0 * x1 * x1 + 48.0 * x2
                                             - 36.0 * x1 * x2 + 27.0 * x2 * x2)
    return p * q


def michalewicz(X: Array, xp: Any) -> Array:
    """Michalewicz (1992) with m = 10: −Σᵢ sin(xᵢ) sin²ᵐ(i xᵢ²/π)."""
    i = asx(_index(X.shape[-1]), X, xp)
    return -(xp.sin(X) * xp.sin(i * X * X / math.pi) ** 20).sum(-1)


# --------------------------------------------------------------------------- specs

@dataclass(frozen=True)
class Spec:
    """A test function: formula, domain, optimum and its sources.

    ``lower``/``upper``/``x_opt`` take the dimension and return one value per coordinate;
    ``f_opt`` and ``modality`` take the dimension too.
    """

    key: str
    title: str
    formula: Callable[[Array, Any], Array]
    lower: Callable[[int], list[float]]
    upper: Callable[[int], list[float]]
    x_opt: Callable[[int], list[float]]
    f_opt: Callable[[int], float]
    source: str
    modality: Callable[[int], str]
    dims: tuple[int, ...] = ()  # () for a fixed-dimension function
    fixed_d: int = 0

    def __reduce__(self):
        # its functions are lambdas, which pickle cannot name: a spec pickles as its key
        return (spec_of, (self.key,))


def _const(v: float) -> Callable[[int], list[float]]:
    return lambda d: [v] * d


def _multimodal(d: int) -> str:
    return "multimodal"


# Michalewicz is separable, so its minimizer is the coordinate-wise minimizer of
# −sin(x) sin²⁰(i x²/π) on [0, π]; these were found by bounded scalar minimization (scipy,
# xatol 1e-12) and reproduce the published optima −1.8013 (d=2), −4.687658 (d=5) and
# −9.66015 (d=10) (Surjanovic & Bingham; Vanaret et al. 2020 for d=5, 10).
_MICHALEWICZ_X = (2.2029055201639234, 1.5707963267912002, 1.2849915705402493,
                  1.923058469859634, 1.7204697725772549, 1.5707963267903287,
                  1.4544139713503035, 1.756086520937532, 1.6557174168110769,
                  1.5707963267905574)
_MICHALEWICZ_F = {2: -1.8013034100985528, 5: -4.687658179088149, 10: -9.660151715641344}

SPECS: dict[str, Spec] = {}


def spec_of(key: str) -> Spec:
    """The registered test function ``key`` (how a pickled ``Spec`` comes back)."""
    return SPECS[key]


def _add(spec: Spec) -> None:
    SPECS[spec.key] = spec


_SFU = "Surjanovic & Bingham, Virtual Library of Simulation Experiments (2013)"

_add(Spec(
    "branin", "Branin", branin,
    lower=lambda d: [-5.0, 0.0], upper=lambda d: [10.0, 15.0],
    x_opt=lambda d: [math.pi, 2.275], f_opt=lambda d: 5 / (4 * math.pi),
    source=f"5/(4π) ≈ 0.397887 at (π, 2.275); Dixon & Szegő 1978; {_SFU}",
    modality=_multimodal, fixed_d=2))
_add(Spec(
    "hartmann3", "Hartmann", hartmann3,
    lower=_const(0.0), upper=_const(1.0),
    x_opt=lambda d: [0.11458888583420695, 0.5556488964822872, 0.8525469858220078],
    f_opt=lambda d: -3.862779787332663,
    source=f"−3.86278 at (0.114614, 0.555649, 0.852547); Dixon & Szegő 1978; {_SFU} "
           "(location refined by L-BFGS-B and Nelder-Mead)",
    modality=_multimodal, fixed_d=3))
_add(Spec(
    "hartmann6", "Hartmann", hartmann6,
    lower=_const(0.0), upper=_const(1.0),
    x_opt=lambda d: [0.20168951174383914, 0.15001069012384977, 0.4768739752913974,
                     0.2753324311851242, 0.31165161681470066, 0.6573005355250374],
    f_opt=lambda d: -3.322368011415515,
    source=f"−3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573); "
           f"Dixon & Szegő 1978; {_SFU} (location refined by L-BFGS-B and Nelder-Mead)",
    modality=_multimodal, fixed_d=6))
_add(Spec(
    "six-hump-camel", "Six-hump camel", six_hump_camel,
    lower=lambda d: [-3.0, -2.0], upper=lambda d: [3.0, 2.0],
    x_opt=lambda d: [0.08984201381609508, -0.7126564042384418],
    f_opt=lambda d: -1.0316284534898774,
    source=f"−1.0316 at (0.0898, −0.7126) and (−0.0898, 0.7126); Dixon & Szegő 1978; {_SFU} "
           "(location refined by L-BFGS-B and Nelder-Mead)",
    modality=_multimodal, fixed_d=2))
_add(Spec(
    "goldstein-price", "Goldstein-Price", goldstein_price,
    lower=_const(-2.0), upper=_const(2.0),
    x_opt=lambda d: [0.0, -1.0], f_opt=lambda d: 3.0,
    source=f"3 at (0, −1); Goldstein & Price 1971; Dixon & Szegő 1978; {_SFU}",
    modality=_multimodal, fixed_d=2))

_SCALABLE = (2, 5, 10)
_add(Spec(
    "rosenbrock", "Rosenbrock", rosenbrock,
    lower=_const(-5.0), upper=_const(10.0), x_opt=_const(1.0), f_opt=lambda d: 0.0,
    source=f"0 at (1, …, 1); Rosenbrock 1960; {_SFU}",
    # a second local minimum near (−1, 1, …, 1) exists for 4 ≤ d ≤ 30 (Shang & Qiu 2006)
    modality=lambda d: "unimodal" if d <= 3 else "multimodal",
    dims=_SCALABLE))
_add(Spec(
    "ackley", "Ackley", ackley,
    lower=_const(-32.768), upper=_const(32.768), x_opt=_const(0.0), f_opt=lambda d: 0.0,
    source=f"0 at (0, …, 0); Ackley 1987; {_SFU}",
    modality=_multimodal, dims=_SCALABLE))
_add(Spec(
    "rastrigin", "Rastrigin", rastrigin,
    lower=_const(-5.12), upper=_const(5.12), x_opt=_const(0.0), f_opt=lambda d: 0.0,
    source=f"0 at (0, …, 0); Rastrigin 1974; {_SFU}",
    modality=_multimodal, dims=_SCALABLE))
_add(Spec(
    "levy", "Levy", levy,
    lower=_const(-10.0), upper=_const(10.0), x_opt=_const(1.0), f_opt=lambda d: 0.0,
    source=f"0 at (1, …, 1); Laguna & Martí 2005; {_SFU}",
    modality=_multimodal, dims=_SCALABLE))
_add(Spec(
    "griewank", "Griewank", griewank,
    lower=_const(-600.0), upper=_const(600.0), x_opt=_const(0.0), f_opt=lambda d: 0.0,
    source=f"0 at (0, …, 0); Griewank 1981; {_SFU}",
    modality=_multimodal, dims=_SCALABLE))
_add(Spec(
    "styblinski-tang", "Styblinski-Tang", styblinski_tang,
    lower=_const(-5.0), upper=_const(5.0), x_opt=_const(-2.9035340286202334),
    # the formula's value at the exact minimizer; the library's −39.16599 d is rounded high
    f_opt=lambda d: -39.16616570377141 * d,
    source=f"−39.16599 d at (−2.903534, …); Styblinski & Tang 1990; {_SFU} "
           "(value recomputed at the exact minimizer: −39.1661657 d)",
    modality=_multimodal, dims=_SCALABLE))
_add(Spec(
    "michalewicz", "Michalewicz", michalewicz,
    lower=_const(0.0), upper=_const(math.pi), x_opt=lambda d: list(_MICHALEWICZ_X[:d]),
    f_opt=lambda d: _MICHALEWICZ_F[d],
    source=f"−1.8013 (d=2), −4.687658 (d=5), −9.66015 (d=10); Michalewicz 1992; {_SFU}; "
           "location: coordinate-wise minimizer (the function is separable)",
    modality=_multimodal, dims=_SCALABLE))

#: Typical gap above the optimum: the median value over the domain (10⁵ uniform samples,
#: generator seed 0) minus the optimum, to 2 significant digits. Noisy variants use a fraction
#: of it as the noise standard deviation; ``tests/problems/test_synthetic.py`` re-estimates it.
SCALES: dict[str, float] = {
    "branin": 35.0, "hartmann3": 3.3, "hartmann6": 3.2, "six-hump-camel": 9.2,
    "goldstein-price": 6500.0,
    "rosenbrock-2d": 15000.0, "rosenbrock-5d": 420000.0, "rosenbrock-10d": 1100000.0,
    "ackley-2d": 21.0, "ackley-5d": 21.0, "ackley-10d": 21.0,
    "rastrigin-2d": 37.0, "rastrigin-5d": 92.0, "rastrigin-10d": 190.0,
    "levy-2d": 11.0, "levy-5d": 51.0, "levy-10d": 120.0,
    "griewank-2d": 58.0, "griewank-5d": 150.0, "griewank-10d": 300.0,
    "styblinski-tang-2d": 57.0, "styblinski-tang-5d": 160.0, "styblinski-tang-10d": 340.0,
    "michalewicz-2d": 1.8, "michalewicz-5d": 4.3, "michalewicz-10d": 8.7,
}


def instance_names(spec: Spec) -> list[tuple[str, int]]:
    """Registry names and dimensions of ``spec``: ``key`` or ``key-<d>d`` for scalable ones."""
    if spec.dims:
        return [(f"{spec.key}-{d}d", d) for d in spec.dims]
    return [(spec.key, spec.fixed_d)]
