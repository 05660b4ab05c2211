"""Argument types of the problem families' own command lines (``hpbench tabulate``,
``python -m hpbench.problems.spread``): one wording for one mistake."""

from __future__ import annotations

import argparse
import json
from typing import Any


def setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as (key, value), the value read as JSON where it is JSON (``epochs=4``
    is an int, ``model=svc`` a string)."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"a setting is KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
