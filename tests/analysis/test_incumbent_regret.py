"""Incumbent regret: the true value of the config the optimizer would return, next to the
oracle regret (the best true value among the evaluated points); incumbent regret on noisy
problems by default, said so on the axes; files written before the ``incumbent`` column."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from hpbench import api
from hpbench.analysis import style
from hpbench.analysis.load import load, select_regret
from hpbench.cli import main
from tests.analysis.build import cell_columns, write


@pytest.fixture(scope="module")
def noisy_folder(tmp_path_factory):
    """A real run: random search and gp-bo (which recommends by its posterior mean) on
    branin-noisy and the noise-free branin, two repeats of 14 evaluations."""
    out = tmp_path_factory.mktemp("incumbent") / "results"
    api.run("smoke", problems=["branin-noisy", "branin"], optimizers=["random", "gp-bo"],
            repeats=2, budget=14, out=out)
    return out


def test_incumbent_regret_is_never_below_the_oracle_and_differs_on_a_noisy_problem(
        noisy_folder):
    r = load(noisy_folder)
    t = r.trials
    assert bool(r.problems.at["branin-noisy", "noisy"])
    assert not bool(r.problems.at["branin", "noisy"])
    defined = t["oracle_regret"].notna()
    assert (t.loc[defined, "incumbent_regret"]
            >= t.loc[defined, "oracle_regret"] - 1e-12).all()
    noisy = t[(t["problem"] == "branin-noisy") & defined]
    assert (noisy["incumbent_regret"] > noisy["oracle_regret"] + 1e-9).any()
    # auto: what the figures read is incumbent regret on the noisy problem only
    assert np.allclose(noisy["regret"], noisy["incumbent_regret"])
    plain = t[(t["problem"] == "branin") & defined]
    assert np.allclose(plain["regret"], plain["oracle_regret"])
    assert list(r.problems["metric"]) == ["oracle", "incumbent"]  # branin, branin-noisy
    assert any("incumbent regret" in n and "branin-noisy" in n for n in r.notes)
    # gp-bo's hook was recorded: its incumbent is not always the best observed value
    gp = t[(t["optimizer"] == "gp-bo") & (t["problem"] == "branin-noisy")]
    best_seen = gp.groupby("cell")["value"].cummin().to_numpy()
    chosen = gp[["cell", "incumbent"]].merge(gp[["cell", "trial", "value"]], how="left",
                                             left_on=["cell", "incumbent"],
                                             right_on=["cell", "trial"])["value"].to_numpy()
    assert (chosen > best_seen).any()


def test_the_metric_is_chosen_in_one_place_and_refused_when_unknown(noisy_folder):
    r = load(noisy_folder, regret="oracle")
    assert (r.trials["regret"].fillna(-1) == r.trials["oracle_regret"].fillna(-1)).all()
    assert r.ref_label("branin-noisy") == "oracle regret" and r.metric_note() == ""
    select_regret(r, "incumbent")
    assert (r.trials["regret"].fillna(-1) == r.trials["incumbent_regret"].fillna(-1)).all()
    assert r.ref_label("branin") == "incumbent regret"
    assert r.ref_label("branin-noisy") == "incumbent regret (noisy problem)"
    with pytest.raises(ValueError, match=r"regret metric must be one of \['auto', 'oracle', "
                                         r"'incumbent'\], got 'best'"):
        select_regret(r, "best")


def test_hpbench_figures_regret_incumbent_labels_its_axes(noisy_folder, tmp_path,
                                                          monkeypatch):
    labels: dict[str, list[str]] = {}
    save = style.save

    def keep(fig: Figure, stem, **kw):
        labels[stem.name] = [ax.get_ylabel() for ax in fig.axes]
        return save(fig, stem, **kw)

    monkeypatch.setattr(style, "save", keep)
    assert main(["figures", noisy_folder, "--out", tmp_path / "f", "--regret",
                 "incumbent"]) == 0
    assert labels["branin-noisy"][0] == "incumbent regret (noisy problem)"
    assert labels["branin"][0] == "incumbent regret"
    assert any("of incumbent regret" in y for y in labels["normalized_regret"])
    table = (tmp_path / "f" / "tables" / "regret_14_evaluations.md").read_text()
    assert "| branin-noisy | optimum; incumbent |" in table
    report = (tmp_path / "f" / "report.html").read_text()
    assert "regret is incumbent regret" in report


def test_a_file_written_before_the_incumbent_column_still_loads(tmp_path):
    # noisy values 1.0, 0.5, 2.0 of true values 3, 4, 1.5: the best observed is trial 1
    cols = cell_columns([1.0, 0.5, 2.0], true_values=[3.0, 4.0, 1.5])
    del cols["incumbent"]
    write(tmp_path, "n", "a", 0, cols, optimum=1.0, budget=3)
    r = load(tmp_path)
    assert r.trials["incumbent"].tolist() == [0, 1, 1]
    assert r.trials["incumbent_regret"].tolist() == [2.0, 3.0, 3.0]
    assert r.trials["oracle_regret"].tolist() == [2.0, 2.0, 0.5]
    assert r.trials["regret"].tolist() == [2.0, 3.0, 3.0]  # noisy: incumbent by default


def test_a_recorded_recommendation_overrides_the_best_observed_value(tmp_path):
    cols = cell_columns([1.0, 0.5, 2.0], true_values=[3.0, 4.0, 1.5])
    cols["incumbent"] = [None, 0, 2]  # no opinion yet, then trial 0, then trial 2
    write(tmp_path, "n", "a", 0, cols, optimum=1.0, budget=3)
    r = load(tmp_path, regret="incumbent")
    assert r.trials["incumbent"].tolist() == [0, 0, 2]
    assert r.trials["incumbent_regret"].tolist() == [2.0, 2.0, 0.5]
