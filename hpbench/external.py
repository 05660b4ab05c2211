"""Optimizers out of process: the engine side of the JSON-lines protocol.

An external optimizer is a program, in any language and any environment, that speaks the
protocol of ``docs/external-optimizers.md`` on its standard input and output: a ``hello``
(the space, seed, budget, fidelity and settings), then ``ask`` / ``tell`` messages, then
``close``. ``ExternalOptimizer`` is the ``Optimizer`` that drives one: it starts the program
once per cell, at the first ``ask``, keeps it for the whole cell and closes it when the cell
ends (``Cell.run`` calls ``close``; a finalizer does it for an optimizer driven by hand).
The runner times ``ask`` and ``tell`` around the round trips, so the program's own time is
the optimizer's overhead in ``ask_s`` / ``tell_s``.

Libraries whose pins conflict with hpbench's (HEBO pins numpy<1.25, DEHB numpy<2) run this
way, each in its own virtual environment ``.peers/<name>/`` built by ``make peers``
(``python -m hpbench.external build``). A peer is declared by a TOML file (``load_peers``,
the built-in ones in ``hpbench.optimizers.external``) or by ``register_external`` from a
plugin; either registers it as an optimizer like any other.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

from hpbench._procutil import CallTimeout, describe_exit
from hpbench.optimizer import Observation, Optimizer, Suggestion

__all__ = ["PROTOCOL", "ExternalOptimizer", "ExternalOptimizerError", "Peer", "ProtocolError",
           "build_peers", "load_peers", "peers_dir", "register_external"]

#: the protocol version this engine speaks (the ``protocol`` field of the hello)
PROTOCOL = 1
#: seconds a worker may take to answer one message, when the cell has no ``--timeout``
#: (a peer's declaration may set its own ``reply_timeout``)
REPLY_TIMEOUT = 600.0
#: seconds a worker has to exit after ``close`` before it is killed
CLOSE_GRACE = 5.0
#: lines of a failed worker's standard error that the cell's failure reason quotes
STDERR_TAIL = 20
#: a file in a built environment: the declaration it was built for (``Peer.stamp``)
STAMP = ".hpbench-peer.json"
#: capabilities a declaration may require of a problem
CAPABILITIES = ("fidelity", "checkpoint")


class ExternalOptimizerError(RuntimeError):
    """The worker of an external optimizer crashed, hung, answered with an error or broke
    the protocol; the cell fails with this message (and the worker's stderr tail)."""


class ProtocolError(ExternalOptimizerError):
    """A message from the worker that the protocol does not allow."""


def peers_dir() -> Path:
    """Where the peers' environments live: ``$HPBENCH_PEERS_DIR``, else ``.peers/`` in the
    source checkout hpbench runs from, else ``.peers/`` in the current folder."""
    env = os.environ.get("HPBENCH_PEERS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / ".peers"
    return Path.cwd() / ".peers"


@dataclass(frozen=True)
class Peer:
    """The declaration of one external optimizer (the fields of its TOML file).

    ``command`` is the argv that starts the worker, with ``{env}`` (its environment's
    folder), ``{python}`` (the interpreter running hpbench, for a worker that needs no
    environment of its own) and ``{here}`` (the declaration's folder) filled in.
    ``requirements`` (pinned) make ``make peers`` build ``{env}``; none: no environment.
    """

    name: str
    command: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    python: str = ""  # the interpreter the environment is built with (default: this one)
    description: str = ""
    tags: tuple[str, ...] = ()
    requires: frozenset[str] = frozenset()
    settings: Mapping[str, Any] = field(default_factory=dict)
    supports_batch: bool = False
    batch_size: int = 1
    reply_timeout: float = REPLY_TIMEOUT
    environment: Mapping[str, str] = field(default_factory=dict)  # variables for the worker
    code: tuple[str, ...] = ()  # more files of the worker's code, relative to ``here``
    here: str = ""  # the declaration's folder

    def __post_init__(self) -> None:
        where = f"external optimizer {self.name!r}"
        if not self.command or not all(isinstance(a, str) for a in self.command):
            raise ValueError(f"{where}: command must be a non-empty list of strings, "
                             f"got {self.command!r}")
        unpinned = [r for r in self.requirements if "==" not in r]
        if unpinned:
            raise ValueError(f"{where}: requirements must be pinned (name==version), got "
                             f"{unpinned}")
        stray = set(self.requires) - set(CAPABILITIES)
        if stray:
            raise ValueError(f"{where}: requires must be among {list(CAPABILITIES)}, got "
                             f"{sorted(stray)}")
        if not (self.reply_timeout > 0):
            raise ValueError(f"{where}: reply_timeout must be > 0 seconds, got "
                             f"{self.reply_timeout!r}")

    @property
    def env_dir(self) -> Path | None:
        """The environment's folder, None for a peer without requirements."""
        return peers_dir() / self.name if self.requirements else None

    def argv(self) -> list[str]:
        env = str(self.env_dir or "")
        return [a.replace("{env}", env).replace("{python}", sys.executable)
                .replace("{here}", self.here) for a in self.command]

    def stamp(self) -> dict[str, Any]:
        """What a ready environment's stamp file holds: rebuilt when it changes."""
        return {"name": self.name, "requirements": sorted(self.requirements),
                "python": self.python}

    def unready(self) -> list[str]:
        """What is missing before the worker can run: ``["make peers"]`` when its
        environment is not built (or was built for other requirements), else []."""
        env = self.env_dir
        if env is None:
            return []
        try:
            built = json.loads((env / STAMP).read_text())
        except (OSError, ValueError):
            return ["make peers"]
        return [] if built == self.stamp() else ["make peers"]

    def code_files(self) -> tuple[str, ...]:
        """Files whose content is the optimizer's code: the declaration and the scripts its
        command names (hashed into a cell's identity, with the pinned requirements)."""
        files = [str(Path(self.here) / f"{self.name}.toml")]
        files += [a for a in self.argv() if a.endswith(".py") and os.path.isfile(a)]
        files += [str(Path(self.here) / f) for f in self.code]
        return tuple(f for f in files if os.path.isfile(f))


# -- the optimizer ---------------------------------------------------------------------------


class ExternalOptimizer(Optimizer):
    """An optimizer that runs in another process and speaks the JSON-lines protocol.

    ``register_external`` makes one subclass per declared peer (class attribute ``peer``).
    It holds a live process, so it cannot be pickled (``picklable = False``); under
    ``--batch q`` a peer that does not declare ``supports_batch`` runs one suggestion per
    round.
    """

    peer: ClassVar[Peer]
    picklable: ClassVar[bool] = False
    supports_batch: ClassVar[bool] = False
    batch_fallback: ClassVar[str] = "sequential"

    def __init__(self, space: Any, *, seed: int | None, budget: Any, fidelity: Any = None,
                 **settings: Any) -> None:
        super().__init__(space, seed=seed, budget=budget, fidelity=fidelity, **settings)
        self._proc: subprocess.Popen | None = None
        self._stderr: Any = None
        self._buf = b""
        self._closed = False
        self.worker: dict[str, Any] = {}  # the worker's answer to the hello
        #: round trips made and seconds spent waiting for them
        self.round_trips, self.wait_s = 0, 0.0

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError(f"external optimizer {self.label or type(self).__name__} holds a live "
                        "worker process and cannot be pickled")

    @property
    def name(self) -> str:
        return self.peer.name

    # -- the process ---------------------------------------------------------------------
    def _start(self) -> None:
        missing = self.peer.unready()
        if missing:
            raise ExternalOptimizerError(
                f"external optimizer {self.name!r}: its environment {self.peer.env_dir} is "
                f"not built; run `make peers` (or python -m hpbench.external build "
                f"{self.name})")
        workdir = tempfile.mkdtemp(prefix=f"hpbench-peer-{self.name}-")
        # kept open for the whole cell (read for the failure reason), closed by _reap
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        env = {**os.environ, **self.peer.environment}
        try:
            proc = subprocess.Popen(self.peer.argv(), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=self._stderr, cwd=workdir,
                                    env=env, start_new_session=False,
                                    preexec_fn=_die_with_parent, bufsize=0)
        except OSError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            raise ExternalOptimizerError(f"external optimizer {self.name!r}: cannot start "
                                         f"{self.peer.argv()}: {exc}") from None
        self._proc = proc
        self._poll = select.poll()  # (not select.select: it fails on descriptors >= 1024)
        self._poll.register(proc.stdout.fileno(), select.POLLIN)
        # a cell that ends without close() (an optimizer driven by hand) still reaps it
        self._finalizer = weakref.finalize(self, _reap, proc, self._stderr, workdir)
        hello = {"op": "hello", "protocol": PROTOCOL, "optimizer": self.name,
                 "space": self.space.to_json(), "seed": self.seed,
                 "budget": {"amount": float(self.budget.amount), "unit": self.budget.unit},
                 "fidelity": _fidelity(self.fidelity), "settings": dict(self.config),
                 "problem_capabilities": sorted(self.problem_capabilities or ())}
        reply = self._call(hello)
        if reply.get("protocol") != PROTOCOL:
            self._fail(ProtocolError(f"worker of {self.name!r} answered the hello with "
                                     f"protocol {reply.get('protocol')!r}; this engine speaks "
                                     f"protocol {PROTOCOL}"))
        self.worker = reply

    def _call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one message, return the worker's answer (a JSON object without "error")."""
        op = message["op"]
        t0 = time.perf_counter()
        try:
            _write_all(self._proc.stdin, _dumps(message))
            line = self._read_line(op)
        except CallTimeout as exc:  # the cell's --timeout, through the runner's deadline
            self._fail(ExternalOptimizerError(f"worker of {self.name!r} did not answer {op}: "
                                              f"{exc}"))
        except (BrokenPipeError, OSError) as exc:
            self._fail(ExternalOptimizerError(self._died(op, exc)))
        except KeyboardInterrupt:
            self._kill()
            raise
        self.wait_s += time.perf_counter() - t0
        self.round_trips += 1
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self._fail(ProtocolError(f"worker of {self.name!r} answered {op} with "
                                     f"{_clip(line)}, which is not a JSON object"))
        if "error" in reply:
            self._fail(ExternalOptimizerError(f"worker of {self.name!r} answered {op} with "
                                              f"an error: {reply['error']}"))
        return reply

    def _read_line(self, op: str) -> bytes:
        fd = self._proc.stdout.fileno()
        deadline = time.monotonic() + self.peer.reply_timeout
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line, self._buf = self._buf[:end], self._buf[end + 1:]
                return line
            left = deadline - time.monotonic()
            if left <= 0 or not self._poll.poll(left * 1000):
                self._fail(ExternalOptimizerError(
                    f"worker of {self.name!r} did not answer {op} within its reply_timeout "
                    f"of {self.peer.reply_timeout:g} s"))
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self._fail(ExternalOptimizerError(self._died(op, None)))
            self._buf += chunk

    def _died(self, op: str, exc: BaseException | None) -> str:
        proc = self._proc
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(1.0)
        how = f"ended ({describe_exit(proc.returncode)})" if proc.returncode is not None \
            else f"closed its output ({exc})" if exc else "closed its output"
        return f"worker of {self.name!r} (pid {proc.pid}) {how} before answering {op}"

    def _fail(self, error: ExternalOptimizerError) -> NoReturn:
        """Kill the worker and raise ``error`` with the tail of its stderr."""
        self._kill()
        tail = self.stderr_tail()
        if tail:
            error.args = (f"{error.args[0]}; its stderr ends with:\n{tail}",)
        raise error

    def _kill(self) -> None:
        self._closed = True
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def stderr_tail(self, lines: int = STDERR_TAIL) -> str:
        """The last ``lines`` lines the worker wrote to its standard error."""
        fh = self._stderr
        if fh is None or fh.closed:
            return ""
        fh.flush()
        size = fh.seek(0, os.SEEK_END)
        fh.seek(max(0, size - 16384))
        text = fh.read().decode("utf-8", "replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def close(self) -> None:
        """Say ``close`` to the worker and reap it (killed if it does not exit in
        ``CLOSE_GRACE`` seconds). Called by ``Cell.run`` when the cell ends; idempotent."""
        proc = self._proc
        if proc is None or self._closed:
            return
        self._closed = True
        with contextlib.suppress(OSError, ValueError):
            _write_all(proc.stdin, _dumps({"op": "close"}))
            proc.stdin.close()
        try:
            proc.wait(CLOSE_GRACE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._finalizer()

    # -- the contract --------------------------------------------------------------------
    def ask(self, n: int) -> list[Suggestion]:
        if self._closed:
            raise ExternalOptimizerError(f"external optimizer {self.name!r} was closed")
        if self._proc is None:
            self._start()
        reply = self._call({"op": "ask", "n": n})
        items = reply.get("suggestions")
        if not isinstance(items, list):
            self._fail(ProtocolError(f"worker of {self.name!r} answered ask with "
                                     f"{_clip(json.dumps(reply))}: expected "
                                     '{"suggestions": [...]}'))
        out = []
        for item in items:
            config = item.get("config") if isinstance(item, dict) else None
            if not isinstance(config, dict):
                self._fail(ProtocolError(f"worker of {self.name!r}: a suggestion must be an "
                                         f'object with a "config" object, got '
                                         f"{_clip(json.dumps(item))}"))
            out.append(Suggestion(config, item.get("fidelity"), item.get("resume_from"),
                                  False, item.get("tag")))
        return out

    def tell(self, observations: Sequence[Observation]) -> None:
        if self._proc is None or self._closed:
            raise ExternalOptimizerError(f"external optimizer {self.name!r}: tell before "
                                         "its first ask, or after close")
        self._call({"op": "tell", "observations": [_observation(o) for o in observations]})

    def describe(self) -> dict:
        return {**super().describe(), "command": self.peer.argv(), "protocol": PROTOCOL,
                "requirements": list(self.peer.requirements)}


def _observation(o: Observation) -> dict[str, Any]:
    s = o.suggestion
    value = float(o.value)
    out = {"trial": o.trial, "config": dict(s.config),
           "value": value if math.isfinite(value) else None, "status": o.status,
           "ok": o.status == "ok", "fidelity": s.fidelity, "resume_from": s.resume_from,
           "cost": float(o.cost), "tag": s.tag}
    if o.error:
        out["error"] = o.error[-500:]
    return out


def _fidelity(fidelity: Any) -> dict[str, Any] | None:
    if fidelity is None:
        return None
    return {"low": float(fidelity.low), "high": float(fidelity.high), "name": fidelity.name,
            "integer": bool(fidelity.integer)}


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=_plain).encode() + b"\n"


def _write_all(stream: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:  # an unbuffered pipe may take part of a long message per write
        view = view[stream.write(view):]


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):  # a numpy scalar
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _clip(text: str | bytes, limit: int = 300) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _die_with_parent() -> None:
    """In the worker, between fork and exec: die when the engine dies, even by kill -9
    (Linux's PR_SET_PDEATHSIG; elsewhere the worker ends at end-of-file on its input)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)


def _reap(proc: subprocess.Popen, stderr: Any, workdir: str) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    for stream in (proc.stdin, proc.stdout, stderr):
        with contextlib.suppress(Exception):
            stream.close()
    shutil.rmtree(workdir, ignore_errors=True)


# -- declaring peers -------------------------------------------------------------------------

#: the keys of a declaration file, besides ``name`` and ``command``
_KEYS = {"requirements", "python", "description", "tags", "requires", "settings",
         "supports_batch", "batch_size", "reply_timeout", "environment", "code"}


def read_peer(path: str | Path) -> Peer:
    """The ``Peer`` a TOML declaration file declares (its ``name`` defaults to the file's
    stem). Errors name the file and the key."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read the declaration: {exc}") from None
    unknown = set(data) - _KEYS - {"name", "command"}
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: "
                         f"{sorted(_KEYS | {'name', 'command'})}")
    if "command" not in data:
        raise ValueError(f"{path}: command is missing (the argv that starts the worker)")
    try:
        return Peer(name=data.get("name", path.stem), command=tuple(data["command"]),
                    requirements=tuple(data.get("requirements", ())),
                    python=data.get("python", ""), description=data.get("description", ""),
                    tags=tuple(data.get("tags", ())), requires=frozenset(data.get("requires", ())),
                    settings=dict(data.get("settings", {})),
                    supports_batch=bool(data.get("supports_batch", False)),
                    batch_size=int(data.get("batch_size", 1)),
                    reply_timeout=float(data.get("reply_timeout", REPLY_TIMEOUT)),
                    environment=dict(data.get("environment", {})),
                    code=tuple(data.get("code", ())), here=str(path.parent))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def register_external(peer: Peer, *, module: str = __name__) -> type[ExternalOptimizer]:
    """Register ``peer`` as an optimizer (an ``ExternalOptimizer`` subclass of its own,
    carrying its settings, requirements and batch declarations); returns the class.
    ``module`` is the module the class is said to live in: the registering package, whose
    folder is the optimizer's family in the figures (``analysis/families.py``)."""
    from hpbench.registry import register_optimizer

    cls = type(f"External[{peer.name}]", (ExternalOptimizer,), {
        "peer": peer, "label": peer.name, "settings": dict(peer.settings),
        "requires": frozenset(peer.requires), "supports_batch": peer.supports_batch,
        "batch_size": peer.batch_size, "code_files": peer.code_files(),
        "unready": staticmethod(peer.unready), "__module__": module,
        "__doc__": peer.description})
    cls.__qualname__ = f"ExternalOptimizer[{peer.name}]"
    where = f"its own environment {peer.env_dir}, built by `make peers`" \
        if peer.env_dir is not None else "no environment of its own"
    return register_optimizer(peer.name, description=peer.description or
                              f"external optimizer ({' '.join(peer.command)})",
                              tags=("external", *peer.tags),
                              note=f"out of process ({where})")(cls)


def load_peers(paths: str | Path | Iterable[str | Path], *,
               module: str = __name__) -> list[Peer]:
    """Read and register the declarations in ``paths`` (TOML files, or folders whose
    ``*.toml`` files are read; ``module`` as for ``register_external``); returns them."""
    if isinstance(paths, str | Path):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.toml")) if p.is_dir() else [p]
    peers = [read_peer(f) for f in files]
    for peer in peers:
        register_external(peer, module=module)
    return peers


def declared() -> dict[str, Peer]:
    """Every registered external optimizer's declaration, by name."""
    from hpbench.registry import entries

    return {name: e.factory.peer for name, e in entries("optimizer").items()
            if isinstance(e.factory, type) and issubclass(e.factory, ExternalOptimizer)}


# -- building their environments ---------------------------------------------------------------


def build_peers(names: Iterable[str] = (), *, force: bool = False,
                log: Any = print) -> dict[str, float]:
    """Build the environment of each named peer (default: every declared one with
    requirements) that is not ready: a virtual environment ``peers_dir()/<name>`` with its
    pinned requirements. Returns the seconds each build took (0 for one already ready)."""
    peers = declared()
    unknown = [n for n in names if n not in peers]
    if unknown:
        raise ValueError(f"unknown external optimizer(s) {unknown}; declared: {sorted(peers)}")
    took: dict[str, float] = {}
    for name in list(names) or sorted(peers):
        peer = peers[name]
        if peer.env_dir is None or (not force and not peer.unready()):
            took[name] = 0.0
            continue
        t0 = time.perf_counter()
        log(f"hpbench: building {peer.env_dir} ({len(peer.requirements)} pinned packages)")
        _build_env(peer)
        took[name] = time.perf_counter() - t0
        log(f"hpbench: {name} ready in {took[name]:.0f} s")
    return took


def _build_env(peer: Peer) -> None:
    env = peer.env_dir
    shutil.rmtree(env, ignore_errors=True)
    env.parent.mkdir(parents=True, exist_ok=True)
    python = peer.python or getattr(sys, "_base_executable", sys.executable)
    steps = [[python, "-m", "venv", str(env)],
             [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet",
              "--upgrade", "pip"],
             [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet",
              *peer.requirements]]
    clean = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    for step in steps:
        done = subprocess.run(step, env=clean, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-STDERR_TAIL:])
            raise RuntimeError(f"building {env} failed at {' '.join(step[:4])} …: "
                               f"{describe_exit(done.returncode)}\n{tail}")
    (env / STAMP).write_text(json.dumps(peer.stamp(), indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hpbench.external build [NAME …] [--force]`` (``make peers``) and
    ``python -m hpbench.external status``."""
    import argparse

    from hpbench.registry import entries

    parser = argparse.ArgumentParser(prog="python -m hpbench.external")
    parser.add_argument("command", choices=["build", "status"])
    parser.add_argument("names", nargs="*", help="peers to build (default: all)")
    parser.add_argument("--force", action="store_true", help="rebuild ready environments")
    args = parser.parse_args(argv)
    entries("optimizer")  # registers the built-in peers
    if args.command == "status":
        for name, peer in sorted(declared().items()):
            state = "no environment needed" if peer.env_dir is None else \
                "ready" if not peer.unready() else "needs make peers"
            print(f"{name:<16} {state:<22} {peer.env_dir or ''}")
        return 0
    try:
        build_peers(args.names, force=args.force)
    except (ValueError, RuntimeError) as exc:
        print(f"hpbench: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # run as hpbench.external, so the classes are that module's
    from hpbench.external import main as _main

    sys.exit(_main())
