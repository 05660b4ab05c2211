"""The SMAC3 adapters (``optimizers/adapters/smac_.py``): parity of ``smac-hpo`` with SMAC's
facade driven by hand, the space mapping, fidelities, failures, and what a run leaves behind
(no files, no log lines). The conformance suite covers seeding, budget and random state."""

from __future__ import annotations

import json
import logging
import math
import tempfile

import pytest

import hpbench
from hpbench import Budget, Categorical, Evaluation, Float, Int, Problem, Space
from hpbench.problem import Fidelity
from hpbench.runner import run_loop
from tests.optimizers.toy_spaces import CONDITIONAL

pytest.importorskip("smac")  # an extra; `make install` installs it

SEED = 7
N = 12  # SMAC's initial design is a quarter of it: 3 Sobol points, then 9 model-based asks

SPACE = CONDITIONAL


def objective(config: dict) -> float:
    return ((math.log10(config["lr"]) + 1.5) ** 2 + ((config["n"] - 3) / 4) ** 2
            + (0.0 if config["kind"] == "a" else 0.2 + 0.3 * config.get("extra", 0.0)))


class Tiny(Problem):
    """``objective`` on ``SPACE``; NaN where ``n == fail_n``; an optional integer fidelity."""

    def __init__(self, fail_n: int | None = None, fidelity: Fidelity | None = None) -> None:
        super().__init__(SPACE, name="tiny", fidelity=fidelity)
        self.fail_n = fail_n
        if fidelity is not None:
            self.capabilities = frozenset({"fidelity"})

    def _evaluate(self, config, *, fidelity=None, ctx=None):
        if config["n"] == self.fail_n:
            return Evaluation(value=math.nan)
        return objective(config)


def adapter_run(name: str, n: int = N, *, seed: int = SEED, problem: Problem | None = None,
                **settings) -> tuple[object, object]:
    problem = problem or Tiny()
    opt = hpbench.make_optimizer(name, problem.space, seed=seed, budget=Budget(n),
                                 fidelity=problem.fidelity, **settings)
    result = run_loop(problem, opt, Budget(n))
    assert result.status == "done", result.error
    return result, opt


def configs(result) -> list[dict]:
    return [json.loads(c) for c in result.columns["config"]]


def same(a: list[dict], b: list[dict]) -> bool:
    """Configs equal, floats but for the rounding of the trial table's JSON."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.keys() != y.keys():
            return False
        for k in x:
            if isinstance(x[k], float):
                if not math.isclose(x[k], y[k], rel_tol=1e-12, abs_tol=1e-15):
                    return False
            elif x[k] != y[k] or type(x[k]) is not type(y[k]):
                return False
    return True


def test_smac_hpo_asks_what_smac_driven_by_hand_asks(tmp_path):
    """SMAC's HPO facade on a hand-written ConfigSpace and scenario, driven by ask/tell as
    SMAC's documentation does it, proposes exactly the adapter's configs."""
    import ConfigSpace as CS
    from smac import HyperparameterOptimizationFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    cs = CS.ConfigurationSpace()
    lr, n = CS.Float("lr", (1e-3, 1.0), log=True), CS.Integer("n", (1, 8))
    kind, extra = CS.Categorical("kind", ["a", "b"]), CS.Float("extra", (0.0, 1.0))
    cs.add([lr, n, kind, extra, CS.EqualsCondition(extra, kind, "b")])
    scenario = Scenario(cs, deterministic=True, n_trials=N, seed=SEED,
                        output_directory=tmp_path / "smac3_output")
    smac = HyperparameterOptimizationFacade(scenario, None, logging_level=False, overwrite=True)
    by_hand = []
    for _ in range(N):
        info = smac.ask()
        # ConfigSpace hands back numpy scalars; the trial table stores plain values
        config = {k: v.item() if hasattr(v, "item") else v for k, v in info.config.items()}
        by_hand.append(config)
        smac.tell(info, TrialValue(cost=objective(config)))

    result, _ = adapter_run("smac-hpo")
    assert same(configs(result), by_hand)
    assert any("extra" in c for c in by_hand) and any("extra" not in c for c in by_hand)


def test_same_seed_same_trajectory_other_seed_another():
    a, b = (configs(adapter_run("smac-hpo", 8)[0]) for _ in range(2))
    assert a == b
    assert configs(adapter_run("smac-hpo", 8, seed=SEED + 1)[0]) != a


def test_space_maps_to_configspace_with_its_conditions():
    import ConfigSpace as CS

    from hpbench.optimizers.adapters.smac_ import from_configuration, to_configspace

    space = Space(a=Float(0.1, 10.0, log=True), b=Int(2, 64, log=True),
                  c=Categorical([1, "1", 2.5]), d=Int(0, 3),
                  e=Float(0.0, 1.0, condition=("c", ["1", 2.5])),
                  f=Categorical([True, False], condition=("d", [2])))
    cs = to_configspace(space)
    assert cs["a"].log and cs["b"].log and (cs["b"].lower, cs["b"].upper) == (2, 64)
    assert list(cs["c"].choices) == ["0:1", "1:'1'", "2:2.5"]  # str(1) == str("1"): told apart
    conds = {c.child.name: c for c in cs.conditions}
    assert isinstance(conds["e"], CS.InCondition) and list(conds["e"].values) == ["1:'1'",
                                                                                   "2:2.5"]
    assert isinstance(conds["f"], CS.EqualsCondition) and conds["f"].value == 2
    for sample in cs.sample_configuration(50):
        config = from_configuration(space, sample)
        space.validate(config)
        assert ("e" in config) == (config["c"] in ("1", 2.5))
        assert ("f" in config) == (config["d"] == 2)


def test_failures_are_told_as_crashes_at_the_worst_value_so_far():
    from smac.runhistory.enumerations import StatusType

    result, opt = adapter_run("smac-hpo", 16, problem=Tiny(fail_n=3))
    failed = [i for i, s in enumerate(result.columns["status"]) if s == "failed"]
    assert failed, "the run should meet a failing config"
    runhistory = opt.smac.runhistory
    crashed = [v for v in runhistory._data.values() if v.status == StatusType.CRASHED]
    ok = [v for v in result.columns["value"] if not math.isnan(v)]
    assert len(crashed) == len(failed)
    assert all(v.cost <= max(ok) and v.cost in ok for v in crashed)
    assert not opt._waiting


def test_crash_cost_setting_is_told_as_is():
    from smac.runhistory.enumerations import StatusType

    _, opt = adapter_run("smac-hpo", 16, problem=Tiny(fail_n=3), crash_cost=100.0)
    costs = {v.cost for v in opt.smac.runhistory._data.values()
             if v.status == StatusType.CRASHED}
    assert costs == {100.0}


def test_smac_mf_runs_hyperband_on_the_problem_fidelity():
    problem = Tiny(fidelity=Fidelity(1, 27, name="epochs", integer=True))
    result, _ = adapter_run("smac-mf", 12, problem=problem)
    fids = [27.0 if f is None else f for f in result.columns["fidelity"]]
    assert set(fids) <= {1.0, 3.0, 9.0, 27.0}  # SMAC's budgets 27 · 3^-k
    assert fids[0] == 1.0 and 27.0 in fids
    with pytest.raises(ValueError, match="smac-mf needs a problem with a fidelity"):
        hpbench.make_optimizer("smac-mf", SPACE, seed=1, budget=Budget(5))


def test_integer_fidelity_rounds_smac_budgets():
    problem = Tiny(fidelity=Fidelity(1, 10, name="epochs", integer=True))
    result, _ = adapter_run("smac-mf", 8, problem=problem)
    # SMAC's budgets are 10/9, 10/3 and 10: rounded to 1, 3 and 10 epochs
    assert set(result.columns["fidelity"]) <= {1.0, 3.0, 10.0}


def test_a_run_leaves_no_files_and_no_log_lines(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with caplog.at_level(logging.INFO):
        adapter_run("smac-hpo", 6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tmp"]  # no smac3_output here
    assert not list((tmp_path / "tmp").iterdir())  # SMAC's temporary folder is gone
    assert not [r for r in caplog.records if r.name.startswith("smac")]
    assert root.handlers == handlers and root.level == level  # logging left unconfigured


def test_smac_bb_inner_loops_at_smacs_defaults_build_the_default_facade():
    """``gp_restarts`` and ``local_search_iterations`` set to SMAC's own defaults (10, 10)
    build the facade SMAC builds with none: the written-out GP (``blackbox_gp``) is
    ``BlackBoxFacade.get_model``'s, not a look-alike (every component's ``meta`` equal)."""
    explicit = hpbench.make_optimizer("smac-bb", SPACE, seed=SEED, budget=Budget(8),
                                      gp_restarts=10, local_search_iterations=10)
    default = hpbench.make_optimizer("smac-bb", SPACE, seed=SEED, budget=Budget(8))
    assert explicit.smac.meta == default.smac.meta
    assert explicit.smac._acquisition_maximizer._local_search_iterations == \
        default.smac._acquisition_maximizer._local_search_iterations == 10


def test_smac_inner_loop_settings_reach_smacs_components():
    """Smaller inner loops are what SMAC's components are built with, and the conformance
    suite uses them (the same code path, fewer restarts and local searches)."""
    from hpbench.testing.optimizers import conformance_settings

    opt = hpbench.make_optimizer("smac-bb", SPACE, seed=SEED, budget=Budget(8),
                                 gp_restarts=3, local_search_iterations=4)
    meta = opt.smac.meta
    assert meta["model"]["n_restarts"] == 3
    assert opt.smac._acquisition_maximizer._local_search_iterations == 4
    hpo = hpbench.make_optimizer("smac-hpo", SPACE, seed=SEED, budget=Budget(8),
                                 local_search_iterations=4)
    assert hpo.smac._acquisition_maximizer._local_search_iterations == 4
    assert hpo.smac.meta["acquisition_maximizer"]["challengers"] == 10000  # HPO's own default
    assert conformance_settings("smac-bb") == {"gp_restarts": 2, "local_search_iterations": 2}
    assert conformance_settings("smac-hpo") == {"local_search_iterations": 2}


@pytest.mark.parametrize("settings, message", [
    ({"facade": "hpo", "gp_restarts": 2}, "only the bb facade has a GP"),
    ({"gp_restarts": -1}, "gp_restarts must be None (SMAC's default) or an integer >= 0"),
    ({"local_search_iterations": 0}, "local_search_iterations must be None"),
    ({"local_search_iterations": 2.5}, "got 2.5"),
])
def test_bad_inner_loop_settings_are_refused_with_what_is_allowed(settings, message):
    name = "smac-hpo" if settings.get("facade") == "hpo" else "smac-bb"
    settings = {k: v for k, v in settings.items() if k != "facade"}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        hpbench.make_optimizer(name, SPACE, seed=SEED, budget=Budget(8), **settings)
