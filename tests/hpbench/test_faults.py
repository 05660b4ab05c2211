"""Fault injection: objectives that raise, return NaN, hang, crash their worker (segfault,
os._exit, SIGKILL) or exhaust memory; optimizers that raise; a results folder that fills up.

Each run is compared with the same suite without the fault: nothing is lost (every trial and
cell is there), the faulty trials carry their status and reason, and every other value equals
the uninterrupted run's. Random search and Sobol suggest independently of the values they
are told, so a faulty trial changes no other row.
"""

from __future__ import annotations

import errno
import resource

import pytest

import hpbench
from hpbench.store import ResultsDir, ResultsWriteError
from tests.conftest import tree, values_frame

SUITE = """
name = "faults"
problems = ["faulty-quadratic", "slow-quadratic"]
optimizers = {optimizers}
repeats = 1
budget = 6
seed = 5
{extra}
[problem_settings.faulty-quadratic]
{settings}
"""
FAST = {"HPBENCH_TEST_DELAY": "0"}
KEYS = ["problem", "optimizer", "repeat", "trial"]


def _suite(tmp_path, name: str, settings: str, extra: str = "",
           optimizers: str = '["random", "sobol"]'):
    path = tmp_path / f"{name}.toml"
    path.write_text(SUITE.format(settings=settings, extra=extra, optimizers=optimizers))
    return path


@pytest.fixture(scope="module")
def clean(plugin_path, tmp_path_factory):
    """The uninterrupted run: the same suite, the fault switched off."""
    import os
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("clean")
    suite = _suite(tmp, "clean", 'mode = "none"')
    env = {**os.environ, "PYTHONPATH": str(plugin_path), **FAST}
    res = subprocess.run([sys.executable, "-m", "hpbench.cli", "run", str(suite), "--out",
                          str(tmp / "out"), "--no-progress"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return tmp / "out"


def _compare(out, clean, faulty: dict[tuple, tuple[str, str]]) -> None:
    """Every trial of the clean run is in ``out``; ``faulty`` maps (problem, optimizer, trial)
    to the expected (status, error prefix); every other row equals the clean run's."""
    got, ref = values_frame(out).set_index(KEYS), values_frame(clean).set_index(KEYS)
    assert list(got.index) == list(ref.index), "a trial was lost or duplicated"
    hit = [(p, o, s, t) for (p, o, s, t) in ref.index if (p, o, t) in faulty]
    assert len(hit) == len(faulty)
    for key in hit:
        status, error = faulty[(key[0], key[1], key[3])]
        assert got.loc[key, "status"] == status
        assert got.loc[key, "error"].startswith(error), got.loc[key, "error"]
        assert got.loc[key, "config"] == ref.loc[key, "config"]
    rest = ref.index.difference(hit)
    # cum_cost legitimately differs after a faulty trial (it cost nothing): checked apart
    assert got.loc[rest].drop(columns="cum_cost").equals(ref.loc[rest].drop(columns="cum_cost"))
    sums = got.groupby(level=["problem", "optimizer", "repeat"])["cost"].cumsum()
    assert (got["cum_cost"] == sums).all()


def _trial_faults(status: str, error: str, trials=(3,)) -> dict:
    return {("faulty-quadratic", o, t): (status, error) for o in ("random", "sobol")
            for t in trials}


def test_objective_raises_or_returns_nan(cli, tmp_path, clean):
    for mode, error in (("raise", "RuntimeError: faulty objective raised on purpose"),
                        ("nan", "objective returned nan")):
        out = tmp_path / mode
        res = cli("run", _suite(tmp_path, mode, f'mode = "{mode}"\nat = 3'), "--out", out,
                  env=FAST)
        assert res.returncode == 0 and "4 cells (4 done)" in res.stdout, res.stderr
        _compare(out, clean, _trial_faults("failed", error))


def test_hang_is_a_timeout_trial_and_the_cell_goes_on(cli, tmp_path, clean):
    out = tmp_path / "hang"
    res = cli("run", _suite(tmp_path, "hang", 'mode = "hang"\nat = 3', "timeout = 0.5"),
              "--out", out, env=FAST)
    assert res.returncode == 0 and "4 cells (4 done)" in res.stdout, res.stderr
    _compare(out, clean, _trial_faults("timeout", "evaluation exceeded the timeout of 0.5 s"))
    frame = values_frame(out)
    assert (frame.loc[frame.status == "timeout", "value"].isna()).all()
    # the budget was charged for the timed-out trial: still exactly 6 per cell
    assert (frame.groupby(["problem", "optimizer"]).size() == 6).all()


def test_segfault_in_a_timeout_child_fails_only_the_trial(cli, tmp_path, clean):
    out = tmp_path / "segv-child"
    res = cli("run", _suite(tmp_path, "sc", 'mode = "segv"\nat = 3', "timeout = 30"),
              "--out", out, env=FAST)
    assert res.returncode == 0 and "4 cells (4 done)" in res.stdout, res.stderr
    _compare(out, clean, _trial_faults(
        "failed", "EvaluationCrashed: evaluation process died: SIGSEGV (segmentation fault)"))


def test_worker_that_keeps_dying_is_retried_then_the_cell_is_failed(cli, tmp_path, clean):
    out = tmp_path / "segv"
    suite = _suite(tmp_path, "segv", 'mode = "segv"\nat = 3', optimizers='["random"]')
    res = cli("run", suite, "--out", out, "--workers", "2", "--retries", "1", env=FAST)
    assert res.returncode == 3, res.stderr  # finished, with a failed cell
    assert "2 cells (1 done, 1 failed)" in res.stdout, res.stdout
    status = cli("status", out).stdout
    assert ("failed          faulty-quadratic/random/repeat-0: worker died 2 times: "
            "SIGSEGV (segmentation fault) x2") in status
    # the rest of the suite is complete and equal to the uninterrupted run
    got = values_frame(out)
    ref = values_frame(clean)
    ref = ref[ref.optimizer == "random"]
    assert got.equals(ref[ref.problem == "slow-quadratic"].reset_index(drop=True))
    # recorded, so a re-run does not try again; the status names the cell as failed
    # and the exit status still says the folder holds a failed cell
    again = cli("run", suite, "--out", out, "--workers", "2", env=FAST)
    assert "2 skipped" in again.stdout
    assert again.returncode == 3, again.stderr
    assert "failed (recorded by an earlier run): faulty-quadratic/random/repeat-0: worker " \
           "died 2 times" in again.stderr


@pytest.mark.parametrize("backend, mode", [("processes", "exit"), ("dask", "kill")])
def test_worker_death_once_is_retried_on_a_fresh_worker(cli, tmp_path, clean, backend, mode):
    out, once = tmp_path / backend, tmp_path / f"{backend}.once"
    suite = _suite(tmp_path, backend, f'mode = "{mode}"\nat = 3\nonce = "{once}"')
    res = cli("run", suite, "--out", out, "--backend", backend, "--workers", "2", env=FAST)
    assert res.returncode == 0 and "4 cells (4 done)" in res.stdout, res.stdout + res.stderr
    assert once.exists(), "the fault should have fired (and killed a worker) once"
    assert tree(out) == tree(clean)
    assert values_frame(out).equals(values_frame(clean))


def test_memory_exhaustion_under_a_memory_limit_fails_the_trial(cli, tmp_path, clean):
    out = tmp_path / "oom"
    res = cli("run", _suite(tmp_path, "oom", 'mode = "oom"\nat = 3'), "--out", out,
              "--workers", "2", "--memory-limit", "1G", env=FAST)
    assert res.returncode == 0 and "4 cells (4 done)" in res.stdout, res.stderr
    _compare(out, clean, _trial_faults("failed", "MemoryError"))


def test_optimizer_raising_fails_its_cell_with_the_traceback(cli, tmp_path, clean):
    out = tmp_path / "opt"
    suite = _suite(tmp_path, "opt", 'mode = "none"',
                   optimizers='["random", "fault-ask", "fault-tell"]',
                   extra="[settings.fault-ask]\nat = 2\n[settings.fault-tell]\nat = 4\n")
    res = cli("run", suite, "--out", out, env=FAST)
    assert res.returncode == 3 and "6 cells (2 done, 4 failed)" in res.stdout, res.stdout
    metas = {(m["problem"], m["optimizer"]): m for m in (m for _, m, _ in ResultsDir(out).metas())}
    for problem in ("faulty-quadratic", "slow-quadratic"):
        # ask number 2 raises after two trials; tell number 4 after the fifth was evaluated
        for name, where, kept in (("fault-ask", "ask", 2), ("fault-tell", "tell", 5)):
            meta = metas[(problem, name)]
            assert meta["status"] == "failed" and meta["n_trials"] == kept
            assert meta["reason"] == (f"optimizer raised in {where}: ZeroDivisionError: "
                                      f"optimizer fails in {where} on purpose")
            assert meta["error"].startswith("Traceback") and "in _tick" in meta["error"]
    got = values_frame(out)
    assert got[got.optimizer == "random"].reset_index(drop=True).equals(
        values_frame(clean).query("optimizer == 'random'").reset_index(drop=True))


# -- a results folder that fills up ------------------------------------------------------------


def test_disk_full_stops_the_run_cleanly_and_a_rerun_completes(tmp_path, monkeypatch):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "full"\nproblems = ["branin"]\noptimizers = ["random", "sobol"]\n'
                     "repeats = 2\nbudget = 5\nseed = 2\n")
    reference = hpbench.run(str(suite), out=tmp_path / "ref")
    assert reference.count("done") == 4
    out = tmp_path / "out"
    import pyarrow.parquet as pq

    original = pq.write_table
    calls = []

    def full_disk(table, where, **kw):
        calls.append(1)
        if len(calls) == 2:
            where.write(b"PAR1 half a file")
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(table, where, **kw)

    monkeypatch.setattr(pq, "write_table", full_disk)
    with pytest.raises(ResultsWriteError) as info:
        hpbench.run(str(suite), out=out)
    message = str(info.value)
    assert "No space left on device [ENOSPC]" in message and str(out) in message
    assert "re-run to resume" in message
    assert tree(out) == ["branin/random/repeat-0.parquet", "suite.toml"]  # no run.json either
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
    assert not list((out / ".running").iterdir())
    monkeypatch.setattr(pq, "write_table", original)
    again = hpbench.run(str(suite), out=out)
    assert again.count("skipped") == 1 and again.count("done") == 3
    assert values_frame(out).equals(values_frame(tmp_path / "ref"))


def test_file_size_limit_gives_one_clear_line_and_no_partial_file(cli, tmp_path):
    """A real write error, not a monkeypatch: RLIMIT_FSIZE makes the cell write fail with
    EFBIG, as a full quota does."""
    import os
    import subprocess
    import sys

    suite = tmp_path / "big.toml"
    suite.write_text('name = "big"\nproblems = ["branin"]\noptimizers = ["random"]\n'
                     "repeats = 1\nbudget = 4000\nseed = 1\n")
    out = tmp_path / "out"

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 << 10, 48 << 10))

    res = subprocess.run([sys.executable, "-m", "hpbench.cli", "run", str(suite), "--out",
                          str(out), "--no-progress"], capture_output=True, text=True,
                         preexec_fn=limit, timeout=300, env=dict(os.environ))
    assert res.returncode == 1, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpbench: cannot write results in")
    assert "File too large [EFBIG]" in lines[0] and "repeat-0.parquet" in lines[0]
    assert tree(out) == ["suite.toml"]
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]
