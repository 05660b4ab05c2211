"""A results folder's loaded and derived tables, kept between runs of ``hpbench figures``.

Loading a paper-size folder (15,000 cell files, 3 million trials) means decoding every
file; the derived columns then take seconds more. Drawing the figures again — another
``--band``, another ``--highlight``, a figure changed — needs neither again while no cell
changed. So ``load`` keeps what it built in ``<folder>/.cache/analysis-<key>.arrow``,
written through the store's one atomic writer, where ``key`` hashes:

* every cell file's path and checksum — verified here, by hashing every byte of every file
  (``hpbench.store.file_checksum``) exactly as the store's reader does: a changed, added,
  removed or corrupt cell is seen on every run, and a corrupt one sends the load down the
  uncached path, which names it;
* ``suite.toml`` and ``run.json`` (the optimizers' order, the suite's fingerprint);
* the arguments of ``load`` and the code that reads and derives the columns (the source of
  ``hpbench.analysis.load``, ``hpbench.store`` and ``hpbench.trials``, hpbench's version,
  pandas' and pyarrow's).

A key names exactly one content, so a cache file is never updated, only replaced: writing
one removes the folder's others. The file is Arrow IPC (never pickle: a results folder may
come from anyone), its own content hashed: a damaged cache file is ignored and rebuilt. A
folder that cannot be written simply gets no cache, nor does a small one (``MIN_CELLS``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import struct
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa

from hpbench.store import CorruptCell, ResultsDir, atomic_write, file_checksum

CACHE_DIR = ".cache"
PREFIX = "analysis-"
SUFFIX = ".arrow"
#: the layout of a cache file: MAGIC, then sections (8-byte length + bytes), then the
#: 32-byte blake2b of everything before it
MAGIC = b"HPBENCH-ANALYSIS-CACHE-1\n"
_LEN = struct.Struct("<Q")
#: folders with fewer cell files load in well under a second: a cache would only cost a
#: write (and disk space)
MIN_CELLS = 200
_DIGEST = 32


def cell_checksums(folder: ResultsDir, threads: int = 2, files: list[Path] | None = None
                   ) -> list[tuple[str, str]] | None:
    """(path relative to the folder, verified checksum) of every cell file (``files``:
    ``folder.cell_files()`` when known), or None when a file is corrupt (or has no checksum:
    nothing proves it unchanged)."""
    files = folder.cell_files() if files is None else files

    def one(path: Path) -> str | None:
        try:
            return file_checksum(path)
        except CorruptCell:
            return None

    if threads > 1 and len(files) > 64:  # reading and hashing release the GIL
        with ThreadPoolExecutor(max_workers=threads) as pool:
            sums = list(pool.map(one, files, chunksize=64))
    else:
        sums = [one(f) for f in files]
    if any(s is None for s in sums):
        return None
    return [(f.relative_to(folder.root).as_posix(), s) for f, s in zip(files, sums)]


def _code_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from hpbench import store, trials
    from hpbench.analysis import load as load_module

    try:
        hp = version("hpbench")
    except PackageNotFoundError:  # pragma: no cover - running from a checkout
        hp = "unknown"
    # the code that reads the cells and derives the columns: an edit invalidates the cache
    source = hashlib.blake2b(digest_size=16)
    for module in (load_module, store, trials):
        source.update(Path(module.__file__).read_bytes())
    return json.dumps([hp, pd.__version__, pa.__version__, source.hexdigest(),
                       MAGIC.decode()])


def cache_key(folder: ResultsDir, sums: list[tuple[str, str]], options: dict[str, Any]) -> str:
    """The key of a folder's cache file: its cells, suite and run files, ``load``'s
    arguments and the deriving code."""
    h = hashlib.blake2b(digest_size=16)
    for part in (_code_version(), json.dumps(options, sort_keys=True, default=str),
                 json.dumps(sums)):
        h.update(part.encode())
        h.update(b"\0")
    for extra in (folder.suite_file, folder.run_file):
        h.update(extra.read_bytes() if extra.is_file() else b"(none)")
        h.update(b"\0")
    return h.hexdigest()


def cache_path(folder: ResultsDir, key: str) -> Path:
    return folder.root / CACHE_DIR / f"{PREFIX}{key}{SUFFIX}"


def _frame_bytes(frame: pd.DataFrame) -> pa.Buffer:
    table = pa.Table.from_pandas(frame, preserve_index=True)
    sink = pa.BufferOutputStream()
    options = pa.ipc.IpcWriteOptions(compression="lz4")
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write_table(table)
    return sink.getvalue()


def encode(results: Any) -> Callable[[IO[bytes]], None]:
    """A writer of ``results`` (a dataclass: its frames as Arrow IPC, the rest as JSON) for
    ``atomic_write``; ``TypeError`` when a field is neither a frame nor JSON."""
    frames = {f.name: getattr(results, f.name) for f in dataclasses.fields(results)
              if isinstance(getattr(results, f.name), pd.DataFrame)}
    rest = {f.name: getattr(results, f.name) for f in dataclasses.fields(results)
            if f.name not in frames}
    header = json.dumps({"frames": list(frames), "rest": rest}, allow_nan=True).encode()
    if json.loads(header)["rest"] != rest:  # a tuple, a number as a key, a NaN, …
        raise TypeError("the results hold values that JSON does not give back as they are")
    sections = [header, *(_frame_bytes(frame) for frame in frames.values())]

    def write(fh: IO[bytes]) -> None:
        digest = hashlib.blake2b(digest_size=_DIGEST)
        for part in (MAGIC, *(b for s in sections for b in (_LEN.pack(len(s)), s))):
            fh.write(part)
            digest.update(part)
        fh.write(digest.digest())

    return write


def decode(data: bytes, cls: type) -> Any:
    """The ``cls`` instance ``encode`` wrote; ``ValueError`` when ``data`` is not one."""
    view = memoryview(data)
    if len(view) < len(MAGIC) + _DIGEST or bytes(view[:len(MAGIC)]) != MAGIC:
        raise ValueError("not an analysis cache file")
    body, digest = view[:-_DIGEST], view[-_DIGEST:]
    if hashlib.blake2b(body, digest_size=_DIGEST).digest() != digest:
        raise ValueError("the cache file does not match its digest")
    sections, at = [], len(MAGIC)
    while at < len(body):
        (n,) = _LEN.unpack_from(body, at)
        sections.append(body[at + _LEN.size:at + _LEN.size + n])
        at += _LEN.size + n
    head = json.loads(bytes(sections[0]))
    fields = dict(head["rest"])
    for name, part in zip(head["frames"], sections[1:]):
        fields[name] = pa.ipc.open_stream(pa.py_buffer(part)).read_all().to_pandas()
    return cls(**fields)


def load_cached(results_dir: Path | str, load: Callable[..., Any], cls: type,
                **options: Any) -> Any:
    """``load(results_dir, **options)``, from the folder's cache when its key matches, else
    loaded and kept (``cls``: the dataclass ``load`` returns).

    A folder without any cache file skips the hashing pass: the load itself verifies every
    file's checksum (the store's reader), and the key is made from the checksums it read. (On
    a paper-size folder the pass is 2-3 s; with a cache file to check, it is what proves the
    cells unchanged.)"""
    folder = ResultsDir(results_dir)
    files = folder.cell_files()
    if len(files) < MIN_CELLS:
        return load(results_dir, **options)
    # how many threads read the files changes nothing in what is read
    kept = {k: v for k, v in options.items() if k != "threads"}
    if any((folder.root / CACHE_DIR).glob(f"{PREFIX}*{SUFFIX}")):
        sums = cell_checksums(folder, int(options.get("threads") or 1), files)
        if not sums:  # a corrupt cell (the uncached load names it) or no cell at all
            return load(results_dir, **options)
        path = cache_path(folder, cache_key(folder, sums, kept))
        try:
            return decode(path.read_bytes(), cls)
        except (OSError, ValueError, KeyError, TypeError, pa.ArrowException):
            pass  # another key, or damaged: rebuilt below
        results = load(results_dir, **options)
        # the cells read must be the cells hashed: a run writing into the folder meanwhile
        # would leave a cache whose key does not say what it holds
        read = sorted(str(m.get("checksum")) for m in getattr(results, "metas", []))
        if read != sorted(s for _, s in sums):
            return results
    else:
        results = load(results_dir, **options)
        metas = getattr(results, "metas", [])
        # every file read, each with its verified checksum, and none added meanwhile
        if len(metas) != len(files) or len(folder.cell_files()) != len(files) or \
                any(not isinstance(m.get("checksum"), str) for m in metas):
            return results
        sums = [(f.relative_to(folder.root).as_posix(), m["checksum"])
                for f, m in zip(files, metas)]
        path = cache_path(folder, cache_key(folder, sums, kept))
    try:
        atomic_write(path, encode(results))
    except (OSError, TypeError, ValueError, pa.ArrowException):
        return results  # a read-only folder, or something the cache cannot hold
    for old in path.parent.glob(f"{PREFIX}*{SUFFIX}"):
        if old != path:
            old.unlink(missing_ok=True)
    return results
