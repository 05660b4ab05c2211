"""``hpbench figures DIR``: the analysis's command, added to the ``hpbench`` command line
through the entry-point group ``hpbench.commands`` (the engine does not import the analysis).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_figures(sub: argparse._SubParsersAction) -> object:
    """Add the ``figures`` subcommand to ``sub``; returns its handler."""
    p = sub.add_parser("figures", help="figures, tables and report of a results folder")
    p.add_argument("dir", type=Path, help="a results folder (what `hpbench run` wrote)")
    p.add_argument("--band", choices=["iqr", "ci"], default="iqr",
                   help="median + interquartile range (iqr) or mean + bootstrap 95%% CI (ci)")
    p.add_argument("--out", type=Path, help="figures folder (default DIR/figures)")
    p.add_argument("--linked-images", action="store_true", help="link PNGs, not embed them")
    p.add_argument("--highlight", metavar="A,B", default="",
                   help="optimizers drawn bold over a faded field (comma-separated names)")
    p.add_argument("--regret", choices=["auto", "oracle", "incumbent"], default="auto",
                   help="oracle: the best true value among the evaluated points; incumbent: "
                        "the true value of the config the optimizer would return; auto "
                        "(default): incumbent on noisy problems, oracle elsewhere")
    return cmd_figures


def cmd_figures(args: argparse.Namespace) -> int:
    from hpbench.analysis.lineup import UnknownOptimizerError
    from hpbench.analysis.load import ResultsError
    from hpbench.analysis.parallel import default_workers
    from hpbench.analysis.report import make_figures
    from hpbench.errors import UsageError
    from hpbench.store import CorruptCell

    if not args.dir.is_dir():
        raise UsageError(f"hpbench figures: {args.dir} is not a results folder")
    try:
        # the per-problem figures drawn by worker processes: safe here, in a command (a
        # script calling make_figures unguarded by `if __name__ == "__main__"` would be
        # re-run by every spawned worker, so the function itself draws in one process)
        path = make_figures(args.dir, args.out, band=args.band, linked_images=args.linked_images,
                            highlight=args.highlight.split(","), regret=args.regret,
                            workers=default_workers())
    except (ResultsError, CorruptCell, UnknownOptimizerError) as exc:
        raise UsageError(f"hpbench figures: {exc}") from None
    print(f"figures, tables and report in {path}")
    return 0
