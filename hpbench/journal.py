"""The trial journal: an append-only log of a running cell, so a resumed cell replays its
finished trials instead of recomputing them.

``<out>/.journal/<problem>__<optimizer>__repeat-<k>.jsonl`` (``ResultsDir.journal_path``): a
header line (the cell's identity: fingerprint, budget, seeds, settings), then one JSON line per
finished trial,
flushed and ``fsync``'d before the runner goes on, so a SIGKILL or power loss loses at most
the trial being evaluated. A torn last line (killed mid-write) is dropped on reading. The
journal is deleted once the cell's Parquet file is written.

Replay: the resumed cell rebuilds the optimizer with the same seed and runs the ordinary
loop; for each trial the journal holds, the runner checks that the re-asked suggestion
(config, fidelity, resume_from, want_grad) equals the journaled one and, if so, hands the
optimizer the recorded result instead of evaluating. An optimizer qualifies when it is
deterministic given its seed and the values it is told (no wall clock, no global random
state, no outside process whose state is not rebuilt). At the first mismatch the journal is
cut there and the cell evaluates from that trial on: values stay correct, only the saving is
lost. See docs/execution.md for which optimizers qualify.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hpbench.problem import Evaluation
from hpbench.store import ResultsWriteError, atomic_write

FORMAT = 1


def _jsonable(x: Any) -> Any:
    try:
        return float(x)  # numpy scalars
    except (TypeError, ValueError):
        return str(x)


def _normal(obj: Any) -> Any:
    return json.loads(json.dumps(obj, sort_keys=True, default=_jsonable))


class Journal:
    """One cell's journal. ``replay`` holds the records of an earlier, interrupted run."""

    def __init__(self, path: Path | str, header: dict[str, Any], *, out: Path | str = "") -> None:
        self.path = Path(path)
        self.out = out or self.path.parent.parent
        self.header = {"hpbench_journal": FORMAT, **_normal(header)}
        self.replay: list[dict[str, Any]] = []
        self.replayed = 0
        self.mismatch_at: int | None = None
        self.discarded = ""
        self._fh = None

    @classmethod
    def open(cls, path: Path | str, header: dict[str, Any], *,
             out: Path | str = "") -> Journal:
        """Open ``path`` for appending, reading the trials an earlier run left there."""
        journal = cls(path, header, out=out)
        try:
            journal._open()
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, journal.path, journal.out) from exc
        return journal

    def _open(self) -> None:
        records: list[dict[str, Any]] = []
        clean = False
        if self.path.exists():
            with open(self.path, "rb") as fh:
                lines = fh.read().split(b"\n")
            try:
                head = json.loads(lines[0])
            except ValueError:
                head = None
            if head != self.header:
                self.discarded = "its header does not match this cell" if head else \
                    "its header is unreadable"
            else:
                clean = lines[-1] == b""
                for line in lines[1:]:
                    if not line:
                        continue
                    try:
                        rec = json.loads(line)
                    except ValueError:  # torn write: the run was killed writing it
                        clean = False
                        break
                    if rec.get("trial") != len(records):
                        clean = False
                        break
                    records.append(rec)
                clean = clean and len(records) == sum(1 for x in lines[1:] if x)
        self.replay = records
        if not clean:
            self._rewrite(records)
        self._fh = open(self.path, "ab")  # noqa: SIM115 - kept open for the cell's life

    def _rewrite(self, records: list[dict[str, Any]]) -> None:
        atomic_write(self.path, b"".join(self._line(r) for r in [self.header, *records]))

    @staticmethod
    def _line(obj: dict[str, Any]) -> bytes:
        return (json.dumps(obj, default=_jsonable) + "\n").encode()

    def append(self, record: dict[str, Any]) -> None:
        """Add one finished trial; on disk (fsync'd) when this returns."""
        try:
            self._fh.write(self._line(record))
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, self.path, self.out) from exc

    def cut(self, n: int) -> None:
        """Keep the first ``n`` trials only (replay diverged at trial ``n``)."""
        self.mismatch_at = n
        self.replay = self.replay[:n]
        try:
            self._fh.close()
            self._rewrite(self.replay)
            self._fh = open(self.path, "ab")  # noqa: SIM115
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, self.path, self.out) from exc

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def summary(self) -> dict[str, Any]:
        return {"replayed": self.replayed, "mismatch_at": self.mismatch_at,
                "discarded": self.discarded}

    # -- records -------------------------------------------------------------------------

    @staticmethod
    def record(trial: int, config_json: str, fidelity: float | None, resume_from: int | None,
               want_grad: bool, status: str, error: str, rec: Evaluation | None, eval_s: float,
               t_start: float, t_end: float) -> dict[str, Any]:
        return {
            "trial": trial, "config": config_json, "fidelity": fidelity,
            "resume_from": resume_from, "want_grad": want_grad, "status": status,
            "error": error, "eval_s": eval_s, "t_start": t_start, "t_end": t_end,
            "rec": None if rec is None else {
                "value": rec.value, "true_value": rec.true_value, "test_value": rec.test_value,
                "cost": rec.cost, "cost_fe": rec.cost_fe,
                "grad": None if rec.grad is None else dict(rec.grad),
                "info": json.dumps(rec.info, default=str) if rec.info else "",
                "seconds": rec.seconds},
        }

    @staticmethod
    def evaluation(record: dict[str, Any]) -> Evaluation | None:
        r = record["rec"]
        if r is None:
            return None
        return Evaluation(value=r["value"], true_value=r["true_value"],
                          test_value=r["test_value"], cost=r["cost"], cost_fe=r["cost_fe"],
                          grad=r["grad"], info=json.loads(r["info"]) if r["info"] else {},
                          seconds=r.get("seconds"))
