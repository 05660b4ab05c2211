"""numpy's AVX-512 kernels stay off, so values do not depend on the machine (_numerics)."""

from __future__ import annotations

import os
import subprocess
import sys

from hpbench import _numerics

PROBE = ("import os, sys\n{first}\n"
         "from hpbench._numerics import active_kernels\n"
         "print(os.environ.get('NPY_DISABLE_CPU_FEATURES'))\n"
         "print(','.join(active_kernels()))")


def _probe(first: str, env: dict[str, str]) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "NPY_DISABLE_CPU_FEATURES"} | env
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and not out.stderr, out.stderr
    return out.stdout.splitlines()


def test_importing_hpbench_first_leaves_the_avx512_kernels_off():
    pinned, kernels = _probe("import hpbench", {})
    assert pinned == _numerics.AVX512
    assert not {"X86_V4", "AVX512_ICL", "AVX512_SPR"} & set(kernels.split(","))


def test_a_users_own_setting_is_kept():
    pinned, _ = _probe("import hpbench", {"NPY_DISABLE_CPU_FEATURES": "X86_V3"})
    assert pinned == "X86_V3"


def test_numpy_imported_before_hpbench_is_left_as_it_is():
    pinned, _ = _probe("import numpy, hpbench", {})
    assert pinned == "None"


def test_every_cell_records_the_kernels_numpy_used(cli, tmp_path):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "s"\nproblems = ["branin"]\noptimizers = ["random"]\n'
                     "repeats = 1\nbudget = 3\n")
    res = cli("run", suite, "--out", tmp_path / "out", "--no-progress")
    assert res.returncode == 0, res.stderr
    from hpbench.store import ResultsDir

    (_, meta, _), = ResultsDir(tmp_path / "out").metas()
    assert isinstance(meta["numpy_cpu"], list)
    assert not {"X86_V4", "AVX512_ICL", "AVX512_SPR"} & set(meta["numpy_cpu"])
