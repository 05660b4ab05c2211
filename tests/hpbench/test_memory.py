"""``hpbench.memory``: Arrow through malloc and NumPy without huge pages inside the block,
the process's own settings back after it, and a user's explicit choice left alone."""

from __future__ import annotations

import pyarrow as pa

from hpbench import memory


def test_arrow_allocates_through_malloc_inside_and_gets_its_pool_back(monkeypatch):
    monkeypatch.delenv("ARROW_DEFAULT_MEMORY_POOL", raising=False)
    before = pa.default_memory_pool().backend_name
    with memory.large_tables():
        assert pa.default_memory_pool().backend_name == "system"
        kept = pa.array(range(100_000))  # allocated in the block, freed after it
    assert pa.default_memory_pool().backend_name == before
    assert kept.sum().as_py() == sum(range(100_000))


def test_a_pool_the_user_chose_stands(monkeypatch):
    monkeypatch.setenv("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
    before = pa.default_memory_pool().backend_name
    with memory.arrow_system_allocator():
        assert pa.default_memory_pool().backend_name == before


def test_numpy_huge_pages_are_off_inside_and_restored_after(monkeypatch):
    switch = memory._hugepage_switch()
    assert switch is not None  # every NumPy hpbench allows (>= 1.26) has it
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    original = switch(True)  # a known state: on
    try:
        with memory.numpy_small_pages():
            assert switch(False) is False  # it was off inside the block
        assert switch(True) is True  # and on again after it
        monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
        with memory.numpy_small_pages():  # the user's setting stands
            assert switch(True) is True
    finally:
        switch(original)
