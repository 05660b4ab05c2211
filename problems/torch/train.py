"""Training loop, functional optimizers, populations, checkpoints and determinism.

Everything here works on flat parameter vectors (see ``hpbench.problems.torch.models``): one net is
``theta`` of shape ``(n,)``, a population of same-architecture nets is ``(P, n)`` with its
hyperparameters as ``(P, 1)`` columns, and the same optimizer code updates either.

Determinism
    ``deterministic_torch()`` switches on ``torch.use_deterministic_algorithms`` (with
    ``torch.utils.deterministic.fill_uninitialized_memory`` off: it NaN-fills every fresh
    buffer, which costs ~30% on these small nets and is only a debugging aid) and one intra-op
    thread (a reduction split over a different number of threads rounds differently), and
    restores all three on exit. All randomness of a training run comes from its own CPU
    ``torch.Generator``: the epoch permutations (``torch.randperm``) and the dropout uniforms
    (``torch.rand``), drawn in that order, then moved to the device. Its state travels in the
    checkpoint, so 3 epochs + 6 resumed epochs equal 9 straight epochs bit for bit on the CPU.
    On CUDA the same holds per device when ``CUBLAS_WORKSPACE_CONFIG`` is set before CUDA
    starts (the problems set ``:4096:8`` if it is unset, as the PyTorch reproducibility notes
    require); CUDA and CPU results agree only to float32 rounding accumulated over training
    (not measured here: this machine has no GPU; expect ~1e-5 relative on the loss of a short
    run, growing with the number of steps).

Optimizers
    ``sgd``: PyTorch's SGD with heavy-ball momentum (Polyak 1964; ``buf = m * buf + g``,
    ``theta -= lr * buf``, dampening 0) and coupled L2 weight decay (``g += wd * theta``).
    ``adam``: Kingma & Ba 2015 with ``beta1`` = the momentum setting, ``beta2 = 0.999``,
    ``eps = 1e-8``, coupled L2 weight decay, and PyTorch's form of the update
    (``theta -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)``). Both are written out of place
    so they can be differentiated with respect to ``lr``, ``wd`` and the momentum.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpbench.problems.torch.data import Dataset
from hpbench.problems.torch.models import NetSpec
from hpbench.store import atomic_write

OPTIMIZERS = ("sgd", "adam")
#: Adam's second-moment decay and epsilon (Kingma & Ba 2015, the PyTorch defaults)
ADAM_BETA2 = 0.999
ADAM_EPS = 1e-8
DTYPES = ("float32", "float64")
#: checkpoint format version (bump when the payload changes)
CHECKPOINT_FORMAT = 1


@contextlib.contextmanager
def deterministic_torch(threads: int = 1) -> Iterator[None]:
    """Deterministic kernels and ``threads`` intra-op threads inside; previous state after."""
    import torch
    import torch.utils.deterministic as tud

    prev = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            tud.fill_uninitialized_memory, torch.get_num_threads(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.use_deterministic_algorithms(True)
    tud.fill_uninitialized_memory = False
    if prev[3] != threads:
        torch.set_num_threads(threads)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev[0], warn_only=prev[1])
        tud.fill_uninitialized_memory = prev[2]
        if torch.get_num_threads() != prev[3]:
            torch.set_num_threads(prev[3])
        torch.backends.cudnn.deterministic = prev[4]
        torch.backends.cudnn.benchmark = prev[5]


def resolve_device(device: str):
    """``"auto"`` is CUDA when available, else the CPU."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' but torch.cuda.is_available() is False")
        # cuBLAS is only deterministic with a fixed workspace (PyTorch reproducibility notes);
        # it must be set before the first cuBLAS call, so set it here if the user did not
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    return torch.device(device)


def torch_dtype(name: str):
    import torch

    if name not in DTYPES:
        raise ValueError(f"dtype must be one of {list(DTYPES)}, got {name!r}")
    return getattr(torch, name)


@dataclass
class TensorData:
    """A ``Dataset``'s arrays as tensors on one device."""

    X_train: Any
    y_train: Any
    X_val: Any
    y_val: Any
    X_test: Any
    y_test: Any

    @classmethod
    def from_dataset(cls, data: Dataset, device, dtype) -> TensorData:
        import torch

        def t(a, labels=False):
            return torch.as_tensor(a).to(device=device,
                                         dtype=torch.int64 if labels else dtype)

        return cls(t(data.X_train), t(data.y_train, True), t(data.X_val), t(data.y_val, True),
                   t(data.X_test), t(data.y_test, True))

    @property
    def n_train(self) -> int:
        return int(self.y_train.shape[0])


@dataclass
class Hypers:
    """Continuous training hyperparameters as tensors: 0-d for one net, ``(P, 1)`` columns for
    a stack (so they broadcast against ``(P, n)`` parameter rows; ``Hypers.stack``)."""

    lr: Any
    weight_decay: Any
    momentum: Any
    dropout: Any

    NAMES = ("lr", "weight_decay", "momentum", "dropout")

    @classmethod
    def stack(cls, members: Sequence[Hypers]) -> Hypers:
        """(P, 1) columns from members' 0-d values (differentiable: views of the leaves)."""
        import torch

        return cls(*(torch.stack([getattr(m, n).reshape(()) for m in members]).view(-1, 1)
                     for n in cls.NAMES))

    @classmethod
    def make(cls, values: Mapping[str, float], device, dtype) -> Hypers:
        """0-d tensors of one net's ``values``."""
        import torch

        return cls(*(torch.tensor(float(values[n]), device=device, dtype=dtype)
                     for n in cls.NAMES))


@dataclass
class TrainState:
    """Everything training needs to continue: weights, optimizer state, RNG, epoch."""

    theta: Any
    opt: dict[str, Any]
    kind: str  # optimizer: "sgd" or "adam"
    generator: Any  # torch.Generator (CPU)
    epoch: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def detach(self) -> None:
        """Drop the autograd history (after a recorded, differentiated training stretch)."""
        self.theta = self.theta.detach()
        self.opt = {k: v.detach() for k, v in self.opt.items()}


def init_opt_state(kind: str, theta) -> dict[str, Any]:
    """Zero optimizer state for ``theta`` (``(n,)`` or ``(P, n)``)."""
    import torch

    if kind == "sgd":
        return {"buf": torch.zeros_like(theta)}
    if kind == "adam":
        return {"m": torch.zeros_like(theta), "v": torch.zeros_like(theta),
                "t": torch.zeros(theta.shape[:-1] + (1,) * (theta.dim() > 1),
                                 dtype=theta.dtype, device=theta.device)}
    raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {kind!r}")


def pow_each(base, exponent):
    """``base ** exponent`` elementwise, each element rounded as it would be alone.

    ATen's ``pow`` kernel computes runs of 8 (AVX2) or 16 (AVX-512) contiguous elements with
    SLEEF's vector ``pow`` and the rest with the C library's, and the two differ in the last
    bit for about 1 input in 60. A member of a stack of 16 would then get another Adam bias
    correction than the same net trained alone (a stack of one, always the scalar loop) and
    drift from it. A strided view of the base is not contiguous, so ATen takes its scalar
    loop for every element: the same rounding for any population size (tested with 16+).
    """
    import torch

    if exponent.numel() <= 1:
        return base ** exponent
    if not isinstance(base, torch.Tensor):
        base = torch.full_like(exponent, base)
    base = base.expand_as(exponent)
    return torch.stack([base, base], dim=-1)[..., 0] ** exponent


def opt_step(kind: str, theta, grad, state: dict[str, Any], hp: Hypers, *,
             inplace: bool = False):
    """One update; returns ``(theta, state)``. Out of place, hence differentiable; with
    ``inplace`` it overwrites ``theta``, ``grad`` and the state's tensors instead (training
    without a recorded graph: no fresh ``(P, n)`` buffers per step), with the same
    operations in the same order, hence the same values bit for bit."""
    if inplace:
        return _opt_step_inplace(kind, theta, grad, state, hp)
    g = grad + hp.weight_decay * theta
    if kind == "sgd":
        buf = hp.momentum * state["buf"] + g
        return theta - hp.lr * buf, {"buf": buf}
    t = state["t"] + 1
    m = hp.momentum * state["m"] + (1 - hp.momentum) * g
    v = ADAM_BETA2 * state["v"] + (1 - ADAM_BETA2) * g * g
    bc1 = 1 - pow_each(hp.momentum, t)
    bc2 = 1 - pow_each(ADAM_BETA2, t)
    denom = v.sqrt() / bc2.sqrt() + ADAM_EPS
    return theta - (hp.lr / bc1) * m / denom, {"m": m, "v": v, "t": t}


def _opt_step_inplace(kind: str, theta, grad, state: dict[str, Any], hp: Hypers):
    """``opt_step`` overwriting its arguments (see there); each line is the out-of-place
    expression it replaces, evaluated in the same order (``a * b == b * a`` and
    ``a + b == b + a`` exactly in IEEE arithmetic)."""
    g = grad.add_(theta * hp.weight_decay)  # grad + wd * theta
    if kind == "sgd":
        buf = state["buf"].mul_(hp.momentum).add_(g)  # momentum * buf + g
        return theta.sub_(buf * hp.lr), state  # theta - lr * buf
    t = state["t"].add_(1)
    m = state["m"].mul_(hp.momentum).add_(g * (1 - hp.momentum))  # b1 * m + (1 - b1) * g
    gg = g * (1 - ADAM_BETA2)
    v = state["v"].mul_(ADAM_BETA2).add_(gg.mul_(g))  # b2 * v + ((1 - b2) * g) * g
    bc1 = 1 - pow_each(hp.momentum, t)
    bc2 = 1 - pow_each(ADAM_BETA2, t)
    denom = v.sqrt().div_(bc2.sqrt()).add_(ADAM_EPS)  # sqrt(v) / sqrt(bc2) + eps
    return theta.sub_(m.mul(hp.lr / bc1).div_(denom)), state  # theta - (lr / bc1) * m / denom


def keep_masks(uniforms: Sequence[Any], dropout, stacked: bool) -> list[Any] | None:
    """Inverted-dropout masks ``(u >= p) / (1 - p)`` from the drawn uniforms."""
    if not uniforms:
        return None
    if stacked:  # uniforms (b, w) shared or (P, b, w) per member; p is a (P, 1) column
        p = dropout.unsqueeze(-1)
        return [(u >= p) * (1 / (1 - p)) for u in uniforms]
    return [(u >= dropout) * (1 / (1 - dropout)) for u in uniforms]


class Trainer:
    """Minibatch training of ``spec`` on ``data`` with batch size ``batch_size``.

    An epoch is one pass over a fresh permutation of the training set in batches of
    ``batch_size`` (the last one smaller when it does not divide), so it has
    ``steps_per_epoch = ceil(n_train / batch_size)`` steps.

    Specs with ``stacked = True`` (the MLP) always train through ``forward_stacked`` on a
    stack of ``P >= 1`` members, one net being a stack of one: batched matrix products compute
    each member exactly as they would compute it alone, so a member's weights do not depend
    on which or how many others it trains with — batched and one-by-one training agree bit
    for bit (tested). ``torch.func.vmap`` would be the generic route, but its batching rules
    turn shared-input linear layers into one wide matrix product whose rounding depends on
    the population size, and its per-call overhead makes single runs 2-4x slower here.
    Other specs train one net at a time with ``forward``.
    """

    def __init__(self, spec: NetSpec, data: TensorData, batch_size: int) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.spec = spec
        self.data = data
        self.batch_size = int(batch_size)
        self.stacked = bool(spec.stacked)
        n = data.n_train
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.batch_sizes = [min(self.batch_size, n - s * self.batch_size)
                            for s in range(self.steps_per_epoch)]
        self._widths = spec.dropout_widths()

    # state ----------------------------------------------------------------------
    def fresh_state(self, kind: str, init_seed: int, train_seed: int) -> TrainState:
        """New weights from ``init_seed``, zero optimizer state, generator at ``train_seed``."""
        import torch

        theta = self.spec.init(torch.Generator().manual_seed(init_seed),
                               self.data.X_train.dtype, self.data.X_train.device)
        return TrainState(theta, init_opt_state(kind, theta), kind,
                          torch.Generator().manual_seed(train_seed), 0)

    # randomness -----------------------------------------------------------------
    def _draw_uniforms(self, generator, b: int) -> list[Any]:
        import torch

        dev, dt = self.data.X_train.device, self.data.X_train.dtype
        return [torch.rand(b, w, generator=generator, dtype=dt).to(dev) for w in self._widths]

    def _perm(self, generator):
        import torch

        return torch.randperm(self.data.n_train, generator=generator).to(
            self.data.X_train.device)

    # losses -----------------------------------------------------------------------
    def loss(self, params, x, y, masks):
        """Mean cross-entropy of one net given its parameter tensors (``forward``)."""
        import torch.nn.functional as F

        return F.cross_entropy(self.spec.forward(params, x, masks), y)

    def logits(self, theta, X):
        """Logits of the one net ``theta`` (``(n,)``) on ``X``, computed the way training
        computes them (a stack of one for stacked specs)."""
        spec = self.spec
        if self.stacked:
            return spec.forward_stacked(spec.unflatten(theta.unsqueeze(0)), X.unsqueeze(0),
                                        None)[0]
        return spec.forward(spec.unflatten(theta), X, None)

    def _grad(self, theta, x, y, masks, graph: bool):
        """Minibatch gradient (flat, per member), ``theta`` (made a graph leaf in graph mode)
        and the minibatch loss per member (detached)."""
        import torch
        import torch.nn.functional as F

        if graph:
            if not theta.requires_grad:
                theta = theta.detach().requires_grad_(True)
            params = self.spec.unflatten(theta)
        else:
            # gradients with respect to the views themselves: differentiating through the
            # slicing of a flat leaf would allocate a full-size zero gradient per tensor
            params = [p.detach().requires_grad_(True) for p in self.spec.unflatten(theta)]
        with torch.enable_grad():
            if self.stacked:
                logits = self.spec.forward_stacked(params, x, masks)
                P, b, c = logits.shape
                losses = F.cross_entropy(logits.reshape(P * b, c), y.reshape(P * b),
                                         reduction="none").view(P, b).mean(1)
                total = losses.sum()  # member p's gradient is that of its own mean loss
            else:
                losses = total = self.loss(params, x, y, masks)
            gs = torch.autograd.grad(total, params, create_graph=graph)
        lead = theta.shape[:-1]
        return torch.cat([g.reshape(*lead, -1) for g in gs], dim=-1), theta, losses.detach()

    # training -------------------------------------------------------------------------
    def train(self, state: TrainState, hp: Hypers, epochs: int, *,
              switch_step: int | None = None, late: Hypers | None = None) -> float:
        """Train ``state`` in place for ``epochs`` epochs; returns the last epoch's mean loss.

        From step ``switch_step`` on (counted within this call) the hyperparameters ``late``
        are used instead of ``hp``; when any of them requires grad those steps are recorded
        for differentiation (truncated reverse-mode, see ``hpbench.problems.torch.hypergrad``).
        """
        return self._run([state], [hp], epochs, switch_step, late)[0]

    def train_population(self, states: Sequence[TrainState], hps: Sequence[Hypers],
                         epochs: int) -> list[float]:
        """Train same-architecture members together (stacked weights, one pass per step).

        Members with the same generator state (fresh starts of one problem instance) share
        the permutations and dropout uniforms, exactly as each would draw them alone;
        otherwise each draws from its own generator in the same order as ``train`` does.
        """
        if not self.stacked and len(states) != 1:
            raise ValueError(f"{self.spec.kind} nets train one at a time, got a population of "
                             f"{len(states)}")
        return self._run(states, hps, epochs, None, None)

    def _run(self, states: Sequence[TrainState], hps: Sequence[Hypers], epochs: int,
             switch_step: int | None, late: Hypers | None) -> list[float]:
        import torch

        P = len(states)
        kind = states[0].kind
        if any(s.kind != kind for s in states):
            raise ValueError(f"a population must share one optimizer, got "
                             f"{[s.kind for s in states]}")
        data = self.data
        shapes = {k: v.shape for k, v in states[0].opt.items()}
        if self.stacked:
            theta = torch.stack([s.theta for s in states])
            # 0-d entries (Adam's step count) become (P, 1) columns, like the hyperparameters
            opt = {k: torch.stack([s.opt[k] for s in states]).view(P, *(shape or (1,)))
                   for k, shape in shapes.items()}
            hp = Hypers.stack(hps)
            late = None if late is None else Hypers.stack([late])
        else:
            # copies: the steps below overwrite theta and the optimizer state in place
            theta, hp = states[0].theta.clone(), hps[0]
            opt = {k: v.clone() for k, v in states[0].opt.items()}
        gen_states = [s.generator.get_state() for s in states]
        shared = all(torch.equal(gen_states[0], g) for g in gen_states[1:])
        gens = [states[0].generator] if shared else [s.generator for s in states]
        graph_hp = late is not None and any(
            getattr(late, n).requires_grad for n in Hypers.NAMES)
        step, last = 0, [math.nan] * P
        n_features = data.X_train.shape[1]
        for _ in range(int(epochs)):
            total = torch.zeros(P, dtype=torch.float64, device=data.X_train.device)
            perms = [self._perm(g) for g in gens]
            for s, b in enumerate(self.batch_sizes):
                lo = s * self.batch_size
                idx = [p[lo:lo + b] for p in perms]
                draws = [self._draw_uniforms(g, b) for g in gens]
                if shared:
                    x, y, uniforms = data.X_train[idx[0]], data.y_train[idx[0]], draws[0]
                    if self.stacked:
                        x, y = x.expand(P, b, n_features), y.expand(P, b)
                else:
                    stacked_idx = torch.stack(idx)
                    x, y = data.X_train[stacked_idx], data.y_train[stacked_idx]
                    uniforms = [torch.stack(u) for u in zip(*draws)]
                use_late = switch_step is not None and step >= switch_step
                h = late if use_late else hp
                graph = use_late and graph_hp
                masks = keep_masks(uniforms, h.dropout, self.stacked)
                with torch.enable_grad() if graph else torch.no_grad():
                    g, theta, losses = self._grad(theta, x, y, masks, graph)
                    theta, opt = opt_step(kind, theta, g, opt, h, inplace=not graph)
                total += losses.double() * b
                step += 1
            last = (total / data.n_train).tolist()
        for i, st in enumerate(states):
            if self.stacked:
                st.theta = theta[i].clone()
                st.opt = {k: v[i].reshape(shapes[k]).clone() for k, v in opt.items()}
            else:
                st.theta, st.opt = theta, opt
            if shared and i > 0:
                st.generator.set_state(states[0].generator.get_state())
            st.epoch += int(epochs)
        return last

    # evaluation -------------------------------------------------------------------------
    def val_loss(self, theta, split: str = "val"):
        """Mean cross-entropy of the one net ``theta`` on ``split``, differentiable."""
        import torch.nn.functional as F

        X, y = self._split(split)
        return F.cross_entropy(self.logits(theta, X), y)

    def _split(self, split: str):
        d = self.data
        table = {"train": (d.X_train, d.y_train), "val": (d.X_val, d.y_val),
                 "test": (d.X_test, d.y_test)}
        if split not in table:
            raise ValueError(f"split must be one of {list(table)}, got {split!r}")
        return table[split]

    def metrics(self, theta, split: str) -> tuple[float, float]:
        """(mean cross-entropy, error rate) of the one net ``theta`` on ``split``; rows with a
        non-finite logit count as errors."""
        import torch
        import torch.nn.functional as F

        X, y = self._split(split)
        with torch.no_grad():
            logits = self.logits(theta.detach(), X)
            loss = float(F.cross_entropy(logits, y))
            right = (logits.argmax(1) == y) & torch.isfinite(logits).all(1)
            error = 1.0 - float(right.double().mean())
        return loss, error


# checkpoints -------------------------------------------------------------------------------
def save_checkpoint(path: Path, state: TrainState) -> None:
    """Write ``state`` to ``path`` atomically (``hpbench.store.atomic_write``)."""
    import torch

    payload = {"format": CHECKPOINT_FORMAT, "theta": state.theta.detach().cpu(),
               "opt": {k: v.detach().cpu() for k, v in state.opt.items()},
               "kind": state.kind, "generator": state.generator.get_state(),
               "epoch": int(state.epoch), "meta": state.meta}
    # whole or not at all, and on disk before the trial is journaled: a resumed cell replays
    # trials whose checkpoints a later trial continues
    atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: Path, device, dtype) -> TrainState:
    """The state saved at ``path`` on ``device`` (weights and optimizer state in ``dtype``)."""
    import torch

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path} (was that trial evaluated with a "
                                f"checkpoint context, and did it succeed?)")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint {path} has format {payload.get('format')!r}, expected "
                         f"{CHECKPOINT_FORMAT}")
    gen = torch.Generator()
    gen.set_state(payload["generator"])
    return TrainState(payload["theta"].to(device=device, dtype=dtype),
                      {k: v.to(device=device, dtype=dtype) for k, v in payload["opt"].items()},
                      payload["kind"], gen, int(payload["epoch"]), dict(payload["meta"]))
