"""Networks as pure functions of one flat parameter vector (torch imported lazily).

A ``NetSpec`` describes an architecture: the shapes of its parameter tensors (laid out one
after another in a flat vector ``theta``), where dropout acts, and ``forward(params, x,
masks)`` written with ``torch.nn.functional`` only. Keeping the parameters outside any
``nn.Module`` is what lets the same code

* train one net (``params`` = views into ``theta``),
* train a population of same-architecture nets on stacked ``theta`` rows with batched
  matrix products (``forward_stacked``; see ``hpbench.problems.torch.train.Trainer`` for why not
  ``torch.func.vmap``), and
* differentiate through training steps for hypergradients (``theta`` carries the graph),

with one optimizer implementation working on a single flat vector (a handful of kernel calls
per step whatever the depth).

Initialization is PyTorch's default for ``nn.Linear`` / ``nn.Conv2d`` (``kaiming_uniform_``
with ``a=sqrt(5)``, i.e. weights and biases uniform in ``±1/sqrt(fan_in)``; He et al. 2015 as
implemented in ``torch.nn.modules.linear``), drawn from a seeded ``torch.Generator`` in
float64 on the CPU and then cast, so the global torch RNG is never touched and float32 and
float64 runs start from the same weights up to rounding. LayerNorm gains start at 1, shifts at
0 (Ba et al. 2016).

Dropout (Srivastava et al. 2014) is inverted dropout with explicit masks: the trainer draws
one uniform tensor per dropout site and step from its generator and passes ``(u >= p) /
(1 - p)``; the uniforms are drawn whatever ``p`` is (also for ``p = 0``), so the random
stream does not depend on the hyperparameters (common random numbers across configs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: activation functions by name (resolved to torch functions lazily)
ACTIVATIONS = ("relu", "tanh", "elu", "gelu")


def activation(name: str):
    """The torch function of activation ``name``."""
    import torch
    import torch.nn.functional as F

    table = {"relu": F.relu, "tanh": torch.tanh, "elu": F.elu, "gelu": F.gelu}
    if name not in table:
        raise ValueError(f"activation must be one of {list(table)}, got {name!r}")
    return table[name]


class NetSpec:
    """An architecture: flat parameter layout, dropout sites and a functional forward."""

    kind = ""
    #: whether ``forward_stacked`` exists (trains populations with batched matrix products)
    stacked = False

    def __init__(self, n_features: int, n_classes: int) -> None:
        self.n_features = int(n_features)
        self.n_classes = int(n_classes)
        # (name, shape, fan_in); fan_in -1 means "start at ones", 0 "start at zeros"
        self.layout: list[tuple[str, tuple[int, ...], int]] = []

    # layout -----------------------------------------------------------------
    def _add(self, name: str, shape: Sequence[int], fan_in: int) -> None:
        self.layout.append((name, tuple(int(s) for s in shape), int(fan_in)))

    @property
    def sizes(self) -> list[int]:
        return [math.prod(shape) for _, shape, _ in self.layout]

    @property
    def n_params(self) -> int:
        return sum(self.sizes)

    def unflatten(self, theta):
        """Views of ``theta`` (shape ``(n,)`` or ``(P, n)``) as the parameter tensors."""
        lead = tuple(theta.shape[:-1])
        out, a = [], 0
        for (_, shape, _), size in zip(self.layout, self.sizes):
            out.append(theta[..., a:a + size].view(*lead, *shape))
            a += size
        return out

    def init(self, generator, dtype, device):
        """A fresh flat parameter vector (PyTorch's default init, see the module doc)."""
        import torch

        chunks = []
        for (_, _, fan_in), size in zip(self.layout, self.sizes):
            if fan_in > 0:
                bound = 1.0 / math.sqrt(fan_in)
                t = torch.empty(size, dtype=torch.float64).uniform_(-bound, bound,
                                                                    generator=generator)
            elif fan_in == -1:  # LayerNorm gain
                t = torch.ones(size, dtype=torch.float64)
            else:
                t = torch.zeros(size, dtype=torch.float64)
            chunks.append(t)
        return torch.cat(chunks).to(device=device, dtype=dtype)

    # subclasses ---------------------------------------------------------------
    def dropout_widths(self) -> list[int]:
        """Feature count at each dropout site (masks have shape (batch, width))."""
        return []

    def forward(self, params: Sequence[Any], x, masks: Sequence[Any] | None):
        """Logits ``(batch, classes)`` of one net."""
        raise NotImplementedError

    def forward_stacked(self, params: Sequence[Any], x, masks: Sequence[Any] | None):
        """Logits ``(P, batch, classes)`` of ``P`` nets (parameters with a leading ``P``, ``x``
        and masks ``(P, batch, ...)``), each computed exactly as alone (``stacked`` specs)."""
        raise NotImplementedError(f"{self.kind} nets have no stacked forward")

    def describe(self) -> dict:
        raise NotImplementedError


class MLPSpec(NetSpec):
    """``depth`` hidden layers of ``width`` units with ``activation``, dropout after each."""

    kind = "mlp"
    stacked = True

    def __init__(self, n_features: int, n_classes: int, width: int, depth: int,
                 act: str = "relu") -> None:
        super().__init__(n_features, n_classes)
        if width < 1 or depth < 1:
            raise ValueError(f"MLP: width and depth must be >= 1, got width={width}, "
                             f"depth={depth}")
        activation(act)  # validates the name
        self.width, self.depth, self.act = int(width), int(depth), act
        fan = self.n_features
        for layer in range(self.depth):
            self._add(f"hidden{layer}.weight", (self.width, fan), fan)
            self._add(f"hidden{layer}.bias", (self.width,), fan)
            fan = self.width
        self._add("out.weight", (self.n_classes, fan), fan)
        self._add("out.bias", (self.n_classes,), fan)

    def dropout_widths(self) -> list[int]:
        return [self.width] * self.depth

    def forward(self, params, x, masks):
        import torch.nn.functional as F

        act = activation(self.act)
        h = x
        for layer in range(self.depth):
            h = act(F.linear(h, params[2 * layer], params[2 * layer + 1]))
            if masks is not None:
                h = h * masks[layer]
        return F.linear(h, params[-2], params[-1])

    def forward_stacked(self, params, x, masks):
        import torch

        act = activation(self.act)
        h = x
        for layer in range(self.depth):
            w, b = params[2 * layer], params[2 * layer + 1]
            h = act(torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2)))
            if masks is not None:
                h = h * masks[layer]
        return torch.baddbmm(params[-1].unsqueeze(1), h, params[-2].transpose(1, 2))

    def describe(self) -> dict:
        return {"type": self.kind, "in": self.n_features, "out": self.n_classes,
                "width": self.width, "depth": self.depth, "activation": self.act}


class CNNSpec(NetSpec):
    """Two same-padded convolutions on the 8x8 image (``channels`` then ``2 channels``), each
    followed by ReLU and 2x2 max-pooling, dropout on the flattened 2x2 maps, a linear
    classifier (LeNet-style, LeCun et al. 1998, shrunk to 8x8 inputs)."""

    kind = "cnn"

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int, channels: int,
                 kernel_size: int) -> None:
        c, h, w = image_shape
        super().__init__(c * h * w, n_classes)
        if kernel_size % 2 != 1 or kernel_size < 1:
            raise ValueError(f"CNN: kernel_size must be odd and >= 1 (same padding), got "
                             f"{kernel_size}")
        if h % 4 or w % 4:
            raise ValueError(f"CNN: image height and width must be multiples of 4 (two 2x2 "
                             f"poolings), got {image_shape}")
        self.image_shape = (int(c), int(h), int(w))
        self.channels, self.kernel_size = int(channels), int(kernel_size)
        k, c1, c2 = self.kernel_size, self.channels, 2 * self.channels
        self._add("conv1.weight", (c1, c, k, k), c * k * k)
        self._add("conv1.bias", (c1,), c * k * k)
        self._add("conv2.weight", (c2, c1, k, k), c1 * k * k)
        self._add("conv2.bias", (c2,), c1 * k * k)
        self.flat = c2 * (h // 4) * (w // 4)
        self._add("out.weight", (n_classes, self.flat), self.flat)
        self._add("out.bias", (n_classes,), self.flat)

    def dropout_widths(self) -> list[int]:
        return [self.flat]

    def forward(self, params, x, masks):
        import torch.nn.functional as F

        pad = self.kernel_size // 2
        h = x.reshape(-1, *self.image_shape)
        h = F.max_pool2d(F.relu(F.conv2d(h, params[0], params[1], padding=pad)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, params[2], params[3], padding=pad)), 2)
        h = h.flatten(1)
        if masks is not None:
            h = h * masks[0]
        return F.linear(h, params[4], params[5])

    def describe(self) -> dict:
        return {"type": self.kind, "image": list(self.image_shape), "out": self.n_classes,
                "channels": self.channels, "kernel_size": self.kernel_size}


class NASSpec(NetSpec):
    """A searched MLP cell stack: per layer its width and activation, optional LayerNorm
    before the activation, optional skip connections (identity where the widths agree, a
    bias-free linear projection otherwise; He et al. 2016), no dropout."""

    kind = "nas"

    def __init__(self, n_features: int, n_classes: int, widths: Sequence[int],
                 activations: Sequence[str], skip: bool, norm: str) -> None:
        super().__init__(n_features, n_classes)
        if not widths or len(widths) != len(activations):
            raise ValueError(f"NAS: need one activation per layer and at least one layer, got "
                             f"widths={list(widths)}, activations={list(activations)}")
        if norm not in ("none", "layernorm"):
            raise ValueError(f"NAS: norm must be 'none' or 'layernorm', got {norm!r}")
        for a in activations:
            activation(a)
        self.widths = tuple(int(w) for w in widths)
        self.acts = tuple(activations)
        self.skip, self.norm = bool(skip), norm
        self._plan = []  # per layer: (has_norm, projection index or None / "identity")
        fan = self.n_features
        for i, w in enumerate(self.widths):
            self._add(f"layer{i}.weight", (w, fan), fan)
            self._add(f"layer{i}.bias", (w,), fan)
            if self.norm == "layernorm":
                self._add(f"layer{i}.ln_gain", (w,), -1)
                self._add(f"layer{i}.ln_shift", (w,), 0)
            proj = None
            if self.skip:
                if w == fan:
                    proj = "identity"
                else:
                    self._add(f"layer{i}.proj", (w, fan), fan)
                    proj = "proj"
            self._plan.append(proj)
            fan = w
        self._add("out.weight", (self.n_classes, fan), fan)
        self._add("out.bias", (self.n_classes,), fan)

    def forward(self, params, x, masks):
        import torch.nn.functional as F

        h, k = x, 0
        for w, act, proj in zip(self.widths, self.acts, self._plan):
            z = F.linear(h, params[k], params[k + 1])
            k += 2
            if self.norm == "layernorm":
                z = F.layer_norm(z, (w,), params[k], params[k + 1])
                k += 2
            z = activation(act)(z)
            if proj == "identity":
                z = z + h
            elif proj == "proj":
                z = z + F.linear(h, params[k])
                k += 1
            h = z
        return F.linear(h, params[k], params[k + 1])

    def describe(self) -> dict:
        return {"type": self.kind, "in": self.n_features, "out": self.n_classes,
                "widths": list(self.widths), "activations": list(self.acts),
                "skip": self.skip, "norm": self.norm}
