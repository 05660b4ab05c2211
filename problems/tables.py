"""Reading the small CSV tables that ship with the problem families (the best-known table,
the spread tables): ``#`` comment lines, a header that must equal the table's columns, and a
parse cached per version of the file, so looking a row up on every problem build is free."""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def read_versioned(path: Path | str, columns: Sequence[str],
                   build: Callable[[list[list[str]]], Any]) -> Any:
    """``build(records)`` of the table at ``path`` (its data rows, header checked against
    ``columns``), computed once per version of the file; None if there is no file.

    Every write of a table is a new file (``hpbench.store.atomic_write`` renames), so inode,
    size and time identify a version even where the file system's clock is too coarse to
    tell two quick writes apart."""
    path = Path(path)
    if not path.exists():
        return None
    st = path.stat()
    return _read(str(path), tuple(columns), build, (st.st_ino, st.st_size, st.st_mtime_ns))


@functools.cache
def _read(path: str, columns: tuple[str, ...], build: Callable[[list[list[str]]], Any],
          _version: tuple) -> Any:
    with open(path, newline="") as fh:
        lines = [line for line in fh if not line.startswith("#") and line.strip()]
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return build([])
    if tuple(header) != columns:
        raise ValueError(f"{path}: columns must be {list(columns)}, got {header}")
    return build(list(reader))
