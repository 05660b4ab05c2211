"""Ridge and L2-logistic regression with exact implicit hypergradients (numpy / scipy only).

Where the truth is known, gradient-based hyperparameter optimizers can be checked: the trained
weights are an exact function of the regularization strength, and the implicit-function
theorem gives the exact gradient of the validation loss (Larsen, Hansen, Svarer & Ohlsson
1996, "Design and regularization of neural networks: the optimal use of a validation set";
Bengio 2000, "Gradient-based optimization of hyperparameters"):

    w*(a) = argmin_w L_T(w, a),    dL_V/da = -grad_w L_V(w*)^T H^-1 d(grad_w L_T)/da

with ``H`` the training-loss Hessian at ``w*``.

Registered names
    ``ridge-hypergrad``     one ``alpha``: ``L_T = |X w - y|^2 / n + alpha |w|^2``; ``w*`` by an
                            eigendecomposition of ``X^T X / n`` (closed form for every alpha).
    ``ridge-hypergrad-4g``  one ``alpha_g`` per group of 10 features (groups of decreasing
                            signal), ``L_T = |X w - y|^2 / n + sum_g alpha_g |w_g|^2``.
    ``logreg-hypergrad``    binary L2-logistic regression with an unpenalized intercept,
                            ``L_T = mean log-loss + alpha / 2 |w|^2``; ``w*`` by Newton's method
                            with backtracking to a gradient norm below 1e-10.

Each seed draws its own data (``np.random.default_rng(child_seed(seed, "data"))``; ``None``
means 0): correlated Gaussian features (Toeplitz covariance ``0.5^|i-j|``), a fixed
ground-truth weight vector, noise; train / validation / test parts. The value is the
validation loss (mean squared error; mean log-loss), ``test_value`` the test loss.
Hyperparameters are log-uniform Floats; ``grad`` is d value / d unit-cube coordinate
(``d value / d log alpha * (log high - log low)``), exact up to float64 round-off.
The optimum is the best-known value: a 401-point grid over log alpha polished by bounded
Brent (one alpha), or multi-start L-BFGS-B with the exact gradient (groups; ``STARTS``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpbench.problem import EvalContext, Evaluation, Optimum, Problem
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Float, Space

ALPHA_LOW, ALPHA_HIGH = 1e-5, 1e3
#: grid points over log alpha for the best-known optimum of one alpha (50 per decade)
GRID = 401
#: L-BFGS-B starts for the best-known optimum of several alphas: the best shared alpha of a
#: 41-point diagonal grid, and uniform random points
STARTS = 4
_SPAN = math.log(ALPHA_HIGH) - math.log(ALPHA_LOW)


_BLAS = None  # a cached threadpoolctl controller (inspecting the loaded libraries is slow)


def one_blas_thread() -> contextlib.AbstractContextManager:
    """BLAS limited to one thread inside, restored after (via ``threadpoolctl`` when it is
    installed). These problems solve 20-40 dimensional systems: OpenBLAS's worker threads
    cost more than they save there, 10-40x more on a loaded machine (measured)."""
    global _BLAS
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # optional: only speed depends on it
        return contextlib.nullcontext()
    if _BLAS is None:
        import scipy.optimize  # noqa: F401 - loads scipy's own BLAS before the controller looks

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


def correlated_features(rng: np.random.Generator, n: int, d: int, rho: float = 0.5) -> np.ndarray:
    """``n`` rows of N(0, S) with the Toeplitz covariance ``S_ij = rho^|i - j|``."""
    idx = np.arange(d)
    cov = rho ** np.abs(idx[:, None] - idx[None, :])
    return rng.standard_normal((n, d)) @ np.linalg.cholesky(cov).T


class _Regression(Problem):
    """Shared: alpha parameters, unit-cube gradients, batches."""

    capabilities = frozenset({"hypergradient", "vectorized"})

    def __init__(self, n_alphas: int, *, seed: int | None, name: str, tags: Sequence[str]):
        names = ["alpha"] if n_alphas == 1 else [f"alpha_{g + 1}" for g in range(n_alphas)]
        space = Space({n: Float(ALPHA_LOW, ALPHA_HIGH, log=True) for n in names})
        super().__init__(space, seed=seed, name=name, tags=tags)
        self._names = names
        self.rng_seed = child_seed(0 if seed is None else int(seed), "data")

    def _alphas(self, config: Mapping[str, Any]) -> np.ndarray:
        return np.array([float(config[n]) for n in self._names])

    # subclasses: (val loss, test loss, d val / d alpha) for one alpha vector
    def losses(self, alphas: np.ndarray, grad: bool) -> tuple[float, float, np.ndarray | None]:
        raise NotImplementedError

    def _record(self, config: Mapping[str, Any], want_grad: bool) -> Evaluation:
        alphas = self._alphas(config)
        val, test, g = self.losses(alphas, want_grad)
        grad = None
        if want_grad:
            # d/du = d/d alpha * alpha * (log high - log low)
            grad = {n: float(gi * a * _SPAN) for n, gi, a in zip(self._names, g, alphas)}
        return Evaluation(val, test_value=test, grad=grad)

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        if fidelity is not None:
            raise ValueError(f"{self.name} has no fidelity, got fidelity={fidelity}")
        with one_blas_thread():
            return self._record(config, ctx is not None and ctx.want_grad)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        _, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        with one_blas_thread():
            return [self._record(c, x is not None and x.want_grad)
                    for c, x in zip(configs, ctxs)]

    def _grid_values(self, grid: np.ndarray) -> np.ndarray:
        return np.array([self.losses(np.exp([t]), False)[0] for t in grid])

    def objective_and_grad(self, log_alphas: np.ndarray) -> tuple[float, np.ndarray]:
        """Validation loss and its gradient in log alpha (for the optimum search)."""
        alphas = np.exp(log_alphas)
        val, _, g = self.losses(alphas, True)
        return val, g * alphas

    def _best_known(self, source: str) -> Optimum:
        with one_blas_thread():
            return self._search(source)

    def _search(self, source: str) -> Optimum:
        from scipy.optimize import minimize, minimize_scalar

        lo, hi = math.log(ALPHA_LOW), math.log(ALPHA_HIGH)
        k = len(self._names)
        if k == 1:
            grid = np.linspace(lo, hi, GRID)
            vals = self._grid_values(grid)
            i = int(np.argmin(vals))
            a, b = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
            res = minimize_scalar(lambda t: self.losses(np.exp([t]), False)[0],
                                  bounds=(a, b), method="bounded",
                                  options={"xatol": 1e-10})
            best_t, best_v = (res.x, res.fun) if res.fun <= vals[i] else (grid[i], vals[i])
            best = np.array([best_t])
        else:
            rng = np.random.default_rng(child_seed(self.rng_seed, "optimum"))
            diagonal = np.linspace(lo, hi, 41)
            shared = diagonal[int(np.argmin([self.losses(np.exp(np.full(k, t)), False)[0]
                                             for t in diagonal]))]
            starts = [np.full(k, shared), *(lo + (hi - lo) * rng.random((STARTS - 1, k)))]
            best, best_v = None, math.inf
            for x0 in starts:
                res = minimize(self.objective_and_grad, x0, jac=True, method="L-BFGS-B",
                               bounds=[(lo, hi)] * k, options={"ftol": 1e-13, "gtol": 1e-9,
                                                               "maxiter": 300})
                if res.fun < best_v:
                    best, best_v = res.x, float(res.fun)
        location = {n: float(min(ALPHA_HIGH, max(ALPHA_LOW, math.exp(t))))
                    for n, t in zip(self._names, best)}
        value = self.losses(self._alphas(location), False)[0]
        return Optimum(float(value), location, source, kind="best-known")

    def describe(self) -> dict:
        d = super().describe()
        d["data_seed"] = self.rng_seed
        return d


class RidgeProblem(_Regression):
    """Ridge regression with one alpha per feature group."""

    def __init__(self, seed: int | None = None, groups: int = 1, *, name: str,
                 tags: Sequence[str], n_train: int = 60, n_val: int = 60, n_test: int = 500,
                 d: int = 40, noise: float = 1.0) -> None:
        if int(groups) != groups or groups < 1 or d % groups:
            raise ValueError(f"{name}: groups must be a positive divisor of d={d}, got "
                             f"{groups!r}")
        super().__init__(int(groups), seed=seed, name=name, tags=tags)
        rng = np.random.default_rng(self.rng_seed)
        self.group_of = np.repeat(np.arange(groups), d // groups)
        if groups == 1:  # a quarter of the features carry the signal
            w_true = rng.standard_normal(d) * (np.arange(d) < d // 4)
        else:  # signal decays across groups, so each group wants its own alpha
            w_true = rng.standard_normal(d) * np.exp(-self.group_of.astype(float))
        n = n_train + n_val + n_test
        X = correlated_features(rng, n, d)
        y = X @ w_true + noise * rng.standard_normal(n)
        self.X_tr, self.X_va, self.X_te = X[:n_train], X[n_train:n_train + n_val], \
            X[n_train + n_val:]
        self.y_tr, self.y_va, self.y_te = y[:n_train], y[n_train:n_train + n_val], \
            y[n_train + n_val:]
        self.G = self.X_tr.T @ self.X_tr / n_train
        self.b = self.X_tr.T @ self.y_tr / n_train
        self.eig, self.V = np.linalg.eigh(self.G)
        self.Vb = self.V.T @ self.b
        self.optimum = self._best_known(
            "best-known: 401-point grid over log alpha + bounded Brent on the closed-form "
            "ridge path" if groups == 1 else
            "best-known: 4-start L-BFGS-B on log alphas with the exact hypergradient")

    def weights(self, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``w*`` and, for a single alpha, the eigen-coefficients to reuse (None otherwise)."""
        if len(alphas) == 1:
            c = self.Vb / (self.eig + alphas[0])
            return self.V @ c, c
        A = self.G + np.diag(alphas[self.group_of])
        return np.linalg.solve(A, self.b), None

    def losses(self, alphas: np.ndarray, grad: bool) -> tuple[float, float, np.ndarray | None]:
        w, _ = self.weights(alphas)
        r_va = self.X_va @ w - self.y_va
        val = float(r_va @ r_va / len(r_va))
        r_te = self.X_te @ w - self.y_te
        test = float(r_te @ r_te / len(r_te))
        if not grad:
            return val, test, None
        v = 2 * self.X_va.T @ r_va / len(r_va)  # grad_w L_V
        if len(alphas) == 1:
            z = self.V @ ((self.V.T @ v) / (self.eig + alphas[0]))
        else:
            z = np.linalg.solve(self.G + np.diag(alphas[self.group_of]), v)
        # H = 2 (G + D) and d(grad_w L_T)/d alpha_g = 2 E_g w (L_T has alpha_g |w_g|^2), so
        # dL_V/d alpha_g = -v^T (G + D)^-1 E_g w
        g = -np.bincount(self.group_of, weights=z * w, minlength=len(alphas))
        return val, test, g


class LogRegProblem(_Regression):
    """L2-regularized binary logistic regression with an unpenalized intercept."""

    def __init__(self, seed: int | None = None, *, name: str, tags: Sequence[str],
                 n_train: int = 100, n_val: int = 100, n_test: int = 1000, d: int = 20) -> None:
        super().__init__(1, seed=seed, name=name, tags=tags)
        rng = np.random.default_rng(self.rng_seed)
        w_true = rng.standard_normal(d) * (np.arange(d) < d // 2)
        n = n_train + n_val + n_test
        X = correlated_features(rng, n, d)
        p = 1 / (1 + np.exp(-(X @ w_true + 0.3)))
        y = (rng.random(n) < p).astype(float)
        X = np.hstack([X, np.ones((n, 1))])  # intercept column, last
        self.X_tr, self.X_va, self.X_te = X[:n_train], X[n_train:n_train + n_val], \
            X[n_train + n_val:]
        self.y_tr, self.y_va, self.y_te = y[:n_train], y[n_train:n_train + n_val], \
            y[n_train + n_val:]
        self.penalized = np.r_[np.ones(d), 0.0]
        self.optimum = self._best_known(
            "best-known: 401-point grid over log alpha + bounded Brent, Newton-solved "
            "weights")

    @staticmethod
    def _logloss(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
        z = X @ w
        # log(1 + e^z) - y z, stable for large |z|
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    def train_loss(self, w: np.ndarray, alpha: float) -> float:
        return self._logloss(self.X_tr, self.y_tr, w) + 0.5 * alpha * float(
            (self.penalized * w) @ w)

    def hessian(self, w: np.ndarray, alpha: float) -> np.ndarray:
        s = 1 / (1 + np.exp(-(self.X_tr @ w)))
        return (self.X_tr.T * (s * (1 - s))) @ self.X_tr / len(self.y_tr) + \
            alpha * np.diag(self.penalized)

    def weights(self, alpha: float, w0: np.ndarray | None = None) -> np.ndarray:
        """``w*`` by Newton's method with backtracking (Nocedal & Wright 2006, Alg. 3.1),
        from ``w0`` (zeros by default: evaluations never depend on earlier ones)."""
        w = np.zeros(self.X_tr.shape[1]) if w0 is None else w0.copy()
        n = len(self.y_tr)
        for _ in range(200):
            s = 1 / (1 + np.exp(-(self.X_tr @ w)))
            g = self.X_tr.T @ (s - self.y_tr) / n + alpha * self.penalized * w
            if np.linalg.norm(g) < 1e-10:
                return w
            step = np.linalg.solve(self.hessian(w, alpha), g)
            f0, t = self.train_loss(w, alpha), 1.0
            # Armijo with a round-off allowance: near the optimum the decrease of a full
            # Newton step is below float resolution and must not be mistaken for an ascent
            slack = 1e-13 * abs(f0)
            while self.train_loss(w - t * step, alpha) > f0 - 1e-4 * t * (g @ step) + slack \
                    and t > 1e-8:
                t /= 2
            w = w - t * step
        raise RuntimeError(f"{self.name}: Newton did not reach |grad| < 1e-10 in 200 steps "
                           f"(alpha={alpha})")

    def _grid_values(self, grid: np.ndarray) -> np.ndarray:
        # continuation: each Newton solve starts from the previous grid point's weights
        out, w = [], None
        for t in grid:
            w = self.weights(math.exp(t), w)
            out.append(self._logloss(self.X_va, self.y_va, w))
        return np.array(out)

    def losses(self, alphas: np.ndarray, grad: bool) -> tuple[float, float, np.ndarray | None]:
        alpha = float(alphas[0])
        w = self.weights(alpha)
        val = self._logloss(self.X_va, self.y_va, w)
        test = self._logloss(self.X_te, self.y_te, w)
        if not grad:
            return val, test, None
        s = 1 / (1 + np.exp(-(self.X_va @ w)))
        v = self.X_va.T @ (s - self.y_va) / len(self.y_va)
        z = np.linalg.solve(self.hessian(w, alpha), v)
        return val, test, np.array([-float(z @ (self.penalized * w))])


_TAGS = ("regression", "hypergradient-exact", "continuous", "cheap")


@register_problem("ridge-hypergrad", tags=(*_TAGS, "1d"),
                  description="ridge regression, validation MSE over log alpha, exact "
                              "implicit hypergradient")
def ridge_hypergrad(seed: int | None = None) -> RidgeProblem:
    return RidgeProblem(seed, 1, name="ridge-hypergrad", tags=(*_TAGS, "1d"))


@register_problem("ridge-hypergrad-4g", tags=(*_TAGS, "4d"),
                  description="ridge regression with one alpha per group of 10 features, "
                              "exact implicit hypergradient")
def ridge_hypergrad_groups(seed: int | None = None) -> RidgeProblem:
    return RidgeProblem(seed, 4, name="ridge-hypergrad-4g", tags=(*_TAGS, "4d"))


@register_problem("logreg-hypergrad", tags=("classification", "hypergradient-exact",
                                            "continuous", "cheap", "1d"),
                  description="L2 logistic regression, validation log-loss over log alpha, "
                              "exact implicit hypergradient")
def logreg_hypergrad(seed: int | None = None) -> LogRegProblem:
    return LogRegProblem(seed, name="logreg-hypergrad",
                         tags=("classification", "hypergradient-exact", "continuous", "cheap",
                               "1d"))
