"""The statistics of the ranking table (benchmarks/test_surrogate_ranking.py, issue 32's
table 2): regrets per instance, and how reproducible an order of optimizers is under a
split of its repeats into halves (the ceiling a surrogate's Kendall tau can reach)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import test_surrogate_ranking as ranking
from hpbench.problems.surrogate import validate


def rows(problem: str, means: dict[str, float], spread: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{"problem": problem, "optimizer": name, "repeat": k, "evals": 40,
             "best": mean + spread * rng.standard_normal(), "cpu_s": 0.0}
            for name, mean in means.items() for k in range(ranking.REPEATS)]


MEANS = {name: float(i) for i, name in enumerate(ranking.NAMES)}


def test_regret_is_against_the_best_of_every_optimizer_on_the_same_instance():
    data = rows("p", MEANS, 0.0)
    data[0]["best"] = None  # random, repeat 0: no full-fidelity result
    table = ranking.regret_table(data, "p", 40)
    assert table.shape == (ranking.REPEATS, len(ranking.NAMES))
    assert table[1].tolist() == [float(i) for i in range(len(ranking.NAMES))]
    assert table[0, 0] == max(MEANS.values()) - 1.0  # the worst of its repeat, from the best


def test_the_order_is_by_mean_rank_on_the_instances():
    data = rows("p", MEANS, 0.0)
    for r in data:  # one huge regret of tpe on repeat 0 moves its mean, not its mean rank
        if r["optimizer"] == "tpe" and r["repeat"] == 0:
            r["best"] = 1e6
    ranks = ranking.mean_ranks(data, "p", 40)
    assert ranks["random"] == 1.0 and ranks["sobol"] == 2.0
    assert ranks["tpe"] == pytest.approx((8 + 9 * 3) / 10)
    assert ranking.mean_regrets(data, "p", 40)["tpe"] > 1e4


def test_well_separated_optimizers_give_an_order_that_agrees_with_itself():
    assert ranking.self_agreement(rows("p", MEANS, 0.05), "p", 40, splits=200) == 1.0


def test_tied_optimizers_give_an_order_that_does_not():
    tied = {name: 0.0 for name in ranking.NAMES}
    assert ranking.self_agreement(rows("p", tied, 1.0), "p", 40, splits=200) < 0.5


COMMON = {"model": "m", "optimizers": "8", "repeats": "10", "budget": "40 FE",
          "live_order": "a < b", "surrogate_order": "b < a", "live_cpu_s": "1.0",
          "surrogate_cpu_s": "0.1"}


@pytest.fixture
def ranking_csv(tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "RANKING", tmp_path / "ranking.csv")
    monkeypatch.setattr(validate, "VALIDATION", tmp_path / "validation.csv")
    return tmp_path / "ranking.csv"


def test_the_docs_table_shows_each_orders_self_agreement(ranking_csv):
    validate.replace_rows(ranking_csv, validate.RANKING_COLUMNS, "new",
                          [{"problem": "new", "kendall_tau": 0.5, "live_self_tau": 0.79,
                            "surrogate_self_tau": 0.64, **COMMON}])
    assert "| new | 8 | 10 | 40 FE | 0.50 | 0.79 / 0.64 | a < b | b < a | 1 / 0.1 |" \
        in validate.markdown()


def test_a_row_written_before_the_self_agreement_shows_a_dash(ranking_csv):
    old = [c for c in validate.RANKING_COLUMNS if "self" not in c]
    row = {"problem": "old", "kendall_tau": "0.9", **COMMON}
    ranking_csv.write_text(",".join(old) + "\n" + ",".join(row[c] for c in old) + "\n")
    assert "| old | 8 | 10 | 40 FE | 0.90 | – | a < b |" in validate.markdown()
