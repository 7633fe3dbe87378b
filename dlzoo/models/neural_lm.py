"""A neural probabilistic language model: Bengio, Ducharme, Vincent and Jauvin 2003, JMLR 3:1137-1155.

The last n words are looked up in the embedding matrix E (one-hot o_w times E is row w of E, which
nn.Embedding reads directly), concatenated into x, and scored by eq. 1 of the paper:

    y = b + W x + U tanh(d + H x),        p(w_t | w_{t-n}, ..., w_{t-1}) = softmax(y)

`direct=True` keeps the paper's optional direct connections W from x to the output; the course's version
(C5W2 "learning word embeddings") has none, so the default leaves them out. The model returns logits; the
softmax is in the cross-entropy loss.
"""

from __future__ import annotations

import torch
from torch import nn


class NeuralLM(nn.Module):
    """forward(context (B, n) word ids, oldest first) -> next-word logits (B, V)."""

    def __init__(self, vocab_size: int, context_size: int = 4, embed_dim: int = 50, hidden_dim: int = 100,
                 direct: bool = False) -> None:
        super().__init__()
        self.vocab_size, self.context_size = vocab_size, context_size
        self.embedding = nn.Embedding(vocab_size, embed_dim)  # E
        self.hidden = nn.Linear(context_size * embed_dim, hidden_dim)  # d + H x
        self.output = nn.Linear(hidden_dim, vocab_size)  # b + U h
        self.direct = nn.Linear(context_size * embed_dim, vocab_size, bias=False) if direct else None  # W x

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        if context.dim() != 2 or context.shape[1] != self.context_size:
            raise ValueError(f"context must have shape (B, {self.context_size}), got {tuple(context.shape)}")
        if context.numel() and (context.min() < 0 or context.max() >= self.vocab_size):
            raise ValueError(f"context ids must lie in [0, {self.vocab_size})")
        x = self.embedding(context).flatten(1)  # (B, n*m) the n embeddings side by side
        y = self.output(torch.tanh(self.hidden(x)))  # (B, V)
        if self.direct is not None:
            y = y + self.direct(x)
        return y
