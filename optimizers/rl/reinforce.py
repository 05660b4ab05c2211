"""A REINFORCE controller in the spirit of Zoph & Le (2017), "Neural Architecture Search with
Reinforcement Learning", ICLR — with a factorized policy instead of their RNN.

Policy: one independent distribution per parameter, in its unit-cube coordinate —
a categorical over the levels of a category or of an integer with at most ``bins`` values;
for a float (or an integer with more values) either a categorical over ``bins`` equal-width
bins, the point drawn uniformly inside the chosen bin (``continuous="bins"``, the default:
it can represent several modes), or a Gaussian with a learned mean and log standard
deviation, reflected into [0, 1] (``continuous="gaussian"``; the mean is kept in [0, 1],
where the reflected distribution has its mirror image). All logits start at 0 (uniform),
a Gaussian at mean 0.5 and standard deviation 0.25.

Learning (Williams 1992, REINFORCE; Zoph & Le 2017, §3.2): ``batch_size`` configs are
sampled from the current policy; their reward is ``−value`` (failed trials get the worst
reward seen so far, or are left out before any success); the advantage is reward minus an
exponential moving average baseline (decay ``baseline_decay``), divided by a moving
estimate of the rewards' standard deviation so that one ``lr`` suits objectives of any
scale; the policy ascends ``mean(advantage · ∇ log π(config)) + entropy · ∇ H(π)`` with
Adam (Kingma & Ba 2015) at ``lr``. An inactive conditional parameter contributes nothing to
its config's log-probability.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from hpbench import Observation, Optimizer, Space, Suggestion, register_optimizer
from hpbench.cube import UnitCube


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


@register_optimizer("reinforce", tags=("rl-based",),
                    description="REINFORCE controller with a factorized policy (Zoph & Le 2017 "
                                "in spirit)")
class Reinforce(Optimizer):
    """Settings: ``batch_size`` (8 samples per update), ``lr`` (0.1, Adam), ``baseline_decay``
    (0.9), ``entropy`` (0.01), ``bins`` (10), ``continuous`` ("bins" or "gaussian")."""

    label = "reinforce"
    settings = {"batch_size": 8, "lr": 0.1, "baseline_decay": 0.9, "entropy": 0.01,
                "bins": 10, "continuous": "bins"}
    choices = {"continuous": ("bins", "gaussian")}

    def __init__(self, space: Space, **kwargs: Any) -> None:
        super().__init__(space, **kwargs)
        b = self.config["batch_size"]
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {b!r}")
        bins = self.config["bins"]
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        self.batch_size = b
        self.cube = UnitCube(space)
        self.names = list(space.names)
        gaussian = self.config["continuous"] == "gaussian"
        #: per coordinate: ("levels", n) for a level categorical, ("bins", n), ("gauss", 0)
        self.kinds: list[tuple[str, int]] = []
        for j in range(self.cube.d):
            levels = int(self.cube.levels[j])
            if self.cube.is_disc[j] and levels <= bins:
                self.kinds.append(("levels", levels))
            elif gaussian:
                self.kinds.append(("gauss", 0))
            else:
                self.kinds.append(("bins", bins))
        # policy parameters, one flat vector, with each coordinate's slice
        sizes = [n if kind != "gauss" else 2 for kind, n in self.kinds]
        self.slices = [slice(a, a + n) for a, n in zip(np.cumsum([0, *sizes[:-1]]), sizes)]
        self.theta = np.zeros(int(sum(sizes)))
        for (kind, _), sl in zip(self.kinds, self.slices):
            if kind == "gauss":
                self.theta[sl] = [0.5, math.log(0.25)]
        self._m = np.zeros_like(self.theta)
        self._v = np.zeros_like(self.theta)
        self._t = 0
        self.baseline: float | None = None
        self.var: float | None = None
        self.worst = -math.inf  # worst reward seen (−value)
        self.pending: list[tuple[np.ndarray, float]] = []  # (∇ log π, reward) of a batch
        self.incumbent: Observation | None = None

    # the policy ------------------------------------------------------------------------------
    def probabilities(self, name: str) -> np.ndarray:
        """The current distribution over the levels / bins of ``name`` (for a Gaussian
        coordinate: its mean and standard deviation)."""
        j = self.names.index(name)
        th = self.theta[self.slices[j]]
        if self.kinds[j][0] == "gauss":
            return np.array([th[0], math.exp(th[1])])
        return _softmax(th)

    def _sample(self) -> tuple[dict, np.ndarray]:
        """A config from the policy and the cube point's actions (level / bin / value)."""
        u = np.zeros(self.cube.d)
        actions = np.zeros(self.cube.d)
        for j, ((kind, n), sl) in enumerate(zip(self.kinds, self.slices)):
            th = self.theta[sl]
            if kind == "gauss":
                x = th[0] + math.exp(th[1]) * self.rng.standard_normal()
                actions[j] = x
                x = float(np.mod(x, 2.0))
                u[j] = 2.0 - x if x > 1.0 else x
                continue
            k = int(self.rng.choice(n, p=_softmax(th)))
            actions[j] = k
            u[j] = self.cube.centre(j, k) if kind == "levels" else (k + self.rng.random()) / n
        return self.space.from_unit(self.cube.snap(u)), actions

    def _grad_logp(self, actions: np.ndarray, config: dict) -> np.ndarray:
        """∇_θ log π(actions), active coordinates only."""
        active = set(self.space.active(config))
        g = np.zeros_like(self.theta)
        for j, ((kind, _), sl) in enumerate(zip(self.kinds, self.slices)):
            if self.names[j] not in active:
                continue
            th = self.theta[sl]
            if kind == "gauss":
                mu, sd = th[0], math.exp(th[1])
                z = (actions[j] - mu) / sd
                g[sl] = [z / sd, z * z - 1.0]
            else:
                onehot = np.zeros(len(th))
                onehot[int(actions[j])] = 1.0
                g[sl] = onehot - _softmax(th)
        return g

    def _grad_entropy(self) -> np.ndarray:
        g = np.zeros_like(self.theta)
        for (kind, _), sl in zip(self.kinds, self.slices):
            th = self.theta[sl]
            if kind == "gauss":
                g[sl] = [0.0, 1.0]  # H = log σ + const
            else:
                p = _softmax(th)
                logp = np.log(np.maximum(p, 1e-300))
                g[sl] = -p * (logp + float(-(p * logp).sum()))
        return g

    # the protocol ----------------------------------------------------------------------------
    def ask(self, n: int) -> list[Suggestion]:
        out = []
        for _ in range(max(1, n)):
            config, actions = self._sample()
            out.append(Suggestion(config, tag=actions))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        for obs in observations:
            ok = obs.ok and math.isfinite(obs.value)
            if ok:
                reward = -float(obs.value)
                self.worst = min(self.worst, reward) if math.isfinite(self.worst) else reward
                if self.incumbent is None or obs.value < self.incumbent.value:
                    self.incumbent = obs
            elif math.isfinite(self.worst):
                reward = self.worst
            else:
                continue  # nothing to impute from yet
            self.pending.append((self._grad_logp(obs.suggestion.tag, dict(obs.config)),
                                 reward))
            if len(self.pending) >= self.batch_size:
                self._update()

    def _update(self) -> None:
        grads = np.array([g for g, _ in self.pending])
        rewards = np.array([r for _, r in self.pending])
        self.pending = []
        decay = float(self.config["baseline_decay"])
        if self.baseline is None:
            self.baseline = float(rewards.mean())
            self.var = float(rewards.var())
        scale = math.sqrt(self.var) if self.var and self.var > 0 else 1.0
        adv = (rewards - self.baseline) / scale
        grad = (adv[:, None] * grads).mean(axis=0) \
            + float(self.config["entropy"]) * self._grad_entropy()
        # the baseline and the scale follow the rewards (Zoph & Le's moving average)
        self.baseline = decay * self.baseline + (1 - decay) * float(rewards.mean())
        self.var = decay * self.var + (1 - decay) * float(((rewards - self.baseline) ** 2)
                                                          .mean())
        self._t += 1
        b1, b2 = 0.9, 0.999
        self._m = b1 * self._m + (1 - b1) * grad
        self._v = b2 * self._v + (1 - b2) * grad * grad
        m_hat = self._m / (1 - b1**self._t)
        v_hat = self._v / (1 - b2**self._t)
        self.theta = self.theta + float(self.config["lr"]) * m_hat / (np.sqrt(v_hat) + 1e-8)
        for (kind, _), sl in zip(self.kinds, self.slices):
            if kind == "gauss":
                # a mean outside [0, 1] folds to the same distribution of the reflected
                # sample as its mirror image inside: keep the inside one
                mu = float(np.mod(self.theta[sl.start], 2.0))
                self.theta[sl.start] = 2.0 - mu if mu > 1.0 else mu
                # and the spread between 1e-3 and the cube's width
                self.theta[sl.start + 1] = min(0.0, max(math.log(1e-3),
                                                        self.theta[sl.start + 1]))
