"""Emojify: a sentence -> one of five emoji, from word embeddings.

Deep Learning Specialization, Course 5 week 2, assignment "Emojify!":

- `EmojifyV1`: avg = (1/n) sum_t e<t> over the sentence's n words, z = W avg + b, y_hat = softmax(z).
  Word order is lost: "not good" and "good not" average to the same vector, which is the course's
  argument for v2.
- `EmojifyV2`: e<1..n> -> LSTM(128) -> Dropout(0.5) -> LSTM(128) -> Dropout(0.5) -> linear on the last
  state -> softmax (the course's Keras model, `Emojify_V2`).

Both return logits (B, C): the softmax is in the loss (`F.cross_entropy`). The embedding matrix E (V, d) is
an `nn.Embedding` learned from scratch (N(0, 1) init) or overwritten with vectors from a GloVe-format file
before training (`dlzoo.data.emoji`, `embeddings.path=`), and frozen (`freeze_embeddings=True`, the course's
v2 with `trainable=False`) or fine-tuned.

Deviations from the course, named:
- padding is never read: v1 averages over the real tokens only, v2 runs on packed sequences and takes
  each sentence's state at its own last word. The course pads to the longest sentence with index 0 and its
  Keras LSTM reads the zero vectors after the words (the last state is the state after the padding).
- the course's v1 is trained with per-example SGD on GloVe vectors it does not update; here the embedding
  is a parameter (learned, fine-tuned or frozen) and the optimiser is the config's.
- the course looks every word up in GloVe's 400k; here the vocabulary is the training split's (a word first
  seen at test time is <unk>, whose vector training never reads) unless the data adds the file's words.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dlzoo.models.sequence_classifier import SequenceClassifier
from dlzoo.text import Vocab

PAD = Vocab.pad_index  # 0


def real_tokens(tokens: Tensor, lengths: Tensor | None) -> Tensor:
    """(B, T) bool: True at the positions of real words (before each sentence's length, else not <pad>)."""
    if tokens.dim() != 2:
        raise ValueError(f"tokens must have shape (B, T), got {tuple(tokens.shape)}")
    if lengths is None:
        return tokens != PAD
    if lengths.shape != tokens.shape[:1]:
        raise ValueError(f"lengths must have shape ({tokens.shape[0]},), got {tuple(lengths.shape)}")
    if bool((lengths > tokens.shape[1]).any()):
        raise ValueError(f"lengths must be <= {tokens.shape[1]} (the padded length), got {lengths.tolist()}")
    return torch.arange(tokens.shape[1], device=tokens.device) < lengths.to(tokens.device)[:, None]


class EmojifyV1(nn.Module):
    """forward(tokens (B, T), lengths (B,) | None) -> logits (B, C) of the averaged word embeddings."""

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int = 50, freeze_embeddings: bool = False) -> None:
        super().__init__()
        if min(vocab_size, num_classes, embed_dim) < 1:
            raise ValueError(
                f"vocab_size, num_classes and embed_dim must be >= 1, got {vocab_size}, {num_classes}, {embed_dim}"
            )
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=PAD)
        self.embedding.weight.requires_grad_(not freeze_embeddings)
        self.head = nn.Linear(embed_dim, num_classes)  # W, b

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        real = real_tokens(tokens, lengths).unsqueeze(-1)  # (B, T, 1)
        n = real.sum(1)  # (B, 1) words per sentence
        if bool((n == 0).any()):
            raise ValueError("every sentence needs at least one word (a row of tokens is all <pad>)")
        avg = (self.embedding(tokens) * real).sum(1) / n  # (B, d)
        return self.head(avg)  # (B, C)


class EmojifyV2(SequenceClassifier):
    """forward(tokens (B, T), lengths (B,) | None) -> logits (B, C) from a stacked LSTM's last state.

    `SequenceClassifier` with the course's sizes (2 layers of 128, dropout 0.5 between the layers and before
    the head) and the embedding frozen on request. Without `lengths`, they are counted from the non-<pad>
    tokens, so padding is never read either way.
    """

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 50, hidden_size: int = 128, num_layers: int = 2,
        dropout: float = 0.5, freeze_embeddings: bool = False, impl: str = "torch",
    ) -> None:
        super().__init__(vocab_size, num_classes, embed_dim, hidden_size, "lstm", num_layers, False, dropout, impl)
        self.embedding.weight.requires_grad_(not freeze_embeddings)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        if lengths is None:
            lengths = real_tokens(tokens, None).sum(1)  # (B,)
        return super().forward(tokens, lengths)  # (B, C)
