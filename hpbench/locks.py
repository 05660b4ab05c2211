"""File locks between processes: a blocking exclusive lock and a non-blocking claim.

Both are ``flock`` locks (POSIX, standard library only) on a lock file next to what they
protect. The kernel drops an ``flock`` when its process dies, however it dies, so a killed
process never leaves anything locked or claimed; a lock file left behind by a killed process
is harmless (the next process locks it again).

``exclusive_lock(path)``
    Waits until no other process holds ``path``, then holds it for the ``with`` block: for a
    read-modify-write of a shared file (the best-known table: several searches append their
    rows to one table and none may lose another's). The lock file is created if missing and
    never removed: removing it while another process waits on it would let a third process
    lock a new file of the same name at the same time.

``claim(path)``
    Takes ``path`` for this process without waiting and yields whether it got it: for
    splitting units of work (a table row, a cell of a results folder) among processes that
    all walk the same list, each taking the units nobody holds. The claim file is removed when
    the claim ends, *while it is still held*: a process that opened the file before the
    removal gets its lock only after the holder is done, and one that opens the name after
    the removal creates a new file. Either way a claim granted after an earlier holder
    finished is granted after that holder's work was recorded, so the pattern is::

        with claim(lock_of(unit)) as mine:
            if not mine or is_done(unit):   # check again once claimed: the holder before
                continue                    # this one may have just finished the unit
            do(unit)
            record(unit)                    # before the claim ends

    Two processes can hold claims on the same name at once only after a holder released it
    (one on the removed file, one on the new file), and both then see what that holder
    recorded; a holder that ends without recording its unit (it raised) lets them both do it.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

__all__ = ["claim", "exclusive_lock"]


@contextlib.contextmanager
def exclusive_lock(path: Path | str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file ``path`` (created if missing, kept afterwards)
    for the ``with`` block, waiting as long as another process holds it."""
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def claim(path: Path | str) -> Iterator[bool]:
    """Claim the file ``path`` for this process without waiting: yields True if this process
    got it (held until the ``with`` block ends), False if another process holds it.

    The file is created for the claim and removed when a granted claim ends, before it is
    released (see the module docstring for why, and for the check a caller makes once it
    holds the claim). A refused claim leaves the file alone: it belongs to its holder.
    """
    path = Path(path)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            # unlink while still holding it: a process that opened the same file before the
            # unlink gets the lock only after this one has recorded its work, and skips it
            path.unlink(missing_ok=True)
            fcntl.flock(fh, fcntl.LOCK_UN)
