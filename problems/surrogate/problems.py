"""``<problem>-surrogate``: a live problem answered by a model fitted on its recording.

Every folder ``data/<problem>/`` with a fitted model (``model.json`` + ``model.npz``, made by
``python -m hpbench.problems.surrogate.fit``) registers ``<problem>-surrogate``: the live
problem's space, fidelity and tags plus ``surrogate``; capabilities ``fidelity`` (when the live
problem has one), ``checkpoint`` (when it has one) and ``vectorized``.

An evaluation of ``config`` at fidelity ``f`` on the instance of seed ``s`` (None: 0):

* ``true_value`` = the predicted mean over seeds (noise-free), ``test_value`` = the predicted
  test mean (None when the live problem records none);
* ``value`` = ``true_value`` + sigma(config, f) * z(s, config), sigma² the modelled config ×
  instance variance across seeds. z is a standard normal drawn from a generator keyed by the
  seed and the config (a hash, not one stream consumed in call order), so the same seed gives
  the same values whatever was evaluated before, another seed is another instance, and z
  does not depend on the fidelity, so an instance's learning curve stays as smooth as the
  model's;
* a live problem whose recorded values are all ≥ 0 (a loss, an error rate: the model's
  ``value_floor``) keeps that floor: ``true_value`` and ``test_value`` are clipped at it, and
  the noise is lognormal above it with the same mean and variance (``floored_draw``) instead
  of normal. A normal draw with the spread of a configuration that sometimes diverges gave
  validation log-losses of −0.75, and optimizers that pick the best observed value chased
  them (the incumbent's true regret grew with the budget); the lognormal keeps the right
  tail such a configuration has;
* ``cost`` = the live problem's cost of that level in its own units (recorded per level,
  interpolated between levels), ``seconds`` = the modelled CPU seconds of the live
  evaluation.

Resuming (``ctx.resume_from = j``, when the live problem can): trial ``j``'s fidelity is kept
in a small per-instance dict; the resumed evaluation answers at the new config and fidelity
and costs the difference: ``cost(f) − cost(f_j)`` and ``seconds(config, f) − seconds(config,
f_j)`` (never below 0). A resumed config with changed hyperparameters (PBT) is answered as if
trained with them from the start: the surrogate has no state to carry.

The optimum is unknown (None): the analysis takes the best value any optimizer reached on the
instance. A surrogate that misses a fidelity target (``validate.soundness``: held-out
Spearman at full fidelity, and Kendall's tau of the optimizer ranking, measured or not) gets
the tag ``surrogate-unsound`` and a note that ``hpbench list problems`` prints.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.problem import EvalContext, Evaluation, Fidelity, Problem
from hpbench.problems.surrogate import validate
from hpbench.problems.surrogate.model import SurrogateModel, config_features
from hpbench.registry import register_problem

DATA = validate.DATA
SUFFIX = "-surrogate"
KIND_TEXT = {"joint": "boosted trees with fidelity as an input",
             "per-level": "boosted trees per fidelity level",
             "gp": "Gaussian processes per fidelity level"}


def _normal(key: bytes, config: Mapping[str, Any]) -> float:
    """A standard normal keyed by ``key`` (the seed) and the config (Box-Muller on a hash)."""
    blob = key + json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    h = hashlib.blake2b(blob, digest_size=16).digest()
    u1 = (int.from_bytes(h[:8], "little") + 0.5) / 2.0 ** 64
    u2 = int.from_bytes(h[8:], "little") / 2.0 ** 64
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)


def floored_draw(mean: float, sd: float, z: float, floor: float | None) -> float:
    """The value of an evaluation whose noise-free value is ``mean`` and seed-to-seed spread
    ``sd``, for the standard normal ``z``: ``mean + sd · z`` without a floor; with one, a
    lognormal above ``floor`` with the same mean and variance (``mean`` clipped at the floor;
    no spread left at it)."""
    if floor is None:
        return mean + sd * z if sd > 0 else mean
    m = mean - floor
    if m <= 0.0 or sd <= 0.0:
        return max(mean, floor)
    s2 = math.log1p((sd / m) ** 2)
    return floor + math.exp(math.log(m) - s2 / 2 + math.sqrt(s2) * z)


class SurrogateProblem(Problem):
    """The surrogate of a recorded live problem (see the module doc)."""

    def __init__(self, model: SurrogateModel, *, seed: int | None = None) -> None:
        meta = model.meta
        caps = {"vectorized"}
        if meta.get("live_has_fidelity", True):
            caps.add("fidelity")
            if "checkpoint" in meta["capabilities"]:
                caps.add("checkpoint")
        self.capabilities = frozenset(caps)  # per instance: it follows the live problem
        fid = meta["fidelity"]
        fidelity = Fidelity(fid["low"], fid["high"], name=fid["name"],
                            integer=fid["integer"]) if "fidelity" in caps else None
        super().__init__(model.space, seed=seed, name=model.problem + SUFFIX,
                         fidelity=fidelity, tags=[*meta["tags"], "surrogate"])
        self.model = model
        self._high = float(fid["high"])
        self._key = str(0 if seed is None else int(seed)).encode() + b"|"
        self._trials: dict[int, float] = {}

    def describe(self) -> dict:
        d = super().describe()
        d["surrogate"] = {"of": self.model.problem, "kind": self.model.kind,
                          "model": self.model.digest(),
                          "recording": self.model.meta.get("recording", {})}
        return d

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        return self._answer([config], [fidelity], [ctx])[0]

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        fidelities, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        checked = [self.checked(c, f) for c, f in zip(configs, fidelities)]
        return self._answer([c for c, _ in checked], [f for _, f in checked], ctxs)

    def _start(self, ctx: EvalContext | None, level: float) -> float | None:
        """The fidelity a resumed evaluation starts from (None: from scratch)."""
        if ctx is None or ctx.resume_from is None:
            return None
        if "checkpoint" not in self.capabilities:
            raise ValueError(f"{self.name}: cannot resume (the live problem has no "
                             f"checkpoints), got resume_from={ctx.resume_from}")
        start = self._trials.get(int(ctx.resume_from))
        if start is None:
            raise ValueError(f"{self.name}: no checkpoint of trial {ctx.resume_from} in this "
                             f"instance (known: {sorted(self._trials)[-5:]}…)")
        if start > level:
            raise ValueError(f"{self.name}: resume_from={ctx.resume_from} already reached "
                             f"fidelity {start:g}, more than the requested {level:g}")
        return start

    def _answer(self, configs: Sequence[Mapping[str, Any]], fidelities: Sequence[float | None],
                ctxs: Sequence[EvalContext | None]) -> list[Evaluation]:
        m = len(configs)
        levels = [self._high if f is None else float(f) for f in fidelities]
        starts = [self._start(x, f) for x, f in zip(ctxs, levels)]
        resumed = [i for i, s in enumerate(starts) if s is not None]
        F = config_features(self.space, self.model.cube, configs)
        if resumed:  # the seconds of the starting level too
            F = np.vstack([F, F[resumed]])
        fid = np.array(levels + [starts[i] for i in resumed])
        P = self.model.predict_features(F, fid)
        sd = np.sqrt(np.maximum(P[:m, 2], 0.0))
        seconds = np.exp(P[:, 3])
        out = []
        floor = self.model.value_floor
        for i in range(m):
            mean = float(P[i, 0]) if floor is None else max(float(P[i, 0]), floor)
            cost, secs = self.model.cost(levels[i]), float(seconds[i])
            info: dict[str, Any] = {}
            if starts[i] is not None:
                j = m + resumed.index(i)
                cost = max(0.0, cost - self.model.cost(starts[i]))
                secs = max(0.0, secs - float(seconds[j]))
                info["resumed_from"] = int(ctxs[i].resume_from)
            value = floored_draw(mean, float(sd[i]), _normal(self._key, configs[i]), floor)
            test = float(P[i, 1]) if self.model.has_test else None
            if test is not None and floor is not None:
                test = max(test, floor)
            out.append(Evaluation(value, true_value=mean, test_value=test, cost=cost,
                                  seconds=secs, info=info))
            if ctxs[i] is not None:
                self._trials[int(ctxs[i].trial)] = levels[i]
        return out

    def cleanup(self, scratch: Path | None) -> None:
        """Forget the trials' fidelities (the cell is over)."""
        self._trials.clear()


@functools.cache
def load_model(folder: str) -> SurrogateModel:
    """The fitted model in ``folder``, loaded once per process."""
    return SurrogateModel.load(Path(folder))


class SurrogateFactory:
    """``factory(seed=None) -> SurrogateProblem`` for the registry (the model loads on first
    use, so registering reads only the small ``model.json``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def __call__(self, seed: int | None = None) -> SurrogateProblem:
        return SurrogateProblem(load_model(str(self.folder)), seed=seed)


def registration(meta: Mapping[str, Any]) -> tuple[list[str], str]:
    """(tags, note) of a surrogate entry: the live tags, ``surrogate``, and
    ``surrogate-unsound`` when a fidelity target is missed or not measured."""
    sound, note = validate.soundness(meta["problem"])
    tags = [*meta["tags"], "surrogate"]
    if not sound:
        tags.append("surrogate-unsound")
    return tags, note


def register_all(data: Path = DATA) -> list[str]:
    """Register ``<problem>-surrogate`` for every fitted model in ``data``; their names."""
    names = []
    for path in sorted(Path(data).glob("*/model.json")):
        meta = json.loads(path.read_text())
        name = meta["problem"] + SUFFIX
        tags, note = registration(meta)
        register_problem(
            name, SurrogateFactory(path.parent),
            description=f"surrogate of {meta['problem']}: {KIND_TEXT[meta['kind']]} fitted "
                        f"on {meta['n_configs']} configs × {meta['n_seeds']} seeds "
                        f"(docs/surrogates.md)",
            tags=tags, note=note)
        names.append(name)
    return names


register_all()
