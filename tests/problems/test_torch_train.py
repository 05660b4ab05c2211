"""Torch problems: determinism, checkpoints and resume, budgets in the runner, batched
populations, divergence, settings, and importing without torch."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import hpbench
from hpbench import Budget, EvalContext, Optimizer, Suggestion
from hpbench.problems.torch.nets import DIVERGED_LOSS
from hpbench.problems.torch.train import load_checkpoint, pow_each
from hpbench.runner import run_loop

CFG = dict(lr=0.01, weight_decay=1e-4, momentum=0.9, dropout=0.2, batch_size=128, width=16,
           depth=2, activation="relu", optimizer="adam")


def mlp(seed=3, **settings):
    return hpbench.make_problem("torch-mlp-digits", seed=seed, **{"epochs": 9, **settings})


def state(path):
    return load_checkpoint(path, "cpu", torch.float32)


def assert_same_state(a, b):
    assert torch.equal(a.theta, b.theta)
    assert a.opt.keys() == b.opt.keys() and all(torch.equal(a.opt[k], b.opt[k]) for k in a.opt)
    assert torch.equal(a.generator.get_state(), b.generator.get_state())
    assert a.epoch == b.epoch


def test_same_seed_same_weights_and_values_bit_for_bit(tmp_path):
    first = mlp().evaluate(CFG, fidelity=4, ctx=EvalContext(trial=0, scratch=tmp_path / "a"))
    second = mlp().evaluate(CFG, fidelity=4, ctx=EvalContext(trial=0, scratch=tmp_path / "b"))
    assert (first.value, first.test_value) == (second.value, second.test_value)
    assert_same_state(state(tmp_path / "a" / "trial-0.pt"), state(tmp_path / "b" / "trial-0.pt"))
    other = mlp(seed=4).evaluate(CFG, fidelity=4)
    assert other.value != first.value


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_equals_straight_run_bit_for_bit(tmp_path, optimizer):
    problem = mlp()
    cfg = dict(CFG, optimizer=optimizer)
    part = problem.evaluate(cfg, fidelity=3, ctx=EvalContext(trial=0, scratch=tmp_path))
    resumed = problem.evaluate(cfg, fidelity=9,
                               ctx=EvalContext(trial=1, scratch=tmp_path, resume_from=0))
    straight = problem.evaluate(cfg, fidelity=9, ctx=EvalContext(trial=2, scratch=tmp_path))
    assert (part.cost, resumed.cost, straight.cost) == (3.0, 6.0, 9.0)
    assert resumed.value == straight.value and resumed.test_value == straight.test_value
    assert_same_state(state(tmp_path / "trial-1.pt"), state(tmp_path / "trial-2.pt"))
    assert resumed.info["resumed_from"] == 0


def test_pbt_resume_continues_another_trials_weights_with_new_hyperparameters(tmp_path):
    problem = mlp()
    donor = problem.evaluate(CFG, fidelity=3, ctx=EvalContext(trial=0, scratch=tmp_path))
    changed = dict(CFG, lr=0.003, dropout=0.0, batch_size=64)
    # zero extra epochs: exactly the donor's weights, whatever the new hyperparameters
    same = problem.evaluate(changed, fidelity=3,
                            ctx=EvalContext(trial=1, scratch=tmp_path, resume_from=0))
    assert same.value == donor.value and same.cost == 0.0
    assert torch.equal(state(tmp_path / "trial-1.pt").theta, state(tmp_path / "trial-0.pt").theta)
    # three more epochs with the new settings: not the donor's run continued, not a fresh one
    grown = problem.evaluate(changed, fidelity=6,
                             ctx=EvalContext(trial=2, scratch=tmp_path, resume_from=0))
    fresh = problem.evaluate(changed, fidelity=6)
    kept = problem.evaluate(CFG, fidelity=6,
                            ctx=EvalContext(trial=3, scratch=tmp_path, resume_from=0))
    assert grown.cost == 3.0 and len({grown.value, fresh.value, kept.value}) == 3
    assert state(tmp_path / "trial-2.pt").epoch == 6
    # switching the optimizer type restarts its state (Adam moments make no sense for SGD)
    sgd = problem.evaluate(dict(CFG, optimizer="sgd"), fidelity=6,
                           ctx=EvalContext(trial=4, scratch=tmp_path, resume_from=0))
    assert sgd.info.get("optimizer_reset") is True
    assert set(state(tmp_path / "trial-4.pt").opt) == {"buf"}


def test_resume_refuses_other_architecture_and_backwards_training(tmp_path):
    problem = mlp()
    problem.evaluate(CFG, fidelity=5, ctx=EvalContext(trial=0, scratch=tmp_path))
    with pytest.raises(ValueError, match="architecture"):
        problem.evaluate(dict(CFG, width=32), fidelity=9,
                         ctx=EvalContext(trial=1, scratch=tmp_path, resume_from=0))
    with pytest.raises(ValueError, match="already trained 5 epochs"):
        problem.evaluate(CFG, fidelity=3, ctx=EvalContext(trial=1, scratch=tmp_path,
                                                          resume_from=0))
    with pytest.raises(FileNotFoundError, match="trial-7.pt"):
        problem.evaluate(CFG, fidelity=9, ctx=EvalContext(trial=1, scratch=tmp_path,
                                                          resume_from=7))


def test_global_torch_state_is_restored():
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    rng = torch.get_rng_state()
    mlp().evaluate(CFG, fidelity=1)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.get_rng_state(), rng)


class _ResumeOnce(Optimizer):
    """Hyperband in miniature: two configs at 3 epochs, the better one continued to 9."""

    batch_size = 2

    def __init__(self, space, **kw):
        super().__init__(space, **kw)
        self.round, self.best = 0, None

    def ask(self, n):
        self.round += 1
        if self.round == 1:
            return [Suggestion(CFG, fidelity=3), Suggestion(dict(CFG, lr=0.05), fidelity=3)]
        if self.round == 2:
            return [Suggestion(self.best.config, fidelity=9, resume_from=self.best.trial)]
        return []

    def tell(self, observations):
        if self.round == 1:
            self.best = min(observations, key=lambda o: o.value)


def test_runner_charges_only_the_increment_and_cleanup_removes_checkpoints(tmp_path):
    problem = mlp()
    opt = _ResumeOnce(problem.space, seed=0, budget=Budget(5), fidelity=problem.fidelity)
    result = run_loop(problem, opt, Budget(5), scratch=tmp_path)
    cols = result.columns
    assert cols["status"] == ["ok"] * 3 and cols["resume_from"][2] in (0, 1)
    assert cols["cost"] == [3.0, 3.0, 6.0]
    np.testing.assert_allclose(np.diff([0.0, *cols["budget_used"]]), [3 / 9, 3 / 9, 6 / 9])
    straight = problem.evaluate(json.loads(cols["config"][2]))
    assert cols["value"][2] == straight.value
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trial-0.pt", "trial-1.pt",
                                                          "trial-2.pt"]
    problem.cleanup(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_without_scratch_a_private_folder_is_used_and_cleaned():
    problem = mlp()
    problem.evaluate(CFG, fidelity=2, ctx=EvalContext(trial=0))
    resumed = problem.evaluate(CFG, fidelity=4, ctx=EvalContext(trial=1, resume_from=0))
    folder = problem.checkpoint_path(EvalContext(), 0).parent
    assert resumed.cost == 2.0 and (folder / "trial-1.pt").exists()
    problem.cleanup(None)
    assert not folder.exists()


def _population(n, seed=0, **fixed):
    rng = np.random.default_rng(seed)
    return [dict(CFG, lr=float(10 ** rng.uniform(-3, -1.5)),
                 weight_decay=float(10 ** rng.uniform(-6, -2)),
                 momentum=float(rng.uniform(0.5, 0.95)), dropout=float(rng.uniform(0, 0.5)),
                 **fixed) for _ in range(n)]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_batched_population_equals_one_by_one_bit_for_bit(tmp_path, optimizer):
    problem = mlp()
    configs = _population(5, optimizer=optimizer)
    ctxs = [EvalContext(trial=i, scratch=tmp_path) for i in range(5)]
    batched = problem.evaluate_batch(configs, [6] * 5, ctxs)
    for i, (b, c) in enumerate(zip(batched, configs)):
        s = problem.evaluate(c, fidelity=6, ctx=EvalContext(trial=10 + i, scratch=tmp_path))
        assert b.cost == s.cost == 6.0 and b.value != DIVERGED_LOSS
        assert (b.value, b.test_value, b.info["train_loss"]) == \
            (s.value, s.test_value, s.info["train_loss"])
        assert_same_state(state(tmp_path / f"trial-{i}.pt"), state(tmp_path / f"trial-{10 + i}.pt"))
    assert len({b.value for b in batched}) == 5
    # a member's result does not depend on its companions either
    again = problem.evaluate_batch(configs[2:4], [6] * 2)
    assert [r.value for r in again] == [r.value for r in batched[2:4]]


def test_a_population_wider_than_the_vector_lanes_equals_one_by_one():
    # 16 members fill AVX2 / AVX-512 lanes: ATen's vectorized pow (Adam's bias corrections)
    # rounds differently from its scalar loop, which a stack of one always takes (pow_each);
    # 3 epochs of batch 16 are 204 Adam steps, past t = 168, where 0.999 ** t first differs
    # (with a plain ``**`` 7 of these 16 members drift from their lone runs)
    problem = mlp()
    configs = _population(16, seed=1, optimizer="adam", batch_size=16)
    batched = problem.evaluate_batch(configs, [3] * 16)
    alone = [problem.evaluate(c, fidelity=3) for c in configs]
    assert [(b.value, b.info["train_loss"]) for b in batched] == \
        [(s.value, s.info["train_loss"]) for s in alone]


def test_pow_each_rounds_every_element_as_it_would_alone():
    base = torch.rand(64, 1, generator=torch.Generator().manual_seed(0)) * 0.45 + 0.5
    for step in range(1, 2000, 37):
        t = torch.full((64, 1), float(step))
        assert torch.equal(pow_each(base, t), torch.cat([base[i:i + 1] ** t[i:i + 1]
                                                         for i in range(64)]))
        assert torch.equal(pow_each(0.999, t), torch.cat([0.999 ** t[i:i + 1]
                                                          for i in range(64)]))
    # a stack of one and 0-d tensors are computed as before
    one = torch.tensor([[0.9]])
    assert torch.equal(pow_each(one, one * 7), one ** (one * 7))
    assert torch.equal(pow_each(0.999, torch.tensor(5.0)), 0.999 ** torch.tensor(5.0))


def test_batch_groups_by_architecture_and_resumes_members_exactly(tmp_path):
    problem = mlp()
    configs = _population(3)
    # trial 0 and 1 trained 3 epochs apart from each other: different generator states
    problem.evaluate(configs[0], fidelity=3, ctx=EvalContext(trial=0, scratch=tmp_path))
    problem.evaluate(configs[1], fidelity=2, ctx=EvalContext(trial=1, scratch=tmp_path))
    problem.evaluate(configs[1], fidelity=3,
                     ctx=EvalContext(trial=2, scratch=tmp_path, resume_from=1))
    wide = dict(configs[2], width=32)  # its own group: trained one by one, bit for bit
    ctxs = [EvalContext(trial=3, scratch=tmp_path, resume_from=0),
            EvalContext(trial=4, scratch=tmp_path, resume_from=2),
            EvalContext(trial=5, scratch=tmp_path)]
    batched = problem.evaluate_batch([configs[0], configs[1], wide], [9, 9, 9], ctxs)
    assert [r.cost for r in batched] == [6.0, 6.0, 9.0]
    assert batched[2].value == problem.evaluate(wide, fidelity=9).value
    # members resumed from different generator states draw their own batches: still exact
    assert batched[0].value == problem.evaluate(configs[0], fidelity=9).value
    assert batched[1].value == problem.evaluate(
        configs[1], fidelity=9, ctx=EvalContext(trial=6, scratch=tmp_path, resume_from=2)).value
    # each member's generator advanced as if it had trained alone
    assert torch.equal(state(tmp_path / "trial-3.pt").generator.get_state(),
                       state(tmp_path / "trial-4.pt").generator.get_state())


def test_diverged_training_is_a_bad_finite_value():
    problem = mlp(seed=0, epochs=25)
    cfg = dict(lr=0.3, weight_decay=1e-6, momentum=0.99, dropout=0.0, batch_size=16,
               width=128, depth=3, activation="elu", optimizer="sgd")
    r = problem.evaluate(cfg, fidelity=3, ctx=EvalContext(want_grad=True))
    assert r.info["diverged"] and r.value == DIVERGED_LOSS == r.test_value
    assert not math.isfinite(r.info["val_loss"]) or r.info["val_loss"] >= DIVERGED_LOSS
    assert r.grad == {"lr": 0.0, "weight_decay": 0.0, "momentum": 0.0}
    err = mlp(seed=0, objective="error").evaluate(cfg, fidelity=3)
    assert err.value == r.info["val_error"] and 0.5 < err.value <= 1.0


def test_error_objective_and_other_problems_run():
    r = mlp(objective="error").evaluate(CFG, fidelity=2)
    assert r.value == r.info["val_error"] and 0 <= r.value <= 1
    assert r.test_value == r.info["test_error"]
    cnn = hpbench.make_problem("torch-cnn-digits", seed=1)
    c = cnn.evaluate(dict(channels=4, kernel_size=3, lr=3e-3, weight_decay=1e-4, dropout=0.1),
                     fidelity=2)
    assert 0 < c.value < math.log(10) and c.cost == 2.0
    nas = hpbench.make_problem("torch-nas-digits", seed=1)
    cfg = {"n_layers": 2, "width_1": 16, "activation_1": "relu", "width_2": 24,
           "activation_2": "tanh", "skip": True, "norm": "layernorm"}
    nas.space.validate(cfg)
    assert 0 < nas.evaluate(cfg, fidelity=2).value < math.log(10)
    assert "width_3" not in nas.space.active(cfg)


@pytest.mark.parametrize("setting, bad", [("epochs", 1), ("objective", "accuracy"),
                                          ("hypergrad", "forward"), ("dtype", "float16"),
                                          ("device", "tpu"), ("unroll_steps", 0)])
def test_bad_settings_are_refused(setting, bad):
    with pytest.raises(ValueError, match=setting):
        hpbench.make_problem("torch-mlp-digits", **{setting: bad})


def test_fingerprint_covers_settings_and_data():
    a = mlp().fingerprint()
    assert a == mlp().fingerprint()
    assert a != mlp(epochs=10).fingerprint() and a != mlp(seed=4).fingerprint()
    assert mlp().describe()["data"]["digest"] == mlp().dataset.digest


def test_modules_import_and_register_without_torch():
    code = textwrap.dedent("""
        import sys
        sys.modules["torch"] = None  # any "import torch" now raises ImportError
        import hpbench.problems.torch.nets, hpbench.problems.torch.train
        import hpbench.problems.torch.hypergrad, hpbench.problems.torch.models
        import hpbench.problems.torch.data, hpbench.problems.hypergradient.ridge
        import hpbench
        names = hpbench.list_problems()
        assert "torch-mlp-digits" in names and "ridge-hypergrad" in names, names
        assert "torch" not in {m.split(".")[0] for m in sys.modules if sys.modules[m]}
        try:  # the registry disables the entry with a clear message
            hpbench.make_problem("torch-mlp-digits", seed=1)
        except hpbench.registry.MissingDependencyError as exc:
            assert "needs torch" in str(exc), exc
        p = hpbench.problems.torch.nets.MLPDigits(seed=1)  # builds; only evaluating needs torch
        try:
            p.evaluate(p.space.sample(__import__("numpy").random.default_rng(0)), fidelity=1)
        except ImportError:
            print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
