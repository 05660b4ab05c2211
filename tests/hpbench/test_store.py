"""The results folder as one object: its paths, its one writer, its one reader."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hpbench import Budget
from hpbench.cell import Cell
from hpbench.execute import execute_cell
from hpbench.store import CorruptCell, ResultsDir, atomic_write, load_results, read_cell
from hpbench.trials import TRIAL_COLUMNS, empty_columns


def test_every_path_of_a_cell_comes_from_the_folder(tmp_path):
    results = ResultsDir(tmp_path)
    cell = Cell("branin", "random", Budget(3), repeat=2)
    assert cell.key == "branin/random/repeat-2"
    assert results.cell_file(cell.key) == tmp_path / "branin" / "random" / "repeat-2.parquet"
    assert results.lock_path(cell.key) == tmp_path / ".running" / "branin__random__repeat-2.lock"
    assert results.journal_path(cell.key).name == "branin__random__repeat-2.jsonl"
    assert results.scratch_path(cell.key) == tmp_path / ".scratch" / "branin/random/repeat-2"
    assert (results.suite_file.name, results.run_file.name, results.figures.name) == \
        ("suite.toml", "run.json", "figures")
    assert results.key_of(results.cell_file(cell.key)) == cell.key


def test_atomic_write_takes_bytes_text_or_a_writer(tmp_path):
    atomic_write(tmp_path / "a", b"bytes")
    atomic_write(tmp_path / "sub" / "b", "text")
    atomic_write(tmp_path / "c", lambda fh: fh.write(b"by a function"))
    assert (tmp_path / "a").read_bytes() == b"bytes"
    assert (tmp_path / "sub" / "b").read_text() == "text"
    assert (tmp_path / "c").read_bytes() == b"by a function"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "c", "sub"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "f"
    atomic_write(target, b"old")

    def half(fh):
        fh.write(b"half a ")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, half)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    (tmp_path / f".f.tmp-{dead}").write_bytes(b"torn")
    atomic_write(tmp_path / "f", b"whole")
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_write_errors_name_the_folder_and_say_how_to_resume(tmp_path):
    results = ResultsDir(tmp_path)
    (tmp_path / "blocked").write_text("a file where a folder should be")
    with pytest.raises(OSError, match="cannot write results in .*re-run to resume"):
        results.write(tmp_path / "blocked" / "x.json", "{}")


@pytest.fixture
def folder(tmp_path):
    """Two real cells of different problems (different parameter columns)."""
    for problem in ("branin", "hartmann3"):
        execute_cell(Cell(problem, "random", Budget(4), suite="s"), tmp_path)
    return ResultsDir(tmp_path)


def test_the_reader_reads_only_the_columns_asked_for(folder):
    tables, metas, corrupt = folder.read(["trial", "value", "resume_from"])
    assert [t.column_names for t in tables] == [["trial", "value", "resume_from"]] * 2
    assert corrupt == []
    assert {m["problem"] for m in metas} == {"branin", "hartmann3"}
    # a column that was all null when written is read with its schema type
    assert str(tables[0].schema.field("resume_from").type) == TRIAL_COLUMNS["resume_from"]


def test_a_requested_trial_column_a_file_lacks_is_read_as_nulls(tmp_path):
    results = ResultsDir(tmp_path)
    columns = empty_columns(["x"])
    for c in columns:
        columns[c] = [None]
    del columns["test_value"]  # a file written before the column existed
    path = results.write_cell(results.cell_path("p", "o", 0), columns,
                              {"problem": "p", "optimizer": "o", "repeat": 0})
    table, _ = read_cell(path, ["trial", "test_value"])
    assert table.column("test_value").to_pylist() == [None]


def test_load_gives_one_row_per_trial_with_the_repeat_column(folder):
    frame = load_results(folder.root)
    assert len(frame) == 8 and "repeat" in frame.columns and "seed" not in frame.columns
    assert set(frame["problem"]) == {"branin", "hartmann3"}
    assert frame["param.x2"].isna().sum() == 4  # hartmann3 has x2, branin has not



def test_each_row_carries_the_keys_of_its_own_cell(tmp_path):
    # cells of different sizes and kinds: with an optimum and without, repeats 0 and 3
    execute_cell(Cell("branin", "random", Budget(3), suite="s", repeat=3), tmp_path)
    execute_cell(Cell("hartmann3", "sobol", Budget(5), suite="s"), tmp_path)
    results = ResultsDir(tmp_path)
    results.write_cell(results.cell_path("p", "o", 1), {"trial": [0, 1], "value": [1.0, 2.0]},
                       {"problem": "p", "optimizer": "o", "repeat": 1, "status": "done",
                        "optimum": {"value": None, "kind": ""}})
    # metadata written by hand, with nulls where a writer left them: they stay null
    results.write_cell(results.cell_path("q", "o", 0), {"trial": [0], "value": [1.0]},
                       {"problem": "q", "optimizer": "o", "repeat": 0, "suite": None,
                        "optimum": {"value": 1.5, "kind": None}})
    frame = load_results(tmp_path).sort_values(["problem", "trial"])
    q = frame[frame["problem"] == "q"].iloc[0]
    assert pd.isna(q["suite"]) and pd.isna(q["optimum_kind"]) and q["optimum"] == 1.5
    frame = frame[frame["problem"] != "q"]
    cells = frame.groupby("problem", sort=True)
    assert cells.size().to_dict() == {"branin": 3, "hartmann3": 5, "p": 2}
    first = cells.first()
    assert first["optimizer"].tolist() == ["random", "sobol", "o"]
    assert first["repeat"].tolist() == [3, 0, 1]
    assert first["suite"].tolist() == ["s", "s", ""]
    assert first["optimum_kind"].tolist() == ["exact", "exact", ""]
    assert first["optimum"].iloc[0] == pytest.approx(0.397887, abs=1e-6)
    assert frame.loc[frame["problem"] == "p", "optimum"].isna().all()
    assert (cells.nunique()[["optimizer", "repeat", "cell_status"]] == 1).all().all()
    assert frame["repeat"].dtype == "int64" and frame["optimum"].dtype == "float64"

def test_load_reads_only_the_columns_asked_for(folder):
    frame = load_results(folder.root, ["value", "param.x2", "problem"])
    assert list(frame.columns) == ["trial", "value", "param.x2", "suite", "problem",
                                   "optimizer", "repeat", "optimum", "optimum_kind",
                                   "cell_status"]
    whole = load_results(folder.root)
    assert frame["value"].tolist() == whole["value"].tolist()
    assert frame["param.x2"].isna().sum() == 4


def test_load_names_a_column_that_does_not_exist(folder):
    with pytest.raises(ValueError, match=r"unknown column\(s\) 'vlaue'.*trial columns.*"
                                         r"param\.<name>"):
        load_results(folder.root, ["vlaue"])
    with pytest.raises(ValueError, match=r"has the column\(s\) param\.lr; its parameter "
                                         r"columns: param\.x0, param\.x1, param\.x2"):
        load_results(folder.root, ["value", "param.lr"])
    with pytest.raises(ValueError, match="a list of column names"):
        load_results(folder.root, "value")


def test_a_corrupt_cell_names_its_file(folder):
    path = folder.cell_files()[0]
    path.write_bytes(b"not parquet")
    with pytest.raises(CorruptCell, match=path.name):
        folder.read(["value"])


def test_format_1_cells_are_read_and_renamed_by_a_run(folder):
    new = folder.cell_files()[0]
    old = new.with_name("seed-0.parquet")
    os.replace(new, old)
    assert folder.key_of(old) == folder.key_of(new)
    assert len(folder.read(["value"])[0]) == 2  # the legacy file is read
    folder.migrate()
    assert new.exists() and not old.exists()


def test_a_legacy_file_beside_its_new_name_is_never_read_twice(folder):
    new = folder.cell_files()[0]
    (new.with_name("seed-0.parquet")).write_bytes(new.read_bytes())
    assert len(folder.cell_files()) == 2
    with pytest.warns(UserWarning, match="set aside"):
        folder.migrate()
    assert len(folder.cell_files()) == 2
    assert new.with_name("seed-0.parquet.bad-0").exists()


def test_a_claim_marks_the_cell_running_in_this_process(tmp_path):
    results = ResultsDir(tmp_path)
    assert results.lock_info("p/o/repeat-0") is None
    with results.claim("p/o/repeat-0"):
        info = results.lock_info("p/o/repeat-0")
        assert info["pid"] == os.getpid() and info["stale"] is False
    assert results.lock_info("p/o/repeat-0") is None


def test_a_claim_whose_process_is_gone_is_stale(tmp_path):
    results = ResultsDir(tmp_path)
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    path = results.lock_path("p/o/repeat-0")
    path.parent.mkdir()
    import socket

    path.write_text(json.dumps({"pid": dead, "host": socket.gethostname()}))
    assert results.lock_info("p/o/repeat-0")["stale"] is True


def test_the_cell_file_keeps_its_metadata_and_typed_columns(folder):
    path = folder.cell_files()[0]
    schema = pq.read_schema(path)
    for name, kind in TRIAL_COLUMNS.items():
        assert schema.field(name).type == getattr(pa, kind)(), name
    meta = json.loads(schema.metadata[b"hpbench"])
    assert meta["format"] == 2 and meta["repeat"] == 0 and meta["status"] == "done"
