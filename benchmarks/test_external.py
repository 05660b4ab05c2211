"""The external-optimizer protocol's overhead (hpbench/external.py): the worked example
(examples/external_random.py, random search in another process) against in-process
``random`` on branin, 2000 trials each, same run.

Per trial, the difference in CPU seconds of the engine and its children together (the
worker's CPU is counted when it is reaped at the end of the cell, ``RUSAGE_CHILDREN``), and
of wall seconds for reference. Target (issue 31): at most 1 ms per ask/tell round trip.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

from benchmarks.conftest import write_table
from hpbench import registry
from hpbench.budget import Budget
from hpbench.cell import Cell, Seeds
from hpbench.external import load_peers

N = int(os.environ.get("HPBENCH_PERF_EXTERNAL_TRIALS", "2000"))
ROUNDS = 3
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "external_random.toml"
TARGET_MS = 1.0


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _cell(optimizer: str) -> tuple[float, float, float]:
    """(CPU seconds of engine + worker, wall seconds, seconds inside ask and tell)."""
    cell = Cell(problem="branin", optimizer=optimizer, budget=Budget(N), seeds=Seeds(0, 1))
    cpu0, kids0, wall0 = time.process_time(), _children_cpu(), time.perf_counter()
    result = cell.run()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0 + _children_cpu() - kids0
    assert result.status == "done" and len(result.columns["value"]) == N, result.reason
    calls = sum(result.columns["ask_s"]) + sum(result.columns["tell_s"])
    return cpu, wall, calls


def test_protocol_round_trip_overhead():
    (peer,) = load_peers(EXAMPLE)
    try:
        _cell("random"), _cell(peer.name)  # imports and caches warm
        best = {}
        for name in ("random", peer.name):
            runs = [_cell(name) for _ in range(ROUNDS)]
            best[name] = [min(r[i] for r in runs) for i in range(3)]
    finally:
        registry.unregister("optimizer", peer.name)
    (cpu_in, wall_in, calls_in), (cpu_ex, wall_ex, calls_ex) = best["random"], best[peer.name]
    per_cpu = (cpu_ex - cpu_in) / N * 1e3
    per_wall = (wall_ex - wall_in) / N * 1e3
    per_call = (calls_ex - calls_in) / N * 1e3
    text = "\n".join([
        f"# External-optimizer protocol overhead (branin, {N} trials, best of {ROUNDS})",
        "",
        "| optimizer | CPU s (engine + worker) | wall s | ask+tell s |",
        "|---|---|---|---|",
        f"| random (in process) | {cpu_in:.3f} | {wall_in:.3f} | {calls_in:.3f} |",
        f"| {peer.name} (protocol) | {cpu_ex:.3f} | {wall_ex:.3f} | {calls_ex:.3f} |",
        "",
        f"Per trial (one ask + one tell round trip), worker start-up included: "
        f"{per_cpu:.3f} ms CPU, {per_wall:.3f} ms wall, {per_call:.3f} ms inside ask/tell "
        f"(target: at most {TARGET_MS:g} ms).",
    ])
    write_table("external", text)
    assert per_cpu <= TARGET_MS, text
