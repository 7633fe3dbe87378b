"""VGG-11/13/16/19, with and without batch norm.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", ICLR 2015.
Five blocks of 3x3 convolutions (stride 1, "same" padding, ReLU), each closed by a 2x2/2 max-pool, so the
receptive field grows by stacking small filters instead of using large ones; then fully connected layers
4096, 4096, num_classes with dropout. Configurations A, B, D and E of the paper's Table 1 (11, 13, 16 and
19 weight layers) are `VGG_BLOCKS`: the conv widths of each block.

The layers are those of `torchvision.models.vgg*`, so `from_torchvision_state_dict` loads torchvision's
(ImageNet) weights. Deviations from the paper, as in torchvision: an adaptive average pool to 7x7 before the
classifier, so inputs other than 224x224 (>= 32x32) work; the `_bn` variants put BatchNorm (Ioffe & Szegedy,
2015) after every conv, which the paper predates.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

from torch import Tensor, nn

# depth -> conv widths of the five blocks (Table 1, configurations A, B, D, E).
VGG_BLOCKS: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    13: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    16: ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    19: ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512), (512, 512, 512, 512)),
}


def vgg_block(in_channels: int, widths: Sequence[int], batch_norm: bool) -> nn.Sequential:
    """[conv3x3 (+ BN) + ReLU] per width, then a 2x2/2 max-pool: (B, C, H, W) -> (B, widths[-1], H/2, W/2)."""
    layers: list[nn.Module] = []
    for width in widths:
        layers.append(nn.Conv2d(in_channels, width, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.ReLU(inplace=True))
        in_channels = width
    layers.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    def __init__(
        self,
        blocks: Sequence[Sequence[int]],
        num_classes: int = 1000,
        in_channels: int = 3,
        batch_norm: bool = False,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.stem = nn.Identity()  # VGG has no stem: its five blocks are alike
        stages = OrderedDict()
        for i, widths in enumerate(blocks):
            stages[f"block{i + 1}"] = vgg_block(in_channels, widths, batch_norm)
            in_channels = widths[-1]
        self.stages = nn.Sequential(stages)  # (B, 512, H/32, W/32)
        self.head = nn.Sequential(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(7),  # (B, 512, 7, 7)
                flatten=nn.Flatten(1),  # (B, 25088)
                fc1=nn.Linear(in_channels * 7 * 7, 4096),
                relu1=nn.ReLU(inplace=True),
                drop1=nn.Dropout(dropout),
                fc2=nn.Linear(4096, 4096),
                relu2=nn.ReLU(inplace=True),
                drop2=nn.Dropout(dropout),
                fc3=nn.Linear(4096, num_classes),  # (B, num_classes)
            )
        )
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def vgg(depth: int, num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    if depth not in VGG_BLOCKS:
        raise ValueError(f"unknown VGG depth {depth}; expected one of {sorted(VGG_BLOCKS)}")
    return VGG(VGG_BLOCKS[depth], num_classes, in_channels, batch_norm)


def vgg11(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    return vgg(11, num_classes, in_channels, batch_norm)


def vgg13(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    return vgg(13, num_classes, in_channels, batch_norm)


def vgg16(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    return vgg(16, num_classes, in_channels, batch_norm)


def vgg19(num_classes: int = 1000, in_channels: int = 3, batch_norm: bool = False) -> VGG:
    return vgg(19, num_classes, in_channels, batch_norm)


def from_torchvision_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map torchvision's flat `features.{i}` / `classifier.{i}` keys to `stages.block{b}.{j}` / `head.fc{k}`.

    The depth and whether BN is used are read off the state_dict (number of conv kernels, presence of
    running statistics), which fixes the flat layer order.
    """
    num_convs = sum(1 for k, v in state_dict.items() if k.startswith("features.") and v.dim() == 4)
    depth = num_convs + 3  # + three FC layers
    if depth not in VGG_BLOCKS:
        raise ValueError(f"state_dict has {num_convs} conv layers, which is no VGG in {sorted(VGG_BLOCKS)}")
    batch_norm = any(k.endswith("running_mean") for k in state_dict)
    layers_per_conv = 3 if batch_norm else 2  # conv (+ BN) + ReLU
    flat = [
        f"stages.block{b + 1}.{j}"
        for b, widths in enumerate(VGG_BLOCKS[depth])
        for j in range(len(widths) * layers_per_conv + 1)  # + max-pool
    ]
    prefixes = {f"features.{i}.": f"{name}." for i, name in enumerate(flat)}
    prefixes |= {"classifier.0.": "head.fc1.", "classifier.3.": "head.fc2.", "classifier.6.": "head.fc3."}
    renamed = {}
    for key, value in state_dict.items():
        module, _, param = key.rpartition(".")
        if module + "." not in prefixes:
            raise ValueError(f"unexpected key {key!r} in a torchvision VGG state_dict")
        renamed[prefixes[module + "."] + param] = value
    return renamed
