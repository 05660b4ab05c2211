"""The command line a new user meets in the first hour: the help, the version, help text on
every option, suite descriptions, and unknown names answered with the close matches and the
command that lists them all."""

from __future__ import annotations

import argparse
import importlib.metadata
import inspect
import pydoc
import re
import tomllib
from pathlib import Path

import pytest

import hpbench
from hpbench import registry
from hpbench.cli import build_parser, main

SUITES = Path(hpbench.__file__).parent / "suites"


def test_bare_hpbench_prints_the_help_and_exits_0(cli):
    res = cli(env={})
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""
    assert res.stdout.startswith("usage: hpbench")
    for command in ("list", "run", "status", "new", "figures"):
        assert f"\n    {command} " in res.stdout, res.stdout
    assert "--version" in res.stdout and "COMMAND --help" in res.stdout
    # the same text as `hpbench --help`
    assert cli("--help", env={}).stdout == res.stdout


def test_version_names_the_installed_distribution(cli):
    res = cli("--version", env={})
    assert res.returncode == 0, res.stderr
    assert res.stdout == f"hpbench {importlib.metadata.version('hpbench')}\n"


def _helpless(parser: argparse.ArgumentParser, path: str) -> list[str]:
    """Every action of ``parser`` and its subcommands without a help text."""
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not (action.help or "").strip():
            missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:  # the one-line help of each command
                if not (choice.help or "").strip():
                    missing.append(f"{path} {choice.dest} (the command)")
            for name, sub in action.choices.items():
                missing += _helpless(sub, f"{path} {name}")
    return missing


def test_every_option_of_every_command_has_help():
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    # the commands other packages add (entry-point group hpbench.commands) are walked too
    assert {"list", "run", "status", "new", "figures"} <= set(commands.choices)
    assert _helpless(parser, "hpbench") == []


def test_list_suites_shows_each_suites_description(cli):
    res = cli("list", "suites", env={})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    files = sorted(SUITES.glob("*.toml"), key=lambda f: f.stem)
    assert [line.split()[0] for line in lines] == [f.stem for f in files]
    for line, path in zip(lines, files):
        description = tomllib.loads(path.read_text())["description"]
        assert description and line.split(maxsplit=1)[1] == description


def _error_line(capsys, *args: str) -> str:
    """Run ``hpbench ARGS`` in this process; its one-line error (exit 2, nothing on stdout)."""
    assert main([*args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _count(kind: str) -> int:
    return len(registry.entries(kind))


@pytest.mark.parametrize("args, expected", [
    (["run", "--problems", "branni"],
     "hpbench: unknown problem 'branni'; did you mean branin? (`hpbench list problems` lists "
     "all {problems})"),
    (["run", "--problems", "no-such-problem-at-all"],
     "hpbench: unknown problem 'no-such-problem-at-all' (`hpbench list problems` lists all "
     "{problems})"),
    (["run", "--optimizers", "randon"],
     "hpbench: unknown optimizer 'randon'; did you mean random? (`hpbench list optimizers` "
     "lists all {optimizers})"),
    (["run", "smok"],
     "hpbench: unknown suite 'smok'; did you mean smoke? (valid: default, paper, paper-lite, "
     "smoke, or a "
     "path to a .toml file)"),
    (["run", "smoke", "--backend", "proceses"],
     "hpbench: unknown backend 'proceses'; did you mean processes? (valid: dask, processes, "
     "serial)"),
    (["run", "--problems", "ackly-*"],
     "hpbench: packaged suite default: pattern 'ackly-*' matches no problem (`hpbench list "
     "problems` lists all {problems})"),
    (["list", "problems", "--tag", "noisey"],
     "hpbench list: unknown problem tag 'noisey'; did you mean noisy? (`hpbench list "
     "problems` shows each problem's tags in brackets)"),
    (["list", "optimizers", "--tag", "baselin"],
     "hpbench list: unknown optimizer tag 'baselin'; did you mean baseline? (`hpbench list "
     "optimizers` shows each optimizer's tags in brackets)"),
])
def test_an_unknown_name_shows_close_matches_and_how_to_list_all(capsys, tmp_path, args,
                                                                   expected):
    out = tmp_path / "never"
    extra = ["--out", str(out)] if args[0] == "run" else []
    line = _error_line(capsys, *args, *extra)
    # other tests of this process may register close names (my-branin): the first match is
    # the one this test is about
    line = re.sub(r"(did you mean [\w.-]+)(, [\w.-]+)*\?", r"\1?", line)
    assert line == expected.format(problems=_count("problem"),
                                   optimizers=_count("optimizer"))
    assert not out.exists()


def test_list_with_a_plugin_file_lists_its_entries(capsys, tmp_path):
    plugin = tmp_path / "extra_opt.py"
    plugin.write_text('from hpbench import Optimizer, register_optimizer\n\n\n'
                      '@register_optimizer("first-hour-random", tags=("first-hour",))\n'
                      'class R(Optimizer):\n'
                      '    """Uniform random search."""\n\n'
                      '    def ask(self, n):\n'
                      '        return self.space.sample(self.rng, n)\n\n'
                      '    def tell(self, observations):\n'
                      '        pass\n')
    try:
        assert main(["list", "optimizers", "--plugin", str(plugin), "--tag", "first-hour"]) == 0
        out, _ = capsys.readouterr()
        assert out.split() == ["first-hour-random", "Uniform", "random", "search.",
                               "[first-hour]"]
    finally:
        registry._ENTRIES["optimizer"].pop("first-hour-random", None)
    line = _error_line(capsys, "list", "optimizers", "--plugin", str(tmp_path / "nope.py"))
    assert line.startswith("hpbench list: plugin file ") and "does not exist" in line


def test_help_of_hpbench_run_shows_the_real_signature_and_every_parameter():
    from hpbench import api

    assert inspect.signature(hpbench.run) == inspect.signature(api.run)
    params = list(inspect.signature(hpbench.run).parameters)
    assert params[:4] == ["suite", "problems", "optimizers", "repeats"]
    text = pydoc.render_doc(hpbench.run, renderer=pydoc.plaintext)
    assert "run(suite" in text and "budget_unit" in text and "RunSummary" in text
    undocumented = [p for p in params if f"``{p}``" not in hpbench.run.__doc__]
    assert undocumented == []


def test_a_suite_description_does_not_stop_a_rerun_from_skipping(tmp_path):
    """The description is words for people: a folder run before it was added or changed is
    the same experiment, so its cells are skipped, not refused or redone."""
    body = ('name = "described"\nproblems = ["branin"]\noptimizers = ["random"]\n'
            'repeats = 2\nbudget = 3\n')
    suite, out = tmp_path / "described.toml", tmp_path / "out"
    suite.write_text(body)
    assert hpbench.run(str(suite), out=out).count("done") == 2
    for description in ("first words", "other words"):
        suite.write_text(f'description = "{description}"\n' + body)
        again = hpbench.run(str(suite), out=out)
        assert len(again.outcomes) == 2 and again.count("skipped") == 2
