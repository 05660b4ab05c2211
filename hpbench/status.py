"""``hpbench status DIR``: which cells of a run are done, failed, not applicable or missing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hpbench import store
from hpbench.suite import SuiteError, load_suite


def cell_states(out: Path) -> list[dict]:
    """One row per cell: key, state and reason. Expected cells come from ``out/suite.toml``."""
    rows: dict[str, dict] = {}
    expected: list[str] = []
    suite_file = out / "suite.toml"
    if suite_file.is_file():
        try:
            expected = [c.key for c in load_suite(str(suite_file)).cells()]
        except SuiteError as exc:
            rows["(suite.toml)"] = {"key": "(suite.toml)", "state": "unreadable",
                                    "reason": str(exc)}
    for path, meta, error in store.load_metas(out):
        key = str(path.relative_to(out).with_suffix(""))
        if meta is None:
            rows[key] = {"key": key, "state": "corrupt", "reason": error}
        else:
            rows[key] = {"key": key, "state": meta.get("status", "?"),
                         "reason": meta.get("reason", "") if meta.get("status") != "done"
                         else "", "trials": meta.get("n_trials", 0)}
    for key in expected:
        if key not in rows:
            running = (out / ".running" / (key.replace("/", "__") + ".lock")).exists()
            rows[key] = {"key": key, "state": "running" if running else "missing",
                         "reason": ""}
    return sorted(rows.values(), key=lambda r: r["key"])


def status_report(out: Path) -> tuple[str, list[dict]]:
    rows = cell_states(out)
    counts = Counter(r["state"] for r in rows)
    order = ["done", "running", "missing", "failed", "not-applicable", "corrupt", "unreadable"]
    head = ", ".join(f"{counts[s]} {s}" for s in order if counts[s]) or "no cells"
    lines = [f"{out}: {len(rows)} cells: {head}"]
    for r in rows:
        if r["state"] != "done":
            reason = f": {r['reason']}" if r["reason"] else ""
            lines.append(f"  {r['state']:<15} {r['key']}{reason}")
    return "\n".join(lines), rows
