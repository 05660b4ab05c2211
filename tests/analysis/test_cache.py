"""The analysis's cache of a loaded folder (``hpbench.analysis.cache``): a hit gives the same
tables as loading afresh; any changed, added or corrupt cell is seen."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from hpbench.analysis import cache
from hpbench.analysis.load import load
from hpbench.store import ResultsDir
from tests.analysis.build import cell_columns, two_optimizers, write


@pytest.fixture(autouse=True)
def _cache_small_folders(monkeypatch):
    monkeypatch.setattr(cache, "MIN_CELLS", 0)


def _cache_files(folder):
    return sorted((folder / cache.CACHE_DIR).glob("analysis-*.arrow"))


def _same(a, b) -> None:
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y, check_exact=True)
        else:
            assert x == y, f.name


def test_a_cache_hit_gives_the_tables_of_a_fresh_load(tmp_path):
    res = two_optimizers(tmp_path / "res")
    fresh = load(res, cache=False)
    assert not _cache_files(res)
    first = load(res)  # loads and keeps
    [kept] = _cache_files(res)
    hit = load(res)
    assert _cache_files(res) == [kept]
    _same(fresh, first)
    _same(fresh, hit)
    # the hit came from the file: a damaged cache file is not believed, but rebuilt
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0xFF
    kept.write_bytes(bytes(data))
    _same(fresh, load(res))
    assert kept.read_bytes() != bytes(data)


def test_a_changed_cell_invalidates_the_cache(tmp_path):
    res = two_optimizers(tmp_path / "res")
    before = load(res)
    [old] = _cache_files(res)
    # random's repeat 0 on p1 now ends at regret 0.125 instead of 1
    write(res, "p1", "random", 0, cell_columns([5, 3, 4, 0.125]), optimum=0.0)
    after = load(res)
    t = after.trials
    last = t[(t["problem"] == "p1") & (t["optimizer"] == "random") & (t["repeat"] == 0)]
    assert last["regret"].iloc[-1] == 0.125
    assert before.trials["regret"].sum() != t["regret"].sum()
    assert _cache_files(res) != [old] and len(_cache_files(res)) == 1
    _same(after, load(res, cache=False))


def test_a_corrupt_cell_is_reported_although_a_cache_exists(tmp_path):
    res = two_optimizers(tmp_path / "res")
    load(res)
    path = ResultsDir(res).cell_path("p2", "alpha", 1)
    data = bytearray(path.read_bytes())
    data[40] ^= 0x01  # one bit in a data page
    path.write_bytes(bytes(data))
    results = load(res)
    assert any("corrupt cell file is left out" in n and "p2/alpha/repeat-1" in n
               for n in results.notes)
    assert len(results.cells) == 11


def test_a_small_folder_gets_no_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(cache, "MIN_CELLS", 13)  # two_optimizers writes 12 cells
    res = two_optimizers(tmp_path / "res")
    load(res)
    assert not _cache_files(res)


def test_the_first_load_keeps_a_cache_without_hashing_the_files_twice(tmp_path, monkeypatch):
    """With no cache file yet, the checksums the reader verified make the key: the hashing
    pass is skipped, and the next load, which hashes every file, finds that very file."""
    res = two_optimizers(tmp_path / "res")
    real = cache.cell_checksums
    calls = []

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(cache, "cell_checksums", counted)
    first = load(res)
    assert calls == [] and len(_cache_files(res)) == 1
    [kept] = _cache_files(res)
    hit = load(res)
    assert calls == [1] and _cache_files(res) == [kept]
    _same(first, hit)
    # and it is a hit: a load now returns what decoding that file gives
    monkeypatch.setattr(cache, "decode", lambda data, cls: "from the cache")
    assert load(res) == "from the cache"
