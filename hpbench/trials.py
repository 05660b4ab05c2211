"""Trials: their statuses, the column schema of a cell's trial table, and the recorder that
fills it.

One row per evaluation. ``TRIAL_COLUMNS`` is the one schema: the runner records it, the store
writes it, and the analysis reads it (``hpbench.analysis.load`` imports it, it does not repeat
it). A config is stored twice: as JSON text (``config``) and as one ``param.<name>`` column per
parameter, whose types follow the space.

============ ======= =================================================================
column       type    meaning
============ ======= =================================================================
trial        int64   0, 1, … in the order the trials were recorded
round        int64   the ask/tell round the trial belongs to
config       string  the config as JSON (``json.dumps``; inactive parameters absent)
fidelity     float64 the fidelity evaluated at (full fidelity when the problem has one)
resume_from  int64   the trial whose checkpoint the evaluation continued, else null
value        float64 what the optimizer was told (NaN unless ``status`` is ``ok``)
true_value   float64 the noise-free value where the problem knows it
test_value   float64 a score on data the optimizer never sees, where the problem has one
status       string  a ``TrialStatus``: ok, failed, timeout
error        string  why a trial failed ("" when ok)
cost         float64 the problem's own cost units (0 when it reported none)
cost_fe      float64 the full-fidelity-equivalent cost charged to an evaluations budget
cum_cost     float64 running sum of ``cost``
budget_used  float64 the cell's budget spent after this trial, in the budget's unit
ask_s        float64 seconds in ``ask``, shared evenly among the round's suggestions
eval_s       float64 seconds evaluating
tell_s       float64 seconds in ``tell``, shared evenly among the round's observations
t_start      float64 wall clock (``time.time()``) when the evaluation started
t_end        float64 wall clock when it ended
info         string  the evaluation's free-form extras as JSON ("" when none)
incumbent    int64   the trial the optimizer recommends after this trial's ``tell``
                     (``Optimizer.recommend``); null: no opinion (the analysis then takes
                     the best observed full-fidelity value)
v_start      float64 virtual time the trial started on its simulated worker (seconds
                     since the cell's start; ``--sim-workers``, ``hpbench.simclock``);
                     NaN when the cell was not simulated
v_end        float64 virtual time it ended (``v_start`` + its duration); NaN when not
                     simulated
============ ======= =================================================================

In a simulated cell (``--sim-workers K``) rows are in completion order and ``trial`` numbers
them in that order, as everywhere; ``resume_from`` and ``incumbent`` use those numbers too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class TrialStatus(StrEnum):
    """How one evaluation ended. A ``str``: ``TrialStatus.OK == "ok"``."""

    OK = "ok"
    FAILED = "failed"  # the objective raised, returned NaN / infinity, or its process died
    TIMEOUT = "timeout"  # killed after the cell's per-trial timeout


class CellStatus(StrEnum):
    """How one cell ended."""

    DONE = "done"  # the budget was spent, or the optimizer had nothing more to suggest
    FAILED = "failed"  # the optimizer broke the contract or raised; trials so far are kept
    NOT_APPLICABLE = "not-applicable"  # the problem lacks a capability the optimizer needs


#: the trial columns in order, with their Arrow types (``param.<name>`` columns follow)
TRIAL_COLUMNS: dict[str, str] = {
    "trial": "int64", "round": "int64", "config": "string", "fidelity": "float64",
    "resume_from": "int64", "value": "float64", "true_value": "float64",
    "test_value": "float64", "status": "string", "error": "string", "cost": "float64",
    "cost_fe": "float64", "cum_cost": "float64", "budget_used": "float64", "ask_s": "float64",
    "eval_s": "float64", "tell_s": "float64", "t_start": "float64", "t_end": "float64",
    "info": "string", "incumbent": "int64", "v_start": "float64", "v_end": "float64",
}
#: the columns filled after a round's ``tell`` instead of by ``TrialRecorder.record``
AFTER_TELL = ("incumbent",)
#: the columns only the simulated clock fills (``TrialRecorder.virtual``); NaN otherwise
VIRTUAL = ("v_start", "v_end")
PARAM_PREFIX = "param."


def arrow_schema(columns: list[str] | None = None):
    """The ``pyarrow`` schema of ``columns`` (default: every trial column)."""
    import pyarrow as pa

    names = list(TRIAL_COLUMNS) if columns is None else columns
    return pa.schema([(c, getattr(pa, TRIAL_COLUMNS[c])()) for c in names])


def empty_columns(params: list[str], *, virtual: bool = False) -> dict[str, list]:
    """Empty trial columns, then one per parameter; the ``VIRTUAL`` columns only when asked
    (a table built by hand may leave them out: they are read back as NaN)."""
    cols: dict[str, list] = {c: [] for c in TRIAL_COLUMNS if virtual or c not in VIRTUAL}
    for p in params:
        cols[PARAM_PREFIX + p] = []
    return cols


class TrialRecorder:
    """The trial table of one cell, column by column, filled one trial at a time.

    ``record`` appends one row. It is a large part of the engine's own cost per trial on a
    microsecond objective, so it appends through bound methods kept in a tuple, and creates
    no object per trial (each one would also bring the garbage collector round sooner).
    """

    def __init__(self, params: list[str]) -> None:
        self.params = params
        self.columns = empty_columns(params, virtual=True)
        self.tell_s = self.columns["tell_s"]
        self._append = tuple(self.columns[c].append for c in TRIAL_COLUMNS
                             if c not in AFTER_TELL and c not in VIRTUAL)
        self.incumbent = self.columns["incumbent"]
        self._params = [(self.columns[PARAM_PREFIX + p].append, p) for p in params]

    def __len__(self) -> int:
        return len(self.columns["trial"])

    def record(self, trial: int, rnd: int, config: dict[str, Any], config_text: str | None,
               fidelity: float | None, resume_from: int | None, value: float,
               true_value: float, test_value: float, status: TrialStatus, error: str,
               cost: float, cost_fe: float, cum_cost: float, budget_used: float, ask_s: float,
               eval_s: float, t_start: float, t_end: float, info: str) -> None:
        (a_trial, a_round, a_config, a_fidelity, a_resume, a_value, a_true, a_test, a_status,
         a_error, a_cost, a_cost_fe, a_cum, a_used, a_ask, a_eval, a_tell, a_start, a_end,
         a_info) = self._append
        a_trial(trial)
        a_round(rnd)
        a_config(config_text)
        for add, p in self._params:
            add(config.get(p))
        a_fidelity(fidelity)
        a_resume(resume_from)
        a_value(value)
        a_true(true_value)
        a_test(test_value)
        a_status(status)
        a_error(error)
        a_cost(cost)
        a_cost_fe(cost_fe)
        a_cum(cum_cost)
        a_used(budget_used)
        a_ask(ask_s)
        a_eval(eval_s)
        a_tell(0.0)
        a_start(t_start)
        a_end(t_end)
        a_info(info)

    def recommend(self, n: int, previous: int | None, now: int | None) -> None:
        """The ``incumbent`` of the last ``n`` trials (one round): the recommendation in
        force while they ran (``previous``), and ``now`` (after the round's ``tell``) for the
        last one."""
        col = self.incumbent
        if n > 1:
            col.extend([previous] * (n - 1))
        col.append(now)

    def virtual(self, v_start: float, v_end: float) -> None:
        """The virtual start and end of the trial just recorded (the simulated clock)."""
        self.columns["v_start"].append(v_start)
        self.columns["v_end"].append(v_end)

    def finish(self) -> None:
        """Fill the ``incumbent`` of the trials no recommendation was asked for (an optimizer
        without the hook: every trial; a ``tell`` that raised: its round) with null, and the
        virtual times of a cell that was not simulated with NaN."""
        n = len(self.columns["trial"])
        missing = n - len(self.incumbent)
        if missing > 0:
            self.incumbent.extend([None] * missing)
        for c in VIRTUAL:
            col = self.columns[c]
            if len(col) < n:
                col.extend([float("nan")] * (n - len(col)))

    def share_tell(self, n: int, seconds: float) -> None:
        """Give each of the last ``n`` trials an equal share of a ``tell`` that took
        ``seconds``."""
        col = self.tell_s
        share = seconds / n
        for i in range(len(col) - n, len(col)):
            col[i] = share


@dataclass
class CellResult:
    """The trials of one cell, column-wise, and how the cell ended."""

    columns: dict[str, list]
    params: list[str]
    status: CellStatus = CellStatus.DONE
    reason: str = ""  # why it stopped: "budget", "optimizer-exhausted", an error, …
    error: str = ""  # the traceback when the optimizer failed
    spent: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_trials(self) -> int:
        return len(self.columns["trial"])

    @classmethod
    def empty(cls, params: list[str], status: CellStatus, reason: str, *, error: str = "",
              extra: dict[str, Any] | None = None) -> CellResult:
        """A cell that recorded no trial (not applicable, or lost before it ran)."""
        return cls(columns=empty_columns(params, virtual=True), params=params, status=status,
                   reason=reason, error=error, extra=dict(extra or {}))
