"""The same floating-point results on every x86 machine: numpy's AVX-512 kernels are left off.

numpy picks some kernels at import time by the CPU. On a machine with AVX-512 its float64
``exp`` and ``log`` are its own SIMD implementations, which differ from the C library's in
the last bits; elsewhere they are the C library's. Most objectives do not care, but some are
chaotic in those bits: scikit-learn's AdaBoost (SAMME) reweights samples with ``np.exp`` and
``np.log`` every round, a last-bit difference flips a tie in a tree split, and the CV error
of the same config on the same data moved by one to three samples between an AVX-512 and an
AVX2 machine (``sklearn-ada-*``: 0.0371 and 0.0379 on digits). A benchmark whose values depend
on the CPU it ran on cannot be compared across machines, so hpbench leaves numpy's AVX-512
kernels off (``NPY_DISABLE_CPU_FEATURES``) before numpy is imported.

It only takes effect when hpbench is imported before numpy (the ``hpbench`` command, and
scripts that import hpbench first) or when the variable is set in the environment (``make``
sets it). A user who sets ``NPY_DISABLE_CPU_FEATURES`` keeps their value. Every cell records
the kernels numpy actually used (``environment()["numpy_cpu"]``, ``hpbench.execute``).
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

#: numpy >= 2.4's names of its AVX-512 dispatch targets
AVX512 = "X86_V4 AVX512_ICL AVX512_SPR"


def _numpy_version() -> tuple[int, int]:
    try:
        major, minor = importlib.metadata.version("numpy").split(".")[:2]
        return int(major), int(minor)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return (0, 0)


def pin_numpy_kernels() -> None:
    """Leave numpy's AVX-512 kernels off, unless numpy is imported already or the user chose."""
    if "numpy" in sys.modules or "NPY_DISABLE_CPU_FEATURES" in os.environ:
        return
    if _numpy_version() >= (2, 4):  # older numpy names its targets differently
        os.environ["NPY_DISABLE_CPU_FEATURES"] = AVX512


def active_kernels() -> list[str]:
    """The optional kernels (dispatch targets) numpy uses in this process."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # pragma: no cover - numpy < 2
        return []
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]


pin_numpy_kernels()  # on import: hpbench/__init__.py imports this module first
