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
scheme (scale the kept units by 1/keep_prob during training, identity at eval).
"""

from __future__ import annotations

from collections.abc import Sequence

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
        for n_prev, n, p in zip(sizes[:-1], sizes[1:], keep):
            linear = nn.Linear(n_prev, n, bias=not batch_norm)
            init_linear_(linear, init, init_scale)
            layers.append(linear)
            if batch_norm:
                layers.append(nn.BatchNorm1d(n))
            layers.append(make_activation(activation))
            if p < 1.0:
                layers.append(nn.Dropout(p=1.0 - p))
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
