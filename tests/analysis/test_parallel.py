"""Per-problem figures drawn by worker processes (``hpbench.analysis.parallel``): the same
files, with the same pictures, as drawing them all in one process."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpbench.analysis import lineup, parallel, regret, style
from hpbench.analysis.report import make_figures
from tests.analysis.build import ranked


def _files(out: Path) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def test_parallel_drawing_writes_the_same_files_as_serial(tmp_path):
    """Both per-problem figures (regret, and validation versus test on problems with test
    values) drawn by the workers: the same files, pixels and report order."""
    res = ranked(tmp_path / "res", n_problems=parallel.MIN_PROBLEMS + 1, repeats=2, test=True)
    serial = make_figures(res, tmp_path / "serial", workers=1)
    par = make_figures(res, tmp_path / "parallel", workers=2)
    assert _files(serial) == _files(par)
    for kind in ("regret", "overfit"):
        pngs = sorted(p for p in _files(serial) if p.startswith(f"{kind}/")
                      and p.endswith(".png"))
        assert len(pngs) == parallel.MIN_PROBLEMS + 1, kind
        # the same pixels: the workers drew the same curves (PDFs carry their creation time)
        for name in pngs:
            assert (serial / name).read_bytes() == (par / name).read_bytes(), name
        # the report shows the figures in the same order
        shown = [re.findall(rf"<code>({kind}/[^<]+\.pdf)</code>",
                            (out / "report.html").read_text()) for out in (serial, par)]
        assert shown[0] == shown[1] and len(shown[0]) == parallel.MIN_PROBLEMS + 1, kind

def test_workers_must_be_positive(tmp_path):
    res = ranked(tmp_path / "res", n_problems=2, repeats=2)
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        make_figures(res, tmp_path / "figs", workers=0)


def test_a_long_curve_is_drawn_through_its_corners_only():
    """The points left out continue a flat step: filling every grid point from the last
    corner at or before it gives back the curve, its gaps (NaN) included."""
    rng = np.random.default_rng(3)
    n = 200
    y = np.minimum.accumulate(rng.choice([4.0, 2.0, 1.0, 0.5], n)[::-1])[::-1].copy()
    y[:7] = np.nan  # no incumbent yet
    lo, hi = y / 2, y * 2
    hi[150:] = np.inf  # a band without an upper end
    at = regret.step_corners(y, lo, hi)
    assert at[0] == 0 and at[-1] == n - 1 and len(at) < n / 2
    last = np.searchsorted(at, np.arange(n), side="right") - 1
    for col in (y, lo, hi):
        np.testing.assert_array_equal(col[at][last], col)


def test_draw_curves_keeps_the_markers_where_they_were():
    _fig, ax = style.new_figure()
    x = np.arange(1.0, 201.0)
    centre = np.repeat([8.0, 4.0, 2.0, 1.0], 50)
    data = pd.DataFrame({"optimizer": "random", "x": x, "centre": centre,
                         "low": centre / 2, "high": centre * 2})
    lu = lineup.lineup(["random"], {"random"})
    drawn = regret.draw_curves(ax, data, lu, ["random"])
    [line] = ax.get_lines()
    assert len(line.get_xdata()) < 40  # corners and marker points, not 200
    marked = np.asarray(line.get_xdata())[line.get_markevery()]
    np.testing.assert_array_equal(marked, x[::25])  # every 200 // 8 = 25th point, as before
    assert len(drawn) == 200  # what is returned is the whole curve
