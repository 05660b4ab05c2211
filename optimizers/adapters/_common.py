"""Helpers shared by the library adapters (``optuna_``, ``hyperopt_``, ``skopt_``, …).

Not an optimizer module: the leading underscore keeps registry discovery away from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextlib import AbstractContextManager, nullcontext

#: Every adapted library seeds a legacy ``numpy.random.RandomState`` somewhere, which only
#: takes seeds below 2**32; hpbench's derived seeds use 63 bits.
_RANDOMSTATE_SEEDS = 2**32


def library_seed(seed: int | None) -> int | None:
    """The seed handed to a library: ``seed`` itself when it fits a ``RandomState``, otherwise
    ``seed mod 2**32``; None stays None (an unseeded run).

    Passing small seeds through unchanged keeps the adapters comparable one-to-one with a
    user's own ``TPESampler(seed=s)`` / ``gp_minimize(random_state=s)`` call.
    """
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    return seed % _RANDOMSTATE_SEEDS


class WorstSoFar:
    """Imputes failed trials with the worst value observed so far.

    Libraries whose models cannot take NaN or infinity (scikit-optimize, bayes_opt) are told
    the worst successful value seen up to then instead: the usual pessimistic imputation of
    crashed configurations (SMAC's ``crash_cost`` does the same with a fixed constant), chosen
    here because it stays on the scale of the objective, so the surrogate is not distorted by
    an arbitrary huge number. Before any success there is nothing to impute, and the failure
    is not told.
    """

    def __init__(self) -> None:
        self.worst = -math.inf

    def update(self, values: Iterable[float]) -> None:
        for v in values:
            if math.isfinite(v) and v > self.worst:
                self.worst = v

    def impute(self) -> float | None:
        return self.worst if math.isfinite(self.worst) else None


class ThreadLimit:
    """Runs a block with at most ``n`` threads in every BLAS and OpenMP pool loaded when it
    was built (NumPy/SciPy's OpenBLAS, and torch's intra-op pool, which is OpenMP); None
    leaves them alone. Build it after importing the library, use it as ``with limit():``.

    The surrogate models of the adapted libraries (skopt's and bayes_opt's GPs, Optuna's
    GPSampler in torch) work on matrices of a few hundred rows, where threads gain nothing;
    when cells run side by side (``--workers 2`` on a 2-core machine, or other jobs) the
    pools' spinning threads fight for the cores. Measured here under load: skopt's GP 26 s
    against 4.5 s for 16 trials, Optuna's GPSampler 31 s against 2.8 s for 40 trials, the
    same configs either way (``results/perf/adapters.md`` has the per-suggestion numbers).
    One thread changes the speed, not the algorithm; only round-off in multithreaded
    reductions can differ.
    """

    def __init__(self, n: int | None) -> None:
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ValueError(f"threads must be a positive int or None, got {n!r}")
        self.n = n
        self._controller = None
        if n is not None:
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController()

    def __call__(self) -> AbstractContextManager:
        if self._controller is None:
            return nullcontext()
        return self._controller.limit(limits=self.n)

    def __reduce__(self):
        # the controller holds the loaded libraries' handles (ctypes), which do not pickle:
        # a copy finds the pools again
        return (type(self), (self.n,))
