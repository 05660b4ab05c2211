"""``hpbench compare NAME --against all|FAMILY|A,B``: one optimizer against the others, run
and reported in one command.

The question a method's author asks first is "where does mine stand?". ``compare`` answers it
with the machinery of a suite, so the answer is as fair and reproducible as ``make bench``:

* **the lineup** — ``NAME`` and its opponents: every registered optimizer (``all``), the
  optimizers of one family (a folder of ``hpbench.optimizers``: ``model_based``, …; see
  ``hpbench.analysis.families``), or named ones; random search is always in it, because
  every normalized figure refers to it;
* **the problems, budget and repeats** — the top level of the ``default`` suite (the cheap,
  synthetic part of ``make bench``: known optima, continuous, noisy, mixed, multi-fidelity),
  unless given; each repeat meets the same instances for every optimizer;
* **the run** — into ``results/compare-<NAME>-<against>`` (a folder of its own, so a
  re-run after changing ``NAME``'s code redoes only ``NAME``'s cells: a cell's identity holds
  the version of its optimizer's code);
* **the report** — every figure with ``NAME`` highlighted (bold over a faded field), and
  ``compare.md`` beside ``report.html``: ``NAME``'s mean rank and place at each budget, its
  median regret relative to random search, and per problem whether it is the best, not
  significantly worse than the best, or behind (and behind whom).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hpbench.analysis import families

#: where the problems, budget and repeats come from (its top level: the cheap part)
BASE_SUITE = "default"
BASELINE = "random"


class CompareError(ValueError):
    """A name, family or option ``compare`` cannot use (one line, exit 2 from the CLI)."""


@dataclass
class Comparison:
    """What ``compare`` ran and found: the results folder, the figures folder and the
    summary (Markdown, also written to ``<figures>/compare.md``)."""

    name: str
    lineup: list[str]
    out: Path
    figures: Path
    summary: str
    run: str = ""  # the run's one-line account (cells done, skipped, failed)
    failed: int = 0


def lineup(name: str, against: str) -> list[str]:
    """``name`` first, then its opponents (see the module docstring), random search included;
    ``CompareError`` names what is wrong and what is allowed."""
    from hpbench import registry

    known = registry.entries("optimizer")
    if name not in known:
        raise CompareError(registry.unknown_name_message(
            "optimizer", name, known, listing=registry.listed("optimizer", len(known))))
    fams = {n: families.family_of_origin(e.origin) for n, e in known.items()}
    against = against.strip()
    if against == "all":
        others = [n for n in sorted(known) if n != name]
    elif against in set(fams.values()):
        others = [n for n in sorted(known) if fams[n] == against and n != name]
    else:
        others = [n.strip() for n in against.split(",") if n.strip()]
        wrong = [n for n in others if n not in known]
        if wrong or not others:
            allowed = ", ".join(["all", *families.family_order(fams.values())])
            raise CompareError(f"--against {against!r}: not 'all', a family ({allowed}) or a "
                               f"comma-separated list of optimizers"
                               + (f"; unknown: {', '.join(wrong)}" if wrong else ""))
    others = [o for o in others if o != name]
    if not others:
        raise CompareError(f"--against {against!r}: no optimizer to compare {name} with")
    return list(dict.fromkeys([name, *others, BASELINE]))


def compare(name: str, against: str = "all", *, problems: Sequence[str] | None = None,
            repeats: int | None = None, budget: float | None = None,
            out: str | Path | None = None, plugins: Sequence[str] = (), workers: int = 1,
            backend: str | None = None, band: str = "iqr", progress: bool = False,
            seed: int | None = None) -> Comparison:
    """Run ``name`` against ``against`` and report it (see the module docstring)."""
    from hpbench.api import run
    from hpbench.plugins import load_plugins, normalize
    from hpbench.suite import load_suite, with_name

    plugins = [normalize(p) for p in plugins]
    load_plugins(plugins)  # NAME may be registered by one
    names = lineup(name, against)
    spec = load_suite(BASE_SUITE, problems=list(problems) if problems else _base_problems(),
                      optimizers=names, repeats=repeats, budget=budget, seed=seed,
                      plugins=plugins or None)
    slug = "".join(c if c.isalnum() or c in "._-" else "-" for c in f"{name}-{against}")
    spec = with_name(spec, f"compare-{slug}"[:80])
    out = Path(out) if out is not None else Path("results") / spec.name
    summary = run(spec, out=out, workers=workers, backend=backend, progress=progress)
    folder, text = report(out, name, names, band=band)
    failed = sum(o.failed for o in summary.outcomes)
    return Comparison(name, names, out, folder, text, str(summary), failed)


def _base_problems() -> list[str]:
    from hpbench.suite import load_suite

    return list(load_suite(BASE_SUITE, resolve=False).problems)


def report(out: Path, name: str, names: Sequence[str], *, band: str = "iqr"
           ) -> tuple[Path, str]:
    """Figures with ``name`` highlighted, and the summary (written to ``compare.md``)."""
    from hpbench.analysis.load import load
    from hpbench.analysis.report import analyse, write_figures, write_html, write_tables

    results = load(out)
    a = analyse(results, band=band, highlight=[name])
    folder = Path(out) / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    write_html(a, folder, write_figures(a, folder), write_tables(a, folder))
    text = summary_text(a, name, len(names) - 1)
    (folder / "compare.md").write_text(text + f"\nFigures: {folder / 'report.html'}\n")
    return folder, text


def summary_text(a, name: str, n_opponents: int) -> str:
    """``name``'s standing at each budget of the analysis ``a`` (Markdown)."""
    r = a.results
    lines = [f"# {name} against {n_opponents} optimizers",
             "", f"{len(r.problem_names)} problems ({', '.join(r.problem_names)}), "
             f"suite {r.suite}, fingerprint {r.fingerprint}.", ""]
    for label in a.budget_labels:
        lines.append(f"## At {label}")
        lines += _rank_lines(a, name, label) + _problem_lines(a, name, label) + [""]
    return "\n".join(lines)


def _rank_lines(a, name: str, label: str) -> list[str]:
    out = []
    fr = a.friedman.get(label)
    if fr is not None and name in fr.avg_ranks.index:
        ranks = fr.avg_ranks.sort_values()
        mine = ranks[name]
        place = 1 + int((ranks < mine - 1e-12).sum())
        joint = "joint " if int((abs(ranks - mine) <= 1e-12).sum()) > 1 else ""
        cd = f", critical difference {fr.cd:.2f}" if fr.cd is not None else ""
        out.append(f"- mean rank {mine:.2f} over {len(fr.problems)} problems: "
                   f"{joint}{_ordinal(place)} of {len(ranks)} (rank 1 is best; Friedman "
                   f"p = {fr.p_value:.2g}{cd})")
    else:
        out.append("- mean rank: not computed here (it needs two problems that every "
                   "optimizer ran)")
    norm = a.normalized_at.get(label)
    if norm is not None and name in norm.index and "median" in norm.columns:
        value = float(norm.loc[name, "median"])
        if math.isfinite(value):
            out.append(f"- median normalized regret {value:.3g} (random search = 1; below 1 "
                       "is better)")
    return out


def _problem_lines(a, name: str, label: str) -> list[str]:
    vb = a.versus_best.get(label)
    if vb is None or vb.empty or name not in set(vb["optimizer"]):
        return [f"- {name} has no finished cell at this budget"]
    mine = vb[vb["optimizer"] == name].set_index("problem")
    best_of = vb[vb["best"]].set_index("problem")["optimizer"]
    best = [p for p in mine.index if mine.loc[p, "best"]]
    tied = [p for p in mine.index if mine.loc[p, "not_worse"] and not mine.loc[p, "best"]]
    behind = [f"{p} (best: {best_of[p]})" for p in mine.index if not mine.loc[p, "not_worse"]]
    return [f"- best on {len(best)} of {len(mine)} problems" + _listed(best),
            f"- level with the best (not significantly worse: Mann-Whitney, Holm, "
            f"alpha 0.05) on {len(tied)}" + _listed(tied),
            f"- behind on {len(behind)}" + _listed(behind)]


def _listed(items: list[str]) -> str:
    return f": {', '.join(items)}" if items else ""


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


# -- the command ------------------------------------------------------------------------------
def add_compare(sub: argparse._SubParsersAction) -> object:
    """Add the ``compare`` subcommand to ``sub``; returns its handler."""
    p = sub.add_parser(
        "compare", help="run one optimizer against the others and report where it stands",
        description="Run NAME against all optimizers, one family, or named ones, on the "
                    f"problems of the {BASE_SUITE!r} suite's top level (unless --problems), "
                    "then draw every figure with NAME highlighted and write compare.md.",
        epilog="Exit status: 0 done; 2 bad input; 3 done, but some cells failed.")
    p.add_argument("name", help="the optimizer to compare (a registered name)")
    p.add_argument("--against", default="all", metavar="all|FAMILY|A,B",
                   help="all (default), a family (baselines, model_based, multifidelity, "
                        "population, local, gradient, rl, adapters, or a plugin package) or "
                        "comma-separated optimizer names; random search is always included")
    p.add_argument("--problems", type=_names, metavar="P,Q",
                   help=f"comma-separated problems (default: the {BASE_SUITE} suite's top level)")
    p.add_argument("--repeats", type=int, metavar="N", help="repeats (default: the suite's)")
    p.add_argument("--budget", type=float, metavar="B", help="budget (default: the suite's)")
    p.add_argument("--seed", type=int, metavar="S", help="master seed (default: the suite's)")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="results folder (default results/compare-NAME-AGAINST)")
    p.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MOD",
                   help="a module or .py file that registers NAME (repeatable)")
    p.add_argument("--workers", type=int, default=1, metavar="N",
                   help="cells run at once (default 1)")
    p.add_argument("--backend", metavar="NAME", help="serial, processes, dask, … (default: "
                                                     "serial for one worker, else processes)")
    p.add_argument("--band", choices=["iqr", "ci"], default="iqr",
                   help="median + interquartile range (iqr) or mean + bootstrap 95%% CI (ci)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return cmd_compare


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {text!r}")
    return names


def cmd_compare(args: argparse.Namespace) -> int:
    from hpbench.analysis.lineup import UnknownOptimizerError
    from hpbench.analysis.load import ResultsError
    from hpbench.errors import UsageError
    from hpbench.plugins import PluginError
    from hpbench.suite import SuiteError

    try:
        result = compare(args.name, args.against, problems=args.problems,
                         repeats=args.repeats, budget=args.budget, out=args.out,
                         plugins=args.plugins, workers=args.workers, backend=args.backend,
                         band=args.band, progress=not args.no_progress, seed=args.seed)
    except (CompareError, SuiteError, PluginError, ResultsError,
            UnknownOptimizerError) as exc:
        raise UsageError(f"hpbench compare: {exc}") from None
    print(result.run)
    print(result.summary)
    print(f"figures, tables and report in {result.figures} (summary: compare.md)")
    return 3 if result.failed else 0
