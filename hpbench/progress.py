"""Progress of a run: the cells done, the share of the run's work done and an ETA from
measured cell times; a bar on a terminal, a few plain lines otherwise.

The ETA is ``EtaEstimator``'s, not tqdm's rate: cells differ enormously in cost (a synthetic
function takes milliseconds per evaluation, a scikit-learn or PyTorch task seconds), so a
cell's expected time is learned from the cells that finished, by what they have in common
(below); cells skipped because the folder already holds them are no throughput; and the
expected work left is divided by the number of workers. ``scout_order`` runs a few cells of
every problem first (``api.run`` reorders the plan with it; values do not depend on the
order), so that every problem has a measured cell early in the run: a suite's expensive
problems usually come last (the default suite's scikit-learn and PyTorch group), and without
a measured cell of theirs no estimator can know what they cost. In the plan's order the ETA
of the default suite is 25-50 % short between 20 and 70 % of the run; with the scouts first,
within 20 % (tests/hpbench/test_progress.py).

On a terminal the bar (and, when the backend names workers, one line per worker) is redrawn at
most every ``REDRAW_S`` seconds; otherwise (a log file, CI) one plain line is written every
``LOG_STEP`` percent of the work or every ``LOG_EVERY_S`` seconds, whichever comes first.
Updates are called per trial in the serial backend: they cost a dict write and a clock read
unless a redraw is due.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, Any

from hpbench.cell import Cell

#: seconds between redraws of the bar on a terminal
REDRAW_S = 0.5
#: percent of the run's work between two lines when stderr is not a terminal
LOG_STEP = 5
#: at most these seconds between two lines when stderr is not a terminal
LOG_EVERY_S = 60.0

_Slot = tuple[str, str, float]  # (problem, optimizer, budget amount)
_BAR = "{desc}: {percentage:3.0f}%|{bar}| "


def clock(seconds: float | None) -> str:
    """``1:02:03``, ``4:05``, or ``?`` when not known."""
    if seconds is None or seconds != seconds:
        return "?"
    s = round(max(0.0, seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def problem_kinds(problems: Iterable[str]) -> dict[str, str]:
    """A problem's kind for the estimator: its first registry tag (``synthetic``,
    ``sklearn``, ``torch``, …), or its name when it has none."""
    from hpbench import registry

    kinds = {}
    for name in problems:
        try:
            tags = registry.get_entry("problem", name).tags
        except Exception:  # an entry that is not registered here: its own kind
            tags = ()
        kinds[name] = str(tags[0]) if tags else name
    return kinds


def optimizer_requires(optimizers: Iterable[str]) -> dict[str, frozenset[str]]:
    """The capabilities each optimizer requires of a problem (empty when not registered)."""
    from hpbench import registry

    requires = {}
    for name in optimizers:
        try:
            requires[name] = frozenset(registry.get_entry("optimizer", name).requires)
        except Exception:
            requires[name] = frozenset()
    return requires


def scout_order(cells: Sequence[Cell]) -> list[int]:
    """Indices of ``cells`` in the order to run them: first, for each problem, its first cell
    with each set of required capabilities among its optimizers (one measures what the
    problem costs, the others whether such optimizers apply to it: a cell that does not
    apply ends at once), then the others in the plan's order. Only the order changes: every
    cell's values are the same (each has its own seeds), and ``api.run`` reports outcomes in
    the plan's order."""
    requires = optimizer_requires({c.optimizer for c in cells})
    first: dict[tuple, int] = {}
    for i, cell in enumerate(cells):
        first.setdefault((cell.problem, requires[cell.optimizer]), i)
    scouts = sorted(first.values())
    chosen = set(scouts)
    return scouts + [i for i in range(len(cells)) if i not in chosen]


def in_plan_order(order: Sequence[int], outcomes: Sequence[Any]) -> list[Any]:
    """``outcomes`` of the cells run in ``order`` (``scout_order``), in the plan's order."""
    planned: list[Any] = [None] * len(order)
    for i, outcome in zip(order, outcomes, strict=True):
        planned[i] = outcome
    return planned


class _Fit:
    """cost(problem, optimizer) = a[problem] + c[optimizer], least squares over the mean
    times of the (problem, optimizer) pairs measured at one budget, by alternating means
    (the design is unbalanced: problems finish one after another)."""

    __slots__ = ("a", "c", "dirty", "low")

    def __init__(self) -> None:
        self.a: dict[str, float] = {}
        self.c: dict[str, float] = {}
        # optimizer -> its cheapest mean: a problem measured only through cheap cells can
        # look cheaper than it is to the expensive optimizers, never cheaper than that
        self.low: dict[str, float] = {}
        self.dirty = False

    def refit(self, means: dict[tuple[str, str], list], rounds: int = 30,
              tol: float = 1e-4) -> None:
        """Update ``a`` and ``c`` from ``means``: (problem, optimizer) -> [seconds, cells];
        warm-started from the last fit."""
        self.low = {}
        for (p, o), (sec, n) in means.items():
            self.a.setdefault(p, 0.0)
            self.c.setdefault(o, 0.0)
            self.low[o] = min(self.low.get(o, sec / n), sec / n)
        for _ in range(rounds):
            moved = 0.0
            for fixed, free, side in ((self.a, self.c, 1), (self.c, self.a, 0)):
                acc: dict[str, list] = {}
                for pair, (sec, n) in means.items():
                    r = acc.setdefault(pair[side], [0.0, 0])
                    r[0] += sec - n * fixed[pair[1 - side]]
                    r[1] += n
                for name, (total, n) in acc.items():
                    moved = max(moved, abs(free[name] - total / n))
                    free[name] = total / n
            if moved < tol:
                break
        self.dirty = False


class EtaEstimator:
    """Expected wall time left in a run, learned from the cells that finished.

    ``plan``: one ``(key, problem, optimizer, budget)`` per cell; ``kinds``: problem ->
    kind (``problem_kinds``); ``workers``: cells run at once; ``requires``: optimizer ->
    the capabilities it requires (``optimizer_requires``). Feed it ``start(key, now)`` when
    a cell starts and ``finish(key, now, seconds)`` when it ends (``seconds``: the time it
    took where it ran; ``learn=False`` for a cell skipped as already done, which measures
    nothing; ``applicable=False`` for a cell that did not apply), with any clock.

    A cell's expected time: that of the cells of its problem, optimizer and budget that
    finished (other repeats); else, at its budget, its problem's effect plus its optimizer's
    (an additive fit over the cells measured: an evaluation's cost plus the optimizer's own
    work — scikit-learn tasks differ by problem, synthetic functions by optimizer); a problem
    with no measured cell takes the mean effect of the problems of its kind (of all), an
    optimizer the mean effect of the optimizers. A cell whose optimizer requires what an
    optimizer that did not apply to the problem required is not applicable: it takes what
    such cells take. Before any cell of its budget finished: the seconds per budget unit of
    all finished cells. Queries are O(pairs measured + pairs left); updates O(1).
    """

    def __init__(self, plan: Iterable[tuple[str, str, str, float]],
                 kinds: Mapping[str, str] | None = None, workers: int = 1,
                 requires: Mapping[str, frozenset[str]] | None = None) -> None:
        self.kinds = dict(kinds or {})
        self.requires = dict(requires or {})
        self.workers = max(1, int(workers))
        self.slot: dict[str, _Slot] = {}
        self.pending: dict[_Slot, int] = {}  # cells not finished, running ones included
        for key, problem, optimizer, budget in plan:
            slot = (problem, optimizer, float(budget))
            self.slot[key] = slot
            self.pending[slot] = self.pending.get(slot, 0) + 1
        self.total = len(self.slot)
        self.running: dict[str, float] = {}  # key -> when it started
        self.finished: set[str] = set()
        self.names: set[str] = set()  # the workers seen (backends that name them)
        self.work_done = 0.0  # seconds of the cells that finished (skipped ones excluded)
        # budget -> (problem, optimizer) -> [seconds, cells] of applicable finished cells
        self.means: dict[float, dict[tuple[str, str], list]] = {}
        self.fits: dict[float, _Fit] = {}
        self.per_unit = [0.0, 0.0]  # seconds and budget of every applicable finished cell
        self.na_time = [0.0, 0]  # seconds and count of the cells that did not apply
        # (problem, required capabilities) -> whether an optimizer requiring them applied
        self.applies: dict[tuple, bool] = {}

    def start(self, key: str, now: float, worker: str | None = None) -> None:
        if key in self.slot and key not in self.finished:
            self.running[key] = now
            if worker is not None:
                self.names.add(worker)

    def finish(self, key: str, now: float, seconds: float | None = None, *,
               learn: bool = True, applicable: bool = True) -> None:
        """Cell ``key`` ended; ``seconds`` (else the time since its start) is what it took."""
        if key not in self.slot or key in self.finished:
            return
        self.finished.add(key)
        p, o, b = slot = self.slot[key]
        self.pending[slot] -= 1
        began = self.running.pop(key, None)
        if not learn:
            return
        if not seconds or seconds < 0:
            if began is None:
                return
            seconds = max(0.0, now - began)
        self.work_done += seconds
        self.applies[(p, self.requires.get(o, frozenset()))] = applicable
        if not applicable:
            self.na_time[0] += seconds
            self.na_time[1] += 1
            return
        acc = self.means.setdefault(b, {}).setdefault((p, o), [0.0, 0])
        acc[0] += seconds
        acc[1] += 1
        self.fits.setdefault(b, _Fit()).dirty = True
        self.per_unit[0] += seconds
        self.per_unit[1] += b

    def _effect(self, effects: dict[str, float], name: str, like: Callable[[str], bool]) -> float:
        """``name``'s effect, else the mean of those ``like`` it, else of all."""
        if name in effects:
            return effects[name]
        similar = [v for n, v in effects.items() if like(n)] or list(effects.values())
        return sum(similar) / len(similar)

    def expected(self, problem: str, optimizer: str, budget: float) -> float | None:
        """The expected seconds of a cell, or None before any cell finished."""
        b = float(budget)
        if self.applies.get((problem, self.requires.get(optimizer, frozenset()))) is False:
            return self.na_time[0] / self.na_time[1]
        means = self.means.get(b)
        if not means:
            if self.per_unit[1]:
                return self.per_unit[0] / self.per_unit[1] * b
            return self.na_time[0] / self.na_time[1] if self.na_time[1] else None
        own = means.get((problem, optimizer))
        if own:
            return own[0] / own[1]
        fit = self.fits[b]
        if fit.dirty:
            fit.refit(means)
        kind = self.kinds.get(problem, problem)
        a = self._effect(fit.a, problem, lambda p: self.kinds.get(p, p) == kind)
        c = self._effect(fit.c, optimizer, lambda o: True)
        return max(fit.low.get(optimizer, 0.0), a + c)

    def estimate(self, now: float) -> tuple[float | None, float | None]:
        """(wall seconds left, share of the run's work done), each None when unknown."""
        if len(self.finished) >= self.total:
            return 0.0, 1.0
        left = 0.0
        expected: dict[_Slot, float] = {}
        for slot, n in self.pending.items():
            if n:
                e = expected[slot] = self.expected(*slot)
                if e is None:
                    return None, None
                left += n * e
        in_flight = longest = 0.0
        for key, began in self.running.items():
            e = expected[self.slot[key]]
            ran = min(max(0.0, now - began), e)
            in_flight += ran
            longest = max(longest, e - ran)
        left -= in_flight
        workers = min(max(self.workers, len(self.names)), self.total - len(self.finished))
        done = self.work_done + in_flight
        share = done / (done + left) if done + left > 0 else None
        return max(left / max(1, workers), longest), share


class Progress:
    """Reports a run's progress on ``stream`` (stderr): a bar with the cells done and the
    ETA on a terminal, plus one line per worker when the backend names them; else one plain
    line every ``LOG_STEP`` percent or ``LOG_EVERY_S`` seconds.

    ``update(key, spent, worker=None)`` (budget used so far in a cell; 0 when it starts) and
    ``done(outcome)`` may be called from a backend's helper thread (Dask events), so they are
    serialized with a lock.
    """

    def __init__(self, cells: Sequence[Cell], *, enabled: bool = True, workers: int = 1,
                 stream: IO[str] | None = None, tty: bool | None = None,
                 clock_fn: Callable[[], float] = time.monotonic) -> None:
        self.total_cells = len(cells)
        self.budgets = {c.key: float(c.budget.amount) for c in cells}
        self.total_budget = sum(self.budgets.values())
        self.seen: dict[str, float] = {}
        self.spent = 0.0
        self.cells_done = 0
        self.clock = clock_fn
        self.t0 = clock_fn()
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(enabled and cells)
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty and isatty())
        self.tty = tty
        self.eta = EtaEstimator(((c.key, c.problem, c.optimizer, c.budget.amount)
                                 for c in cells),
                                problem_kinds({c.problem for c in cells}), workers,
                                optimizer_requires({c.optimizer for c in cells}))
        self.bar = None
        self.workers: dict[str, tuple[Any, list]] = {}  # name -> (bar, [cell key, spent])
        self.lock = threading.Lock()
        self.next_draw = 0.0
        self.shown = 0.0  # the share of the work shown so far (it never goes back)
        self.logged = (0, self.t0)  # the last line: (percent step, when)
        if self.enabled and self.tty:
            from tqdm import tqdm

            self._tqdm = tqdm
            self.bar = tqdm(total=100, desc="run", file=self.stream, dynamic_ncols=True,
                            bar_format=_BAR)
            self._draw(self.t0)

    # -- what is shown -----------------------------------------------------------------------

    def status(self, now: float) -> tuple[float, str]:
        """(share of the work done, the line that says where the run is)."""
        left, share = self.eta.estimate(now)
        share = self.shown = min(1.0, max(self.shown, share or 0.0))  # 0 before a measure
        text = (f"cells {self.cells_done}/{self.total_cells} | evals {self.spent:,.0f}/"
                f"{self.total_budget:,.0f} | elapsed {clock(now - self.t0)} | "
                f"ETA {clock(left)}")
        return share, text

    def _draw(self, now: float) -> None:
        share, text = self.status(now)
        self.next_draw = now + REDRAW_S
        if self.bar is not None:
            self.bar.n = round(100 * share, 2)
            # the text in the format itself: tqdm puts ", " before a postfix
            self.bar.bar_format = _BAR + text.replace("{", "{{").replace("}", "}}")
            self.bar.refresh()
        elif self.enabled:
            step = int(100 * share) // LOG_STEP
            if step > self.logged[0] or now - self.logged[1] >= LOG_EVERY_S \
                    or self.cells_done == self.total_cells:
                self._line(share, text, now)

    def _line(self, share: float, text: str, now: float) -> None:
        self.logged = (int(100 * share) // LOG_STEP, now)
        try:
            print(f"hpbench run: {100 * share:3.0f}% | {text}", file=self.stream, flush=True)
        except (OSError, ValueError):  # a closed or full log: progress is not worth a crash
            self.enabled = False

    # -- what the backends call --------------------------------------------------------------

    def _worker_line(self, worker: str, key: str, spent: float) -> None:
        if worker not in self.workers:
            bar = self._tqdm(total=1, desc=str(worker), file=self.stream, dynamic_ncols=True,
                             position=len(self.workers) + 1, leave=False,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} "
                                        "[{elapsed}<{remaining}] {postfix}")
            self.workers[worker] = (bar, ["", 0.0])
        bar, state = self.workers[worker]
        if state[0] != key:  # the worker moved on to another cell
            state[0], state[1] = key, 0.0
            bar.reset(total=self.budgets.get(key, 1.0))
            bar.set_postfix_str(key)
        spent = min(spent, self.budgets.get(key, spent))
        if spent > state[1]:
            bar.update(spent - state[1])
            state[1] = spent

    def update(self, key: str, spent: float, worker: str | None = None) -> None:
        if not self.enabled:
            return
        with self.lock:
            now = self.clock()
            before = self.seen.get(key)
            if before is None:
                self.eta.start(key, now, worker)
                before = 0.0
            spent = min(spent, self.budgets.get(key, spent))
            if spent > before:
                self.spent += spent - before
            self.seen[key] = max(spent, before)
            if worker is not None and self.bar is not None:
                self._worker_line(worker, key, spent)
            if now >= self.next_draw:
                self._draw(now)

    def done(self, outcome: Any) -> None:
        status = getattr(outcome, "status", "done")
        if not self.enabled or status == "claimed":  # claimed: waited for, then done again
            return
        with self.lock:
            now = self.clock()
            key = outcome.key
            if key in self.eta.finished or key not in self.budgets:
                return
            self.eta.finish(key, now, getattr(outcome, "seconds", None),
                            learn=status != "skipped", applicable=status != "not-applicable")
            # a finished or skipped cell counts its whole budget, whatever it spent
            self.spent += self.budgets[key] - self.seen.get(key, 0.0)
            self.seen[key] = self.budgets[key]
            self.cells_done += 1
            if self.cells_done == self.total_cells:
                self.spent = self.total_budget  # not the sum of fractional costs' last bits
            if self.cells_done == self.total_cells or now >= self.next_draw:
                self._draw(now)

    def close(self) -> None:
        with self.lock:
            for bar, _ in self.workers.values():
                bar.close()
            if self.bar is not None:
                self._draw(self.clock())
                self.bar.close()
