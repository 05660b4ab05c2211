"""The result store: one Parquet file per cell, written whole and atomically.

Layout: ``<out>/<problem>/<optimizer>/seed-<k>.parquet``. A file is written to a temporary
name in the same folder, flushed to disk, then renamed, so a killed run leaves either a
complete file or none. The cell's metadata (versions, git revision, host, budget, settings,
problem fingerprint, how the cell ended) is stored in the Parquet schema metadata under
``hpbench``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"hpbench"
FORMAT_VERSION = 1
CELL_GLOB = "*/*/seed-*.parquet"


class CorruptCell(ValueError):
    """A cell file that cannot be read or lacks its metadata."""


def cell_path(out: Path | str, problem: str, optimizer: str, repeat: int) -> Path:
    return Path(out) / problem / optimizer / f"seed-{repeat}.parquet"


def _column(values: list) -> pa.Array:
    kinds = set(map(type, values))  # map: several times cheaper than a comprehension here
    kinds.discard(type(None))
    if len(kinds) > 1 and not kinds <= {int, float}:
        # a categorical parameter with mixed choice types: keep it readable as text
        values = [None if v is None else json.dumps(v) for v in values]
    elif kinds == {int, float}:
        values = [None if v is None else float(v) for v in values]
    elif kinds == {float}:
        return pa.array(values, type=pa.float64())  # also when every value is NaN
    return pa.array(values)


def write_cell(path: Path | str, columns: dict[str, list], meta: dict[str, Any]) -> Path:
    """Write one cell atomically: temporary file, fsync, rename, fsync of the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: _column(v) for k, v in columns.items()}
    table = pa.table(arrays)
    blob = json.dumps({**meta, "format": FORMAT_VERSION}, default=str, sort_keys=True)
    table = table.replace_schema_metadata({META_KEY: blob.encode()})
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            # dictionary pages only for the text columns that repeat (status, error, info,
            # categorical values): on unique floats and configs parquet builds a dictionary,
            # gives up at its size limit and re-encodes; without it a 10,000-trial cell is
            # written in two thirds of the time and is 15% smaller
            pq.write_table(table, fh, compression="zstd", use_dictionary=[
                k for k, a in arrays.items() if k != "config" and pa.types.is_string(a.type)])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def read_meta(path: Path | str) -> dict[str, Any]:
    """The metadata of a cell file; ``CorruptCell`` when unreadable."""
    try:
        schema = pq.read_schema(path)
        meta = schema.metadata or {}
        return json.loads(meta[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise CorruptCell(f"{path}: {type(exc).__name__}: {exc}") from None


def read_cell(path: Path | str) -> tuple[pd.DataFrame, dict[str, Any]]:
    try:
        table = pq.read_table(path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CorruptCell(f"{path}: {type(exc).__name__}: {exc}") from None
    meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
    if not meta:
        raise CorruptCell(f"{path}: no hpbench metadata")
    return table.to_pandas(), meta


def check_cell(path: Path, fingerprint: str, budget: dict) -> str:
    """'' when the file is a valid finished cell of this problem instance and budget, else
    the reason it must be redone."""
    try:
        meta = read_meta(path)
        rows = pq.ParquetFile(path).metadata.num_rows
    except (CorruptCell, OSError, pa.ArrowException) as exc:
        return f"unreadable ({exc})"
    if rows != meta.get("n_trials"):
        return f"holds {rows} rows but its metadata says {meta.get('n_trials')}"
    if meta.get("fingerprint") != fingerprint:
        return (f"problem fingerprint differs (file {meta.get('fingerprint')}, "
                f"now {fingerprint})")
    if meta.get("budget") != budget:
        return f"budget differs (file {meta.get('budget')}, now {budget})"
    if meta.get("status") not in ("done", "failed", "not-applicable"):
        return f"unknown cell status {meta.get('status')!r}"
    return ""


def set_aside(path: Path, reason: str) -> Path:
    """Move a file that must be redone out of the way (never silently read it)."""
    k = 0
    while True:
        target = path.with_name(f"{path.name}.bad-{k}")
        if not target.exists():
            break
        k += 1
    os.replace(path, target)
    warnings.warn(f"hpbench: {path} set aside as {target.name} and redone: {reason}",
                  stacklevel=2)
    return target


def cell_files(out: Path | str) -> list[Path]:
    return sorted(Path(out).glob(CELL_GLOB))


def load_results(path: Path | str, *, with_meta: bool = False):
    """One tidy table (one row per trial) of every cell under ``path``.

    Cell keys (suite, problem, optimizer, seed), the budget and the optimum come from each
    file's metadata; not-applicable and failed cells contribute their rows (status column).
    Unreadable files raise ``CorruptCell``: a result set is never read half.
    """
    files = cell_files(path)
    tables = []
    metas = []
    for f in files:
        try:
            table = pq.read_table(f)
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise CorruptCell(f"{f}: {type(exc).__name__}: {exc}") from None
        meta = json.loads((table.schema.metadata or {}).get(META_KEY, b"{}"))
        if not meta:
            raise CorruptCell(f"{f}: no hpbench metadata")
        n = table.num_rows
        optimum = meta.get("optimum") or {}
        keys = {
            "suite": meta.get("suite", ""),
            "problem": meta["problem"],
            "optimizer": meta["optimizer"],
            "seed": int(meta["repeat"]),
            "optimum": optimum.get("value", float("nan")) if optimum else float("nan"),
            "optimum_kind": optimum.get("kind", "") if optimum else "",
            "cell_status": meta.get("status", ""),
        }
        for k, v in keys.items():
            table = table.append_column(k, pa.array([v] * n, type=_arrow_type(v)))
        tables.append(table.replace_schema_metadata(None))
        metas.append(meta)
    if not tables:
        frame = pd.DataFrame(columns=["suite", "problem", "optimizer", "seed", "trial"])
    else:
        frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    return (frame, metas) if with_meta else frame


def _arrow_type(v: Any) -> pa.DataType:
    if isinstance(v, bool):
        return pa.bool_()
    if isinstance(v, int):
        return pa.int64()
    if isinstance(v, float):
        return pa.float64()
    return pa.string()


def load_metas(path: Path | str) -> list[tuple[Path, dict[str, Any] | None, str]]:
    """(file, metadata or None, error) for every cell file under ``path``."""
    out: list[tuple[Path, dict[str, Any] | None, str]] = []
    for f in cell_files(path):
        try:
            out.append((f, read_meta(f), ""))
        except CorruptCell as exc:
            out.append((f, None, str(exc)))
    return out


def iter_metas(path: Path | str) -> Iterable[dict[str, Any]]:
    for _, meta, _ in load_metas(path):
        if meta is not None:
            yield meta
