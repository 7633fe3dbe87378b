"""The course's first ConvNet for the SIGNS hand-sign images (Course 4, week 1 assignment).

On 64x64x3 images, with TensorFlow's "same" padding:

    CONV 4x4, 8 filters, stride 1, same  -> (64, 64, 8)   ReLU
    MAXPOOL 8x8, stride 8, same          -> (8, 8, 8)
    CONV 2x2, 16 filters, stride 1, same -> (8, 8, 16)    ReLU
    MAXPOOL 4x4, stride 4, same          -> (2, 2, 16)
    FLATTEN -> FC 6 (softmax in the loss)

PyTorch's ``padding="same"`` pads an even kernel as TensorFlow does (the extra row and column at the
bottom and right). The pools divide the sides exactly, so they need no padding. Deviation: the
notebook initialises with Glorot-uniform (Keras' default); PyTorch's default init is used here.
"""

from __future__ import annotations

import torch
from torch import nn

# (out_channels, conv kernel, pool kernel = pool stride)
LAYERS = [(8, 4, 8), (16, 2, 4)]


class SignsConvNet(nn.Module):
    def __init__(self, in_channels: int = 3, num_classes: int = 6, input_size: int = 64) -> None:
        super().__init__()
        blocks, channels, side = [], in_channels, input_size
        for out_channels, kernel, pool in LAYERS:
            if side % pool:
                raise ValueError(f"SignsConvNet needs the image side divisible by {pool} at that layer, got {side}")
            blocks += [nn.Conv2d(channels, out_channels, kernel, padding="same"), nn.ReLU(), nn.MaxPool2d(pool)]
            channels, side = out_channels, side // pool
        self.stem = nn.Identity()
        self.stages = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * side * side, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))  # (B, num_classes)
