"""Recurrent sequence tagging (many-to-many, Tx = Ty) and sequence classification (many-to-one).

Deep Learning Specialization, Course 5 week 1 ("Different types of RNNs": the name-entity tagger reads x<t>
and outputs y_hat<t> at every step; sentiment classification reads the whole sentence and outputs one y_hat)
and the bidirectional RNN of the same week, whose y_hat<t> = g(W_y [a_fwd<t>, a_bwd<t>] + b_y) sees the
whole sentence, left and right of t.

- `SequenceTagger`: embedding -> RecurrentLayer -> linear at every position: (B, T) -> (B, T, C).
- `SequenceClassifier`: embedding -> RecurrentLayer -> linear on the last layer's final state (forward and,
  when bidirectional, backward direction concatenated): (B, T) -> (B, C). With `lengths`, each sequence's
  final state is taken at its own last token (padding is never read).
"""

from __future__ import annotations

from torch import Tensor, nn

from dlzoo.models.rnn import RecurrentLayer


class _Encoder(nn.Module):
    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int, hidden_size: int, cell: str, num_layers: int,
        bidirectional: bool, dropout: float, impl: str,
    ) -> None:
        super().__init__()
        if min(vocab_size, num_classes, embed_dim) < 1:
            raise ValueError(f"vocab_size, num_classes and embed_dim must be >= 1, got {vocab_size}, {num_classes}, {embed_dim}")
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)  # <pad> = 0 (dlzoo.text.Vocab)
        self.rnn = RecurrentLayer(cell, embed_dim, hidden_size, num_layers, bidirectional, dropout, impl)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)


class SequenceTagger(_Encoder):
    """forward(tokens (B, T), lengths (B,) | None) -> logits (B, T, C), one class per token."""

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 32, hidden_size: int = 64, cell: str = "lstm",
        num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0, impl: str = "scratch",
    ) -> None:
        super().__init__(vocab_size, num_classes, embed_dim, hidden_size, cell, num_layers, bidirectional, dropout, impl)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _ = self.rnn(self.embedding(tokens), lengths)  # (B, T, H * dirs)
        return self.head(self.dropout(out))  # (B, T, C)


class SequenceClassifier(_Encoder):
    """forward(tokens (B, T), lengths (B,) | None) -> logits (B, C), one class per sequence."""

    def __init__(
        self, vocab_size: int, num_classes: int, embed_dim: int = 32, hidden_size: int = 64, cell: str = "lstm",
        num_layers: int = 1, bidirectional: bool = False, dropout: float = 0.0, impl: str = "scratch",
    ) -> None:
        super().__init__(vocab_size, num_classes, embed_dim, hidden_size, cell, num_layers, bidirectional, dropout, impl)

    def forward(self, tokens: Tensor, lengths: Tensor | None = None) -> Tensor:
        _, state = self.rnn(self.embedding(tokens), lengths)
        a = state[0] if isinstance(state, tuple) else state  # (L * dirs, B, H): the LSTM's a, not c
        dirs = self.rnn.num_directions
        last = a[-dirs:].transpose(0, 1).reshape(a.shape[1], -1)  # (B, H * dirs) the last layer, fwd [+ bwd]
        return self.head(self.dropout(last))  # (B, C)
