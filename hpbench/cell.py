"""The cell: one problem × optimizer × repeat under a budget, the unit of work.

A ``Cell`` knows its seeds (derived from the suite's master seed and names, see
``hpbench.seeds``), builds its problem instance and optimizer (``build``) and runs the loop
(``run``), all in memory: it never touches the disk. Everything that runs an optimizer on a
problem goes through it — the execution backends (``hpbench.execute``, which adds the
results folder: skip, claim, write), the best-known search, the benchmarks and the
conformance suites (``hpbench.testing``) — so the sequence seeds → problem → optimizer →
loop is written once.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from hpbench import registry, seeds
from hpbench.budget import Budget
from hpbench.evaluators import ProblemSpec, make_evaluator
from hpbench.journal import Journal
from hpbench.optimizer import Optimizer
from hpbench.plugins import load_plugins
from hpbench.problem import Problem
from hpbench.runner import Evaluator, evaluate_inline, run_loop
from hpbench.simclock import sim_loop
from hpbench.store import ResultsWriteError
from hpbench.trials import CellResult, CellStatus

__all__ = ["Built", "Cell", "Seeds"]


class Seeds(NamedTuple):
    """Explicit seeds of a cell, instead of the ones derived from its names."""

    problem: int | None
    optimizer: int | None


class Built(NamedTuple):
    """A cell's problem instance and optimizer; ``optimizer`` is None when the problem lacks
    a capability the optimizer requires (the cell is "not applicable")."""

    problem: Problem
    optimizer: Optimizer | None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cell:
    """One unit of work: a problem × optimizer × repeat under a budget.

    ``settings`` and ``problem_settings`` go to the optimizer and problem factories;
    ``batch`` is the number of suggestions asked and evaluated per round, ``timeout`` the
    seconds allowed per evaluation. ``sim_workers`` K runs the cell on K simulated workers
    under a virtual clock (``hpbench.simclock``); such a cell is another cell than the same
    optimizer's without it, labelled ``<optimizer>@<K>w`` (``label``: its folder and the
    name the analysis shows), with the same seeds. ``seeds`` pins the seeds (the best-known
    search uses its own streams); by default they derive from ``master_seed``, the names and
    ``repeat``.
    """

    problem: str
    optimizer: str
    budget: Budget
    repeat: int = 0
    master_seed: int = 0
    suite: str = ""
    batch: int | None = None
    timeout: float | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    problem_settings: Mapping[str, Any] = field(default_factory=dict)
    seeds: Seeds | None = None
    #: modules or .py files that register the cell's entries (``hpbench.plugins``), imported
    #: by every process before it builds the cell
    plugins: tuple[str, ...] = ()
    sim_workers: int | None = None

    @property
    def label(self) -> str:
        """The optimizer as results show it: its name, with ``@<K>w`` when the cell runs on
        K simulated workers (``asha@8w``), so K = 1 and K = 8 are different lines."""
        if self.sim_workers is None:
            return self.optimizer
        return f"{self.optimizer}@{self.sim_workers}w"

    @property
    def key(self) -> str:
        """``<problem>/<label>/repeat-<k>``: the cell's name in a results folder."""
        return f"{self.problem}/{self.label}/repeat-{self.repeat}"

    @property
    def problem_seed(self) -> int | None:
        """The seed of the problem instance: the same for every optimizer at this repeat;
        the repeat index itself for a problem registered with ``instances="repeat"`` (a
        family with a published list of instances, such as COCO's)."""
        if self.seeds is not None:
            return self.seeds.problem
        load_plugins(self.plugins)
        if registry.instances_by_repeat(self.problem):
            return self.repeat
        return seeds.problem_seed(self.master_seed, self.problem, self.repeat)

    @property
    def optimizer_seed(self) -> int | None:
        if self.seeds is not None:
            return self.seeds.optimizer
        return seeds.optimizer_seed(self.master_seed, self.problem, self.optimizer,
                                    self.repeat)

    def identity(self, fingerprint: str) -> dict[str, Any]:
        """Everything that can change the cell's trials, as plain JSON values: a stored cell
        whose identity differs is stale. The problem (name, settings, the instance's
        fingerprint), the optimizer (name, resolved settings — its defaults, the entry's
        fixed settings, the suite's —, and the version of its code and libraries), the
        budget, batch size, timeout and seeds."""
        entry = registry.get_entry("optimizer", self.optimizer)
        settings = {**getattr(entry.factory, "settings", {}), **entry.settings,
                    **self.settings}
        identity = {
            "problem": self.problem, "problem_settings": dict(self.problem_settings),
            "fingerprint": fingerprint, "optimizer": self.optimizer, "settings": settings,
            "code": entry.code_version(), "budget": [float(self.budget.amount),
                                                     self.budget.unit],
            "batch": self.batch, "timeout": self.timeout, "problem_seed": self.problem_seed,
            "optimizer_seed": self.optimizer_seed}
        if self.sim_workers is not None:  # (absent otherwise: stored identities still hold)
            identity["sim_workers"] = self.sim_workers
        return json.loads(json.dumps(identity, sort_keys=True, default=str))

    def build_problem(self) -> Problem:
        load_plugins(self.plugins)
        return registry.make_problem(self.problem, seed=self.problem_seed,
                                     **self.problem_settings)

    def missing_capabilities(self, problem: Problem) -> tuple[str, ...]:
        """What the optimizer requires that ``problem`` lacks (empty: the cell applies)."""
        load_plugins(self.plugins)
        entry = registry.get_entry("optimizer", self.optimizer)
        return tuple(sorted(entry.requires - problem.capabilities))

    def build(self, problem: Problem | None = None) -> Built:
        """The problem instance (``problem`` if given) and the optimizer for it."""
        problem = self.build_problem() if problem is None else problem
        missing = self.missing_capabilities(problem)
        if missing:
            return Built(problem, None, missing)
        optimizer = registry.make_optimizer(self.optimizer, problem.space,
                                            seed=self.optimizer_seed, budget=self.budget,
                                            fidelity=problem.fidelity, **self.settings)
        return Built(problem, optimizer)

    def run(self, *, problem: Problem | None = None, evaluator: Evaluator | None = None,
            on_trial: Callable[[float], None] | None = None, journal: Journal | None = None,
            scratch: Path | None = None, memory_limit: int | None = None,
            fingerprint: str | None = None) -> CellResult:
        """Build the cell (on ``problem`` if given) and run it to the end of its budget.

        ``evaluator`` overrides how configs are evaluated (default: inline, or in killable
        child processes when the cell has a timeout, concurrently when it has a batch > 1;
        ``memory_limit`` caps each child's address space, ``fingerprint`` is the problem's,
        checked by the children). ``journal`` replays and records trials, ``scratch`` is the
        folder for the problem's checkpoints. A cell whose optimizer cannot be built, or
        raises, ends "failed" with the reason; nothing is raised but ``ResultsWriteError``.
        """
        problem = self.build_problem() if problem is None else problem
        params = list(problem.space.names)
        made = built = None
        try:
            built = self.build(problem)
            if built.optimizer is None:
                return CellResult.empty(params, CellStatus.NOT_APPLICABLE,
                                        f"problem {problem.name} lacks "
                                        f"{', '.join(built.missing)}")
            extra: dict[str, Any] = {"optimizer_settings": built.optimizer.describe()}
            if evaluator is None:
                spec = ProblemSpec(self.problem, self.problem_seed, self.problem_settings,
                                   fingerprint, self.plugins)
                made, name = make_evaluator(problem, spec, batch=self.batch,
                                            timeout=self.timeout, memory_limit=memory_limit)
                extra["execution"] = {"evaluator": name}
            result = run_loop(problem, built.optimizer, self.budget, batch=self.batch,
                              scratch=scratch, evaluator=evaluator or made or evaluate_inline,
                              on_trial=on_trial, journal=journal, call_timeout=self.timeout,
                              loop=sim_loop(self.sim_workers))
            result.extra = {**extra, **result.extra}
            return result
        except (ResultsWriteError, KeyboardInterrupt):
            raise
        except BaseException as exc:  # building the optimizer or its evaluator failed
            return CellResult.empty(params, CellStatus.FAILED, f"{type(exc).__name__}: {exc}",
                                    error="".join(traceback.format_exception(exc)))
        finally:
            try:
                if made is not None and hasattr(made, "close"):
                    made.close(scratch)
                # an optimizer holding a process (hpbench.external) ends it with the cell
                if built is not None and hasattr(built.optimizer, "close"):
                    built.optimizer.close()
            finally:
                problem.cleanup(scratch)
