"""Seed derivation: stable across processes, machines and Python versions.

Python's ``hash()`` of a string is salted per process, so names are hashed with BLAKE2b
and fed with the master seed to ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator

import numpy as np


def stable_hash(name: str) -> int:
    """A 64-bit integer from ``name`` that never changes between runs."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def _derive(*keys: int | str) -> int:
    entropy = [k if isinstance(k, int) else stable_hash(k) for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0] >> 1)


def problem_seed(master: int, problem: str, repeat: int) -> int:
    """Seed of a problem instance: the same for every optimizer at that repeat."""
    return _derive(master, "problem", problem, repeat)


def optimizer_seed(master: int, problem: str, optimizer: str, repeat: int) -> int:
    """Seed of an optimizer in one cell."""
    return _derive(master, "optimizer", problem, optimizer, repeat)


def child_seed(seed: int, *keys: int | str) -> int:
    """A seed for a sub-component (e.g. a problem's noise stream) derived from ``seed``."""
    return _derive(seed, *keys)


@contextlib.contextmanager
def global_random_state_kept() -> Iterator[None]:
    """Put numpy's legacy global generator and Python's ``random`` back as they were after
    the block: for library code that draws from them though nobody asked it to (scikit-learn's
    SVR draws a libsvm seed from ``np.random`` on every fit; Nevergrad draws one for every
    parameter it builds). hpbench never leaves global random state changed
    (``hpbench.testing`` checks every optimizer and problem for it)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
