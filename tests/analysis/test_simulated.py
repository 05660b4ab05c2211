"""The report's "Parallel methods on simulated workers" section (``analysis/simulated.py``):
a real run on K = 1 and K = 4 simulated workers, its figure drawn against the cells'
virtual clock, and its equal-time table checked against medians of the trial table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpbench import api
from hpbench.analysis import simulated
from hpbench.analysis.load import load
from hpbench.analysis.report import make_figures

OPTIMIZERS = ["random", "asha", "successive-halving", "hyperband"]
PROBLEM = "augmented-branin"
TITLE = "Parallel methods on simulated workers"


@pytest.fixture(scope="module")
def sim_folder(tmp_path_factory) -> Path:
    """Four multi-fidelity methods and random search on 1 and 4 simulated workers, two
    repeats, with the report drawn."""
    folder = tmp_path_factory.mktemp("sim") / "results"
    suite = folder.parent / "sim.toml"
    suite.write_text(f'name = "sim-test"\nproblems = ["{PROBLEM}"]\n'
                     f"optimizers = {OPTIMIZERS!r}\n".replace("'", '"')
                     + "repeats = 2\nbudget = 12\nseed = 3\nsim_workers = [1, 4]\n")
    summary = api.run(str(suite), out=folder)
    assert summary.count("failed") == 0, str(summary)
    make_figures(folder, workers=1)
    return folder


def _cell_files(folder: Path, label: str) -> list[pd.DataFrame]:
    files = sorted((folder / PROBLEM / label).glob("repeat-*.parquet"))
    assert files, f"no cell files for {label}"
    return [pd.read_parquet(f, columns=["v_end"]) for f in files]


def test_section_and_figure_are_in_the_report(sim_folder):
    page = (sim_folder / "figures" / "report.html").read_text()
    assert f"<h2>{TITLE}</h2>" in page
    assert (sim_folder / "figures" / "parallel_4w.png").is_file()
    assert "parallel_4w.pdf" in page
    # only K > 1 gets a figure: one worker is the usual loop
    assert not (sim_folder / "figures" / "parallel_1w.png").exists()
    assert "Li et al. 2020" in page
    # the table sits in the section, after the figure, before the next section
    section = page.split(f"<h2>{TITLE}</h2>", 1)[1].split("<h2>", 1)[0]
    assert "Regret at equal virtual wall time, 4 simulated workers" in section
    for name in OPTIMIZERS:
        assert f"{name}@4w" in section
    assert "@1w" not in section


def test_figure_is_drawn_against_the_cells_virtual_clock(sim_folder):
    results = load(sim_folder)
    fig, drawn = simulated.plot_parallel(results, 4)
    assert set(drawn["optimizer"]) == {f"{o}@4w" for o in OPTIMIZERS}
    assert fig.axes[0].get_xlabel() == "virtual wall time (s), 4 simulated workers"
    everyone = np.concatenate([f["v_end"].to_numpy() for o in OPTIMIZERS
                               for f in _cell_files(sim_folder, f"{o}@4w")])
    assert np.isfinite(everyone).all() and (everyone > 0).all()
    t = results.trials
    cells = results.cells
    checked = 0
    for name in OPTIMIZERS:
        mine = drawn[drawn["optimizer"] == f"{name}@4w"].sort_values("x")
        # the axis runs over the virtual clock of the problem's K = 4 cells: from their
        # first completion to their last
        assert mine["x"].min() == pytest.approx(everyone.min())
        assert mine["x"].max() == pytest.approx(everyone.max())
        ids = cells.index[(cells["problem"] == PROBLEM) & (cells["optimizer"] == f"{name}@4w")]
        for _, point in mine.iloc[::17].iterrows():
            want = float(np.median([_regret_at(t[t["cell"] == i], point["x"]) for i in ids]))
            if np.isfinite(want) and want > 0:
                assert point["y"] == pytest.approx(want)
                checked += 1
    assert checked >= 10
    # with a grid as fine as the completions, every x drawn is one of the cells' v_end
    _, fine = simulated.plot_parallel(results, 4, n=len(everyone) + 1)
    assert np.isin(fine["x"].to_numpy(), everyone).all()
    # not the sequential clock: K = 1 random search takes longer than K = 4
    one = max(f["v_end"].max() for f in _cell_files(sim_folder, "random@1w"))
    four = max(f["v_end"].max() for f in _cell_files(sim_folder, "random@4w"))
    assert four < one


def _regret_at(trials: pd.DataFrame, t: float) -> float:
    """Best-so-far regret of one cell at virtual time ``t``, by a plain scan."""
    done = trials[trials["v_end"] <= t * (1 + 1e-9)]
    if done.empty or done["regret"].isna().all():
        return np.inf
    return float(done["regret"].iloc[-1]) if np.isfinite(done["regret"].iloc[-1]) else np.inf


def test_table_numbers_are_medians_of_the_trial_table(sim_folder):
    results = load(sim_folder)
    t = results.trials
    cells = results.cells
    table = pd.read_csv(sim_folder / "figures" / "tables" / "parallel_4w.csv")
    assert (sim_folder / "figures" / "tables" / "parallel_4w.md").is_file()
    assert (sim_folder / "figures" / "tables" / "parallel_4w.tex").is_file()

    def cell_trials(label: str) -> list[pd.DataFrame]:
        ids = cells.index[(cells["problem"] == PROBLEM) & (cells["optimizer"] == label)]
        return [t[t["cell"] == i] for i in ids]

    spans_random = [float(c["v_end"].max()) for c in cell_trials("random@4w")]
    total = float(np.median(spans_random))
    assert len(table) == len(OPTIMIZERS)
    for name in OPTIMIZERS:
        label = f"{name}@4w"
        row = table[table["optimizer"] == label].iloc[0]
        assert row["T"] == pytest.approx(total)
        mine = cell_trials(label)
        for share in simulated.SHARES:
            want = float(np.median([_regret_at(c, share * total) for c in mine]))
            got = row[f"regret@{share:g}T"]
            assert got == pytest.approx(want) or (np.isinf(want) and np.isinf(got))
        span = float(np.median([c["v_end"].max() for c in mine]))
        assert row["makespan"] == pytest.approx(span)
    # T is random search's median makespan: a random cell that ended by T has its final
    # regret there (the clock here is measured, so which cells end by T varies run to run)
    ended = [c for c in cell_trials("random@4w") if float(c["v_end"].max()) <= total]
    assert ended
    for c in ended:
        assert _regret_at(c, total) == float(c["regret"].iloc[-1])


def test_no_section_without_simulated_cells(tmp_path):
    folder = tmp_path / "plain"
    api.run("smoke", problems=[PROBLEM], optimizers=["random", "asha"], repeats=1,
            budget=6, out=folder)
    make_figures(folder, workers=1)
    page = (folder / "figures" / "report.html").read_text()
    assert TITLE not in page
    assert not list((folder / "figures").glob("parallel_*"))
    assert not list((folder / "figures" / "tables").glob("parallel_*"))
    assert simulated.worker_counts(load(folder)) == []
