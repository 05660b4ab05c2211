"""How faithful a surrogate is: held-out rank correlation per fidelity level (table 1).

``heldout_spearman(tab, kind)`` splits the recorded configs into ``FOLDS`` folds (seeded,
over ``config_id``: a config's every level and seed stay on one side), fits the model of
``kind`` on the other folds, predicts the held-out configs' mean value at every recorded
level, and reports per level the Spearman rank correlation between the predictions and the
recorded means over seeds. ``compare`` does it for every kind; ``fit`` picks the kind with the
higher Spearman at full fidelity (ties: the higher mean over levels) and writes both kinds'
rows to ``data/validation.csv``, which the registration reads to decide soundness (target:
``SPEARMAN_TARGET`` at full fidelity).

Table 2, the optimizer ranking (Kendall's tau between the mean-rank orders of 8 optimizers on
the live problem and on its surrogate), is measured by ``benchmarks/
test_surrogate_ranking.py``, which writes ``data/ranking.csv`` (``RANKING``).
``markdown()`` renders both tables for ``docs/surrogates.md`` (``write_docs``).
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from hpbench.problems.surrogate.model import KINDS, Table, fit_forests

DATA = Path(__file__).resolve().parent / "data"
VALIDATION = DATA / "validation.csv"
RANKING = DATA / "ranking.csv"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "surrogates.md"
FOLDS = 5
SHOWN_LEVELS = 8
SPEARMAN_TARGET = 0.9
TAU_TARGET = 0.7
VALIDATION_COLUMNS = ("problem", "kind", "chosen", "level", "full", "spearman", "n_configs")
RANKING_COLUMNS = ("problem", "model", "optimizers", "repeats", "budget", "kendall_tau",
                   "live_self_tau", "surrogate_self_tau", "live_order", "surrogate_order",
                   "live_cpu_s", "surrogate_cpu_s")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho of two vectors (NaN when either is constant or too short)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return math.nan
    return float(spearmanr(a, b).statistic)


def heldout_predictions(tab: Table, kind: str, folds: int = FOLDS, seed: int = 0
                        ) -> np.ndarray:
    """The predicted mean value of every row of ``tab``, each by a model that never saw
    its config (``folds``-fold over config ids, seeded)."""
    ids = np.unique(tab.config_id)
    rng = np.random.default_rng(seed)
    fold_of = dict(zip(rng.permutation(ids).tolist(), np.arange(len(ids)) % folds))
    fold = np.array([fold_of[int(i)] for i in tab.config_id])
    pred = np.full(len(tab.config_id), math.nan)
    for k in range(folds):
        test = np.flatnonzero(fold == k)
        if len(test) == 0:
            continue
        forests = fit_forests(tab, kind, rows=np.flatnonzero(fold != k), seed=seed)
        if kind == "joint":
            X = np.column_stack([tab.X[test], np.log(tab.level[test])])
            pred[test] = forests["joint"].predict(X)[:, 0]
            continue
        for f in tab.levels:
            rows = test[tab.level[test] == f]
            if len(rows):
                pred[rows] = forests[repr(float(f))].predict(tab.X[rows])[:, 0]
    return pred


def heldout_spearman(tab: Table, kind: str, folds: int = FOLDS, seed: int = 0
                     ) -> list[dict[str, Any]]:
    """One row per recorded level: level, Spearman of held-out predictions, configs."""
    pred = heldout_predictions(tab, kind, folds, seed)
    truth = tab.y["value"]
    out = []
    for f in tab.levels:
        sel = tab.level == f
        out.append({"level": float(f), "spearman": spearman(pred[sel], truth[sel]),
                    "n_configs": int(sel.sum())})
    return out


def compare(tab: Table, problem: str, kinds: tuple[str, ...] = KINDS, seed: int = 0
            ) -> tuple[str, list[dict[str, Any]]]:
    """(the chosen kind, validation rows of every kind) for ``problem``'s table."""
    rows, score = [], {}
    full = float(tab.levels.max())
    for kind in kinds:
        per_level = heldout_spearman(tab, kind, seed=seed)
        at_full = next(r["spearman"] for r in per_level if r["level"] == full)
        mean = float(np.nanmean([r["spearman"] for r in per_level]))
        score[kind] = (-math.inf if math.isnan(at_full) else at_full, mean)
        rows += [{"problem": problem, "kind": kind, "level": r["level"],
                  "full": r["level"] == full, "spearman": r["spearman"],
                  "n_configs": r["n_configs"]} for r in per_level]
    chosen = max(kinds, key=lambda k: score[k])
    for r in rows:
        r["chosen"] = r["kind"] == chosen
    return chosen, rows


# -- the shipped tables ----------------------------------------------------------------------

def read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def replace_rows(path: Path, columns: tuple[str, ...], problem: str,
                 rows: list[dict[str, Any]]) -> None:
    """Rewrite ``path`` with ``problem``'s rows replaced by ``rows`` (others kept)."""
    import io

    from hpbench.store import atomic_write

    kept = [r for r in read_csv(path) if r["problem"] != problem]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    w.writeheader()
    for r in sorted(kept + [{k: _fmt(r.get(k)) for k in columns} for r in rows],
                    key=lambda r: (r["problem"], r.get("kind", ""), float(r.get("level") or 0))):
        w.writerow(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue().encode())


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.6g}"
    return "" if v is None else str(v)


def soundness(problem: str) -> tuple[bool, str]:
    """(sound, note) of ``problem``'s surrogate from the shipped tables: sound when the
    held-out Spearman at full fidelity reaches ``SPEARMAN_TARGET`` and Kendall's tau of the
    optimizer ranking reaches ``TAU_TARGET``; a target not measured is not met."""
    full = [r for r in read_csv(VALIDATION) if r["problem"] == problem
            and r["chosen"] == "True" and r["full"] == "True"]
    rank = [r for r in read_csv(RANKING) if r["problem"] == problem]
    model = DATA / problem / "model.json"
    digest = json.loads(model.read_text()).get("digest") if model.exists() else None
    stale = [r for r in rank if not digest or r.get("model") != digest]
    rank = [r for r in rank if digest and r.get("model") == digest]  # on this very fit
    notes, sound = [], True
    if not full:
        sound = False
        notes.append("held-out Spearman not measured")
    else:
        rho = float(full[0]["spearman"])
        ok = rho >= SPEARMAN_TARGET
        sound &= ok
        notes.append(f"held-out Spearman at full fidelity {rho:.3f} "
                     f"({'≥' if ok else '<'} {SPEARMAN_TARGET})")
    if not rank:
        sound = False
        notes.append("optimizer ranking (Kendall's tau) not measured" +
                     (" on this fit (only on an earlier one)" if stale else " yet"))
    else:
        tau = float(rank[0]["kendall_tau"])
        ok = tau >= TAU_TARGET
        sound &= ok
        notes.append(f"ranking Kendall tau {tau:.2f} ({'≥' if ok else '<'} {TAU_TARGET})")
    verdict = "surrogate sound" if sound else "surrogate unsound (see docs/surrogates.md)"
    return sound, f"{verdict}: " + "; ".join(notes)


def markdown() -> str:
    """Tables 1 and 2 of ``docs/surrogates.md`` from the shipped CSVs."""
    val = read_csv(VALIDATION)
    lines = ["### Table 1: held-out Spearman per fidelity level", "",
             f"{FOLDS}-fold over configs: each config's mean value over the recorded seeds "
             "against the prediction of a model that never saw it. `joint` = one model with "
             "log fidelity as an input, `per-level` = one per recorded level, `gp` = one "
             "Gaussian process per level; the chosen kind (higher Spearman at full "
             f"fidelity) is in bold. Target at full fidelity: ≥ {SPEARMAN_TARGET}. (At most "
             f"{SHOWN_LEVELS} levels are shown, evenly spaced; data/validation.csv has them "
             "all.)", "",
             "| problem | kind | configs | Spearman per level (level: rho) | at full |",
             "|---|---|---|---|---|"]
    for problem in sorted({r["problem"] for r in val}):
        for kind in KINDS:
            rows = [r for r in val if r["problem"] == problem and r["kind"] == kind]
            if not rows:
                continue
            rows.sort(key=lambda r: float(r["level"]))
            shown = rows if len(rows) <= SHOWN_LEVELS else [
                rows[i] for i in np.unique(np.linspace(0, len(rows) - 1, SHOWN_LEVELS)
                                           .round().astype(int))]
            per = ", ".join(f"{float(r['level']):.3g}: {float(r['spearman']):.2f}"
                            for r in shown)
            full = next(float(r["spearman"]) for r in rows if r["full"] == "True")
            name = f"**{kind}**" if rows[0]["chosen"] == "True" else kind
            lines.append(f"| {problem} | {name} | {rows[0]['n_configs']} | {per} | "
                         f"{full:.3f} |")
    rank = read_csv(RANKING)
    lines += ["", "### Table 2: optimizer ranking, live against surrogate", "",
              "Kendall's tau between the orders of the optimizers by mean rank (ranked by final "
              "regret on each instance) on the live problem and on its surrogate "
              "(benchmarks/test_surrogate_ranking.py). "
              f"Target: ≥ {TAU_TARGET} (the YAHPO Gym criterion). *Self*: the median tau "
              "between the orders of two disjoint halves of the repeats (1,000 random "
              "halvings; a lower bound of how reproducible the order of all repeats is). "
              "Where optimizers nearly tie, the live order is itself not reproducible, and a "
              "surrogate cannot agree with it better than it agrees with itself (the target "
              "is not moved for that).", "",
              "| problem | optimizers | repeats | budget | Kendall tau | self: live / "
              "surrogate | live order | surrogate order | CPU s live / surrogate |",
              "|---|---|---|---|---|---|---|---|---|"]

    def self_tau(r: dict) -> str:
        a, b = r.get("live_self_tau") or "", r.get("surrogate_self_tau") or ""
        return f"{float(a):.2f} / {float(b):.2f}" if a and b else "–"

    for r in sorted(rank, key=lambda r: r["problem"]):
        lines.append(f"| {r['problem']} | {r['optimizers']} | {r['repeats']} | {r['budget']} | "
                     f"{float(r['kendall_tau']):.2f} | {self_tau(r)} | {r['live_order']} | "
                     f"{r['surrogate_order']} | {float(r['live_cpu_s']):.0f} / "
                     f"{float(r['surrogate_cpu_s']):.1f} |")
    if not rank:
        lines.append("| (not measured yet) | | | | | | | | |")
    return "\n".join(lines)


START, END = "<!-- surrogate-fidelity:start -->", "<!-- surrogate-fidelity:end -->"


def write_docs(path: Path = DOCS) -> Path:
    """Put ``markdown()`` between the markers of ``docs/surrogates.md`` (appended with the
    markers when absent); the rest of the page is left as it is."""
    from hpbench.store import atomic_write

    text = path.read_text() if path.exists() else "# Surrogate problems\n"
    block = f"{START}\n{markdown()}\n{END}"
    if START in text and END in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write(path, text.encode())
    return path
