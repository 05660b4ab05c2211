"""PyTorch net problems: real training, epochs as fidelity, checkpoints, hypergradients and
batched populations. Everything runs on the CPU in seconds (CUDA when available); no data is
downloaded.

Registered names
    ``torch-mlp-digits``    an MLP on scikit-learn's 8x8 digits: learning rate (log), weight
                            decay (log), momentum / Adam's beta1, dropout, batch size (log
                            int), width (log int), depth, activation, optimizer (SGD / Adam).
    ``torch-cnn-digits``    a small CNN on the digit images: channels, kernel size, learning
                            rate, weight decay, dropout (Adam, beta1 0.9, batch size 64).
    ``torch-nas-digits``    an architecture space (number of layers, per-layer width and
                            activation active up to the chosen depth, skip connections,
                            LayerNorm) trained with fixed settings (Adam, lr 3e-3, weight
                            decay 1e-4, batch size 64, no dropout).
    ``torch-mlp-synthetic`` the MLP space on a generated 10-class set of ``n_samples``
                            examples (default 10 000), for the speed benchmarks.

Objective
    The validation cross-entropy after the given number of epochs (``objective="error"``:
    the validation error rate), ``test_value`` the same metric on the held-out test split,
    ``cost`` the epochs trained by this evaluation. A run whose validation loss is not
    finite or exceeds ``DIVERGED_LOSS`` (ten times the loss of a uniform guess) reports
    ``DIVERGED_LOSS`` and ``info["diverged"] = True``, so a diverged config is a bad value,
    not a crash.

Fidelity and checkpoints
    ``Fidelity(1, epochs, "epochs", integer=True)``. With an ``EvalContext`` every evaluation
    saves its state (flat weights, optimizer state, the training generator's state, the
    epoch; ``hpbench.problems.torch.train.save_checkpoint``) as ``<scratch>/trial-<k>.pt``.
    ``ctx.resume_from = j`` continues trial ``j``'s state up to the requested epochs and
    trains only the increment (``cost`` = the increment; the runner charges the same share of
    the budget). Hyperband resumes the same config; PBT may resume another member's state
    with different hyperparameters: the architecture (every parameter that shapes the net)
    must match, the training hyperparameters may change, and when the optimizer type changes
    its state starts from zero. A resumed run equals a straight run bit for bit on the CPU.
    Without a scratch folder the problem keeps checkpoints in a private temporary folder,
    removed by ``cleanup``.

Determinism
    Seed ``s`` (``None`` means 0) fixes the data split, the initial weights
    (``child_seed(s, "init")``; the same for every config with the same architecture) and the
    training generator (``child_seed(s, "train")``: permutations and dropout uniforms, drawn
    whatever the hyperparameters, so configs meet the same random stream). Evaluations run
    inside ``torch_train.deterministic_torch()`` (deterministic kernels, one thread, restored
    afterwards); same seed and config give the same weights and values bit for bit on the CPU.

Hypergradients
    ``ctx.want_grad`` adds ``grad``: d value / d unit-cube coordinate of the learning rate,
    weight decay and momentum where they are ``Float`` parameters of the space (dropout is
    left out: the loss is a step function of it through the masks). The gradient is that of
    the validation loss (for ``objective="error"`` too: the error rate is piecewise constant).
    ``hypergrad="unroll"`` (default, last ``unroll_steps`` steps) or ``"ift"`` (Neumann
    series with ``neumann_terms`` terms); see ``hpbench.problems.torch.hypergrad``. The evaluation's
    value and weights are those of a plain evaluation; ``cost`` adds the hypergradient's
    work in epoch equivalents and ``cost_fe = cost / epochs``.

Batched populations (the MLP problems: capability "vectorized")
    ``evaluate_batch`` groups configs that share every discrete parameter (architecture,
    batch size, optimizer, activation), the starting epoch and the target epochs, and trains
    each group of two or more in one pass (``Trainer.train_population``: stacked weights and
    batched matrix products); the rest, and hypergradient requests, run one by one. A single
    MLP trains as a stack of one through the same code, so batched and one-by-one results
    are equal bit for bit (tested) — a config's value never depends on what it was batched
    with. (A ``torch.func.vmap`` version differed from one-by-one training by float32
    rounding that training amplifies chaotically — up to 30% on the loss of a high-learning-
    rate Adam run after 25 epochs — and made single runs 2-4x slower; see ``Trainer``.) The
    CNN (grouped convolutions round differently per group count) and the NAS nets train one
    at a time; ``evaluate_batch`` still accepts batches for them.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpbench.problem import EvalContext, Evaluation, Fidelity, Problem
from hpbench.problems import spread
from hpbench.problems.torch import data as torch_data
from hpbench.problems.torch.hypergrad import DIFFERENTIABLE, METHODS, ift, to_unit_grad, unroll
from hpbench.problems.torch.models import ACTIVATIONS, CNNSpec, MLPSpec, NASSpec, NetSpec
from hpbench.registry import register_problem
from hpbench.seeds import child_seed
from hpbench.space import Categorical, Float, Int, Space

#: reported validation loss of a diverged run: ten times the loss of a uniform guess over 10
#: classes (10 ln 10); real runs on these tasks stay far below it
DIVERGED_LOSS = 10 * math.log(10)
OBJECTIVES = ("loss", "error")


def mlp_space() -> Space:
    return Space(
        lr=Float(1e-4, 0.3, log=True),
        weight_decay=Float(1e-6, 1e-1, log=True),
        momentum=Float(0.0, 0.99),
        dropout=Float(0.0, 0.5),
        batch_size=Int(16, 256, log=True),
        width=Int(16, 128, log=True),
        depth=Int(1, 3),
        activation=Categorical(ACTIVATIONS),
        optimizer=Categorical(("sgd", "adam")),
    )


def cnn_space() -> Space:
    return Space(
        channels=Int(4, 32, log=True),
        kernel_size=Categorical((3, 5)),
        lr=Float(1e-4, 0.1, log=True),
        weight_decay=Float(1e-6, 1e-1, log=True),
        dropout=Float(0.0, 0.5),
    )


#: most layers of the NAS space
NAS_MAX_LAYERS = 4


def nas_space() -> Space:
    params: dict[str, Any] = {"n_layers": Int(1, NAS_MAX_LAYERS)}
    for i in range(1, NAS_MAX_LAYERS + 1):
        when = ("n_layers", tuple(range(i, NAS_MAX_LAYERS + 1)))
        params[f"width_{i}"] = Int(16, 128, log=True, condition=when)
        params[f"activation_{i}"] = Categorical(ACTIVATIONS, condition=when)
    params["skip"] = Categorical((False, True))
    params["norm"] = Categorical(("none", "layernorm"))
    return Space(params)


@dataclass
class _Job:
    """One evaluation, prepared: its net, trainer, starting state and targets."""

    index: int
    config: Mapping[str, Any]
    ctx: EvalContext | None
    spec: NetSpec
    trainer: Any
    state: Any
    hyper: dict[str, float]
    start: int
    target: int
    info: dict

    def group_key(self) -> str:
        return json.dumps([self.spec.describe(), self.state.kind, self.trainer.batch_size,
                           self.start, self.target], sort_keys=True)


class TorchNetProblem(Problem):
    """Shared machinery of the torch problems; subclasses give the space, data, net and the
    training settings of a config."""

    capabilities = frozenset({"fidelity", "checkpoint", "hypergradient"})
    fingerprint_points = 0
    default_epochs = 25
    #: training settings a subclass fixes (the rest come from the config)
    fixed: Mapping[str, Any] = {}

    def __init__(self, space: Space, *, seed: int | None = None, name: str,
                 tags: Sequence[str], epochs: int | None = None, objective: str = "loss",
                 hypergrad: str = "unroll", unroll_steps: int = 50, neumann_terms: int = 10,
                 power_iters: int = 5, ift_samples: int = 512, dtype: str = "float32",
                 device: str = "auto") -> None:
        epochs = self.default_epochs if epochs is None else epochs
        if isinstance(epochs, bool) or int(epochs) != epochs or epochs < 2:
            raise ValueError(f"{name}: epochs must be an integer >= 2, got {epochs!r}")
        if objective not in OBJECTIVES:
            raise ValueError(f"{name}: objective must be one of {list(OBJECTIVES)}, got "
                             f"{objective!r}")
        if hypergrad not in METHODS:
            raise ValueError(f"{name}: hypergrad must be one of {list(METHODS)}, got "
                             f"{hypergrad!r}")
        for key, v in (("unroll_steps", unroll_steps), ("neumann_terms", neumann_terms),
                       ("power_iters", power_iters), ("ift_samples", ift_samples)):
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name}: {key} must be an integer >= 1, got {v!r}")
        from hpbench.problems.torch.train import DTYPES

        if dtype not in DTYPES:
            raise ValueError(f"{name}: dtype must be one of {list(DTYPES)}, got {dtype!r}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"{name}: device must be 'auto', 'cpu' or 'cuda', got {device!r}")
        super().__init__(space, seed=seed, name=name, tags=tags,
                         fidelity=Fidelity(1, int(epochs), name="epochs", integer=True))
        self.settings = {"epochs": int(epochs), "objective": objective,
                         "hypergrad": hypergrad, "unroll_steps": int(unroll_steps),
                         "neumann_terms": int(neumann_terms), "power_iters": int(power_iters),
                         "ift_samples": int(ift_samples), "dtype": dtype, "device": device}
        base = 0 if seed is None else int(seed)
        self._init_seed = child_seed(base, "init")
        self._train_seed = child_seed(base, "train")
        self._ift_seed = child_seed(base, "ift")
        self._dataset: torch_data.Dataset | None = None
        self._tensors = None
        self._device = None
        self._tmp: Path | None = None
        self._finalizer = None

    # subclass hooks -------------------------------------------------------------------
    def load_data(self) -> torch_data.Dataset:
        raise NotImplementedError

    def net(self, config: Mapping[str, Any]) -> NetSpec:
        raise NotImplementedError

    def training(self, config: Mapping[str, Any]) -> tuple[str, int, dict[str, float]]:
        """(optimizer, batch size, {lr, weight_decay, momentum, dropout}) of ``config``."""
        merged = {**self.fixed, **config}
        hyper = {n: float(merged.get(n, 0.0)) for n in ("lr", "weight_decay", "momentum",
                                                         "dropout")}
        return str(merged["optimizer"]), int(merged["batch_size"]), hyper

    # data and devices -------------------------------------------------------------------
    @property
    def dataset(self) -> torch_data.Dataset:
        if self._dataset is None:
            self._dataset = self.load_data()
        return self._dataset

    def _torch(self):
        """(device, dtype, tensors), built on first use."""
        from hpbench.problems.torch.train import TensorData, resolve_device, torch_dtype

        if self._tensors is None:
            self._device = resolve_device(self.settings["device"])
            self._tensors = TensorData.from_dataset(self.dataset, self._device,
                                                    torch_dtype(self.settings["dtype"]))
        return self._device, torch_dtype(self.settings["dtype"]), self._tensors

    def describe(self) -> dict:
        d = super().describe()
        d["settings"] = dict(self.settings)
        d["fixed"] = dict(self.fixed)
        d["data"] = {"name": self.dataset.name, "sizes": list(self.dataset.sizes),
                     "digest": self.dataset.digest}
        # values differ between CPU and CUDA: a GPU cell must not pass for a CPU one
        d["device"] = self._torch()[0].type
        return d

    # checkpoints ------------------------------------------------------------------------
    def _folder(self, ctx: EvalContext) -> Path:
        if ctx.scratch is not None:
            folder = Path(ctx.scratch)
            folder.mkdir(parents=True, exist_ok=True)  # the engine makes it; direct callers may not
            return folder
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="hpbench-torch-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._tmp), True)
        return self._tmp

    def checkpoint_path(self, ctx: EvalContext, trial: int) -> Path:
        """Where trial ``trial``'s state lives for evaluations with context ``ctx``."""
        return self._folder(ctx) / f"trial-{int(trial)}.pt"

    def cleanup(self, scratch: Path | None) -> None:
        """Remove this problem's checkpoints (in ``scratch`` and in its private folder)."""
        if scratch is not None and Path(scratch).is_dir():
            for f in Path(scratch).glob("trial-*.pt*"):
                f.unlink(missing_ok=True)
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
            self._tmp = None

    # evaluation ---------------------------------------------------------------------------
    def _prepare(self, index: int, config: Mapping[str, Any], fidelity: float | None,
                 ctx: EvalContext | None) -> _Job:
        from hpbench.problems.torch.train import Trainer, init_opt_state, load_checkpoint

        device, dtype, tensors = self._torch()
        target = int(self.fidelity.high if fidelity is None else self.fidelity.check(fidelity))
        spec = self.net(config)
        kind, batch_size, hyper = self.training(config)
        trainer = Trainer(spec, tensors, batch_size)
        info: dict[str, Any] = {}
        if ctx is not None and ctx.resume_from is not None:
            path = self.checkpoint_path(ctx, ctx.resume_from)
            state = load_checkpoint(path, device, dtype)
            if state.meta.get("arch") != spec.describe():
                raise ValueError(f"{self.name}: resume_from={ctx.resume_from} has architecture "
                                 f"{state.meta.get('arch')}, but the config asks for "
                                 f"{spec.describe()}; a resumed net must keep its "
                                 f"architecture")
            if state.epoch > target:
                raise ValueError(f"{self.name}: resume_from={ctx.resume_from} already trained "
                                 f"{state.epoch} epochs, more than the requested fidelity "
                                 f"{target}")
            if state.kind != kind:
                state.opt, state.kind = init_opt_state(kind, state.theta), kind
                info["optimizer_reset"] = True
            info["resumed_from"] = int(ctx.resume_from)
        else:
            state = trainer.fresh_state(kind, self._init_seed, self._train_seed)
        state.meta = {"arch": spec.describe(), "problem": self.name,
                      "config": json.loads(json.dumps(dict(config)))}
        return _Job(index, config, ctx, spec, trainer, state, hyper, state.epoch, target, info)

    def _hypers(self, job: _Job):
        from hpbench.problems.torch.train import Hypers

        device, dtype, _ = self._torch()
        return Hypers.make(job.hyper, device, dtype)

    def _evaluate(self, config: Mapping[str, Any], *, fidelity: float | None,
                  ctx: EvalContext | None) -> Evaluation:
        from hpbench.problems.torch.train import deterministic_torch

        with deterministic_torch():
            job = self._prepare(0, config, fidelity, ctx)
            return self._run_single(job, want_grad=ctx is not None and ctx.want_grad)

    def _run_single(self, job: _Job, want_grad: bool) -> Evaluation:
        epochs = job.target - job.start
        hp = self._hypers(job)
        if not want_grad:
            train_loss = job.trainer.train(job.state, hp, epochs)
            return self._finish(job, train_loss)
        wrt = tuple(n for n in DIFFERENTIABLE
                    if isinstance(self.space.get(n), Float) and n in job.config)
        s = self.settings
        if s["hypergrad"] == "unroll":
            hg = unroll(job.trainer, job.state, hp, epochs, s["unroll_steps"], wrt)
            train_loss = hg.info.pop("train_loss")
        else:
            train_loss = job.trainer.train(job.state, hp, epochs)
            hg = ift(job.trainer, job.state, hp, wrt, terms=s["neumann_terms"],
                     power_iters=s["power_iters"], samples=s["ift_samples"],
                     seed=self._ift_seed)
        return self._finish(job, train_loss, hg)

    def _finish(self, job: _Job, train_loss: float, hg=None) -> Evaluation:
        import torch

        from hpbench.problems.torch.train import save_checkpoint

        trainer, state = job.trainer, job.state
        val_loss, val_err = trainer.metrics(state.theta, "val")
        test_loss, test_err = trainer.metrics(state.theta, "test")
        diverged = not (math.isfinite(val_loss) and val_loss < DIVERGED_LOSS) or \
            not bool(torch.isfinite(state.theta).all())
        if self.settings["objective"] == "loss":
            value = DIVERGED_LOSS if diverged else val_loss
            test = test_loss if math.isfinite(test_loss) and test_loss < DIVERGED_LOSS \
                else DIVERGED_LOSS
        else:
            value, test = val_err, test_err
        epochs = job.target - job.start
        info = dict(job.info, epochs_trained=epochs, val_loss=val_loss, val_error=val_err,
                    test_loss=test_loss, test_error=test_err, train_loss=train_loss,
                    diverged=diverged)
        if job.ctx is not None:
            save_checkpoint(self.checkpoint_path(job.ctx, job.ctx.trial), state)
        if hg is None:
            return Evaluation(value, test_value=test, cost=float(epochs), info=info)
        grads = hg.grads
        if diverged:  # the reported loss is the constant DIVERGED_LOSS: flat
            grads = dict.fromkeys(grads, 0.0)
        bad = [n for n, g in grads.items() if not math.isfinite(g)]
        if bad:
            info["grad_nonfinite"] = bad
            grads = {n: (0.0 if n in bad else g) for n, g in grads.items()}
        info.update(hg.info, hypergrad_epochs=hg.extra_epochs)
        cost = epochs + hg.extra_epochs
        return Evaluation(value, test_value=test, cost=cost, cost_fe=cost / self.fidelity.high,
                          grad=to_unit_grad(grads, job.config, self.space), info=info)

    def evaluate_batch(self, configs: Sequence[Mapping[str, Any]],
                       fidelities: Sequence[float | None] | None = None,
                       ctxs: Sequence[EvalContext | None] | None = None) -> list[Evaluation]:
        """Train configs that share their discrete parameters (and start / target epochs)
        together; everything else one by one. See the module doc for the tolerance."""
        from hpbench.problems.torch.train import deterministic_torch

        n = len(configs)
        fidelities, ctxs = self.batch_arguments(configs, fidelities, ctxs)
        results: list[Evaluation | None] = [None] * n
        groups: dict[str, list[_Job]] = {}
        with deterministic_torch():
            for i, (c, f, x) in enumerate(zip(configs, fidelities, ctxs)):
                if x is not None and x.want_grad:
                    results[i] = self._evaluate(c, fidelity=f, ctx=x)
                    continue
                job = self._prepare(i, c, f, x)
                groups.setdefault(job.group_key(), []).append(job)
            for jobs in groups.values():
                if len(jobs) == 1 or not jobs[0].trainer.stacked:
                    for job in jobs:
                        results[job.index] = self._run_single(job, want_grad=False)
                    continue
                losses = jobs[0].trainer.train_population([j.state for j in jobs],
                                                          [self._hypers(j) for j in jobs],
                                                          jobs[0].target - jobs[0].start)
                for job, loss in zip(jobs, losses):
                    results[job.index] = self._finish(job, loss)
        return results  # type: ignore[return-value]


class _MLPProblem(TorchNetProblem):
    # MLPs train in stacks (batched populations, bit for bit equal to one by one)
    capabilities = frozenset({"fidelity", "checkpoint", "hypergradient", "vectorized"})

    def net(self, config: Mapping[str, Any]) -> NetSpec:
        d = self.dataset
        return MLPSpec(d.n_features, d.n_classes, config["width"], config["depth"],
                       config["activation"])


#: "expensive": a cell keeps a trial journal that a resumed cell replays (hpbench.execute)
_TAGS = ("torch", "neural-net", "classification", "multi-fidelity", "mixed", "expensive")


def _listed(name: str, tags: Sequence[str]) -> dict[str, Any]:
    """Registry tags and note: "uninformative" when the shipped spread table flags the
    problem (``problems/spread.py``, table ``problems/torch/spread.csv``)."""
    tags, note = spread.registration(name, tags)
    return {"tags": tags, "note": note}


@register_problem("torch-mlp-digits", packages=("torch", "sklearn"), extra="torch",
                  **_listed("torch-mlp-digits", (*_TAGS, "digits")),
                  description="MLP on scikit-learn's 8x8 digits (9 hyperparameters, epochs "
                              "as fidelity, checkpoints, hypergradients, batched populations)")
class MLPDigits(_MLPProblem):
    """An MLP on the digits: optimizer, learning rate, momentum, weight decay, dropout, batch
    size, width, depth, activation."""

    default_epochs = 25

    def __init__(self, seed: int | None = None, **settings: Any) -> None:
        super().__init__(mlp_space(), seed=seed, name="torch-mlp-digits",
                         tags=(*_TAGS, "digits"), **settings)

    def load_data(self) -> torch_data.Dataset:
        return torch_data.digits(self.seed)


@register_problem("torch-mlp-synthetic", packages=("torch",), extra="torch",
                  **_listed("torch-mlp-synthetic", (*_TAGS, "synthetic-data")),
                  description="the MLP space on a generated 10-class set (n_samples, default "
                              "10000), for speed benchmarks")
class MLPSynthetic(_MLPProblem):
    """The MLP space on ``torch_data.make_synthetic`` data."""

    default_epochs = 10

    def __init__(self, seed: int | None = None, n_samples: int = 10_000,
                 **settings: Any) -> None:
        if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 100:
            raise ValueError(f"torch-mlp-synthetic: n_samples must be an integer >= 100, got "
                             f"{n_samples!r}")
        self.n_samples = int(n_samples)
        super().__init__(mlp_space(), seed=seed, name="torch-mlp-synthetic",
                         tags=(*_TAGS, "synthetic-data"), **settings)

    def load_data(self) -> torch_data.Dataset:
        return torch_data.synthetic(self.seed, n_samples=self.n_samples)


@register_problem("torch-cnn-digits", packages=("torch", "sklearn"), extra="torch",
                  **_listed("torch-cnn-digits", (*_TAGS, "digits", "cnn")),
                  description="small CNN on the 8x8 digit images (channels, kernel size, "
                              "learning rate, weight decay, dropout; Adam)")
class CNNDigits(TorchNetProblem):
    """Two conv layers + linear head on the digit images, trained with Adam."""

    default_epochs = 15
    fixed = {"optimizer": "adam", "momentum": 0.9, "batch_size": 64}

    def __init__(self, seed: int | None = None, **settings: Any) -> None:
        super().__init__(cnn_space(), seed=seed, name="torch-cnn-digits",
                         tags=(*_TAGS, "digits", "cnn"), **settings)

    def load_data(self) -> torch_data.Dataset:
        return torch_data.digits(self.seed)

    def net(self, config: Mapping[str, Any]) -> NetSpec:
        d = self.dataset
        return CNNSpec(d.image_shape, d.n_classes, config["channels"], config["kernel_size"])


@register_problem("torch-nas-digits", packages=("torch", "sklearn"), extra="torch",
                  **_listed("torch-nas-digits", ("torch", "neural-net", "classification",
                                                 "multi-fidelity", "nas", "conditional",
                                                 "digits", "expensive")),
                  description="architecture search on the digits: depth, per-layer width and "
                              "activation (conditional), skip connections, LayerNorm")
class NASDigits(TorchNetProblem):
    """A NAS-style conditional architecture space with fixed training settings."""

    capabilities = frozenset({"fidelity", "checkpoint"})
    default_epochs = 20
    fixed = {"optimizer": "adam", "lr": 3e-3, "weight_decay": 1e-4, "momentum": 0.9,
             "dropout": 0.0, "batch_size": 64}

    def __init__(self, seed: int | None = None, **settings: Any) -> None:
        super().__init__(nas_space(), seed=seed, name="torch-nas-digits",
                         tags=("torch", "neural-net", "classification", "multi-fidelity",
                               "nas", "conditional", "digits", "expensive"), **settings)

    def load_data(self) -> torch_data.Dataset:
        return torch_data.digits(self.seed)

    def net(self, config: Mapping[str, Any]) -> NetSpec:
        d = self.dataset
        k = int(config["n_layers"])
        return NASSpec(d.n_features, d.n_classes,
                       [config[f"width_{i}"] for i in range(1, k + 1)],
                       [config[f"activation_{i}"] for i in range(1, k + 1)],
                       skip=bool(config["skip"]), norm=config["norm"])
