"""scikit-learn's bundled handwritten digits (1,797 8x8 grey images, 10 classes): no download.

Pixels (0..16) are scaled to [0, 1]. Each pixel may first become an ``upscale`` x ``upscale``
block (nearest neighbour), then the image is centred on a ``pad_to`` x ``pad_to`` canvas. The
default, 3x to 24x24 padded to 32x32, mirrors LeNet-5's input: 20x20 MNIST digits in a 28x28 frame
padded to 32x32, so that strokes cover several 5x5 receptive fields. ``upscale=1, pad_to=8`` keeps
the raw 8x8 images.
The test split is a stratified ``test_fraction`` of the images, fixed by ``split_seed``.
``max_shift`` translates each training image by up to that many pixels in each direction (a fresh
draw every step, on the device the batch lives on), the classic augmentation for digits.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dlzoo.data.base import ClassificationDataModule, Splits
from dlzoo.errors import DlzooError


class DigitsDataModule(ClassificationDataModule):
    name = "digits"

    def __init__(
        self,
        upscale: int = 3,
        pad_to: int = 32,
        test_fraction: float = 0.2,
        split_seed: int = 0,
        max_shift: int = 0,
        **loader_args,
    ) -> None:
        super().__init__(**loader_args)
        self.max_shift = max_shift
        if upscale < 1 or pad_to < 8 * upscale:
            raise DlzooError(f"data.pad_to={pad_to} must be >= 8 * data.upscale={upscale} (the digits are 8x8)")
        self.upscale, self.pad_to, self.test_fraction, self.split_seed = upscale, pad_to, test_fraction, split_seed

    def load(self) -> Splits:
        digits = load_digits()
        images = digits.images.astype(np.float32) / 16.0  # (1797, 8, 8)
        images = images.repeat(self.upscale, axis=1).repeat(self.upscale, axis=2)  # (1797, 8u, 8u)
        side = 8 * self.upscale
        before = (self.pad_to - side) // 2
        after = self.pad_to - side - before
        images = np.pad(images, ((0, 0), (before, after), (before, after)))[:, None]  # (N, 1, pad_to, pad_to)
        x_train, x_test, y_train, y_test = train_test_split(
            images, digits.target, test_size=self.test_fraction, random_state=self.split_seed, stratify=digits.target
        )
        return Splits(
            self.tensors(x_train, y_train),
            (1, self.pad_to, self.pad_to),
            [str(d) for d in range(10)],
            test=self.tensors(x_test, y_test),
        )

    def on_after_batch_transfer(self, batch: list, dataloader_idx: int) -> list:
        if self.max_shift and self.trainer is not None and self.trainer.training:
            x, y = batch
            batch = [random_shift(x, self.max_shift), y]
        return batch


def random_shift(images: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Each image moved by (dy, dx), both uniform in [-max_shift, max_shift], zeros shifted in."""
    b, c, h, w = images.shape
    s = max_shift
    padded = F.pad(images, (s, s, s, s))  # (B, C, H + 2s, W + 2s)
    dy, dx = (torch.randint(0, 2 * s + 1, (b,), device=images.device) for _ in range(2))
    rows = (dy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]  # (B, 1, H, 1)
    cols = (dx[:, None] + torch.arange(w, device=images.device))[:, None, None, :]  # (B, 1, 1, W)
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    channel = torch.arange(c, device=images.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]  # (B, C, H, W)
