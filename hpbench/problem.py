"""The problem contract: a minimized objective over a ``Space``.

A problem is built for one seed (``None`` gives the canonical, published function) and
returns an ``Evaluation`` per config. Optional capabilities are declared in
``capabilities`` — never guessed by the runner:

* ``"fidelity"``: ``evaluate(..., fidelity=f)`` with ``f`` in ``problem.fidelity``;
* ``"checkpoint"``: an evaluation can continue from the state saved by an earlier trial
  (``ctx.resume_from``), paying only for the increment;
* ``"hypergradient"``: ``ctx.want_grad`` makes the record carry ``grad``, the gradient of the
  value with respect to the continuous hyperparameters in unit-cube coordinates;
* ``"vectorized"``: ``evaluate_batch`` evaluates many configs in one pass.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpbench.space import InvalidConfig, Space

CAPABILITIES = frozenset({"fidelity", "checkpoint", "hypergradient", "vectorized"})


@dataclass(frozen=True)
class Optimum:
    """A known optimum: its value, one location (None where only the value is known), source."""

    value: float
    location: Mapping[str, Any] | None = None
    source: str = ""
    kind: str = "exact"  # "exact" (published) or "best-known" (found by a long search)


def check_eta(eta: Any) -> float:
    """The reduction factor η of a fidelity ladder (``Fidelity.ladder``) as a float > 1."""
    if isinstance(eta, bool) or not isinstance(eta, int | float) or not eta > 1 \
            or not math.isfinite(eta):
        raise ValueError(f"eta must be a number > 1, got {eta!r}")
    return float(eta)


@dataclass(frozen=True)
class Fidelity:
    """A fidelity range (e.g. epochs, fraction of data); ``high`` is full fidelity."""

    low: float
    high: float
    name: str = "fidelity"
    integer: bool = False

    def __post_init__(self) -> None:
        if not (0 < self.low < self.high):
            raise ValueError(f"Fidelity: need 0 < low < high, got low={self.low}, "
                             f"high={self.high}")

    def ladder(self, eta: float, min_fidelity: float | None = None) -> list[float]:
        """Fidelities ``high · η^{-k}`` for ``k = s_max … 0`` (increasing), ``s_max =
        ⌊log_η R⌋`` with ``R = high / min_fidelity`` (Li et al. 2017: resources ``R η^{-s}``):
        the rungs successive halving, Hyperband, ASHA and BOHB evaluate at, and the levels
        a surrogate recording covers (``problems/surrogate/record.py``).

        ``min_fidelity`` defaults to ``low``. Integer fidelities (epochs) are rounded to the
        nearest integer within ``[low, high]``; rounding can make two rungs equal, which is
        kept (a bracket must have its rungs): choose ``min_fidelity`` so it does not happen.
        """
        eta = check_eta(eta)
        low = self.low if min_fidelity is None else float(min_fidelity)
        if not (self.low <= low < self.high):
            raise ValueError(f"min_fidelity must be in [{self.low}, {self.high}), "
                             f"got {min_fidelity!r}")
        # the tolerance absorbs log_η(R) just below an integer (1/27 · 27 is not exactly 1)
        s_max = math.floor(math.log(self.high / low) / math.log(eta) + 1e-9)
        out = []
        for k in range(s_max, -1, -1):
            f = self.high * eta ** (-k)
            if self.integer:
                f = float(round(f))
            # the clip only absorbs rounding (high · η^{-s_max} >= low by the choice of s_max)
            out.append(float(min(self.high, max(self.low, f))))
        out[-1] = float(self.high)
        return out

    def check(self, value: float) -> float:
        if not (self.low <= value <= self.high):
            raise ValueError(f"fidelity must be in [{self.low}, {self.high}], got {value}")
        if self.integer and value != int(value):
            raise ValueError(f"fidelity {self.name} must be an integer, got {value}")
        return float(value)


@dataclass
class Evaluation:
    """What one evaluation returns.

    ``value`` is what the optimizer sees; ``true_value`` is the noise-free value where known
    (defaults to ``value``); ``test_value`` is a score on data the optimizer never sees;
    ``cost`` is in the problem's own units (epochs, seconds, …; 1 by default);
    ``cost_fe``, when set, overrides the full-fidelity-equivalent cost the runner would derive
    (a hypergradient costs more than a plain evaluation). ``info`` holds free-form extras
    (e.g. captured warnings) stored as JSON. ``seconds`` is the *modelled* duration of the
    evaluation in seconds: a problem that knows its duration deterministically (a
    surrogate or tabulated benchmark, which returns the time a real evaluation took instead
    of spending it) sets it, and the simulated parallel clock (``--sim-workers``,
    ``hpbench.simclock``) uses it; None (the default) means unknown, and the simulator then
    uses the measured evaluation time.
    """

    value: float
    true_value: float | None = None
    test_value: float | None = None
    cost: float = 1.0
    cost_fe: float | None = None
    grad: Mapping[str, float] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None

    def __post_init__(self) -> None:
        if self.true_value is None:
            self.true_value = self.value


@dataclass
class EvalContext:
    """Per-evaluation context the runner passes to problems that declare capabilities."""

    trial: int = 0
    scratch: Path | None = None
    resume_from: int | None = None
    want_grad: bool = False


class Problem:
    """Base class of all problems. Subclasses set ``space`` and implement ``_evaluate``.

    Problems are always minimized.
    """

    name: str = ""
    optimum: Optimum | None = None
    fidelity: Fidelity | None = None
    tags: tuple[str, ...] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset()
    #: number of fixed points evaluated for the fingerprint (0 for expensive problems, which
    #: then fingerprint their data and definition instead)
    fingerprint_points: ClassVar[int] = 3

    def __init__(self, space: Space, *, seed: int | None = None, name: str | None = None,
                 optimum: Optimum | None = None, fidelity: Fidelity | None = None,
                 tags: Sequence[str] | None = None) -> None:
        self.space = space
        self.seed = seed
        if name is not None:
            self.name = name
        if optimum is not None:
            self.optimum = optimum
        if fidelity is not None:
            self.fidelity = fidelity
        if tags is not None:
            self.tags = tuple(tags)
        unknown = set(self.capabilities) - CAPABILITIES
        if unknown:
            raise ValueError(f"{type(self).__name__}: unknown capabilities {sorted(unknown)}; "
                             f"allowed: {sorted(CAPABILITIES)}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} seed={self.seed}>"

    def evaluate(self, config: Mapping[str, Any], *, fidelity: float | None = None,
                 ctx: EvalContext | None = None) -> Evaluation:
        """Evaluate ``config`` (at ``fidelity``; None means full fidelity).

        A config outside the space (a missing or unknown parameter, a value out of range, NaN)
        raises ``InvalidConfig``, a ``ValueError`` that names the parameter and its range; so
        does a fidelity outside the problem's range. (Subclasses implement ``_evaluate``,
        which gets the config checked and with plain Python values.)"""
        config, fidelity = self.checked(config, fidelity)
        result = self._evaluate(config, fidelity=fidelity, ctx=ctx)
        if not isinstance(result, Evaluation):
            result = Evaluation(value=float(result))
        return result

    def checked(self, config: Mapping[str, Any], fidelity: float | None
                ) -> tuple[dict[str, Any], float | None]:
        """``config`` and ``fidelity`` validated (see ``evaluate``)."""
        config = self.space.validate(config)
        if fidelity is not None:
            if self.fidelity is None:
                raise InvalidConfig(f"{self.name} has no fidelity, got fidelity={fidelity!r}")
            try:
                fidelity = self.fidelity.check(fidelity)
            except (TypeError, ValueError) as exc:
                raise InvalidConfig(f"{self.name}: {exc}") from None
        return config, fidelity

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation | float:
        raise NotImplementedError

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        """Evaluate many configs; problems with the "vectorized" capability override this."""
        fidelities, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        return [self.evaluate(c, fidelity=f, ctx=x) for c, f, x in zip(configs, fidelities, ctxs)]

    def batch_arguments(self, configs: Sequence[Mapping[str, Any]],
                        fidelities: Sequence[float | None] | None = None,
                        ctxs: Sequence[EvalContext | None] | None = None
                        ) -> tuple[list[float | None], list[EvalContext | None]]:
        """``evaluate_batch``'s fidelities and contexts, one of each per config (None where
        not given). A length that does not match, or a fidelity for a problem without one,
        is a ValueError naming what was given; every ``evaluate_batch`` starts here."""
        n = len(configs)
        fidelities = [None] * n if fidelities is None else list(fidelities)
        ctxs = [None] * n if ctxs is None else list(ctxs)
        if len(fidelities) != n or len(ctxs) != n:
            raise ValueError(f"evaluate_batch: need one fidelity and one context per config, "
                             f"got {n} configs, {len(fidelities)} fidelities, {len(ctxs)} "
                             f"contexts")
        if self.fidelity is None and any(f is not None for f in fidelities):
            raise ValueError(f"{self.name} has no fidelity, got fidelities={fidelities}")
        return fidelities, ctxs

    def cleanup(self, scratch: Path | None) -> None:
        """Called when a cell finishes (remove checkpoints and the like)."""

    def describe(self) -> dict:
        return {
            "name": self.name,
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "seed": self.seed,
            "space": self.space.describe(),
            "optimum": None if self.optimum is None else {
                "value": self.optimum.value, "kind": self.optimum.kind,
                "source": self.optimum.source},
            "fidelity": None if self.fidelity is None else [self.fidelity.low,
                                                           self.fidelity.high],
            "capabilities": sorted(self.capabilities),
        }

    def fingerprint(self) -> str:
        """A short hash that changes when the problem instance changes.

        It covers the definition and, for cheap problems, the values at fixed points of the
        space (drawn with a fixed generator), so a changed formula is caught too.
        """
        payload: dict[str, Any] = {"definition": self.describe()}
        if self.fingerprint_points:
            rng = np.random.default_rng(20240601)
            values = []
            for config in self.space.sample(rng, self.fingerprint_points):
                v = self.evaluate(config).true_value
                values.append(None if v is None or not math.isfinite(v) else float(v))
            payload["values"] = [None if v is None else float(f"{v:.12g}") for v in values]
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.blake2b(blob, digest_size=8).hexdigest()
