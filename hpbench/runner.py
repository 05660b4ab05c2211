"""The runner: one cell's ask → evaluate → tell loop, under a budget.

The runner owns the loop and the budget, never the optimizer. It validates every
suggestion (an out-of-space suggestion fails the cell: that is an optimizer bug, not
something to clip silently), turns an exception, NaN or infinity in the objective into a
failed trial that the optimizer is told about, stops exactly at the budget, and times ask,
evaluate and tell separately.

Evaluation goes through an evaluator (``hpbench.evaluators``): inline by default; one that
has ``evaluate_many`` gets a whole round at once to evaluate concurrently, and the trials are
then recorded in order exactly as if they had been evaluated one after another (suggestions
past the budget are dropped, not recorded). A ``journal`` (``hpbench.journal``) records each
finished trial and replays an interrupted cell's trials instead of evaluating them again.
"""

from __future__ import annotations

import json
import math
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.batching import ConstantLiar, batch_strategy
from hpbench.budget import Budget
from hpbench.config_text import config_json, float_rows_json
from hpbench.journal import Journal
from hpbench.optimizer import Observation, Optimizer, Suggestion
from hpbench.problem import EvalContext, Evaluation, Problem
from hpbench.space import InvalidConfig

#: float slack when comparing spent and budget (fidelity fractions do not add up exactly)
EPS = 1e-9

STATUSES = ("ok", "failed", "timeout", "not-applicable")


class OptimizerError(RuntimeError):
    """The optimizer broke the contract or raised; the cell fails, nothing else does."""


@dataclass
class CellResult:
    """The trials of one cell, column-wise, and how the cell ended."""

    columns: dict[str, list]
    params: list[str]
    status: str = "done"  # "done", "failed" or "not-applicable"
    reason: str = ""  # why it stopped: "budget", "optimizer-exhausted", an error, …
    error: str = ""  # traceback when the optimizer failed
    spent: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.columns["trial"])


TRIAL_COLUMNS = ("trial", "round", "config", "fidelity", "resume_from", "value", "true_value",
                 "test_value", "status", "error", "cost", "cost_fe", "cum_cost", "budget_used",
                 "ask_s", "eval_s", "tell_s", "t_start", "t_end", "info")


def empty_columns(params: list[str]) -> dict[str, list]:
    cols: dict[str, list] = {c: [] for c in TRIAL_COLUMNS}
    for p in params:
        cols["param." + p] = []
    return cols


def _finite(x: Any) -> bool:
    if type(x) is float:
        return x - x == 0.0  # False for inf and NaN
    try:
        return math.isfinite(x)
    except TypeError:
        return False


Evaluator = Callable[[Problem, Mapping[str, Any], float | None, EvalContext | None], Evaluation]


def evaluate_inline(problem: Problem, config: Mapping[str, Any], fidelity: float | None,
                    ctx: EvalContext | None) -> Evaluation:
    return problem.evaluate(config, fidelity=fidelity, ctx=ctx)


def _classify(outcome: Evaluation | BaseException) -> tuple[str, str, Evaluation | None]:
    """(status, error, record) of an evaluation outcome, as the inline path decides them."""
    if isinstance(outcome, BaseException):
        if isinstance(outcome, TimeoutError):
            return "timeout", str(outcome) or "evaluation timed out", None
        return "failed", f"{type(outcome).__name__}: {outcome}", None
    if not _finite(outcome.value):
        return "failed", f"objective returned {outcome.value!r}", outcome
    return "ok", "", outcome


def _prefetch(problem: Problem, suggestions: list, many: Callable, *, trial: int,
              spent: float, amount: float, by_evals: bool, reached: dict[int, float],
              scratch: Path | None, needs_ctx: bool) -> list[tuple]:
    """Evaluate concurrently the leading suggestions of a round that the sequential loop
    would evaluate: valid ones that fit the budget at their planned cost. The loop then
    records them in order (and evaluates inline whatever this left out). The evaluator
    reports each item's own evaluation time, so the set-up of a replaced evaluation process
    is not charged to a trial."""
    space, fid = problem.space, problem.fidelity
    f_max = fid.high if fid is not None else None
    items = []
    for s in suggestions:
        if not isinstance(s, Suggestion):
            s = Suggestion(s)
        try:
            config = space.validate(s.config)
            fidelity = s.fidelity
            if fidelity is not None:
                if fid is None:
                    break
                fidelity = fid.check(fidelity)
                if fidelity >= f_max:
                    fidelity = None
        except (InvalidConfig, ValueError):
            break
        start_f = 0.0
        if s.resume_from is not None:
            if "checkpoint" not in problem.capabilities or s.resume_from not in reached:
                break
            start_f = reached[s.resume_from]
        if f_max is None:
            planned = 1.0
        else:
            planned = max(0.0, (f_max if fidelity is None else fidelity) - start_f) / f_max
        if by_evals and spent + planned > amount + EPS:
            break
        spent += planned
        ctx = EvalContext(trial=trial + len(items), scratch=scratch, resume_from=s.resume_from,
                          want_grad=s.want_grad) if needs_ctx else None
        items.append((config, fidelity, ctx))
    return list(many(problem, items)) if items else []


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
    result = _loop(problem, optimizer, budget, batch=batch, scratch=scratch,
                   evaluator=evaluator, on_trial=on_trial, journal=journal,
                   defer_config=deferred)
    if deferred:
        cols = result.columns
        cols["config"] = float_rows_json(result.params,
                                         [cols["param." + p] for p in result.params])
    return result


def _loop(problem: Problem, optimizer: Optimizer, budget: Budget, *, batch: int | None,
          scratch: Path | None, evaluator: Evaluator, on_trial: Callable[[float], None] | None,
          journal: Journal | None, defer_config: bool) -> CellResult:
    space = problem.space
    params = list(space.names)
    cols = empty_columns(params)
    param_cols = [cols["param." + p] for p in params]
    fid = problem.fidelity
    f_max = fid.high if fid is not None else None
    needs_ctx = bool(problem.capabilities & {"checkpoint", "hypergradient"}) or scratch is not None
    amount = float(budget.amount)
    by_evals = budget.unit == "evaluations"
    spent = 0.0
    cum_cost = 0.0
    trial = 0
    rnd = 0
    # fidelity each finished trial reached, for resume accounting
    reached: dict[int, float] = {}
    result = CellResult(columns=cols, params=params)
    perf = time.perf_counter
    wall = time.time
    n_default = batch or max(1, int(getattr(optimizer, "batch_size", 1) or 1))
    # lets an optimizer use a capability it does not require (Hyperband resumes from
    # checkpoints where the problem offers them)
    optimizer.problem_capabilities = frozenset(problem.capabilities)
    driver: Any = optimizer
    if batch is not None and batch > 1:
        strategy = batch_strategy(optimizer, batch)
        if strategy == "constant-liar":
            driver = ConstantLiar(optimizer)
        elif strategy == "sequential":
            n_default = 1
        result.extra["batch_strategy"] = strategy
    many = getattr(evaluator, "evaluate_many", None)
    replay = journal.replay if journal is not None else ()
    n_replay = len(replay)
    inline = evaluator is evaluate_inline
    unit = budget.unit
    # the per-trial bookkeeping is most of the engine's own cost on a microsecond objective:
    # bound methods, not a dict lookup and an attribute lookup per column per trial
    (add_trial, add_round, add_config, add_fidelity, add_resume, add_value, add_true,
     add_test, add_status, add_error, add_cost, add_cost_fe, add_cum_cost, add_used, add_ask,
     add_eval, add_tell, add_t_start, add_t_end, add_info) = (cols[c].append for c in (
        "trial", "round", "config", "fidelity", "resume_from", "value", "true_value",
        "test_value", "status", "error", "cost", "cost_fe", "cum_cost", "budget_used", "ask_s",
        "eval_s", "tell_s", "t_start", "t_end", "info"))
    param_adds = [(col.append, p) for col, p in zip(param_cols, params)]

    while spent < amount - EPS:
        n = n_default
        if by_evals:
            n = max(1, min(n, math.ceil(amount - spent - EPS)))
        t0 = perf()
        try:
            suggestions = driver.ask(n)
        except Exception as exc:
            return _fail(result, spent, "ask", exc)
        ask_s = perf() - t0
        if suggestions is None or len(suggestions) == 0:
            result.reason = "optimizer-exhausted"
            break
        if len(suggestions) > n:
            return _fail(result, spent, "ask",
                         OptimizerError(f"ask({n}) returned {len(suggestions)} suggestions"))
        observations = []
        stop = False
        share = ask_s / len(suggestions)
        pre: list = []
        if many is not None and trial >= n_replay:
            pre = _prefetch(problem, suggestions, many, trial=trial, spent=spent,
                            amount=amount, by_evals=by_evals, reached=reached,
                            scratch=scratch, needs_ctx=needs_ctx)
        for idx, s in enumerate(suggestions):
            if not isinstance(s, Suggestion):
                s = Suggestion(s)
            try:
                config = space.validate(s.config)
            except InvalidConfig as exc:
                return _fail(result, spent, "ask",
                             OptimizerError(f"suggestion outside the space: {exc}"))
            fidelity = s.fidelity
            if fidelity is not None:
                if fid is None:
                    return _fail(result, spent, "ask", OptimizerError(
                        f"suggested fidelity {fidelity} but {problem.name} has no fidelity"))
                try:
                    fidelity = fid.check(fidelity)
                except ValueError as exc:
                    return _fail(result, spent, "ask", OptimizerError(str(exc)))
                if fidelity >= f_max:
                    fidelity = None
            start_f = 0.0
            if s.resume_from is not None:
                if "checkpoint" not in problem.capabilities:
                    return _fail(result, spent, "ask", OptimizerError(
                        f"resume_from={s.resume_from} but {problem.name} cannot checkpoint"))
                if s.resume_from not in reached:
                    return _fail(result, spent, "ask", OptimizerError(
                        f"resume_from={s.resume_from} names no finished trial"))
                start_f = reached[s.resume_from]
            # full-fidelity-equivalent cost, known before evaluating
            if f_max is None:
                planned = 1.0
            else:
                target = f_max if fidelity is None else fidelity
                planned = max(0.0, target - start_f) / f_max
            if by_evals and spent + planned > amount + EPS:
                stop = True
                result.reason = "budget"
                break
            config_s = None if defer_config else config_json(config)
            t_end = None
            replayed = False
            if trial < n_replay:
                jr = replay[trial]
                if (jr["config"] == config_s and jr["fidelity"] == fidelity
                        and jr["resume_from"] == s.resume_from
                        and jr["want_grad"] == s.want_grad):
                    status, error = jr["status"], jr["error"]
                    rec = journal.evaluation(jr)
                    eval_s, t_start, t_end = jr["eval_s"], jr["t_start"], jr["t_end"]
                    journal.replayed += 1
                    replayed = True
                else:  # the optimizer did not ask the same again: evaluate from here on
                    journal.cut(trial)
                    replay, n_replay = journal.replay, trial
            if replayed:
                pass
            elif idx < len(pre):
                outcome, eval_s, t_start, t_end = pre[idx]
                status, error, rec = _classify(outcome)
            else:
                ctx = EvalContext(trial=trial, scratch=scratch, resume_from=s.resume_from,
                                  want_grad=s.want_grad) if needs_ctx else None
                t_start = wall()
                t1 = perf()
                status, error, rec = "ok", "", None
                try:
                    if inline:
                        rec = problem.evaluate(config, fidelity=fidelity, ctx=ctx)
                    else:
                        rec = evaluator(problem, config, fidelity, ctx)
                    if not _finite(rec.value):
                        status, error = "failed", f"objective returned {rec.value!r}"
                except TimeoutError as exc:
                    status, error = "timeout", str(exc) or "evaluation timed out"
                except Exception as exc:
                    status, error = "failed", f"{type(exc).__name__}: {exc}"
                eval_s = perf() - t1
            if rec is not None and rec.cost_fe is not None:
                cost_fe = float(rec.cost_fe)
            else:
                cost_fe = planned
            cost = float(rec.cost) if rec is not None and _finite(rec.cost) else None
            if by_evals:
                spent += cost_fe
            elif unit == "cost":
                spent += planned if cost is None else cost
            else:
                spent += eval_s
            if cost is None:
                cost = 0.0
            cum_cost += cost
            if status == "ok":
                reached[trial] = f_max if (fidelity is None and f_max is not None) else \
                    (fidelity or 0.0)
                value = float(rec.value)
                true_value = rec.true_value
                true_value = float(true_value) if _finite(true_value) else math.nan
                test_value = rec.test_value
                test_value = float(test_value) if test_value is not None \
                    and _finite(test_value) else math.nan
            else:
                value = true_value = test_value = math.nan
            grad = rec.grad if rec is not None else None
            observations.append(Observation(s, trial, value, status, cost_fe, grad, error))
            add_trial(trial)
            add_round(rnd)
            add_config(config_s)
            for add, p in param_adds:
                add(config.get(p))
            add_fidelity(fidelity if fidelity is not None else f_max)
            add_resume(s.resume_from)
            add_value(value)
            add_true(true_value)
            add_test(test_value)
            add_status(status)
            add_error(error)
            add_cost(cost)
            add_cost_fe(cost_fe)
            add_cum_cost(cum_cost)
            add_used(spent)
            add_ask(share)
            add_eval(eval_s)
            add_tell(0.0)
            add_t_start(t_start)
            if t_end is None:
                t_end = wall()
            if journal is not None and not replayed:
                journal.append(journal.record(trial, config_s, fidelity, s.resume_from,
                                              s.want_grad, status, error, rec, eval_s,
                                              t_start, t_end))
            add_t_end(t_end)
            add_info(json.dumps(rec.info, default=str) if rec is not None and rec.info else "")
            trial += 1
            if on_trial is not None:
                on_trial(spent)
            if spent >= amount - EPS:
                break
        if observations:
            t2 = perf()
            try:
                driver.tell(observations)
            except Exception as exc:
                return _fail(result, spent, "tell", exc)
            tell_share = (perf() - t2) / len(observations)
            tell_col = cols["tell_s"]
            for i in range(len(tell_col) - len(observations), len(tell_col)):
                tell_col[i] = tell_share
        rnd += 1
        if stop:
            break
    else:
        result.reason = "budget"
    if not result.reason:
        result.reason = "budget" if spent >= amount - EPS else "optimizer-exhausted"
    result.spent = spent
    if isinstance(driver, ConstantLiar) and not driver.copyable:
        result.extra["batch_strategy"] = "sequential (optimizer cannot be copied)"
    return result


def _fail(result: CellResult, spent: float, where: str, exc: BaseException) -> CellResult:
    result.status = "failed"
    result.reason = f"optimizer raised in {where}: {type(exc).__name__}: {exc}"
    result.error = "".join(traceback.format_exception(exc))
    result.spent = spent
    return result


def not_applicable(problem: Problem, optimizer_cls: type, params: list[str]) -> CellResult:
    missing = sorted(set(optimizer_cls.requires) - set(problem.capabilities))
    result = CellResult(columns=empty_columns(params), params=params, status="not-applicable",
                        reason=f"problem {problem.name} lacks {', '.join(missing)}")
    return result
