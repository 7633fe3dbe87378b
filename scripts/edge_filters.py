"""Write the edge filters' responses on a real photograph as a PNG.

    python scripts/edge_filters.py out/edges.png

The image is scikit-learn's bundled sample `china.jpg` (no download). It is converted to grayscale in
[0, 1] and cross-correlated with each filter of `dlzoo.ops.conv` ("valid" padding); each panel shows the
absolute response, so bright means a strong edge of that orientation; the last panel is the Sobel
gradient magnitude sqrt(g_x^2 + g_y^2), edges of any orientation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_sample_image

from dlzoo.ops.conv import EDGE_FILTER_NAMES, edge_filter


def edge_responses(gray: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each filter's response on a (H, W) image, as (H - 2, W - 2) tensors."""
    kernels = torch.stack([edge_filter(name) for name in EDGE_FILTER_NAMES])[:, None]  # (6, 1, 3, 3)
    responses = F.conv2d(gray[None, None], kernels)[0]  # (6, H - 2, W - 2)
    return dict(zip(EDGE_FILTER_NAMES, responses))


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="path of the PNG to write")
    out = parser.parse_args(argv).out

    rgb = torch.tensor(load_sample_image("china.jpg"), dtype=torch.float32) / 255  # (427, 640, 3)
    gray = rgb @ torch.tensor([0.299, 0.587, 0.114])  # (427, 640), ITU-R BT.601 luma
    responses = edge_responses(gray)
    gradient = torch.hypot(responses["sobel_vertical"], responses["sobel_horizontal"])  # Sobel magnitude
    panels = {"image (grayscale)": gray, **responses, "sobel magnitude": gradient}

    fig, axes = plt.subplots(2, 4, figsize=(16, 6))
    for ax, (title, image) in zip(axes.flat, panels.items()):
        ax.imshow(image if title.startswith("image") else image.abs(), cmap="gray")
        ax.set_title(title)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out


if __name__ == "__main__":
    print(f"wrote {main()}")
