"""The simulated parallel clock: one cell on K virtual workers (``--sim-workers K``).

Parallel HPO methods differ in how they use K workers over wall time (ASHA and asynchronous
BO keep every worker busy; synchronous successive halving and generation-based population
methods idle workers until a rung or generation is complete), so comparing them needs a
clock. ``SimLoop`` is another driver of the runner's steps (``hpbench.runner._Loop``: ask,
admit, obtain, charge, record, tell), after the simulator backend of Syne Tune (Salinas et
al. 2022, "Syne Tune: A Library for Large Scale Hyperparameter Tuning and Reproducible
Research", AutoML Conf; ``syne_tune.backend.simulator_backend.SimulatorBackend``), which
places each evaluation on a simulated timeline by the time it reports instead of spending
it. docs/simulated-clock.md has the semantics; in short:

* the virtual clock starts at 0; K workers; a trial occupies a worker for its duration, the
  problem's modelled ``Evaluation.seconds`` when it reports one, else the measured seconds
  of its evaluation (a failed evaluation: its measured seconds);
* whenever a worker is free and the budget allows, the next suggestion is admitted
  (validated, priced, charged to the budget, evaluated now for real) with
  ``v_start = now``, ``v_end = now + duration``; suggestions come from an ``ask`` for as
  many as there are free workers (an asynchronous optimizer, with the pending trials still
  untold) or, for a synchronous optimizer (``Optimizer.synchronous``), from one ``ask`` for
  its whole round once none of its trials is pending;
* the clock jumps to the earliest ``v_end``; the trials that end then are recorded and told
  together, in the order (``v_end``, start order); rows are recorded in that completion
  order and numbered in it;
* the run stops admitting exactly at the budget (as the usual loop: a suggestion that no
  longer fits ends it); pending trials finish and are recorded;
* the optimizer's own ask and tell time does not advance the clock (recorded as ``ask_s``
  and ``tell_s`` as always): virtual times depend only on the seeds and the durations.

No real waiting anywhere: a 16-worker, 200-evaluation study costs what its evaluations and
the optimizer cost.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections import deque
from typing import Any

from hpbench.config_text import config_json
from hpbench.optimizer import Observation
from hpbench.runner import (
    EPS,
    FAILED,
    OptimizerError,
    Trial,
    _CellFailed,
    _finite,
    _Loop,
    _wall,
)

__all__ = ["ROUND_ASK", "SimLoop", "check_workers", "sim_loop"]

#: how many suggestions a synchronous optimizer is asked for at once: its whole round (a
#: rung of a bracket, a generation); a longer round is handed out in parts of this size
ROUND_ASK = 4096


def check_workers(value: Any, what: str = "sim_workers") -> int:
    """``value`` as a number of simulated workers; ``ValueError`` unless a positive int."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{what} must be a positive integer (the number of simulated "
                         f"workers), got {value!r}")
    return value


class SimLoop(_Loop):
    """One cell's loop on ``workers`` simulated workers under a virtual clock."""

    def __init__(self, *args: Any, workers: int, **kwargs: Any) -> None:
        if kwargs.get("batch") is not None:
            raise ValueError("sim_workers and batch cannot be combined: the simulated "
                             "workers decide how many suggestions are asked at once")
        super().__init__(*args, **kwargs)
        self.workers = check_workers(workers)
        self.synchronous = bool(getattr(self.optimizer, "synchronous", False))
        self.now = 0.0
        #: the trials being evaluated: a heap of (v_end, number, trial)
        self.running: list[tuple[float, int, Trial]] = []
        #: suggestions asked and not yet started: (suggestion, round, share of ask_s)
        self.queue: deque[tuple[Any, int, float]] = deque()
        self.started = 0  # trials admitted so far: the next one's number
        self.row_of = {}
        self.clocks: set[str] = set()  # "modelled" / "measured": how durations were known
        self.busy = 0.0  # worker-seconds of all durations

    # -- the driver -------------------------------------------------------------------------
    def drive(self) -> None:
        admitting = True
        while True:
            if admitting:
                admitting = self.fill()
            if not self.running:
                break
            self.complete()
        result = self.result
        clock = "/".join(sorted(self.clocks)) if len(self.clocks) == 1 else \
            ("mixed" if self.clocks else "none")
        result.extra["sim"] = {"workers": self.workers, "clock": clock,
                               "synchronous": self.synchronous, "makespan": self.now,
                               "busy_s": self.busy,
                               "utilization": self.busy / (self.workers * self.now)
                               if self.now > 0 else math.nan}

    def committed(self) -> float:
        """The budget spent by the recorded trials and charged to the running ones."""
        return self.spent + sum(tr.charged for _, _, tr in self.running)

    def fill(self) -> bool:
        """Start trials on the free workers; False once no trial will be admitted again
        (the budget is spent, the optimizer is done, or the cell stalled)."""
        limit = self.amount + EPS if self.by_evals else math.inf
        while len(self.running) < self.workers:
            committed = self.committed()
            if committed >= self.amount - EPS:
                self.result.reason = "budget"
                return False
            if self.started >= self.max_trials:
                self.stalled()
                return False
            if not self.queue:
                if self.synchronous and self.running:
                    return True  # the round is not complete: the free workers idle
                if not self.ask_more():
                    if self.running:  # perhaps more once a pending trial is told
                        return True
                    self.result.reason = "optimizer-exhausted"
                    return False
            s, rnd, share = self.queue.popleft()
            try:
                tr = self.admit(s)
            except OptimizerError as exc:
                raise _CellFailed("ask", exc) from None
            if committed + tr.planned > limit:  # it no longer fits: the budget is spent
                self.result.reason = "budget"
                self.queue.clear()
                return False
            self.start(tr, rnd, share)
        return True

    def ask_more(self) -> bool:
        """Ask the optimizer and queue what it suggests; False when it suggests nothing."""
        if self.synchronous:
            n = max(self.workers, self.n_default, ROUND_ASK)
        else:
            n = self.workers - len(self.running)
            if self.by_evals:
                n = max(1, min(n, math.ceil(self.amount - self.committed() - EPS)))
        suggestions = self.ask(n)
        if suggestions is None or len(suggestions) == 0:
            return False
        share = self.ask_s / len(suggestions)
        rnd = self.rnd
        self.queue.extend((s, rnd, share) for s in suggestions)
        self.rnd += 1
        return True

    def start(self, tr: Trial, rnd: int, share: float) -> None:
        """Evaluate an admitted trial now and put it on a worker until its ``v_end``."""
        tr.index, tr.rnd, tr.share = self.started, rnd, share
        self.started += 1
        if not self.defer_config:
            tr.config_text = config_json(tr.config)
        self.obtain(tr, None)
        if tr.t_end is None:
            tr.t_end = _wall()
        duration = self.duration(tr)
        # priced now, charged to the budget's columns when recorded (``committed``)
        spent, cum_cost = self.spent, self.cum_cost
        self.charge(tr)
        tr.charged = self.spent - spent
        self.spent, self.cum_cost = spent, cum_cost
        if self.journal is not None and not tr.replayed:
            self.journal_trial(tr, tr.index, tr.t_end)
        tr.v_start, tr.v_end = self.now, self.now + duration
        self.busy += duration
        heapq.heappush(self.running, (tr.v_end, tr.index, tr))

    def duration(self, tr: Trial) -> float:
        """How long ``tr`` occupies its worker: the problem's modelled seconds when it
        reports them (and the trial is ok), else the measured evaluation seconds."""
        rec = tr.record
        seconds = rec.seconds if rec is not None else None
        if seconds is not None and not (_finite(seconds) and seconds >= 0):
            tr.status, tr.record = FAILED, None
            tr.error = f"the problem reported seconds={seconds!r} (must be a finite " \
                "number >= 0)"
            seconds = None
        if seconds is not None and tr.status == "ok":
            self.clocks.add("modelled")
            return float(seconds)
        self.clocks.add("measured")
        return max(0.0, float(tr.eval_s or 0.0))

    def complete(self) -> None:
        """Advance the clock to the earliest end; record and tell the trials ending then."""
        running = self.running
        end = running[0][0]
        self.now = end
        observations: list[Observation] = []
        while running and running[0][0] <= end:
            tr = heapq.heappop(running)[2]
            self.charge(tr)
            observations.append(self.record(tr, tr.share))
            self.row_of[tr.index] = self.trial - 1
            self.recorder.virtual(tr.v_start, tr.v_end)
        self.tell(observations)

    def virtual_keys(self, tr: Trial) -> tuple[int, int, int | None]:
        resume = tr.suggestion.resume_from
        return tr.index, tr.rnd, (None if resume is None else self.row_of[resume])


def sim_loop(workers: int | None) -> Any:
    """The ``loop`` argument of ``hpbench.runner.run_loop`` for ``workers`` simulated
    workers (None: the usual loop)."""
    if workers is None:
        return None
    check_workers(workers)
    return functools.partial(SimLoop, workers=workers)
