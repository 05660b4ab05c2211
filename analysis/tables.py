"""Tables: final regret per problem and optimizer — median [IQR] over repeats, the best in
bold, entries not significantly worse than the best underlined — and a summary per optimizer
(mean rank, Friedman test, normalized regret), each as Markdown, LaTeX (booktabs) and CSV.

The numbers come from ``hpbench.analysis.stats.versus_best`` (per-problem Mann-Whitney tests against
the best) and ``hpbench.analysis.stats.friedman``; this module only formats them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                  "^": r"\textasciicircum{}", "α": r"$\alpha$", "∞": r"$\infty$",
                  "τ": r"$\tau$", "·": r"$\cdot$", "≤": r"$\le$", "—": "---", "–": "--",
                  "×": r"$\times$"}


def fmt(v: float) -> str:
    """A regret for a table: three significant digits; ∞ when no incumbent yet."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if math.isinf(v):
        return "∞"
    if v == 0:
        return "0"
    return f"{v:.3g}"


def share_label(frac: float) -> str:
    """A share of the budget in words, the percent sign kept: ``0.25`` -> ``"25 % of the
    budget"``."""
    return f"{100 * frac:.4g} % of the budget"


def budget_slug(label: str) -> str:
    """A budget label as part of a file name, the percent sign kept as ``pct``:
    ``"25 % of the budget"`` -> ``25pct_of_the_budget``, ``"50 evaluations"`` ->
    ``50_evaluations``, ``"2.5 evaluations"`` -> ``2_5_evaluations``."""
    text = re.sub(r"\s*%", "pct", label)
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")


def latex_escape(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def cell_text(median: float, q25: float, q75: float) -> str:
    """``median [q25, q75]`` of one table entry."""
    return f"{fmt(median)} [{fmt(q25)}, {fmt(q75)}]"


def regret_grid(vb: pd.DataFrame, problems: Sequence[str], optimizers: Sequence[str]
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Texts, best flags and not-worse flags as problems × optimizers frames (``n/a``
    where an optimizer did not run on a problem). Filled by position, all at once: a
    paper-size table (50 problems × 30 optimizers, three budgets, three formats) took 5 s
    entry by entry."""
    index, columns = pd.Index(list(problems)), pd.Index(list(optimizers))
    rows, cols = index.get_indexer(vb["problem"]), columns.get_indexer(vb["optimizer"])
    keep = (rows >= 0) & (cols >= 0)
    rows, cols, part = rows[keep], cols[keep], vb[keep]
    text = np.full((len(index), len(columns)), "n/a", dtype=object)
    best = np.zeros(text.shape, dtype=bool)
    tie = np.zeros(text.shape, dtype=bool)
    text[rows, cols] = [cell_text(m, lo, hi) for m, lo, hi in
                        zip(part["median"], part["q25"], part["q75"])]
    is_best = part["best"].to_numpy(dtype=bool)
    best[rows, cols] = is_best
    tie[rows, cols] = part["not_worse"].to_numpy(dtype=bool) & ~is_best
    return tuple(pd.DataFrame(a, index=index, columns=columns) for a in (text, best, tie))


def _marked(text: pd.DataFrame, best: pd.DataFrame, tie: pd.DataFrame, bold: str,
            under: str, escape=str) -> pd.DataFrame:
    """Each entry escaped and wrapped: ``bold`` (a format with ``{}``) where it is best,
    ``under`` where it is not worse."""
    t, b, u = text.to_numpy(), best.to_numpy(), tie.to_numpy()
    out = np.empty(t.shape, dtype=object)
    for i, j in np.ndindex(t.shape):
        e = escape(t[i, j])
        out[i, j] = bold.format(e) if b[i, j] else under.format(e) if u[i, j] else e
    return pd.DataFrame(out, index=text.index, columns=text.columns)


def caption(budget_label: str, alpha: float) -> str:
    return (f"Regret at {budget_label}: median [interquartile range] over repeats. Bold: "
            f"lowest median; underlined: not significantly worse than it (one-sided "
            f"Mann-Whitney U test, Holm-corrected per problem, α = {alpha}); ∞: no incumbent "
            f"yet; n/a: not run or not applicable.")


def regret_markdown(vb: pd.DataFrame, problems: Sequence[str], optimizers: Sequence[str],
                    refs: pd.Series, budget_label: str, alpha: float = 0.05) -> str:
    """The final-regret table in (GitHub) Markdown: bold best, ``<u>`` underline for ties."""
    marked = _marked(*regret_grid(vb, problems, optimizers), "**{}**", "<u>{}</u>")
    head = "| problem | reference | " + " | ".join(optimizers) + " |"
    sep = "|---|---|" + "|".join(["---:"] * len(optimizers)) + "|"
    lines = [head, sep]
    for p, cells in zip(marked.index, marked.to_numpy()):
        lines.append(f"| {p} | {refs.get(p, '')} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + caption(budget_label, alpha) + "\n"


def regret_latex(vb: pd.DataFrame, problems: Sequence[str], optimizers: Sequence[str],
                 refs: pd.Series, budget_label: str, alpha: float = 0.05, *,
                 label: str = "tab:regret", max_cols: int = 5) -> str:
    """The final-regret table as LaTeX (booktabs), split into column groups of at most
    ``max_cols`` optimizers so it fits a page; needs ``\\usepackage{booktabs}``."""
    marked = _marked(*regret_grid(vb, problems, optimizers), r"\textbf{{{}}}",
                     r"\underline{{{}}}", latex_escape)
    chunks = [list(optimizers[i:i + max_cols]) for i in range(0, len(optimizers), max_cols)]
    chunks = chunks or [[]]
    out = []
    for k, cols in enumerate(chunks):
        part = f" (part {k + 1} of {len(chunks)})" if len(chunks) > 1 else ""
        lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
                 rf"\caption{{{latex_escape(caption(budget_label, alpha))}{part}}}",
                 rf"\label{{{label}{'-' + str(k + 1) if len(chunks) > 1 else ''}}}",
                 r"\begin{tabular}{ll" + "r" * len(cols) + "}", r"\toprule",
                 "problem & reference & " + " & ".join(latex_escape(o) for o in cols)
                 + r" \\", r"\midrule"]
        for p, cells in zip(marked.index, marked[cols].to_numpy()):
            lines.append(f"{latex_escape(p)} & {latex_escape(refs.get(p, ''))} & "
                         + " & ".join(cells) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
        out.append("\n".join(lines))
    return "\n\n".join(out) + "\n"


def regret_html(vb: pd.DataFrame, problems: Sequence[str], optimizers: Sequence[str],
                refs: pd.Series, budget_label: str, alpha: float = 0.05, *,
                transpose: bool | None = None, highlight: Sequence[str] = ()) -> str:
    """The final-regret table for the HTML report. ``transpose``: one row per optimizer and
    one column per problem (its reference under its name); by default when there are more
    optimizers than problems, so forty optimizers make forty rows, not forty columns.
    ``highlight``: optimizers whose row (or column head) is marked ``class='hl'``."""
    import html

    e = html.escape
    text = _marked(*regret_grid(vb, problems, optimizers), "<b>{}</b>", "<u>{}</u>", e)
    marked = {(p, o): v for (p, o), v in text.stack().items()}

    def cell(p: str, o: str) -> str:
        return f"<td>{marked[p, o]}</td>"

    def mark(o: str) -> str:
        return " class='hl'" if o in highlight else ""

    if transpose is None:
        transpose = len(text.columns) > len(text.index)
    if transpose:
        rows = ["<table class='regret'><thead><tr><th>optimizer</th>"
                + "".join(f"<th>{e(p)}<br><span class='ref'>{e(str(refs.get(p, '')))}</span>"
                          "</th>" for p in text.index) + "</tr></thead><tbody>"]
        rows += [f"<tr{mark(o)}><td>{e(o)}</td>" + "".join(cell(p, o) for p in text.index)
                 + "</tr>" for o in text.columns]
    else:
        rows = ["<table class='regret'><thead><tr><th>problem</th><th>reference</th>"
                + "".join(f"<th{mark(o)}>{e(o)}</th>" for o in text.columns)
                + "</tr></thead><tbody>"]
        rows += [f"<tr><td>{e(p)}</td><td>{e(str(refs.get(p, '')))}</td>"
                 + "".join(cell(p, o) for o in text.columns) + "</tr>" for p in text.index]
    rows.append("</tbody></table>")
    return "\n".join(rows) + f"\n<p class='caption'>{e(caption(budget_label, alpha))}</p>"


def summary_frame(optimizers: Sequence[str], per_budget: dict[str, dict]) -> pd.DataFrame:
    """One row per optimizer; per budget label: mean rank over problems (Friedman blocks)
    and the median and mean over problems of the normalized regret."""
    frame = pd.DataFrame(index=list(optimizers))
    frame.index.name = "optimizer"
    for label, parts in per_budget.items():
        ranks = parts.get("ranks")
        if ranks is not None:
            frame[f"mean rank @ {label}"] = ranks.reindex(frame.index)
        norm = parts.get("normalized")
        if norm is not None:
            frame[f"norm. regret median @ {label}"] = norm["median"].reindex(frame.index)
            frame[f"norm. regret mean @ {label}"] = norm["mean"].reindex(frame.index)
    return frame


def summary_markdown(frame: pd.DataFrame, tests: dict[str, str]) -> str:
    cols = list(frame.columns)
    lines = ["| optimizer | " + " | ".join(cols) + " |",
             "|---|" + "|".join(["---:"] * len(cols)) + "|"]
    # the best (lowest) entry of each column in bold
    best = {c: frame[c].min(skipna=True) for c in cols}
    for o, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            t = "n/a" if pd.isna(v) else ("∞" if np.isinf(v) else f"{v:.3g}")
            if not pd.isna(v) and v == best[c]:
                t = f"**{t}**"
            cells.append(t)
        lines.append(f"| {o} | " + " | ".join(cells) + " |")
    notes = [f"{label}: {text}" for label, text in tests.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def summary_latex(frame: pd.DataFrame, tests: dict[str, str], *,
                  label: str = "tab:summary") -> str:
    cols = list(frame.columns)
    best = {c: frame[c].min(skipna=True) for c in cols}
    lines = [r"\begin{table}[t]", r"\centering", r"\scriptsize",
             rf"\caption{{Per optimizer: mean rank over problems (lower is better) and "
             rf"normalized regret (random search = 1, optimum = 0). "
             rf"{latex_escape('; '.join(f'{k}: {v}' for k, v in tests.items()))}}}",
             rf"\label{{{label}}}", r"\begin{tabular}{l" + "r" * len(cols) + "}", r"\toprule",
             "optimizer & " + " & ".join(latex_escape(c) for c in cols) + r" \\", r"\midrule"]
    for o, row in frame.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            t = "n/a" if pd.isna(v) else (r"$\infty$" if np.isinf(v) else f"{v:.3g}")
            if not pd.isna(v) and v == best[c]:
                t = rf"\textbf{{{t}}}"
            cells.append(t)
        lines.append(latex_escape(o) + " & " + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_all(out: Path, stem: str, *, markdown: str, latex: str, csv: pd.DataFrame
              ) -> list[Path]:
    """Write ``stem.md``, ``stem.tex`` and ``stem.csv`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.md", out / f"{stem}.tex", out / f"{stem}.csv"]
    paths[0].write_text(markdown)
    paths[1].write_text(latex)
    csv.to_csv(paths[2], index=False)
    return paths
