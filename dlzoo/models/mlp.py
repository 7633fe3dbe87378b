"""Fully connected deep network of Courses 1 and 2 ("Deep L-layer neural network").

For layers l = 1 .. L with sizes ``[n_0, hidden_sizes..., num_classes]``:

    Z[l] = W[l] A[l-1] + b[l]            (bias dropped when batch norm follows, its beta replaces it)
    Z~[l] = gamma[l] * (Z[l] - mu) / sqrt(sigma^2 + eps) + beta[l]     (optional batch norm, C2W3)
    A[l] = g(Z~[l])                      hidden layers: sigmoid, tanh, relu or leaky_relu
    D[l] ~ Bernoulli(keep_prob[l]);  A[l] = A[l] * D[l] / keep_prob[l]  (inverted dropout, C2W1)

The last layer returns the logits Z[L]; the task applies sigmoid/softmax inside the loss.
L2 regularisation (lambda / (2m) * sum_l ||W[l]||_F^2) belongs to the cost, so it lives in the
classification task (``l2_lambda``), which adds it for any network.

Inverted dropout is ``nn.Dropout(p = 1 - keep_prob)``: PyTorch's dropout is the same inverted
scheme (scale the kept units by 1/keep_prob during training, identity at eval). ``dropout_seed``
swaps in ``CourseDropout``, the masks of the C2W1 notebook, which re-seeds NumPy at every forward
pass and so drops the same units of the same examples at every step.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dlzoo.models.init import init_linear_, numpy_init_

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
}


def make_activation(name: str) -> nn.Module:
    """A fresh activation module by its course name."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


class CourseDropout(nn.Module):
    """Inverted dropout with the masks of the C2W1 notebook (``forward_propagation_with_dropout``).

    The notebook calls ``np.random.seed(seed)`` at the top of every forward pass, then draws
    ``D[l] = np.random.rand(n_l, m) < keep_prob`` for the hidden layers in order and computes
    ``A[l] = A[l] * D[l] / keep_prob``. Every step therefore drops the same units of the same
    examples: a fixed thinned network rather than fresh masks (a deviation from dropout as the
    lecture describes it, reproduced here because the course's numbers depend on it). ``offset`` is
    the number of units of the dropout layers before this one, whose draws come first.
    """

    def __init__(self, keep_prob: float, units: int, offset: int = 0, seed: int = 1) -> None:
        super().__init__()
        self.keep_prob, self.units, self.offset, self.seed = keep_prob, units, offset, seed
        self._mask: torch.Tensor | None = None  # (m, units) of 0/1, the same for every batch of m examples

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return a
        mask = self._mask
        if mask is None or mask.shape != a.shape or mask.dtype != a.dtype or mask.device != a.device:
            m = a.shape[0]
            draws = np.random.RandomState(self.seed).rand((self.offset + self.units) * m)[self.offset * m :]
            keep = draws.reshape(self.units, m).T < self.keep_prob  # (m, units); the course draws (units, m)
            mask = self._mask = torch.as_tensor(keep, dtype=a.dtype, device=a.device)
        return a * mask / self.keep_prob  # (m, units), in the course's order of operations


class MLP(nn.Module):
    """Flatten, then ``len(hidden_sizes)`` hidden layers and a linear output layer.

    Args:
        in_features: n_0, features per example after flattening.
        hidden_sizes: n_1 .. n_{L-1}.
        num_classes: n_L; 1 for a binary sigmoid output.
        activation: hidden-layer activation g.
        init: ``zeros``, ``random`` (``init_scale * randn``), ``xavier``, ``he`` or ``default``.
        init_scale: the scale of ``random``.
        keep_prob: dropout keep probability, one float for every hidden layer or one per hidden
            layer; 1.0 disables dropout. The output layer never drops.
        batch_norm: batch norm between each hidden linear layer and its activation.
        numpy_seed: draw the initial weights from NumPy as the course does (``np.random.seed``,
            then layer by layer); None draws them from torch.
        dropout_seed: None draws fresh dropout masks from torch at every step; an int uses the
            C2W1 notebook's masks (``CourseDropout``), the same at every step.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: Sequence[int] = (64,),
        num_classes: int = 1,
        activation: str = "relu",
        init: str = "he",
        init_scale: float = 0.01,
        keep_prob: float | Sequence[float] = 1.0,
        batch_norm: bool = False,
        numpy_seed: int | None = None,
        dropout_seed: int | None = None,
    ) -> None:
        super().__init__()
        hidden_sizes = list(hidden_sizes)
        keep = [float(keep_prob)] * len(hidden_sizes) if isinstance(keep_prob, (int, float)) else list(keep_prob)
        if len(keep) != len(hidden_sizes):
            raise ValueError(f"keep_prob has {len(keep)} entries but the network has {len(hidden_sizes)} hidden layers")
        if any(not 0.0 < p <= 1.0 for p in keep):
            raise ValueError(f"keep_prob values must lie in (0, 1], got {keep}")
        self.in_features = in_features

        layers: list[nn.Module] = [nn.Flatten()]
        sizes = [in_features, *hidden_sizes]
        dropped = 0  # units of the dropout layers so far (CourseDropout draws their masks first)
        for n_prev, n, p in zip(sizes[:-1], sizes[1:], keep):
            linear = nn.Linear(n_prev, n, bias=not batch_norm)
            init_linear_(linear, init, init_scale)
            layers.append(linear)
            if batch_norm:
                layers.append(nn.BatchNorm1d(n))
            layers.append(make_activation(activation))
            if p < 1.0 and dropout_seed is None:
                layers.append(nn.Dropout(p=1.0 - p))
            elif p < 1.0:
                layers.append(CourseDropout(p, n, dropped, dropout_seed))
                dropped += n
        head = nn.Linear(sizes[-1], num_classes)
        init_linear_(head, init, init_scale)
        layers.append(head)
        self.layers = nn.Sequential(*layers)
        if numpy_seed is not None:
            numpy_init_([m for m in self.layers if isinstance(m, nn.Linear)], init, numpy_seed, init_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(1)  # (B, n_0)
        if flat.shape[1] != self.in_features:
            raise ValueError(
                f"MLP expects {self.in_features} features per example, got {flat.shape[1]} "
                f"(input of shape {tuple(x.shape)}); set in_features to match the data"
            )
        return self.layers(x)  # (B, num_classes)
