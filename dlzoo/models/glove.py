"""GloVe: Pennington, Socher and Manning 2014, "GloVe: Global Vectors for Word Representation" (EMNLP).

Eq. 8 of the paper, over the non-zero co-occurrence counts X_ij:

    J = sum_{i,j: X_ij > 0} f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2,
    f(x) = min(1, (x / x_max)^alpha),  x_max = 100, alpha = 3/4   (eq. 9)

Two sets of word vectors, W for the word and W~ for the context, and a bias for each; as the paper does, the
vectors kept at the end are W + W~ (here their mean (W + W~)/2, the same directions). Initialization is
glove.c's: everything uniform in [-0.5, 0.5)/dim. The tables are sparse nn.Embeddings, so an optimizer such
as torch.optim.Adagrad (the paper's choice) updates only the rows a batch touches.
"""

from __future__ import annotations

import torch
from torch import nn


def glove_weight(x: torch.Tensor, x_max: float = 100.0, alpha: float = 0.75) -> torch.Tensor:
    """f(x) = (x / x_max)^alpha for x < x_max, else 1 (eq. 9)."""
    return (x / x_max).pow(alpha).clamp(max=1.0)


class GloVe(nn.Module):
    """forward(i (B,), j (B,), x (B,) counts > 0) -> J summed over the batch (eq. 8)."""

    def __init__(self, vocab_size: int, dim: int, x_max: float = 100.0, alpha: float = 0.75,
                 sparse: bool = True) -> None:
        super().__init__()
        self.vocab_size, self.x_max, self.alpha = vocab_size, x_max, alpha
        self.w = nn.Embedding(vocab_size, dim, sparse=sparse)  # W, word vectors
        self.w_tilde = nn.Embedding(vocab_size, dim, sparse=sparse)  # W~, context vectors
        self.b = nn.Embedding(vocab_size, 1, sparse=sparse)
        self.b_tilde = nn.Embedding(vocab_size, 1, sparse=sparse)
        for table in (self.w, self.w_tilde, self.b, self.b_tilde):
            nn.init.uniform_(table.weight, -0.5 / dim, 0.5 / dim)

    def forward(self, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if not i.shape == j.shape == x.shape or i.dim() != 1:
            raise ValueError(f"i, j and x must be 1-D of one length, got {tuple(i.shape)}, {tuple(j.shape)}, "
                             f"{tuple(x.shape)}")
        if x.numel() and x.min() <= 0:
            raise ValueError("x must hold positive counts (the loss runs over X_ij > 0 only)")
        for name, ids in (("i", i), ("j", j)):
            if ids.numel() and (ids.min() < 0 or ids.max() >= self.vocab_size):
                raise ValueError(f"{name} ids must lie in [0, {self.vocab_size})")
        dot = (self.w(i) * self.w_tilde(j)).sum(-1)  # (B,) w_i . w~_j
        diff = dot + self.b(i).squeeze(-1) + self.b_tilde(j).squeeze(-1) - x.log()  # (B,)
        return (glove_weight(x, self.x_max, self.alpha) * diff.square()).sum()

    def vectors(self) -> torch.Tensor:
        """(V, D): (W + W~)/2, the vectors GloVe keeps."""
        return (self.w.weight + self.w_tilde.weight).detach() / 2
