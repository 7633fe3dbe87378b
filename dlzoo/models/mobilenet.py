"""MobileNetV2, the backbone of the course's transfer-learning assignment (course 4, week 2).

Sandler, Howard, Zhu, Zhmoginov, Chen, "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018.
An inverted residual block widens a thin input t times with a 1x1 conv (ReLU6), filters every channel on
its own with a 3x3 depthwise conv (stride s, ReLU6), then projects back to a thin output with a linear 1x1
conv, i.e. with no activation (the "linear bottleneck", section 3.2); when the block keeps the shape
(s = 1, c_in = c_out) its input is added back. The depthwise + 1x1 pair is a depthwise-separable
convolution: f*f*C + C*C' multiplications per pixel instead of f*f*C*C'. The rows (t, c, n, s) of the
paper's Table 2 are `INVERTED_RESIDUAL_SETTING`.

stem: 3x3/2 conv to 32 + BN + ReLU6. stages: the seven bottleneck rows of Table 2 ("bottleneck1".."7"),
then the 1x1 conv to 1280 ("conv_last"). head: global average pool, dropout 0.2, linear to num_classes.
The layers are those of `torchvision.models.mobilenet_v2` (width multiplier 1), so
`from_torchvision_state_dict` loads torchvision's (ImageNet) weights. Deviation from Table 2, as in
torchvision: the final 1x1 conv classifier is a linear layer on the pooled features (the same map) with
dropout before it.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from torch import Tensor, nn

# (expansion t, output channels c, repeats n, first stride s); Table 2.
INVERTED_RESIDUAL_SETTING: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def conv_bn_relu6(
    in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    """conv ("same" padding, no bias) + BN + ReLU6; groups=channels makes it depthwise."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"InvertedResidual stride must be 1 or 2, got {stride}")
        hidden = in_channels * expand_ratio
        self.expand = conv_bn_relu6(in_channels, hidden, 1) if expand_ratio != 1 else None
        self.depthwise = conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden)
        self.project = nn.Sequential(nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels))
        self.use_residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:
        out = x if self.expand is None else self.expand(x)  # (B, t * C_in, H, W)
        out = self.project(self.depthwise(out))  # (B, C_out, H/s, W/s), linear: no activation
        return x + out if self.use_residual else out


class MobileNetV2(nn.Module):
    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.2):
        super().__init__()
        self.stem = conv_bn_relu6(in_channels, STEM_CHANNELS, 3, stride=2)  # (B, 32, H/2, W/2)
        stages, channels = OrderedDict(), STEM_CHANNELS
        for i, (t, c, n, s) in enumerate(INVERTED_RESIDUAL_SETTING):
            blocks = []
            for j in range(n):
                blocks.append(InvertedResidual(channels, c, s if j == 0 else 1, t))
                channels = c
            stages[f"bottleneck{i + 1}"] = nn.Sequential(*blocks)
        stages["conv_last"] = conv_bn_relu6(channels, LAST_CHANNELS, 1)  # (B, 1280, H/32, W/32)
        self.stages = nn.Sequential(stages)
        self.head = nn.Sequential(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(1),  # (B, 1280)
                dropout=nn.Dropout(dropout),
                fc=nn.Linear(LAST_CHANNELS, num_classes),  # (B, num_classes)
            )
        )
        for m in self.modules():  # torchvision's init
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def mobilenet_v2(num_classes: int = 1000, in_channels: int = 3) -> MobileNetV2:
    return MobileNetV2(num_classes, in_channels)


def from_torchvision_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Map torchvision's `features.{i}[.conv.{k}]` keys to `stem` / `stages.bottleneck{r}.{j}.{part}`."""
    prefixes = {"features.0.": "stem.", "classifier.1.": "head.fc."}
    index = 1  # torchvision numbers all blocks in one flat `features` list
    for i, (t, _, n, _) in enumerate(INVERTED_RESIDUAL_SETTING):
        parts = ("depthwise", "project.0", "project.1") if t == 1 else ("expand", "depthwise", "project.0", "project.1")
        for j in range(n):
            for k, part in enumerate(parts):
                prefixes[f"features.{index}.conv.{k}."] = f"stages.bottleneck{i + 1}.{j}.{part}."
            index += 1
    prefixes[f"features.{index}."] = "stages.conv_last."
    renamed = {}
    for key, value in state_dict.items():
        old = next((p for p in prefixes if key.startswith(p)), None)
        if old is None:
            raise ValueError(f"unexpected key {key!r} in a torchvision MobileNetV2 state_dict")
        renamed[prefixes[old] + key[len(old) :]] = value
    return renamed
