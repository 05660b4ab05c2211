"""A plain BoTorch loop (Balandat, Karrer, Jiang, Daulton, Letham, Wilson & Bakshy 2020,
"BoTorch: A Framework for Efficient Monte-Carlo Bayesian Optimization", NeurIPS) with the
noisy log expected improvement (Ament, Daulton, Eriksson, Balandat & Bakshy 2023,
"Unexpected Improvements to Expected Improvement for Bayesian Optimization", NeurIPS):
``botorch-qlognei``, the reference GP-BO that ``gp-bo`` is measured against. Tested with
botorch 0.18.1, gpytorch 1.15.2 and torch 2.13.0 (CPU).

Written from BoTorch's own tutorial "Closed-loop batch, constrained BO in BoTorch with qLogEI
and qLogNEI" (``tutorials/closed_loop_botorch_only``), without its constraint:

* model: ``SingleTaskGP(X, -y)`` with every default (BoTorch 0.18: ``Standardize`` on the
  outputs, an RBF kernel with the dimension-scaled log-normal lengthscale prior of Hvarfner,
  Hellsten & Nardi 2024, a fitted noise level), fitted from scratch at each ask by
  ``fit_gpytorch_mll`` on its ``ExactMarginalLogLikelihood`` (the tutorial warm-starts from
  the last fit's ``state_dict``; a fresh fit keeps the optimizer's state to plain arrays);
* acquisition: ``qLogNoisyExpectedImprovement`` with ``X_baseline`` = the observed points, a
  ``SobolQMCNormalSampler`` of ``mc_samples`` = 256 and the asked-but-untold points as
  ``X_pending``; maximized by ``optimize_acqf`` with the tutorial's ``num_restarts`` = 10,
  ``raw_samples`` = 512 and ``options={"batch_limit": 5, "maxiter": 200}``. ``ask(n)``
  optimizes the ``q = n`` points jointly, as the tutorial's batch loop does;
* minimizing: BoTorch maximizes, so the model sees the negated values;
* double precision throughout (``torch.float64``), as the tutorial.

The loop works in the unit cube (``hpbench.cube.UnitCube``): the model's inputs are the
canonical points of the configs evaluated (integers and categories at their bin centres,
inactive conditional coordinates at 0.5), and each candidate ``optimize_acqf`` returns is
snapped to its config. Categories are thus ordinal coordinates to the GP, as for any user
who runs this tutorial on an encoded space.

Initial design: the first ``n_init`` = 2(d + 1) suggestions are a scrambled Sobol sample
(``botorch.utils.sampling.draw_sobol_samples``, BoTorch's own quasi-random helper), snapped.
2(d + 1): twice the number of the GP's length scales plus one, so that the first fit sees
more points than it has inputs and kernel parameters, which is the usual order of
initial designs (Ax starts from 5 points or more, the tutorial from 10 in 6-D; ``gp-bo``
from max(5, d + 1)); at most half the evaluations budget.

Failed trials (NaN, errors, timeouts) are left out of the model and of ``X_baseline``.
Until two trials have succeeded the loop draws uniform points.

Seeding: the whole loop draws from one torch random stream, seeded with ``torch.manual_seed``
(the optimizer's seed mod 2**32) and carried from ask to ask; each ask runs inside
``torch.random.fork_rng()`` with that stream installed, so torch's global generator is left
as it was. A by-hand run of the tutorial loop after ``torch.manual_seed(seed)`` therefore
suggests the same points (``tests/optimizers/test_botorch.py`` checks it), and the same seed
gives the same trajectory. The state is plain arrays and the stream's state: it pickles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from hpbench import Optimizer, register_optimizer
from hpbench.cube import UnitCube
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import ThreadLimit, library_seed
from hpbench.space import Space

#: the tutorial's settings (``closed_loop_botorch_only``)
TUTORIAL = {"num_restarts": 10, "raw_samples": 512, "mc_samples": 256, "batch_limit": 5,
            "maxiter": 200}


def default_n_init(d: int, budget: float | None) -> int:
    """2(d + 1) Sobol points, at most half of an evaluations budget (at least 2)."""
    n = 2 * (d + 1)
    if budget is not None and math.isfinite(budget):
        n = min(n, max(2, int(budget) // 2))
    return n


def fit_gp(X: Any, Y: Any) -> Any:
    """The tutorial's model: ``SingleTaskGP(X, Y)`` with its defaults, fitted by
    ``fit_gpytorch_mll`` on the exact marginal log likelihood."""
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from gpytorch.mlls import ExactMarginalLogLikelihood

    model = SingleTaskGP(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def next_points(model: Any, X: Any, q: int, pending: Any, *, num_restarts: int,
                raw_samples: int, mc_samples: int, batch_limit: int, maxiter: int) -> Any:
    """The tutorial's step: ``q`` points maximizing qLogNEI over ``[0, 1]^d`` (a (q, d)
    tensor)."""
    import torch
    from botorch.acquisition import qLogNoisyExpectedImprovement
    from botorch.optim import optimize_acqf
    from botorch.sampling.normal import SobolQMCNormalSampler

    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([mc_samples]))
    acqf = qLogNoisyExpectedImprovement(model=model, X_baseline=X, sampler=sampler,
                                        X_pending=pending)
    d = X.shape[-1]
    bounds = torch.stack([torch.zeros(d, dtype=X.dtype), torch.ones(d, dtype=X.dtype)])
    candidates, _ = optimize_acqf(acq_function=acqf, bounds=bounds, q=q,
                                  num_restarts=num_restarts, raw_samples=raw_samples,
                                  options={"batch_limit": batch_limit, "maxiter": maxiter})
    return candidates.detach()


@contextmanager
def quiet_botorch() -> Iterator[None]:
    """Ignore what the tutorial ignores (``BadInitialCandidatesWarning``, ``RuntimeWarning``)
    plus the optimizer's and the fit's convergence notes (``OptimizationWarning``,
    gpytorch's ``NumericalWarning``): each says a step took its fallback, not that the run
    is wrong."""
    from botorch.exceptions import BadInitialCandidatesWarning, OptimizationWarning
    from gpytorch.utils.warnings import NumericalWarning

    with warnings.catch_warnings():
        for category in (BadInitialCandidatesWarning, RuntimeWarning, OptimizationWarning,
                         NumericalWarning):
            warnings.simplefilter("ignore", category)
        yield


@register_optimizer("botorch-qlognei", tags=("model-based", "adapter", "botorch", "gp"),
                    packages=("botorch", "gpytorch", "torch"), extra="botorch",
                    description="BoTorch's tutorial loop: SingleTaskGP + qLogNEI "
                                "(Balandat et al. 2020; Ament et al. 2023)")
class BoTorchQLogNEI(Optimizer):
    """BoTorch's closed-loop tutorial as an ask/tell optimizer (see the module docstring).

    Settings: ``n_init`` (Sobol points before the model; None: 2(d + 1), at most half the
    budget), the tutorial's ``num_restarts``, ``raw_samples``, ``mc_samples``,
    ``batch_limit`` and ``maxiter``, and ``threads`` (BLAS/OpenMP threads while it works,
    torch's included; 1 by default, see ``_common.ThreadLimit``).
    """

    label = "botorch-qlognei"
    settings = {"n_init": None, **TUTORIAL, "threads": 1}
    # the conformance suite's run: the same loop with a smaller acquisition search
    conformance_settings = {"num_restarts": 2, "raw_samples": 32, "mc_samples": 32,
                            "maxiter": 20}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import torch

        cfg = self.config
        for key in TUTORIAL:
            if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 1:
                raise ValueError(f"botorch-qlognei: {key} must be an int >= 1, "
                                 f"got {cfg[key]!r}")
        self.cube = UnitCube(space)
        n_init = cfg["n_init"]
        if n_init is None:
            n_init = default_n_init(self.cube.d, self.budget.evaluations)
        if isinstance(n_init, bool) or not isinstance(n_init, int) or n_init < 1:
            raise ValueError(f"botorch-qlognei: n_init must be an int >= 1 or None, "
                             f"got {n_init!r}")
        self.n_init = n_init
        seed = library_seed(self.seed)
        if seed is None:  # unseeded: a seed from the optimizer's own (unseeded) generator
            seed = int(self.rng.integers(2**32))
        # the state torch.manual_seed(seed) gives the global generator, without touching it
        self._torch_state = torch.Generator().manual_seed(seed).get_state()
        self._design: list[np.ndarray] | None = None  # drawn at the first ask
        self._U: list[np.ndarray] = []  # canonical points of the successful trials
        self._y: list[float] = []  # their values
        self._pending: dict[int, np.ndarray] = {}  # tag -> point, asked and not yet told
        self._asked = 0
        self._threads = ThreadLimit(cfg["threads"])

    # -- ask/tell ------------------------------------------------------------------------

    def ask(self, n: int) -> list[Suggestion]:
        import torch

        with self._threads(), torch.random.fork_rng(devices=[]), quiet_botorch():
            torch.set_rng_state(self._torch_state)
            points = self._next(n)
            self._torch_state = torch.get_rng_state()
        out = []
        for u, config in zip(points, self.cube.to_configs(points)):
            self._pending[self._asked] = u
            out.append(Suggestion(config, tag=self._asked))
            self._asked += 1
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            u = self._pending.pop(obs.suggestion.tag, None)
            if u is None:  # a suggestion made elsewhere: its config is all there is
                u = self.cube.from_configs([obs.config])[0]
            if obs.ok and math.isfinite(obs.value):
                self._U.append(u)
                self._y.append(float(obs.value))

    # -- internals -----------------------------------------------------------------------

    def _next(self, n: int) -> np.ndarray:
        """``n`` canonical points: the rest of the Sobol design first, then the model's."""
        import torch

        d = self.cube.d
        if self._design is None:
            from botorch.utils.sampling import draw_sobol_samples

            bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
            design = draw_sobol_samples(bounds=bounds, n=self.n_init, q=1).squeeze(1)
            self._design = list(self.cube.canonical(design.numpy()))
        chosen = [self._design.pop(0) for _ in range(min(n, len(self._design)))]
        q = n - len(chosen)
        if q and len(self._y) < 2:  # nothing to model yet: uniform points
            chosen.extend(self.cube.canonical(torch.rand(q, d, dtype=torch.float64).numpy()))
        elif q:
            X = torch.tensor(np.array(self._U), dtype=torch.float64)
            Y = -torch.tensor(self._y, dtype=torch.float64).unsqueeze(-1)
            rows = [*self._pending.values(), *chosen]
            pending = torch.tensor(np.array(rows), dtype=torch.float64) if rows else None
            model = fit_gp(X, Y)
            cfg = self.config
            new = next_points(model, X, q, pending,
                              **{k: cfg[k] for k in TUTORIAL})
            chosen.extend(self.cube.canonical(new.numpy()))
        return np.array(chosen).reshape(len(chosen), d)
