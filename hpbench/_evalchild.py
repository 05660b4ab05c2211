"""The evaluation child: ``python -m hpbench._evalchild FD PARENT_PID MEMORY_LIMIT``.

It builds problems by registry name (so plugin and test problems work as in any worker),
evaluates configs sent over the socket ``FD`` and answers with the ``Evaluation`` or the
exception. The parent kills it to end an evaluation that exceeds its timeout. Messages
(pickled through ``multiprocessing.connection.Connection``):

* ``("load", name, seed, settings)`` → ``("ready", fingerprint)`` or ``("error", exc)``
* ``("eval", config, fidelity, ctx)`` → ``("ok", Evaluation, eval_s, t_start, t_end)`` or
  ``("error", exc, eval_s, t_start, t_end)``
* ``("cleanup", scratch)`` → ``("done",)``; ``("stop",)`` ends the process.
"""

from __future__ import annotations

import pickle
import sys
import time
from multiprocessing.connection import Connection
from typing import Any


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError carrying its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    try:
        conn.send(message)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        # pickling happens before a byte is written, so the stream is still intact
        conn.send(("error", RuntimeError(f"the evaluation result cannot be sent back: {exc}"),
                   *message[2:]))


def serve(conn: Connection) -> None:
    from hpbench import registry
    from hpbench.plugins import load_plugins

    problem = None
    perf, wall = time.perf_counter, time.time
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        op = message[0]
        if op == "eval":
            _, config, fidelity, ctx = message
            t_start = wall()
            t0 = perf()
            try:
                rec = problem.evaluate(config, fidelity=fidelity, ctx=ctx)
                reply: tuple[Any, ...] = ("ok", rec, perf() - t0, t_start, wall())
            except BaseException as exc:  # the objective's failure is data, sent back
                reply = ("error", _portable(exc), perf() - t0, t_start, wall())
            _send(conn, reply)
        elif op == "load":
            _, name, seed, settings, plugins = message
            try:
                load_plugins(plugins)
                problem = registry.make_problem(name, seed=seed, **settings)
                # the parent computed the fingerprint too: the same calls in the same order
                # leave a stateful instance (a noise stream) in the same state
                conn.send(("ready", problem.fingerprint()))
            except BaseException as exc:
                problem = None
                conn.send(("error", _portable(exc)))
        elif op == "cleanup":
            try:
                if problem is not None:
                    problem.cleanup(message[1])
            finally:
                problem = None
                conn.send(("done",))
        elif op == "stop":
            return


def main(argv: list[str]) -> int:
    fd, parent_pid, memory_limit = int(argv[0]), int(argv[1]), int(argv[2])
    from hpbench._procutil import apply_memory_limit, die_with_parent

    die_with_parent(parent_pid)
    apply_memory_limit(memory_limit or None)
    conn = Connection(fd)
    try:
        serve(conn)
    finally:
        conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
