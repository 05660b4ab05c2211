import json
import math

import numpy as np
import pandas as pd
import pytest

from hpbench.analysis.load import COLUMNS, ResultsError, load, suite_fingerprint
from hpbench.store import load_results
from hpbench.trials import TRIAL_COLUMNS
from tests.analysis.build import cell_columns, two_optimizers, write


def _cell(r, problem, optimizer, repeat):
    t = r.trials
    return t[(t["problem"] == problem) & (t["optimizer"] == optimizer) & (t["repeat"] == repeat)]


def test_best_so_far_and_regret_by_hand(tmp_path):
    r = load(two_optimizers(tmp_path))
    assert r.optimizers == ["alpha", "random"]  # no suite.toml: alphabetical
    c = _cell(r, "p1", "alpha", 2)  # [6, failed, 2, 1]
    assert list(c["status"]) == ["ok", "failed", "ok", "ok"]
    assert list(c["best"]) == [6, 6, 2, 1]
    assert list(c["regret"]) == [6, 6, 2, 1]
    assert list(_cell(r, "p1", "random", 1)["regret"]) == [3, 3, 2, 2]
    assert list(_cell(r, "p1", "random", 0)["evals"]) == [1, 2, 3, 4]
    assert list(_cell(r, "p1", "random", 0)["frac"]) == [0.25, 0.5, 0.75, 1.0]
    assert r.problems.at["p1", "ref_kind"] == "optimum"
    assert r.ref_label("p1") == "regret"


def test_unknown_optimum_is_measured_per_instance_and_said(tmp_path):
    r = load(two_optimizers(tmp_path))
    assert r.problems.at["p2", "ref_kind"] == "best seen"
    assert r.ref_label("p2") == "regret vs best seen"
    # instance (repeat) 1: best seen 0.5 (alpha's last trial)
    assert list(_cell(r, "p2", "random", 1)["regret"]) == [3.5, 3.5, 0.5, 0.5]
    assert list(_cell(r, "p2", "alpha", 1)["regret"]) == [1.5, 1.5, 1.5, 0.0]
    # instance 2: best seen 0.8
    assert _cell(r, "p2", "random", 2)["regret"].tolist() == pytest.approx([0.2] * 4)
    assert any("vs best seen" in n and "p2" in n for n in r.notes)


def test_repeats_of_one_instance_share_the_best_seen(tmp_path):
    # the same fingerprint for every repeat: one instance, one reference
    write(tmp_path, "p", "a", 0, cell_columns([3, 2]), fingerprint="same", budget=2)
    write(tmp_path, "p", "a", 1, cell_columns([5, 4]), fingerprint="same", budget=2)
    r = load(tmp_path)
    assert list(_cell(r, "p", "a", 1)["regret"]) == [3, 2]


def test_low_fidelity_and_failed_trials_never_become_the_incumbent(tmp_path):
    # fidelity 1..9: trials at 1 are cheaper and lower, but not full-fidelity results
    cols = cell_columns([0.1, 2.0, 0.01, 1.0], fidelity=[1, 9, 1, 9], f_max=9)
    write(tmp_path, "f", "a", 0, cols, optimum=0.0, fidelity=(1, 9))
    r = load(tmp_path)
    c = _cell(r, "f", "a", 0)
    assert list(c["full"]) == [False, True, False, True]
    assert c["regret"].iloc[0] != c["regret"].iloc[0]  # NaN: nothing at full fidelity yet
    assert list(c["regret"])[1:] == [2.0, 2.0, 1.0]
    assert c["evals"].tolist() == pytest.approx([1 / 9, 10 / 9, 11 / 9, 20 / 9])


def test_true_value_not_the_noisy_value_defines_regret(tmp_path):
    cols = cell_columns([1.0, 0.5, 2.0], true_values=[3.0, 4.0, 1.5])
    write(tmp_path, "n", "a", 0, cols, optimum=1.0, budget=3)
    r = load(tmp_path, regret="oracle")
    c = _cell(r, "n", "a", 0)
    assert list(c["regret"]) == [2.0, 2.0, 0.5]
    # the optimizer's own incumbent (best observed value) is trial 1
    assert list(c["inc_value"]) == [1.0, 0.5, 0.5]
    # whose true value is what incumbent regret scores; the figures' default on a noisy
    # problem, said so on the axis
    assert list(c["incumbent"]) == [0, 1, 1]
    assert list(c["incumbent_regret"]) == [2.0, 3.0, 3.0]
    auto = load(tmp_path)
    assert list(_cell(auto, "n", "a", 0)["regret"]) == [2.0, 3.0, 3.0]
    assert auto.ref_label("n") == "incumbent regret (noisy problem)"
    assert r.ref_label("n") == "oracle regret"


def test_beaten_best_known_value_becomes_the_reference(tmp_path):
    write(tmp_path, "b", "a", 0, cell_columns([3.0, 0.5]), optimum=1.0, kind="best-known",
          budget=2)
    r = load(tmp_path)
    assert r.problems.at["b", "ref_kind"] == "best known"
    assert r.ref_label("b") == "regret vs best known"
    assert list(_cell(r, "b", "a", 0)["regret"]) == [2.5, 0.0]
    assert any("beat the best-known value on 1 instance(s)" in n for n in r.notes)


def test_a_best_known_value_missed_by_round_off_only_is_not_reported_as_beaten(tmp_path):
    # ridge-hypergrad's optimum is a solver's result: a run reaches it to the last bit or
    # one ulp below; regret stays >= 0 (the reference is the lower value), but the report
    # does not claim the table was beaten
    best = 2.5080995
    below = np.nextafter(np.nextafter(best, 0.0), 0.0)
    write(tmp_path, "b", "a", 0, cell_columns([3.0, below]), optimum=best, kind="best-known",
          budget=2)
    r = load(tmp_path)
    assert list(_cell(r, "b", "a", 0)["regret"]) == [3.0 - below, 0.0]
    assert not r.notes

def test_each_repeat_is_measured_against_its_own_instances_best_known(tmp_path):
    # scikit-learn tasks: every repeat is another data split with its own best-known loss;
    # repeat 1's regret must not be measured against repeat 0's value
    write(tmp_path, "b", "a", 0, cell_columns([3.0, 2.0]), optimum=1.0, kind="best-known",
          budget=2)
    write(tmp_path, "b", "a", 1, cell_columns([4.0, 2.5]), optimum=2.0, kind="best-known",
          budget=2)
    write(tmp_path, "b", "c", 1, cell_columns([2.25, 3.0]), optimum=2.0, kind="best-known",
          budget=2)
    r = load(tmp_path)
    assert r.problems.at["b", "ref_kind"] == "best known"
    assert list(_cell(r, "b", "a", 0)["regret"]) == [2.0, 1.0]
    assert list(_cell(r, "b", "a", 1)["regret"]) == [2.0, 0.5]
    assert list(_cell(r, "b", "c", 1)["regret"]) == [0.25, 0.25]
    assert not r.notes


def test_a_problem_with_best_known_values_for_some_repeats_only_is_vs_best_seen(tmp_path):
    write(tmp_path, "b", "a", 0, cell_columns([3.0, 2.0]), optimum=1.0, kind="best-known",
          budget=2)
    write(tmp_path, "b", "a", 1, cell_columns([4.0, 2.5]), budget=2)
    r = load(tmp_path)
    assert r.problems.at["b", "ref_kind"] == "best seen"
    assert list(_cell(r, "b", "a", 0)["regret"]) == [1.0, 0.0]
    assert list(_cell(r, "b", "a", 1)["regret"]) == [1.5, 0.0]
    assert any("known for 1 of 2 cells only" in n for n in r.notes)


def test_matches_the_store_loader_row_for_row(tmp_path):
    two_optimizers(tmp_path)
    r = load(tmp_path)
    ref = load_results(tmp_path)
    assert len(ref) == len(r.trials)
    keys = ["problem", "optimizer", "repeat", "trial"]
    a = r.trials[[*keys, "value", "budget_used"]].astype({"problem": str, "optimizer": str})
    b = ref[[*keys, "value", "budget_used"]].astype({"problem": str, "optimizer": str})
    pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True),
                                  b.sort_values(keys).reset_index(drop=True),
                                  check_dtype=False)


def test_not_applicable_cells_have_no_rows_and_a_note(tmp_path):
    two_optimizers(tmp_path)
    write(tmp_path, "p1", "hb", 0, cell_columns([]), status="not-applicable", optimum=0.0)
    r = load(tmp_path)
    assert (r.trials["optimizer"] == "hb").sum() == 0
    assert r.cells.loc[r.cells["optimizer"] == "hb", "n_rows"].tolist() == [0]
    assert any("not applicable" in n and "hb on p1" in n for n in r.notes)


def test_fingerprint_from_run_json_else_from_the_cells(tmp_path):
    two_optimizers(tmp_path)
    r = load(tmp_path)
    assert r.fingerprint_source == "cell metadata"
    assert r.fingerprint == suite_fingerprint(r.metas)
    # the order of the cells does not matter; a changed instance does
    assert suite_fingerprint(list(reversed(r.metas))) == r.fingerprint
    changed = [dict(m) for m in r.metas]
    changed[0]["fingerprint"] = "other"
    assert suite_fingerprint(changed) != r.fingerprint
    (tmp_path / "run.json").write_text(json.dumps({"suite": "x", "suite_fingerprint": "f00"}))
    r2 = load(tmp_path)
    assert (r2.fingerprint, r2.fingerprint_source, r2.suite) == ("f00", "run.json", "x")


def test_suite_order_fixes_the_optimizer_order(tmp_path):
    two_optimizers(tmp_path)
    # names as written (not looked up in the registry); a group's optimizers come after the
    # suite's own
    (tmp_path / "suite.toml").write_text(
        'name = "h"\nproblems = ["p1"]\noptimizers = ["random", "not-run"]\n'
        '[[groups]]\nproblems = ["p2"]\noptimizers = ["alpha"]\n')
    r = load(tmp_path)
    assert r.optimizers == ["random", "alpha"]
    assert r.suite_toml.startswith('name = "h"')


@pytest.mark.parametrize("text", ['name = "h"\noptimizers = ["random", "alpha"]\n',
                                  "not [toml"])
def test_an_unreadable_suite_file_leaves_the_alphabetical_order(tmp_path, text):
    two_optimizers(tmp_path)
    (tmp_path / "suite.toml").write_text(text)  # the first lacks its problems
    r = load(tmp_path)
    assert r.optimizers == ["alpha", "random"]
    assert r.suite_toml == text  # still shown in the report as it is


def test_an_empty_folder_is_refused_and_a_corrupt_cell_left_out_and_noted(tmp_path):
    with pytest.raises(ResultsError, match="no cell files"):
        load(tmp_path)
    two_optimizers(tmp_path)
    whole = load(tmp_path)
    bad = tmp_path / "p1" / "alpha" / "repeat-0.parquet"
    bad.write_bytes(b"not parquet")
    r = load(tmp_path)
    assert len(r.cells) == len(whole.cells) - 1
    assert not ((r.cells["problem"] == "p1") & (r.cells["optimizer"] == "alpha")
                & (r.cells["repeat"] == 0)).any()
    assert any("corrupt cell file is left out" in n and "repeat-0" in n for n in r.notes)
    for f in tmp_path.rglob("repeat-*.parquet"):
        f.write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match="no readable cell file"):
        load(tmp_path)


def test_cells_of_the_first_format_seed_k_are_read_as_repeats(tmp_path):
    new = load(two_optimizers(tmp_path / "new"))
    old = two_optimizers(tmp_path / "old")
    for f in old.glob("*/*/repeat-*.parquet"):
        f.rename(f.with_name(f.name.replace("repeat-", "seed-")))
    r = load(old)
    keys = ["problem", "optimizer", "repeat", "trial"]
    pd.testing.assert_frame_equal(r.trials[[*keys, "regret"]], new.trials[[*keys, "regret"]])
    assert "seed" not in r.trials and "seed" not in r.cells


def test_reads_the_store_columns_it_needs_and_fills_missing_ones(tmp_path):
    assert set(COLUMNS) <= set(TRIAL_COLUMNS)  # the store's names, not a copy of its schema
    cols = cell_columns([3.0, 2.0])
    del cols["test_value"], cols["tell_s"]  # a file written before these columns existed
    write(tmp_path, "p", "a", 0, cols, optimum=0.0, budget=2)
    r = load(tmp_path)
    assert set(COLUMNS) <= set(r.trials.columns)
    assert "config" not in r.trials and "info" not in r.trials
    assert r.trials["test_value"].isna().all() and r.trials["tell_s"].isna().all()
    assert isinstance(r.trials["status"].dtype, pd.CategoricalDtype)
    assert list(r.trials["regret"]) == [3.0, 2.0]


def test_wall_time_counts_from_the_cells_first_start(tmp_path):
    cols = cell_columns([3, 2, 1], ask_s=[0.0, 0.0, 0.0], t0=50.0)
    write(tmp_path, "w", "a", 0, cols, optimum=0.0, budget=3)
    r = load(tmp_path)
    assert _cell(r, "w", "a", 0)["wall"].tolist() == pytest.approx([0.01, 0.02, 0.03])
    assert math.isclose(r.problems.at["w", "r0"], 3.0)
    assert np.isfinite(r.trials["t_start"]).all()
