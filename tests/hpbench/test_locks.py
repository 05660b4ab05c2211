"""hpbench.locks across real processes: the blocking exclusive lock and the non-blocking claim
(which removes its file while it still holds it)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hpbench.locks import claim, exclusive_lock

TIMEOUT = 120  # seconds: generous, the machine may be loaded

#: children wait for the ``go`` file once they have said ``ready-<i>``, so that they all run
#: at once (starting an interpreter takes longer than the work)
BARRIER = """
import sys, time
from pathlib import Path
folder = Path(sys.argv[1]); me = sys.argv[2]
(folder / f"ready-{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.005)
"""

COUNT = BARRIER + """
from hpbench.locks import exclusive_lock
counter = folder / "counter"
for _ in range(int(sys.argv[3])):
    with exclusive_lock(folder / "counter.lock"):
        value = int(counter.read_text() or 0) if counter.exists() else 0
        time.sleep(0.001)  # read-modify-write with a window for a lost update
        counter.write_text(str(value + 1))
"""

SHARE = BARRIER + """
import os
from hpbench.locks import claim
for unit in range(int(sys.argv[3])):
    with claim(folder / f"unit-{unit}.lock") as mine:
        if not mine or (folder / f"unit-{unit}.done").exists():
            continue
        time.sleep(0.05)  # the work
        with open(folder / "log", "a") as fh:
            fh.write(f"{os.getpid()} {unit}\\n")
        (folder / f"unit-{unit}.done").touch()  # recorded before the claim ends
"""

#: holds the lock or the claim of argv[1] until the file argv[2] exists (or forever), saying
#: "held <whether it got it>" once it has it
HOLD = """
import sys, time
from pathlib import Path
from hpbench.locks import claim, exclusive_lock
path, release, kind = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with (exclusive_lock(path) if kind == "lock" else claim(path)) as mine:
    print("held", mine is not False, flush=True)
    while not release.exists():
        time.sleep(0.01)
print("released", flush=True)
"""

WAIT = """
import sys
from hpbench.locks import exclusive_lock
print("trying", flush=True)
with exclusive_lock(sys.argv[1]):
    print("got", flush=True)
"""


def _spawn(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _start_together(code: str, folder: Path, n: int, *args: object) -> list[subprocess.Popen]:
    procs = [_spawn(code, folder, i, *args) for i in range(n)]
    deadline = time.monotonic() + TIMEOUT
    while not all((folder / f"ready-{i}").exists() for i in range(n)):
        assert time.monotonic() < deadline, "the children did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
        time.sleep(0.01)
    (folder / "go").touch()
    return procs


def _finish(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=TIMEOUT)
        assert p.returncode == 0, err


def _read_line(proc: subprocess.Popen) -> str:
    line = proc.stdout.readline().strip()
    assert line, proc.communicate(timeout=TIMEOUT)[1]
    return line


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)


def _free(path: Path) -> bool:
    """Whether nobody holds an ``flock`` on the file ``path`` now (without waiting)."""
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        fcntl.flock(fh, fcntl.LOCK_UN)
        return True


# --- exclusive_lock --------------------------------------------------------------------------
def test_exclusive_lock_makes_read_modify_writes_of_processes_lose_nothing(tmp_path):
    _finish(_start_together(COUNT, tmp_path, 4, 30))
    assert (tmp_path / "counter").read_text() == str(4 * 30)
    assert (tmp_path / "counter.lock").exists()  # kept: removing it would break the lock


def test_exclusive_lock_waits_for_the_holder_and_then_proceeds(tmp_path):
    lock = tmp_path / "t.lock"
    with exclusive_lock(lock):
        waiter = _spawn(WAIT, lock)
        assert _read_line(waiter) == "trying"
        time.sleep(0.5)
        assert waiter.poll() is None  # blocked while this process holds the lock
    assert _read_line(waiter) == "got"
    _finish([waiter])


def test_a_killed_holder_leaves_the_exclusive_lock_free(tmp_path):
    lock = tmp_path / "t.lock"
    holder = _spawn(HOLD, lock, tmp_path / "never", "lock")
    assert _read_line(holder) == "held True"
    assert not _free(lock)
    _kill(holder)
    assert _free(lock)
    with exclusive_lock(lock):
        pass


# --- claim -------------------------------------------------------------------------------------
def test_a_claim_held_by_another_process_is_refused_without_waiting(tmp_path):
    path, release = tmp_path / "unit.lock", tmp_path / "release"
    holder = _spawn(HOLD, path, release, "claim")
    assert _read_line(holder) == "held True"
    t0 = time.monotonic()
    with claim(path) as mine:
        assert mine is False
    assert time.monotonic() - t0 < 5
    assert path.exists()  # a refused claim leaves the holder's file alone
    release.touch()
    assert _read_line(holder) == "released"
    _finish([holder])
    assert not path.exists()  # removed when the granted claim ended
    with claim(path) as mine:
        assert mine is True


def test_a_killed_holder_leaves_its_claim_free(tmp_path):
    path = tmp_path / "unit.lock"
    holder = _spawn(HOLD, path, tmp_path / "never", "claim")
    assert _read_line(holder) == "held True"
    with claim(path) as mine:
        assert not mine
    _kill(holder)
    assert path.exists()  # a killed holder cannot remove its file, but the kernel freed it
    with claim(path) as mine:
        assert mine
    assert not path.exists()


def test_a_claim_file_is_removed_before_its_lock_is_released(tmp_path):
    # a process that opened the claim file while it was held gets its lock only once the file
    # is gone, i.e. only after the holder finished: it must then check whether the work is done
    path, release = tmp_path / "unit.lock", tmp_path / "release"
    holder = _spawn(HOLD, path, release, "claim")
    assert _read_line(holder) == "held True"
    with open(path, "a") as fh:  # the holder's file (same inode)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        release.touch()
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                assert time.monotonic() < deadline, "the holder never released its claim"
                time.sleep(0.001)
        assert os.fstat(fh.fileno()).st_nlink == 0  # already unlinked when the lock came free
        assert not path.exists()
    _finish([holder])


def test_a_claim_still_holds_its_file_when_it_removes_it(tmp_path, monkeypatch):
    # the order the test above can only catch by luck (the window between the two calls is
    # microseconds): at the moment of the removal, nobody else can lock the file
    path = tmp_path / "unit.lock"
    seen = []
    unlink = Path.unlink

    def observed(self, *args, **kwargs):
        if self == path:
            seen.append(_free(path))
        return unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", observed)
    with claim(path) as mine:
        assert mine
    assert seen == [False] and not path.exists()


def test_processes_walking_the_same_units_do_each_unit_once(tmp_path):
    units = 12
    procs = _start_together(SHARE, tmp_path, 3, units)
    _finish(procs)
    done = [line.split() for line in (tmp_path / "log").read_text().splitlines()]
    assert sorted(int(u) for _, u in done) == list(range(units))  # each once, none lost
    assert len({pid for pid, _ in done}) > 1  # the work was shared
    assert sorted(tmp_path.glob("*.lock")) == []  # every claim removed its file
