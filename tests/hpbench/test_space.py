import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpbench import Categorical, Condition, Float, Int, InvalidConfig, Space
from tests.toy import MIXED_SPACE


@pytest.mark.parametrize("make, message", [
    (lambda: Float(3, 1), "low must be < high, got low=3.0, high=1.0"),
    (lambda: Float(1, 1), "low must be < high"),
    (lambda: Float(0, 1, log=True), "log=True needs low > 0, got low=0.0"),
    (lambda: Int(5, 2), "low must be < high, got low=5, high=2"),
    (lambda: Int(0, 10, log=True), "log=True needs low > 0"),
    (lambda: Int(0.5, 3), "must be integers"),
    (lambda: Categorical([]), "choices must not be empty"),
    (lambda: Categorical(["a", "a"]), "duplicate choice 'a'"),
    (lambda: Space([("x", Float(0, 1)), ("x", Float(0, 2))]), "duplicate parameter name 'x'"),
    (lambda: Space(x=Float(0, 1, condition=("k", ["a"]))), "unknown parent 'k'"),
    (lambda: Space(k=Categorical(["a"]), x=Float(0, 1, condition=("k", ["z"]))),
     "condition value 'z' is not a possible value of 'k'"),
    (lambda: Space(k=Float(0, 1), x=Float(0, 1, condition=("k", [0.5]))),
     "must be Int or Categorical"),
])
def test_invalid_definitions_name_the_rule_and_values(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_params_are_immutable():
    p = Float(0, 1)
    with pytest.raises(AttributeError):
        p.low = 5


def test_validate_rules():
    s = MIXED_SPACE
    good = {"lr": 0.01, "x": 0.0, "layers": 2, "width": 32, "kind": "b", "extra": 0.3}
    assert s.validate(good) == good
    with pytest.raises(InvalidConfig, match=r"lr must be in \[0.0001, 1.0\], got 2.0"):
        s.validate({**good, "lr": 2.0})
    with pytest.raises(InvalidConfig, match="layers must be an integer, got 2.5"):
        s.validate({**good, "layers": 2.5})
    with pytest.raises(InvalidConfig, match=r"kind must be one of \['a', 'b', 'c'\], got 'z'"):
        s.validate({**good, "kind": "z"})
    with pytest.raises(InvalidConfig, match="extra is missing"):
        s.validate({k: v for k, v in good.items() if k != "extra"})
    with pytest.raises(InvalidConfig, match="extra is inactive here"):
        s.validate({**good, "kind": "a"})
    with pytest.raises(InvalidConfig, match=r"unknown parameter\(s\) \['zzz'\]"):
        s.validate({**good, "zzz": 1})
    # inactive given as None is accepted and dropped
    assert "extra" not in s.validate({**good, "kind": "a", "extra": None})
    # numpy scalars become plain Python values
    out = s.validate({**good, "layers": np.int64(3), "x": np.float32(0.5)})
    assert type(out["layers"]) is int and type(out["x"]) is float


def test_sampling_is_seeded_and_valid():
    a = MIXED_SPACE.sample(np.random.default_rng(3), 200)
    b = MIXED_SPACE.sample(np.random.default_rng(3), 200)
    assert a == b
    for c in a:
        MIXED_SPACE.validate(c)
    kinds = {c["kind"] for c in a}
    assert kinds == {"a", "b", "c"}
    assert all(("extra" in c) == (c["kind"] == "b") for c in a)


def test_int_sampling_is_uniform_over_integers():
    s = Space(n=Int(1, 4))
    counts = np.bincount([c["n"] for c in s.sample(np.random.default_rng(0), 40000)],
                         minlength=5)[1:]
    assert np.all(np.abs(counts / 40000 - 0.25) < 0.01)


def test_log_float_sampling_is_log_uniform():
    s = Space(lr=Float(1e-4, 1.0, log=True))
    values = np.array([c["lr"] for c in s.sample(np.random.default_rng(0), 20000)])
    frac_below = np.mean(values < 1e-2)  # half the decades
    assert abs(frac_below - 0.5) < 0.02


def test_grid_sizes_and_validity():
    s = Space(x=Float(0, 1), y=Float(-1, 1, log=False), k=Categorical(["a", "b"]))
    g = s.grid(20)
    assert 1 < len(g) <= 20
    assert len({tuple(sorted(c.items())) for c in g}) == len(g)
    for c in g:
        s.validate(c)
    assert {c["k"] for c in g} == {"a", "b"}
    assert min(c["x"] for c in g) == 0.0 and max(c["x"] for c in g) == 1.0
    # conditional parameters never appear inactive
    for c in MIXED_SPACE.grid(50):
        MIXED_SPACE.validate(c)
    with pytest.raises(ValueError, match="grid size must be >= 1, got 0"):
        s.grid(0)


def test_dims_describe_discreteness():
    kinds = [(d.name, d.kind, d.n_levels) for d in MIXED_SPACE.dims]
    assert kinds[2] == ("layers", "int", 4)
    assert kinds[4] == ("kind", "cat", 3)
    assert MIXED_SPACE.dims[0].log and MIXED_SPACE.dims[5].conditional


def test_condition_accepts_single_value():
    assert Condition("k", "a").values == ("a",)


unit_points = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=6, max_size=6)


@settings(max_examples=300, deadline=None)
@given(unit_points)
def test_from_unit_is_always_valid_and_round_trips(u):
    config = MIXED_SPACE.from_unit(u)
    assert MIXED_SPACE.validate(config) == config
    # config -> cube -> config: discrete values exactly, floats to round-off
    back = MIXED_SPACE.from_unit(MIXED_SPACE.to_unit(config))
    assert back.keys() == config.keys()
    for name, value in config.items():
        if isinstance(value, float):
            assert math.isclose(back[name], value, rel_tol=1e-12, abs_tol=1e-15)
        else:
            assert back[name] == value


@settings(max_examples=300, deadline=None)
@given(unit_points)
def test_to_unit_stays_in_the_same_bin(u):
    config = MIXED_SPACE.from_unit(u)
    back = MIXED_SPACE.to_unit(config)
    assert np.all((back >= 0) & (back <= 1))
    for i, dim in enumerate(MIXED_SPACE.dims):
        if dim.kind == "float" and dim.name in config:
            assert math.isclose(back[i], u[i], abs_tol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 1000), st.integers(1, 1000), st.booleans(), st.floats(0, 1))
def test_int_round_trip_any_range(a, b, log, u):
    low, high = min(a, b), max(a, b) + 1
    p = Int(low, high, log=log)
    v = p.from_unit(u)
    assert low <= v <= high
    assert p.from_unit(p.to_unit(v)) == v


@settings(max_examples=200, deadline=None)
@given(st.floats(1e-6, 1e3), st.floats(1.001, 1e4), st.booleans(), st.floats(0, 1))
def test_float_round_trip_any_range(low, factor, log, u):
    p = Float(low, low * factor, log=log)
    x = p.from_unit(u)
    assert p.low <= x <= p.high
    assert math.isclose(p.from_unit(p.to_unit(x)), x, rel_tol=1e-9)


def _bits(configs):
    """Configs with every float as its exact bit pattern (repr keeps -0.0 apart from 0.0)."""
    return [{k: (repr(v), type(v)) for k, v in c.items()} for c in configs]


_EDGES = st.sampled_from([0.0, -0.0, 1.0, -1e-300, 1 + 1e-16, -3.0, 7.0, math.nan,
                          math.inf, -math.inf, 0.5])
_unit_values = st.one_of(_EDGES, st.floats(0, 1), st.floats(-2, 3))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(1e-9, 1e6), st.booleans(),
                          st.sampled_from(["float", "int", "cat"])), min_size=1, max_size=5),
       st.data())
def test_from_unit_array_is_bit_for_bit_the_row_by_row_map(dims, data):
    # the column-wise fast path (Float columns in numpy) must give exactly the scalar values
    params = {}
    for i, (low, width, log, kind) in enumerate(dims):
        if kind == "float":
            lo = abs(low) + 1e-3 if log else low
            params[f"p{i}"] = Float(lo, lo + width * (1 + abs(lo)), log=log)
        elif kind == "int":
            params[f"p{i}"] = Int(1, 1 + int(width) % 50 + 1, log=log)
        else:
            params[f"p{i}"] = Categorical(["a", 2, 3.5, None])
    space = Space(params)
    n = data.draw(st.integers(0, 6))
    U = np.array(data.draw(st.lists(st.lists(_unit_values, min_size=len(params),
                                             max_size=len(params)), min_size=n, max_size=n)),
                 dtype=float).reshape(n, len(params))
    try:
        want = _bits(space.from_unit(row) for row in U)
    except (ValueError, OverflowError):  # Int of NaN or inf (which one first may differ)
        with pytest.raises((ValueError, OverflowError)):
            space.from_unit_array(U)
        return
    assert _bits(space.from_unit_array(U)) == want


def test_all_float_validate_returns_a_copy_in_space_order_and_still_rejects_bad_configs():
    # the all-Float fast path must agree with the general rules
    space = Space({"a": Float(0, 1), "b": Float(-5, 5), "c": Float(1e-3, 10, log=True)})
    good = {"a": 0.25, "b": -1.0, "c": 0.5}
    out = space.validate(good)
    assert out == good and out is not good
    assert list(space.validate({"c": 0.5, "a": 0.25, "b": -1.0})) == ["a", "b", "c"]
    numpy_values = space.validate({"a": np.float64(0.25), "b": -1, "c": 0.5})
    assert numpy_values == good and all(type(v) is float for v in numpy_values.values())
    for bad, match in [({**good, "a": 1.5}, "a must be in"),
                       ({**good, "b": math.nan}, "b must be in"),
                       ({"a": 0.25, "b": -1.0}, "c is missing"),
                       ({"a": 0.25, "b": -1.0, "x": 0.5}, "c is missing"),
                       ({**good, "x": 0.5}, "unknown parameter")]:
        with pytest.raises(InvalidConfig, match=match):
            space.validate(bad)


def test_parameters_and_spaces_survive_pickle_and_deepcopy_and_stay_immutable():
    import copy
    import pickle

    for clone in (lambda s: pickle.loads(pickle.dumps(s)), copy.deepcopy):
        space = clone(MIXED_SPACE)
        assert space == MIXED_SPACE and list(space) == list(MIXED_SPACE)
        u = np.random.default_rng(3).random((5, len(space)))
        assert space.from_unit_array(u) == MIXED_SPACE.from_unit_array(u)
        param = space[next(iter(space))]
        with pytest.raises(AttributeError, match="immutable"):
            param.low = 0.0
