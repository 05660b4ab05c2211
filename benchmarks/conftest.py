"""Benchmarks for `make perf`: timings as ratios against baselines measured in the same run,
and quality tables. Each writes its table to results/perf/<area>.md."""

from __future__ import annotations

from pathlib import Path

PERF_DIR = Path(__file__).resolve().parent.parent / "results" / "perf"


def write_table(area: str, text: str) -> Path:
    PERF_DIR.mkdir(parents=True, exist_ok=True)
    path = PERF_DIR / f"{area}.md"
    path.write_text(text)
    print(f"\n{text}\n(written to {path})")
    return path
