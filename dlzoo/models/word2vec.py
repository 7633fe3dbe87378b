"""word2vec as nn.Modules: skip-gram with a full softmax, skip-gram with negative sampling, and CBOW.

Mikolov et al. 2013a, "Efficient Estimation of Word Representations in Vector Space" (arXiv:1301.3781), and
2013b, "Distributed Representations of Words and Phrases and their Compositionality" (arXiv:1310.4546).
Each word has an input vector e_w (the embedding matrix E, which is what one keeps) and an output vector
theta_w (the course's notation). All three return the mean loss of a batch, ready for autograd.

- `SkipGramSoftmax`, eq. 2 of 2013b: p(t | c) = exp(theta_t . e_c) / sum_w exp(theta_w . e_c), the course's
  softmax over the whole vocabulary; O(V) per pair, for small vocabularies.
- `SkipGramNegSampling`, eq. 4 of 2013b: -log sigma(theta_o . e_c) - sum_k log sigma(-theta_k . e_c), with K
  negatives k drawn by the caller (unigram^(3/4), see dlzoo.embeddings.sampling).
- `CBOW`, 2013a section 3.1: the mean of the context words' input vectors predicts the centre word, here
  with negative sampling as in word2vec.c.

Initialization follows word2vec.c: E uniform in [-0.5, 0.5)/dim, theta zero. The fast trainer
(dlzoo.embeddings.word2vec) applies these same gradients by hand; its tests compare against these modules.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _TwoTables(nn.Module):
    """The input table E and the output table theta, with word2vec.c's initialization and an id check."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, dim)  # E: input vectors e_w
        self.output = nn.Embedding(vocab_size, dim)  # theta: output vectors
        nn.init.uniform_(self.embedding.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output.weight)

    def _check(self, name: str, ids: torch.Tensor, allow_pad: bool = False) -> None:
        low = -1 if allow_pad else 0
        if ids.numel() and (ids.min() < low or ids.max() >= self.vocab_size):
            raise ValueError(f"{name} ids must lie in [{low}, {self.vocab_size}), got "
                             f"[{int(ids.min())}, {int(ids.max())}]")


def negative_sampling_loss(e: torch.Tensor, theta_pos: torch.Tensor, theta_neg: torch.Tensor) -> torch.Tensor:
    """Per-example eq. 4: e (B, D), theta_pos (B, D), theta_neg (B, K, D) -> (B,)."""
    pos = (theta_pos * e).sum(-1)  # (B,)
    neg = torch.einsum("bkd,bd->bk", theta_neg, e)  # (B, K)
    return -F.logsigmoid(pos) - F.logsigmoid(-neg).sum(-1)


class SkipGramSoftmax(_TwoTables):
    """forward(center (B,), context (B,)) -> mean cross-entropy of the full softmax over the vocabulary."""

    def logits(self, center: torch.Tensor) -> torch.Tensor:
        self._check("center", center)
        return self.embedding(center) @ self.output.weight.T  # (B, V): theta_t . e_c for every t

    def forward(self, center: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        self._check("context", context)
        return F.cross_entropy(self.logits(center), context)


class SkipGramNegSampling(_TwoTables):
    """forward(center (B,), context (B,), negatives (B, K)) -> mean negative-sampling loss."""

    def forward(self, center: torch.Tensor, context: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        if negatives.dim() != 2 or negatives.shape[0] != center.shape[0] or context.shape != center.shape:
            raise ValueError(f"expected center (B,), context (B,), negatives (B, K); got {tuple(center.shape)}, "
                             f"{tuple(context.shape)}, {tuple(negatives.shape)}")
        for name, ids in (("center", center), ("context", context), ("negatives", negatives)):
            self._check(name, ids)
        e = self.embedding(center)  # (B, D)
        return negative_sampling_loss(e, self.output(context), self.output(negatives)).mean()


class CBOW(_TwoTables):
    """forward(contexts (B, 2W) padded with -1, center (B,), negatives (B, K)) -> mean negative-sampling loss."""

    def forward(self, contexts: torch.Tensor, center: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        rows = {contexts.shape[0], center.shape[0], negatives.shape[0]}
        if contexts.dim() != 2 or negatives.dim() != 2 or len(rows) != 1:
            raise ValueError(f"expected contexts (B, 2W), center (B,), negatives (B, K); got "
                             f"{tuple(contexts.shape)}, {tuple(center.shape)}, {tuple(negatives.shape)}")
        self._check("contexts", contexts, allow_pad=True)
        self._check("center", center)
        self._check("negatives", negatives)
        mask = (contexts >= 0).unsqueeze(-1).to(self.embedding.weight.dtype)  # (B, 2W, 1)
        count = mask.sum(1)  # (B, 1)
        if (count == 0).any():
            raise ValueError("every row of contexts needs at least one context word (ids >= 0)")
        e = (self.embedding(contexts.clamp(min=0)) * mask).sum(1) / count  # (B, D) mean context vector
        return negative_sampling_loss(e, self.output(center), self.output(negatives)).mean()
