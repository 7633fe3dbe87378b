"""ResNet-18/34/50/101/152 and the course's 64x64 six-class ResNet-50.

He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016. A residual block learns a
residual F and outputs relu(F(x) + shortcut(x)), with

    shortcut(x) = x        identity shortcut (eq. 1), when the block keeps width and resolution;
    shortcut(x) = W_s x    projection shortcut (eq. 2): a strided 1x1 conv + BN, when it changes either
                           (the paper's option B).

`BasicBlock` (3x3, 3x3) builds ResNet-18/34 and `Bottleneck` (1x1 reduce, 3x3, 1x1 expand x4) builds
ResNet-50/101/152; the block counts of the paper's Table 1 are `RESNET_LAYERS`. The layers are those of
`torchvision.models.resnet*`, so `from_torchvision_state_dict` loads torchvision's weights, ImageNet ones
included. Deviation from the paper, as in torchvision ("ResNet v1.5"): a downsampling Bottleneck strides
in its 3x3 conv, not its first 1x1 conv.

`ResNet50Signs` is the course's ResNet-50 (course 4, week 2 assignment, written in Keras) for 64x64x3 SIGNS
images and 6 classes: ZeroPadding 3 + 7x7/2 conv + BN + ReLU + 3x3/2 max-pool, then four stages of one
"convolutional block" (a Bottleneck with a projection shortcut) followed by "identity blocks" (Bottlenecks
with identity shortcuts), then 2x2 average pooling and a dense layer. It follows the Keras code: the stride
sits in the first 1x1 conv (as in the paper), every conv has a bias, BatchNormalization uses Keras'
eps = 1e-3 and momentum 0.99 (PyTorch momentum 0.01; PyTorch tracks the unbiased batch variance, Keras the
biased one), weights start Glorot-uniform. It returns logits:
the course's final softmax belongs to the loss here. Its Keras parameter count, 23,600,006, includes the
BN moving mean and variance (non-trainable weights in Keras, buffers in PyTorch); `keras_param_count`
counts the same way: 23,546,886 trainable + 53,120 BN statistics.

Every model here exposes `stem`, `stages` and `head` (see dlzoo.models.pretrained).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from functools import partial

from torch import Tensor, nn

Norm = Callable[[int], nn.Module]


def projection(in_channels: int, out_channels: int, stride: int, bias: bool, norm: Norm) -> nn.Module | None:
    """The shortcut W_s x (1x1 conv + BN) when a block changes shape, None (identity) otherwise."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=bias), norm(out_channels))


class BasicBlock(nn.Module):
    """relu(bn(conv3x3(relu(bn(conv3x3(x))))) + shortcut(x)), for ResNet-18/34."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1, bias: bool = False, norm: Norm = nn.BatchNorm2d):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, padding=1, bias=bias)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=bias)
        self.bn2 = norm(width)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection(in_channels, width, stride, bias, norm)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)  # (B, C_out, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, C_out, H/s, W/s)
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """relu(bn(conv1x1 up(relu(bn(conv3x3(relu(bn(conv1x1 down(x))))))) + shortcut(x)), for ResNet-50+.

    `width` is the reduced width of the 3x3 conv; the block outputs 4 * width channels. `stride_in_1x1`
    puts the stride in the first 1x1 conv (paper, Keras course) instead of the 3x3 conv (torchvision).
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        width: int,
        stride: int = 1,
        bias: bool = False,
        norm: Norm = nn.BatchNorm2d,
        stride_in_1x1: bool = False,
    ):
        super().__init__()
        out_channels = width * self.expansion
        self.conv1 = nn.Conv2d(in_channels, width, 1, stride if stride_in_1x1 else 1, bias=bias)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1 if stride_in_1x1 else stride, padding=1, bias=bias)
        self.bn2 = norm(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=bias)
        self.bn3 = norm(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = projection(in_channels, out_channels, stride, bias, norm)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.shortcut is None else self.shortcut(x)  # (B, 4w, H/s, W/s)
        out = self.relu(self.bn1(self.conv1(x)))  # (B, w, H or H/s, W or W/s)
        out = self.relu(self.bn2(self.conv2(out)))  # (B, w, H/s, W/s)
        out = self.bn3(self.conv3(out))  # (B, 4w, H/s, W/s)
        return self.relu(out + identity)


Block = type[BasicBlock] | type[Bottleneck]

# depth -> (block, blocks per stage); the paper's Table 1.
RESNET_LAYERS: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}
STAGE_WIDTHS = (64, 128, 256, 512)


def make_stage(
    block: Block, in_channels: int, width: int, num_blocks: int, stride: int, **block_kwargs
) -> nn.Sequential:
    """One stage: a first block that may stride / widen (projection shortcut), then identity blocks."""
    out_channels = width * block.expansion
    blocks = [block(in_channels, width, stride, **block_kwargs)]
    blocks += [block(out_channels, width, 1, **block_kwargs) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class ResNet(nn.Module):
    """7x7/2 conv stem + 3x3/2 max-pool, four stages (conv2_x .. conv5_x), global average pool, linear."""

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000, in_channels: int = 3):
        super().__init__()
        if len(layers) != len(STAGE_WIDTHS):
            raise ValueError(f"layers needs {len(STAGE_WIDTHS)} block counts, got {list(layers)}")
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, 64, 7, 2, padding=3, bias=False),  # (B, 64, H/2, W/2)
                bn=nn.BatchNorm2d(64),
                relu=nn.ReLU(inplace=True),
                pool=nn.MaxPool2d(3, 2, padding=1),  # (B, 64, H/4, W/4)
            )
        )
        stages, channels = OrderedDict(), 64
        for i, (width, num_blocks) in enumerate(zip(STAGE_WIDTHS, layers)):
            stages[f"layer{i + 1}"] = make_stage(block, channels, width, num_blocks, stride=1 if i == 0 else 2)
            channels = width * block.expansion
        self.stages = nn.Sequential(stages)  # (B, 512 * expansion, H/32, W/32)
        self.head = nn.Sequential(
            OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1), fc=nn.Linear(channels, num_classes))
        )
        for m in self.modules():  # torchvision's init; nn.Linear keeps PyTorch's default
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def resnet(depth: int, num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    if depth not in RESNET_LAYERS:
        raise ValueError(f"unknown ResNet depth {depth}; expected one of {sorted(RESNET_LAYERS)}")
    block, layers = RESNET_LAYERS[depth]
    return ResNet(block, layers, num_classes, in_channels)


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return resnet(18, num_classes, in_channels)


def resnet34(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return resnet(34, num_classes, in_channels)


def resnet50(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return resnet(50, num_classes, in_channels)


def resnet101(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return resnet(101, num_classes, in_channels)


def resnet152(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    return resnet(152, num_classes, in_channels)


_TORCHVISION_RENAMES = (
    (r"^conv1\.", "stem.conv."),
    (r"^bn1\.", "stem.bn."),
    (r"^layer(\d)\.", r"stages.layer\1."),
    (r"\.downsample\.", ".shortcut."),
    (r"^fc\.", "head.fc."),
)


def from_torchvision_state_dict(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Rename the keys of a torchvision ResNet state_dict to this module's (conv1 -> stem.conv, ...)."""
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in _TORCHVISION_RENAMES:
            key = re.sub(pattern, replacement, key)
        renamed[key] = value
    return renamed


# The course's Keras ResNet-50: (F1 = F2 width, blocks, stride s) per stage; F3 = 4 * width.
SIGNS_STAGES = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))


class ResNet50Signs(nn.Module):
    """The course's Keras ResNet-50 for 64x64 SIGNS images (23,600,006 Keras parameters at 6 classes)."""

    image_size = 64

    def __init__(self, num_classes: int = 6, in_channels: int = 3):
        super().__init__()
        norm = partial(nn.BatchNorm2d, eps=1e-3, momentum=0.01)  # Keras BatchNormalization defaults
        self.stem = nn.Sequential(
            OrderedDict(
                conv=nn.Conv2d(in_channels, 64, 7, 2, padding=3),  # ZeroPadding2D(3) + 7x7/2: (B, 64, 32, 32)
                bn=norm(64),
                relu=nn.ReLU(inplace=True),
                pool=nn.MaxPool2d(3, 2),  # (B, 64, 15, 15)
            )
        )
        stages, channels = OrderedDict(), 64
        for i, (width, num_blocks, stride) in enumerate(SIGNS_STAGES):
            stages[f"stage{i + 2}"] = make_stage(
                Bottleneck, channels, width, num_blocks, stride, bias=True, norm=norm, stride_in_1x1=True
            )
            channels = width * Bottleneck.expansion
        self.stages = nn.Sequential(stages)  # (B, 2048, 2, 2)
        self.head = nn.Sequential(
            OrderedDict(pool=nn.AvgPool2d(2), flatten=nn.Flatten(1), fc=nn.Linear(channels, num_classes))
        )
        for m in self.modules():  # Keras defaults: Glorot-uniform kernels, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"ResNet50Signs takes 64x64 images like the course, got {tuple(x.shape[-2:])}")
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)


def resnet50_signs(num_classes: int = 6, in_channels: int = 3) -> ResNet50Signs:
    return ResNet50Signs(num_classes, in_channels)


def keras_param_count(model: nn.Module) -> int:
    """Parameters plus BatchNorm running mean and variance, which Keras counts as non-trainable weights."""
    params = sum(p.numel() for p in model.parameters())
    stats = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None
    )
    return params + stats
