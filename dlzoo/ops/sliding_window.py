"""Sliding windows, naively and convolutionally.

Course 4 week 3, "Convolutional implementation of sliding windows" (after Sermanet et al. 2014,
"OverFeat"). A classifier for h x w crops whose fully connected layers are rewritten as convolutions
runs on a larger image in one pass and outputs one prediction per window position, for all windows
at once, sharing the computation of overlapping windows:

* the first FC layer after ``Flatten`` (input C x h' x w' features) becomes an h' x w' convolution
  with the same weights reshaped to (out, C, h', w') (``Flatten`` orders features as C, H, W);
* each later FC layer becomes a 1 x 1 convolution with weights (out, in, 1, 1).

The window stride is the product of the strides of the layers before ``Flatten`` (2 for the
lecture's network: one 2 x 2 max-pool), and on an H x W image the output grid is
((H - h) / stride + 1) x ((W - w) / stride + 1).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

# Layers that act per position (or per feature) and so stay as they are after Flatten.
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.GELU, nn.Identity, nn.Dropout)


def convolutionalize(classifier: nn.Sequential, window: int | tuple[int, int], in_channels: int = 3) -> nn.Sequential:
    """Copy of ``classifier`` (conv layers, ``Flatten``, FC layers) with its FC layers as convolutions
    (see module docstring). ``window``: the crop size (h, w) the classifier was built for."""
    h, w = (window, window) if isinstance(window, int) else window
    layers = [copy.deepcopy(layer) for layer in classifier]
    flat = [i for i, layer in enumerate(layers) if isinstance(layer, nn.Flatten)]
    if len(flat) != 1:
        raise ValueError("the classifier must be an nn.Sequential with exactly one nn.Flatten")
    trunk = layers[: flat[0]]
    with torch.no_grad():
        shape = tuple(nn.Sequential(*trunk)(torch.zeros(1, in_channels, h, w)).shape[1:])  # (C, h', w') at Flatten
    converted: list[nn.Module] = []
    for layer in layers[flat[0] + 1 :]:
        if isinstance(layer, nn.Linear):
            if layer.in_features != shape[0] * shape[1] * shape[2]:
                raise ValueError(f"{layer} does not fit input features of shape {shape}")
            conv = nn.Conv2d(shape[0], layer.out_features, kernel_size=shape[1:])
            with torch.no_grad():
                conv.weight.copy_(layer.weight.reshape(conv.weight.shape))  # (out, C, h', w') or (out, in, 1, 1)
                conv.bias.copy_(layer.bias)
            converted.append(conv)
            shape = (layer.out_features, 1, 1)  # later FC layers see one position's feature vector
        elif isinstance(layer, ELEMENTWISE):
            converted.append(layer)
        else:
            raise ValueError(f"cannot convolutionalize {layer}: after Flatten only Linear and elementwise layers")
    return nn.Sequential(*trunk, *converted)


def sliding_windows(images: Tensor, window: int | tuple[int, int], stride: int) -> Tensor:
    """All crops: (B, C, H, W) -> (B, n_h, n_w, C, h, w), window positions every ``stride`` pixels."""
    h, w = (window, window) if isinstance(window, int) else window
    if images.ndim != 4 or images.shape[-2] < h or images.shape[-1] < w:
        raise ValueError(f"need (B, C, H, W) images at least {h} x {w}, got {tuple(images.shape)}")
    crops = images.unfold(2, h, stride).unfold(3, w, stride)  # (B, C, n_h, n_w, h, w)
    return crops.permute(0, 2, 3, 1, 4, 5)


def sliding_window_predict(classifier: nn.Module, images: Tensor, window: int | tuple[int, int], stride: int) -> Tensor:
    """The naive way: crop every window and classify it. Returns (B, K, n_h, n_w), the layout of the
    convolutional network's output."""
    crops = sliding_windows(images, window, stride)  # (B, n_h, n_w, C, h, w)
    b, n_h, n_w = crops.shape[:3]
    logits = classifier(crops.reshape(b * n_h * n_w, *crops.shape[3:]))  # (B * n_h * n_w, K)
    return logits.reshape(b, n_h, n_w, -1).permute(0, 3, 1, 2)
