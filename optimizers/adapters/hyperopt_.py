"""Hyperopt's algorithms (Bergstra, Yamins & Cox 2013, "Making a Science of Model Search",
ICML) through its ``Trials`` + ``algo.suggest`` interface, step by step as ``fmin`` runs them.

``fmin`` loops: ``new_trial_ids`` → ``algo(new_ids, domain, trials, rstate.integers(2**31 -
1))`` → insert the returned trial documents → evaluate → mark them done → ``refresh``. This
adapter does the same, with the evaluation moved out to the runner, so
``fmin(f, space, algo, max_evals=n, rstate=np.random.default_rng(s))`` and this adapter with
seed ``s`` propose the same configs (``tests/optimizers/test_adapter_fidelity.py``).

Mapping of the space to ``hp.*`` (what a hyperopt user writes):

* ``Float`` → ``hp.uniform(low, high)``; with ``log=True`` → ``hp.loguniform(ln low, ln high)``;
* ``Int`` → ``hp.uniformint(low, high)``; with ``log=True`` → ``hp.qloguniform(ln low, ln high,
  q=1)`` cast to int;
* ``Categorical`` → ``hp.choice(choices)``;
* conditional parameters: a parameter that others depend on becomes an ``hp.choice`` whose
  branches hold the parameters its value activates, nested as deep as the conditions go
  (``hp.choice("kind", [{"kind": "a"}, {"kind": "b", "extra": hp.uniform(...)}])``). An ``Int``
  parent becomes a choice over its levels. Hyperopt labels must be unique, so a parameter
  that sits in several branches gets one label per branch (``"extra|kind=b"``).

Decoded values are clipped to the declared bounds: ``exp(ln low)`` can come out a rounding
error below ``low``. Failed trials are marked ``STATUS_FAIL``, hyperopt's own status for an
evaluation that produced no loss (TPE counts them as infinitely bad).

Batch asks (n > 1) call the algorithm once per suggestion with a fresh seed from the same
stream, each call seeing the earlier suggestions of the batch as pending trials (TPE counts
a pending trial as infinitely bad). ``fmin`` with ``max_queue_len=n`` behaves alike for TPE
after its start-up phase (its ``suggest`` returns one document per call, so ``fmin`` calls it
again), but would crash with annealing, whose ``suggest`` accepts only one id.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from hpbench import Optimizer, register_optimizer
from hpbench.optimizer import Observation, Suggestion
from hpbench.optimizers.adapters._common import library_seed
from hpbench.space import Categorical, Float, Int, Param, Space

#: entry setting -> hyperopt module whose ``suggest`` is the algorithm
ALGORITHMS = {"tpe": "hyperopt.tpe", "anneal": "hyperopt.anneal", "rand": "hyperopt.rand"}


def _levels(param: Param) -> list:
    if isinstance(param, Categorical):
        return list(param.choices)
    if isinstance(param, Int):
        return list(range(param.low, param.high + 1))
    raise ValueError(f"a condition parent must be Int or Categorical, got {param!r}")


class HyperoptSpace:
    """A ``Space`` as a hyperopt ``hp.*`` expression, and the way back from trial ``vals``.

    ``expr`` is a dict of parameter name → expression; a parameter with dependants maps to an
    ``hp.choice`` of dicts ``{name: value, child: expr, ...}``. ``decode(vals)`` turns a trial's
    ``misc["vals"]`` (label → [value] or []) into a config.
    """

    def __init__(self, space: Space) -> None:
        self.space = space
        self._children: dict[str, list[str]] = {n: [] for n in space}
        for name, param in space.items():
            if param.condition is not None:
                self._children[param.condition.parent].append(name)
        top = [n for n, p in space.items() if p.condition is None]
        # first pass: how many branches each parameter sits in, to keep labels unique
        self._count: dict[str, int] = dict.fromkeys(space, 0)
        self._walk(top, ())
        # label -> (name, decoder)
        self.labels: dict[str, tuple[str, Callable[[float], Any]]] = {}
        self.expr = self._build(top, ())

    def _active_kids(self, name: str, value: Any, path: tuple) -> list[str]:
        context = {**dict(path), name: value}
        active = set(self.space.active(context))
        return [k for k in self._children[name] if k in active]

    def _walk(self, names: list[str], path: tuple) -> None:
        for name in names:
            self._count[name] += 1
            if self._children[name]:
                for v in _levels(self.space[name]):
                    self._walk(self._active_kids(name, v, path), (*path, (name, v)))

    def _label(self, name: str, path: tuple) -> str:
        if self._count[name] == 1:
            return name
        return name + "".join(f"|{n}={v}" for n, v in path)

    def _build(self, names: list[str], path: tuple) -> dict[str, Any]:
        from hyperopt import hp

        out: dict[str, Any] = {}
        for name in names:
            param = self.space[name]
            label = self._label(name, path)
            if label in self.labels:  # pragma: no cover - guarded by construction
                raise ValueError(f"hyperopt labels must be unique, got {label!r} twice")
            if self._children[name]:
                levels = _levels(param)
                branches = []
                for v in levels:
                    sub = self._build(self._active_kids(name, v, path), (*path, (name, v)))
                    branches.append({name: v, **sub})
                out[name] = hp.choice(label, branches)
                self.labels[label] = (name, _choice_decoder(levels))
            else:
                out[name] = _leaf(hp, label, param)
                self.labels[label] = (name, _decoder(param))
        return out

    def decode(self, vals: dict[str, list]) -> dict[str, Any]:
        """The config of a trial's ``misc["vals"]``, parameters in the order of the space."""
        found: dict[str, Any] = {}
        for label, (name, decode) in self.labels.items():
            v = vals.get(label)
            if v:
                found[name] = decode(v[0])
        return {n: found[n] for n in self.space if n in found}


def _leaf(hp: Any, label: str, param: Param) -> Any:
    if isinstance(param, Float):
        if param.log:
            return hp.loguniform(label, math.log(param.low), math.log(param.high))
        return hp.uniform(label, param.low, param.high)
    if isinstance(param, Int):
        if param.log:
            return hp.qloguniform(label, math.log(param.low), math.log(param.high), 1)
        return hp.uniformint(label, param.low, param.high)
    if isinstance(param, Categorical):
        return hp.choice(label, list(param.choices))
    raise TypeError(f"parameter {label!r} must be Float, Int or Categorical, "  # pragma: no cover
                    f"got {type(param).__name__}")


# decoders are partials of module functions, not lambdas, so the optimizer pickles
def _clip_float(low: float, high: float, x: float) -> float:
    return min(high, max(low, float(x)))


def _clip_int(low: int, high: int, x: float) -> int:
    return min(high, max(low, round(float(x))))


def _level(levels: list, i: float) -> Any:
    return levels[int(i)]


def _decoder(param: Param) -> Callable[[float], Any]:
    if isinstance(param, Float):
        return functools.partial(_clip_float, param.low, param.high)
    if isinstance(param, Int):
        return functools.partial(_clip_int, param.low, param.high)
    return _choice_decoder(list(param.choices))


def _choice_decoder(levels: list) -> Callable[[float], Any]:
    return functools.partial(_level, levels)


def _never_called(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover
    raise RuntimeError("the runner evaluates hpbench trials, not hyperopt's Domain")


_TAGS = ("adapter", "hyperopt")


@register_optimizer("hyperopt-tpe", tags=("model-based", "tpe", *_TAGS),
                    packages=("hyperopt",), extra="hyperopt", settings={"algo": "tpe"},
                    description="hyperopt's TPE (Bergstra et al. 2011)")
@register_optimizer("hyperopt-anneal", tags=("stochastic", *_TAGS), packages=("hyperopt",),
                    extra="hyperopt", settings={"algo": "anneal"},
                    description="hyperopt's simulated annealing on the hp tree")
@register_optimizer("hyperopt-rand", tags=("baseline", *_TAGS), packages=("hyperopt",),
                    extra="hyperopt", settings={"algo": "rand"},
                    description="hyperopt's random search on the hp tree")
class Hyperopt(Optimizer):
    """A hyperopt algorithm (``algo`` in ``ALGORITHMS``) on a ``Trials`` object."""

    settings = {"algo": "tpe"}
    choices = {"algo": tuple(ALGORITHMS)}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        import importlib

        from hyperopt import Domain, Trials

        self._suggest = importlib.import_module(ALGORITHMS[self.config["algo"]]).suggest
        self.hp_space = HyperoptSpace(space)
        self.domain = Domain(_never_called, self.hp_space.expr)
        self.trials = Trials()
        seed = library_seed(self.seed)
        # fmin's own seed stream: one draw per call of the algorithm
        self._rstate = np.random.default_rng(seed)

    def ask(self, n: int) -> list[Suggestion]:
        from hyperopt.base import JOB_STATE_RUNNING

        out = []
        for _ in range(n):
            new_ids = self.trials.new_trial_ids(1)
            self.trials.refresh()
            docs = self._suggest(new_ids, self.domain, self.trials,
                                 self._rstate.integers(2**31 - 1))
            if not docs:  # the algorithm has nothing left to propose
                break
            self.trials.insert_trial_docs(docs)
            self.trials.refresh()
            for doc in docs:
                out.append(Suggestion(self.hp_space.decode(doc["misc"]["vals"]), tag=doc["tid"]))
        # fmin marks a trial running when it starts evaluating it
        pending = {s.tag for s in out}
        for doc in self.trials._dynamic_trials:
            if doc["tid"] in pending:
                doc["state"] = JOB_STATE_RUNNING
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        from hyperopt.base import JOB_STATE_DONE, STATUS_FAIL, STATUS_OK

        results = {obs.suggestion.tag: ({"loss": float(obs.value), "status": STATUS_OK}
                                        if obs.ok else {"status": STATUS_FAIL})
                   for obs in observations}
        # the inserted (SON-ified) documents live in _dynamic_trials, which fmin's own
        # serial_evaluate updates the same way
        for doc in self.trials._dynamic_trials:
            result = results.get(doc["tid"])
            if result is not None:
                doc["state"] = JOB_STATE_DONE
                doc["result"] = result
        self.trials.refresh()
