"""How hpbench asks for memory when it holds tables of millions of rows (the analysis of a
paper-size results folder), measured on this project's 2-core Linux machine (a virtual
machine, as CI's is):

* **Arrow's allocator.** pyarrow's default pool, mimalloc, spent most of a large read in the
  kernel: decoding the 730 MB analysis cache of a 3-million-row folder took 5-16 s of
  system time against 0.7 s of user time, and reading its 15,000 cell files 10 s of system
  time. Through the C library's ``malloc``: 1.1 and 3.5 s.
* **Huge pages for NumPy.** NumPy asks the kernel for transparent huge pages on every large
  array (``madvise``); on this machine each such page costs far more to fault in than the
  same memory in small pages: ``analyse`` on 3 million rows took 9.9 s (5.8 s of it system
  time) with them and 5.4 s (1.5 s) without.

``large_tables()`` turns both off for a block and restores them after, unless the user set
``ARROW_DEFAULT_MEMORY_POOL`` or ``NUMPY_MADVISE_HUGEPAGE``: their choice stands.
"""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def arrow_system_allocator():
    """Arrow allocates through ``malloc`` inside the block (unless the user chose a pool);
    the process's default pool comes back after it. Buffers remember their pool, so freeing
    one after the block is safe."""
    import pyarrow as pa

    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        yield
        return
    before = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(before)


def _hugepage_switch():
    """NumPy's switch for ``madvise(MADV_HUGEPAGE)`` (documented with
    ``NUMPY_MADVISE_HUGEPAGE``; it moved with NumPy 2), or None."""
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core.multiarray import _set_madvise_hugepage
        except ImportError:  # pragma: no cover - a NumPy without it
            return None
    return _set_madvise_hugepage


@contextlib.contextmanager
def numpy_small_pages():
    """No transparent huge pages for NumPy's arrays inside the block (unless the user set
    ``NUMPY_MADVISE_HUGEPAGE``); NumPy's setting comes back after it."""
    switch = _hugepage_switch()
    if switch is None or os.environ.get("NUMPY_MADVISE_HUGEPAGE"):
        yield
        return
    before = switch(False)
    try:
        yield
    finally:
        switch(before)


@contextlib.contextmanager
def large_tables():
    """Both of the above: the way to hold millions of rows."""
    with arrow_system_allocator(), numpy_small_pages():
        yield
