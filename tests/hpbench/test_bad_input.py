"""Bad input, from the command line and from Python: one line naming what is wrong, exit
status 2 (or one exception), and nothing written, neither in the folder the run names
nor in a ``results/`` folder of the current directory.

The CLI cases call ``hpbench.cli.main`` in this process (the code ``hpbench`` runs, without
a new interpreter per case); ``test_cli.py`` runs the command itself.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import hpbench
from hpbench import cli, make_optimizer, make_problem
from hpbench.space import InvalidConfig
from hpbench.suite import Suite, SuiteError, load_suite

TINY = """
name = "tiny"
problems = ["branin"]
optimizers = ["random"]
repeats = 1
budget = 4
seed = 1
"""

#: a suite file's text for each malformed case: TINY with one line changed or added
TOML_CASES = {
    "budget-inf": TINY.replace("budget = 4", "budget = inf"),
    "budget-nan": TINY.replace("budget = 4", "budget = nan"),
    "budget-string": TINY.replace("budget = 4", 'budget = "4"'),
    "budget-fraction": TINY.replace("budget = 4", "budget = 1.5"),
    "name-dotdot": TINY.replace('name = "tiny"', 'name = "../../x"'),
    "name-absolute": TINY.replace('name = "tiny"', 'name = "/tmp/x"'),
    "name-slash": TINY.replace('name = "tiny"', 'name = "a/b"'),
    "name-empty-int": TINY.replace('name = "tiny"', "name = 3"),
    "unknown-key": TINY + "budgett = 3\n",
    "unknown-setting": TINY + "\n[settings.random]\nnosuch = 1\n",
    "setting-of-unknown-optimizer": TINY + "\n[settings.nosuch]\nx = 1\n",
    "unknown-problem-setting": TINY + "\n[problem_settings.branin]\nx = 1\n",
    "bad-setting-choice": TINY.replace('["random"]', '["hyperopt-anneal"]')
    + '\n[settings.hyperopt-anneal]\nalgo = "nosuch"\n',
    "syntax": TINY + "problems = [\n",
    "problems-string": TINY.replace('["branin"]', '"branin"'),
    "problems-empty": TINY.replace('["branin"]', "[]"),
    "repeats-zero": TINY.replace("repeats = 1", "repeats = 0"),
    "repeats-absurd": TINY.replace("repeats = 1", "repeats = 100000000"),
    "unit": TINY + 'budget_unit = "hours"\n',
    "timeout-negative": TINY + "timeout = -1\n",
    "timeout-inf": TINY + "timeout = inf\n",
    "seed-negative": TINY.replace("seed = 1", "seed = -3"),
    "batch-zero": TINY + "batch = 0\n",
    "groups-not-tables": TINY + "groups = [1, 2]\n",
    "plugins-not-a-list": TINY + "plugins = 5\n",
    "plugin-missing-file": TINY + 'plugins = ["no_such_file.py"]\n',
    "unknown-optimizer": TINY.replace('["random"]', '["nosuch"]'),
}

#: command lines after ``hpbench``; OUT is the snapshot folder, SUITE the tiny suite file
CLI_CASES = {
    "unknown-suite": ["run", "nosuchsuite"],
    "unknown-problem": ["run", "SUITE", "--problems", "nosuchproblem"],
    "unknown-optimizer": ["run", "SUITE", "--optimizers", "nosuchopt"],
    "pattern-matches-nothing": ["run", "SUITE", "--problems", "nosuch*"],
    "problems-comma": ["run", "SUITE", "--problems", ","],
    "problems-empty": ["run", "SUITE", "--problems", ""],
    "optimizers-empty": ["run", "SUITE", "--optimizers", " , "],
    "repeats-zero": ["run", "SUITE", "--repeats", "0"],
    "repeats-negative": ["run", "SUITE", "--repeats", "-1"],
    "repeats-word": ["run", "SUITE", "--repeats", "x"],
    "repeats-absurd": ["run", "SUITE", "--repeats", "100000000"],
    "budget-zero": ["run", "SUITE", "--budget", "0"],
    "budget-negative": ["run", "SUITE", "--budget", "-5"],
    "budget-inf": ["run", "SUITE", "--budget", "inf"],
    "budget-nan": ["run", "SUITE", "--budget", "nan"],
    "budget-word": ["run", "SUITE", "--budget", "abc"],
    "budget-fraction": ["run", "SUITE", "--budget", "1.5"],
    "budget-unit": ["run", "SUITE", "--budget-unit", "hours"],
    "seed-negative": ["run", "SUITE", "--seed", "-1"],
    "seed-fraction": ["run", "SUITE", "--seed", "1.5"],
    "batch-zero": ["run", "SUITE", "--batch", "0"],
    "timeout-zero": ["run", "SUITE", "--timeout", "0"],
    "timeout-inf": ["run", "SUITE", "--timeout", "inf"],
    "workers-zero": ["run", "SUITE", "--workers", "0"],
    "backend": ["run", "SUITE", "--backend", "nosuch"],
    "retries-negative": ["run", "SUITE", "--retries", "-1"],
    "journal": ["run", "SUITE", "--journal", "maybe"],
    "memory-word": ["run", "SUITE", "--memory-limit", "lots"],
    "memory-negative": ["run", "SUITE", "--memory-limit", "-1G"],
    "scheduler-malformed": ["run", "SUITE", "--scheduler", "not an address"],
    "scheduler-scheme": ["run", "SUITE", "--scheduler", "ftp://host:1"],
    "scheduler-no-port": ["run", "SUITE", "--scheduler", "tcp://host"],
    "scheduler-unreachable": ["run", "SUITE", "--scheduler", "tcp://127.0.0.1:1"],
    "scheduler-without-dask": ["run", "SUITE", "--backend", "processes", "--scheduler",
                               "tcp://127.0.0.1:1"],
    "plugin-module": ["run", "SUITE", "--plugin", "no_such_module_xyz"],
    "plugin-file": ["run", "SUITE", "--plugin", "no_such_file.py"],
    "unknown-option": ["run", "SUITE", "--nosuch"],
    "other-experiment-in-folder": ["run", "SUITE", "--budget", "7"],
    "other-seed-in-folder": ["run", "SUITE", "--seed", "2"],
    "out-is-a-file": ["run", "SUITE", "--out", "FILE"],
    "list-unknown-tag": ["list", "problems", "--tag", "nosuchtag"],
    "list-unknown-kind": ["list", "nosuch"],
    "status-missing": ["status", "MISSING"],
    "figures-missing": ["figures", "MISSING"],
    "unknown-command": ["nosuch"],
}

#: ``hpbench.run`` keywords (suite: the tiny file, out: the snapshot folder)
API_CASES = {
    "misspelt-keyword": {"timout": 5},
    "journal-string": {"journal": "yes"},
    "problems-empty-list": {"problems": []},
    "problems-string": {"problems": "branin"},
    "optimizers-empty-name": {"optimizers": [""]},
    "workers-zero": {"workers": 0},
    "workers-bool": {"workers": True},
    "retries-negative": {"retries": -1},
    "retries-fraction": {"retries": 1.5},
    "progress-string": {"progress": "yes"},
    "out-number": {"out": 5},
    "backend": {"backend": "nosuch"},
    "memory-limit": {"memory_limit": "lots"},
    "budget-inf": {"budget": math.inf},
    "budget-negative": {"budget": -1},
    "repeats-zero": {"repeats": 0},
    "seed-string": {"seed": "x"},
    "backend-options-list": {"backend_options": [1]},
    "scheduler-not-dask": {"backend": "serial", "scheduler": "tcp://127.0.0.1:1"},
    "other-budget-in-folder": {"budget": 9},
    "suite-number": {"suite": 5},
    "suite-object-with-overrides": {"suite": "OBJECT", "budget": 3},
}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A finished run of the tiny suite, which no bad input may touch."""
    root = tmp_path_factory.mktemp("bad")
    suite = root / "tiny.toml"
    suite.write_text(TINY)
    out = root / "out"
    summary = hpbench.run(str(suite), out=out)
    assert summary.count("done") == 1
    (root / "a-file").write_text("not a folder")
    return root, suite, out


@pytest.fixture
def unchanged(folder, tmp_path, monkeypatch):
    """Run the test in an empty current directory; afterwards, the folder and the current
    directory are exactly as they were."""
    root = folder[0]
    monkeypatch.chdir(tmp_path)
    before = _snapshot(root)
    yield folder
    assert _snapshot(root) == before, "a bad input changed the results folder"
    assert not list(tmp_path.iterdir()), "a bad input wrote into the current directory"


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


@pytest.mark.parametrize("case", sorted(CLI_CASES))
def test_bad_command_line_is_one_line_exit_2(case, unchanged, capsys):
    root, suite, out = unchanged
    where = {"SUITE": str(suite), "FILE": str(root / "a-file"), "MISSING": str(root / "none")}
    argv = [where.get(a, a) for a in CLI_CASES[case]]
    if argv[:1] == ["run"] and "--out" not in argv:
        argv += ["--out", str(out)]
    assert cli.main(argv) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert _one_line(captured.err).startswith("hpbench"), captured.err
    assert captured.out == ""


@pytest.mark.parametrize("case", sorted(TOML_CASES))
def test_bad_suite_file_is_one_line_exit_2(case, unchanged, capsys, tmp_path_factory):
    _, _, out = unchanged
    bad = tmp_path_factory.mktemp("toml") / "bad.toml"
    bad.write_text(TOML_CASES[case])
    assert cli.main(["run", str(bad), "--out", str(out)]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    _one_line(captured.err)
    assert captured.out == ""


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_bad_api_call_raises_one_line(case, unchanged):
    _, suite, out = unchanged
    kwargs = {"suite": str(suite), "out": out, **API_CASES[case]}
    if kwargs["suite"] == "OBJECT":
        kwargs["suite"] = load_suite(str(suite))
    with pytest.raises((SuiteError, TypeError)) as info:
        hpbench.run(**kwargs)
    _one_line(str(info.value))


def test_hpbench_run_has_the_real_signature():
    import inspect

    assert "timeout" in inspect.signature(hpbench.run).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(hpbench.run).parameters
                   .values())


@pytest.mark.parametrize("config, what", [
    ({"x0": 0.0}, "x1 is missing"),
    ({"x0": 0.0, "x1": 1.0, "x2": 1.0}, "x2"),   # a key the space does not have
    ({"x0": math.nan, "x1": 1.0}, "x0"),
    ({"x0": 99.0, "x1": 1.0}, r"x0.*\[-5"),     # out of range, the range named
    ({"x0": "a", "x1": 1.0}, "x0"),
])
def test_evaluate_refuses_a_bad_config_naming_the_parameter(config, what):
    problem = make_problem("branin")
    with pytest.raises(InvalidConfig, match=what) as info:
        problem.evaluate(config)
    _one_line(str(info.value))


@pytest.mark.parametrize("call, error", [
    (lambda: make_problem("branin", seed="x"), ValueError),
    (lambda: make_problem("branin", seed=-1), ValueError),
    (lambda: make_problem("nosuch"), ValueError),
    (lambda: make_problem("branin", nosuch=1), TypeError),
    (lambda: hpbench.load_results("no-such-folder"), FileNotFoundError),
    (lambda: make_optimizer("random", make_problem("branin").space, seed=0, budget=4,
                            nosuch=1), ValueError),
    (lambda: Suite(name="x", problems=("branin",), optimizers=("random",), repeats=10**9)
     .n_cells() > 0 and hpbench.run(Suite(name="x", problems=("branin",),
                                          optimizers=("random",), repeats=10**9)),
     SuiteError),
])
def test_bad_python_calls_raise_one_line(call, error, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as info:
        call()
    _one_line(str(info.value))
    assert not list(tmp_path.iterdir())
