"""GoogLeNet (Inception v1), with its 1x1 bottlenecks and auxiliary classifiers.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015. An Inception module runs four branches on the
same input and concatenates their outputs along the channels:

    1x1 conv  |  1x1 reduce -> 3x3 conv  |  1x1 reduce -> 5x5 conv  |  3x3/1 max-pool -> 1x1 projection

The 1x1 "reduce" convolutions are bottlenecks: they shrink the channels before the costly convolutions
(the course's example: 120 M -> 12.4 M multiplications, `dlzoo.ops.flops.one_by_one_conv_demo`). The
widths of the paper's Table 1 are `INCEPTION_V1`. During training two auxiliary classifiers, on the outputs
of inception4a and inception4d, return extra logits whose losses are added with weight 0.3 (section 5;
`inception_loss`); at inference they are skipped.

The layers are those of `torchvision.models.googlenet`, so `from_torchvision_state_dict` loads torchvision's
(ImageNet) weights. Deviations from the paper, as in torchvision: BatchNorm after every conv and no local
response normalisation; the "5x5" branch uses a 3x3 kernel (a torchvision bug kept for its weights,
pytorch/vision#906; `branch3_kernel=5` builds the paper's); the auxiliary classifiers pool adaptively to
4x4 (the paper's 5x5/3 average pool at 224x224); dropout 0.2 before the last layer instead of 0.4.
`transform_input=True` maps ImageNet-normalised inputs to the (x - 0.5) / 0.5 scaling that torchvision's
ported GoogLeNet weights expect.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# stage -> module name -> (1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection); Table 1.
INCEPTION_V1: dict[str, dict[str, tuple[int, int, int, int, int, int]]] = {
    "stage3": {
        "inception3a": (64, 96, 128, 16, 32, 32),
        "inception3b": (128, 128, 192, 32, 96, 64),
    },
    "stage4": {
        "inception4a": (192, 96, 208, 16, 48, 64),
        "inception4b": (160, 112, 224, 24, 64, 64),
        "inception4c": (128, 128, 256, 24, 64, 64),
        "inception4d": (112, 144, 288, 32, 64, 64),
        "inception4e": (256, 160, 320, 32, 128, 128),
    },
    "stage5": {
        "inception5a": (256, 160, 320, 32, 128, 128),
        "inception5b": (384, 192, 384, 48, 128, 128),
    },
}
STAGE_POOLS = {"stage3": 3, "stage4": 2}  # kernel of the stride-2 max-pool that closes a stage
AUX_TAPS = {"inception4a": "aux1", "inception4d": "aux2"}  # module whose output feeds each aux classifier
AUX_WEIGHT = 0.3


class ConvBNReLU(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class Inception(nn.Module):
    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        branch3_kernel: int = 3,
    ):
        super().__init__()
        self.branch1 = ConvBNReLU(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(ConvBNReLU(in_channels, ch3x3red, 1), ConvBNReLU(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(
            ConvBNReLU(in_channels, ch5x5red, 1),
            ConvBNReLU(ch5x5red, ch5x5, branch3_kernel, padding=branch3_kernel // 2),
        )
        self.branch4 = nn.Sequential(
            nn.MaxPool2d(3, 1, padding=1, ceil_mode=True), ConvBNReLU(in_channels, pool_proj, 1)
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]  # (B, C_k, H, W) each
        return torch.cat(branches, dim=1)  # (B, out_channels, H, W)


class InceptionAux(nn.Module):
    """Auxiliary classifier: 4x4 average pool, 1x1 conv to 128, FC 1024 + ReLU, dropout 0.7, FC num_classes."""

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.7):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = ConvBNReLU(in_channels, 128, 1)
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(self.pool(x)).flatten(1)  # (B, 2048)
        return self.fc2(self.dropout(F.relu(self.fc1(x), inplace=True)))  # (B, num_classes)


class GoogLeNetOutputs(NamedTuple):
    logits: Tensor
    aux1: Tensor
    aux2: Tensor


class GoogLeNet(nn.Module):
    """Returns logits, or GoogLeNetOutputs(logits, aux1, aux2) in training mode when aux_logits is on."""

    def __init__(
        self,
        num_classes: int = 1000,
        in_channels: int = 3,
        aux_logits: bool = True,
        transform_input: bool = False,
        branch3_kernel: int = 3,
        dropout: float = 0.2,
        dropout_aux: float = 0.7,
    ):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input re-normalises RGB inputs; it needs in_channels=3, got {in_channels}")
        self.transform_input = transform_input
        self.stem = nn.Sequential(
            OrderedDict(
                conv1=ConvBNReLU(in_channels, 64, 7, stride=2, padding=3),  # (B, 64, H/2, W/2)
                pool1=nn.MaxPool2d(3, 2, ceil_mode=True),  # (B, 64, H/4, W/4)
                conv2=ConvBNReLU(64, 64, 1),
                conv3=ConvBNReLU(64, 192, 3, padding=1),  # (B, 192, H/4, W/4)
                pool2=nn.MaxPool2d(3, 2, ceil_mode=True),  # (B, 192, H/8, W/8)
            )
        )
        stages, channels, aux_channels = OrderedDict(), 192, {}
        for stage_name, modules in INCEPTION_V1.items():
            blocks = OrderedDict()
            for name, widths in modules.items():
                blocks[name] = Inception(channels, *widths, branch3_kernel=branch3_kernel)
                channels = blocks[name].out_channels
                if name in AUX_TAPS:
                    aux_channels[AUX_TAPS[name]] = channels
            if stage_name in STAGE_POOLS:
                blocks["pool"] = nn.MaxPool2d(STAGE_POOLS[stage_name], 2, ceil_mode=True)  # (B, C, H/2, W/2)
            stages[stage_name] = nn.Sequential(blocks)
        self.stages = nn.Sequential(stages)  # (B, 1024, H/32, W/32)
        self.aux_heads = (
            nn.ModuleDict({name: InceptionAux(c, num_classes, dropout_aux) for name, c in aux_channels.items()})
            if aux_logits
            else None
        )
        self.head = nn.Sequential(
            OrderedDict(
                pool=nn.AdaptiveAvgPool2d(1),
                flatten=nn.Flatten(1),  # (B, 1024)
                dropout=nn.Dropout(dropout),
                fc=nn.Linear(channels, num_classes),  # (B, num_classes)
            )
        )
        for m in self.modules():  # torchvision's init
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)

    def _transform_input(self, x: Tensor) -> Tensor:
        mean = x.new_tensor([0.485, 0.456, 0.406])[:, None, None]
        std = x.new_tensor([0.229, 0.224, 0.225])[:, None, None]
        return (x * std + mean - 0.5) / 0.5  # ImageNet-normalised -> (pixel - 0.5) / 0.5

    def forward(self, x: Tensor) -> Tensor | GoogLeNetOutputs:
        if self.transform_input:
            x = self._transform_input(x)
        x = self.stem(x)
        aux = {}
        for stage in self.stages:
            for name, block in stage.named_children():
                x = block(x)
                if self.training and self.aux_heads is not None and name in AUX_TAPS:
                    aux[AUX_TAPS[name]] = self.aux_heads[AUX_TAPS[name]](x)  # (B, num_classes)
        logits = self.head(x)  # (B, num_classes)
        return GoogLeNetOutputs(logits, aux["aux1"], aux["aux2"]) if aux else logits


def googlenet(
    num_classes: int = 1000, in_channels: int = 3, aux_logits: bool = True, transform_input: bool = False
) -> GoogLeNet:
    return GoogLeNet(num_classes, in_channels, aux_logits, transform_input)


def inception_loss(outputs: Tensor | GoogLeNetOutputs, target: Tensor) -> Tensor:
    """Cross-entropy of the logits, plus 0.3 x that of each auxiliary classifier when they are present."""
    if isinstance(outputs, Tensor):
        return F.cross_entropy(outputs, target)
    main = F.cross_entropy(outputs.logits, target)
    return main + AUX_WEIGHT * (F.cross_entropy(outputs.aux1, target) + F.cross_entropy(outputs.aux2, target))


_TORCHVISION_RENAMES = (
    (r"^conv(\d)\.", r"stem.conv\1."),
    (r"^inception(\d)(\w)\.", r"stages.stage\1.inception\1\2."),
    (r"^aux(\d)\.", r"aux_heads.aux\1."),
    (r"^fc\.", "head.fc."),
)


def from_torchvision_state_dict(state_dict: Mapping[str, Tensor], aux_logits: bool = True) -> dict[str, Tensor]:
    """Rename torchvision GoogLeNet keys to this module's; aux_logits=False drops the auxiliary classifiers."""
    renamed = {}
    for key, value in state_dict.items():
        if not aux_logits and key.startswith("aux"):
            continue
        for pattern, replacement in _TORCHVISION_RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed
