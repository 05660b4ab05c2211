"""Argument types of the problem families' own command lines (``hpbench tabulate``,
``python -m hpbench.problems.spread``): one wording for one mistake."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
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


def number_list(kind: Callable[[str], Any], what: str) -> Callable[[str], list[Any]]:
    """An argument type for numbers separated by commas (``0,1,2``), each read by ``kind``
    (``int``, ``float``); ``what`` names them in the error."""

    def parse(text: str) -> list[Any]:
        try:
            return [kind(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what} separated by commas, got "
                                             f"{text!r}") from None

    return parse
