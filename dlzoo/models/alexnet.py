"""AlexNet.

Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional Neural Networks",
NeurIPS 2012: five conv layers (11x11/4, 5x5, 3x3, 3x3, 3x3) with ReLU and 3x3/2 overlapping max-pools after
the first, second and fifth, then fully connected layers 4096, 4096, num_classes with dropout 0.5.
The layer list is `ALEXNET_CONVS`.

The layers are those of `torchvision.models.alexnet`, so `from_torchvision_state_dict` loads torchvision's
(ImageNet) weights. Deviations from the 2012 paper, as in torchvision, which follows Krizhevsky's "One weird
trick for parallelizing convolutional neural networks" (2014): widths 64, 192, 384, 256, 256 instead of
96, 256, 384, 384, 256, no local response normalisation, no split across two GPUs, and an adaptive average
pool to 6x6 before the classifier so inputs other than 224x224 (>= 63x63) work.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from torch import Tensor, nn

# (out_channels, kernel, stride, padding, max-pool after); conv1 is the stem, conv2..conv5 the stages.
ALEXNET_CONVS: tuple[tuple[int, int, int, int, bool], ...] = (
    (64, 11, 4, 2, True),
    (192, 5, 1, 2, True),
    (384, 3, 1, 1, False),
    (256, 3, 1, 1, False),
    (256, 3, 1, 1, True),
)


def conv_layer(
    in_channels: int, out_channels: int, kernel: int, stride: int, padding: int, pool: bool
) -> nn.Sequential:
    """conv + ReLU (+ 3x3/2 max-pool)."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel, stride, padding), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(3, 2))
    return nn.Sequential(*layers)


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5):
        super().__init__()
        layers = []
        for out_channels, *spec in ALEXNET_CONVS:
            layers.append(conv_layer(in_channels, out_channels, *spec))
            in_channels = out_channels
        self.stem = layers[0]  # (B, 64, 27, 27) at 224x224
        self.stages = nn.Sequential(OrderedDict((f"conv{i + 2}", layer) for i, layer in enumerate(layers[1:])))
        self.head = nn.Sequential(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(6),  # (B, 256, 6, 6)
                flatten=nn.Flatten(1),  # (B, 9216)
                drop1=nn.Dropout(dropout),
                fc1=nn.Linear(in_channels * 6 * 6, 4096),
                relu1=nn.ReLU(inplace=True),
                drop2=nn.Dropout(dropout),
                fc2=nn.Linear(4096, 4096),
                relu2=nn.ReLU(inplace=True),
                fc3=nn.Linear(4096, num_classes),  # (B, num_classes)
            )
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def alexnet(num_classes: int = 1000, in_channels: int = 3) -> AlexNet:
    return AlexNet(num_classes, in_channels)


def from_torchvision_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map torchvision's flat `features.{i}` / `classifier.{i}` keys to `stem` / `stages.conv{k}` / `head.fc{k}`."""
    flat = []  # this module's name of each of torchvision's `features` layers, in order
    for i, (*_, pool) in enumerate(ALEXNET_CONVS):
        prefix = "stem" if i == 0 else f"stages.conv{i + 1}"
        flat += [f"{prefix}.{j}" for j in range(3 if pool else 2)]
    prefixes = {f"features.{i}.": f"{name}." for i, name in enumerate(flat)}
    prefixes |= {"classifier.1.": "head.fc1.", "classifier.4.": "head.fc2.", "classifier.6.": "head.fc3."}
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if module + "." not in prefixes:
            raise ValueError(f"unexpected key {key!r} in a torchvision AlexNet state_dict")
        renamed[prefixes[module + "."] + param] = value
    return renamed
