"""`hpbench tabulate`: recordings of live problems for their surrogates
(hpbench.problems.surrogate.record)."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hpbench import Budget, Float, Problem, Space, make_optimizer
from hpbench.cli import main as cli_main
from hpbench.locks import claim
from hpbench.problem import Fidelity
from hpbench.problems.sklearn.best_known import read_table
from hpbench.problems.surrogate import record as rec
from hpbench.registry import make_problem

TYPES = {"int64": pa.int64(), "float64": pa.float64(), "string": pa.string()}


def _rows(folder):
    return pq.read_table(folder / rec.RECORDING)


def _same_but_the_clock(a, b) -> bool:
    """Whether two recordings hold the same rows and metadata but for what the clock
    measured (NaN equal to NaN)."""
    rows = [_rows(f).drop_columns(["seconds"]).to_pandas() for f in (a, b)]
    metas = [json.loads((f / rec.META).read_text()) for f in (a, b)]
    for meta in metas:
        del meta["cpu_seconds"], meta["versions"]
    return rows[0].equals(rows[1]) and metas[0] == metas[1]


@pytest.mark.parametrize("fid", [Fidelity(2, 32, "n", integer=True),
                                 Fidelity(4, 64, "it", integer=True),
                                 Fidelity(0.0625, 1.0, "frac"), Fidelity(1, 27, "e", True)])
@pytest.mark.parametrize("eta", [2, 3])
def test_the_recorded_levels_hold_every_rung_hyperband_asks_for(fid, eta):
    """A surrogate answers a multi-fidelity optimizer from recorded levels, not between them:
    the default levels of a problem without checkpoints hold Hyperband's whole ladder."""

    class Fid(Problem):
        def __init__(self) -> None:
            super().__init__(Space(x=Float(0.0, 1.0)), name="fid", fidelity=fid)
            self.capabilities = frozenset({"fidelity"})

        def _evaluate(self, config, *, fidelity=None, ctx=None):
            return 0.0

    problem = Fid()
    opt = make_optimizer("hyperband", problem.space, seed=0, budget=Budget(100),
                         fidelity=fid, eta=eta)
    assert set(opt.ladder) <= set(rec.default_levels(problem))
    assert opt.ladder == fid.ladder(eta)


def test_default_levels_per_kind_of_fidelity():
    assert rec.default_levels(make_problem("torch-cnn-digits", epochs=4)) == [1, 2, 3, 4]
    # n_estimators 2…32 without checkpoints: the rungs of η = 2 and 3 and the ends
    assert rec.default_levels(make_problem("sklearn-rf-wine-logloss")) == \
        [2, 4, 8, 11, 16, 32]
    assert rec.default_levels(make_problem("sklearn-svc-breast_cancer-error")) == \
        [0.0625, 1 / 9, 0.125, 0.25, 1 / 3, 0.5, 1.0]
    assert rec.default_levels(make_problem("branin")) == [rec.NO_FIDELITY]


def test_the_design_puts_the_best_known_configs_first_and_extends_a_shorter_one():
    problem = make_problem("sklearn-rf-wine-logloss")
    known = {json.dumps(r.config, sort_keys=True) for (t, _), r in read_table().items()
             if t == problem.name}
    long = rec.design(problem, 40)
    origins = [o for o, _ in long]
    k = origins.count("best-known")
    assert k == len(known) and origins == ["best-known"] * k + ["sobol"] * (40 - k)
    assert {rec.canonical(c) for _, c in long[:k]} == known
    assert rec.design(problem, 25) == long[:25]
    for _, config in long:
        problem.space.validate(config)
    assert len({rec.canonical(c) for _, c in long}) == 40


def test_a_recording_has_the_schema_and_the_live_values(tmp_path):
    plan = rec.make_plan("sklearn-dt-iris-error", 4, seeds=[0, 1], command="x")
    folder = rec.record(plan, tmp_path)
    table = _rows(folder)
    assert {f.name: f.type for f in table.schema} == \
        {k: TYPES[v] for k, v in rec.COLUMNS.items()}
    assert pq.ParquetFile(folder / rec.RECORDING).metadata.row_group(0).column(0) \
        .compression == "ZSTD"
    df = table.to_pandas()
    assert len(df) == 4 * 2 * 7 and set(df.status) == {"ok"}
    assert sorted(df.config_id.unique()) == [0, 1, 2, 3] and set(df.seed) == {0, 1}
    assert (df.seconds > 0).all()
    meta = json.loads((folder / rec.META).read_text())
    assert meta["levels"] == sorted(df.fidelity.unique()) and meta["n_configs"] == 4
    assert meta["fingerprints"] == {str(s): make_problem("sklearn-dt-iris-error", seed=s)
                                    .fingerprint() for s in (0, 1)}
    assert meta["cpu_seconds"] == pytest.approx(df.seconds.sum(), abs=1e-2)
    assert {"sklearn", "scikit-learn", "torch"} & set(meta["versions"])
    assert not (folder / rec.PARTS).exists()
    # every row is what the live problem returns from scratch at that level
    live = {s: make_problem("sklearn-dt-iris-error", seed=s) for s in (0, 1)}
    for r in df.sample(6, random_state=0).itertuples():
        ev = live[r.seed].evaluate(json.loads(r.config), fidelity=r.fidelity)
        assert (r.value, r.test_value, r.cost) == (ev.value, ev.test_value, ev.cost)


def test_a_torch_learning_curve_recorded_by_resuming_equals_training_from_scratch(tmp_path):
    plan = rec.make_plan("torch-mlp-digits", 2, seeds=[3], settings={"epochs": 3})
    assert plan.resumed and plan.levels == [1.0, 2.0, 3.0]
    df = _rows(rec.record(plan, tmp_path)).to_pandas()
    live = make_problem("torch-mlp-digits", seed=3, epochs=3)
    for r in df.itertuples():
        ev = live.evaluate(json.loads(r.config), fidelity=r.fidelity)
        # bit for bit: the resumed training is the straight one (problems/torch/nets.py)
        assert (r.value, r.test_value, r.cost) == (ev.value, ev.test_value, r.fidelity)
    for _, curve in df.groupby("config_id"):
        assert curve.seconds.is_monotonic_increasing  # cumulative CPU seconds


def test_an_interrupted_recording_resumes_to_the_same_file(tmp_path, monkeypatch):
    plan = rec.make_plan("augmented-branin", 4, seeds=[0, 1])
    whole = rec.record(plan, tmp_path / "whole")
    calls = {"n": 0}
    real = rec.record_unit

    def dies_at_the_fifth(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(rec, "record_unit", dies_at_the_fifth)
    with pytest.raises(KeyboardInterrupt):
        rec.record(plan, tmp_path / "resumed")
    parts = tmp_path / "resumed" / "augmented-branin" / rec.PARTS
    assert len(list(parts.glob("*.parquet"))) == 4
    assert not (parts.parent / rec.RECORDING).exists()
    monkeypatch.setattr(rec, "record_unit", real)
    calls["n"] = 0
    again = rec.record(plan, tmp_path / "resumed", skip_existing=True)
    assert _same_but_the_clock(again, whole)
    # a longer recording keeps the units of the finished one
    monkeypatch.setattr(rec, "record_unit", dies_at_the_fifth)
    longer = rec.make_plan("augmented-branin", 6, seeds=[0, 1])
    rec.record(longer, tmp_path / "resumed", skip_existing=True)
    assert calls["n"] == 4
    n = len(_rows(whole))
    assert _rows(again).slice(0, n).drop_columns(["seconds"]).to_pandas().equals(
        _rows(whole).drop_columns(["seconds"]).to_pandas())


def test_units_held_by_another_process_are_left_to_it(tmp_path):
    plan = rec.make_plan("augmented-branin", 2, seeds=[0])
    held = rec._part(tmp_path / "augmented-branin", 1, 0)
    held.parent.mkdir(parents=True)
    with claim(f"{held}.lock") as mine:
        assert mine
        assert rec.record(plan, tmp_path, skip_existing=True) is None
    assert len(list(held.parent.glob("*.parquet"))) == 1
    assert rec.record(plan, tmp_path, skip_existing=True) is not None


def test_a_shorter_recording_leaves_the_parts_of_a_longer_one_alone(tmp_path, monkeypatch):
    longer = rec.make_plan("augmented-branin", 4, seeds=[0])
    shorter = rec.make_plan("augmented-branin", 2, seeds=[0])
    folder = tmp_path / "augmented-branin"
    rec._work(longer, folder, progress=False, keep=True)  # a process stopped before assembling
    assert rec.record(shorter, tmp_path, skip_existing=True) == folder
    assert len(list((folder / rec.PARTS).glob("*.parquet"))) == 2  # configs 2 and 3

    def must_not_run(*args):
        raise AssertionError("every unit was recorded already")

    monkeypatch.setattr(rec, "record_unit", must_not_run)
    assert rec.record(longer, tmp_path, skip_existing=True) == folder
    assert list(_rows(folder).to_pandas().config_id.unique()) == [0, 1, 2, 3]
    assert not (folder / rec.PARTS).exists()


def test_workers_split_the_units_and_write_what_one_process_writes(tmp_path):
    plan = rec.make_plan("augmented-branin", 4, seeds=[0, 1])
    one = rec.record(plan, tmp_path / "one")
    two = rec.record(plan, tmp_path / "two", workers=2)
    assert _same_but_the_clock(one, two)


def test_the_command_records_and_says_what_it_wrote(tmp_path, capsys):
    assert cli_main(["tabulate", "branin", "--configs", "3", "--seeds", "0", "--out",
                     str(tmp_path), "--quiet"]) == 0
    assert "3 rows (3 configs x 1 seeds x 1 levels), 0 failed" in capsys.readouterr().out
    meta = json.loads((tmp_path / "branin" / rec.META).read_text())
    assert meta["command"] == "hpbench tabulate branin --configs 3 --seeds 0"
    assert set(_rows(tmp_path / "branin").to_pandas().fidelity) == {rec.NO_FIDELITY}


@pytest.mark.parametrize("args, message", [
    (["nope", "--configs", "3"], "unknown problem 'nope'"),
    (["branin", "--configs", "0"], "--configs must be an integer >= 1, got 0"),
    (["branin", "--configs", "2", "--seeds", ","], "--seeds must name at least one"),
    (["branin", "--configs", "2", "--levels", "1"], "branin has no fidelity"),
    (["torch-cnn-digits", "--configs", "2", "--levels", "0.5"],
     "fidelity must be in [1, 15], got 0.5"),
    (["torch-cnn-digits", "--configs", "2", "--set", "epochs=1"],
     "epochs must be an integer >= 2"),
    (["branin", "--configs", "2", "--workers", "0"], "--workers must be an integer >= 1"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert cli_main(["tabulate", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists()


def test_failed_evaluations_are_rows_with_status_failed(tmp_path, monkeypatch):
    plan = rec.make_plan("branin", 2, seeds=[0])
    problem = plan.instance(0)
    real = problem.evaluate

    def fails_on_the_second(config, **kw):
        if config == plan.configs[1][1]:
            raise RuntimeError("boom")
        return real(config, **kw)

    monkeypatch.setattr(problem, "evaluate", fails_on_the_second)
    df = _rows(rec.record(plan, tmp_path)).to_pandas()
    assert list(df.status) == ["ok", "failed"] and math.isnan(df.value[1])
    assert json.loads((tmp_path / "branin" / rec.META).read_text())["n_failed"] == 1
