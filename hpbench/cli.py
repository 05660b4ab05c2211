"""The ``hpbench`` command line.

The engine's commands are defined here; other commands come from the entry-point group
``hpbench.commands``: an entry point names a function ``add(subparsers)`` that adds its
subparser and returns the handler ``handler(args) -> exit status``; a handler reports bad
input by raising ``hpbench.errors.UsageError``. That is how the analysis
(``hpbench.analysis.cli``) adds ``figures`` without the engine importing it.

Bad input (an unknown name, a malformed suite file, a budget <= 0, an unwritable output
folder) prints one line to stderr and exits with status 2, having written nothing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from hpbench import registry
from hpbench.budget import UNITS
from hpbench.errors import UsageError

EXIT_USAGE = 2
#: the entry-point group of commands that other packages add
COMMAND_GROUP = "hpbench.commands"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the whole usage block
        raise UsageError(f"{self.prog}: {message}")


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer > 0, got {value!r}") from None
    if n <= 0:
        raise argparse.ArgumentTypeError(f"must be an integer > 0, got {value!r}")
    return n


def _positive_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value!r}") from None
    if not x > 0 or x != x or x == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {value!r}")
    return x


def _non_negative_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value!r}") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {value!r}")
    return n


def version() -> str:
    """hpbench's version: the installed distribution's, else the package's own."""
    try:
        return importlib.metadata.version("hpbench")
    except importlib.metadata.PackageNotFoundError:  # a source tree that is not installed
        from hpbench import __version__

        return __version__


def _add_run(sub: argparse._SubParsersAction) -> None:
    """Add ``hpbench run`` and its options."""
    p = sub.add_parser(
        "run", help="run a suite (resumes an interrupted run)",
        description="Run a suite and store every cell; a re-run skips finished cells.",
        epilog="Exit status: 0 every cell done (or skipped, or not applicable); 2 bad input, "
               "nothing written; 3 the run finished but some cells failed, in this run or an "
               "earlier one of the folder (listed on stderr, recorded in the folder); 1 the "
               "results folder could not be written; 130 interrupted.")
    p.add_argument("suite", nargs="?", default="default",
                   help="a packaged suite name (default, smoke, paper, paper-lite; "
                        "`hpbench list suites`) or a .toml file")
    p.add_argument("--problems", type=_names, metavar="NAMES",
                   help="comma-separated problem names or shell patterns (ackley-*); "
                        "replaces the suite's problems")
    p.add_argument("--optimizers", type=_names, metavar="NAMES",
                   help="comma-separated optimizer names or shell patterns; replaces the "
                        "suite's optimizers")
    p.add_argument("--repeats", type=_positive_int, metavar="N",
                   help="seeded repeats of each problem × optimizer pair (default: the "
                        "suite's)")
    p.add_argument("--budget", type=_positive_float, metavar="B",
                   help="budget of each cell, counted in --budget-unit (default: the suite's)")
    p.add_argument("--budget-unit", choices=UNITS,
                   help="what the budget counts: full-fidelity-equivalent evaluations, the "
                        "problem's cost units or wall seconds (default: the suite's, else "
                        "evaluations)")
    p.add_argument("--seed", type=_non_negative_int, metavar="S",
                   help="master seed every cell's seeds derive from (default: the suite's)")
    p.add_argument("--batch", type=_positive_int, metavar="Q",
                   help="suggestions asked and evaluated per round (default: the suite's, "
                        "else 1)")
    p.add_argument("--sim-workers", type=_positive_int, metavar="K",
                   help="run every cell on K simulated workers under a virtual clock: "
                        "asynchronous and synchronous methods compared over (virtual) wall "
                        "time; cells are labelled <optimizer>@<K>w (docs/simulated-clock.md)")
    p.add_argument("--timeout", type=_positive_float, metavar="SECONDS",
                   help="seconds per evaluation and per optimizer call; a trial over it is "
                        "recorded as a timeout (default: the suite's, else none)")
    p.add_argument("--plugin", action="append", dest="plugins", metavar="MODULE_OR_FILE",
                   help="a module or .py file that registers problems or optimizers "
                        "(repeatable)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="output folder (default results/<suite>; results/<suite>-<hash> when "
                        "options change the suite)")
    p.add_argument("--replace-suite", action="store_true",
                   help="let this run's suite replace the one the --out folder holds (cells "
                        "that differ are set aside and redone)")
    p.add_argument("--workers", type=_positive_int, default=1, metavar="N",
                   help="cells run at once (default 1)")
    p.add_argument("--backend",
                   help="serial, processes or dask, or one a plugin adds (default: serial "
                        "for one worker, processes for more, dask with --scheduler)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler address (tcp://HOST:PORT)")
    p.add_argument("--retries", type=_non_negative_int, default=2, metavar="N",
                   help="runs of a cell after its worker died before it is recorded as "
                        "failed (default 2)")
    p.add_argument("--journal", choices=["auto", "on", "off"], default="auto",
                   help="trial journal replayed on resume (auto: problems tagged expensive)")
    p.add_argument("--memory-limit", metavar="SIZE",
                   help="address space per worker and evaluation, e.g. 4G")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hpbench", description="Benchmark hyperparameter optimizers.",
                     epilog="`hpbench COMMAND --help` shows a command's options. Guides: "
                            "docs/ in the repository (design, figures, plugins, results "
                            "schema, comparing your optimizer).")
    parser.add_argument("--version", action="version", version=f"hpbench {version()}",
                        help="print hpbench's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser,
                                title="commands", metavar="COMMAND",
                                help="one of the commands below")

    p = sub.add_parser("list", help="list registered problems, optimizers or suites")
    p.add_argument("what", choices=["problems", "optimizers", "suites"], help="what to list")
    p.add_argument("--tag", help="only entries with this tag (the tags are listed in brackets)")
    p.add_argument("--plugin", action="append", dest="plugins", metavar="MODULE_OR_FILE",
                   help="import this module or .py file first, so the entries it registers "
                        "are listed too (repeatable)")

    _add_run(sub)

    p = sub.add_parser("status", help="done / missing / failed cells of a results folder")
    p.add_argument("dir", type=Path, help="a results folder (what `hpbench run` wrote)")

    p = sub.add_parser("new", help="write a documented template module to start from")
    p.add_argument("kind", choices=["optimizer", "problem"], help="what the module defines")
    p.add_argument("name", help="its registry name: lowercase letters, digits and '-' "
                                "(e.g. my-method)")
    for ep in importlib.metadata.entry_points(group=COMMAND_GROUP):
        if ep.name not in BUILTIN:  # a plugin cannot replace an engine command
            COMMANDS[ep.name] = ep.load()(sub)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "suites":
        from hpbench.suite import packaged_suites, suite_description

        names = packaged_suites()
        width = max(map(len, names), default=10)
        for name in names:
            print(f"{name:<{width}}  {suite_description(name)}".rstrip())
        return 0
    if args.plugins:
        from hpbench.plugins import PluginError, load_plugins, normalize

        try:
            load_plugins([normalize(p) for p in args.plugins])
        except PluginError as exc:
            raise UsageError(f"hpbench list: {exc}") from None
    kind = args.what[:-1]
    table = registry.entries(kind)
    tags = sorted({t for e in table.values() for t in e.tags})
    if args.tag and args.tag not in tags:
        raise UsageError("hpbench list: " + registry.unknown_name_message(
            f"{kind} tag", args.tag, tags,
            listing=f"`hpbench list {args.what}` shows each {kind}'s tags in brackets"))
    rows = [e for e in table.values() if not args.tag or args.tag in e.tags]
    width = max((len(e.name) for e in rows), default=10)
    for e in rows:
        note = "" if e.available else f"  [needs {', '.join(e.missing())}]"
        requires = f" (requires {', '.join(sorted(e.requires))})" if kind == "optimizer" \
            and e.requires else ""
        tags = f"  [{', '.join(e.tags)}]" if e.tags else ""
        print(f"{e.name:<{width}}  {e.description}{requires}{tags}{note}")
        if e.note:  # on its own line, under the description: the numbers behind a tag
            print(f"{'':<{width}}    {e.note}")
    for module, error in sorted(registry.BROKEN.items()):
        print(f"(could not import {module}: {error})", file=sys.stderr)
    return 0


#: ``hpbench run`` finished, but some cells failed
EXIT_FAILED_CELLS = 3


def cmd_run(args: argparse.Namespace) -> int:
    from hpbench.api import run

    summary = run(args.suite, problems=args.problems, optimizers=args.optimizers,
                  repeats=args.repeats, budget=args.budget, budget_unit=args.budget_unit,
                  seed=args.seed, batch=args.batch, timeout=args.timeout,
                  sim_workers=args.sim_workers, plugins=args.plugins, out=args.out,
                  replace_suite=args.replace_suite,
                  workers=args.workers, backend=args.backend, scheduler=args.scheduler,
                  progress=not args.no_progress, retries=args.retries,
                  journal={"auto": None, "on": True, "off": False}[args.journal],
                  memory_limit=args.memory_limit)
    print(summary)
    failed = [o for o in summary.outcomes if o.failed]
    for o in failed:
        when = "" if o.status != "skipped" else " (recorded by an earlier run)"
        print(f"  failed{when}: {o.key}: {o.reason}", file=sys.stderr)
    return EXIT_FAILED_CELLS if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    from hpbench.status import status_report

    if not args.dir.is_dir():
        raise UsageError(f"hpbench status: {args.dir} is not a results folder")
    text, _ = status_report(args.dir)
    print(text)
    return 0


def cmd_new(args: argparse.Namespace) -> int:
    from hpbench.templates import write_template

    path = write_template(args.kind, args.name)
    print(f"wrote {path}; run `make test` to check it, then add it to a suite")
    return 0


#: the handler of each command; plugin commands are added when the parser is built
BUILTIN: dict[str, Callable[[argparse.Namespace], int]] = {
    "list": cmd_list, "run": cmd_run, "status": cmd_status, "new": cmd_new}
COMMANDS = dict(BUILTIN)


def main(argv: Sequence[str] | None = None) -> int:
    from hpbench.store import OutputError, ResultsWriteError
    from hpbench.suite import SuiteError
    from hpbench.templates import TemplateError

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    if not argv:  # bare `hpbench`: what it can do, as `hpbench --help` shows it
        parser.print_help()
        return 0
    try:
        args = parser.parse_args(argv)
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            return COMMANDS[args.command](args)
    except (UsageError, SuiteError, OutputError, TemplateError,
            registry.UnknownNameError, registry.MissingDependencyError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if not message.startswith("hpbench"):
            message = f"hpbench: {message}"
        print(message, file=sys.stderr)
        return EXIT_USAGE
    except ResultsWriteError as exc:
        print(f"hpbench: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        from hpbench.dask_backend import ClusterLostError

        if not isinstance(exc, ClusterLostError):
            raise
        print(f"hpbench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hpbench: interrupted; finished cells are kept, re-run to resume", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader left (`hpbench status DIR | head`): stop quietly, as other tools do, and
        # point stdout at /dev/null so that the interpreter's last flush does not fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
