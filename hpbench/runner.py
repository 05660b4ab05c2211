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
import operator
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hpbench._procutil import deadline
from hpbench.batching import ConstantLiar, batch_strategy
from hpbench.budget import Budget
from hpbench.config_text import config_json, float_rows_json
from hpbench.journal import Journal
from hpbench.optimizer import Observation, Optimizer, Suggestion, recommender
from hpbench.problem import EvalContext, Evaluation, Problem
from hpbench.space import InvalidConfig
from hpbench.trials import PARAM_PREFIX, CellResult, CellStatus, TrialRecorder, TrialStatus

__all__ = ["EPS", "Evaluator", "OptimizerError", "evaluate_inline", "run_loop"]

#: float slack when comparing spent and budget (fidelity fractions do not add up exactly)
EPS = 1e-9
#: trials per unit of budget after which a cell that does not spend its budget ends (the
#: cheapest fidelity of the multi-fidelity methods here costs 1/243 of an evaluation)
MAX_TRIALS_PER_UNIT = 1000

OK, FAILED, TIMEOUT = TrialStatus.OK, TrialStatus.FAILED, TrialStatus.TIMEOUT
_perf, _wall = time.perf_counter, time.time  # looked up once per trial each, not twice


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


class Trial:
    """One trial on its way through the steps of a round: ``admit`` makes it (the
    suggestion, its validated config and fidelity, its planned cost), ``obtain`` adds the
    outcome, ``charge`` the costs, and ``record`` writes it down. (One slotted object per
    trial: the engine's own cost per trial is a few microseconds.)"""

    __slots__ = ("charged", "config", "config_text", "cost", "cost_fe", "error", "eval_s",
                 "fidelity", "index", "planned", "record", "replayed", "rnd", "share", "status",
                 "suggestion", "t_end", "t_start", "v_end", "v_start")

    def __init__(self, suggestion: Suggestion, config: dict[str, Any], fidelity: float | None,
                 planned: float) -> None:
        self.suggestion = suggestion
        self.config = config
        self.fidelity = fidelity  # None: full fidelity
        self.planned = planned  # full-fidelity-equivalent cost, known before evaluating
        self.config_text: str | None = None  # the config's JSON (None: written at the end)
        self.replayed = False
        # the number the optimizer and the problem know it by when it differs from its row:
        # the simulated clock (``hpbench.simclock``) numbers trials as they start and records
        # them as they end; None: the row's number
        self.index: int | None = None

    def outcome(self, status: TrialStatus, error: str, record: Evaluation | None,
                eval_s: float, t_start: float, t_end: float | None) -> None:
        """Set what evaluating it gave; ``t_end`` None means now, when it is recorded."""
        self.status, self.error, self.record = status, error, record
        self.eval_s, self.t_start, self.t_end = eval_s, t_start, t_end


def _bad_cost(rec: Evaluation) -> str:
    """Why a record's costs cannot be charged ('' when they can): a negative cost would give
    budget back and a NaN one break the accounting."""
    for name, cost in (("cost", rec.cost), ("cost_fe", rec.cost_fe)):
        if cost is not None and not (_finite(cost) and cost >= 0):
            return f"the problem reported {name}={cost!r} (must be a finite number >= 0)"
    return ""


def _classify(outcome: Evaluation | BaseException) -> tuple[TrialStatus, str, Evaluation | None]:
    """(status, error, record) of an evaluation's result or exception."""
    if isinstance(outcome, BaseException):
        if isinstance(outcome, TimeoutError):
            return TIMEOUT, str(outcome) or "evaluation timed out", None
        return FAILED, f"{type(outcome).__name__}: {outcome}", None
    if not _finite(outcome.value):
        return FAILED, f"objective returned {outcome.value!r}", outcome
    bad = _bad_cost(outcome)
    if bad:
        return FAILED, bad, None
    return OK, "", outcome


class _Loop:
    """The state of one cell's loop; ``run`` drives it round by round."""

    def __init__(self, problem: Problem, optimizer: Optimizer, budget: Budget, *,
                 batch: int | None, scratch: Path | None, evaluator: Evaluator,
                 on_trial: Callable[[float], None] | None, journal: Journal | None,
                 defer_config: bool, call_timeout: float | None) -> None:
        self.problem, self.space, self.optimizer = problem, problem.space, optimizer
        self.call_timeout = call_timeout
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
        # a cell whose trials cost nothing would never end: at most so many trials per unit
        # (a wall-clock budget always moves)
        self.max_trials = math.inf if budget.unit == "seconds" else \
            max(MAX_TRIALS_PER_UNIT, MAX_TRIALS_PER_UNIT * self.amount)
        self.journal = journal
        self.replay = journal.replay if journal is not None else ()
        self.n_replay = len(self.replay)
        self.defer_config = defer_config
        self.spent = self.cum_cost = self.ask_s = 0.0
        self.trial = self.rnd = 0
        self.reached: dict[int, float] = {}  # fidelity each finished trial reached
        self.recorder = TrialRecorder(list(self.space.names))
        self.result = CellResult(columns=self.recorder.columns, params=self.recorder.params)
        # the optimizer's ``recommend`` hook, None without one (then never called: the
        # analysis computes the default incumbent from the trial table)
        self.recommend = recommender(optimizer)
        self.recommended: int | None = None  # its last answer
        #: the simulated clock's row of each trial number (None: the same numbers)
        self.row_of: dict[int, int] | None = None
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
    def ask(self, n: int | None = None) -> list:
        """The optimizer's suggestions for the next round (``ask_s``: the seconds it took):
        ``n`` of them, or by default the round's size, at most what the budget can hold."""
        if n is None:
            n = self.n_default
            if self.by_evals:
                n = max(1, min(n, math.ceil(self.amount - self.spent - EPS)))
        t0 = _perf()
        try:
            if self.call_timeout is None:  # (a context manager per call costs 5 % of a trial)
                suggestions = self.driver.ask(n)
            else:
                with deadline(self.call_timeout, f"ask({n})"):
                    suggestions = self.driver.ask(n)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's SystemExit too: recorded, the run goes on
            raise _CellFailed("ask", exc) from None
        self.ask_s = _perf() - t0
        if suggestions is not None and len(suggestions) > n:
            raise _CellFailed("ask", OptimizerError(
                f"ask({n}) returned {len(suggestions)} suggestions"))
        return suggestions

    def admit(self, s: Any) -> Trial:
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
        return Trial(s, config, fidelity, planned)

    def fits(self, spent: float, planned: float) -> bool:
        return not (self.by_evals and spent + planned > self.amount + EPS)

    def context(self, trial: int, s: Suggestion) -> EvalContext | None:
        """What an evaluation of a problem with checkpoints or hypergradients is told."""
        return EvalContext(trial=trial, scratch=self.scratch, resume_from=s.resume_from,
                           want_grad=s.want_grad)

    def evaluate_round(self, suggestions: list) -> tuple[list[Trial], list]:
        """The leading suggestions of a round that the loop will evaluate, admitted once and
        evaluated concurrently (``evaluate_many``): valid ones that fit the budget at their
        planned cost. The loop records them in order, and admits and evaluates alone
        whatever this left out. The evaluator reports each item's own evaluation time, so
        the set-up of a replaced evaluation process is not charged to a trial."""
        admitted: list[Trial] = []
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
        items = [(a.config, a.fidelity,
                  self.context(self.trial + i, a.suggestion) if self.needs_ctx else None)
                 for i, a in enumerate(admitted)]
        return admitted, (list(self.many(self.problem, items)) if items else [])

    def obtain(self, tr: Trial, pre: tuple | None) -> None:
        """The outcome of an admitted trial: replayed, pre-evaluated or evaluated now."""
        trial = self.trial if tr.index is None else tr.index
        if trial < self.n_replay and self.replay_trial(trial, tr):
            return
        if pre is not None:
            result, eval_s, t_start, t_end = pre
            tr.outcome(*_classify(result), eval_s, t_start, t_end)
            return
        s = tr.suggestion
        ctx = EvalContext(trial=trial, scratch=self.scratch, resume_from=s.resume_from,
                          want_grad=s.want_grad) if self.needs_ctx else None
        tr.t_start = _wall()
        t1 = _perf()
        tr.status, tr.error, tr.record, tr.t_end = OK, "", None, None
        try:
            if self.inline:
                rec = tr.record = self.problem.evaluate(tr.config, fidelity=tr.fidelity, ctx=ctx)
            else:
                rec = tr.record = self.evaluator(self.problem, tr.config, tr.fidelity, ctx)
            if not _finite(rec.value):
                tr.status, tr.error = FAILED, f"objective returned {rec.value!r}"
            elif rec.cost != 1.0 or rec.cost_fe is not None:  # (the default needs no check)
                bad = _bad_cost(rec)
                if bad:
                    tr.status, tr.error, tr.record = FAILED, bad, None
        except TimeoutError as exc:
            tr.status, tr.error = TIMEOUT, str(exc) or "evaluation timed out"
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a plugin's SystemExit too: a failed trial
            tr.status, tr.error = FAILED, f"{type(exc).__name__}: {exc}"
        tr.eval_s = _perf() - t1

    def replay_trial(self, trial: int, tr: Trial) -> bool:
        """Give ``tr`` the journal's outcome of ``trial`` when the resumed optimizer asked the
        same again; else cut the journal there (the cell evaluates from this trial on)."""
        jr = self.replay[trial]
        s = tr.suggestion
        if (jr["config"] == tr.config_text and jr["fidelity"] == tr.fidelity
                and jr["resume_from"] == s.resume_from and jr["want_grad"] == s.want_grad):
            self.journal.replayed += 1
            tr.outcome(TrialStatus(jr["status"]), jr["error"], self.journal.evaluation(jr),
                       jr["eval_s"], jr["t_start"], jr["t_end"])
            tr.replayed = True
            return True
        self.journal.cut(trial)
        self.replay = self.journal.replay
        self.n_replay = len(self.replay)
        return False

    def charge(self, tr: Trial) -> None:
        """Charge the budget and the cumulative cost for one trial."""
        rec = tr.record
        tr.cost_fe = float(rec.cost_fe) if rec is not None and rec.cost_fe is not None \
            else tr.planned
        cost = float(rec.cost) if rec is not None and _finite(rec.cost) else None
        if self.by_evals:
            self.spent += tr.cost_fe
        elif self.unit == "cost":
            self.spent += tr.planned if cost is None else cost
        else:
            self.spent += tr.eval_s
        tr.cost = 0.0 if cost is None else cost
        self.cum_cost += tr.cost

    def record(self, tr: Trial, ask_s: float) -> Observation:
        """One row of the trial table and the journal; the observation for ``tell``."""
        trial, s, rec, status = self.trial, tr.suggestion, tr.record, tr.status
        if tr.index is None:
            ident, rnd, resume_from = trial, self.rnd, s.resume_from
        else:  # the simulated clock: rows in completion order (``hpbench.simclock``)
            ident, rnd, resume_from = self.virtual_keys(tr)
        if status is OK:
            f_max, fidelity = self.f_max, tr.fidelity
            self.reached[ident] = f_max if (fidelity is None and f_max is not None) else \
                (fidelity or 0.0)
            value = float(rec.value)
            true_value = float(rec.true_value) if _finite(rec.true_value) else math.nan
            test_value = float(rec.test_value) if rec.test_value is not None \
                and _finite(rec.test_value) else math.nan
        else:
            value = true_value = test_value = math.nan
        t_end = tr.t_end if tr.t_end is not None else _wall()
        self.recorder.record(
            trial, rnd, tr.config, tr.config_text,
            tr.fidelity if tr.fidelity is not None else self.f_max, resume_from, value,
            true_value, test_value, status, tr.error, tr.cost, tr.cost_fe, self.cum_cost,
            self.spent, ask_s, tr.eval_s, tr.t_start, t_end,
            json.dumps(rec.info, default=str) if rec is not None and rec.info else "")
        if self.journal is not None and not tr.replayed and tr.index is None:
            self.journal_trial(tr, trial, t_end)
        self.trial += 1
        if self.on_trial is not None:
            self.on_trial(self.spent)
        return Observation(s, ident, value, status, tr.cost_fe,
                           rec.grad if rec is not None else None, tr.error)

    def virtual_keys(self, tr: Trial) -> tuple[int, int, int | None]:
        """(number the optimizer knows it by, round, resume_from as a row) of a trial the
        simulated clock records; only ``hpbench.simclock.SimLoop`` records such trials."""
        raise NotImplementedError

    def journal_trial(self, tr: Trial, trial: int, t_end: float) -> None:
        """One line of the trial journal: the evaluation of ``tr``, numbered ``trial``."""
        s = tr.suggestion
        self.journal.append(self.journal.record(
            trial, tr.config_text, tr.fidelity, s.resume_from, s.want_grad, tr.status,
            tr.error, tr.record, tr.eval_s, tr.t_start, t_end))

    def tell(self, observations: list[Observation]) -> None:
        t0 = _perf()
        try:
            if self.call_timeout is None:
                self.driver.tell(observations)
            else:
                with deadline(self.call_timeout, "tell"):
                    self.driver.tell(observations)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise _CellFailed("tell", exc) from None
        seconds = _perf() - t0
        if len(observations) == 1:
            self.recorder.tell_s[-1] = seconds
        else:
            self.recorder.share_tell(len(observations), seconds)
        if self.recommend is not None:
            self.recommendation(len(observations))

    def recommendation(self, n: int) -> None:
        """Ask the optimizer's ``recommend`` hook after a round's ``tell`` and record it as
        the ``incumbent`` of the round's ``n`` trials (not timed as ``tell``: a user asks it
        once, at the end, not every round)."""
        try:
            if self.call_timeout is None:
                now = self.recommend()
            else:
                with deadline(self.call_timeout, "recommend"):
                    now = self.recommend()
            if now is not None:
                now = self.check_recommendation(now)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise _CellFailed("recommend", exc) from None
        before, after = self.recommended, now
        if self.row_of is not None:  # the simulated clock: the rows of those trials
            before, after = self.row_of.get(before), self.row_of.get(after)
        self.recorder.recommend(n, before, after)
        self.recommended = now

    def check_recommendation(self, now: Any) -> int:
        """``now`` as a trial number; ``OptimizerError`` unless it names a trial recorded so
        far that ended ok, at full fidelity where the problem has one (its true value is
        what incumbent regret scores)."""
        try:
            if isinstance(now, bool):
                raise TypeError
            trial = operator.index(now)
        except TypeError:
            raise OptimizerError(f"recommend() returned {now!r}; expected a trial number "
                                 "or None") from None
        reached = self.reached.get(trial)
        if reached is None:
            raise OptimizerError(f"recommend() returned trial {trial}, which is not a trial "
                                 f"that ended ok (trials so far: 0 to {self.trial - 1})")
        if self.f_max is not None and reached < self.f_max * (1 - EPS):
            raise OptimizerError(f"recommend() returned trial {trial}, evaluated at fidelity "
                                 f"{reached:g} < full fidelity {self.f_max:g}")
        return trial

    def stalled(self) -> None:
        """End a cell whose trials do not spend its budget (a problem reporting zero costs)."""
        result = self.result
        result.status = CellStatus.FAILED
        result.reason = (f"no progress: {self.trial} trials spent {self.spent:g} of "
                         f"{self.amount:g} {self.unit} (at most {MAX_TRIALS_PER_UNIT} trials "
                         "per unit of budget); does the problem report zero costs?")

    # -- the loop ---------------------------------------------------------------------------
    def round(self) -> bool:
        """One ask → evaluate → tell round; False when the cell is over."""
        suggestions = self.ask()
        if suggestions is None or len(suggestions) == 0:
            self.result.reason = "optimizer-exhausted"
            return False
        share = self.ask_s / len(suggestions)
        # (no object made per round that is not needed: every one brings the garbage
        # collector round sooner, which a round of one trial on a fast objective feels)
        admitted: Sequence[Trial] = ()
        pre: Sequence[tuple] = ()
        if self.many is not None and self.trial >= self.n_replay:
            admitted, pre = self.evaluate_round(suggestions)
        n_admitted, n_pre = len(admitted), len(pre)
        limit = self.amount + EPS if self.by_evals else math.inf
        observations = []
        for idx, s in enumerate(suggestions):
            try:
                tr = admitted[idx] if idx < n_admitted else self.admit(s)
            except OptimizerError as exc:
                raise _CellFailed("ask", exc) from None
            if self.spent + tr.planned > limit:  # it no longer fits: the budget is spent
                self.result.reason = "budget"
                if observations:
                    self.tell(observations)
                self.rnd += 1
                return False
            if not self.defer_config:
                tr.config_text = config_json(tr.config)
            self.obtain(tr, pre[idx] if idx < n_pre else None)
            self.charge(tr)
            observations.append(self.record(tr, share))
            if self.spent >= self.amount - EPS:
                break
            if self.trial >= self.max_trials:
                self.stalled()
                self.tell(observations)
                return False
        if observations:
            self.tell(observations)
        self.rnd += 1
        return True

    def drive(self) -> None:
        """Round after round until the budget is spent or the optimizer is done."""
        while self.spent < self.amount - EPS:
            if not self.round():
                return
        self.result.reason = "budget"

    def run(self) -> CellResult:
        result = self.result
        try:
            self.drive()
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
        self.recorder.finish()
        return result


def run_loop(problem: Problem, optimizer: Optimizer, budget: Budget, *,
             batch: int | None = None, scratch: Path | None = None,
             evaluator: Evaluator = evaluate_inline,
             on_trial: Callable[[float], None] | None = None,
             journal: Journal | None = None, call_timeout: float | None = None,
             loop: Callable[..., _Loop] | None = None) -> CellResult:
    """Run ``optimizer`` on ``problem`` until ``budget`` is spent.

    ``batch`` overrides the optimizer's preferred number of suggestions per ask (an
    optimizer with ``supports_batch = False`` gets its rounds built by its
    ``batch_fallback``, see ``hpbench.batching``). ``evaluator`` evaluates one config, or a
    round concurrently if it has ``evaluate_many``. ``on_trial(budget_used)`` is called after
    each trial (progress bars). ``journal`` logs each finished trial and replays the trials
    it already holds (see ``hpbench.journal``). ``call_timeout`` bounds each ``ask`` and
    ``tell``: one that runs longer fails the cell. ``loop`` is the driver of the runner's
    steps (default ``_Loop``, round after round); ``hpbench.simclock.sim_loop(K)`` runs the
    cell on K simulated workers under a virtual clock (not with ``batch``). The simulator
    is passed in rather than chosen here, so the runner does not import it back.
    """
    # an all-Float space's configs are written as JSON once, column by column, when the cell
    # ends (``config_text.float_rows_json``: a third of the cost of one at a time); a journal
    # needs each trial's text as it goes
    deferred = problem.space.all_float and journal is None
    options = dict(batch=batch, scratch=scratch, evaluator=evaluator, on_trial=on_trial,
                   journal=journal, defer_config=deferred, call_timeout=call_timeout)
    result = (loop or _Loop)(problem, optimizer, budget, **options).run()
    if deferred:
        cols = result.columns
        cols["config"] = float_rows_json(result.params,
                                         [cols[PARAM_PREFIX + p] for p in result.params])
    return result
