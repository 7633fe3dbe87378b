"""Convolution arithmetic, a naive cross-correlation and the classic edge filters (course 4, week 1).

What deep-learning libraries call "convolution" is cross-correlation: the filter slides over the input
without being flipped,

    out[k, i, j] = sum_{c, u, v} x[c, s*i + u - p, s*j + v - p] * w[k, c, u, v] + b[k],

and a side of length n, padded by p on both ends and scanned by an f x f filter with stride s, gives

    n_out = floor((n + 2p - f) / s + 1).

"valid" padding is p = 0; "same" padding keeps n_out = n at stride 1, so p = (f - 1) / 2 for odd f.
`cross_correlate2d` spells the sum out with loops over output positions, the way the course's
`conv_forward` does, so it can be read next to the equation; use `torch.nn.functional.conv2d` for work.

The edge filters are the course's vertical / horizontal filters and the Sobel and Scharr operators
(Sobel & Feldman, 1968; Scharr, 2000), written as cross-correlation kernels: a "vertical" filter responds
to intensity changes along the width, i.e. to vertical edges, and is positive where bright turns to dark
from left to right, as in the course's 6x6 example.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def conv_output_size(n: int, f: int, s: int = 1, p: int = 0) -> int:
    """Output length floor((n + 2p - f) / s + 1) of a convolution or pooling window along one side."""
    if n < 1 or f < 1 or s < 1 or p < 0:
        raise ValueError(f"need n >= 1, f >= 1, s >= 1, p >= 0; got n={n}, f={f}, s={s}, p={p}")
    if n + 2 * p < f:
        raise ValueError(f"filter of size {f} does not fit input of size {n} padded by {p}")
    return math.floor((n + 2 * p - f) / s + 1)


def padding_for(f: int, mode: str) -> int:
    """Padding p on each side for `mode` "valid" (p = 0) or "same" (p = (f - 1) / 2, odd f only)."""
    if f < 1:
        raise ValueError(f"filter size must be >= 1, got {f}")
    if mode == "valid":
        return 0
    if mode == "same":
        if f % 2 == 0:
            raise ValueError(f"'same' padding needs an odd filter size (even f={f} would pad unevenly)")
        return (f - 1) // 2
    raise ValueError(f"unknown padding mode {mode!r}; expected 'valid' or 'same'")


def same_padding(f: int) -> int:
    """p = (f - 1) / 2: the padding that keeps the size at stride 1."""
    return padding_for(f, "same")


def cross_correlate2d(x: Tensor, w: Tensor, bias: Tensor | None = None, stride: int = 1, padding: int = 0) -> Tensor:
    """Naive 2-D cross-correlation with the semantics of `F.conv2d` (no flip, zero padding).

    x (N, C, H, W) with w (K, C, f, f) gives (N, K, H_out, W_out); a single 2-D image (H, W) with a 2-D
    filter (f, f) gives (H_out, W_out), which is how the course writes its worked examples.
    """
    if x.dim() == 2 and w.dim() == 2:
        return cross_correlate2d(x[None, None], w[None, None], bias, stride, padding)[0, 0]
    if x.dim() != 4 or w.dim() != 4:
        shapes = f"{tuple(x.shape)} and {tuple(w.shape)}"
        raise ValueError(f"expected x (N, C, H, W) and w (K, C, f, f), or both 2-D; got {shapes}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but the filter expects {w.shape[1]}")
    if bias is not None and bias.shape != (w.shape[0],):
        raise ValueError(f"bias must have shape ({w.shape[0]},), got {tuple(bias.shape)}")
    n, _, height, width = x.shape
    k, _, fh, fw = w.shape
    h_out = conv_output_size(height, fh, stride, padding)
    w_out = conv_output_size(width, fw, stride, padding)
    x = torch.nn.functional.pad(x, (padding, padding, padding, padding))  # (N, C, H + 2p, W + 2p)
    out = x.new_zeros(n, k, h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            window = x[:, :, i * stride : i * stride + fh, j * stride : j * stride + fw]  # (N, C, f, f)
            out[:, :, i, j] = torch.einsum("nchw,kchw->nk", window, w)  # (N, K)
    if bias is not None:
        out = out + bias[:, None, None]
    return out


# Kernels as data, in cross-correlation orientation; the horizontal ones are the transposes.
_VERTICAL_KERNELS: dict[str, list[list[float]]] = {
    "vertical": [[1, 0, -1], [1, 0, -1], [1, 0, -1]],
    "sobel_vertical": [[1, 0, -1], [2, 0, -2], [1, 0, -1]],
    "scharr_vertical": [[3, 0, -3], [10, 0, -10], [3, 0, -3]],
}
EDGE_FILTER_NAMES: tuple[str, ...] = (
    "vertical",
    "horizontal",
    "sobel_vertical",
    "sobel_horizontal",
    "scharr_vertical",
    "scharr_horizontal",
)


def edge_filter(name: str, dtype: torch.dtype = torch.float32) -> Tensor:
    """The (3, 3) kernel `name`, one of EDGE_FILTER_NAMES; a fresh tensor on every call."""
    if name not in EDGE_FILTER_NAMES:
        raise ValueError(f"unknown edge filter {name!r}; expected one of {EDGE_FILTER_NAMES}")
    kernel = torch.tensor(_VERTICAL_KERNELS[name.replace("horizontal", "vertical")], dtype=dtype)
    return kernel.T.contiguous() if name.endswith("horizontal") else kernel
