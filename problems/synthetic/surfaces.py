"""Synthetic test functions as problems: cheap, exactly known optima, every capability but
fidelity.

Registered names: ``branin``, ``hartmann3``, ``hartmann6``, ``six-hump-camel``,
``goldstein-price`` and, for each scalable function (Rosenbrock, Ackley, Rastrigin, Levy,
Griewank, Styblinski-Tang, Michalewicz), ``<function>-<d>d`` for d in (2, 5, 10) and its
rotated variant ``<function>-<d>d-rot``. Parameters are ``x0 … x{d-1}``, each a ``Float``
over the published domain. Formulas, domains and optima (with sources) live in
``hpbench.problems.synthetic.functions``; mixed-variable variants in
``hpbench.problems.synthetic.mixed``.

Seeded instances
    ``seed=None`` is the canonical, published function. An integer seed moves the optimum
    inside the domain and keeps the optimum value: a shift ``s`` is drawn from
    ``np.random.default_rng(child_seed(seed, "shift"))``, each coordinate uniform in
    ``[-0.2 w, 0.2 w]`` (``w`` the domain width) intersected with ``[low - x*, high - x*]`` so
    the shifted optimum ``x* + s`` stays inside the domain. The instance evaluates
    ``f(reflect(x - s))``, where ``reflect`` folds every coordinate back into ``[low, high]``
    at the boundary (a triangle wave of period ``2 w``). ``reflect`` is a continuous map of the
    domain into itself, so the published formula is only ever evaluated on its published
    domain and the instance can never go below the published optimum (which holds for the
    box only: Michalewicz, for one, reaches lower values outside ``[0, π]``); and it is the
    identity on the shifted-back box, so ``f(reflect(x* + s - s)) = f(x*)``.
    ``problem.optimum.location`` is the instance's location ``x* + s``.

Rotated variants (``<function>-<d>d-rot``)
    The scalable functions are separable or nearly so, and always axis-aligned: a search that
    moves one coordinate at a time (coordinate descent) exploits that and ranks above methods
    that do not assume it, which is why COCO/BBOB rotates most of its functions. Every
    ``<function>-<d>d`` therefore also exists as ``<function>-<d>d-rot``, turned about the
    instance's optimum ``c = x* + s`` by an orthogonal matrix ``R`` (det +1) drawn by
    ``scipy.stats.special_ortho_group`` with ``np.random.default_rng(child_seed(seed,
    "rotation"))``; ``seed=None`` (the canonical instance, unshifted) uses ``child_seed(0,
    "rotation")``, the same convention as the noise stream, so it is rotated too. The
    instance evaluates ``f(reflect(x* + R (x - c)))``, with ``reflect`` the unshifted fold
    into ``[low, high]``: a rotated box sticks out of the box, and the fold brings every
    point back onto the published domain, so the formula is again only evaluated there. Hence
    ``f >= f(x*)`` everywhere (the fold's image is the box, on which ``f(x*)`` is the minimum)
    and ``f(c) = f(x*)`` (``reflect`` is the identity at ``x*``): the optimum value is the
    unrotated one for every function, ``optimum.location`` is ``c``, inside the domain. No
    function's rotated optimum differs from its unrotated one; without the fold Michalewicz
    would (it is lower outside ``[0, π]``, where rotated points land), and the others would
    be evaluated off their published domain. Other points may fold onto ``x*`` and reach the
    same value (the fold is many-to-one), never a lower one. The map is continuous, with kinks
    where a rotated point crosses a face; folds and faces add local minima, so every rotated
    variant is tagged ``multimodal`` (Rosenbrock-2d-rot has minima on the faces and, for
    some seeds, a mirror image of its optimum with the same value).
    ``tests/problems/test_rotated.py`` checks the value at ``c`` and that no value over
    random, near-optimum and face points falls below it.
    Unrotated scalable problems carry the tag ``axis-aligned`` (and ``separable`` where
    ``f(x) = Σ fᵢ(xᵢ)``: Rastrigin, Levy, Styblinski-Tang, Michalewicz; Ackley, Griewank and
    Rosenbrock couple their coordinates though they stay axis-aligned); rotated ones
    ``rotated``. Integer coordinates cannot be rotated (the mixed variants are not).

Noisy variants (``<name>-noisy``)
    ``value = true_value + noise × scale × ε`` with ``ε ~ N(0, 1)`` drawn from
    ``np.random.default_rng(child_seed(seed or 0, "noise"))`` (one stream per instance, so the
    same seed gives the same noise sequence; ``evaluate_batch`` draws the same stream as
    repeated ``evaluate`` calls). ``scale`` is the function's typical gap above its optimum
    (``synthetic_functions.SCALES``: median over the domain minus the optimum) and ``noise``
    the setting (default 0.02). ``true_value`` is noise-free. Computing the fingerprint does
    not consume noise.

Capabilities
    ``"vectorized"``: ``evaluate_batch`` evaluates all configs in one array pass.
    ``"hypergradient"``: with ``ctx.want_grad`` the record's ``grad`` maps each active ``Float``
    parameter to d true_value / d (its unit-cube coordinate), by torch autograd (float64) on
    the same formula. The noise is additive and independent of the config, so this is also
    the gradient of the expected observed value.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hpbench.problem import EvalContext, Evaluation, Optimum, Problem
from hpbench.problems.synthetic.functions import SCALES, SPECS, Array, Spec, asx, instance_names
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Float, Int, Space, ValidConfig

#: largest shift of a seeded instance, as a fraction of each domain width
MAX_SHIFT = 0.2
#: default noise of the ``-noisy`` variants, as a fraction of ``SCALES[name]``
DEFAULT_NOISE = 0.02


class Fold:
    """``x -> reflect(x - shift)``: shift, then fold every coordinate back into [low, high].

    ``reflect`` is the triangle wave ``high - |w - ((y - low) mod 2w)|`` with ``w = high -
    low``: the identity on ``[low, high]``, mirrored at each boundary, continuous everywhere.
    Integer coordinates with integer bounds and shifts stay integers.
    """

    def __init__(self, low: Sequence[float], high: Sequence[float],
                 shift: Sequence[float]) -> None:
        low, high, shift = (np.asarray(a, dtype=float) for a in (low, high, shift))
        if not (low.shape == high.shape == shift.shape) or np.any(high <= low):
            raise ValueError(f"Fold: need low < high and shapes that agree, got low={low}, "
                             f"high={high}, shift={shift}")
        self.low, self.high, self.shift = low, high, shift
        self._width = high - low
        self._period = 2 * self._width
        self._origin = shift + low
        self._rows = tuple(zip(self._origin.tolist(), self._period.tolist(),
                               self._width.tolist(), high.tolist()))

    def row(self, x: Sequence[float]) -> list[float]:
        """The same map on one point in plain Python floats: for d <= ~10 this is several
        times cheaper than numpy's per-call overhead, and IEEE arithmetic makes it bit-for-bit
        equal to ``__call__`` (Python's float ``%`` and numpy's ``remainder`` share the same
        fmod-then-adjust definition)."""
        return [h - abs(w - (v - o) % p) for v, (o, p, w, h) in zip(x, self._rows)]

    def __call__(self, X: Array, xp: Any) -> Array:
        if xp is np:  # the hot path of single evaluations: no conversions
            return self.high - np.abs(self._width - (X - self._origin) % self._period)
        t = (X - asx(self._origin, X, xp)) % asx(self._period, X, xp)
        return asx(self.high, X, xp) - xp.abs(asx(self._width, X, xp) - t)


def draw_shift(rng: np.random.Generator, x_opt: Sequence[float], low: Sequence[float],
               high: Sequence[float], integer: Sequence[bool] | None = None) -> np.ndarray:
    """A shift ``s`` with ``|s| <= MAX_SHIFT * width`` and ``low <= x_opt + s <= high``.

    Integer coordinates get whole steps (their ``x_opt``, ``low``, ``high`` must be integers).
    One uniform draw per coordinate, so the stream does not depend on which are integers.
    """
    x_opt, low, high = (np.asarray(a, dtype=float) for a in (x_opt, low, high))
    width = high - low
    a = np.maximum(-MAX_SHIFT * width, low - x_opt)
    b = np.minimum(MAX_SHIFT * width, high - x_opt)
    u = rng.random(len(x_opt))
    shift = a + u * (b - a)
    if integer is not None:
        ints = np.asarray(integer, dtype=bool)
        lo_i, hi_i = np.ceil(a), np.floor(b)
        shift[ints] = np.minimum(hi_i, lo_i + np.floor(u * (hi_i - lo_i + 1)))[ints]
    return shift


class SyntheticBase(Problem):
    """Shared machinery: array evaluation, noise, batches, hypergradients, fingerprint.

    Subclasses implement ``_values(X, xp)`` (noise-free values of the rows of ``X``, the
    encoded configs) and, if a config is not just its values in space order, ``_encode``.
    """

    capabilities = frozenset({"vectorized", "hypergradient"})
    #: the seeded instance's shift of the encoded coordinates it moves (None canonically)
    shift: np.ndarray | None = None

    def __init__(self, space: Space, *, seed: int | None, name: str, optimum: Optimum,
                 tags: Sequence[str], noise: float = 0.0, scale: float = 0.0) -> None:
        super().__init__(space, seed=seed, name=name, optimum=optimum, tags=tags)
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"{name}: noise must be a finite fraction >= 0, got {noise!r}")
        self._names = space.names
        self._floats = [(n, i, p) for i, (n, p) in enumerate(space.items())
                        if isinstance(p, Float)]
        self.noise = float(noise)
        self.noise_std = float(noise) * float(scale)
        self._noise_rng = (np.random.default_rng(child_seed(seed or 0, "noise"))
                           if self.noise_std > 0 else None)

    # subclasses ---------------------------------------------------------------
    def _values(self, X: Array, xp: Any) -> Array:
        raise NotImplementedError

    def _encode(self, config: Mapping[str, Any]) -> list[float]:
        return [config[n] for n in self._names]

    def _single(self, config: Mapping[str, Any]) -> float:
        """The noise-free value of one config (subclasses may take a faster path)."""
        return float(self._values(np.array([self._encode(config)]), np)[0])

    # evaluation ---------------------------------------------------------------
    def evaluate(self, config: Mapping[str, Any], *, fidelity: float | None = None,
                 ctx: EvalContext | None = None) -> Evaluation:
        # overrides Problem.evaluate only to save its wrapper call on this hot path; a config
        # the runner validated already (a ValidConfig of this space) needs no call at all
        if fidelity is not None or type(config) is not ValidConfig or \
                config.space is not self.space:
            config, _ = self.checked(config, fidelity)
        true = self._single(config)
        value = true if self._noise_rng is None else \
            true + self.noise_std * self._noise_rng.standard_normal()
        if ctx is not None and ctx.want_grad:
            return Evaluation(value, true, grad=self.hypergradient(config))
        return Evaluation(value, true)

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        return self.evaluate(config, fidelity=fidelity, ctx=ctx)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        """All configs in one vectorized pass (noise drawn in order from the same stream)."""
        _, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        n = len(configs)
        if n == 0:
            return []
        X = np.array([self._encode(c) for c in configs], dtype=float)
        true = self._values(X, np)
        value = true if self._noise_rng is None else \
            true + self.noise_std * self._noise_rng.standard_normal(n)
        return [Evaluation(v, t, grad=self.hypergradient(c) if x is not None and x.want_grad
                           else None)
                for v, t, c, x in zip(value.tolist(), true.tolist(), configs, ctxs)]

    def hypergradient(self, config: Mapping[str, Any]) -> dict[str, float]:
        """d true_value / d unit-cube coordinate of each active ``Float`` (torch autograd)."""
        import torch

        row = torch.tensor(self._encode(config), dtype=torch.float64)
        active = [(n, i, p) for n, i, p in self._floats if config.get(n) is not None]
        if not active:
            return {}
        u = torch.tensor([p.to_unit(config[n]) for n, _, p in active], dtype=torch.float64,
                         requires_grad=True)
        cols = list(row.unbind())
        for k, (_, i, p) in enumerate(active):
            if p.log:
                a, b = math.log(p.low), math.log(p.high)
                cols[i] = torch.exp(a + u[k] * (b - a))
            else:
                cols[i] = p.low + u[k] * (p.high - p.low)
        value = self._values(torch.stack(cols)[None], torch)[0]
        (grad,) = torch.autograd.grad(value, u)
        return {n: float(g) for (n, _, _), g in zip(active, grad.tolist())}

    # identity -------------------------------------------------------------------
    def describe(self) -> dict:
        out = super().describe()
        out["noise"] = {"fraction": self.noise, "std": self.noise_std}
        return out

    def fingerprint(self) -> str:
        # the fingerprint evaluates fixed points; it must not advance the noise stream the
        # optimizer will see
        if self._noise_rng is None:
            return super().fingerprint()
        state = self._noise_rng.bit_generator.state
        try:
            return super().fingerprint()
        finally:
            self._noise_rng.bit_generator.state = state


class SyntheticProblem(SyntheticBase):
    """A test function of ``synthetic_functions`` on its published box, optionally shifted
    (integer seed), rotated about its optimum (``rotate``), noisy (``noise > 0``) and with
    some coordinates restricted to the integers (``integer``: their indices; those become
    ``Int`` parameters)."""

    #: the rotation of a ``rotate=True`` instance (None otherwise)
    rotation: np.ndarray | None = None

    def __init__(self, spec: Spec, d: int, *, seed: int | None = None, noise: float = 0.0,
                 name: str | None = None, tags: Sequence[str] = (),
                 integer: Sequence[int] = (), rotate: bool = False) -> None:
        allowed = spec.dims or (spec.fixed_d,)
        if d not in allowed:
            raise ValueError(f"{spec.key}: dimension must be one of {allowed}, got d={d}")
        if rotate and len(integer):
            raise ValueError(f"{spec.key}: a rotated instance needs every coordinate "
                             f"continuous, got integer={list(integer)}")
        low, high = np.array(spec.lower(d), float), np.array(spec.upper(d), float)
        x_opt = np.array(spec.x_opt(d), float)
        is_int = np.zeros(d, dtype=bool)
        is_int[list(integer)] = True
        params: dict[str, Float | Int] = {}
        for i in range(d):
            if is_int[i]:
                if x_opt[i] != round(x_opt[i]):
                    raise ValueError(f"{spec.key}: integer coordinate x{i} needs an integer "
                                     f"optimum coordinate, got {x_opt[i]}")
                # the integer grid inside the box; it must contain the optimum
                low[i], high[i] = math.ceil(low[i]), math.floor(high[i])
                params[f"x{i}"] = Int(int(low[i]), int(high[i]))
            else:
                params[f"x{i}"] = Float(low[i], high[i])
        space = Space(params)
        self.spec, self.d = spec, d
        self._formula: Callable[[Array, Any], Array] = spec.formula
        self._fold: Fold | None = None
        location = x_opt
        source = spec.source
        if seed is not None:
            shift = draw_shift(np.random.default_rng(child_seed(seed, "shift")), x_opt, low,
                               high, is_int)
            self._fold = Fold(low, high, shift)
            self.shift = shift
            location = np.clip(x_opt + shift, low, high)
            source += f"; shifted by seed {seed} (f(reflect(x - s)), same value)"
        if rotate:
            self._rotate(low, high, x_opt, location, seed)
            source += (f"; rotated about the optimum by seed {seed or 0} "
                       "(f(reflect(x* + R (x - c))), same value)")
        loc = {f"x{i}": (round(float(v)) if is_int[i] else float(v))
               for i, v in enumerate(location)}
        name = name or (spec.key if not spec.dims else f"{spec.key}-{d}d")
        super().__init__(space, seed=seed, name=name,
                         optimum=Optimum(spec.f_opt(d), loc, source, kind="exact"), tags=tags,
                         noise=noise, scale=SCALES.get(f"{spec.key}-{d}d", SCALES.get(spec.key,
                                                                                     0.0)))

    def _rotate(self, low: np.ndarray, high: np.ndarray, x_opt: np.ndarray,
                centre: np.ndarray, seed: int | None) -> None:
        """Evaluate ``f(reflect(x* + R (x - centre)))`` from now on (module docstring)."""
        from scipy.stats import special_ortho_group

        rng = np.random.default_rng(child_seed(seed or 0, "rotation"))
        self.rotation = np.ascontiguousarray(special_ortho_group.rvs(self.d, random_state=rng))
        self._centre, self._x_opt = np.asarray(centre, float), x_opt
        # the shift is in the centre already: fold the rotated point with no shift
        self._fold = Fold(low, high, np.zeros(self.d))

    def _values(self, X: Array, xp: Any) -> Array:
        if self.rotation is not None:
            # R (x - c) row by row as a sum over the last axis, not a matmul: BLAS may round
            # a batch differently from one row, and batch values must equal single ones
            D = X - asx(self._centre, X, xp)
            X = asx(self._x_opt, X, xp) + (D[:, None, :] * asx(self.rotation, X, xp)).sum(-1)
        if self._fold is not None:
            X = self._fold(X, xp)
        return self._formula(X, xp)

    def _single(self, config: Mapping[str, Any]) -> float:
        if self.rotation is not None:
            return SyntheticBase._single(self, config)
        row = [config[n] for n in self._names]
        if self._fold is not None:
            row = self._fold.row(row)
        return float(self._formula(np.array([row]), np)[0])


# --------------------------------------------------------------------------- registry

#: scalable functions that are sums of one-coordinate terms, ``f(x) = Σ fᵢ(xᵢ)``
SEPARABLE = frozenset({"rastrigin", "levy", "styblinski-tang", "michalewicz"})


def tags_for(spec: Spec, d: int, *extra: str, rotated: bool = False) -> tuple[str, ...]:
    kind: tuple[str, ...] = ()
    if spec.dims:
        kind = ("scalable", "rotated") if rotated else \
            ("scalable", "axis-aligned", *(("separable",) if spec.key in SEPARABLE else ()))
    # the fold of a rotated box adds local minima on the faces (module docstring)
    modality = "multimodal" if rotated else spec.modality(d)
    return ("synthetic", "continuous", modality, *kind, f"{d}d", *extra)


def _describe(spec: Spec, d: int, extra: str = "") -> str:
    low, high = spec.lower(d), spec.upper(d)
    box = f"[{low[0]:g}, {high[0]:g}]^{d}" if len(set(low)) == 1 and len(set(high)) == 1 else \
        " × ".join(f"[{lo:g}, {hi:g}]" for lo, hi in zip(low, high))
    return f"{spec.title} ({d}-D) on {box}, minimum {spec.f_opt(d):.6g}{extra}"


def _register(spec: Spec, name: str, d: int, rotate: bool = False) -> None:
    tags = tags_for(spec, d, rotated=rotate)

    def factory(seed: int | None = None) -> SyntheticProblem:
        return SyntheticProblem(spec, d, seed=seed, name=name, tags=tags, rotate=rotate)

    factory.__qualname__ = factory.__name__ = f"SyntheticProblem[{name}]"
    extra = "; rotated about its optimum by a seeded orthogonal matrix" if rotate else ""
    register_problem(name, factory, description=_describe(spec, d, extra), tags=tags)


def _register_noisy(spec: Spec, base: str, d: int) -> None:
    name = f"{base}-noisy"
    tags = tags_for(spec, d, "noisy")

    def factory(seed: int | None = None, noise: float = DEFAULT_NOISE) -> SyntheticProblem:
        return SyntheticProblem(spec, d, seed=seed, noise=noise, name=name, tags=tags)

    factory.__qualname__ = factory.__name__ = f"SyntheticProblem[{name}]"
    register_problem(name, factory, tags=tags, settings={"noise": DEFAULT_NOISE},
                     description=_describe(spec, d, f"; Gaussian noise, std = noise × "
                                                    f"{SCALES[base]:g} (typical gap)"))


#: names that also get a ``-noisy`` variant
NOISY = ("branin", "hartmann3", "hartmann6", "ackley-5d", "rosenbrock-5d", "levy-5d")

for _spec in SPECS.values():
    for _name, _d in instance_names(_spec):
        _register(_spec, _name, _d)
        if _spec.dims:
            _register(_spec, f"{_name}-rot", _d, rotate=True)
        if _name in NOISY:
            _register_noisy(_spec, _name, _d)
