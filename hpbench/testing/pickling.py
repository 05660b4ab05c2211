"""Helpers of the pickling checks: which attributes of an object stop it from pickling, and
whether an optimizer declares that it cannot be pickled."""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["culprits", "declared_picklable", "roundtrip"]


def roundtrip(obj: Any) -> Any:
    """``obj`` pickled and unpickled (highest protocol)."""
    return pickle.loads(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def culprits(obj: Any) -> str:
    """The attributes of ``obj`` that do not survive a pickle round trip, as a parenthesized
    note for a message ("" when each attribute does on its own)."""
    bad = []
    for key, value in getattr(obj, "__dict__", {}).items():
        try:
            roundtrip(value)
        except Exception as exc:
            bad.append(f"{key} ({type(value).__name__}: {type(exc).__name__}: {exc})")
    return f" (attributes that do not pickle: {'; '.join(bad)})" if bad else ""


def declared_picklable(obj: Any) -> bool:
    """False when ``obj``'s class declares ``picklable = False`` (an optimizer holding
    something that cannot be pickled, e.g. a library object or a live Python generator)."""
    return bool(getattr(type(obj), "picklable", True))
