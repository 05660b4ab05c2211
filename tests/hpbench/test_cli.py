"""The command line as a user meets it: real processes, real files, real error messages."""

from __future__ import annotations

import json

import pytest

from hpbench import load_results
from tests.conftest import tree, values_frame

SUITE = """
name = "tiny"
problems = ["slow-quadratic"]
optimizers = ["random", "sobol"]
repeats = 2
budget = 6
seed = 3
"""


@pytest.fixture
def suite_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE)
    return path


def test_run_writes_one_file_per_cell_with_metadata(cli, suite_file, tmp_path):
    out = tmp_path / "out"
    res = cli("run", suite_file, "--out", out, env={"HPBENCH_TEST_DELAY": "0"})
    assert res.returncode == 0, res.stderr
    assert "4 cells (4 done)" in res.stdout
    assert tree(out) == ["run.json", "slow-quadratic/random/repeat-0.parquet",
                         "slow-quadratic/random/repeat-1.parquet",
                         "slow-quadratic/sobol/repeat-0.parquet",
                         "slow-quadratic/sobol/repeat-1.parquet", "suite.toml"]
    frame, metas = load_results(out, with_meta=True)
    assert len(frame) == 24 and set(frame["status"]) == {"ok"}
    for column in ("suite", "problem", "optimizer", "repeat", "trial", "config", "param.x0",
                   "param.x1", "fidelity", "value", "true_value", "test_value", "status",
                   "error", "cost", "cum_cost", "ask_s", "eval_s", "tell_s", "t_start",
                   "t_end"):
        assert column in frame.columns, column
    meta = metas[0]
    for key in ("versions", "git_revision", "host", "budget", "optimizer_settings",
                "fingerprint", "problem_seed", "optimizer_seed"):
        assert key in meta, key
    assert meta["budget"] == {"amount": 6.0, "unit": "evaluations", "batch": None}
    assert json.loads((out / "run.json").read_text())["counts"]["done"] == 4
    # a second run skips every cell and changes no value
    before = values_frame(out)
    again = cli("run", suite_file, "--out", out)
    assert again.returncode == 0 and "4 skipped" in again.stdout
    assert values_frame(out).equals(before)


def test_workers_give_identical_values(cli, suite_file, tmp_path):
    env = {"HPBENCH_TEST_DELAY": "0"}
    one, two = tmp_path / "one", tmp_path / "two"
    assert cli("run", suite_file, "--out", one, "--workers", "1", env=env).returncode == 0
    assert cli("run", suite_file, "--out", two, "--workers", "2", env=env).returncode == 0
    assert tree(one) == tree(two)
    assert values_frame(one).equals(values_frame(two))


@pytest.mark.parametrize("args, message", [
    (["run", "--optimizers", "randon"], "unknown optimizer 'randon'; did you mean random?"),
    (["run", "--problems", "branni"], "unknown problem 'branni'; did you mean branin?"),
    (["run", "--budget", "0"], "argument --budget: must be a number > 0, got '0'"),
    (["run", "--budget", "-3"], "argument --budget: must be a number > 0, got '-3'"),
    (["run", "--repeats", "x"], "argument --repeats: must be an integer > 0, got 'x'"),
    (["run", "nosuchsuite"], "unknown suite 'nosuchsuite'"),
    (["run", "--backend", "mpi"], "unknown backend 'mpi'"),
    (["list", "things"], "argument what: invalid choice: 'things'"),
    (["new", "optimizer", "Bad Name"], "optimizer name must be lowercase letters"),
    (["new", "optimizer", "random"], "optimizer 'random' is already registered"),
])
def test_bad_input_is_one_line_exit_2_nothing_written(cli, tmp_path, args, message):
    out = tmp_path / "never"
    res = cli(*args, *(["--out", out] if args[0] == "run" else []), env={})
    assert res.returncode == 2, res.stderr
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert message in lines[0]
    assert not out.exists()


def test_malformed_suite_file(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("problems = [branin\n")
    res = cli("run", bad, "--out", tmp_path / "o")
    assert res.returncode == 2
    assert res.stderr.startswith("hpbench: malformed suite file") and \
        len(res.stderr.strip().splitlines()) == 1
    bad.write_text('problems = ["branin"]\noptimizers = ["random"]\nbudgett = 3\n')
    res = cli("run", bad, "--out", tmp_path / "o")
    assert res.returncode == 2 and "unknown key(s) ['budgett']" in res.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_output(cli, tmp_path, suite_file):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    res = cli("run", suite_file, "--out", blocker / "sub")
    assert res.returncode == 2
    assert "cannot be created" in res.stderr and "is not a folder" in res.stderr
    assert blocker.read_text() == "x"


def test_list_shows_tags_and_descriptions(cli):
    res = cli("list", "optimizers")
    assert res.returncode == 0
    line = next(x for x in res.stdout.splitlines() if x.startswith("random "))
    assert "uniform random search" in line and "[baseline" in line
    res = cli("list", "problems")
    assert "slow-quadratic" in res.stdout  # the entry-point plugin is listed


def test_status_lists_done_missing_and_failed(cli, suite_file, tmp_path):
    out = tmp_path / "out"
    assert cli("run", suite_file, "--out", out, env={"HPBENCH_TEST_DELAY": "0"}).returncode == 0
    (out / "slow-quadratic/sobol/repeat-1.parquet").unlink()
    (out / "slow-quadratic/random/repeat-0.parquet").write_bytes(b"garbage")
    res = cli("status", out)
    assert res.returncode == 0
    assert "4 cells: 2 done, 1 missing, 1 corrupt" in res.stdout
    assert "missing         slow-quadratic/sobol/repeat-1" in res.stdout
    # a re-run sets the corrupt file aside, redoes it and the missing cell
    res = cli("run", suite_file, "--out", out, env={"HPBENCH_TEST_DELAY": "0"})
    assert "2 done, 2 skipped" in res.stdout, res.stdout + res.stderr
    assert "set aside" in res.stderr
    assert (out / "slow-quadratic/random/repeat-0.parquet.bad-0").read_bytes() == b"garbage"
    assert "4 cells: 4 done" in cli("status", out).stdout


def test_status_sums_up_not_applicable_cells_per_optimizer(cli, tmp_path):
    """make bench has 201 not-applicable cells (multi-fidelity optimizers on problems without
    a fidelity): one line each buried the cells that need attention."""
    suite = tmp_path / "na.toml"
    suite.write_text('name = "na"\nproblems = ["branin", "rosenbrock-2d"]\n'
                     'optimizers = ["random", "hyperband", "pbt"]\nrepeats = 2\nbudget = 3\n')
    out = tmp_path / "out"
    assert cli("run", suite, "--out", out, "--no-progress").returncode == 0
    (out / "branin/random/repeat-1.parquet").unlink()
    res = cli("status", out)
    assert res.returncode == 0
    lines = res.stdout.splitlines()
    assert lines[0].endswith("12 cells: 3 done, 1 missing, 8 not-applicable")
    assert "  missing         branin/random/repeat-1" in lines
    na = [x for x in lines if x.lstrip().startswith("not-applicable")]
    assert na == [
        "  not-applicable  hyperband, 4 cells: lacks fidelity (branin, rosenbrock-2d)",
        "  not-applicable  pbt, 4 cells: lacks checkpoint, fidelity (branin, rosenbrock-2d)"]


def test_status_into_a_closed_pipe_is_quiet(cli, suite_file, tmp_path):
    """`hpbench status DIR | head -1` must not end in a BrokenPipeError traceback."""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    assert cli("run", suite_file, "--out", out, env={"HPBENCH_TEST_DELAY": "0"}).returncode == 0
    # `true` exits without reading, long before hpbench has imported and writes
    res = subprocess.run(["bash", "-c", f"{sys.executable} -m hpbench.cli status {out} | true"],
                         capture_output=True, text=True, env=dict(os.environ))
    assert res.stderr == ""


def test_figures_of_a_folder_without_results_is_one_line_exit_2(cli, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    res = cli("figures", empty)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpbench figures:"), res.stderr
    assert not (empty / "figures").exists()


def test_figures_leave_a_corrupt_cell_out_and_say_so(cli, suite_file, tmp_path):
    out = tmp_path / "out"
    assert cli("run", suite_file, "--out", out, env={"HPBENCH_TEST_DELAY": "0"}).returncode == 0
    cell = sorted(out.rglob("*.parquet"))[0]
    cell.write_bytes(b"not parquet at all")
    res = cli("figures", out)
    assert res.returncode == 0, res.stderr
    report = (out / "figures" / "report.html").read_text()
    assert "corrupt cell file is left out" in report and cell.name in report
    for other in sorted(out.rglob("*.parquet")):  # every other cell is still there
        other.write_bytes(b"not parquet at all")
    res = cli("figures", out)
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "corrupt" in res.stderr.lower(), res.stderr
