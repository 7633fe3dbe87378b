"""Multiplication counter for convolution and linear layers, and the course's 1x1-convolution cost demo.

A convolution output element is a dot product over the filter window, so a Conv2d layer performs

    mults = (elements of its output) * (C_in / groups) * f_h * f_w

multiplications, and a Linear layer mults = (elements of its output) * in_features. Biases are additions and
are not counted, as in the course. The count comes from forward hooks that read the real output shapes, so
it covers any model built from Conv2d / Linear layers (other layers contribute nothing here).

The demo is the course's Inception cost example (Szegedy et al., 2015, "Going Deeper with Convolutions",
section 4): on a 28x28x192 volume, a 5x5 "same" convolution to 32 channels costs 28*28*32*5*5*192 ~ 120 M
multiplications; a 1x1 bottleneck to 16 channels followed by the same 5x5 convolution costs ~ 12.4 M.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from dlzoo.ops.conv import same_padding


@dataclass
class MultCount:
    """Total multiplications of one forward pass, and the count of each Conv2d / Linear layer by name."""

    total: int = 0
    per_layer: dict[str, int] = field(default_factory=dict)


def _layer_mults(module: nn.Module, output: Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        fh, fw = module.kernel_size
        return output.numel() * (module.in_channels // module.groups) * fh * fw
    return output.numel() * module.in_features  # nn.Linear


@torch.no_grad()
def count_multiplications(model: nn.Module, *inputs: Tensor) -> MultCount:
    """Run `model(*inputs)` once and count the multiplications of its Conv2d and Linear layers.

    The count is for the whole batch given; a layer called twice is counted twice.
    """
    count = MultCount()

    def hook(module: nn.Module, _inputs: tuple[Tensor, ...], output: Tensor, name: str) -> None:
        mults = _layer_mults(module, output)
        count.per_layer[name] = count.per_layer.get(name, 0) + mults
        count.total += mults

    handles = [
        module.register_forward_hook(lambda m, i, o, name=name: hook(m, i, o, name))
        for name, module in model.named_modules()
        if isinstance(module, (nn.Conv2d, nn.Linear))
    ]
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    return count


def one_by_one_conv_demo(
    size: int = 28, in_channels: int = 192, out_channels: int = 32, bottleneck: int = 16, f: int = 5
) -> dict[str, int]:
    """The course's cost example, counted on real nn.Conv2d layers.

    Returns the multiplications of the direct f x f convolution ("direct"), of the 1x1 bottleneck layer
    ("bottleneck_1x1"), of the f x f convolution after it ("bottleneck_fxf") and their sum ("bottleneck").
    """
    x = torch.zeros(1, in_channels, size, size)  # (1, 192, 28, 28)
    direct = nn.Conv2d(in_channels, out_channels, f, padding=same_padding(f))
    reduced = nn.Sequential(
        nn.Conv2d(in_channels, bottleneck, 1),  # (1, 16, 28, 28)
        nn.Conv2d(bottleneck, out_channels, f, padding=same_padding(f)),  # (1, 32, 28, 28)
    )
    reduced_count = count_multiplications(reduced, x)
    return {
        "direct": count_multiplications(direct, x).total,
        "bottleneck_1x1": reduced_count.per_layer["0"],
        "bottleneck_fxf": reduced_count.per_layer["1"],
        "bottleneck": reduced_count.total,
    }
