"""``hpbench compare NAME --against …``: one optimizer run against the others and reported —
the lineup, a real run, figures with NAME highlighted, and a summary whose claims are
checked against the stored trials."""

from __future__ import annotations

import re

import numpy as np
import pytest

from hpbench.analysis import compare as cmp
from hpbench.analysis.families import family_of
from hpbench.analysis.load import load
from hpbench.registry import list_optimizers


def test_lineup_of_a_family_all_and_named_ones():
    family = cmp.lineup("tpe", "model_based")
    assert family[0] == "tpe" and "random" in family and "gp-bo" in family
    assert {family_of(n) for n in family if n != "random"} == {"model_based"}
    everyone = cmp.lineup("tpe", "all")
    assert everyone[0] == "tpe" and sorted(everyone) == sorted(list_optimizers())
    assert cmp.lineup("tpe", "de, cma-es") == ["tpe", "de", "cma-es", "random"]


@pytest.mark.parametrize("name, against, words", [
    ("tpx", "all", ["unknown optimizer 'tpx'", "did you mean tpe", "hpbench list optimizers"]),
    ("tpe", "modelbased", ["--against 'modelbased'", "model_based", "all"]),
    ("tpe", "de,nosuch", ["unknown: nosuch"]),
    ("tpe", "tpe", ["no optimizer to compare tpe with"]),
])
def test_bad_names_are_one_line_and_exit_2(cli, tmp_path, name, against, words):
    out = tmp_path / "out"
    res = cli("compare", name, "--against", against, "--out", out)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpbench compare:"), res.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists()


def _final_medians(out, budget):
    """Median over repeats of each (problem, optimizer)'s best regret within the budget."""
    r = load(out)
    t = r.trials
    final = t.groupby(["problem", "optimizer", "repeat"])["regret"].min()
    return final.groupby(["problem", "optimizer"]).median()


def test_compare_runs_reports_and_its_claims_hold(cli, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "sobol", "--against", "baselines", "--problems", "branin,hartmann6",
            "--repeats", "2", "--budget", "10", "--out", out, "--no-progress"]
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    figures = out / "figures"
    summary = (figures / "compare.md").read_text()
    assert summary.startswith("# sobol against ")
    assert summary.split("\nFigures:")[0].strip() in res.stdout
    assert (figures / "report.html").is_file()
    assert "highlighted" in (figures / "report.html").read_text()
    for png in ("normalized_regret.png", "ranks.png", "ecdf.png"):
        assert (figures / png).stat().st_size > 0

    # every optimizer of the family ran, and random search
    r = load(out)
    assert set(r.optimizers) == set(cmp.lineup("sobol", "baselines"))

    # the per-problem claims at the full budget agree with the stored trials
    at_full = summary.split("## At 10 evaluations")[1]
    med = _final_medians(out, 10)
    best_line = re.search(r"- best on (\d+) of 2 problems(?:: (.*))?", at_full)
    claimed_best = set(filter(None, (best_line.group(2) or "").split(", ")))
    for problem in ("branin", "hartmann6"):
        row = med.loc[problem]
        if problem in claimed_best:  # the lowest median (ties broken by the mean)
            assert row["sobol"] <= row.min() + 1e-12, (problem, row.to_dict())
        else:
            assert row["sobol"] >= row.min(), (problem, row.to_dict())
    assert re.search(r"- mean rank \d\.\d\d over 2 problems: (joint )?\d+(st|nd|rd|th) of "
                     rf"{len(r.optimizers)}", at_full), at_full

    # a re-run redoes nothing: every cell is skipped, the summary is the same
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    n_cells = 2 * 2 * len(r.optimizers)
    assert f"{n_cells} cells ({n_cells} skipped)" in again.stdout, again.stdout
    assert (figures / "compare.md").read_text() == summary
    assert np.isfinite(med.to_numpy()).all()
