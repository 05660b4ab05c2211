"""The optimizer conformance checks.

Each check takes a registered optimizer name (and optional ``settings`` for its factory) and
runs it through ``Cell.run`` on ``ToyProblem`` (``hpbench.testing.toy``: every parameter type,
a conditional parameter and every capability) with pinned seeds and a budget of 16
evaluations. It returns None or raises ``AssertionError`` saying what is wrong.

The checks of one optimizer share one run (the *reference* run, optimizer seed 123, kept
per process): ``check_budget_and_space``, ``check_global_random_state`` and
``check_pickle_mid_run`` inspect it, ``check_same_seed_same_trajectory`` and
``check_simulated_one_worker`` share one repeat of it on one simulated worker, and
``check_different_seed_different_trajectory`` runs another seed against it. During the
reference run the optimizer is pickled at the start of each ``ask`` until half the budget
has been told, and every later ``ask`` and ``tell`` is recorded, so the pickling check can
replay them on the unpickled copy.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import json
import math
import pickle
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hpbench import registry
from hpbench.budget import Budget
from hpbench.cell import Built, Cell, Seeds
from hpbench.optimizer import Observation, Optimizer, Suggestion
from hpbench.problem import Problem
from hpbench.testing.checks import Check, bind, run_checks
from hpbench.testing.globalstate import (
    GLOBAL_GENERATORS,
    changed_generators,
    global_random_state,
    restore_global_random_state,
)
from hpbench.testing.pickling import culprits, declared_picklable, roundtrip
from hpbench.testing.toy import ToyProblem, trajectory
from hpbench.trials import CellResult, CellStatus

__all__ = [
    "BUDGET",
    "OPTIMIZER_CHECKS",
    "check_batch_asks",
    "check_budget_and_space",
    "check_different_seed_different_trajectory",
    "check_global_random_state",
    "check_optimizer",
    "check_pickle_mid_run",
    "check_same_seed_same_trajectory",
    "check_simulated_one_worker",
    "check_survives_failing_trials",
    "optimizer_checks",
    "run_on_toy",
]

#: evaluations per run
BUDGET = 16
#: the seed of the ToyProblem instance (the toy is deterministic; the seed is recorded only)
PROBLEM_SEED = 0
#: the optimizer seed of the reference run
REFERENCE_SEED = 123


def conformance_settings(name: str) -> dict[str, Any]:
    """The settings the checks give optimizer ``name`` when the caller gives none: its
    class's ``conformance_settings`` (``Optimizer``: cheaper inner loops, the same code
    paths)."""
    factory = registry.get_entry("optimizer", name).factory
    return dict(getattr(factory, "conformance_settings", None) or {})


def _cell(name: str, seed: int, *, budget: float, batch: int | None,
          settings: Mapping[str, Any] | None, cls: type[Cell] = Cell, **extra: Any) -> Cell:
    chosen = conformance_settings(name) if settings is None else dict(settings)
    return cls(problem="toy", optimizer=name, budget=Budget(budget), batch=batch,
               settings=chosen, seeds=Seeds(PROBLEM_SEED, seed), **extra)


def _expect_done(name: str, result: CellResult, what: str) -> CellResult:
    if result.status != CellStatus.DONE:
        raise AssertionError(f"optimizer {name!r} did not finish {what}: {result.status}: "
                             f"{result.reason}\n{result.error}".rstrip())
    return result


def run_on_toy(name: str, seed: int, *, fail_rate: float = 0.0, budget: float = BUDGET,
               batch: int | None = None, settings: Mapping[str, Any] | None = None,
               ) -> CellResult:
    """Run optimizer ``name`` with seed ``seed`` on a fresh ``ToyProblem`` through
    ``Cell.run``; raises ``AssertionError`` unless the cell ends "done"."""
    cell = _cell(name, seed, budget=budget, batch=batch, settings=settings)
    result = cell.run(problem=ToyProblem(seed=PROBLEM_SEED, fail_rate=fail_rate))
    what = f"a run on the toy problem (seed {seed}, budget {budget:g}" + \
        (f", fail_rate {fail_rate}" if fail_rate else "") + \
        (f", batch {batch}" if batch else "") + ")"
    return _expect_done(name, result, what)


# -- the reference run: recorded, pickled mid-run, global random state watched --------------


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and NaN comparable to itself."""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def _comparable(suggestion: Any) -> tuple:
    """What a suggestion asks for, in a form two suggestions can be compared by (its repr
    when it is not a config: the runner, not the recording, reports that)."""
    if isinstance(suggestion, Suggestion):
        config, rest = suggestion.config, (suggestion.fidelity, suggestion.resume_from,
                                           suggestion.want_grad)
    else:
        config, rest = suggestion, (None, None, False)
    try:
        return (tuple(sorted((k, _plain(v)) for k, v in dict(config).items())),
                *map(_plain, rest))
    except Exception:
        return (repr(suggestion),)


def _show(comparable: tuple) -> str:
    if len(comparable) != 4:
        return comparable[0]
    config, fidelity, resume_from, want_grad = comparable
    text = json.dumps(dict(config), default=str)
    extras = [f"fidelity={fidelity}" if fidelity is not None else "",
              f"resume_from={resume_from}" if resume_from is not None else "",
              "want_grad" if want_grad else ""]
    return ", ".join([text, *filter(None, extras)])


@dataclass
class _Ask:
    n: int
    items: list | None  # what the original returned (the objects themselves)
    seen: list | None  # their comparable form, taken when they were returned


@dataclass
class _Told:
    origin: tuple[int, int] | None  # (index of the ask call, index in its items)
    suggestion: Any  # a copy, for an observation whose suggestion was not found
    fields: dict


@dataclass
class _Tell:
    observations: list[_Told]


@dataclass
class _Recorder:
    """Pickles an optimizer at the start of its asks and records its asks and tells."""

    half: float
    calls: list = field(default_factory=list)
    told: int = 0
    snapshot: bytes | None = None
    snapshot_call: int = 0  # index in ``calls`` of the first call after the snapshot
    snapshot_told: int = -1  # observations told before the snapshot
    error: str = ""  # why pickling failed, at a snapshot or after the run
    declared: bool = True  # what the optimizer's class says (``picklable``)
    optimizer: Optimizer | None = None
    _wrappers: dict = field(default_factory=dict)

    def attach(self, optimizer: Optimizer) -> None:
        self.optimizer, self.declared = optimizer, declared_picklable(optimizer)
        ask, tell = optimizer.ask, optimizer.tell

        def recorded_ask(n):
            self._snap()
            out = ask(n)
            items = None if out is None else list(out)
            self.calls.append(_Ask(n, items, None if items is None else
                                   [_comparable(s) for s in items]))
            return out

        def recorded_tell(observations):
            self.calls.append(_Tell([self._told(o) for o in observations]))
            self.told += len(observations)
            return tell(observations)

        self._wrappers = {"ask": recorded_ask, "tell": recorded_tell}
        vars(optimizer).update(self._wrappers)

    @contextlib.contextmanager
    def _bare(self):
        """The optimizer without the recording wrappers (as it is pickled)."""
        own = vars(self.optimizer)
        for key in self._wrappers:
            del own[key]
        try:
            yield self.optimizer
        finally:
            own.update(self._wrappers)

    def _snap(self) -> None:
        if self.error or (self.snapshot is not None and self.snapshot_told >= self.half):
            return
        with self._bare() as optimizer:
            try:
                self.snapshot = pickle.dumps(optimizer, protocol=pickle.HIGHEST_PROTOCOL)
                self.snapshot_call, self.snapshot_told = len(self.calls), self.told
            except Exception as exc:
                self.snapshot = None
                self.error = (f"after {self.told} observations: {type(exc).__name__}: {exc}"
                              f"{culprits(optimizer)}")

    def finish(self) -> None:
        """After the run: drop the wrappers and the optimizer, which must still pickle."""
        if self.optimizer is None:
            return
        with self._bare() as optimizer:
            if not self.error:
                try:
                    roundtrip(optimizer)
                except Exception as exc:
                    self.error = (f"after the run: {type(exc).__name__}: {exc}"
                                  f"{culprits(optimizer)}")
        for key in self._wrappers:
            del vars(self.optimizer)[key]
        self.optimizer, self._wrappers = None, {}

    def _told(self, obs: Observation) -> _Told:
        s = obs.suggestion
        origin = None
        for i in range(len(self.calls) - 1, -1, -1):
            call = self.calls[i]
            if isinstance(call, _Ask) and call.items:
                j = next((j for j, item in enumerate(call.items)
                          if item is s or item is getattr(s, "config", None)), None)
                if j is not None:
                    origin = (i, j)
                    break
        fields = {"trial": obs.trial, "value": obs.value, "status": obs.status,
                  "cost": obs.cost, "grad": None if obs.grad is None else dict(obs.grad),
                  "error": obs.error, "extra": _copied(obs.extra)}
        return _Told(origin, None if origin is not None else _copied(s), fields)


def _copied(value: Any) -> Any:
    """A deep copy of what an observation carries (the object itself if it has none)."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


@dataclass
class _Reference:
    result: CellResult
    changed: list[str]  # global generators that building and running changed
    recorder: _Recorder


@dataclass(frozen=True)
class _RecordedCell(Cell):
    """A cell whose optimizer is recorded from the moment it is built."""

    recorder: _Recorder | None = field(default=None, compare=False)

    def build(self, problem: Problem | None = None) -> Built:
        built = super().build(problem)
        if built.optimizer is not None and self.recorder is not None:
            self.recorder.attach(built.optimizer)
        return built


_REFERENCES: collections.OrderedDict[tuple, _Reference] = collections.OrderedDict()
_KEEP = 4  # reference runs kept per process (the checks of one optimizer run together)


def _reference(name: str, settings: Mapping[str, Any] | None) -> _Reference:
    chosen = conformance_settings(name) if settings is None else settings
    key = (name, json.dumps(dict(chosen), sort_keys=True, default=repr))
    if key in _REFERENCES:
        _REFERENCES.move_to_end(key)
        return _REFERENCES[key]
    recorder = _Recorder(half=BUDGET / 2)
    cell = _cell(name, REFERENCE_SEED, budget=BUDGET, batch=None, settings=settings,
                 cls=_RecordedCell, recorder=recorder)
    # build once first, so that importing the optimizer's libraries (once per process) is
    # not what is measured: the same check passes or fails whatever ran before it
    before = global_random_state()
    with contextlib.suppress(Exception):  # a failure to build is the run's to report
        Cell.build(cell, ToyProblem(seed=PROBLEM_SEED))
    restore_global_random_state(before)
    result = cell.run(problem=ToyProblem(seed=PROBLEM_SEED))
    changed = changed_generators(before, global_random_state())
    restore_global_random_state(before)  # an offender does not disturb what runs next
    recorder.finish()
    ref = _Reference(result, changed, recorder)
    _REFERENCES[key] = ref
    while len(_REFERENCES) > _KEEP:
        _REFERENCES.popitem(last=False)
    return ref


def _reference_result(name: str, settings: Mapping[str, Any] | None) -> CellResult:
    return _expect_done(name, _reference(name, settings).result,
                        f"a run on the toy problem (seed {REFERENCE_SEED}, budget {BUDGET})")


# -- the checks ------------------------------------------------------------------------------


def _first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"trial {i}: {x} vs {y}"
    return f"{len(a)} vs {len(b)} trials"


def check_same_seed_same_trajectory(name: str, *,
                                    settings: Mapping[str, Any] | None = None) -> None:
    """Two runs with the same seeds suggest the same configs, fidelities and resumptions.

    The second run is the one ``check_simulated_one_worker`` makes on one simulated worker:
    when it repeats the reference run, both properties hold at the cost of one run. Only
    when it does not is the second run repeated in the usual loop, to tell which broke."""
    first = trajectory(_reference_result(name, settings))
    simulated = _simulated_result(name, settings)
    if simulated.status == CellStatus.DONE and trajectory(simulated) == first:
        return
    second = trajectory(run_on_toy(name, REFERENCE_SEED, settings=settings))
    if first != second:
        raise AssertionError(f"optimizer {name!r} is not reproducible: two runs with seed "
                             f"{REFERENCE_SEED} differ at {_first_difference(first, second)}")


def check_different_seed_different_trajectory(name: str, *,
                                              settings: Mapping[str, Any] | None = None
                                              ) -> None:
    """Another seed gives another run."""
    other = REFERENCE_SEED + 1
    if trajectory(_reference_result(name, settings)) == \
            trajectory(run_on_toy(name, other, settings=settings)):
        raise AssertionError(f"optimizer {name!r} ignores its seed: seeds {REFERENCE_SEED} "
                             f"and {other} give the same trials")


def check_budget_and_space(name: str, *, settings: Mapping[str, Any] | None = None) -> None:
    """The run spends exactly the budget (full-fidelity methods: exactly ``BUDGET`` trials;
    multi-fidelity ones stop when the next suggestion would not fit) and every suggestion
    is in the space."""
    result = _reference_result(name, settings)
    used = result.columns["budget_used"]
    if not used or used[-1] > BUDGET + 1e-9:
        raise AssertionError(f"optimizer {name!r} spent {used[-1] if used else 0} of a "
                             f"budget of {BUDGET} evaluations")
    if result.reason != "budget":
        raise AssertionError(f"optimizer {name!r} stopped before spending its budget: "
                             f"{result.reason!r} after {used[-1]:g} of {BUDGET}")
    if all(f == 9 for f in result.columns["fidelity"]):
        if result.n_trials != BUDGET:
            raise AssertionError(f"optimizer {name!r} ran {result.n_trials} full-fidelity "
                                 f"trials on a budget of {BUDGET}")
    elif used[-1] <= BUDGET - 1 - 1e-9:
        raise AssertionError(f"optimizer {name!r} left {BUDGET - used[-1]:g} evaluations "
                             f"of its budget of {BUDGET} unspent")
    space = ToyProblem().space
    for i, config in enumerate(result.columns["config"]):
        try:
            space.validate(json.loads(config))
        except ValueError as exc:
            raise AssertionError(f"optimizer {name!r}: trial {i} is outside the space: "
                                 f"{exc}") from None


def check_survives_failing_trials(name: str, *,
                                  settings: Mapping[str, Any] | None = None) -> None:
    """On a problem where half the configs raise or return NaN the optimizer goes on to
    the end of its budget, and failed trials carry NaN values."""
    result = run_on_toy(name, 5, fail_rate=0.5, budget=20, settings=settings)
    statuses = result.columns["status"]
    if "failed" not in statuses:
        raise AssertionError(f"optimizer {name!r}: none of its {len(statuses)} trials "
                             "failed on the failing toy problem (fail_rate 0.5)")
    if result.reason != "budget":
        raise AssertionError(f"optimizer {name!r} stopped early among failing trials: "
                             f"{result.reason!r}")
    if not any(s == "ok" for s in statuses):
        raise AssertionError(f"optimizer {name!r}: no trial succeeded on the failing toy "
                             "problem (fail_rate 0.5)")
    bad = [i for i, (v, s) in enumerate(zip(result.columns["value"], statuses))
           if s != "ok" and not math.isnan(v)]
    if bad:
        raise AssertionError(f"optimizer {name!r}: failed trials {bad} have a value")


def check_batch_asks(name: str, *, settings: Mapping[str, Any] | None = None) -> None:
    """Asked for 4 suggestions at a time, the optimizer still fills the budget with valid
    suggestions."""
    result = run_on_toy(name, 11, batch=4, settings=settings)
    used = result.columns["budget_used"]
    if not used or used[-1] > BUDGET + 1e-9:
        raise AssertionError(f"optimizer {name!r} with batch 4 spent "
                             f"{used[-1] if used else 0} of a budget of {BUDGET}")
    if result.reason != "budget":
        raise AssertionError(f"optimizer {name!r} with batch 4 stopped before spending its "
                             f"budget: {result.reason!r}")


def check_global_random_state(name: str, *, settings: Mapping[str, Any] | None = None
                              ) -> None:
    """Building the optimizer and running it (ask, tell) leaves numpy's, Python's and
    torch's global random state as they were."""
    ref = _reference(name, settings)  # judged even if the run failed (other checks say so)
    if ref.changed:
        which = "; ".join(GLOBAL_GENERATORS[g] for g in ref.changed)
        raise AssertionError(
            f"optimizer {name!r} changed global random state while it was built and run: "
            f"{which}. An optimizer draws from its own generator (self.rng); a library "
            "that uses a global one must be called between saving and restoring its state")


def _copy_observations(tell: _Tell, outputs: dict[int, list]) -> list[Observation]:
    observations = []
    for told in tell.observations:
        if told.origin is not None and told.origin[0] in outputs:
            item = outputs[told.origin[0]][told.origin[1]]
            suggestion = item if isinstance(item, Suggestion) else Suggestion(item)
        else:
            suggestion = _copied(told.suggestion)
        observations.append(Observation(suggestion, **told.fields))
    return observations


def _unpicklable(rec: _Recorder) -> tuple[str, Any]:
    """(why the optimizer could not be pickled and unpickled, "" if it could; the copy
    unpickled from the mid-run snapshot)."""
    if rec.snapshot is None:
        return rec.error or "it was never asked for a suggestion", None
    try:
        clone = pickle.loads(rec.snapshot)
    except Exception as exc:  # the error after the run, if any, names the attributes
        return rec.error or (f"it pickles after {rec.snapshot_told} observations but does "
                             f"not unpickle: {type(exc).__name__}: {exc}"), None
    return rec.error, clone


def check_pickle_mid_run(name: str, *, settings: Mapping[str, Any] | None = None) -> None:
    """The optimizer pickles mid-run, and the unpickled copy, told the same observations,
    makes exactly the same suggestions as the original (so a run can be checkpointed or
    moved to another process).

    The optimizer is pickled at the start of each ask until half the budget has been told
    (the last of these snapshots is the copy's), and once more after the run. An optimizer
    that cannot be pickled declares it with the class attribute ``picklable = False``; the
    check then verifies the declaration: pickling it must indeed fail.
    """
    ref = _reference(name, settings)
    rec = ref.recorder
    if rec.snapshot is None and not rec.error:
        _reference_result(name, settings)  # the run failed before the first ask: say why
    why, clone = _unpicklable(rec)
    if not rec.declared:
        if not why:
            raise AssertionError(
                f"optimizer {name!r} declares picklable = False, but it pickles and unpickles "
                "mid-run and after the run: drop the declaration")
        return
    if why:
        raise AssertionError(
            f"optimizer {name!r} cannot be pickled: {why}. Make it picklable (e.g. "
            "__getstate__/__setstate__ that drop and rebuild what cannot be pickled), or, "
            "if it cannot be, declare it with the class attribute picklable = False")
    where = f"unpickled after {rec.snapshot_told} observations"
    outputs: dict[int, list] = {}
    asks = 0
    for index in range(rec.snapshot_call, len(rec.calls)):
        call = rec.calls[index]
        if isinstance(call, _Tell):
            try:
                clone.tell(_copy_observations(call, outputs))
            except Exception as exc:
                raise AssertionError(f"optimizer {name!r}, {where}: tell raised "
                                     f"{type(exc).__name__}: {exc}") from None
            continue
        asks += 1
        try:
            out = clone.ask(call.n)
        except Exception as exc:
            raise AssertionError(f"optimizer {name!r}, {where}: ask({call.n}) raised "
                                 f"{type(exc).__name__}: {exc}") from None
        items = None if out is None else list(out)
        seen = None if items is None else [_comparable(s) for s in items]
        if seen != call.seen:
            if seen is None or call.seen is None or len(seen) != len(call.seen):
                got = "None" if seen is None else f"{len(seen)} suggestions"
                want = "None" if call.seen is None else f"{len(call.seen)}"
                detail = f"{got} instead of {want}"
            else:
                k = next(k for k, (a, b) in enumerate(zip(seen, call.seen)) if a != b)
                detail = (f"suggestion {k}: {_show(seen[k])} instead of the original's "
                          f"{_show(call.seen[k])}")
            raise AssertionError(f"optimizer {name!r}, {where}, suggests differently from "
                                 f"the original at ask #{asks} after the snapshot: {detail}")
        outputs[index] = items or []


def _sim_trials(result: CellResult) -> list[tuple]:
    """(config, fidelity, resume_from, status, value) per trial, NaN comparable to itself."""
    cols = result.columns
    return list(zip(cols["config"], cols["fidelity"], cols["resume_from"], cols["status"],
                    map(_plain, cols["value"])))


_SIMULATED: collections.OrderedDict[tuple, CellResult] = collections.OrderedDict()


def _simulated_result(name: str, settings: Mapping[str, Any] | None) -> CellResult:
    """The reference run's cell on one simulated worker, run once per process (shared by
    ``check_same_seed_same_trajectory`` and ``check_simulated_one_worker``)."""
    chosen = conformance_settings(name) if settings is None else settings
    key = (name, json.dumps(dict(chosen), sort_keys=True, default=repr))
    if key not in _SIMULATED:
        cell = _cell(name, REFERENCE_SEED, budget=BUDGET, batch=None, settings=settings,
                     sim_workers=1)
        _SIMULATED[key] = cell.run(problem=ToyProblem(seed=PROBLEM_SEED))
        while len(_SIMULATED) > _KEEP:
            _SIMULATED.popitem(last=False)
    _SIMULATED.move_to_end(key)
    return _SIMULATED[key]


def check_simulated_one_worker(name: str, *,
                               settings: Mapping[str, Any] | None = None) -> None:
    """On one simulated worker (``sim_workers=1``, ``hpbench.simclock``) the optimizer makes
    exactly the trials of the usual loop (the reference run): configs, fidelities,
    resumptions, statuses and values, in the same order."""
    simulated = _expect_done(name, _simulated_result(name, settings),
                             f"a run on one simulated worker (seed {REFERENCE_SEED})")
    usual, sim = _sim_trials(_reference_result(name, settings)), _sim_trials(simulated)
    if usual != sim:
        raise AssertionError(f"optimizer {name!r} runs differently on one simulated worker "
                             f"than in the usual loop: {_first_difference(usual, sim)}")


#: every optimizer check by name, in the order they run
OPTIMIZER_CHECKS = {
    "same_seed_same_trajectory": check_same_seed_same_trajectory,
    "different_seed_different_trajectory": check_different_seed_different_trajectory,
    "budget_and_space": check_budget_and_space,
    "survives_failing_trials": check_survives_failing_trials,
    "batch_asks": check_batch_asks,
    "global_random_state": check_global_random_state,
    "pickle_mid_run": check_pickle_mid_run,
    "simulated_one_worker": check_simulated_one_worker,
}


def optimizer_checks(names: str | Iterable[str], *, select: Iterable[str] | None = None,
                     settings: Mapping[str, Any] | None = None) -> list[Check]:
    """The checks of each optimizer in ``names`` (all of ``OPTIMIZER_CHECKS``, or those in
    ``select``), as ``Check`` objects to call or to parametrize a test with."""
    return bind("optimizer", OPTIMIZER_CHECKS, names, select, settings=settings)


def check_optimizer(name: str, *, select: Iterable[str] | None = None,
                    settings: Mapping[str, Any] | None = None) -> None:
    """Run every check of optimizer ``name``; raises ``AssertionError`` listing the failed
    ones."""
    run_checks(optimizer_checks(name, select=select, settings=settings))
