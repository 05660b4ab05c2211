"""The runner: one cell's ask → evaluate → tell loop, under a budget.

The runner owns the loop and the budget, never the optimizer. It validates every
suggestion (an out-of-space suggestion fails the cell: that is an optimizer bug, not
something to clip silently), turns an exception, NaN or infinity in the objective into a
failed trial that the optimizer is told about, stops exactly at the budget, and times ask,
evaluate and tell separately.

A round is: ``ask`` the optimizer, then for each suggestion in order

* **admit** — validate it against the space and the problem's fidelity and checkpoints, and
  price it (its full-fidelity-equivalent cost is known before evaluating); a suggestion that
  no longer fits an evaluations budget ends the cell;
* **obtain** — its outcome: replayed from the trial journal, taken from the round's
  concurrent evaluation, or evaluated now;
* **charge** — the budget and the cumulative cost;
* **record** — one row of the trial table (``hpbench.trials``), the journal, and the
  observation ``tell`` will receive;

and ``tell`` the optimizer the round's observations.

Evaluation goes through an evaluator (``hpbench.evaluators``): inline by default; one that
has ``evaluate_many`` gets the round's admitted suggestions at once to evaluate concurrently,
and the trials are then recorded in order exactly as if they had been evaluated one after
another (suggestions past the budget are dropped, not recorded). A ``journal``
(``hpbench.journal``) records each finished trial and replays an interrupted cell's trials
instead of evaluating them again.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from hpbench.batching import ConstantLiar, batch_strategy
from hpbench.budget import Budget
from hpbench.config_text import config_json, float_rows_json
from hpbench.journal import Journal
from hpbench.optimizer import Observation, Optimizer, Suggestion
from hpbench.problem import EvalContext, Evaluation, Problem
from hpbench.space import InvalidConfig
from hpbench.trials import PARAM_PREFIX, CellResult, CellStatus, TrialRecorder, TrialStatus

__all__ = ["EPS", "Evaluator", "OptimizerError", "evaluate_inline", "run_loop"]

#: float slack when comparing spent and budget (fidelity fractions do not add up exactly)
EPS = 1e-9

OK, FAILED, TIMEOUT = TrialStatus.OK, TrialStatus.FAILED, TrialStatus.TIMEOUT


class OptimizerError(RuntimeError):
    """The optimizer broke the contract or raised; the cell fails, nothing else does."""


class _CellFailed(Exception):
    """Ends the loop: the optimizer raised in ``where`` or broke the contract."""

    def __init__(self, where: str, exc: BaseException) -> None:
        super().__init__(where)
        self.where, self.exc = where, exc


Evaluator = Callable[[Problem, Mapping[str, Any], float | None, EvalContext | None], Evaluation]


def evaluate_inline(problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                    ctx: EvalContext | None) -> Evaluation:
    return problem.evaluate(config, fidelity=fidelity, ctx=ctx)


def _finite(x: Any) -> bool:
    if type(x) is float:
        return x - x == 0.0  # False for inf and NaN
    try:
        return math.isfinite(x)
    except TypeError:
        return False


class Admitted(NamedTuple):
    """A suggestion that passed validation, with its price."""

    suggestion: Suggestion
    config: dict[str, Any]
    fidelity: float | None  # None: full fidelity
    planned: float  # full-fidelity-equivalent cost, known before evaluating


class Outcome(NamedTuple):
    """What evaluating an admitted suggestion gave."""

    status: TrialStatus
    error: str
    record: Evaluation | None
    eval_s: float
    t_start: float
    t_end: float | None  # None: now, when the trial is recorded
    replayed: bool = False


def _classify(outcome: Evaluation | BaseException) -> tuple[TrialStatus, str, Evaluation | None]:
    """(status, error, record) of an evaluation's result or exception."""
    if isinstance(outcome, BaseException):
        if isinstance(outcome, TimeoutError):
            return TIMEOUT, str(outcome) or "evaluation timed out", None
        return FAILED, f"{type(outcome).__name__}: {outcome}", None
    if not _finite(outcome.value):
        return FAILED, f"objective returned {outcome.value!r}", outcome
    return OK, "", outcome


class _Loop:
    """The state of one cell's loop; ``run`` drives it round by round."""

    def __init__(self, problem: Problem, optimizer: Optimizer, budget: Budget, *,
                 batch: int | None, scratch: Path | None, evaluator: Evaluator,
                 on_trial: Callable[[float], None] | None, journal: Journal | None,
                 defer_config: bool) -> None:
        self.problem, self.space, self.optimizer = problem, problem.space, optimizer
        fid = problem.fidelity
        self.fid, self.f_max = fid, (fid.high if fid is not None else None)
        self.checkpoints = "checkpoint" in problem.capabilities
        self.needs_ctx = bool(problem.capabilities & {"checkpoint", "hypergradient"}) \
            or scratch is not None
        self.scratch, self.evaluator, self.on_trial = scratch, evaluator, on_trial
        self.inline = evaluator is evaluate_inline
        self.many = getattr(evaluator, "evaluate_many", None)
        self.amount, self.unit = float(budget.amount), budget.unit
        self.by_evals = budget.unit == "evaluations"
        self.journal = journal
        self.replay = journal.replay if journal is not None else ()
        self.defer_config = defer_config
        self.spent = self.cum_cost = 0.0
        self.trial = self.rnd = 0
        self.reached: dict[int, float] = {}  # fidelity each finished trial reached
        self.recorder = TrialRecorder(list(self.space.names))
        self.result = CellResult(columns=self.recorder.columns, params=self.recorder.params)
        self.driver, self.n_default = self._driver(batch)

    def _driver(self, batch: int | None) -> tuple[Any, int]:
        """The object asked for suggestions and how many it is asked for per round."""
        optimizer = self.optimizer
        n = batch or max(1, int(getattr(optimizer, "batch_size", 1) or 1))
        # lets an optimizer use a capability it does not require (Hyperband resumes from
        # checkpoints where the problem offers them)
        optimizer.problem_capabilities = frozenset(self.problem.capabilities)
        if batch is None or batch <= 1:
            return optimizer, n
        strategy = batch_strategy(optimizer, batch)
        self.result.extra["batch_strategy"] = strategy
        if strategy == "constant-liar":
            return ConstantLiar(optimizer), n
        return optimizer, (1 if strategy == "sequential" else n)

    # -- the steps of a round ---------------------------------------------------------------
    def ask(self) -> list:
        n = self.n_default
        if self.by_evals:
            n = max(1, min(n, math.ceil(self.amount - self.spent - EPS)))
        try:
            suggestions = self.driver.ask(n)
        except Exception as exc:
            raise _CellFailed("ask", exc) from None
        if suggestions is not None and len(suggestions) > n:
            raise _CellFailed("ask", OptimizerError(
                f"ask({n}) returned {len(suggestions)} suggestions"))
        return suggestions

    def admit(self, s: Any) -> Admitted:
        """Validate and price one suggestion; ``OptimizerError`` when it breaks the rules."""
        if not isinstance(s, Suggestion):
            s = Suggestion(s)
        try:
            config = self.space.validate(s.config)
        except InvalidConfig as exc:
            raise OptimizerError(f"suggestion outside the space: {exc}") from None
        fidelity = s.fidelity
        if fidelity is not None:
            if self.fid is None:
                raise OptimizerError(f"suggested fidelity {fidelity} but {self.problem.name} "
                                     "has no fidelity")
            try:
                fidelity = self.fid.check(fidelity)
            except ValueError as exc:
                raise OptimizerError(str(exc)) from None
            if fidelity >= self.f_max:
                fidelity = None
        start_f = 0.0
        if s.resume_from is not None:
            if not self.checkpoints:
                raise OptimizerError(f"resume_from={s.resume_from} but {self.problem.name} "
                                     "cannot checkpoint")
            if s.resume_from not in self.reached:
                raise OptimizerError(f"resume_from={s.resume_from} names no finished trial")
            start_f = self.reached[s.resume_from]
        f_max = self.f_max
        if f_max is None:
            planned = 1.0
        else:
            planned = max(0.0, (f_max if fidelity is None else fidelity) - start_f) / f_max
        return Admitted(s, config, fidelity, planned)

    def fits(self, spent: float, planned: float) -> bool:
        return not (self.by_evals and spent + planned > self.amount + EPS)

    def context(self, trial: int, s: Suggestion) -> EvalContext | None:
        if not self.needs_ctx:
            return None
        return EvalContext(trial=trial, scratch=self.scratch, resume_from=s.resume_from,
                           want_grad=s.want_grad)

    def evaluate_round(self, suggestions: list) -> tuple[list[Admitted], list]:
        """The leading suggestions of a round that the loop will evaluate, admitted once and
        evaluated concurrently (``evaluate_many``): valid ones that fit the budget at their
        planned cost. The loop records them in order, and admits and evaluates alone
        whatever this left out. The evaluator reports each item's own evaluation time, so
        the set-up of a replaced evaluation process is not charged to a trial."""
        admitted: list[Admitted] = []
        spent = self.spent
        for s in suggestions:
            try:
                adm = self.admit(s)
            except OptimizerError:
                break  # the loop fails the cell when it gets there
            if not self.fits(spent, adm.planned):
                break
            spent += adm.planned
            admitted.append(adm)
        items = [(a.config, a.fidelity, self.context(self.trial + i, a.suggestion))
                 for i, a in enumerate(admitted)]
        return admitted, (list(self.many(self.problem, items)) if items else [])

    def obtain(self, adm: Admitted, config_text: str | None, pre: tuple | None) -> Outcome:
        """The outcome of an admitted suggestion: replayed, pre-evaluated or evaluated now."""
        trial = self.trial
        if trial < len(self.replay):
            jr = self.replay[trial]
            s = adm.suggestion
            if (jr["config"] == config_text and jr["fidelity"] == adm.fidelity
                    and jr["resume_from"] == s.resume_from and jr["want_grad"] == s.want_grad):
                self.journal.replayed += 1
                return Outcome(TrialStatus(jr["status"]), jr["error"],
                               self.journal.evaluation(jr), jr["eval_s"], jr["t_start"],
                               jr["t_end"], replayed=True)
            # the optimizer did not ask the same again: evaluate from here on
            self.journal.cut(trial)
            self.replay = self.journal.replay
        if pre is not None:
            result, eval_s, t_start, t_end = pre
            return Outcome(*_classify(result), eval_s, t_start, t_end)
        ctx = self.context(trial, adm.suggestion)
        t_start = time.time()
        t1 = time.perf_counter()
        status, error, rec = OK, "", None
        try:
            if self.inline:
                rec = self.problem.evaluate(adm.config, fidelity=adm.fidelity, ctx=ctx)
            else:
                rec = self.evaluator(self.problem, adm.config, adm.fidelity, ctx)
            if not _finite(rec.value):
                status, error = FAILED, f"objective returned {rec.value!r}"
        except TimeoutError as exc:
            status, error = TIMEOUT, str(exc) or "evaluation timed out"
        except Exception as exc:
            status, error = FAILED, f"{type(exc).__name__}: {exc}"
        return Outcome(status, error, rec, time.perf_counter() - t1, t_start, None)

    def charge(self, adm: Admitted, out: Outcome) -> tuple[float, float]:
        """Charge the budget for one trial; returns (full-fidelity-equivalent cost, cost)."""
        rec = out.record
        cost_fe = float(rec.cost_fe) if rec is not None and rec.cost_fe is not None \
            else adm.planned
        cost = float(rec.cost) if rec is not None and _finite(rec.cost) else None
        if self.by_evals:
            self.spent += cost_fe
        elif self.unit == "cost":
            self.spent += adm.planned if cost is None else cost
        else:
            self.spent += out.eval_s
        if cost is None:
            cost = 0.0
        self.cum_cost += cost
        return cost_fe, cost

    def record(self, adm: Admitted, config_text: str | None, out: Outcome, cost_fe: float,
               cost: float, ask_s: float) -> Observation:
        """One row of the trial table and the journal; the observation for ``tell``."""
        trial, s, rec, status = self.trial, adm.suggestion, out.record, out.status
        if status is OK:
            f_max, fidelity = self.f_max, adm.fidelity
            self.reached[trial] = f_max if (fidelity is None and f_max is not None) else \
                (fidelity or 0.0)
            value = float(rec.value)
            true_value = float(rec.true_value) if _finite(rec.true_value) else math.nan
            test_value = float(rec.test_value) if rec.test_value is not None \
                and _finite(rec.test_value) else math.nan
        else:
            value = true_value = test_value = math.nan
        t_end = out.t_end if out.t_end is not None else time.time()
        self.recorder.record(
            trial, self.rnd, adm.config, config_text,
            adm.fidelity if adm.fidelity is not None else self.f_max, s.resume_from, value,
            true_value, test_value, status, out.error, cost, cost_fe, self.cum_cost,
            self.spent, ask_s, out.eval_s, out.t_start, t_end,
            json.dumps(rec.info, default=str) if rec is not None and rec.info else "")
        if self.journal is not None and not out.replayed:
            self.journal.append(self.journal.record(
                trial, config_text, adm.fidelity, s.resume_from, s.want_grad, status,
                out.error, rec, out.eval_s, out.t_start, t_end))
        self.trial += 1
        if self.on_trial is not None:
            self.on_trial(self.spent)
        return Observation(s, trial, value, status, cost_fe,
                           rec.grad if rec is not None else None, out.error)

    def tell(self, observations: list[Observation]) -> None:
        t0 = time.perf_counter()
        try:
            self.driver.tell(observations)
        except Exception as exc:
            raise _CellFailed("tell", exc) from None
        self.recorder.share_tell(len(observations), time.perf_counter() - t0)

    # -- the loop ---------------------------------------------------------------------------
    def round(self) -> bool:
        """One ask → evaluate → tell round; False when the cell is over."""
        t0 = time.perf_counter()
        suggestions = self.ask()
        ask_s = time.perf_counter() - t0
        if suggestions is None or len(suggestions) == 0:
            self.result.reason = "optimizer-exhausted"
            return False
        share = ask_s / len(suggestions)
        admitted: list[Admitted] = []
        pre: list = []
        if self.many is not None and self.trial >= len(self.replay):
            admitted, pre = self.evaluate_round(suggestions)
        observations = []
        go_on = True
        for idx, s in enumerate(suggestions):
            try:
                adm = admitted[idx] if idx < len(admitted) else self.admit(s)
            except OptimizerError as exc:
                raise _CellFailed("ask", exc) from None
            if not self.fits(self.spent, adm.planned):
                self.result.reason = "budget"
                go_on = False
                break
            config_text = None if self.defer_config else config_json(adm.config)
            out = self.obtain(adm, config_text, pre[idx] if idx < len(pre) else None)
            cost_fe, cost = self.charge(adm, out)
            observations.append(self.record(adm, config_text, out, cost_fe, cost, share))
            if self.spent >= self.amount - EPS:
                break
        if observations:
            self.tell(observations)
        self.rnd += 1
        return go_on

    def run(self) -> CellResult:
        result = self.result
        try:
            while self.spent < self.amount - EPS:
                if not self.round():
                    break
            else:
                result.reason = "budget"
        except _CellFailed as failure:
            exc = failure.exc
            result.status = CellStatus.FAILED
            result.reason = f"optimizer raised in {failure.where}: {type(exc).__name__}: {exc}"
            result.error = "".join(traceback.format_exception(exc))
        else:
            if not result.reason:
                result.reason = "budget" if self.spent >= self.amount - EPS \
                    else "optimizer-exhausted"
            if isinstance(self.driver, ConstantLiar) and not self.driver.copyable:
                result.extra["batch_strategy"] = "sequential (optimizer cannot be copied)"
        result.spent = self.spent
        return result


def run_loop(problem: Problem, optimizer: Optimizer, budget: Budget, *,
             batch: int | None = None, scratch: Path | None = None,
             evaluator: Evaluator = evaluate_inline,
             on_trial: Callable[[float], None] | None = None,
             journal: Journal | None = None) -> CellResult:
    """Run ``optimizer`` on ``problem`` until ``budget`` is spent.

    ``batch`` overrides the optimizer's preferred number of suggestions per ask (an
    optimizer with ``supports_batch = False`` gets its rounds built by its
    ``batch_fallback``, see ``hpbench.batching``). ``evaluator`` evaluates one config, or a
    round concurrently if it has ``evaluate_many``. ``on_trial(budget_used)`` is called after
    each trial (progress bars). ``journal`` logs each finished trial and replays the trials
    it already holds (see ``hpbench.journal``).
    """
    # an all-Float space's configs are written as JSON once, column by column, when the cell
    # ends (``config_text.float_rows_json``: a third of the cost of one at a time); a journal
    # needs each trial's text as it goes
    deferred = problem.space.all_float and journal is None
    result = _Loop(problem, optimizer, budget, batch=batch, scratch=scratch,
                   evaluator=evaluator, on_trial=on_trial, journal=journal,
                   defer_config=deferred).run()
    if deferred:
        cols = result.columns
        cols["config"] = float_rows_json(result.params,
                                         [cols[PARAM_PREFIX + p] for p in result.params])
    return result
