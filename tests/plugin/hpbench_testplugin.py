"""A plugin package for the end-to-end tests, registered through the entry-point group
``hpbench.problems`` (the way another package adds entries to hpbench)."""

from __future__ import annotations

import os
import time

from hpbench import (
    Evaluation,
    Float,
    Optimizer,
    Optimum,
    Problem,
    Space,
    register_optimizer,
    register_problem,
)


class SlowQuadratic(Problem):
    """sum((x - 0.3)^2) that takes a few milliseconds, so a run can be killed mid-way."""

    def __init__(self, seed=None, delay=None):
        space = Space(x0=Float(-1, 1), x1=Float(-1, 1))
        super().__init__(space, seed=seed, name="slow-quadratic",
                         optimum=Optimum(0.0, {"x0": 0.3, "x1": 0.3}, source="construction"))
        self.delay = float(os.environ.get("HPBENCH_TEST_DELAY", "0.004")) if delay is None \
            else delay

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        time.sleep(self.delay)
        return (config["x0"] - 0.3) ** 2 + (config["x1"] - 0.3) ** 2


# -- fault injection (tests/hpbench/test_faults.py) -------------------------------------------

FAULT_MODES = ("none", "raise", "nan", "hang", "segv", "exit", "kill", "oom", "sysexit", "cost",
               "fingerprint")


class FaultyQuadratic(Problem):
    """sum((x - 0.3)^2) whose evaluation number ``at`` (0-based, per instance) misbehaves:

    raise (an exception), nan (returns NaN), hang (sleeps an hour), segv (a real segmentation
    fault), exit (``os._exit(3)``), kill (SIGKILL, as the OOM killer sends), oom (allocates
    until the address-space limit makes it a MemoryError; refuses without such a limit, so it
    cannot hurt the machine), sysexit (raises ``SystemExit``, as a plugin calling
    ``sys.exit`` does), cost (reports ``cost`` as its cost: 0, negative, NaN or inf);
    fingerprint makes ``fingerprint()`` raise (evaluations are fine). With ``once`` (a file
    path) the fault fires only if that file does not exist yet, and creates it: a transient
    fault, gone on the retry.
    """

    fingerprint_points = 0  # evaluation numbers count trials only

    def __init__(self, seed=None, mode="none", at=0, once="", every=0, cost=1.0):
        if mode not in FAULT_MODES:
            raise ValueError(f"mode must be one of {FAULT_MODES}, got {mode!r}")
        space = Space(x0=Float(-1, 1), x1=Float(-1, 1))
        super().__init__(space, seed=seed, name="faulty-quadratic",
                         optimum=Optimum(0.0, {"x0": 0.3, "x1": 0.3}, source="construction"))
        self.mode, self.at, self.once, self.every = mode, int(at), str(once), int(every)
        self.cost = float(cost)
        self.calls = 0

    def fingerprint(self) -> str:
        if self.mode == "fingerprint":
            raise RuntimeError("faulty fingerprint raised on purpose")
        return super().fingerprint()

    def _fires(self) -> bool:
        k = self.calls
        self.calls += 1
        hit = k == self.at or (self.every and k > self.at and (k - self.at) % self.every == 0)
        if not hit or self.mode == "none":
            return False
        if self.once:
            if os.path.exists(self.once):
                return False
            with open(self.once, "w") as fh:
                fh.write(str(os.getpid()))
        return True

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        value = (config["x0"] - 0.3) ** 2 + (config["x1"] - 0.3) ** 2
        if not self._fires():
            return value
        if self.mode == "raise":
            raise RuntimeError("faulty objective raised on purpose")
        if self.mode == "nan":
            return float("nan")
        if self.mode == "sysexit":
            raise SystemExit(4)
        if self.mode == "cost":
            return Evaluation(value, cost=self.cost)
        if self.mode == "hang":
            time.sleep(3600)
        if self.mode == "segv":
            import ctypes

            ctypes.string_at(0)  # reads address 0: SIGSEGV
        if self.mode == "exit":
            os._exit(3)
        if self.mode == "kill":
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
        if self.mode == "oom":
            import resource

            soft, _ = resource.getrlimit(resource.RLIMIT_AS)
            if soft == resource.RLIM_INFINITY or soft > 4 << 30:
                raise RuntimeError("refusing to exhaust memory without an address-space "
                                   "limit below 4 GiB")
            hog = [bytearray(64 << 20) for _ in range(10_000)]  # MemoryError long before
            return float(len(hog))
        return value


def _install_write_stall() -> None:
    """With HPBENCH_TEST_STALL_WRITE=N and HPBENCH_TEST_STALL_MARK=path, the N-th cell file
    this process writes stops half-way (half the bytes in the temporary file), creates the
    marker and sleeps, so a test can SIGKILL the run in the middle of a file write."""
    n = int(os.environ.get("HPBENCH_TEST_STALL_WRITE", "0"))
    mark = os.environ.get("HPBENCH_TEST_STALL_MARK", "")
    if n <= 0 or not mark:
        return
    import io

    import pyarrow.parquet as pq

    original = pq.write_table
    count = [0]

    def stalling(table, where, **kw):
        count[0] += 1
        if count[0] != n or isinstance(where, str | os.PathLike):
            return original(table, where, **kw)
        buf = io.BytesIO()
        original(table, buf, **kw)
        data = buf.getvalue()
        where.write(data[: len(data) // 2])
        where.flush()
        with open(mark, "w") as fh:
            fh.write(str(os.getpid()))
        time.sleep(3600)

    pq.write_table = stalling  # the store looks it up at each write


def register() -> None:
    _install_write_stall()
    register_problem("slow-quadratic", SlowQuadratic, tags=("test",))
    register_problem("faulty-quadratic", FaultyQuadratic, tags=("test", "faults"))
    register_problem("faulty-expensive", FaultyQuadratic, tags=("test", "expensive"))


class _RandomThenFault(Optimizer):
    """Uniform random configs; at its call number ``at`` of ``ask`` or ``tell`` it raises
    (``fault`` "raise"), raises ``SystemExit`` ("exit") or sleeps an hour ("hang")."""

    settings = {"at": 3}
    where = ""
    fault = "raise"

    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.calls = {"ask": 0, "tell": 0}

    def _tick(self, where: str) -> None:
        k = self.calls[where]
        self.calls[where] += 1
        if where != self.where or k != self.config["at"]:
            return
        if self.fault == "exit":
            raise SystemExit(f"optimizer exits in {where} on purpose")
        if self.fault == "hang":
            time.sleep(3600)
        raise ZeroDivisionError(f"optimizer fails in {where} on purpose")

    def ask(self, n):
        self._tick("ask")
        return self.space.sample(self.rng, n)

    def tell(self, observations):
        self._tick("tell")


class FaultInAsk(_RandomThenFault):
    where = "ask"


class FaultInTell(_RandomThenFault):
    where = "tell"


class ExitInAsk(FaultInAsk):
    fault = "exit"


class ExitInTell(FaultInTell):
    fault = "exit"


class HangInAsk(FaultInAsk):
    fault = "hang"


def register_optimizers() -> None:
    register_optimizer("fault-ask", tags=("test",))(FaultInAsk)
    register_optimizer("fault-tell", tags=("test",))(FaultInTell)
    register_optimizer("exit-ask", tags=("test",))(ExitInAsk)
    register_optimizer("exit-tell", tags=("test",))(ExitInTell)
    register_optimizer("hang-ask", tags=("test",))(HangInAsk)
