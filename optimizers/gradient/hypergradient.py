"""Gradient-based hyperparameter optimization with the problem's hypergradient.

``hypergradient``
    Adam (Kingma & Ba 2015) on the unit-cube coordinates of the continuous hyperparameters,
    using ``Suggestion(want_grad=True)`` → ``Observation.grad`` (d value / d unit coordinate,
    the "hypergradient" of Maclaurin et al. 2015, Pedregosa 2016, Lorraine et al. 2020),
    projected back onto [0, 1] after every step. Parameters the problem gives no gradient for
    (categories, integers, floats without one) are held fixed during a descent: at a seeded
    random value on the first descent and every other restart, at the best config's values
    on the others (``hold="alternate"``; or always ``"random"`` / ``"best"``). The step size
    halves whenever a step makes the value worse (the "bold driver" rule, Battiti 1989), which
    lets Adam settle into a minimum instead of circling it at a fixed step. A descent restarts
    from a random point after ``max_steps`` steps, when the step size falls below
    ``min_lr``, or after a failed evaluation.

``hypergradient-online``
    Hypergradient descent on the learning rate during one training run (Baydin, Cornish,
    Martínez Rubio, Schmidt & Wood 2018, "Online Learning Rate Adaptation with Hypergradient
    Descent", ICLR): the run is cut into ``steps`` intervals of the fidelity (epochs); each
    interval continues the previous one's checkpoint (``resume_from``) and asks for the
    hypergradient; before the next interval the learning rate moves against it,
    ``u_lr ← u_lr − β g / rms(g)`` in its unit coordinate. For a log-scale learning rate
    that is Baydin et al.'s multiplicative rule (a step in log α); dividing by the running
    RMS of the hypergradient (decay 0.9) makes ``β`` a step in cube units on any problem.
    Baydin et al. update after every minibatch inside the training loop; here the update
    happens between intervals, which needs nothing from a problem beyond the existing
    "fidelity", "checkpoint" and "hypergradient" capabilities (the hypergradient of the
    validation loss with respect to the learning rate of the last interval). The other
    hyperparameters are drawn at random per run; a finished run is followed by a new one.
    ``param`` names the learning rate (default: the first of ``lr``, ``learning_rate``,
    ``learning_rate_init``, ``eta`` in the space, else its first log-scale float).

Budget: a hypergradient evaluation may cost more than a plain one (``Evaluation.cost_fe``),
which the runner can only learn after evaluating. Both optimizers therefore stop (return no
suggestion) when the next evaluation, at the highest cost-per-fidelity ratio seen so far,
would not fit the budget left, so the budget is never overrun.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench import Observation, Optimizer, Space, Suggestion, register_optimizer
from hpbench.cube import UnitCube

#: names under which ``hypergradient-online`` looks for the learning rate
LR_NAMES = ("lr", "learning_rate", "learning_rate_init", "eta")


class _BudgetGuard:
    """Estimates what the next evaluation will be charged (hypergradients can cost more than
    their fidelity) so an optimizer can stop before the budget would be overrun."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.opt = optimizer
        self.spent = 0.0
        self.ratio = 1.0  # highest charged cost / planned fidelity cost seen so far

    def record(self, obs: Observation, planned: float) -> None:
        self.spent += float(obs.cost)
        if planned > 0 and math.isfinite(obs.cost):
            self.ratio = max(self.ratio, float(obs.cost) / planned)

    def fits(self, planned: float) -> bool:
        budget = self.opt.budget
        if budget.unit != "evaluations" or self.ratio <= 1.0:
            return True  # the runner's own check before evaluating is exact then
        return self.spent + planned * self.ratio <= float(budget.amount) + 1e-9


@register_optimizer("hypergradient", tags=("gradient-based",),
                    description="Adam on the unit cube with the problem's hypergradient, "
                                "projection and restarts")
class Hypergradient(Optimizer):
    """Settings: ``lr`` (0.05, cube units), ``beta1`` (0.9), ``beta2`` (0.999), ``max_steps``
    (50 per descent), ``min_lr`` (1e-4), ``hold`` ("alternate", "random" or "best")."""

    requires = frozenset({"hypergradient"})
    label = "hypergradient"
    settings = {"lr": 0.05, "beta1": 0.9, "beta2": 0.999, "max_steps": 50, "min_lr": 1e-4,
                "hold": "alternate"}
    choices = {"hold": ("alternate", "random", "best")}
    #: each step starts from the last told point and gradient (``Optimizer.synchronous``)
    synchronous = True

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        for key in ("lr", "min_lr"):
            if not (isinstance(self.config[key], int | float) and self.config[key] > 0):
                raise ValueError(f"{key} must be a number > 0, got {self.config[key]!r}")
        self.cube = UnitCube(space)
        self.names = list(space.names)
        self.guard = _BudgetGuard(self)
        self.best: Observation | None = None
        self.incumbent: Observation | None = None
        self.restarts = -1
        self.n_told = 0
        #: how many evaluations had been told when each descent started
        self.descent_starts: list[int] = []
        self._restart()

    def _restart(self) -> None:
        """A new descent: a random cube point; the coordinates without a gradient held at the
        random draw or the best config's values, per ``hold``."""
        self.restarts += 1
        self.descent_starts.append(self.n_told)
        hold = self.config["hold"]
        use_best = self.best is not None and (hold == "best" or (
            hold == "alternate" and self.restarts % 2 == 1))
        u = self.space.to_unit(self.space.sample(self.rng))
        if use_best:
            u = np.where(self.cube.is_float, u, self.space.to_unit(self.best.config))
        self.u = u
        self.m = np.zeros(self.cube.d)
        self.v = np.zeros(self.cube.d)
        self.t = 0  # Adam's step count (bias correction), reset with the moments
        self.steps = 0  # steps of this descent
        self.lr = float(self.config["lr"])
        self.prev: tuple[float, np.ndarray, np.ndarray] | None = None  # value, point, grad

    def ask(self, n: int) -> list[Suggestion]:
        if not self.guard.fits(1.0):
            return []
        return [Suggestion(self.space.from_unit(self.cube.snap(self.u)), want_grad=True)]

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            self.guard.record(obs, 1.0)
            self.n_told += 1
            ok = obs.ok and math.isfinite(obs.value)
            if ok and (self.best is None or obs.value < self.best.value):
                self.best = self.incumbent = obs
            if not ok or not obs.grad:
                self._restart()
                continue
            self._step(obs)

    def _gradient(self, grad: dict) -> np.ndarray:
        g = np.zeros(self.cube.d)
        for name, value in grad.items():
            j = self.names.index(name)
            if self.cube.is_float[j] and math.isfinite(value):
                g[j] = float(value)
        return g

    def _step(self, obs: Observation) -> None:
        u, g = self.space.to_unit(obs.config), self._gradient(obs.grad)
        if self.prev is not None and obs.value > self.prev[0]:
            # overshoot: step again from the better point with half the step size (bold
            # driver) and fresh moments, which still remember the overshooting gradient
            self.lr *= 0.5
            _, u, g = self.prev
            self.m, self.v, self.t = np.zeros(self.cube.d), np.zeros(self.cube.d), 0
        else:
            self.prev = (obs.value, u, g)
        if self.lr < float(self.config["min_lr"]) or \
                self.steps >= int(self.config["max_steps"]):
            self._restart()
            return
        b1, b2 = float(self.config["beta1"]), float(self.config["beta2"])
        self.t += 1
        self.steps += 1
        self.m = b1 * self.m + (1 - b1) * g
        self.v = b2 * self.v + (1 - b2) * g * g
        m_hat = self.m / (1 - b1**self.t)
        v_hat = self.v / (1 - b2**self.t)
        self.u = np.clip(u - self.lr * m_hat / (np.sqrt(v_hat) + 1e-12), 0.0, 1.0)


@register_optimizer("hypergradient-online", tags=("gradient-based", "multi-fidelity"),
                    description="hypergradient descent on the learning rate during training "
                                "(Baydin et al. 2018), between epochs")
class HypergradientOnline(Optimizer):
    """Settings: ``hyper_lr`` β (0.05, cube units), ``steps`` (9 intervals), ``param``
    (None: found by name, see the module docstring)."""

    requires = frozenset({"fidelity", "checkpoint", "hypergradient"})
    settings = {"hyper_lr": 0.05, "steps": 9, "param": None}
    #: each interval resumes the last told one (``Optimizer.synchronous``)
    synchronous = True

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        if self.fidelity is None:
            raise ValueError("hypergradient-online needs a problem with a fidelity "
                             "(requires=['checkpoint', 'fidelity', 'hypergradient'])")
        self.param = self._lr_param(self.config["param"])
        self.j = list(space.names).index(self.param)
        steps = self.config["steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be an integer >= 1, got {steps!r}")
        fid = self.fidelity
        self.fidelities: list[float] = []
        for k in range(1, steps + 1):
            f = fid.high * k / steps
            f = min(fid.high, max(fid.low, float(round(f)) if fid.integer else f))
            if not self.fidelities or f > self.fidelities[-1]:
                self.fidelities.append(f)
        self.guard = _BudgetGuard(self)
        self.incumbent: Observation | None = None
        self.lr_path: list[list[float]] = []  # per run, the learning rate of each interval
        self._new_run()

    def _lr_param(self, name: str | None) -> str:
        from hpbench.space import Float

        floats = [n for n, p in self.space.items() if isinstance(p, Float)]
        if name is not None:
            if name not in floats:
                raise ValueError(f"param must name a Float parameter of the space "
                                 f"({floats}), got {name!r}")
            return name
        for candidate in LR_NAMES:
            if candidate in floats:
                return candidate
        logs = [n for n in floats if self.space[n].log]
        if logs or floats:
            return (logs or floats)[0]
        raise ValueError(f"hypergradient-online needs a Float learning rate in the space, "
                         f"got parameters {list(self.space.names)}")

    def _new_run(self) -> None:
        self.run_config = dict(self.space.sample(self.rng))
        if self.param not in self.run_config:  # an inactive conditional learning rate
            self.run_config = dict(self.space.sample(self.rng))
        self.k = 0
        self.last_trial: int | None = None
        self.rms = 0.0
        self.lr_path.append([])

    def _planned(self) -> float:
        f = self.fidelities[self.k]
        prev = self.fidelities[self.k - 1] if self.k and self.last_trial is not None else 0.0
        return (f - prev) / self.fidelity.high

    def ask(self, n: int) -> list[Suggestion]:
        if not self.guard.fits(self._planned()):
            return []
        f = self.fidelities[self.k]
        fidelity = None if f >= self.fidelity.high else f
        return [Suggestion(dict(self.run_config), fidelity=fidelity,
                           resume_from=self.last_trial, want_grad=True)]

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            self.guard.record(obs, self._planned())
            ok = obs.ok and math.isfinite(obs.value)
            if self.param in obs.config:
                self.lr_path[-1].append(float(obs.config[self.param]))
            if ok and obs.suggestion.fidelity is None and (
                    self.incumbent is None or obs.value < self.incumbent.value):
                self.incumbent = obs
            if not ok or self.k + 1 >= len(self.fidelities):
                self._new_run()
                continue
            self.k += 1
            self.last_trial = obs.trial
            g = (obs.grad or {}).get(self.param)
            if g is not None and math.isfinite(g) and self.param in self.run_config:
                self.rms = 0.9 * self.rms + 0.1 * g * g if self.rms else g * g
                p = self.space[self.param]
                u = p.to_unit(self.run_config[self.param])
                u -= float(self.config["hyper_lr"]) * g / (math.sqrt(self.rms) + 1e-12)
                self.run_config[self.param] = p.from_unit(min(1.0, max(0.0, u)))
