"""Process helpers shared by the backends and the evaluation children (Linux first, portable
fallbacks elsewhere): die with the parent, cap address space, describe how a process died."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

#: what a signal that ended a worker usually means, for the failure reason users read
_SIGNAL_MEANING = {
    "SIGSEGV": "segmentation fault",
    "SIGBUS": "bus error",
    "SIGABRT": "aborted",
    "SIGKILL": "killed: the out-of-memory killer, a scheduler or kill -9",
    "SIGTERM": "terminated",
    "SIGILL": "illegal instruction",
    "SIGFPE": "floating-point exception",
    "SIGXCPU": "CPU time limit exceeded",
}


def describe_exit(returncode: int | None) -> str:
    """'SIGSEGV (segmentation fault)', 'exit status 3', … for a process's return code."""
    if returncode is None:
        return "vanished without an exit status"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            return f"killed by signal {-returncode}"
        meaning = _SIGNAL_MEANING.get(name)
        return f"{name} ({meaning})" if meaning else name
    return f"exit status {returncode}"


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when ``parent_pid`` ends, so a SIGKILLed ``hpbench run`` leaves
    no orphan workers writing into its results folder.

    On Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` (man 2 prctl); elsewhere, and as a guard
    against the race where the parent died before the call, a watcher thread polls
    ``os.getppid()``.
    """
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, daemon=True, name="hpbench-parent-watch").start()


def apply_memory_limit(limit: int | None) -> None:
    """Cap this process's address space at ``limit`` bytes (RLIMIT_AS; children inherit it),
    so a runaway allocation raises ``MemoryError`` instead of driving the host into swap."""
    if not limit:
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY and soft <= limit:
        return  # already at least as strict
    new_hard = hard if hard != resource.RLIM_INFINITY and hard < limit else limit
    resource.setrlimit(resource.RLIMIT_AS, (min(limit, new_hard), new_hard))


def parse_bytes(value: str | int | float | None) -> int | None:
    """'512M', '2G', '1.5GiB', 1e9 -> bytes; None and 0 -> None. Errors name the bad value."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        n = int(value)
    else:
        text = str(value).strip().upper().removesuffix("B").removesuffix("I")
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
        scale = units.get(text[-1:], 1) if text else 1
        number = text[:-1] if text and text[-1] in units else text
        try:
            n = int(float(number) * scale)
        except ValueError:
            raise ValueError(f"memory limit must be a size like 512M or 2G, got {value!r}") \
                from None
    if n < 0:
        raise ValueError(f"memory limit must be >= 0 bytes, got {value!r}")
    return n or None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def safe_path() -> Iterator[None]:
    """Start Python processes in the block with ``PYTHONSAFEPATH`` set: a spawned worker
    starts with ``python -c …``, which puts the current folder first on its path, and imports
    ``pickle`` before hpbench restores the parent's path, so a ``pickle.py`` lying in the
    folder a run was started from would be executed. (Evaluation children get ``-P``.)"""
    old = os.environ.get("PYTHONSAFEPATH")
    os.environ["PYTHONSAFEPATH"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONSAFEPATH", None)
        else:
            os.environ["PYTHONSAFEPATH"] = old


class CallTimeout(TimeoutError):
    """An optimizer call (``ask``, ``tell``) ran past its deadline."""


@contextlib.contextmanager
def deadline(seconds: float | None, what: str) -> Iterator[None]:
    """Raise ``CallTimeout`` in this thread if the block runs longer than ``seconds`` (None:
    no deadline). In the main thread by ``SIGALRM``, which also interrupts a sleep or a
    blocking read; in another thread (a Dask worker's) by an asynchronous exception, which
    interrupts Python code but not one C call that never returns."""
    if seconds is None:
        yield
        return
    message = f"{what} ran past the timeout of {seconds:g} s"
    if threading.current_thread() is threading.main_thread():
        def alarm(signum: int, frame: Any) -> None:
            raise CallTimeout(message)

        previous = signal.signal(signal.SIGALRM, alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            yield
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        return
    yield from _thread_deadline(seconds, message)


def _thread_deadline(seconds: float, message: str) -> Iterator[None]:
    import ctypes

    target = ctypes.c_ulong(threading.get_ident())
    lock = threading.Lock()
    state = {"open": True}

    class _Timeout(CallTimeout):
        def __init__(self) -> None:
            super().__init__(message)

    def fire() -> None:
        with lock:
            if state["open"]:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(target, ctypes.py_object(_Timeout))

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:  # after this, the timer cannot raise in code that follows the block
            state["open"] = False
            timer.cancel()
