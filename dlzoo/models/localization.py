"""Classification with localization, landmark regression, and the course's sliding-window classifier.

Course 4 week 3 (Andrew Ng, Deep Learning Specialization):

* "Object localization": the network outputs y_hat = [p_c, b_x, b_y, b_h, b_w, c_1..c_K] (is there an
  object; its centre, height and width as fractions of the image; its class). The lecture's loss is
  the squared error over all 5 + K components when p_c = 1 and over p_c alone when p_c = 0 (the rest
  of y is "don't care"):

      L(y_hat, y) = sum_i (y_hat_i - y_i)^2   if y_1 = 1,        (y_hat_1 - y_1)^2   if y_1 = 0.

  ``mode="course"`` computes exactly this on [sigmoid(p_c logit), box, softmax(class logits)];
  ``mode="practical"`` follows the lecture's remark that in practice one uses logistic loss for p_c,
  squared error for the box and log-likelihood (softmax cross-entropy) for the class, with the same mask.
* "Landmark detection": y = [p, l_1x, l_1y, ..., l_Lx, l_Ly]; same masked loss, L landmarks.
* "Convolutional implementation of sliding windows": ``window_classifier`` is the lecture's 14 x 14
  x 3 network (5 x 5 conv, 16 filters; 2 x 2 max-pool; FC 400; FC 400; FC K), which
  ``dlzoo.ops.sliding_window.convolutionalize`` turns into an all-convolutional network.

Deviations: the lecture shows no activation between layers of the window classifier; we use ReLU.
Outputs are raw (logits and linear box values); the losses apply the squashing functions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlzoo.models.yolo import DarknetTiny

# The lecture's sliding-window classifier for 14 x 14 x 3 windows, as data:
# ("conv", out_channels, kernel) | ("pool", kernel) | ("flatten",) | ("fc", out_features) | ("relu",)
WINDOW_CLASSIFIER = [
    ("conv", 16, 5), ("relu",), ("pool", 2), ("flatten",), ("fc", 400), ("relu",), ("fc", 400), ("relu",),
]  # fmt: skip


def window_classifier(num_classes: int = 4, in_channels: int = 3, window: int = 14) -> nn.Sequential:
    """Build ``WINDOW_CLASSIFIER`` + a final FC to ``num_classes`` logits for ``window`` x ``window`` crops."""
    layers: list[nn.Module] = []
    channels, size, features = in_channels, window, None
    for spec in WINDOW_CLASSIFIER + [("fc", num_classes)]:
        kind = spec[0]
        if kind == "conv":
            layers.append(nn.Conv2d(channels, spec[1], spec[2]))
            channels, size = spec[1], size - spec[2] + 1
        elif kind == "pool":
            layers.append(nn.MaxPool2d(spec[1]))
            size //= spec[1]
        elif kind == "flatten":
            layers.append(nn.Flatten())
            features = channels * size * size  # 16 * 5 * 5 = 400 for the lecture's network
        elif kind == "fc":
            layers.append(nn.Linear(features, spec[1]))
            features = spec[1]
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class _PooledHead(nn.Module):
    """backbone -> global average pool -> linear: images (B, C, H, W) -> (B, outputs)."""

    def __init__(
        self, outputs: int, backbone: nn.Module | None, backbone_channels: int | None, in_channels: int
    ) -> None:
        super().__init__()
        self.backbone = backbone if backbone is not None else DarknetTiny(in_channels)
        channels = backbone_channels if backbone_channels is not None else getattr(self.backbone, "out_channels", None)
        if channels is None:
            raise ValueError("give backbone_channels: the backbone has no out_channels attribute")
        self.fc = nn.Linear(channels, outputs)

    def forward(self, images: Tensor) -> Tensor:
        features = self.backbone(images)  # (B, C, h, w)
        return self.fc(features.mean(dim=(-2, -1)))  # (B, outputs)


class LocalizationNet(_PooledHead):
    """Classification with localization: images -> (B, 5 + K) = [p_c logit, b_x, b_y, b_h, b_w, class
    logits]. ``backbone``: any (B, C, h, w) feature extractor (default ``DarknetTiny``)."""

    def __init__(
        self,
        num_classes: int,
        backbone: nn.Module | None = None,
        backbone_channels: int | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__(5 + num_classes, backbone, backbone_channels, in_channels)
        self.num_classes = num_classes


class LandmarkNet(_PooledHead):
    """Landmark regression: images -> (B, 1 + 2L) = [presence logit, l_1x, l_1y, ..., l_Lx, l_Ly]."""

    def __init__(
        self,
        num_landmarks: int,
        backbone: nn.Module | None = None,
        backbone_channels: int | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__(1 + 2 * num_landmarks, backbone, backbone_channels, in_channels)
        self.num_landmarks = num_landmarks


def _check(pred: Tensor, y: Tensor) -> None:
    if pred.shape != y.shape or pred.ndim != 2:
        raise ValueError(f"predictions {tuple(pred.shape)} and targets {tuple(y.shape)} must be the same (B, D)")


def localization_loss(pred: Tensor, y: Tensor, mode: str = "course") -> Tensor:
    """Masked loss of classification with localization (see module docstring), mean over the batch.
    ``pred``: raw (B, 5 + K) outputs; ``y``: (B, 5 + K) with y[:, 0] in {0, 1} and a one-hot class."""
    _check(pred, y)
    present = y[:, 0]  # (B,) 1 = object, 0 = background (rest of y ignored)
    if mode == "course":
        y_hat = torch.cat([pred[:, :1].sigmoid(), pred[:, 1:5], pred[:, 5:].softmax(-1)], dim=1)  # (B, 5 + K)
        squared = (y_hat - y).pow(2)  # (B, 5 + K)
        return (squared[:, 0] + present * squared[:, 1:].sum(-1)).mean()
    if mode == "practical":
        p_c = F.binary_cross_entropy_with_logits(pred[:, 0], present, reduction="none")  # (B,)
        box = (pred[:, 1:5] - y[:, 1:5]).pow(2).sum(-1)  # (B,)
        cls = F.cross_entropy(pred[:, 5:], y[:, 5:].argmax(-1), reduction="none")  # (B,)
        return (p_c + present * (box + cls)).mean()
    raise ValueError(f"mode must be 'course' or 'practical', got {mode!r}")


def landmark_loss(pred: Tensor, y: Tensor, mode: str = "course") -> Tensor:
    """Masked landmark loss, mean over the batch: presence term always, coordinates only when present.
    ``course``: squared error on [sigmoid(presence), coordinates]; ``practical``: logistic loss for
    presence. ``pred``, ``y``: (B, 1 + 2L)."""
    _check(pred, y)
    present = y[:, 0]
    coords = (pred[:, 1:] - y[:, 1:]).pow(2).sum(-1)  # (B,)
    if mode == "course":
        presence = (pred[:, 0].sigmoid() - present).pow(2)
    elif mode == "practical":
        presence = F.binary_cross_entropy_with_logits(pred[:, 0], present, reduction="none")
    else:
        raise ValueError(f"mode must be 'course' or 'practical', got {mode!r}")
    return (presence + present * coords).mean()
