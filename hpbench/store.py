"""The results folder: ``ResultsDir`` owns every path under it, its one atomic writer and its
one cell reader.

Layout of a folder ``<out>`` (nothing else is written there)::

    suite.toml                                  the suite as run
    run.json                                    how the last run went (backend, counts, …)
    <problem>/<optimizer>/repeat-<k>.parquet    one cell: its trials and metadata
    figures/                                    what ``hpbench figures`` draws
    .running/<problem>__<optimizer>__repeat-<k>.lock    a cell being run (pid, host)
    .journal/<problem>__<optimizer>__repeat-<k>.jsonl   a running cell's trial journal
    .scratch/<problem>/<optimizer>/repeat-<k>/          its checkpoints while it runs
    .cache/analysis-<key>.arrow                 ``hpbench figures``' loaded tables, kept
                                                while no cell changes (hpbench.analysis.cache)

Every file is written by ``atomic_write``: to a temporary name in the same folder, flushed
to disk, then renamed, so a killed run leaves either a complete file or none. A cell's
metadata (versions, git revision, host, budget, settings, problem fingerprint, how the cell
ended) is stored in the Parquet key-value metadata under ``hpbench``; its trial columns are
``hpbench.trials.TRIAL_COLUMNS`` plus one ``param.<name>`` column per parameter. The
metadata's ``checksum`` is a hash of every byte of the file (itself read as zeros), checked
whenever a cell is read: a flipped byte anywhere, in a data page, a statistic or the metadata,
makes the cell ``CorruptCell``, never a wrong value or a stale copy read silently.

pandas and pyarrow are imported where a cell is read or written, so the table of the
best-known values and the evaluation children can use this module without them.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import json
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from hpbench._procutil import pid_alive
from hpbench.memory import arrow_system_allocator
from hpbench.trials import TRIAL_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

META_KEY = b"hpbench"
FORMAT_VERSION = 2  # 2: cells are repeat-<k>.parquet (1 wrote seed-<k>.parquet)
CELL_PATTERNS = ("*/*/repeat-*.parquet", "*/*/seed-*.parquet")  # the second: format 1
#: seconds between touches of a running cell's lock file
HEARTBEAT_S = 30.0
#: seconds a folder's fsync may be deferred after a cell file's rename (``deferred_dir_sync``)
DIR_SYNC_MAX_AGE = 1.0
#: a cell file's ``checksum`` while the file is written (and while it is verified)
_UNSUMMED = "0" * 32


class CorruptCell(ValueError):
    """A cell file that cannot be read or lacks its metadata."""


class OutputError(ValueError):
    """The output folder cannot be written: bad input, reported before anything runs."""


class ResultsWriteError(OSError):
    """The results folder cannot be written (disk full, read-only, permissions): the run stops
    with this message; cells finished so far are complete files, nothing partial is left."""

    @classmethod
    def wrap(cls, exc: OSError, path: Path | str, out: Path | str) -> ResultsWriteError:
        code = errno.errorcode.get(exc.errno or 0, "")
        why = exc.strerror or str(exc) or type(exc).__name__
        err = cls(exc.errno, f"cannot write results in {out}: {why}"
                             f"{f' [{code}]' if code else ''} while writing {Path(path).name}; "
                             "finished cells are kept and no partial file is left: free space "
                             "or fix permissions, then re-run to resume")
        err.filename = str(path)
        return err

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(path: Path, *, claimed: bool = False) -> None:
    """Temporary files a killed writer left next to ``path`` (``.<name>.tmp-<pid>``): those of
    dead processes — or, when the caller holds the file's claim (``claimed``: no one else may
    be writing it), every one but its own, since a killed writer's pid may have been reused
    by a live process."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        pid = tmp.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or claimed or not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)


class _DirSyncs(threading.local):
    """The folders whose fsync this thread deferred (``deferred_dir_sync``), and since when."""

    def __init__(self) -> None:
        self.active = 0
        self.folders: set[Path] = set()
        self.since = 0.0


_dir_syncs = _DirSyncs()


def flush_dir_syncs() -> None:
    """fsync every folder whose fsync this thread deferred (``deferred_dir_sync``)."""
    folders, _dir_syncs.folders = _dir_syncs.folders, set()
    for folder in sorted(folders):
        try:
            fsync_dir(folder)
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, folder, folder.parent) from exc


@contextlib.contextmanager
def deferred_dir_sync():
    """Within the block, cell files written by this thread (``atomic_write(…, defer_dir=
    True)``) fsync their folder once — at the end of the block, or at the next write once the
    oldest deferred rename is ``DIR_SYNC_MAX_AGE`` seconds old — instead of once per file.
    Backends defer only across cells known to be cheap, and call ``flush_dir_syncs`` before
    any other cell, so the renames of finished cells never wait on a long one.

    Why this is safe. The file itself is still fsync'd before its rename, so a rename that
    reached the disk always names complete, checksummed bytes. What the folder's fsync adds
    is only that the rename itself survives an OS crash or power loss (a SIGKILL loses
    nothing either way: the rename is in the kernel's cache, which a killed process does not
    take with it). A rename lost that way leaves the cell without its file (or with the older
    file it replaced: set aside by identity, or a failure record that is redone): a re-run
    simply runs the cell again, as it runs an interrupted one; nothing wrong is ever read.
    So deferring costs at most about a second of cheap cells' work after a power loss.
    Nothing may be deleted on the strength of a deferred rename: the one such deletion, a
    cell's trial journal, flushes first (``execute_cell``), and a backend flushes before it
    returns (so ``run.json`` never counts a cell whose rename is not durable)."""
    _dir_syncs.active += 1
    try:
        yield
    finally:
        _dir_syncs.active -= 1
        if not _dir_syncs.active:
            flush_dir_syncs()


def _sync_dir(folder: Path, defer: bool) -> None:
    if not (defer and _dir_syncs.active):
        fsync_dir(folder)
        return
    now = time.monotonic()
    if not _dir_syncs.folders:
        _dir_syncs.since = now
    _dir_syncs.folders.add(folder)
    if now - _dir_syncs.since >= DIR_SYNC_MAX_AGE:
        flush_dir_syncs()


def atomic_write(path: Path | str, content: bytes | str | Callable[[IO[bytes]], None], *,
                 defer_dir: bool = False) -> Path:
    """Write ``path`` whole or not at all: a temporary file in the same folder, fsync, rename,
    fsync of the folder. ``content`` is the bytes or text, or a function that writes them to
    the open binary file. Temporaries of killed writers are removed first; an ``OSError``
    leaves no temporary behind. ``defer_dir``: inside ``deferred_dir_sync`` the folder's
    fsync is deferred to the end of that block (cell files only; why that is safe: there)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w+b") as fh:  # (+: a cell file is read back for its checksum)
            if callable(content):
                content(fh)
            else:
                fh.write(content.encode() if isinstance(content, str) else content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _sync_dir(path.parent, defer_dir)
    return path


def _column(values: list, kind: str | None):
    import pyarrow as pa

    if kind is not None:
        return pa.array(values, type=getattr(pa, kind)())
    # a parameter column: its type follows the values
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


def cell_table(columns: dict[str, list], meta: dict[str, Any]):
    """The Arrow table of one cell: typed trial columns, parameter columns, metadata."""
    import pyarrow as pa

    arrays = {k: _column(v, TRIAL_COLUMNS.get(k)) for k, v in columns.items()}
    blob = json.dumps({**meta, "format": FORMAT_VERSION, "checksum": _UNSUMMED}, default=str,
                      sort_keys=True)
    return pa.table(arrays).replace_schema_metadata({META_KEY: blob.encode()})


def _write_parquet(table, fh: IO[bytes]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # dictionary pages only for the text columns that repeat (status, error, info,
    # categorical values): on unique floats and configs parquet builds a dictionary, gives up
    # at its size limit and re-encodes; without it a 10,000-trial cell is written in two
    # thirds of the time and is 15% smaller
    pq.write_table(table, fh, compression="zstd", write_page_checksum=True, use_dictionary=[
        f.name for f in table.schema if f.name != "config" and pa.types.is_string(f.type)])
    _seal(fh)


def _checksum_field(value: str) -> bytes:
    # a top-level key of the metadata JSON (json.dumps' separators): quotes inside a string
    # value are escaped, so only the key itself can match
    return f'"checksum": "{value}"'.encode()


def _file_digest(data: bytes | memoryview, at: int) -> str:
    """The hash of ``data`` with the 32 checksum characters at ``at`` read as zeros."""
    view = memoryview(data)
    digest = hashlib.blake2b(view[:at], digest_size=16)
    digest.update(_UNSUMMED.encode())
    digest.update(view[at + len(_UNSUMMED):])
    return digest.hexdigest()


def _seal(fh: IO[bytes]) -> None:
    """Write the checksum of the cell file just written to ``fh`` into its metadata. (The
    Parquet footer holds the metadata twice: as written, where the checksum goes, and inside
    the serialized Arrow schema, which keeps the zeros.)"""
    fh.flush()
    fh.seek(0)
    data = fh.read()
    at = data.rfind(_checksum_field(_UNSUMMED))
    if at < 0:
        raise ValueError("the cell's metadata has no checksum field")
    at += len(_checksum_field(_UNSUMMED)) - len(_UNSUMMED) - 1
    fh.seek(at)
    fh.write(_file_digest(data, at).encode())
    fh.seek(0, os.SEEK_END)


def _checksum_error(data: bytes, meta: dict[str, Any]) -> str:
    """Why a cell file's bytes do not match its checksum ('' when they do; files written
    before cells had one are not checked)."""
    stored = meta.get("checksum")
    if stored is None:
        return ""
    field = _checksum_field(str(stored))
    at = data.rfind(field) if isinstance(stored, str) and len(stored) == len(_UNSUMMED) else -1
    if at < 0:
        return f"malformed checksum {stored!r}"
    at += len(field) - len(_UNSUMMED) - 1
    actual = _file_digest(data, at)
    if actual != stored:
        return f"content checksum mismatch (stored {stored}, file hashes to {actual})"
    return ""


def file_checksum(path: Path | str) -> str:
    """The verified checksum of the cell file ``path``, without parsing it: every byte is
    hashed, as ``read_cell`` does, so a flipped byte anywhere is a ``CorruptCell``. For
    callers that keep what they derived from a cell (the analysis's cache) and must know
    that the file is still the one they read. A file without a checksum (written before
    cells had one) is a ``CorruptCell`` here: nothing proves that it did not change."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CorruptCell(f"{path}: {type(exc).__name__}: {exc}") from None
    head = _checksum_field("")[:-1]  # '"checksum": "'
    at = data.rfind(head)
    stored = data[at + len(head):at + len(head) + len(_UNSUMMED)].decode("ascii", "replace")
    # the sealed digest hashes the file with exactly these 32 characters as zeros: if it
    # matches, the bytes are those the writer sealed, wherever the field was found
    if at < 0 or _checksum_error(data, {"checksum": stored}):
        raise CorruptCell(f"{path}: no checksum, or the content does not match it")
    return stored


@functools.cache
def _trial_type(kind: str):
    """The Arrow type named ``kind`` (a ``TRIAL_COLUMNS`` value), made once."""
    import pyarrow as pa

    return getattr(pa, kind)()


def read_cell(path: Path | str, columns: list[str] | None = None
              ) -> tuple[pa.Table, dict[str, Any]]:
    """One cell file: its trial table (only ``columns``, when given) and metadata.

    Trial columns are cast to their ``TRIAL_COLUMNS`` type (a column that was all null when
    written may carry the null type), and a requested trial column that the file lacks is
    read as nulls. ``CorruptCell`` when the file cannot be read, has no metadata or does not
    match its checksum.
    """
    import pyarrow as pa
    from pyarrow._parquet import ParquetReader

    try:
        with open(path, "rb") as fh:
            data = fh.read()
        # files of a few hundred rows: pyarrow's read-ahead and column threads cost more than
        # they save (measured: 1.3 vs 2.5 ms of CPU per cell file). Every data page carries a
        # CRC too (write_page_checksum), for files written before the file checksum.
        # (pyarrow's own reader under ParquetFile: its Python wrapper costs a fifth of the
        # time of a cell file; the columns are flat, so a column's index is its field's)
        reader = ParquetReader()
        reader.open(pa.BufferReader(data), pre_buffer=False, page_checksum_verification=True)
        blob = (reader.metadata.metadata or {}).get(META_KEY)
        names = reader.schema_arrow.names
        index = {c: i for i, c in enumerate(names)}
        present = names if columns is None else [c for c in columns if c in index]
        table = reader.read_all(column_indices=[index[c] for c in present], use_threads=False)
        meta = json.loads(blob) if blob else None
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise CorruptCell(f"{path}: {type(exc).__name__}: {exc}") from None
    if not meta:
        raise CorruptCell(f"{path}: no hpbench metadata")
    bad = _checksum_error(data, meta)
    if bad:
        raise CorruptCell(f"{path}: {bad}")
    wanted = names if columns is None else columns
    arrays, fields = [], []
    for c in wanted:
        kind = TRIAL_COLUMNS.get(c)
        if c in index:
            col = table.column(c)
            typed = kind is None or col.type == _trial_type(kind)
            arrays.append(col if typed else col.cast(_trial_type(kind)))
        elif kind is not None:
            arrays.append(pa.nulls(table.num_rows, getattr(pa, kind)()))
        else:
            continue  # a parameter column of another problem
        fields.append(c)
    return pa.Table.from_arrays(arrays, names=fields), meta


def read_meta(path: Path | str) -> dict[str, Any]:
    """The metadata of a cell file; ``CorruptCell`` when unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return json.loads((pq.read_metadata(path).metadata or {})[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        raise CorruptCell(f"{path}: {type(exc).__name__}: {exc}") from None


class _Heartbeat:
    """One daemon thread per process that touches the lock file of every claim the process
    holds, every ``HEARTBEAT_S`` seconds. It is started with the first claim and lives as long
    as the process: a thread started and stopped per cell cost more than a cheap cell's
    trials, and a claim shorter than one period needs no touch at all (its file is new)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.paths: set[Path] = set()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def add(self, path: Path) -> None:
        with self.lock:
            self.paths.add(path)
            if self.thread is None or self.pid != os.getpid():  # (a forked child has none)
                self.pid = os.getpid()
                self.thread = threading.Thread(target=self._beat, daemon=True,
                                               name="hpbench-lock")
                self.thread.start()

    def discard(self, path: Path) -> None:
        with self.lock:
            self.paths.discard(path)

    def _beat(self) -> None:
        while True:
            time.sleep(HEARTBEAT_S)
            with self.lock:
                paths = list(self.paths)
            for path in paths:
                with contextlib.suppress(OSError):
                    os.utime(path)


_heartbeat = _Heartbeat()


class _Claim:
    """A claim on a cell (``ResultsDir.claim``): an ``flock`` on its lock file, which names
    the process (pid, host, start) for ``hpbench status``. The kernel drops the lock when the
    process dies, however it dies, so a killed run never leaves a cell claimed; the lock file
    is touched every ``HEARTBEAT_S`` seconds by the process's heartbeat thread (no per-trial
    or per-cell cost) for file systems whose locks other hosts cannot see. A granted claim
    removes its file when it ends, while still holding it (``hpbench.locks.claim`` explains
    why that is safe)."""

    def __init__(self, path: Path, out: Path, wait: bool) -> None:
        self.path, self.out, self.wait = path, out, wait
        self.fh: IO[str] | None = None

    def __enter__(self) -> bool:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "a+")
        except OSError as exc:
            raise ResultsWriteError.wrap(exc, self.path, self.out) from exc
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | (0 if self.wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self.fh.close()
            self.fh = None
            return False
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.fh.truncate(0)
        self.fh.write(json.dumps(info))
        self.fh.flush()
        _heartbeat.add(self.path)
        return True

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            _heartbeat.discard(self.path)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            self.fh.close()  # closing drops the flock


class ResultsDir:
    """A results folder: every path under it, its writer and its reader."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ResultsDir({str(self.root)!r})"

    def __fspath__(self) -> str:
        return str(self.root)

    # -- paths ------------------------------------------------------------------------------
    @property
    def suite_file(self) -> Path:
        return self.root / "suite.toml"

    @property
    def run_file(self) -> Path:
        return self.root / "run.json"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    def cell_path(self, problem: str, optimizer: str, repeat: int) -> Path:
        return self.root / problem / optimizer / f"repeat-{repeat}.parquet"

    def cell_file(self, key: str) -> Path:
        """The file of cell ``key`` (``Cell.key``: ``<problem>/<optimizer>/repeat-<k>``)."""
        return self.root / f"{key}.parquet"

    @staticmethod
    def _flat(key: str) -> str:
        return key.replace("/", "__")

    def lock_path(self, key: str) -> Path:
        """The lock of the running cell ``key`` (``Cell.key``)."""
        return self.root / ".running" / f"{self._flat(key)}.lock"

    def journal_path(self, key: str) -> Path:
        return self.root / ".journal" / f"{self._flat(key)}.jsonl"

    def scratch_path(self, key: str) -> Path:
        return self.root / ".scratch" / key

    # -- writing ----------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise ``OutputError`` unless the folder exists and is writable or can be created."""
        out = probe = self.root
        while not probe.exists() and probe.parent != probe:
            probe = probe.parent
        if not probe.is_dir():
            raise OutputError(f"output folder {out} cannot be created: {probe} is not a folder")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise OutputError(f"output folder {out} is not writable ({probe} denies writing)")
        test = probe / f".hpbench-probe-{os.getpid()}-{threading.get_ident()}"
        try:  # root passes os.access everywhere; a read-only file system still says no here
            test.touch()
            test.unlink()
        except OSError as exc:
            raise OutputError(f"output folder {out} is not writable: {exc.strerror}") from None

    def _wrap(self, path: Path, write: Callable[[], Path]) -> Path:
        try:
            return write()
        except OSError as exc:  # atomic_write removed its temporary: nothing partial is left
            raise ResultsWriteError.wrap(exc, path, self.root) from exc

    def write(self, path: Path, content: bytes | str | Callable[[IO[bytes]], None]) -> Path:
        """Write a file of this folder atomically; ``ResultsWriteError`` when it cannot."""
        return self._wrap(path, lambda: atomic_write(path, content))

    def write_cell(self, path: Path, columns: dict[str, list], meta: dict[str, Any]) -> Path:
        table = cell_table(columns, meta)
        return self._wrap(path, lambda: atomic_write(
            path, lambda fh: _write_parquet(table, fh), defer_dir=True))

    def remove_temporaries(self, key: str) -> None:
        """Remove what killed writers of cell ``key``'s file left; call it holding the cell's
        claim (``claim``), which every writer of the file holds."""
        _remove_stale_temporaries(self.cell_file(key), claimed=True)

    def set_aside(self, path: Path, reason: str) -> Path:
        """Move a file that must be redone out of the way (never silently read it)."""
        k = 0
        while (target := path.with_name(f"{path.name}.bad-{k}")).exists():
            k += 1
        os.replace(path, target)
        warnings.warn(f"hpbench: {path} set aside as {target.name} and redone: {reason}",
                      stacklevel=2)
        return target

    def migrate(self) -> None:
        """Rename format-1 cells (``seed-<k>.parquet``) to ``repeat-<k>.parquet``; one whose
        new name is taken already is set aside, never read twice."""
        for old in sorted(self.root.glob(CELL_PATTERNS[1])):
            new = old.with_name("repeat-" + old.name[len("seed-"):])
            if new.exists():
                self.set_aside(old, f"{new.name} holds this cell")
            else:
                os.replace(old, new)

    # -- claims -----------------------------------------------------------------------------
    def claim(self, key: str, *, wait: bool = False) -> _Claim:
        """``with results.claim(key) as mine:`` — True when this process holds cell ``key``
        for the block; False, at once, when another process (another driver on the same
        folder) holds it, unless ``wait``, which waits until it is free. Whoever gets a claim
        checks again whether the cell is done before running it."""
        return _Claim(self.lock_path(key), self.root, wait)

    def lock_info(self, key: str) -> dict[str, Any] | None:
        """The running cell's claim (pid, host, started) plus ``stale``: nobody holds its lock
        (its process is gone), or, for a claim on another host, it has not been touched for
        ten heartbeats; None when the cell is not claimed."""
        path = self.lock_path(key)
        try:
            with open(path) as fh:
                text = fh.read()
                try:  # a claim whose lock can be taken is held by no one
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    held = False
                    fcntl.flock(fh, fcntl.LOCK_UN)
                except BlockingIOError:
                    held = True
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError:
            return {"stale": False}
        try:
            info = json.loads(text) if text else {}
        except ValueError:
            info = {}
        if info.get("host", socket.gethostname()) == socket.gethostname():
            info["stale"] = not held
        else:
            info["stale"] = not held and age > 10 * HEARTBEAT_S
        return info

    # -- reading ----------------------------------------------------------------------------
    def cell_files(self) -> list[Path]:
        """Every cell file; a format-1 ``seed-<k>`` file only where no ``repeat-<k>`` file
        of the same cell exists (``migrate`` renames them on the next run)."""
        files = set(self.root.glob(CELL_PATTERNS[0]))
        for old in self.root.glob(CELL_PATTERNS[1]):
            if old.with_name("repeat-" + old.name[len("seed-"):]) not in files:
                files.add(old)
        return sorted(files)

    def key_of(self, path: Path) -> str:
        """The cell key (``<problem>/<optimizer>/repeat-<k>``) of a cell file."""
        rel = path.relative_to(self.root).with_suffix("")
        name = rel.name.replace("seed-", "repeat-", 1) if rel.name.startswith("seed-") \
            else rel.name
        return str(rel.with_name(name))

    def stale_reason(self, path: Path, identity: dict[str, Any]) -> str:
        """'' when ``path`` is a valid finished cell with this identity (``Cell.identity``),
        else why it must be redone: unreadable or corrupt (the file's checksum is verified),
        incomplete, or made under another identity (the keys that differ)."""
        try:
            table, meta = read_cell(path)
        except CorruptCell as exc:
            return f"unreadable ({exc})"
        if table.num_rows != meta.get("n_trials"):
            return f"holds {table.num_rows} rows but its metadata says {meta.get('n_trials')}"
        if meta.get("status") not in ("done", "failed", "not-applicable"):
            return f"unknown cell status {meta.get('status')!r}"
        stored = meta.get("identity")
        if stored is None:
            return "it was written before cells recorded their identity"
        changed = sorted(k for k in {*stored, *identity} if stored.get(k) != identity.get(k))
        if changed:
            return "; ".join(f"{k} differs (file {stored.get(k)!r}, now {identity.get(k)!r})"
                             for k in changed)
        return ""

    def metas(self) -> list[tuple[Path, dict[str, Any] | None, str]]:
        """(file, metadata or None, error) for every cell file."""
        out: list[tuple[Path, dict[str, Any] | None, str]] = []
        for f in self.cell_files():
            try:
                out.append((f, read_meta(f), ""))
            except CorruptCell as exc:
                out.append((f, None, str(exc)))
        return out

    def read(self, columns: list[str] | None = None, *, threads: int | None = None,
             skip_corrupt: bool = False
             ) -> tuple[list[pa.Table], list[dict[str, Any]], list[str]]:
        """Every cell's trial table (only ``columns``, when given) and metadata, in file
        order, and the reasons of the files left out. An unreadable or corrupt file raises
        ``CorruptCell`` — a result set is never read half without saying so — or, with
        ``skip_corrupt``, is left out and named in the third list.

        ``threads`` > 1 reads files in a thread pool, which pays where opening a file waits
        on the network (NFS, cluster file systems); the default reads them in turn, which
        measured faster on a busy local 2-core machine."""
        files = self.cell_files()

        def one(f: Path):
            try:
                return read_cell(f, columns)
            except CorruptCell as exc:
                if not skip_corrupt:
                    raise
                return str(exc)

        with arrow_system_allocator():
            if threads and threads > 1:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max_workers=threads) as pool:
                    parts = list(pool.map(one, files))
            else:
                parts = [one(f) for f in files]
        good = [p for p in parts if not isinstance(p, str)]
        return ([t for t, _ in good], [m for _, m in good],
                [p for p in parts if isinstance(p, str)])

    def load(self, columns: Sequence[str] | None = None, *, with_meta: bool = False):
        """One tidy table (one row per trial) of every cell; see ``load_results``."""
        import pyarrow as pa

        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root} is not a results folder (no such folder)")
        wanted = None if columns is None else _trial_columns_to_read(columns)
        # two threads at least: decoding a cell file releases the GIL
        tables, metas, corrupt = self.read(wanted, threads=min(4, os.cpu_count() or 1),
                                           skip_corrupt=True)
        for reason in corrupt:
            warnings.warn(f"hpbench: a corrupt cell is left out: {reason}", stacklevel=3)
        if tables:
            with arrow_system_allocator():
                trials = pa.concat_tables(tables, promote_options="permissive")
                for name, column in _key_columns(metas, [t.num_rows for t in tables]):
                    trials = trials.append_column(name, column)
                frame = trials.to_pandas()
            absent = [c for c in wanted or () if c not in frame.columns]
            if absent:
                found = sorted({f"param.{name}" for m in metas for name in m.get("params") or ()})
                raise ValueError(f"no cell in {self.root} has the column(s) {', '.join(absent)}; "
                                 f"its parameter columns: {', '.join(found) or 'none'}")
        else:
            import pandas as pd

            frame = pd.DataFrame(columns=["suite", "problem", "optimizer", "repeat", "trial"])
        return (frame, metas) if with_meta else frame

    def suite_text(self) -> str:
        return self.suite_file.read_text() if self.suite_file.is_file() else ""

    def read_run_info(self) -> dict[str, Any]:
        try:
            return json.loads(self.run_file.read_text())
        except (OSError, ValueError):
            return {}


#: the columns ``load`` adds to every cell's trials, from its metadata
KEY_COLUMNS = ("suite", "problem", "optimizer", "repeat", "optimum", "optimum_kind",
               "cell_status")


def _key_values(meta: dict[str, Any]) -> tuple:
    optimum = meta.get("optimum") or {}
    value = optimum.get("value")
    return (meta.get("suite", ""), meta["problem"], meta["optimizer"], int(meta["repeat"]),
            float("nan") if value is None else float(value), optimum.get("kind", ""),
            meta.get("status", ""))


def _key_columns(metas: list[dict[str, Any]], counts: list[int]):
    """(name, Arrow array) of each ``KEY_COLUMNS`` column: cell i's value ``counts[i]`` times.
    Built once for all cells, a text column as a take from its few distinct values: appending
    them cell by cell took a quarter of loading 15,000 cells (benchmarks/test_analysis.py)."""
    import numpy as np
    import pyarrow as pa

    repeats = np.asarray(counts, dtype=np.int64)
    for name, values in zip(KEY_COLUMNS, zip(*map(_key_values, metas))):
        if name == "repeat":
            yield name, pa.array(np.repeat(np.asarray(values, dtype=np.int64), repeats))
        elif name == "optimum":
            yield name, pa.array(np.repeat(np.asarray(values, dtype=np.float64), repeats))
        else:
            distinct = {v: i for i, v in enumerate(dict.fromkeys(values))}  # None stays null
            codes = np.fromiter(map(distinct.__getitem__, values), np.int32, len(values))
            yield name, pa.array(list(distinct), type=pa.string()).take(
                pa.array(np.repeat(codes, repeats)))


def _trial_columns_to_read(columns: Sequence[str]) -> list[str]:
    """The columns of the cell files to read for ``load_results(columns=...)``: ``trial``,
    then those asked for that are not cell columns; ``ValueError`` naming a name that is
    neither a trial column, a cell column nor a parameter column (``param.<name>``)."""
    if isinstance(columns, str):
        raise ValueError(f"columns must be a list of column names, got the string {columns!r}")
    unknown = [c for c in columns if not (c in TRIAL_COLUMNS or c in KEY_COLUMNS
                                          or (isinstance(c, str) and c.startswith("param.")))]
    if unknown:
        raise ValueError(
            f"unknown column(s) {', '.join(map(repr, unknown))}: a column is one of the trial "
            f"columns ({', '.join(TRIAL_COLUMNS)}), a cell column ({', '.join(KEY_COLUMNS)}) "
            "or param.<name> (docs/results-schema.md)")
    return list(dict.fromkeys(["trial", *(c for c in columns if c not in KEY_COLUMNS)]))


def load_results(path: Path | str, columns: Sequence[str] | None = None, *,
                 with_meta: bool = False):
    """One tidy table (one row per trial) of every cell under ``path``.

    Cell keys (suite, problem, optimizer, repeat), the optimum and the cell's status come from
    each file's metadata; not-applicable and failed cells contribute their rows (status
    column). A corrupt cell is left out with a warning that names it; a folder that does not
    exist is a ``FileNotFoundError``.

    ``columns``: read only these trial and parameter columns (``trial`` and the cell columns
    are always there), which halves the time on a large folder: a cell file's columns are
    decoded one by one (3 million rows in 15,000 cells on 2 cores: 24 s for every column,
    11.6 s for two, benchmarks/test_analysis.py). A name that is no column, or a parameter
    column that no cell has, is a ``ValueError`` that names it.
    """
    return ResultsDir(path).load(columns, with_meta=with_meta)
