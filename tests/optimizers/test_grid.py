"""``grid``'s placement setting: cell-centred grids (the default) and grids through the bounds
(scikit-learn's, and ``grid``'s before the setting existed)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import hpbench
from hpbench import Budget, Categorical, Float, Int, Space
from hpbench.optimizer import check_settings

MIXED = Space(lr=Float(1e-4, 1.0, log=True), x=Float(-2.0, 3.0), n=Int(1, 100),
              kind=Categorical(["a", "b", "c"]))


def _visit(name: str, space: Space, budget: int, seed: int = 0, **settings) -> list[dict]:
    """Every config ``name`` asks for under ``budget`` evaluations."""
    opt = hpbench.make_optimizer(name, space, seed=seed, budget=Budget(budget), **settings)
    out: list[dict] = []
    while len(out) < budget:
        batch = opt.ask(budget - len(out))
        if not batch:
            break
        out.extend(batch)
    return out


def _unit_points(space: Space, configs: list[dict]) -> set[tuple[float, ...]]:
    return {tuple(round(float(u), 12) for u in space.to_unit(c)) for c in configs}


def test_a_64_point_centred_grid_on_hartmann6_is_the_quarter_grid():
    space = hpbench.make_problem("hartmann6").space
    quarters = set(itertools.product((0.25, 0.75), repeat=6))
    for configs in (space.grid(64, "centred"), _visit("grid", space, 64),
                    _visit("grid", space, 64, placement="centred")):
        assert len(configs) == 64
        assert _unit_points(space, configs) == quarters


def test_bounds_placement_is_the_grid_through_the_bounds():
    """``"bounds"`` is the grid ``grid`` visited before it had a placement: linspace between
    the bounds (logspace on log scales), every level of a parameter with few enough."""
    space = hpbench.make_problem("hartmann6").space
    corners = set(itertools.product((0.0, 1.0), repeat=6))
    assert _unit_points(space, _visit("grid", space, 64, placement="bounds")) == corners
    assert space.grid(64) == space.grid(64, "bounds")
    # 120 points: levels grow lr 2, x 2, n 2, kind 2, lr 3, x 3, n 3 ... while they fit
    grid = MIXED.grid(120, "bounds")
    lrs = sorted({c["lr"] for c in grid})
    xs, ns = sorted({c["x"] for c in grid}), sorted({c["n"] for c in grid})
    assert {c["kind"] for c in grid} == {"a", "b", "c"}
    k = len(lrs)
    np.testing.assert_allclose(lrs, np.logspace(-4, 0, k), rtol=1e-12)
    np.testing.assert_allclose(xs, np.linspace(-2, 3, len(xs)), rtol=1e-12)
    assert ns[0] == 1 and ns[-1] == 100
    assert len(grid) == k * len(xs) * len(ns) * 3 <= 120
    # sklearn-grid keeps scikit-learn's grid: the same points, ends included
    assert _unit_points(MIXED, _visit("sklearn-grid", MIXED, len(grid))) == \
        _unit_points(MIXED, grid)


def test_centred_placement_on_log_integer_and_categorical_parameters():
    grid = MIXED.grid(120, "centred")
    lrs = sorted({c["lr"] for c in grid})
    k = len(lrs)
    # centred in log space: the geometric centres of k equal cells of [1e-4, 1]
    np.testing.assert_allclose(lrs, 10.0 ** (-4 + 4 * (np.arange(k) + 0.5) / k), rtol=1e-12)
    xs = sorted({c["x"] for c in grid})
    np.testing.assert_allclose(xs, -2 + 5 * (np.arange(len(xs)) + 0.5) / len(xs), rtol=1e-12)
    assert min(xs) > -2 and max(xs) < 3
    # integers: the levels whose bins hold the cell centres, never the ends of a wide range
    ns = sorted({c["n"] for c in grid})
    # (n's bins tile [0.5, 100.5]: the centre u holds the integer nearest 0.5 + 100 u)
    assert ns == [math.floor(1 + 100 * (j + 0.5) / len(ns)) for j in range(len(ns))]
    assert 1 not in ns and 100 not in ns
    # a categorical with no more levels than k: every level, either way
    assert {c["kind"] for c in grid} == {"a", "b", "c"}
    assert Categorical(["a", "b", "c"]).grid_values(5, "centred") == ["a", "b", "c"]
    assert Int(0, 3).grid_values(2, "centred") == [1, 3]  # bins [-.5,1.5], [1.5,3.5]: centres
    # one value is the middle under both placements
    assert Float(0, 4).grid_values(1, "centred") == Float(0, 4).grid_values(1, "bounds") == [2.0]


def test_default_grid_is_centred_and_visits_every_point_once():
    space = Space(a=Float(0.0, 1.0), b=Float(0.0, 1.0))
    configs = _visit("grid", space, 30)  # levels a 6, b 5
    assert len({tuple(c.items()) for c in configs}) == 30
    centres = [tuple(round((j + 0.5) / k, 12) for j in range(k)) for k in (6, 5)]
    assert _unit_points(space, configs) == set(itertools.product(*centres))


def test_a_bad_placement_is_refused_in_one_line():
    space = Space(a=Float(0.0, 1.0))
    with pytest.raises(ValueError) as info:
        hpbench.make_optimizer("grid", space, seed=0, budget=Budget(4), placement="corners")
    message = str(info.value)
    assert "\n" not in message
    assert "grid" in message.lower() and "placement" in message and "'corners'" in message
    assert "centred" in message and "bounds" in message
    with pytest.raises(ValueError, match="placement must be one of"):
        check_settings("grid", {"placement": "middle"})
    # sklearn-grid has scikit-learn's placement and no setting to change it
    with pytest.raises(ValueError, match=r"sklearn-grid: unknown setting\(s\) \['placement'\]"):
        check_settings("sklearn-grid", {"placement": "centred"})
    with pytest.raises(ValueError, match="grid placement must be one of"):
        space.grid(4, "middle")
