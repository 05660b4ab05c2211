"""Snapshots of the process-wide random number generators an optimizer or problem must not
touch: numpy's legacy global ``RandomState`` (``np.random.seed``, ``np.random.rand``, …),
Python's ``random`` module and, where torch is installed, torch's default CPU generator
(``torch.manual_seed``, ``torch.randn`` without a generator, layer initialization).

An optimizer owns ``self.rng`` (a private ``numpy.random.Generator``) and a problem its own
streams; drawing from, or reseeding, a global generator changes what every other piece of
code in the process draws, and makes a run depend on what ran before it in the same process.
A library that does so unavoidably is called between ``np.random.get_state()`` /
``np.random.set_state(...)`` (or ``torch.random.fork_rng(devices=[])``) by its adapter.
"""

from __future__ import annotations

import importlib.util
import random
from typing import Any, NamedTuple

import numpy as np

__all__ = ["GLOBAL_GENERATORS", "GlobalRandomState", "changed_generators",
           "global_random_state", "restore_global_random_state"]

#: what each generator is called in messages, and how to read its state
GLOBAL_GENERATORS = {
    "numpy": "numpy's global random state (np.random.get_state())",
    "random": "Python's random module (random.getstate())",
    "torch": "torch's default generator (torch.random.get_rng_state())",
}


class GlobalRandomState(NamedTuple):
    """The state of each global generator (``torch`` None when torch is not installed)."""

    numpy: tuple
    random: tuple
    torch: Any


def _torch():
    """torch, imported if it is installed (None otherwise)."""
    if importlib.util.find_spec("torch") is None:
        return None
    import torch

    return torch


def global_random_state() -> GlobalRandomState:
    """A snapshot of every global generator."""
    torch = _torch()
    return GlobalRandomState(np.random.get_state(), random.getstate(),
                             None if torch is None else torch.random.get_rng_state().clone())


def _same_numpy(a: tuple, b: tuple) -> bool:
    # ('MT19937', keys (624,) uint32, pos, has_gauss, cached_gaussian)
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def changed_generators(before: GlobalRandomState, after: GlobalRandomState) -> list[str]:
    """The generators (keys of ``GLOBAL_GENERATORS``) whose state differs."""
    changed = []
    if not _same_numpy(before.numpy, after.numpy):
        changed.append("numpy")
    if before.random != after.random:
        changed.append("random")
    if before.torch is not None or after.torch is not None:
        torch = _torch()
        if before.torch is None or after.torch is None or not torch.equal(before.torch,
                                                                           after.torch):
            changed.append("torch")
    return changed


def restore_global_random_state(state: GlobalRandomState) -> None:
    """Put every global generator back to ``state``."""
    np.random.set_state(state.numpy)
    random.setstate(state.random)
    if state.torch is not None:
        _torch().random.set_rng_state(state.torch)
