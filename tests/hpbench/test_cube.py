"""``hpbench.cube.UnitCube``: its vectorized forms give bit-for-bit the floats of the scalar
code the optimizers were written with and draw the same numbers from the generator, and its
model-facing parts (edges, activity, canonical points, features) agree with the space.

The ``_old_*`` functions are the loops of the two encoders ``UnitCube`` replaced (the
optimizers' ``Cube`` and the model-based ``Encoding``), kept here as references.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from hpbench import Categorical, Float, Int, Space
from hpbench.cube import UnitCube, reflect

MIXED = Space(
    lr=Float(1e-4, 1.0, log=True),
    x=Float(-2.0, 2.0),
    layers=Int(1, 4),
    width=Int(8, 256, log=True),
    kind=Categorical(["a", "b", "c"]),
    extra=Float(0.0, 1.0, condition=("kind", ["b"])),
    deep=Int(-3, 40, condition=("layers", [3, 4])),
    one=Categorical(["only"]),
    wide=Int(1, 1000, log=True),
)
FLOATS = Space(a=Float(0, 1), b=Float(-5, 5), c=Float(1e-3, 10, log=True))


def _old_level(cube, i, u):
    n = int(cube.levels[i])
    p = cube.params[i]
    if p.kind == "int" and p.log:
        return int(p.from_unit(u)) - p.low
    return min(n - 1, max(0, math.floor(float(u) * n)))


def _old_centre(cube, i, k):
    p = cube.params[i]
    if p.kind == "int" and p.log:
        return p.to_unit(p.low + int(k))
    return (int(k) + 0.5) / int(cube.levels[i])


def _old_snap(cube, U):
    U = np.clip(np.array(U, dtype=float), 0.0, 1.0)
    flat = U.reshape(-1, cube.d)
    for i in cube.disc_idx:
        p = cube.params[i]
        if p.kind == "int" and p.log:
            flat[:, i] = [_old_centre(cube, i, _old_level(cube, i, u)) for u in flat[:, i]]
        else:
            n = cube.levels[i]
            flat[:, i] = (np.minimum(n - 1, np.floor(flat[:, i] * n)) + 0.5) / n
    return U


def _old_resample(cube, i, u, rng):
    n, k = int(cube.levels[i]), _old_level(cube, i, u)
    if n >= 2:
        j = int(rng.integers(n - 1))
        k = j + (j >= k)
    return _old_centre(cube, i, k)


def _old_mutate(cube, u, mask, sigma, rng):
    out = np.array(u, dtype=float)
    sig = np.broadcast_to(np.asarray(sigma, dtype=float), (cube.d,))
    for i in np.flatnonzero(mask):
        if cube.is_cat[i]:
            out[i] = _old_resample(cube, i, out[i], rng)
        elif cube.is_int[i]:
            out[i] = cube.step_integer(i, out[i], sig[i], rng)
        else:
            out[i] = out[i] + sig[i] * rng.standard_normal()
    return cube.snap(reflect(out))


def _old_encode(cube, U, inactive):
    act = cube.active(U) if cube.conditions else None
    X = np.zeros((len(U), cube.n_features))
    for i in range(cube.d):
        c = int(np.flatnonzero(cube.feature_dim == i)[0])
        if cube.kinds[i] == "cat":
            lv = cube.bin_of(i, U[:, i])
            rows = np.arange(len(U)) if act is None else np.flatnonzero(act[:, i])
            X[rows, c + lv[rows]] = 1.0
        else:
            X[:, c] = U[:, i] if act is None else np.where(act[:, i], U[:, i], inactive)
    return X


def _points(cube, m=400, seed=0):
    """Uniform points plus every bin edge and its neighbouring floats, where rounding bites."""
    rng = np.random.default_rng(seed)
    U = rng.random((m, cube.d))
    rows = []
    for i in cube.disc_idx:
        for e in cube.edges(i):
            for v in (np.nextafter(e, 0.0), e, np.nextafter(e, 1.0)):
                row = rng.random(cube.d)
                row[i] = v
                rows.append(row)
    extremes = np.array([[0.0] * cube.d, [1.0] * cube.d, [0.5] * cube.d])
    return np.vstack([U, np.array(rows).reshape(-1, cube.d), extremes])


def _same(a, b):
    """Bit-for-bit equality of float arrays."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# -- structure -------------------------------------------------------------------------------

def test_masks_indices_and_feature_layout():
    cube = UnitCube(MIXED)
    assert cube.levels.tolist() == [0, 0, 4, 249, 3, 0, 44, 1, 1000]
    assert cube.is_int.tolist() == [False, False, True, True, False, False, True, False, True]
    assert cube.cat_idx.tolist() == [4, 7]
    assert cube.disc_idx.tolist() == [2, 3, 4, 6, 7, 8]
    assert cube.float_idx.tolist() == [0, 1, 5]
    assert cube.ord_idx.tolist() == [0, 1, 2, 3, 5, 6, 8]
    assert cube.feature_dim.tolist() == [0, 1, 2, 3, 4, 4, 4, 5, 6, 7, 8]
    assert cube.ord_cols.tolist() == [0, 1, 2, 3, 7, 8, 10]
    assert cube.n_cat_combos == 3
    assert [(i, j, a.tolist()) for i, j, a in cube.conditions] == [(5, 4, [1]), (6, 2, [2, 3])]


def test_the_description_arrays_are_read_only():
    cube = UnitCube(MIXED)
    for arr in (cube.levels, cube.is_cat, cube.is_float, cube.disc_idx, cube.centres(3)):
        with pytest.raises(ValueError):
            arr[0] = arr[0]


@pytest.mark.parametrize("param", [Int(0, 4), Int(-7, 12), Int(1, 300), Int(-1000, 1000),
                                   Int(1, 300, log=True), Int(2, 5, log=True),
                                   Categorical(list("abcdefg"))])
def test_centre_tables_are_to_unit_and_the_scalar_centre_bit_for_bit(param):
    cube = UnitCube(Space(p=param))
    table = cube.centres(0)
    values = range(param.low, param.high + 1) if isinstance(param, Int) else param.choices
    assert _same(table, [param.to_unit(v) for v in values])
    assert _same(table, [cube.centre(0, k) for k in range(len(table))])
    assert _same(table, cube.centres_at(np.arange(len(table))[:, None], [0])[:, 0])


# -- the decoding rule, vectorized -----------------------------------------------------------

@pytest.mark.parametrize("space", [MIXED, FLOATS])
def test_snap_is_the_old_loop_bit_for_bit(space):
    cube = UnitCube(space)
    U = _points(cube) * 1.2 - 0.1  # outside the cube too: snap clips
    assert _same(cube.snap(U), _old_snap(cube, U))
    assert _same(cube.snap(U[7]), _old_snap(cube, U[7]))  # a single point keeps its shape


def test_levels_at_and_centres_at_are_the_scalar_level_and_centre():
    cube = UnitCube(MIXED)
    U = _points(cube)
    K = cube.levels_at(U)
    want = [[_old_level(cube, i, u[i]) for i in cube.disc_idx] for u in U]
    assert K.tolist() == want
    assert cube.levels_at(U[3]).tolist() == want[3]
    C = cube.centres_at(K)
    assert _same(C, [[_old_centre(cube, i, k) for i, k in zip(cube.disc_idx, row)]
                     for row in K])
    assert cube.levels_at(U, [8, 4]).tolist() == [[r[5], r[2]] for r in want]


def test_resample_categories_draws_as_one_call_per_value():
    cube = UnitCube(MIXED)
    for i, m in ((4, 50), (4, 0), (7, 20)):  # coordinate 7 has one level: no draws at all
        u = np.random.default_rng(m).random(m)
        a, b = np.random.default_rng(1), np.random.default_rng(1)
        got = cube.resample_categories(i, u, a)
        want = [_old_resample(cube, i, x, b) for x in u]
        assert _same(got, want)
        assert a.bit_generator.state == b.bit_generator.state


@pytest.mark.parametrize("space", [MIXED, FLOATS])
def test_mutate_is_the_old_loop_with_the_same_draws(space):
    cube = UnitCube(space)
    rng = np.random.default_rng(5)
    for trial in range(300):
        u = cube.snap(rng.random(cube.d))
        mask = rng.random(cube.d) < 0.5
        sigma = 0.2 if trial % 2 else rng.random(cube.d) * 0.5
        a = np.random.default_rng(trial)
        b = np.random.default_rng(trial)
        assert _same(cube.mutate(u, mask, sigma, a), _old_mutate(cube, u, mask, sigma, b))
        assert a.bit_generator.state == b.bit_generator.state


def test_keys_are_the_key_of_each_row():
    cube = UnitCube(MIXED)
    U = cube.snap(_points(cube))
    assert cube.keys(U) == [cube.key(u) for u in U]


# -- the edge rule, activity and features ----------------------------------------------------

def test_the_two_level_rules_differ_only_just_below_an_edge():
    cube = UnitCube(Space(c=Categorical(list("abcdef"))))
    below = np.nextafter(5 / 6, 0.0)
    # floor(u n) rounds up to the next level there; the comparison with the edge does not
    assert cube.level(0, below) == 5 and int(cube.bin_of(0, below)) == 4
    u = np.random.default_rng(0).random(10_000)
    assert cube.levels_at(u[:, None]).ravel().tolist() == cube.bin_of(0, u).tolist()


def test_bins_match_the_space():
    cube = UnitCube(MIXED)
    U = _points(cube)
    for i in cube.disc_idx:
        lo, hi = cube.bin_edges(i)
        assert lo[0] == 0.0 and hi[-1] == 1.0 and np.all(lo < hi)
        lv = cube.bin_of(i, U[:, i])
        centres = cube.centres(i)
        assert np.all((lo[lv] <= centres[lv]) & (centres[lv] <= hi[lv]))
        p = cube.params[i]
        interior = U[:, i][np.abs(U[:, i][:, None] - cube.edges(i)).min(axis=1) > 1e-9] \
            if len(cube.edges(i)) else U[:, i]
        decoded = [p.from_unit(x) for x in interior]
        assert decoded == [p.from_unit(centres[k]) for k in cube.bin_of(i, interior)]


def test_canonical_points_are_the_configs_to_unit_gives():
    cube = UnitCube(MIXED)
    U = np.random.default_rng(3).random((500, cube.d))
    S = cube.canonical(U)
    for u, s in zip(U, S):
        config = MIXED.from_unit(u)
        assert MIXED.from_unit(s) == config
        np.testing.assert_allclose(MIXED.to_unit(config), s)  # inactive at 0.5 too
    assert _same(cube.canonical(S), S)
    # floats pass through a config (exp and log), the rest is exact
    back = cube.from_configs(cube.to_configs(S))
    np.testing.assert_allclose(back, S, rtol=0, atol=1e-12)
    assert _same(back[:, cube.disc_idx], S[:, cube.disc_idx])


def test_active_follows_the_conditions():
    cube = UnitCube(MIXED)
    configs = [{"lr": 0.01, "x": 0.0, "layers": layers, "width": 16, "kind": kind,
                "one": "only", "wide": 10, **extra}
               for layers, kind, extra in ((1, "a", {}), (3, "b", {"extra": 0.3, "deep": 7}))]
    act = cube.active(cube.from_configs(configs))
    assert act[:, 5].tolist() == [False, True] and act[:, 6].tolist() == [False, True]
    assert act[:, [0, 1, 2, 3, 4, 7, 8]].all()


@pytest.mark.parametrize("inactive", [0.5, -1.0])
@pytest.mark.parametrize("space", [MIXED, FLOATS])
def test_encode_is_the_old_column_loop(space, inactive):
    cube = UnitCube(space)
    U = cube.canonical(_points(cube))
    assert _same(cube.encode(U, inactive), _old_encode(cube, U, inactive))


@pytest.mark.parametrize("space", [MIXED, FLOATS, Space(k=Int(1, 9), c=Categorical([1, 2]))])
def test_to_configs_is_from_unit_row_by_row(space):
    cube = UnitCube(space)
    U = _points(cube)
    got = cube.to_configs(U)
    want = [space.from_unit(row) for row in cube.canonical(U)]
    assert got == want
    assert [list(c) for c in got] == [list(c) for c in want]
    assert [[type(v) for v in c.values()] for c in got] == \
        [[type(v) for v in c.values()] for c in want]
