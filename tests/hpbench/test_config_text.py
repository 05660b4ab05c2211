import json
import math

import numpy as np
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from hpbench import Budget, Float, Space, make_optimizer, make_problem
from hpbench.cell import Cell
from hpbench.config_text import ARROW_HIGH, ARROW_LOW, config_json, float_rows_json
from hpbench.execute import execute_cell
from hpbench.runner import run_loop


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), st.booleans(),
              st.text(max_size=5), st.none()),
    max_size=6))
def test_config_json_is_json_dumps(config):
    assert config_json(config) == json.dumps(config)


def _near(x):
    """x and its neighbours one and two ulps away on each side."""
    out = [x]
    for direction in (-math.inf, math.inf):
        y = x
        for _ in range(2):
            y = math.nextafter(y, direction)
            out.append(y)
    return out


# the edges of the range where Arrow's text is used, integral values, signed zeros,
# subnormals, the largest float, and anything else hypothesis finds
EDGES = [v for x in (ARROW_LOW, ARROW_HIGH, 1e16, 1.0, 0.5, 5e-324, 1.7976931348623157e308)
         for v in _near(x)] + [0.0, -0.0, 1e-5, 123456.0, 9999999999.5, 0.1, 1 / 3]
FLOATS = st.one_of(st.sampled_from(EDGES), st.sampled_from(EDGES).map(lambda v: -v),
                   st.floats(allow_nan=True, allow_infinity=True),
                   st.floats(min_value=1e-6, max_value=1e12))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4, unique=True)
       .flatmap(lambda names: st.tuples(
           st.just(names),
           st.lists(st.lists(FLOATS, min_size=len(names), max_size=len(names)),
                    min_size=0, max_size=30))))
def test_float_rows_json_is_json_dumps_of_each_row(case):
    names, rows = case
    columns = [[row[i] for row in rows] for i in range(len(names))]
    assert float_rows_json(names, columns) == [json.dumps(dict(zip(names, row)))
                                               for row in rows]


def test_float_rows_json_on_many_random_configs():
    rng = np.random.default_rng(0)
    n = 20000
    columns = [rng.random(n).tolist(), (10 ** rng.uniform(-8, 14, n)).tolist(),
               (-(10 ** rng.uniform(-3, 11, n))).tolist(),
               rng.integers(-2**62, 2**62, n).astype(np.int64).view(np.float64).tolist()]
    columns[3] = [v if math.isfinite(v) else 0.25 for v in columns[3]]
    names = ["lr", "alpha", "b", "bits"]
    assert float_rows_json(names, columns) == [json.dumps(dict(zip(names, r)))
                                               for r in zip(*columns)]


def test_an_all_float_cell_stores_the_configs_json_would_write(tmp_path):
    """Random search on Hartmann6: the config column is written column-wise at the end of
    the cell; it must hold exactly json.dumps of each evaluated config."""
    cell = Cell(suite="t", problem="hartmann6", optimizer="random", repeat=0, master_seed=0,
                budget=Budget(300))
    outcome = execute_cell(cell, tmp_path)
    frame = pq.read_table(outcome.path).to_pandas()
    params = [f"x{i}" for i in range(6)]
    for text, (_, row) in zip(frame["config"], frame[[f"param.{p}" for p in params]].iterrows()):
        assert text == json.dumps(dict(zip(params, row.tolist())))
    # and the same text as a run that writes each trial's config as it goes
    problem = make_problem("rosenbrock-2d", seed=3)
    opt = make_optimizer("random", problem.space, seed=4, budget=Budget(50))
    cols = run_loop(problem, opt, Budget(50)).columns
    assert problem.space.all_float
    assert cols["config"] == [json.dumps({"x0": a, "x1": b})
                              for a, b in zip(cols["param.x0"], cols["param.x1"])]


def test_all_float_means_unconditional_floats_only():
    assert Space({"a": Float(0, 1), "b": Float(1e-5, 1, log=True)}).all_float
    from hpbench import Categorical, Int

    assert not Space({"a": Float(0, 1), "n": Int(1, 4)}).all_float
    assert not Space({"a": Float(0, 1), "c": Categorical(["x", "y"])}).all_float


def test_failed_trials_and_a_failing_optimizer_still_get_their_config_text():
    """The deferred config column is filled however the cell ends: trials that raise, and an
    optimizer that raises in ask after a few rounds (the cell fails, its trials are kept)."""
    from hpbench import Optimizer
    from tests.toy import Quadratic

    class Failing(Quadratic):
        def _evaluate(self, config, *, fidelity=None, ctx=None):
            if config["x0"] > 0:
                raise RuntimeError("on purpose")
            return super()._evaluate(config)

    class GivesUp(Optimizer):
        def ask(self, n):
            if self.asked >= 7:
                raise RuntimeError("no more")
            self.asked += 1
            return self.space.sample(self.rng, n)

        def tell(self, observations):
            pass

    GivesUp.asked = 0
    problem = Failing(d=3)
    result = run_loop(problem, GivesUp(problem.space, seed=5, budget=Budget(20)), Budget(20))
    cols = result.columns
    assert result.status == "failed" and len(cols["config"]) == 7
    assert "failed" in cols["status"] and "ok" in cols["status"]
    assert cols["config"] == [json.dumps({f"x{i}": cols[f"param.x{i}"][t] for i in range(3)})
                              for t in range(7)]
