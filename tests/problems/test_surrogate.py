"""The surrogate problems (problems/surrogate): fitted on a small recording of the toy
problem, they answer like a problem should, fast, reproducibly, and survive a save/load."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pandas as pd
import pytest

from hpbench import EvalContext, register_problem
from hpbench.problem import Fidelity
from hpbench.problems.surrogate import validate
from hpbench.problems.surrogate.model import SurrogateModel, fit, table
from hpbench.problems.surrogate.problems import SurrogateProblem
from hpbench.registry import unregister
from hpbench.space import Float, Int, Space
from hpbench.testing import check_problem
from hpbench.testing.toy import ToyProblem

LEVELS = (1.0, 3.0, 9.0)


def recording(problem, n: int, seeds=(0, 1, 2), noise: float = 0.05, configs=None
              ) -> pd.DataFrame:
    """A recording in the format of ``hpbench tabulate``: ``problem``'s values at every
    level for ``n`` sampled configs (or ``configs``), plus seeded per-(config, seed) noise
    (the toy has none), and a config-dependent number of seconds."""
    configs = configs or problem.space.sample(np.random.default_rng(1), n)
    rows = []
    for s in seeds:
        rng = np.random.default_rng(100 + s)
        shift = rng.normal(size=n)
        for cid, c in enumerate(configs):
            for f in LEVELS:
                ev = problem.evaluate(c, fidelity=f)
                v = ev.value + noise * shift[cid]
                rows.append({"config_id": cid, "origin": "sobol", "seed": s, "fidelity": f,
                             "value": v, "true_value": v, "test_value": v + 0.1,
                             "cost": f, "seconds": 0.01 * f * (1 + c.get("layers", 1)),
                             "status": "ok", "config": json.dumps(c, sort_keys=True)})
    return pd.DataFrame(rows)


META = {"problem": "toy", "fingerprint": "test"}


def fit_toy(kind: str = "joint", n: int = 60) -> SurrogateModel:
    toy = ToyProblem()
    return fit(recording(toy, n), META, space=toy.space, fidelity=toy.fidelity,
               tags=["toy"], capabilities=["fidelity", "checkpoint"], kind=kind)


@pytest.fixture(scope="module")
def model() -> SurrogateModel:
    return fit_toy("joint")


def test_answers_every_config_at_every_fidelity(model):
    problem = SurrogateProblem(model, seed=0)
    assert problem.capabilities == {"fidelity", "checkpoint", "vectorized"}
    assert problem.name == "toy-surrogate" and "surrogate" in problem.tags
    configs = problem.space.sample(np.random.default_rng(5), 50)
    for f in (1, 2, 5, 9, None):  # recorded levels and levels between them
        for ev in problem.evaluate_batch(configs, [f] * len(configs)):
            assert all(math.isfinite(x) for x in (ev.value, ev.true_value, ev.test_value))
            assert ev.seconds > 0 and ev.cost == (9.0 if f is None else f)
    # the predicted mean follows the toy's fidelity term (1 - f/9): lower at full fidelity
    low = np.mean([e.true_value for e in problem.evaluate_batch(configs, [1] * 50)])
    high = np.mean([e.true_value for e in problem.evaluate_batch(configs, [9] * 50)])
    assert high < low - 0.5


def test_same_seed_same_values_other_seed_other_values(model):
    configs = SurrogateProblem(model).space.sample(np.random.default_rng(6), 20)
    a = [SurrogateProblem(model, seed=3).evaluate(c, fidelity=3).value for c in configs]
    # evaluated in another order, on another instance of the same seed
    b = [SurrogateProblem(model, seed=3).evaluate(c, fidelity=3).value for c in configs[::-1]]
    c = [SurrogateProblem(model, seed=4).evaluate(c, fidelity=3).value for c in configs]
    assert a == b[::-1]
    assert all(x != y for x, y in zip(a, c))
    # the noise is the modelled spread: the noise-free value is the same for both seeds
    t3 = [SurrogateProblem(model, seed=3).evaluate(c).true_value for c in configs]
    t4 = [SurrogateProblem(model, seed=4).evaluate(c).true_value for c in configs]
    assert t3 == t4


def test_resume_costs_the_increment(model):
    problem = SurrogateProblem(model, seed=0)
    config = problem.space.sample(np.random.default_rng(7), 1)[0]
    first = problem.evaluate(config, fidelity=3, ctx=EvalContext(trial=0))
    resumed = problem.evaluate(config, fidelity=9, ctx=EvalContext(trial=1, resume_from=0))
    scratch = problem.evaluate(config, fidelity=9)
    assert (first.cost, resumed.cost, scratch.cost) == (3.0, 6.0, 9.0)
    assert resumed.seconds == pytest.approx(scratch.seconds - first.seconds)
    assert resumed.value == scratch.value and resumed.info["resumed_from"] == 0
    with pytest.raises(ValueError, match="already reached fidelity 9"):
        problem.evaluate(config, fidelity=3, ctx=EvalContext(trial=2, resume_from=1))
    with pytest.raises(ValueError, match="no checkpoint of trial 7"):
        problem.evaluate(config, fidelity=9, ctx=EvalContext(trial=3, resume_from=7))


def test_passes_the_problem_conformance_suite(model):
    register_problem("toy-surrogate", lambda seed=None: SurrogateProblem(model, seed=seed),
                     description="surrogate of the toy problem", tags=["toy", "surrogate"])
    try:
        check_problem("toy-surrogate")
    finally:
        unregister("problem", "toy-surrogate")


def test_an_evaluation_costs_well_under_a_millisecond(model):
    problem = SurrogateProblem(model, seed=0)
    configs = problem.space.sample(np.random.default_rng(8), 200)
    problem.evaluate(configs[0], fidelity=5)  # warm
    t0 = time.process_time()
    for c in configs:
        problem.evaluate(c, fidelity=5)
    per_eval = (time.process_time() - t0) / len(configs)
    assert per_eval < 1e-3, f"{per_eval * 1e3:.2f} ms of CPU per evaluation"


@pytest.mark.parametrize("kind", ["joint", "per-level", "gp"])
def test_a_loaded_surrogate_gives_exactly_the_fitted_values(tmp_path, kind):
    fresh = fit_toy(kind, n=30)
    fresh.save(tmp_path)
    loaded = SurrogateModel.load(tmp_path)
    assert loaded.digest() == fresh.digest()
    space = SurrogateProblem(fresh).space
    configs = space.sample(np.random.default_rng(9), 25)
    fids = np.random.default_rng(10).integers(1, 10, 25).astype(float)
    assert np.array_equal(fresh.predict(configs, fids), loaded.predict(configs, fids))
    a = [e.value for e in SurrogateProblem(fresh, seed=1).evaluate_batch(configs, list(fids))]
    b = [SurrogateProblem(loaded, seed=1).evaluate(c, fidelity=f).value
         for c, f in zip(configs, fids)]
    assert a == b  # one at a time or in a batch, fresh or loaded: the same values


def test_a_model_file_of_another_format_is_refused(tmp_path, model):
    model.save(tmp_path)
    meta = json.loads((tmp_path / "model.json").read_text())
    (tmp_path / "model.json").write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(ValueError, match="model format 99.*refit it with"):
        SurrogateModel.load(tmp_path)


def test_heldout_spearman_is_one_on_a_noiseless_smooth_recording():
    # a smooth, noiseless function of a float and the fidelity: a model that never saw a
    # config must still rank it exactly among the others
    space = Space(x=Float(0.0, 1.0), k=Int(0, 3))

    class Smooth:
        def __init__(self):
            self.space = space
            self.fidelity = Fidelity(1, 9)

        def evaluate(self, c, fidelity):
            return type("E", (), {"value": math.exp(2 * c["x"]) + 9.0 / fidelity})

    configs = [{"x": i / 40, "k": 1} for i in range(41)]
    frame = recording(Smooth(), 41, seeds=(0,), noise=0.0, configs=configs)
    tab = table(frame, space)
    rows = validate.heldout_spearman(tab, "gp")
    assert [r["level"] for r in rows] == list(LEVELS)
    assert [r["spearman"] for r in rows] == [1.0, 1.0, 1.0]
    # and it is no rubber stamp: a recording whose configs were shuffled scores far lower
    shuffled = frame.assign(config=frame["config"].to_numpy()[
        np.random.default_rng(0).permutation(len(frame))])
    rows = validate.heldout_spearman(table(shuffled, space), "gp")
    assert max(r["spearman"] for r in rows) < 0.8


SHIPPED = sorted(p.parent.name for p in validate.DATA.glob("*/model.json"))


def test_the_shipped_surrogates_are_registered_with_their_soundness():
    import hpbench
    from hpbench.registry import get_entry

    names = set(hpbench.list_problems())
    for live in SHIPPED:
        entry = get_entry("problem", f"{live}-surrogate")
        assert f"{live}-surrogate" in names and "surrogate" in entry.tags
        sound, note = validate.soundness(live)
        assert ("surrogate-unsound" in entry.tags) == (not sound) and entry.note == note


@pytest.mark.parametrize("live", SHIPPED)
def test_a_shipped_surrogate_answers_fast_at_every_fidelity(live):
    import hpbench

    problem = hpbench.make_problem(f"{live}-surrogate", seed=0)
    fid = problem.fidelity
    configs = problem.space.sample(np.random.default_rng(0), 100)
    mid = fid.low + (fid.high - fid.low) / 3
    levels = [fid.low, round(mid) if fid.integer else mid, fid.high]
    t0 = time.process_time()
    evals = [problem.evaluate(c, fidelity=f) for f in levels for c in configs]
    per_eval = (time.process_time() - t0) / len(evals)
    assert all(math.isfinite(e.value) and e.seconds >= 0 and e.cost > 0 for e in evals)
    # "well under a millisecond" is measured on a quiet machine (0.27-0.49 ms, docs/
    # surrogates.md); here, beside the other tests on 2 cores, only a regression of the kind
    # a scikit-learn predict per row would be (about 7 ms) fails
    assert per_eval < 5e-3, f"{live}: {per_eval * 1e3:.2f} ms of CPU per evaluation"


@pytest.mark.parametrize("mean, sd", [(0.1, 1.0), (0.5, 0.05), (2.0, 3.0)])
def test_noise_above_a_floor_keeps_the_modelled_mean_and_spread(mean, sd):
    from hpbench.problems.surrogate.problems import floored_draw

    z = np.random.default_rng(0).standard_normal(400_000)
    draws = np.array([floored_draw(mean, sd, float(x), 0.0) for x in z])
    assert draws.min() > 0.0
    assert draws.mean() == pytest.approx(mean, rel=0.05)
    assert draws.std() == pytest.approx(sd, rel=0.25)  # a heavy right tail: a loose check
    assert np.median(draws) < mean  # skewed right: mostly good, sometimes far worse
    assert floored_draw(-0.09, 0.3, 1.5, 0.0) == 0.0  # a mean below the floor is clipped
    assert floored_draw(mean, sd, 0.7, None) == mean + sd * 0.7  # no floor: normal


def test_a_shipped_loss_surrogate_never_answers_below_zero():
    import hpbench

    problem = hpbench.make_problem("torch-cnn-digits-surrogate", seed=0)
    assert problem.model.value_floor == 0.0
    configs = problem.space.sample(np.random.default_rng(1), 300)
    for seed in range(5):
        p = hpbench.make_problem("torch-cnn-digits-surrogate", seed=seed)
        evs = p.evaluate_batch(configs)
        assert min(e.value for e in evs) >= 0.0
        assert min(e.true_value for e in evs) >= 0.0 and min(e.test_value for e in evs) >= 0.0
