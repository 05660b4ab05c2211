"""What a user sees of a run's progress: an ETA from measured cell times that holds on the
default suite's mix of millisecond and multi-second cells, a few readable lines when stderr is
a log file, and library warnings kept with the cell instead of printed through the bar."""

from __future__ import annotations

import heapq
import io
import re
import threading
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

from hpbench import registry
from hpbench.execute import MAX_WARNINGS, WarningLog, capture_warnings
from hpbench.progress import LOG_STEP, EtaEstimator, Progress, in_plan_order, scout_order
from hpbench.store import read_meta
from hpbench.suite import load_suite

# Seconds a cell takes in `make bench` on a 2-core machine (measured: the cells' started and
# finished times in a default run): on synthetic problems the optimizer's own work per
# 80-evaluation cell (0.05 s for the rest), on the tuning tasks the evaluations.
OVERHEAD_80 = {"gp-bo": 3.7, "rf-smbo": 2.3, "optuna-tpe-sha": 1.8, "optuna-tpe-hyperband": 1.1,
               "ng-cma": 0.7, "ng-ngopt": 0.7, "optuna-tpe": 0.55, "hyperopt-tpe": 0.45,
               "ng-twopointsde": 0.4, "ng-pso": 0.35, "hypergradient": 0.33, "tpe": 0.22,
               "optuna-tpe-multivariate": 0.3, "ng-oneplusone": 0.3, "bohb": 0.17}
EVAL_S = {"sklearn-svc-breast_cancer-error": 0.06, "sklearn-knn-digits-logloss": 0.11,
          "sklearn-hgb-diabetes-mse": 0.26, "sklearn-rf-wine-logloss": 0.27,
          "torch-mlp-digits": 0.28}
NOT_APPLICABLE_S = 0.003


def _capabilities(tags: tuple[str, ...]) -> set[str]:
    caps = set()
    if {"fidelity", "multi-fidelity"} & set(tags):
        caps.add("fidelity")
    if "torch" in tags:
        caps |= {"checkpoint", "hypergradient"}
    if "hypergradient-exact" in tags:
        caps.add("hypergradient")
    return caps


def default_suite_costs(seed: int = 0) -> tuple[list, list[float]]:
    """The default suite's cells in its own order, and a cost for each by the problem's tags
    and the optimizer (lognormal noise of sd 0.2; the repeats of a cell in `make bench`
    differ by 0.12 to 0.19)."""
    cells = load_suite("default").cells()
    rng = np.random.default_rng(seed)
    costs = []
    for cell in cells:
        tags = registry.get_entry("problem", cell.problem).tags
        requires = registry.get_entry("optimizer", cell.optimizer).requires
        if requires - _capabilities(tags):
            costs.append(NOT_APPLICABLE_S)
            continue
        budget = float(cell.budget.amount)
        base = OVERHEAD_80.get(cell.optimizer, 0.05) * budget / 80 + \
            EVAL_S.get(cell.problem, 0.0) * budget
        costs.append(base * float(rng.lognormal(0.0, 0.2)))
    return cells, costs


def simulate(cells, costs, order, workers=2):
    """Start and end events of a greedy run of ``cells`` in ``order`` on ``workers``."""
    free = [(0.0, f"worker-{w}") for w in range(workers)]
    events = []
    for i in order:
        t, worker = heapq.heappop(free)
        events.append((t, 0, i, worker))
        events.append((t + costs[i], 1, i, worker))
        heapq.heappush(free, (t + costs[i], worker))
    events.sort(key=lambda e: (e[0], -e[1]))  # a worker's cell ends before its next starts
    return events, events[-1][0]


def eta_seconds(text: str) -> float:
    m = re.search(r"ETA (?:(\d+):)?(\d+):(\d\d)", text)
    assert m, text
    h, mi, s = (int(g or 0) for g in m.groups())
    return 3600 * h + 60 * mi + s


def replay(progress, clock, cells, costs, events, until):
    """Feed ``progress`` the events up to ``until``, on its fake ``clock``."""
    for t, kind, i, worker in events:
        if t > until:
            break
        clock.now = t
        if kind == 0:
            progress.update(cells[i].key, 0.0, worker)
        else:
            status = "not-applicable" if costs[i] == NOT_APPLICABLE_S else "done"
            progress.done(SimpleNamespace(key=cells[i].key, status=status, seconds=costs[i]))


def _progress(cells, workers=2):
    clock = SimpleNamespace(now=0.0)
    bar = Progress(cells, workers=workers, stream=io.StringIO(), tty=False,
                   clock_fn=lambda: clock.now)
    return bar, clock


@pytest.mark.parametrize("seed", [0, 1])
def test_the_eta_holds_on_the_default_suite_after_a_fifth_of_the_run(seed):
    """Synthetic cells take milliseconds to seconds by optimizer, the scikit-learn and
    PyTorch group (last in the suite) seconds by problem: after 20 % of the run (and later)
    the ETA shown is within 30 % of the time actually left."""
    cells, costs = default_suite_costs(seed)
    events, total = simulate(cells, costs, scout_order(cells))
    for share in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        bar, clock = _progress(cells)
        replay(bar, clock, cells, costs, events, share * total)
        _, text = bar.status(share * total)
        eta, left = eta_seconds(text), (1 - share) * total
        assert abs(eta / left - 1) < 0.3, (share, eta, left, text)


def test_scouts_run_first_and_outcomes_come_back_in_plan_order():
    """First, per problem, one cell of each set of capabilities its optimizers require (one
    measures the problem, the others whether such optimizers apply), then the plan."""
    cells = load_suite("default").cells()
    order = scout_order(cells)
    assert sorted(order) == list(range(len(cells)))
    scouts = sorted(order[:order.index(1)])  # the first problem's random/repeat-1 is no scout
    assert order[:len(scouts)] == scouts and order[len(scouts):] == sorted(order[len(scouts):])
    assert {cells[i].problem for i in scouts} == {c.problem for c in cells}
    def scouted(problem: str) -> list[str]:
        return [cells[i].optimizer for i in scouts if cells[i].problem == problem]

    # none, fidelity, checkpoint + fidelity; none, hypergradient; a black-box problem: one
    assert scouted("augmented-branin") == ["random", "successive-halving", "pbt"]
    assert scouted("ridge-hypergrad") == ["random", "hypergradient"]
    assert scouted("branin") == ["random"]
    assert len(scouts) < len(cells) // 10
    assert in_plan_order(order, [cells[i].key for i in order]) == [c.key for c in cells]


def test_skipped_cells_do_not_shorten_the_eta():
    """A resumed run whose first half is already on disk: those cells end at once, and must
    not be taken for throughput; the ETA is the one of a run of the other half alone."""
    cells, costs = default_suite_costs()
    half = len(cells) // 2
    rest, rest_costs = cells[half:], costs[half:]
    events, total = simulate(rest, rest_costs, scout_order(rest))
    resumed, clock = _progress(cells)
    for cell in cells[:half]:  # skipped in the first second
        resumed.update(cell.key, 0.0, "worker-0")
        resumed.done(SimpleNamespace(key=cell.key, status="skipped", seconds=0.001))
    fresh, fresh_clock = _progress(rest)
    replay(resumed, clock, rest, rest_costs, events, 0.25 * total)
    replay(fresh, fresh_clock, rest, rest_costs, events, 0.25 * total)
    resumed_eta = eta_seconds(resumed.status(0.25 * total)[1])
    assert resumed_eta == eta_seconds(fresh.status(0.25 * total)[1])
    assert abs(resumed_eta / (0.75 * total) - 1) < 0.3


def test_a_worker_that_never_reports_still_counts_time():
    """A backend without start reports (a plugin's): the ETA comes from the outcomes."""
    est = EtaEstimator([(f"p/o/repeat-{i}", "p", "o", 10) for i in range(10)], {}, workers=2)
    assert est.estimate(0.0) == (None, None)
    est.finish("p/o/repeat-0", 3.0, 3.0)
    est.finish("p/o/repeat-1", 3.0, 3.0)
    left, share = est.estimate(3.0)
    assert left == pytest.approx(8 * 3.0 / 2) and share == pytest.approx(0.2)


# -- a run whose stderr is a log file -------------------------------------------------------

LINE = re.compile(r"hpbench run: +\d+% \| cells \d+/(\d+) \| evals [\d,]+/[\d,]+ \| "
                  r"elapsed \d+:\d\d \| ETA (\d+:\d\d|\?)$")


def test_a_piped_run_writes_a_few_readable_lines(cli, tmp_path):
    out, log = tmp_path / "out", tmp_path / "stderr.txt"
    res = cli("run", "smoke", "--out", out, "--repeats", "6", "--workers", "2")
    assert res.returncode == 0, res.stderr
    log.write_text(res.stderr)
    lines = res.stderr.splitlines()
    progress = [line for line in lines if line.startswith("hpbench run:")]
    assert progress and len(lines) <= 100 // LOG_STEP + 2, lines  # one per step, and the end
    for line in progress:
        m = LINE.match(line)
        assert m and m.group(1) == "48", line
    assert progress[-1].startswith("hpbench run: 100% | cells 48/48"), progress[-1]
    assert "\r" not in res.stderr and "|█" not in res.stderr  # no bar redraws


# -- library warnings -------------------------------------------------------------------------

WARNING_PLUGIN = '''
import warnings

from hpbench import Float, Problem, Space, register_problem


class LibraryNotice(UserWarning):
    pass


class WarnyBowl(Problem):
    def __init__(self, seed=None):
        warnings.warn("the bowl was built with defaults", LibraryNotice)
        super().__init__(Space(x=Float(-1, 1)), seed=seed, name="warny-bowl")

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        warnings.warn(f"did not converge at x={config['x']:.3f}", RuntimeWarning)
        return config["x"] ** 2


register_problem("warny-bowl", WarnyBowl, tags=("test",))
'''


@pytest.mark.parametrize("workers", ["1", "2"])
def test_library_warnings_go_to_the_cell_file_not_to_stderr(cli, tmp_path, workers):
    (tmp_path / "warny.py").write_text(WARNING_PLUGIN)
    suite = tmp_path / "warny.toml"
    suite.write_text('name = "warny"\nproblems = ["warny-bowl"]\noptimizers = ["random"]\n'
                     'repeats = 2\nbudget = 7\nseed = 0\nplugins = ["warny.py"]\n')
    out = tmp_path / "out"
    res = cli("run", suite, "--out", out, "--workers", workers)
    assert res.returncode == 0, res.stderr
    assert "converge" not in res.stderr and "built with defaults" not in res.stderr, res.stderr
    for repeat in (0, 1):
        meta = read_meta(out / "warny-bowl" / "random" / f"repeat-{repeat}.parquet")
        by_category = {w["category"]: w for w in meta["warnings"]}
        # 7 trials, and the evaluations of the problem's fingerprint
        assert by_category["RuntimeWarning"]["count"] >= 7
        assert by_category["RuntimeWarning"]["message"].startswith("did not converge at x=")
        notice = [w for c, w in by_category.items() if c.endswith(".LibraryNotice")]
        assert notice and notice[0]["count"] == 1, by_category  # the problem's build
    status = cli("status", out).stdout
    assert re.search(r"warnings +2 cells recorded \d+ warnings \(RuntimeWarning x\d+", status), \
        status
    # hpbench's own warnings still reach the user: a damaged cell is set aside and redone
    cell = out / "warny-bowl" / "random" / "repeat-0.parquet"
    cell.write_bytes(cell.read_bytes()[:-40])
    again = cli("run", suite, "--out", out, "--workers", workers)
    assert again.returncode == 0, again.stderr
    assert "set aside as" in again.stderr and "converge" not in again.stderr, again.stderr


def test_old_cells_without_warnings_are_skipped_and_shown(cli, tmp_path):
    """Cells written before cells recorded warnings have no ``warnings`` key: a re-run
    skips them, status reads them."""
    out = tmp_path / "out"
    assert cli("run", "smoke", "--problems", "branin", "--out", out).returncode == 0
    assert "warnings" not in read_meta(out / "branin" / "random" / "repeat-0.parquet")
    again = cli("run", "smoke", "--problems", "branin", "--out", out)
    assert "8 skipped" in again.stdout, again.stdout
    status = cli("status", out).stdout
    assert "8 done" in status and "warnings" not in status


def test_warning_capture_is_per_thread_and_leaves_no_trace():
    """Two cells in two threads of one process: each records its own warnings, a thread that
    runs no cell keeps showing its own, and the hooks are gone afterwards."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        _two_cells_in_threads(shown)


def _two_cells_in_threads(shown: list) -> None:
    before = (warnings.showwarning, list(warnings.filters))
    logs = [WarningLog(), WarningLog()]
    ready, go = threading.Barrier(3), threading.Event()

    def cell(i: int) -> None:
        with capture_warnings(logs[i]):
            ready.wait()
            go.wait()
            for _ in range(3 + i):
                warnings.warn(f"cell {i}", RuntimeWarning, stacklevel=1)

    threads = [threading.Thread(target=cell, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    ready.wait()
    warnings.warn("not a cell's", UserWarning, stacklevel=1)
    go.set()
    for t in threads:
        t.join()
    assert [(r["message"], r["count"]) for r in logs[0].records()] == [("cell 0", 3)]
    assert [(r["message"], r["count"]) for r in logs[1].records()] == [("cell 1", 4)]
    assert [str(w.message) for w in shown] == ["not a cell's"]
    assert (warnings.showwarning, list(warnings.filters)) == before


def test_a_thread_a_cell_starts_is_the_cells_and_places_are_capped():
    log = WarningLog()
    with capture_warnings(log):
        t = threading.Thread(target=warnings.warn, args=("from the pool", UserWarning))
        t.start()
        t.join()
        for i in range(MAX_WARNINGS + 5):  # a new place each: its own line
            exec(compile("\n" * i + "warnings.warn('x', UserWarning)", "<place>", "exec"))
    records = log.records()
    assert records[0]["message"] == "from the pool"
    assert len(records) == MAX_WARNINGS + 1 and records[-1]["count"] == 6
    assert len(log) == MAX_WARNINGS + 6


def test_hpbench_warnings_pass_through():
    log = WarningLog()
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        with capture_warnings(log):
            warnings.warn("hpbench: something the user must read", UserWarning, stacklevel=1)
            warnings.warn("a library's", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["hpbench: something the user must read"]
    assert [r["message"] for r in log.records()] == ["a library's"]
