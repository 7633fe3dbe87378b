"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to document
recognition"), in two forms, both from one layer table.

``lenet5_classic`` (the paper, on 32x32x1 inputs):

    C1 conv 5x5, 6 maps   -> (28, 28, 6)     tanh
    S2 avg-pool 2x2 s2    -> (14, 14, 6)
    C3 conv 5x5, 16 maps  -> (10, 10, 16)    tanh
    S4 avg-pool 2x2 s2    -> (5, 5, 16)
    C5 fc 400 -> 120                         tanh
    F6 fc 120 -> 84                          tanh
    output fc 84 -> num_classes

Deviations from the paper, named: S2/S4 are plain average pools (the paper's subsampling layers
have a trainable coefficient and bias per map); C3 connects to all 6 maps (the paper's sparse
connection table breaks symmetry on 1998 hardware budgets); the output is a linear layer under a
softmax loss instead of Euclidean RBF units.

``lenet5_course`` (the course's "LeNet-5"-like table, Course 4 week 2, 32x32x3 inputs): 8 and 16
filters, ReLU, max pools, FC 120 and 84, softmax 10. Its parameter counts, as PyTorch counts them
(every filter has a weight per input channel plus one bias):

    CONV1 5*5*3*8 + 8 = 608     CONV2 5*5*8*16 + 16 = 3,216
    FC3 400*120 + 120 = 48,120  FC4 120*84 + 84 = 10,164    softmax 84*10 + 10 = 850

The course's table lists 208 / 416 / 48,001 / 10,081 / 841: it counts a conv layer as
``(f*f + 1) * n_filters`` (one input channel) and a dense layer as ``n_in * n_out + 1`` (one bias);
``course_table_param_counts`` reproduces those numbers from the same layer table.

Like every dlzoo CNN it has ``stem`` (empty here), ``stages`` and ``head``, so the fine-tuning helpers
of ``dlzoo.models.pretrained`` apply. The stages are ``features`` (the conv/pool table) and
``fully_connected`` (C5 and F6: in the paper C5 is a 5x5 convolution over 5x5 maps, i.e. a dense
layer); the head is the output layer alone, so a frozen backbone leaves a linear classifier on
learned features.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from dlzoo.models.mlp import make_activation

# (kind, out_channels or None, kernel, stride)
Layer = tuple[str, int | None, int, int]

CLASSIC: list[Layer] = [("conv", 6, 5, 1), ("pool", None, 2, 2), ("conv", 16, 5, 1), ("pool", None, 2, 2)]
COURSE: list[Layer] = [("conv", 8, 5, 1), ("pool", None, 2, 2), ("conv", 16, 5, 1), ("pool", None, 2, 2)]


class LeNet5(nn.Module):
    """A LeNet-5 family network: a conv/pool table, then fully connected layers.

    Args:
        in_channels: input channels (1 for grey digits).
        num_classes: output logits.
        layers: the conv/pool table (``CLASSIC`` or ``COURSE``).
        fc_sizes: hidden fully connected sizes.
        activation: nonlinearity after every conv and hidden fc layer.
        pool: ``avg`` (paper) or ``max`` (course).
        input_size: the square input side the table expects (32).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        layers: Sequence[Sequence] = CLASSIC,
        fc_sizes: Sequence[int] = (120, 84),
        activation: str = "tanh",
        pool: str = "avg",
        input_size: int = 32,
    ) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.in_channels, self.input_size = in_channels, input_size
        features: list[nn.Module] = []
        channels, side = in_channels, input_size
        for kind, out_channels, kernel, stride in layers:
            if kind == "conv":
                features += [nn.Conv2d(channels, out_channels, kernel, stride), make_activation(activation)]
                channels = out_channels
            elif kind == "pool":
                features.append(nn.AvgPool2d(kernel, stride) if pool == "avg" else nn.MaxPool2d(kernel, stride))
            else:
                raise ValueError(f"unknown layer kind {kind!r} in the LeNet table")
            side = (side - kernel) // stride + 1  # floor((n + 2p - f) / s + 1) with p = 0
        self.stem = nn.Identity()

        fully_connected: list[nn.Module] = [nn.Flatten()]
        sizes = [channels * side * side, *fc_sizes]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            fully_connected += [nn.Linear(n_in, n_out), make_activation(activation)]
        self.stages = nn.Sequential(
            OrderedDict(features=nn.Sequential(*features), fully_connected=nn.Sequential(*fully_connected))
        )
        self.head = nn.Sequential(nn.Linear(sizes[-1], num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1:] != (self.in_channels, self.input_size, self.input_size):
            raise ValueError(
                f"LeNet5 expects images of shape (B, {self.in_channels}, {self.input_size}, {self.input_size}), "
                f"got {tuple(x.shape)}"
            )
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def lenet5_classic(in_channels: int = 1, num_classes: int = 10) -> LeNet5:
    """The 1998 form: 6/16 maps, tanh, average pools, 32x32 inputs."""
    return LeNet5(in_channels, num_classes, CLASSIC, (120, 84), "tanh", "avg")


def lenet5_course(in_channels: int = 3, num_classes: int = 10) -> LeNet5:
    """The course's table form: 8/16 filters, ReLU, max pools, 32x32x3 inputs."""
    return LeNet5(in_channels, num_classes, COURSE, (120, 84), "relu", "max")


def course_table_param_counts(model: LeNet5) -> list[int]:
    """Parameter counts the way the course's table counts them: ``(f*f + 1) * filters`` for a conv
    layer (one input channel per filter, plus a bias) and ``n_in * n_out + 1`` for a dense layer."""
    counts = []
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            f = layer.kernel_size[0]
            counts.append((f * f + 1) * layer.out_channels)
        elif isinstance(layer, nn.Linear):
            counts.append(layer.in_features * layer.out_features + 1)
    return counts
