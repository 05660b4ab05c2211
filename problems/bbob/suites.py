"""The BBOB problems: COCO's bbob, bbob-mixint and bbob-noisy suites through ``cocoex``.

Registered names
    ``bbob-f<NN>-<d>d``: the 24 noiseless functions (NN = 01..24) in d = 2, 3, 5, 10, 20, 40,
    on ``[-5, 5]^d`` (parameters ``x0 … x{d-1}``).
    ``bbob-mixint-f<NN>-<d>d``: their mixed-integer versions in d = 5, 10, 20, 40: the first
    four fifths of the variables are integers ``Int(0, k - 1)`` with k = 2, 4, 8, 16 (one
    fifth each), the last fifth ``Float(-5, 5)``, exactly cocoex's bounds. cocoex also offers
    d = 80 and 160, built on the large-scale functions; their optimum locations are not
    available without cocoex's private API, so they are left out.
    ``bbob-noisy-f<NNN>-<d>d``: the 30 noisy functions (101..130) in d = 2, 3, 5, 10, 20, 40,
    except f116-f118 (see below).

Instances
    ``seed=None`` is instance 1; an integer seed ``k`` (a repeat index: these entries are
    registered with ``instances="repeat"``) is instance ``k % 15 + 1``, the BBOB-2009
    protocol's instances 1..15 cycled. ``problem.coco`` names the COCO problem.

Optima
    ``bbob``: f_opt and x_opt from IOHexperimenter (``ioh``), whose instances are COCO's;
    exact. ``bbob-mixint``: cocoex evaluates ``scale_f × f(inner(x))``, where ``inner``
    maps each integer to a point of the continuous domain shifted so that the integer
    nearest x_opt lands exactly on x_opt (``transform_vars_discretize.c``); every value is
    therefore ``>= scale_f × f_opt`` and that value is reached at the mapped x_opt, so the
    optimum ``scale_f × f_opt`` is exact. ``bbob-noisy``: the noiseless value of f101..f130
    is COCO's inner function: the bbob function of the same random seed and instance
    (sphere f1, Rosenbrock f8, step ellipsoid f7, different powers f14, Schaffer f17,
    Gallagher f21, identical inside the box, where COCO's boundary penalty is zero), and
    for Griewank-Rosenbrock f125-f127 ``f_opt + (f19 - f_opt) / 10`` (COCO builds f19 with
    ``facftrue = 10``, f125 with 1). f116-f118 use a condition-1e4 ellipsoid that no bbob
    function equals, so they are not registered. ``tests/problems/test_bbob.py`` checks each
    identity against cocoex's own noisy values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from hpbench.problem import EvalContext, Evaluation, Optimum, Problem
from hpbench.problems.bbob.coco import CocoId, build, instance_of, ioh_optimum
from hpbench.problems.bbob.groups import NOISY_BASE, tags_for
from hpbench.problems.bbob.noise import model_of
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Float, Int, Space, ValidConfig

DIMENSIONS = (2, 3, 5, 10, 20, 40)
MIXINT_DIMENSIONS = (5, 10, 20, 40)
#: cardinalities of the five blocks of a bbob-mixint problem's variables (0: continuous)
MIXINT_CARDINALITIES = (2, 4, 8, 16, 0)
#: bbob-mixint's objective scale per function (``suite_bbob_mixint_scaling_factors``)
MIXINT_SCALES = (1, 1e-3, 1e-1, 1e-1, 1, 1e-2, 1, 1e-2, 1e-2, 1e-3, 1e-2, 1e-4, 1e-1, 1,
                 1e-1, 1, 10, 1, 10, 1e-1, 1, 1, 10, 1e-1)
#: bbob-noisy functions with no registered problem (their noiseless part is no bbob function)
NOISY_LEFT_OUT = (116, 117, 118)
#: f125-f127's noiseless part is f19 with its factor 10 divided out
NOISY_FACTOR = {125: 0.1, 126: 0.1, 127: 0.1}
SOURCE = ("COCO {suite} (cocoex), {key}; f_opt and x_opt from IOHexperimenter (ioh) "
          "BBOB f{base} instance {instance}")


class CocoProblem(Problem):
    """One problem of COCO's bbob or bbob-mixint suite, evaluated by cocoex.

    The live cocoex problem is built on first use and dropped when pickled (it is a C
    object), so an instance ships to worker processes and rebuilds there."""

    capabilities = frozenset({"vectorized"})

    def __init__(self, coco: CocoId, space: Space, *, seed: int | None, name: str,
                 optimum: Optimum, tags: Sequence[str]) -> None:
        super().__init__(space, seed=seed, name=name, optimum=optimum, tags=tags)
        self.coco = coco
        self._names = space.names
        self._live: Any = None

    #: the COCO problem cocoex evaluates (the noisy problems evaluate their noiseless base)
    @property
    def evaluated(self) -> CocoId:
        return self.coco

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_live": None}

    def true_values(self, X: np.ndarray) -> np.ndarray:
        """The noiseless values of the rows of ``X`` (configs in parameter order)."""
        if self._live is None:
            self._live = build(self.evaluated)
        f = self._live.problem
        return np.fromiter((f(x) for x in X), dtype=float, count=len(X))

    def _observe(self, true: np.ndarray) -> np.ndarray:
        return true

    def _rows(self, configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return np.array([[c[n] for n in self._names] for c in configs], dtype=float)

    def evaluate(self, config: Mapping[str, Any], *, fidelity: float | None = None,
                 ctx: EvalContext | None = None) -> Evaluation:
        # a config the runner validated already (a ValidConfig of this space) is not checked
        # again: this is the hot path of a cheap objective
        if fidelity is not None or type(config) is not ValidConfig or \
                config.space is not self.space:
            config, _ = self.checked(config, fidelity)
        true = self.true_values(self._rows([config]))
        return Evaluation(float(self._observe(true)[0]), float(true[0]))

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        return self.evaluate(config, fidelity=fidelity, ctx=ctx)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        """All configs in one pass through cocoex (noise drawn in order, as one at a time)."""
        self.batch_arguments(configs, fidelities, ctxs)
        if not configs:
            return []
        checked = [c if type(c) is ValidConfig and c.space is self.space
                   else self.space.validate(c) for c in configs]
        true = self.true_values(self._rows(checked))
        return [Evaluation(v, t) for v, t in zip(self._observe(true).tolist(), true.tolist())]

    def describe(self) -> dict:
        return {**super().describe(), "coco": asdict(self.coco)}


class CocoNoisyProblem(CocoProblem):
    """A bbob-noisy function: COCO's noise model on its noiseless inner function, with the
    noise drawn from the problem's own seed (``noise``)."""

    def __init__(self, coco: CocoId, space: Space, *, seed: int | None, name: str,
                 optimum: Optimum, tags: Sequence[str]) -> None:
        super().__init__(coco, space, seed=seed, name=name, optimum=optimum, tags=tags)
        self.model = model_of(coco.function, coco.dimension)
        self.factor = NOISY_FACTOR.get(coco.function, 1.0)
        self._noise_rng = np.random.default_rng(child_seed(seed or 0, "noise"))

    @property
    def evaluated(self) -> CocoId:
        return CocoId("bbob", NOISY_BASE[self.coco.function], self.coco.dimension,
                      self.coco.instance)

    def true_values(self, X: np.ndarray) -> np.ndarray:
        base = super().true_values(X)
        if self.factor == 1.0:
            return base
        f_opt = self.optimum.value
        return f_opt + (base - f_opt) * self.factor

    def _observe(self, true: np.ndarray) -> np.ndarray:
        u = self.model.draw(self._noise_rng, len(true))
        return self.model.apply(true, self.optimum.value, u)

    def describe(self) -> dict:
        return {**super().describe(), "noise": asdict(self.model)}

    def fingerprint(self) -> str:
        # the fingerprint evaluates fixed points; it must not advance the noise stream the
        # optimizer will see
        state = self._noise_rng.bit_generator.state
        try:
            return super().fingerprint()
        finally:
            self._noise_rng.bit_generator.state = state


# --------------------------------------------------------------------------- building

def continuous_space(d: int) -> Space:
    return Space({f"x{i}": Float(-5.0, 5.0) for i in range(d)})


def mixint_space(d: int) -> Space:
    """cocoex's bbob-mixint domain: block j of d/5 variables has cardinality
    ``MIXINT_CARDINALITIES[j]`` (``Int(0, k - 1)``), the last block is ``Float(-5, 5)``."""
    if d % 5:
        raise ValueError(f"bbob-mixint dimensions are multiples of 5, got d={d}")
    params: dict[str, Float | Int] = {}
    for i in range(d):
        k = MIXINT_CARDINALITIES[i // (d // 5)]
        params[f"x{i}"] = Int(0, k - 1) if k else Float(-5.0, 5.0)
    return Space(params)


def mixint_location(x_opt: Sequence[float], d: int) -> dict[str, float | int]:
    """Where cocoex puts a bbob-mixint optimum (``transform_vars_discretize``): each integer
    variable at the integer whose inner point is nearest x_opt (the inner domain is [-4, 4]
    with k points at spacing 8 / (k + 1), so that integer is
    ``round((k - 1) (x_opt - l) / (u - l) + 1e-7)``, clipped to 0..k-1); continuous
    variables at x_opt."""
    location: dict[str, float | int] = {}
    for i, x in enumerate(x_opt):
        k = MIXINT_CARDINALITIES[i // (d // 5)]
        if not k:
            location[f"x{i}"] = float(x)
            continue
        low, high = -4 + 8 / (k + 1), 4 - 8 / (k + 1)
        outer = math.floor((k - 1) * (x - low) / (high - low) + 1e-7 + 0.5)
        location[f"x{i}"] = int(min(max(outer, 0), k - 1))
    return location


def make(suite: str, function: int, d: int, seed: int | None, name: str) -> CocoProblem:
    """Problem ``name``: ``function`` of COCO's ``suite`` in ``d`` dimensions, at the
    instance of ``seed``."""
    coco = CocoId(suite, function, d, instance_of(seed))
    base = NOISY_BASE[function] if suite == "bbob-noisy" else function
    f_opt, x_opt = ioh_optimum(base, coco.instance, d)
    source = SOURCE.format(suite=suite, key=coco.key, base=base, instance=coco.instance)
    tags = tags_for(suite, function, d)
    if suite == "bbob-mixint":
        optimum = Optimum(MIXINT_SCALES[function - 1] * f_opt, mixint_location(x_opt, d),
                          source + f"; scaled by {MIXINT_SCALES[function - 1]:g} and "
                          "discretized as cocoex's transform_vars_discretize", kind="exact")
        return CocoProblem(coco, mixint_space(d), seed=seed, name=name, optimum=optimum,
                           tags=tags)
    optimum = Optimum(f_opt, {f"x{i}": float(v) for i, v in enumerate(x_opt)}, source,
                      kind="exact")
    cls = CocoNoisyProblem if suite == "bbob-noisy" else CocoProblem
    return cls(coco, continuous_space(d), seed=seed, name=name, optimum=optimum, tags=tags)


# --------------------------------------------------------------------------- registry

def _register(suite: str, function: int, d: int) -> None:
    digits = 3 if suite == "bbob-noisy" else 2
    name = f"{suite}-f{function:0{digits}d}-{d}d"

    def factory(seed: int | None = None) -> CocoProblem:
        return make(suite, function, d, seed, name)

    factory.__qualname__ = factory.__name__ = f"CocoProblem[{name}]"
    what = {"bbob": "", "bbob-mixint": " mixed-integer", "bbob-noisy": " noisy"}[suite]
    register_problem(name, factory, tags=tags_for(suite, function, d),
                     packages=("cocoex", "ioh"), extra="bbob", instances="repeat",
                     description=f"COCO {suite} f{function}{what} ({d}-D), instance = "
                                 f"repeat % 15 + 1, exact f_opt from ioh")


for _d in DIMENSIONS:
    for _f in range(1, 25):
        _register("bbob", _f, _d)
for _d in MIXINT_DIMENSIONS:
    for _f in range(1, 25):
        _register("bbob-mixint", _f, _d)
for _d in DIMENSIONS:
    for _f in range(101, 131):
        if _f not in NOISY_LEFT_OUT:
            _register("bbob-noisy", _f, _d)
