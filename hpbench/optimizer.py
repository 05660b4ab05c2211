"""The optimizer contract: ``ask(n)`` and ``tell(observations)``, nothing else required.

A minimal optimizer::

    from hpbench import Optimizer, register_optimizer

    @register_optimizer("my-random", description="uniform samples")
    class MyRandom(Optimizer):
        def ask(self, n):
            return [self.space.sample(self.rng) for _ in range(n)]

        def tell(self, observations):
            pass

``ask`` may return plain config dicts or ``Suggestion`` objects (which add a fidelity, a
checkpoint to resume from, or a request for a hypergradient). ``tell`` receives one
``Observation`` per evaluated suggestion, failed ones included (``ok`` is False, ``value``
is NaN).

Settings are declared, not checked by hand: ``settings`` holds the defaults (any other key is
refused) and ``choices`` the allowed values of the settings that take one of a fixed list.
Both are checked in one place, ``check_settings``, which the constructor calls and which a
suite loader can call before building anything::

    class MyOptimizer(Optimizer):
        label = "my-opt"
        settings = {"kernel": "rbf", "restarts": 3}
        choices = {"kernel": ("rbf", "matern")}
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hpbench.budget import Budget
from hpbench.problem import Fidelity
from hpbench.space import Space


@dataclass(slots=True)
class Suggestion:
    """A config to evaluate, plus the optional fields later optimizer families need.

    ``fidelity`` None means full fidelity. ``resume_from`` names the trial whose checkpoint
    to continue (Hyperband continues the same config, PBT another member's with a changed
    config). ``want_grad`` asks the problem for a hypergradient. ``tag`` is the optimizer's
    own bookkeeping (e.g. a bracket or member id), handed back in the observation.
    """

    config: Mapping[str, Any]
    fidelity: float | None = None
    resume_from: int | None = None
    want_grad: bool = False
    tag: Any = None


@dataclass(slots=True)
class Observation:
    """The result of one suggestion, handed back to ``tell``."""

    suggestion: Suggestion
    trial: int
    value: float  # NaN when the trial failed
    status: str  # "ok", "failed" or "timeout"
    cost: float = 1.0  # full-fidelity-equivalent cost charged to the budget
    grad: Mapping[str, float] | None = None
    error: str = ""
    extra: Mapping[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def config(self) -> Mapping[str, Any]:
        return self.suggestion.config

    @property
    def fidelity(self) -> float | None:
        return self.suggestion.fidelity


class Optimizer:
    """Base class of all optimizers.

    Constructor: ``(space, *, seed, budget, fidelity=None, **settings)``. It builds one private
    ``numpy.random.Generator`` from ``seed`` (``self.rng``) and never touches global random
    state. Class attributes:

    * ``requires``: capabilities a problem must declare ("fidelity", "checkpoint",
      "hypergradient"); on problems lacking one the runner records "not-applicable";
    * ``batch_size``: how many suggestions the runner should ask for at once by default
      (a population-based method sets its generation size);
    * ``settings``: the default settings; ``**settings`` given to the constructor must be
      among these keys;
    * ``choices``: for a setting whose value must be one of a fixed list, that list (setting
      name -> allowed values); the resolved settings (``self.config``) stay plain values;
    * ``label``: how error messages name the optimizer (its registered name; not inherited;
      the class name when unset);
    * ``problem_capabilities``: set by the runner (see below);
    * ``supports_batch``: False when ``ask(n)`` cannot give n useful configs at once; under
      ``--batch q`` the runner then builds rounds with ``batch_fallback``: "constant-liar"
      (the generic strategy of ``hpbench.batching``) or "sequential" (one config per round);
    * ``picklable``: False when the optimizer holds what cannot be pickled (a live Python
      generator, a library object); the conformance suite checks that an optimizer pickles
      mid-run and goes on identically, or that one declaring False indeed cannot;
    * ``conformance_settings``: the settings the conformance suite (``hpbench.testing``)
      runs the optimizer with when it is given none: smaller inner loops of an expensive
      optimizer (fewer acquisition restarts, fewer Monte-Carlo samples), never another code
      path, so that every registered optimizer is checked in seconds and none is skipped;
    * ``synchronous``: True when the optimizer hands out its suggestions in rounds (a
      generation, a rung of a bracket, one step of a sequential search) and can suggest
      anything of the next round only after every suggestion of the current one was told.
      The simulated parallel clock (``--sim-workers K``, ``hpbench.simclock``) asks such an
      optimizer only when none of its trials is pending, for its whole round at once, and
      lets free workers idle until the round completes, as a synchronous method does on a
      real cluster. False (the default): asynchronous, asked whenever a worker is free, with
      the pending trials untold (random search, TPE, GP-BO, ASHA).
    """

    requires: ClassVar[frozenset[str]] = frozenset()
    batch_size: int = 1
    settings: ClassVar[Mapping[str, Any]] = {}
    choices: ClassVar[Mapping[str, Collection[Any]]] = {}
    label: ClassVar[str] = ""
    #: the capabilities of the problem being optimized, set by the runner before the first
    #: ``ask`` (None when unknown, e.g. an optimizer driven by hand). It lets an optimizer use
    #: a capability it does not require: Hyperband resumes from checkpoints where it can.
    problem_capabilities: frozenset[str] | None = None
    supports_batch: ClassVar[bool] = True
    batch_fallback: ClassVar[str] = "constant-liar"
    picklable: ClassVar[bool] = True
    conformance_settings: ClassVar[Mapping[str, Any]] = {}
    synchronous: ClassVar[bool] = False

    def __init__(self, space: Space, *, seed: int | None, budget: Budget | int | float,
                 fidelity: Fidelity | None = None, **settings: Any) -> None:
        self.space = space
        self.seed = seed
        self.budget = budget if isinstance(budget, Budget) else Budget(float(budget))
        self.fidelity = fidelity
        self.rng = np.random.default_rng(seed)
        self.config = _resolve(type(self), _label(type(self)), settings)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for what, names in (("choices", cls.choices),
                            ("conformance_settings", cls.conformance_settings)):
            stray = set(names) - set(cls.settings)
            if stray:  # a declaration error: fail at import, not when someone picks a value
                raise TypeError(f"{cls.__qualname__}: {what} for undeclared setting(s) "
                                f"{sorted(stray)}; settings: {sorted(cls.settings)}")

    def ask(self, n: int) -> Sequence[Mapping[str, Any] | Suggestion]:
        raise NotImplementedError

    def tell(self, observations: Sequence[Observation]) -> None:
        raise NotImplementedError

    def recommend(self) -> int | None:
        """Optional hook: the trial (its number, as ``Observation.trial``) whose config the
        optimizer would return if stopped now, or None for no opinion.

        The runner asks after every ``tell`` and records the answer (trial column
        ``incumbent``); the analysis scores that config's true value (incumbent regret). It
        must name a trial told so far that ended ok, at full fidelity on a problem with a
        fidelity, and must not change what the optimizer asks next. Without an override
        the runner never calls it, and the analysis takes the best observed full-fidelity
        value. Override it where the method has a better answer than that (a model's
        lowest posterior mean on a noisy problem).
        """
        return None

    def describe(self) -> dict:
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}",
                "settings": dict(self.config)}


def recommender(optimizer: Any) -> Any:
    """``optimizer.recommend`` when its class overrides the base's, else None (the runner
    then never calls it: no cost per trial for the optimizers without the hook)."""
    hook = getattr(type(optimizer), "recommend", None)
    if hook is None or hook is Optimizer.recommend:
        return None
    return optimizer.recommend


def check_settings(optimizer: type[Optimizer] | str, settings: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` if building ``optimizer`` with ``settings`` would refuse them: an
    unknown key, or a value outside a setting's declared ``choices``. Nothing is built.

    ``optimizer`` is an ``Optimizer`` subclass or a registered name; a name also checks the
    registry entry's fixed settings under it, as ``make_optimizer`` passes them, and messages
    name the optimizer by it. Factories that are not ``Optimizer`` subclasses declare
    nothing, so nothing is checked for them.
    """
    if isinstance(optimizer, str):
        from hpbench.registry import get_entry

        entry = get_entry("optimizer", optimizer)
        cls, label, settings = entry.factory, optimizer, {**entry.settings, **settings}
    else:
        cls, label = optimizer, _label(optimizer)
    if isinstance(cls, type) and issubclass(cls, Optimizer):
        _resolve(cls, label, settings)


def _label(cls: type[Optimizer]) -> str:
    # only the class that declares a label goes by it: a subclass is registered by a name of
    # its own
    return vars(cls).get("label") or cls.__name__


def _resolve(cls: type[Optimizer], label: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The defaults updated with ``settings``, after checking both against the declarations."""
    unknown = set(settings) - set(cls.settings)
    if unknown:
        raise ValueError(f"{label}: unknown setting(s) {sorted(unknown)}; "
                         f"allowed: {sorted(cls.settings)}")
    config = {**cls.settings, **settings}
    for key, allowed in cls.choices.items():
        if config[key] not in allowed:
            raise ValueError(f"{label}: {key} must be one of {list(allowed)}, "
                             f"got {config[key]!r}")
    return config
