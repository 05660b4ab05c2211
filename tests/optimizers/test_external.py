"""External optimizers (hpbench/external.py, docs/external-optimizers.md): the worked example
passes the conformance suite out of process, and crashes, hangs, protocol errors and a
killed engine end the way the docs say."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hpbench import registry
from hpbench._procutil import pid_alive
from hpbench.budget import Budget
from hpbench.cell import Cell, Seeds
from hpbench.external import (
    PROTOCOL,
    STAMP,
    ExternalOptimizer,
    Peer,
    load_peers,
    read_peer,
)
from hpbench.space import Space
from hpbench.testing import OPTIMIZER_CHECKS
from hpbench.testing.toy import MIXED_SPACE, ToyProblem
from hpbench.trials import CellStatus

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "external_random.py"

#: a worker that speaks the protocol, with a behaviour chosen by its first argument
FAULTY = textwrap.dedent('''
    import json, sys, time
    mode, asks = sys.argv[1], 0
    for line in sys.stdin:
        op = json.loads(line)["op"]
        if op == "hello":
            version = 99 if mode == "version" else 1
            reply = {"protocol": version, "name": "faulty", "version": "0"}
        elif op == "ask":
            asks += 1
            if asks == 3 and mode == "crash":
                print("loading the model", file=sys.stderr)
                print("RuntimeError: out of cheese", file=sys.stderr, flush=True)
                sys.exit(3)
            if asks == 3 and mode == "hang":
                print("thinking very hard", file=sys.stderr, flush=True)
                time.sleep(60)
            if asks == 3 and mode == "garbage":
                print("Iteration 3: best so far 0.5", flush=True)
                continue
            if asks == 3 and mode == "error":
                print(json.dumps({"error": "the surrogate diverged"}), flush=True)
                continue
            if mode == "slow":
                time.sleep(0.05)
            reply = {"suggestions": [{"config": {"x0": 0.5, "x1": 0.5}}]}
        elif op == "tell":
            reply = {"ok": True}
        else:
            print(json.dumps({"ok": True}), flush=True)
            break
        print(json.dumps(reply), flush=True)
''')


@pytest.fixture(scope="module")
def example():
    """The worked example, registered as ``external-random`` for this module's tests."""
    (peer,) = load_peers(EXAMPLE.with_suffix(".toml"))
    yield peer.name
    registry.unregister("optimizer", peer.name)


@pytest.fixture
def faulty(tmp_path):
    """Register the faulty worker in a mode; unregistered after the test."""
    script = tmp_path / "faulty.py"
    script.write_text(FAULTY)
    names = []

    def declare(mode: str, **fields) -> str:
        decl = tmp_path / f"faulty-{mode}.toml"
        lines = [f'command = ["{{python}}", "{script}", "{mode}"]',
                 *(f"{k} = {json.dumps(v)}" for k, v in fields.items())]
        decl.write_text("\n".join(lines) + "\n")
        (peer,) = load_peers(decl)
        names.append(peer.name)
        return peer.name

    yield declare
    for name in names:
        registry.unregister("optimizer", name)


def _run(name: str, problem: str = "branin", budget: float = 8, timeout: float | None = None):
    cell = Cell(problem=problem, optimizer=name, budget=Budget(budget), timeout=timeout,
                seeds=Seeds(0, 1))
    return cell.run()


@pytest.mark.parametrize("check", list(OPTIMIZER_CHECKS))
def test_worked_example_passes_the_conformance_suite(example, check):
    OPTIMIZER_CHECKS[check](example)


def test_worked_example_imports_nothing_but_the_standard_library():
    tree = ast.parse(EXAMPLE.read_text())
    imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for a in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)}
    assert imported <= set(sys.stdlib_module_names), imported
    # and it runs where neither hpbench nor numpy can be imported (-I -S: no site-packages)
    hello = {"op": "hello", "protocol": PROTOCOL, "seed": 3, "space": MIXED_SPACE.to_json(),
             "budget": {"amount": 2, "unit": "evaluations"}, "fidelity": None,
             "settings": {}}
    messages = [hello, {"op": "ask", "n": 3}, {"op": "close"}]
    done = subprocess.run([sys.executable, "-I", "-S", str(EXAMPLE)], capture_output=True,
                          text=True, timeout=60,
                          input="".join(json.dumps(m) + "\n" for m in messages))
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert replies[0]["protocol"] == PROTOCOL
    configs = [s["config"] for s in replies[1]["suggestions"]]
    assert len(configs) == 3 and all(MIXED_SPACE.contains(c) for c in configs)
    assert replies[2] == {"ok": True}


def test_space_round_trips_through_json():
    again = Space.from_json(json.loads(json.dumps(MIXED_SPACE.to_json())))
    assert again == MIXED_SPACE and again["extra"].condition == MIXED_SPACE["extra"].condition
    assert Space.from_json(MIXED_SPACE.describe()) == MIXED_SPACE
    with pytest.raises(ValueError, match="type must be one of float, int, categorical"):
        Space.from_json([{"name": "x", "type": "complex"}])


def test_worker_time_is_in_ask_s_and_the_worker_ends_with_the_cell(faulty, monkeypatch):
    name = faulty("slow")
    seen = {}
    original = ExternalOptimizer._start

    def spy(self):
        original(self)
        seen["pid"] = self._proc.pid

    monkeypatch.setattr(ExternalOptimizer, "_start", spy)
    result = _run(name, budget=5)
    assert result.status == CellStatus.DONE, result.reason
    assert min(result.columns["ask_s"]) >= 0.05  # the worker sleeps 50 ms per ask
    time.sleep(0.2)
    assert not pid_alive(seen["pid"]), "the worker outlived its cell"


@pytest.mark.parametrize("mode, reason", [
    ("crash", r"ended \(exit status 3\) before answering ask; its stderr ends with:\n"
              r"loading the model\nRuntimeError: out of cheese"),
    ("garbage", r"answered ask with 'Iteration 3: best so far 0.5', which is not a JSON"),
    ("error", r"answered ask with an error: the surrogate diverged"),
    ("version", r"answered the hello with protocol 99; this engine speaks protocol 1"),
])
def test_broken_workers_fail_the_cell_with_the_reason(faulty, mode, reason):
    result = _run(faulty(mode))
    assert result.status == CellStatus.FAILED
    assert result.reason.startswith("optimizer raised in ask: ExternalOptimizerError") or \
        result.reason.startswith("optimizer raised in ask: ProtocolError")
    assert re.search(reason, result.reason), result.reason


@pytest.mark.parametrize("timeout, fields, says", [
    (1.0, {}, "ran past the timeout of 1 s"),  # the cell's --timeout
    (None, {"reply_timeout": 1.0}, "within its reply_timeout of 1 s"),  # the declaration's
])
def test_a_hung_worker_fails_the_cell_in_time(faulty, timeout, fields, says):
    t0 = time.monotonic()
    result = _run(faulty("hang", **fields), timeout=timeout)
    assert time.monotonic() - t0 < 20
    assert result.status == CellStatus.FAILED
    assert says in result.reason and "thinking very hard" in result.reason, result.reason


def test_killed_engine_leaves_no_worker(faulty, tmp_path):
    """kill -9 of the process driving a cell ends its worker too, even one busy in a long
    ask that would not notice the end of its input for a minute (PR_SET_PDEATHSIG)."""
    faulty("hang")
    engine = textwrap.dedent(f'''
        import threading, time
        from hpbench.external import load_peers
        from hpbench.registry import make_optimizer
        from hpbench.space import Float, Space
        load_peers({str(tmp_path / "faulty-hang.toml")!r})
        space = Space(x0=Float(-5, 10), x1=Float(0, 15))
        opt = make_optimizer("faulty-hang", space, seed=1, budget=10)
        opt.ask(1), opt.ask(1)
        threading.Thread(target=opt.ask, args=(1,), daemon=True).start()  # hangs
        print(opt._proc.pid, flush=True)
        time.sleep(120)
    ''')
    proc = subprocess.Popen([sys.executable, "-c", engine], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(proc.stdout.readline())
        time.sleep(0.5)  # the worker is in its minute-long sleep now
        assert _running(worker)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(worker):
        time.sleep(0.05)
    assert not _running(worker), "the worker outlived the engine killed with kill -9"


def _running(pid: int) -> bool:
    """Alive and not a zombie (a reparented zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_unbuilt_environment_is_listed_and_fails_the_cell(tmp_path, monkeypatch, cli):
    decl = tmp_path / "needs-env.toml"
    decl.write_text('command = ["{env}/bin/python", "-c", "pass"]\n'
                    'requirements = ["numpy==1.26.4"]\n')
    monkeypatch.setenv("HPBENCH_PEERS_DIR", str(tmp_path / "peers"))
    (peer,) = load_peers(decl)
    try:
        assert peer.unready() == ["make peers"]
        result = _run("needs-env")
        assert result.status == CellStatus.FAILED
        assert "is not built (run `make peers`)" in result.reason, result.reason
    finally:
        registry.unregister("optimizer", "needs-env")
    # built for these requirements: ready; for others (an edited declaration): not
    (peer.env_dir).mkdir(parents=True)
    (peer.env_dir / STAMP).write_text(json.dumps(peer.stamp()))
    assert peer.unready() == []
    edited = Peer(**{**peer.__dict__, "requirements": ("numpy==2.0.0",)})
    assert edited.unready() == ["make peers"]
    listed = cli("list", "optimizers", env={"HPBENCH_PEERS_DIR": str(tmp_path / "peers")})
    hebo = next(line for line in listed.stdout.splitlines() if line.startswith("hebo "))
    assert hebo.endswith("[needs make peers]"), hebo


@pytest.mark.parametrize("text, says", [
    ('command = ["x"]\nrequirements = ["numpy>=1"]\n', "requirements must be pinned"),
    ('command = ["x"]\nflavour = 1\n', "unknown key(s) ['flavour']"),
    ('requirements = []\n', "command is missing"),
    ('command = ["x"]\nrequires = ["wings"]\n', "requires must be among"),
])
def test_bad_declarations_are_refused(tmp_path, text, says):
    decl = tmp_path / "bad.toml"
    decl.write_text(text)
    with pytest.raises(ValueError) as info:
        read_peer(decl)
    assert says in str(info.value) and str(decl) in str(info.value)


def test_external_optimizer_refuses_pickling(example):
    import pickle

    opt = registry.make_optimizer(example, MIXED_SPACE, seed=0, budget=4)
    try:
        opt.ask(1)
        with pytest.raises(TypeError, match="holds a live worker process"):
            pickle.dumps(opt)
    finally:
        opt.close()
    assert opt._proc.poll() is not None


def test_same_seed_same_trajectory_on_the_toy(example):
    runs = [Cell(problem="toy", optimizer=example, budget=Budget(6), seeds=Seeds(0, s))
            .run(problem=ToyProblem(seed=0)).columns["config"] for s in (5, 5, 6)]
    assert runs[0] == runs[1] != runs[2]


def test_peer_argv_fills_placeholders(tmp_path, monkeypatch):
    monkeypatch.setenv("HPBENCH_PEERS_DIR", str(tmp_path))
    peer = Peer(name="p", command=("{env}/bin/python", "{here}/w.py"),
                requirements=("a==1",), here="/decl")
    assert peer.argv() == [f"{tmp_path}/p/bin/python", "/decl/w.py"]


def test_peer_workers_map_the_cube_as_hpbench_does():
    """The peers' workers (plain Python in their own environments) turn DEHB's unit-cube
    points into configs exactly as ``Space.from_unit`` does."""
    import importlib.util

    import numpy as np

    path = ROOT / "optimizers" / "external" / "_peer.py"
    spec = importlib.util.spec_from_file_location("_peer_under_test", path)
    peer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(peer)
    unit = peer.UnitSpace(json.loads(json.dumps(MIXED_SPACE.to_json())))
    points = np.random.default_rng(0).random((500, len(MIXED_SPACE)))
    points[:5] = [[0.0] * 6, [1.0] * 6, [0.5] * 6, [1e-12] * 6, [1 - 1e-12] * 6]
    for u in points.tolist():
        assert unit.from_unit(u) == MIXED_SPACE.from_unit(u), u
