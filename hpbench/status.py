"""``hpbench status DIR``: which cells of a run are done, running, missing, failed or not
applicable, with reasons.

"running" comes from the lock that ``execute_cell`` keeps while a cell runs
(``ResultsDir.lock_info``); a lock whose process is gone (a killed run) makes the cell
"missing" with the reason "interrupted", and a trial journal it left says how many trials a
re-run will replay.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hpbench.store import ResultsDir
from hpbench.suite import SuiteError, stored_suite

#: problems named on a not-applicable summary line before it just counts them
NA_NAMES = 6


def cell_states(out: Path) -> list[dict]:
    """One row per cell: key, state and reason. Expected cells come from ``out/suite.toml``."""
    results = ResultsDir(out)
    rows: dict[str, dict] = {}
    expected: list[str] = []
    try:
        suite = stored_suite(results)
        expected = [c.key for c in suite.cells()] if suite is not None else []
    except SuiteError as exc:
        rows["(suite.toml)"] = {"key": "(suite.toml)", "state": "unreadable",
                                "reason": str(exc)}
    for path, meta, error in results.metas():
        key = results.key_of(path)
        if meta is None:
            rows[key] = {"key": key, "state": "corrupt", "reason": error}
        else:
            rows[key] = {"key": key, "state": meta.get("status", "?"),
                         "reason": meta.get("reason", "") if meta.get("status") != "done"
                         else "", "trials": meta.get("n_trials", 0),
                         "warnings": _warnings(meta)}
    for key in expected:
        if key not in rows:
            rows[key] = _unfinished(results, key)
    return sorted(rows.values(), key=lambda r: r["key"])


def _warnings(meta: dict) -> Counter:
    """The warnings a cell recorded while it ran, counted by category (none in cells written
    before cells recorded them)."""
    counts: Counter = Counter()
    for w in meta.get("warnings") or ():
        if isinstance(w, dict):
            counts[w.get("category") or "other"] += int(w.get("count", 1) or 1)
    return counts


def _journal_trials(path: Path) -> int:
    try:
        with open(path, "rb") as fh:
            return max(0, sum(1 for line in fh if line.endswith(b"\n")) - 1)
    except OSError:
        return 0


def _unfinished(results: ResultsDir, key: str) -> dict:
    trials = _journal_trials(results.journal_path(key))
    journal = f"journal holds {trials} trials to replay" if trials else ""
    info = results.lock_info(key)
    if info is not None:
        where = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
        if not info["stale"]:
            return {"key": key, "state": "running", "reason": where}
        reason = f"interrupted ({where} is gone); re-run to resume"
        return {"key": key, "state": "missing",
                "reason": f"{reason}; {journal}" if journal else reason}
    return {"key": key, "state": "missing", "reason": journal}


def status_report(out: Path) -> tuple[str, list[dict]]:
    rows = cell_states(out)
    counts = Counter(r["state"] for r in rows)
    order = ["done", "running", "missing", "failed", "not-applicable", "corrupt", "unreadable"]
    head = ", ".join(f"{counts[s]} {s}" for s in order if counts[s]) or "no cells"
    lines = [f"{out}: {len(rows)} cells: {head}"]
    # not-applicable cells need nothing done (make bench has 201: multi-fidelity optimizers
    # on problems without a fidelity): one line per optimizer and reason, after the cells
    # that do need something
    na: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r["state"] == "done":
            continue
        parts = r["key"].split("/")
        if r["state"] == "not-applicable" and len(parts) == 3:
            problem, optimizer = parts[0], parts[1]
            why = r["reason"].replace(f"problem {problem} ", "", 1)
            na.setdefault((optimizer, why), []).append(problem)
            continue
        reason = f": {r['reason']}" if r["reason"] else ""
        lines.append(f"  {r['state']:<15} {r['key']}{reason}")
    lines.extend(_warnings_lines(rows))
    for (optimizer, why), problems in sorted(na.items()):
        names = sorted(set(problems))
        shown = ", ".join(names[:NA_NAMES]) + \
            (f", … {len(names)} problems in all" if len(names) > NA_NAMES else "")
        lines.append(f"  {'not-applicable':<15} {optimizer}, {len(problems)} cells: {why} "
                     f"({shown})")
    return "\n".join(lines), rows


def _warnings_lines(rows: list[dict]) -> list[str]:
    """One line: how many cells recorded warnings while they ran, and the commonest."""
    total: Counter = Counter()
    cells = 0
    for r in rows:
        if r.get("warnings"):
            cells += 1
            total.update(r["warnings"])
    if not cells:
        return []
    common = ", ".join(f"{c} x{n:,}" for c, n in total.most_common(3))
    more = f", … {len(total)} categories" if len(total) > 3 else ""
    return [f"  {'warnings':<15} {cells} cells recorded {sum(total.values()):,} warnings "
            f"({common}{more}); each cell file's metadata lists them (read_meta(path)"
            "['warnings'])"]
