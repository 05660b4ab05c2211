"""The unit-cube view the optimizers share (``hpbench.cube``) and ``SteppedOptimizer``."""

from __future__ import annotations

import math

import numpy as np

from hpbench import Budget, Categorical, Float, Int, Observation, Space
from hpbench.cube import UnitCube, reflect
from hpbench.optimizers._stepped import SteppedOptimizer, worst_as_inf

SPACE = Space(x=Float(0.0, 1.0), k=Int(0, 4), n=Int(1, 1000, log=True),
              c=Categorical(["a", "b", "c"]))


def test_cube_knows_discrete_coordinates():
    cube = UnitCube(SPACE)
    assert cube.levels.tolist() == [0, 5, 1000, 3]
    assert cube.is_cat.tolist() == [False, False, False, True]
    assert cube.is_int.tolist() == [False, True, True, False]


def test_snap_puts_discrete_values_at_the_bin_centre_to_unit_gives():
    cube = UnitCube(SPACE)
    rng = np.random.default_rng(0)
    U = rng.random((200, 4))
    S = cube.snap(U)
    assert np.array_equal(S[:, 0], U[:, 0])  # floats untouched
    for u, s in zip(U, S):
        config = SPACE.from_unit(u)
        assert SPACE.from_unit(s) == config  # same config
        assert np.allclose(s, SPACE.to_unit(config))  # at the centre to_unit uses
    # snapping twice changes nothing
    assert np.array_equal(cube.snap(S), S)


def test_level_and_centre_round_trip_for_log_integers():
    cube = UnitCube(SPACE)
    for k in (0, 1, 9, 36, 500, 999):
        assert cube.level(2, cube.centre(2, k)) == k
        assert SPACE["n"].from_unit(cube.centre(2, k)) == 1 + k


def test_category_moves_always_change_the_category():
    cube = UnitCube(SPACE)
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(300):
        u = cube.centre(3, 1)
        v = cube.resample_category(3, u, rng)
        assert cube.level(3, v) != 1
        assert v == cube.centre(3, cube.level(3, v))
        seen.add(cube.level(3, v))
    assert seen == {0, 2}


def test_integer_steps_move_at_least_one_level_even_when_tiny():
    cube = UnitCube(SPACE)
    rng = np.random.default_rng(2)
    for k in range(5):
        for _ in range(20):
            v = cube.step_integer(1, cube.centre(1, k), 1e-9, rng)
            assert abs(cube.level(1, v) - k) == 1
    # the log integer too, from both ends
    for k in (0, 999):
        v = cube.step_integer(2, cube.centre(2, k), 1e-9, rng)
        assert abs(cube.level(2, v) - k) == 1


def test_mutate_touches_only_the_masked_coordinates():
    cube = UnitCube(SPACE)
    rng = np.random.default_rng(3)
    u = cube.snap(np.full(4, 0.5))
    for i in range(4):
        mask = np.zeros(4, dtype=bool)
        mask[i] = True
        v = cube.mutate(u, mask, 0.1, rng)
        changed = np.flatnonzero(v != u)
        assert changed.tolist() == [i]
        assert np.array_equal(cube.snap(v), v)


def test_reflect_folds_any_distance_into_the_cube():
    x = np.array([-0.25, 1.25, 2.5, -3.75, 0.4])
    assert np.allclose(reflect(x), [0.25, 0.75, 0.5, 0.25, 0.4])


def test_worst_as_inf():
    assert worst_as_inf(np.array([1.0, math.nan])).tolist() == [1.0, math.inf]


class _Pairs(SteppedOptimizer):
    """Yields batches of 3 points and records what it is sent."""

    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.received = []

    def _search(self):
        while True:
            values = yield self.rng.random((3, self.cube.d))
            self.received.append(np.asarray(values).tolist())


def _observe(suggestions, values):
    return [Observation(s, i, v, "ok" if not math.isnan(v) else "failed")
            for i, (s, v) in enumerate(zip(suggestions, values))]


def test_stepped_optimizer_hands_a_batch_out_over_several_asks():
    opt = _Pairs(Space(x=Float(0, 1)), seed=0, budget=Budget(10))
    first = opt.ask(2)
    assert len(first) == 2
    opt.tell(_observe(first, [1.0, math.nan]))
    assert opt.received == []  # the batch is not complete yet
    rest = opt.ask(5)
    assert len(rest) == 1  # only what is left of the batch
    opt.tell(_observe(rest, [0.5]))
    assert len(opt.received) == 1
    assert opt.received[0][0] == 1.0 and math.isnan(opt.received[0][1])
    assert opt.received[0][2] == 0.5
    assert opt.best_value == 0.5
    assert len(opt.ask(5)) == 3  # the next batch
