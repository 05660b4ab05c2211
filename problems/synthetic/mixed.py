"""Mixed-variable synthetic problems with an exactly known optimum.

* ``mixed-ackley-5d`` — Ackley 5-D with x0…x2 ``Float`` on [−32.768, 32.768] and x3, x4 ``Int``
  on [−32, 32] (a unit grid that contains the optimum 0). A seed shifts the floats as in
  ``surfaces`` and the integers by whole grid steps, folded back at the grid ends.
  Optimum 0: Ackley ≥ 0 everywhere (−20 e^(−0.2 r) ≥ −20 and −e^(mean cos) ≥ −e) with
  equality only at the origin, which the shifted location reaches exactly.
* ``mixed-hartmann6-cat`` — Hartmann 6-D on x0…x5 plus ``variant`` ∈ {a, b, c, d}. Each
  choice mirrors a fixed set of coordinates (x → 1 − x; a: none, b: all, c: even, d: odd)
  and adds an offset from (0, 0.25, 0.5, 1.0); canonically ``a`` gets 0, a seed permutes the
  offsets (so which choice is best) and shifts x as in ``surfaces``. Optimum
  −3.32237 (Hartmann6's published one): mirroring and reflecting map [0, 1]⁶ onto itself,
  so every choice is ≥ f* + its offset, and the zero-offset choice reaches f* exactly.
* ``mixed-branin-camel-cond`` — a tree-structured space: ``model`` ∈ {branin, camel};
  b0, b1 (Branin's box) are active only for branin, c0, c1 (six-hump camel's box) only for
  camel. value = Branin(b) or camel(c) + 1.5. Optimum 5/(4π) ≈ 0.397887 on the branin branch:
  the camel branch is ≥ −1.0316 + 1.5 = 0.4684. A seed shifts both branches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hpbench.problem import Optimum
from hpbench.problems.synthetic.functions import (
    SPECS,
    Array,
    asx,
    branin,
    hartmann6,
    six_hump_camel,
)
from hpbench.problems.synthetic.surfaces import Fold, SyntheticBase, SyntheticProblem, draw_shift
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Categorical, Float, Space

# ----------------------------------------------------------------- mixed-ackley-5d

_ACKLEY_TAGS = ("synthetic", "mixed", "integer", "multimodal", "5d")


@register_problem("mixed-ackley-5d", tags=_ACKLEY_TAGS,
                  description="Ackley 5-D with x3, x4 integers on [-32, 32], minimum 0")
def mixed_ackley_5d(seed: int | None = None) -> SyntheticProblem:
    """Ackley 5-D with two integer coordinates (see the module docstring)."""
    return SyntheticProblem(SPECS["ackley"], 5, seed=seed, name="mixed-ackley-5d",
                            tags=_ACKLEY_TAGS, integer=(3, 4))


# ----------------------------------------------------------------- mixed-hartmann6-cat

class MixedHartmann6Cat(SyntheticBase):
    """Hartmann 6-D plus a categorical choosing a mirror and an offset (module docstring)."""

    CHOICES = ("a", "b", "c", "d")
    MIRRORS = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1],
                        [1, 0, 1, 0, 1, 0], [0, 1, 0, 1, 0, 1]], dtype=float)
    OFFSETS = (0.0, 0.25, 0.5, 1.0)
    TAGS = ("synthetic", "mixed", "categorical", "multimodal", "7d")

    def __init__(self, seed: int | None = None) -> None:
        spec = SPECS["hartmann6"]
        space = Space({**{f"x{i}": Float(0.0, 1.0) for i in range(6)},
                       "variant": Categorical(self.CHOICES)})
        order = np.arange(4) if seed is None else \
            np.random.default_rng(child_seed(seed, "choice")).permutation(4)
        self.offsets = np.array([self.OFFSETS[k] for k in order])
        best = int(np.argmin(self.offsets))
        mirror = self.MIRRORS[best]
        # the location whose mirrored image is Hartmann6's minimizer
        target = np.array(spec.x_opt(6))
        target = target + mirror * (1 - 2 * target)
        self._fold: Fold | None = None
        location = target
        if seed is not None:
            shift = draw_shift(np.random.default_rng(child_seed(seed, "shift")), target,
                               np.zeros(6), np.ones(6))
            self._fold = Fold(np.zeros(6), np.ones(6), shift)
            self.shift = shift
            location = np.clip(target + shift, 0.0, 1.0)
        loc: dict[str, Any] = {f"x{i}": float(v) for i, v in enumerate(location)}
        loc["variant"] = self.CHOICES[best]
        optimum = Optimum(spec.f_opt(6), loc, kind="exact",
                          source=f"Hartmann6's minimum with the zero-offset choice; "
                                 f"{spec.source}")
        self._levels = np.arange(4.0)
        self._ones = np.ones(4)
        super().__init__(space, seed=seed, name="mixed-hartmann6-cat", optimum=optimum,
                         tags=self.TAGS)

    def _encode(self, config: Mapping[str, Any]) -> list[float]:
        row = [config[f"x{i}"] for i in range(6)]
        row.append(self.space["variant"].index(config["variant"]))
        return row

    def _values(self, X: Array, xp: Any) -> Array:
        Y = X[:, :6]
        if self._fold is not None:
            Y = self._fold(Y, xp)
        # one-hot of the choice as arithmetic, so numpy and torch share it
        onehot = (X[:, 6:7] == asx(self._levels, X, xp)) * asx(self._ones, X, xp)
        mirror = onehot @ asx(self.MIRRORS, X, xp)
        return hartmann6(Y + mirror * (1.0 - 2.0 * Y), xp) + onehot @ asx(self.offsets, X, xp)


register_problem("mixed-hartmann6-cat", MixedHartmann6Cat, tags=MixedHartmann6Cat.TAGS,
                 description="Hartmann 6-D plus a categorical mirror/offset choice, "
                             "minimum -3.32237")


# ----------------------------------------------------------------- mixed-branin-camel-cond

class BraninCamelConditional(SyntheticBase):
    """A conditional space: Branin or six-hump camel (+1.5), each with its own parameters."""

    CAMEL_OFFSET = 1.5
    TAGS = ("synthetic", "mixed", "categorical", "conditional", "multimodal", "5d")

    def __init__(self, seed: int | None = None) -> None:
        b, c = SPECS["branin"], SPECS["six-hump-camel"]
        low = np.array(b.lower(2) + c.lower(2))
        high = np.array(b.upper(2) + c.upper(2))
        x_opt = np.array(b.x_opt(2) + c.x_opt(2))
        space = Space(
            model=Categorical(("branin", "camel")),
            b0=Float(low[0], high[0], condition=("model", "branin")),
            b1=Float(low[1], high[1], condition=("model", "branin")),
            c0=Float(low[2], high[2], condition=("model", "camel")),
            c1=Float(low[3], high[3], condition=("model", "camel")),
        )
        self._fold: Fold | None = None
        location = x_opt
        if seed is not None:
            shift = draw_shift(np.random.default_rng(child_seed(seed, "shift")), x_opt, low,
                               high)
            self._fold = Fold(low, high, shift)
            self.shift = shift
            location = np.clip(x_opt + shift, low, high)
        # inactive parameters are encoded at their box centre: finite, so no NaN can reach
        # the unused branch of the where() (or its gradient)
        self._centre = (low + high) / 2
        loc = {"model": "branin", "b0": float(location[0]), "b1": float(location[1])}
        optimum = Optimum(b.f_opt(2), loc, kind="exact",
                          source=f"Branin's minimum (camel branch ≥ {c.f_opt(2) + 1.5:.4f}); "
                                 f"{b.source}")
        super().__init__(space, seed=seed, name="mixed-branin-camel-cond", optimum=optimum,
                         tags=self.TAGS)

    def _encode(self, config: Mapping[str, Any]) -> list[float]:
        row = [0.0 if config["model"] == "branin" else 1.0]
        for k, n in enumerate(("b0", "b1", "c0", "c1")):
            v = config.get(n)
            row.append(self._centre[k] if v is None else v)
        return row

    def _values(self, X: Array, xp: Any) -> Array:
        Z = X[:, 1:]
        if self._fold is not None:
            Z = self._fold(Z, xp)
        return xp.where(X[:, 0] == 0.0, branin(Z[:, :2], xp),
                        six_hump_camel(Z[:, 2:], xp) + self.CAMEL_OFFSET)


register_problem("mixed-branin-camel-cond", BraninCamelConditional,
                 tags=BraninCamelConditional.TAGS,
                 description="Branin or six-hump camel (+1.5) chosen by a categorical, "
                             "conditional parameters, minimum 0.397887")
