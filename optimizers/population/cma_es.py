"""CMA-ES through the ``cma`` package (Hansen's reference implementation), with IPOP restarts.

The algorithm and its defaults are those of Hansen 2016, "The CMA evolution strategy: a
tutorial" (arXiv:1604.00772), as implemented by ``cma.CMAEvolutionStrategy`` (ask/tell);
population size ``4 + 3 ln d`` by default. When a run stops (any of cma's termination
criteria: tolfun, tolx, flat fitness, stagnation, ...) before the budget is spent, it is
restarted from a fresh uniform point with the population multiplied by ``incpopsize``
(IPOP-CMA-ES, Auger & Hansen 2005, "A restart CMA evolution strategy with increasing
population size", CEC 2005: factor 2). Each generation is one batch, so ``batch_size``
follows the current population. The first run starts at the centre of the cube with
``sigma0 = 1/6`` (the usual start on a box without prior knowledge: the domain is
``x0 +- 3 sigma0``); restarts start at uniform random points as in IPOP.

This is the reference, non-elitist, full-covariance CMA-ES. Nevergrad's ``CMA`` is not: on
a fully bounded space with a budget its competence map picks ``CMAbounded`` (elitist,
diagonal covariance, population ``4 + ln d``, step about 0.08 of the range), which is
tuned for short budgets and wins at 100-200 evaluations (see benchmarks/test_population.py);
that set-up is its own entry, ``cma-es-short`` (cma_es_short.py). At 100 evaluations in 2-6
dimensions this textbook run has had 10-16 generations and is still converging (issue 33:
no set-up fault; every non-elitist set-up tried, sigma0 0.05-0.3 and three bound handlers,
ends at a branin regret of 1e-3 to 1e-2).

Coordinates: floats live in ``[0, 1]`` (bounds handled by cma's ``BoundTransform``); an
integer or categorical parameter with ``n`` levels becomes an integer variable in
``[-0.5, n - 0.5]`` (its level index) with ``CMA_stds = n`` so that ``sigma0`` is the same
fraction of every range. cma's ``integer_variables`` option then keeps a lower bound on
those variables' standard deviations and centres the integer samples (Hansen 2011, "A
CMA-ES for mixed-integer nonlinear optimization", INRIA RR-7751, and the ``cma``
documentation of ``integer_variables``), and hands back rounded levels: the evaluated
config is exactly the solution cma ranks. Categories are treated as integer levels in their
declared order; CMA-ES has no model of unordered values, so that order is arbitrary
(documented limitation; ``genetic``, ``de`` and ``pso`` have category-aware operators).

Randomness: cma draws from numpy's *global* ``np.random`` (``randn`` by default, and
``np.random.rand`` in its integer centering), seeding it from its ``seed`` option in the
constructor. Every call into cma therefore runs inside ``_private_numpy_state``: the
global state is saved, replaced by this optimizer's own state (first set by cma's ``seed``
option, a seed drawn from ``self.rng``, never 0 which cma reads as "use the clock"),
and restored afterwards, so the run is reproducible and no other code sees a changed
global state. A module lock makes that swap safe under threads; processes have their own
global state anyway.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from hpbench import Space, register_optimizer
from hpbench.optimizers._stepped import Search, SteppedOptimizer

_GLOBAL_STATE_LOCK = threading.Lock()


@register_optimizer("cma-es", tags=("population", "evolution-strategy"),
                    packages=("cma",), extra="cma",
                    description="CMA-ES (cma package, Hansen 2016) with IPOP restarts "
                                "(Auger & Hansen 2005)")
class CMAES(SteppedOptimizer):
    """Adapter to ``cma.CMAEvolutionStrategy`` with IPOP restarts (see the module docstring).

    Settings: ``sigma0`` (initial step, as a fraction of every coordinate's range: 1/6, so
    that the whole cube lies within ``x0 +- 3 sigma0`` of the centre, the scaling cma's
    documentation asks for), ``popsize`` (None: cma's ``4 + 3 ln d``), ``restarts``
    ("ipop" or "none": a stopped run restarts with the same population), ``incpopsize``
    (IPOP factor), ``x0`` ("centre": the first run starts at the centre of the cube and
    restarts at uniform points; "random": every run starts at a uniform point, as in Auger
    & Hansen 2005), ``options`` (extra cma options, a dict, e.g. ``{"tolx": 1e-6}`` or
    ``{"CMA_elitist": True, "CMA_diagonal": True}``).
    """

    label = "cma-es"
    #: population ``4 + floor(popsize_factor * ln d)``: 3 is Hansen's default (2016, Table 1)
    popsize_factor = 3
    #: cma options of this variant, under the user's ``options``
    base_options: dict[str, Any] = {}
    settings = {"sigma0": 1 / 6, "popsize": None, "restarts": "ipop", "incpopsize": 2,
                "x0": "centre", "options": None}
    choices = {"restarts": ("ipop", "none"), "x0": ("centre", "random")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import cma  # noqa: F401  (fail early, with the registry's missing-package message)

        cfg = self.config
        if not 0.0 < float(cfg["sigma0"]) <= 1.0:
            raise ValueError(f"{self.label}: sigma0 must be in (0, 1], got {cfg['sigma0']!r}")
        if float(cfg["incpopsize"]) < 1:
            raise ValueError(f"{self.label}: incpopsize must be >= 1, "
                             f"got {cfg['incpopsize']!r}")
        d = max(1, self.cube.d)
        base = cfg["popsize"]
        self.popsize = (int(base) if base is not None
                        else 4 + int(self.popsize_factor * np.log(d)))
        if self.popsize < 2:
            raise ValueError(f"{self.label}: popsize must be >= 2, got {base!r}")
        self.batch_size = self.popsize
        disc = self.cube.is_disc
        levels = np.maximum(self.cube.levels, 1)
        # cma does not run in one dimension: a 1-d space gets an inert second coordinate
        pad = max(0, 2 - self.cube.d)
        self._lower = np.concatenate([np.where(disc, -0.5, 0.0), np.zeros(pad)])
        self._upper = np.concatenate([np.where(disc, levels - 0.5, 1.0), np.ones(pad)])
        self._stds = np.concatenate([np.where(disc, levels.astype(float), 1.0), np.ones(pad)])
        self._np_state = np.random.RandomState(int(self.rng.integers(1, 2**31 - 1))).get_state()
        # history, for tests and reports: (popsize, evaluations, stop reasons) per run
        self.runs: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def _private_numpy_state(self) -> Iterator[None]:
        """Run cma against this optimizer's own copy of numpy's global random state."""
        with _GLOBAL_STATE_LOCK:
            outside = np.random.get_state()
            np.random.set_state(self._np_state)
            try:
                yield
            finally:
                self._np_state = np.random.get_state()
                np.random.set_state(outside)

    def _to_cube(self, Y: np.ndarray) -> np.ndarray:
        """cma coordinates (floats in [0, 1], level indices) -> unit-cube points."""
        cube = self.cube
        U = np.array(Y, dtype=float).reshape(-1, cube.d)
        disc = cube.disc_idx
        # rint rounds half to even, as Python's round does
        K = np.clip(np.rint(U[:, disc]), 0, cube.levels[disc] - 1)
        U[:, disc] = cube.centres_at(K, disc)
        return cube.snap(U)

    def _x0(self) -> np.ndarray:
        n = len(self._lower)
        first = not self.runs
        u = np.full(n, 0.5) if first and self.config["x0"] == "centre" else self.rng.random(n)
        y = u.copy()
        disc = self.cube.disc_idx
        y[disc] = self.cube.levels_at(u, disc)
        return y

    def _new_strategy(self, popsize: int) -> Any:
        import cma

        opts: dict[str, Any] = {
            "bounds": [self._lower.tolist(), self._upper.tolist()],
            "CMA_stds": self._stds.tolist(),
            "popsize": popsize,
            # cma reads seed 0 as "take the clock"
            "seed": int(self.rng.integers(1, 2**31 - 1)),
            "verbose": -9, "verb_log": 0, "verb_disp": 0, "verb_time": False,
        }
        if len(self.cube.disc_idx):
            opts["integer_variables"] = [int(i) for i in self.cube.disc_idx]
        opts.update(self.base_options)
        opts.update(self.config["options"] or {})
        x0 = self._x0()
        with self._private_numpy_state():
            return cma.CMAEvolutionStrategy(x0.tolist(), float(self.config["sigma0"]), opts)

    def _search(self) -> Search:
        popsize = self.popsize
        while True:
            es = self._new_strategy(popsize)
            self.batch_size = popsize
            record: dict[str, Any] = {"popsize": popsize, "evaluations": 0, "stop": {}}
            self.runs.append(record)
            while True:
                with self._private_numpy_state():
                    solutions = es.ask()
                Y = np.array(solutions, dtype=float)[:, : self.cube.d]
                values = np.asarray((yield self._to_cube(Y)), dtype=float)
                record["evaluations"] += len(values)
                with self._private_numpy_state():
                    es.tell(solutions, _finite_for_ranking(values).tolist())
                    stop = es.stop()
                if stop:
                    record["stop"] = {str(k): v for k, v in dict(stop).items()}
                    break
            if self.config["restarts"] == "ipop":
                popsize = round(popsize * float(self.config["incpopsize"]))


def _finite_for_ranking(values: np.ndarray) -> np.ndarray:
    """CMA-ES only uses ranks (plus value differences in its termination tests), so a
    failed evaluation (NaN) becomes worse than every finite value of its generation; an
    all-failed generation is flat, which cma's flat-fitness test turns into a restart."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.zeros_like(values)
    worst = float(finite.max()) + float(finite.max() - finite.min()) + 1.0
    return np.where(np.isfinite(values), values, worst)
