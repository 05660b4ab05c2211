"""The error a command reports in one line with exit status 2.

It lives apart from ``hpbench.cli`` so that commands added by other packages (entry-point
group ``hpbench.commands``) can raise it: under ``python -m hpbench.cli`` that module runs as
``__main__``, and a second import of it would define a second, uncaught ``UsageError``.
"""

from __future__ import annotations


class UsageError(ValueError):
    """Bad command-line input: reported in one line, exit status 2."""
