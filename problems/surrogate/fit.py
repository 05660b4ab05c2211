"""Fit the surrogate of a recorded problem: ``python -m hpbench.problems.surrogate.fit PROBLEM``.

For each named problem with a recording in ``data/<problem>/`` (every recorded problem when
none is named): reduce the recording to one row per (config, level) (``model.table``),
measure both model kinds by held-out Spearman (``validate.compare``), fit the better kind on
every config, and write ``data/<problem>/model.npz`` + ``model.json`` and the problem's rows
of ``data/validation.csv``; then refresh the tables of ``docs/surrogates.md``. ``--kind``
forces a kind (the comparison still runs and is recorded). The live problem is built once,
with the recording's settings, for its space, fidelity, tags and capabilities.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hpbench.problems.surrogate import validate
from hpbench.problems.surrogate.model import KINDS, SurrogateModel, fit, table

DATA = validate.DATA


def recorded(data: Path = DATA) -> list[str]:
    """The problems with a recording in ``data``."""
    return sorted(p.name for p in Path(data).iterdir()
                  if (p / "recording.parquet").exists()) if Path(data).is_dir() else []


def fit_problem(problem: str, data: Path = DATA, kind: str | None = None,
                validation: Path | None = validate.VALIDATION, seed: int = 0
                ) -> tuple[SurrogateModel, list[dict]]:
    """Validate, fit and save the surrogate of ``problem`` (see the module doc); returns the
    model and its validation rows. ``validation=None`` writes no CSV."""
    from hpbench import registry
    from hpbench.problems.surrogate.record import read_recording

    folder = Path(data) / problem
    if not (folder / "recording.parquet").exists():
        raise FileNotFoundError(f"no recording of {problem!r} in {folder} (make one with "
                                f"`hpbench tabulate {problem}`)")
    frame, meta = read_recording(folder)
    entry = registry.get_entry("problem", problem)
    live = registry.make_problem(problem, seed=0, **dict(meta.get("settings") or {}))
    chosen, rows = validate.compare(table(frame, live.space), problem, seed=seed)
    if kind is not None:
        if kind not in KINDS:
            raise ValueError(f"--kind must be one of {list(KINDS)}, got {kind!r}")
        chosen = kind
        for r in rows:
            r["chosen"] = r["kind"] == kind
    fidelity = live.fidelity
    if fidelity is None:  # recorded at the single level 1.0
        from hpbench.problem import Fidelity

        fidelity = Fidelity(0.5, 1.0)
    model = fit(frame, meta, space=live.space, fidelity=fidelity,
                tags=list(entry.tags), capabilities=sorted(live.capabilities),
                kind=chosen, seed=seed,
                extra={"live_has_fidelity": live.fidelity is not None,
                       "description": entry.description,
                       "settings": dict(meta.get("settings") or {})})
    model.save(folder)
    if validation is not None:
        validate.replace_rows(validation, validate.VALIDATION_COLUMNS, problem, rows)
    return model, rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hpbench.problems.surrogate.fit",
                                description=__doc__.splitlines()[0])
    p.add_argument("problems", nargs="*", help="recorded problems (default: all)")
    p.add_argument("--kind", choices=KINDS, help="force a model kind")
    p.add_argument("--data", type=Path, default=DATA)
    args = p.parse_args(argv)
    names = args.problems or recorded(args.data)
    if not names:
        print(f"no recordings in {args.data}", file=sys.stderr)
        return 2
    missing = 0
    for name in names:
        t0 = time.process_time()
        try:
            model, rows = fit_problem(name, args.data, args.kind,
                                      validation=args.data / "validation.csv")
        except FileNotFoundError as exc:  # one missing recording must not stop the others
            print(exc, file=sys.stderr)
            missing += 1
            continue
        full = [r for r in rows if r["full"]]
        print(f"{name}: {model.kind} (" + ", ".join(
            f"{r['kind']} {r['spearman']:.3f}" for r in full) +
            f" held-out Spearman at full fidelity), {time.process_time() - t0:.0f} CPU s")
    if args.data == DATA:
        validate.write_docs()
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
