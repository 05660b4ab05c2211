"""The BBOB problems (``hpbench.problems.bbob``) against COCO's cocoex and IOHexperimenter's
ioh: the same functions and instances, exact optima, the instance protocol through a real
``Cell``, the mixed-integer domain, and the noisy problems' noise."""

from __future__ import annotations

import pickle

import cocoex
import ioh
import numpy as np
import pytest

import hpbench
from hpbench import Budget, registry, seeds
from hpbench.cell import Cell
from hpbench.cli import main
from hpbench.problems.bbob.coco import CocoId
from hpbench.problems.bbob.groups import GROUP_FUNCTIONS, GROUPS, group_of
from hpbench.problems.bbob.suites import DIMENSIONS, MIXINT_DIMENSIONS, NOISY_LEFT_OUT
from hpbench.space import Float, Int

NOISELESS = [f"bbob-f{f:02d}-{d}d" for d in DIMENSIONS for f in range(1, 25)]
MIXINT = [f"bbob-mixint-f{f:02d}-{d}d" for d in MIXINT_DIMENSIONS for f in range(1, 25)]
NOISY = [f"bbob-noisy-f{f}-{d}d" for d in DIMENSIONS for f in range(101, 131)
         if f not in NOISY_LEFT_OUT]
#: repeats 0, 1 and 14: instances 1, 2 and 15
REPEATS = (0, 1, 14)
#: f19 (Griewank-Rosenbrock) takes cos(100 (x_i^2 - x_{i+1})^2 + ...) of arguments up to
#: ~1e5, where the last-bit differences of cocoex's C and ioh's C++ rotations become
#: ~1e-10 relative (measured: 1.6e-10 at most over 43,200 points); every other function
#: agrees to 1e-14
RTOL = {19: 1e-9}


def test_registers_every_function_dimension_and_suite():
    names = set(hpbench.list_problems())
    assert {*NOISELESS, *MIXINT, *NOISY} <= names
    assert len(NOISELESS) == 144
    assert not {n for n in names if n.startswith("bbob")} - {*NOISELESS, *MIXINT, *NOISY}


def _ioh(function: int, instance: int, d: int):
    return ioh.get_problem(function, instance=instance, dimension=d,
                           problem_class=ioh.ProblemClass.BBOB)


def test_noiseless_problems_equal_ioh_and_their_optima():
    """All 144 problems at instances 1, 2 and 15: 100 random points (through the vectorized
    path) equal ioh's function to 1e-12, the optimum is ioh's, and the value at its location
    is f_opt."""
    rng = np.random.default_rng(0)
    for name in NOISELESS:
        for repeat in REPEATS:
            problem = registry.make_problem(name, seed=repeat)
            coco = problem.coco
            assert coco == CocoId("bbob", int(name[6:8]), coco.dimension, repeat + 1)
            reference = _ioh(coco.function, coco.instance, coco.dimension)
            configs = problem.space.sample(rng, 100)
            ours = [e.value for e in problem.evaluate_batch(configs)]
            theirs = reference([[c[n] for n in problem.space.names] for c in configs])
            np.testing.assert_allclose(ours, theirs, rtol=RTOL.get(coco.function, 1e-12),
                                       atol=0, err_msg=name)
            opt = problem.optimum
            assert (opt.kind, opt.value) == ("exact", reference.optimum.y), name
            assert list(opt.location.values()) == list(reference.optimum.x), name
            at = problem.evaluate(opt.location)
            assert at.value == pytest.approx(opt.value, rel=1e-12, abs=1e-12), name


def test_mixint_space_is_cocoex_domain_and_optimum_is_reached():
    """Every bbob-mixint problem's space has cocoex's bounds and integer variables, its
    values are cocoex's, and its exact optimum (scale x f_opt) is reached at its location
    and not beaten by a sample."""
    rng = np.random.default_rng(1)
    for name in MIXINT:
        problem = registry.make_problem(name, seed=1)
        coco = problem.coco
        live = cocoex.Suite(*coco.suite_arguments())[0]
        params = list(problem.space.values())
        n_int = live.number_of_integer_variables
        assert all(isinstance(p, Int) for p in params[:n_int]), name
        assert all(isinstance(p, Float) for p in params[n_int:]), name
        assert [p.low for p in params] == list(live.lower_bounds), name
        assert [p.high for p in params] == list(live.upper_bounds), name
        configs = problem.space.sample(rng, 200)
        values = np.array([e.value for e in problem.evaluate_batch(configs)])
        np.testing.assert_array_equal(
            values, [live(np.array([c[n] for n in problem.space.names], float))
                     for c in configs])
        opt = problem.optimum
        assert opt.kind == "exact"
        assert problem.evaluate(opt.location).value == pytest.approx(opt.value, rel=1e-12,
                                                                     abs=1e-12), name
        assert values.min() >= opt.value, name


def _fresh_cocoex_value(coco: CocoId, x: np.ndarray) -> float:
    # building a Suite resets COCO's process-wide noise counters, so every call gets the
    # same draw: COCO's noise is then a constant we can divide out
    return cocoex.Suite(*coco.suite_arguments())[0](x)


@pytest.mark.parametrize("d", [2, 10])
def test_noisy_true_value_is_cocos_noiseless_function(d):
    """With COCO's noise frozen (the same draw every call), cocoex's Gaussian-noise values
    are (true - f_opt) * g + 1.01e-8 + f_opt with one g for every x and every function
    (g = exp(beta * N) with one N), and its Cauchy-noise values true + c with one c: so our
    true_value is COCO's noiseless inner function."""
    rng = np.random.default_rng(2)
    normals = []
    for function in range(101, 131):
        if function in NOISY_LEFT_OUT:
            continue
        problem = registry.make_problem(f"bbob-noisy-f{function}-{d}d", seed=5)
        X = rng.uniform(-5, 5, (5, d))
        true = np.array([problem.evaluate(dict(zip(problem.space.names, x))).true_value
                         for x in X])
        theirs = np.array([_fresh_cocoex_value(problem.coco, x) for x in X])
        f_opt = problem.optimum.value
        if problem.model.kind == "gaussian":
            g = (theirs - f_opt - 1.01e-8) / (true - f_opt)
            np.testing.assert_allclose(g, g[0], rtol=1e-11, err_msg=str(function))
            normals.append(np.log(g[0]) / problem.model.beta)
        elif problem.model.kind == "cauchy":
            c = theirs - true
            np.testing.assert_allclose(c, c[0], rtol=0, atol=1e-9, err_msg=str(function))
    np.testing.assert_allclose(normals, normals[0], rtol=1e-9)


def test_noisy_noise_comes_from_the_seed_alone():
    """Same seed, same values whatever cocoex does in between; another seed, other noise;
    a batch draws what single evaluations draw; noise never touches true_value."""
    name = "bbob-noisy-f108-5d"
    configs = registry.make_problem(name).space.sample(np.random.default_rng(3), 20)
    a, b, c = (registry.make_problem(name, seed=s) for s in (3, 3, 18))
    first = [a.evaluate(x) for x in configs]
    cocoex.Suite("bbob-noisy", "", "dimensions: 2 instance_indices: 1")  # resets COCO's
    second = b.evaluate_batch(configs)
    assert [(e.value, e.true_value) for e in first] == \
        [(e.value, e.true_value) for e in second]
    third = c.evaluate_batch(configs)  # repeat 18: instance 4 again, other noise
    assert c.coco.instance == a.coco.instance == 4
    assert [e.true_value for e in third] == [e.true_value for e in first]
    assert [e.value for e in third] != [e.value for e in first]
    assert all(e.value != e.true_value for e in first)


def test_seed_is_the_repeat_through_a_real_cell():
    """A cell's problem seed is its repeat for the BBOB family (instance repeat % 15 + 1),
    still the hashed seed for the others; the fingerprint names the instance."""
    def cell(repeat: int, problem: str = "bbob-f15-5d") -> Cell:
        return Cell(problem, "random", Budget(4), repeat=repeat, master_seed=7)

    instances = {r: cell(r).build_problem().coco.instance for r in (0, 3, 15)}
    assert instances == {0: 1, 3: 4, 15: 1}
    assert cell(3).problem_seed == 3
    assert cell(3, "branin").problem_seed == seeds.problem_seed(7, "branin", 3)
    fingerprints = {r: cell(r).build_problem().fingerprint() for r in (0, 1)}
    assert fingerprints[0] == cell(0).build_problem().fingerprint() != fingerprints[1]
    assert cell(1).build_problem().describe()["coco"]["instance"] == 2
    result = cell(3).run()
    assert result.status == "done" and result.n_trials == 4
    assert registry.make_problem("bbob-f15-5d").describe()["coco"] == {
        "suite": "bbob", "function": 15, "dimension": 5, "instance": 1}


def test_register_problem_refuses_an_unknown_instance_scheme():
    with pytest.raises(ValueError, match="instances must be one of"):
        registry.register_problem("never-registered", lambda seed=None: None,
                                  instances="hashed")


def test_groups_and_tags_select_cocos_function_groups(capsys):
    assert [group_of(f) for f in (1, 5, 6, 9, 10, 14, 15, 19, 20, 24)] == [
        "bbob-separable", "bbob-separable", "bbob-low-conditioning", "bbob-low-conditioning",
        "bbob-high-conditioning", "bbob-high-conditioning", "bbob-multimodal-adequate",
        "bbob-multimodal-adequate", "bbob-multimodal-weak", "bbob-multimodal-weak"]
    assert sorted(GROUPS) == list(range(1, 25))
    table = registry.entries("problem")
    for group, functions in GROUP_FUNCTIONS.items():
        tagged = {n for n, e in table.items() if group in e.tags and n in NOISELESS}
        assert tagged == {f"bbob-f{f:02d}-{d}d" for f in functions for d in DIMENSIONS}
    separable = {n for n in NOISELESS if "separable" in table[n].tags}
    assert separable == {f"bbob-f{f:02d}-{d}d" for f in range(1, 6) for d in DIMENSIONS}
    assert all({"bbob", "synthetic", "continuous"} <= set(table[n].tags) for n in NOISELESS)
    assert main(["list", "problems", "--tag", "bbob-multimodal-weak"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()
              if line.startswith("bbob")}
    assert {f"bbob-f{f:02d}-40d" for f in range(20, 25)} <= listed
    assert not any(n.startswith("bbob-f1") for n in listed)


def test_pickles_without_the_live_cocoex_problem():
    problem = registry.make_problem("bbob-f03-10d", seed=2)
    config = problem.space.sample(np.random.default_rng(4))
    before = problem.evaluate(config)
    assert problem._live is not None
    clone = pickle.loads(pickle.dumps(problem))
    assert clone._live is None and clone.coco == problem.coco
    assert clone.evaluate(config) == before
