"""A results folder belongs to one suite: a run may repeat, narrow or extend it; a different
experiment is refused (one line, exit 2, nothing written) unless it asks to replace it; an
ad-hoc run without --out gets a folder of its own."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import hpbench
from hpbench import cli
from hpbench.suite import SuiteError, load_suite

BASE = """
name = "own"
problems = ["branin"]
optimizers = ["random", "sobol"]
repeats = 2
budget = 4
seed = 1
"""


def _suite(tmp_path: Path, text: str = BASE, name: str = "own.toml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "run.json"}


@pytest.fixture
def ran(tmp_path):
    suite, out = _suite(tmp_path), tmp_path / "out"
    assert hpbench.run(suite, out=out).count("done") == 4
    return suite, out


def test_the_same_run_again_skips_everything_and_keeps_the_folder(ran):
    suite, out = ran
    before = _files(out)
    assert hpbench.run(suite, out=out).count("skipped") == 4
    assert _files(out) == before


def test_a_narrower_run_keeps_the_folders_suite(ran):
    suite, out = ran
    text = (out / "suite.toml").read_text()
    summary = hpbench.run(suite, out=out, optimizers=["sobol"], repeats=1)
    assert summary.count("skipped") == 1 and len(summary.outcomes) == 1
    assert (out / "suite.toml").read_text() == text


def test_more_repeats_and_optimizers_extend_the_folder(ran, tmp_path):
    suite, out = ran
    summary = hpbench.run(suite, out=out, repeats=3)
    assert (summary.count("skipped"), summary.count("done")) == (4, 2)
    assert tomllib.loads((out / "suite.toml").read_text())["repeats"] == 3
    more = _suite(tmp_path, BASE.replace('["random", "sobol"]', '["random", "sobol", "lhs"]')
                  .replace("repeats = 2", "repeats = 3"), "more.toml")
    summary = hpbench.run(more, out=out)
    assert (summary.count("skipped"), summary.count("done")) == (6, 3)
    assert "lhs" in tomllib.loads((out / "suite.toml").read_text())["optimizers"]


def test_other_problems_beside_the_folders_are_added_as_a_group(ran, tmp_path):
    out = ran[1]
    other = _suite(tmp_path, BASE.replace('["branin"]', '["hartmann3"]')
                   .replace('["random", "sobol"]', '["random"]'), "other.toml")
    summary = hpbench.run(other, out=out)
    assert summary.count("done") == 2
    stored = load_suite(str(out / "suite.toml"), resolve=False)
    assert {c.key for c in stored.cells()} == {
        f"{p}/{o}/repeat-{r}" for p, o in [("branin", "random"), ("branin", "sobol"),
                                           ("hartmann3", "random")] for r in range(2)}
    # the merged suite.toml is what `hpbench run <folder>/suite.toml` would run: all skipped
    assert hpbench.run(str(out / "suite.toml"), out=out).count("skipped") == 6


@pytest.mark.parametrize("change, words", [
    ({"budget": 6}, "budget of branin/random/repeat-0: 4 evaluations there, 6 evaluations"),
    ({"seed": 2}, "seed of branin/random/repeat-0: 1 there, 2 asked"),
    ({"timeout": 9}, "timeout of branin/random/repeat-0: none there, 9"),
    ({"batch": 2}, "batch of branin/random/repeat-0: none there, 2 asked"),
])
def test_another_experiment_in_the_folder_is_refused_naming_the_difference(ran, change, words):
    suite, out = ran
    before = _files(out)
    with pytest.raises(SuiteError) as info:
        hpbench.run(suite, out=out, **change)
    message = str(info.value)
    assert words in message and "--replace-suite" in message and "\n" not in message
    assert _files(out) == before


def test_other_settings_are_refused_and_replace_suite_redoes_the_cells(ran, tmp_path):
    out = ran[1]
    other = _suite(tmp_path, BASE + "\n[settings.sobol]\nscramble = false\n", "set.toml")
    before = _files(out)
    argv = ["run", other, "--out", str(out), "--no-progress"]
    assert cli.main(argv) == cli.EXIT_USAGE
    assert _files(out) == before
    assert cli.main([*argv, "--replace-suite"]) == 0
    stored = tomllib.loads((out / "suite.toml").read_text())
    assert stored["settings"]["sobol"] == {"scramble": False}
    sobol = [m for _, m, _ in hpbench.ResultsDir(out).metas() if m["optimizer"] == "sobol"]
    assert len(sobol) == 2 and all(m["identity"]["settings"]["scramble"] is False
                                   for m in sobol)
    assert len(list(out.rglob("*.bad-*"))) == 2  # the old sobol cells, set aside


def test_an_adhoc_run_without_out_gets_a_folder_of_its_own(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    suite = _suite(tmp_path)
    named = hpbench.run(suite)
    assert named.out == Path("results/own")
    adhoc = hpbench.run(suite, budget=3)
    assert adhoc.out.parent == Path("results") and adhoc.out.name.startswith("own-")
    assert adhoc.out != named.out and adhoc.count("done") == 4
    # the same ad-hoc run again lands in the same folder and skips
    assert hpbench.run(suite, budget=3).out == adhoc.out
    assert tomllib.loads((named.out / "suite.toml").read_text())["budget"] == 4


def test_plugin_flag_registers_a_problem_for_the_run(tmp_path, monkeypatch, capsys):
    extra = tmp_path / "extra_problems.py"
    extra.write_text(
        "import hpbench\n"
        "from hpbench import register_problem\n"
        "def _make(seed=None):\n"
        "    p = hpbench.make_problem('branin', seed=seed)\n"
        "    p.name = 'my-branin'\n"
        "    return p\n"
        "register_problem('my-branin', description='branin, from a script')(_make)\n")
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--problems", "my-branin", "--optimizers", "random", "--repeats", "1",
            "--budget", "3", "--out", "out", "--no-progress"]
    assert cli.main(argv) == cli.EXIT_USAGE  # unknown without the plugin
    assert "my-branin" in capsys.readouterr().err
    assert cli.main([*argv, "--plugin", str(extra)]) == 0
    stored = tomllib.loads((tmp_path / "out" / "suite.toml").read_text())
    assert stored["plugins"] == [str(extra.resolve())]
