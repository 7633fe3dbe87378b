"""Padding collates: a list of index sequences -> one padded LongTensor (B, T) and the lengths (B,).

Inputs are padded with <pad> = index 0, targets with -100 (`F.cross_entropy`'s default ignore_index);
padding goes on the right, the layout `pack_padded_sequence` and
`dlzoo.models.rnn.RecurrentLayer(lengths=...)` take. For a language model, `collate_lm` also shifts by one:
the input is tokens 0..n-2 and the target tokens 1..n-1 (teacher forcing), so a sequence framed as
<bos> w1 ... wn <eos> trains the model to predict w1 from <bos> and <eos> after wn.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index


def pad_batch(sequences: Sequence[Sequence[int] | Tensor], pad_index: int = 0) -> tuple[Tensor, Tensor]:
    """Right-pad `sequences` to the longest one; returns (padded (B, T) int64, lengths (B,) int64)."""
    if len(sequences) == 0:
        raise ValueError("cannot collate an empty batch")
    seqs = [torch.as_tensor(s, dtype=torch.long) for s in sequences]
    for i, s in enumerate(seqs):
        if s.dim() != 1 or s.numel() == 0:
            raise ValueError(f"sequence {i} must be a non-empty 1-D sequence of indices, got shape {tuple(s.shape)}")
    lengths = torch.tensor([s.numel() for s in seqs], dtype=torch.long)  # (B,)
    padded = torch.full((len(seqs), int(lengths.max())), pad_index, dtype=torch.long)  # (B, T)
    for i, s in enumerate(seqs):
        padded[i, : s.numel()] = s
    return padded, lengths


def collate_lm(sequences: Sequence[Sequence[int] | Tensor], pad_index: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Language-model batch: (inputs (B, T-1), targets (B, T-1), lengths (B,)).

    `targets[b, t]` is `sequences[b][t + 1]`. Past a sequence's end the inputs hold `pad_index` and the
    targets -100, which `F.cross_entropy` ignores by default. Each sequence needs at least 2 tokens.
    """
    short = [i for i, s in enumerate(sequences) if len(s) < 2]
    if short:
        raise ValueError(f"language-model sequences need >= 2 tokens (input and target); too short: {short[:10]}")
    padded, lengths = pad_batch(sequences, pad_index)  # (B, T), (B,)
    lengths = lengths - 1
    past_end = torch.arange(padded.shape[1] - 1) >= lengths[:, None]  # (B, T-1)
    inputs = padded[:, :-1].masked_fill(past_end, pad_index)  # drops each sequence's last token
    targets = padded[:, 1:].masked_fill(past_end, IGNORE_INDEX)
    return inputs, targets, lengths


def collate_labeled(
    batch: Sequence[tuple[Sequence[int] | Tensor, int | Sequence[int] | Tensor]], pad_index: int = 0
) -> tuple[Tensor, Tensor, Tensor]:
    """(sequence, label) pairs -> (inputs (B, T), lengths (B,), labels).

    Classification (many-to-one): each label is an int; labels is (B,). Tagging (many-to-many, Tx = Ty):
    each label is a sequence as long as its input; labels is (B, T) padded with -100, cross-entropy's
    default ignore_index.
    """
    inputs, lengths = pad_batch([x for x, _ in batch], pad_index)  # (B, T), (B,)
    labels = [torch.as_tensor(y, dtype=torch.long) for _, y in batch]
    if all(y.dim() == 0 for y in labels):
        return inputs, lengths, torch.stack(labels)  # (B,)
    for i, (y, n) in enumerate(zip(labels, lengths.tolist())):
        if y.dim() != 1 or y.numel() != n:
            raise ValueError(
                f"example {i}: a tagging label must be a 1-D sequence as long as its input ({n}), "
                f"got shape {tuple(y.shape)}; classification labels must all be ints"
            )
    tags = torch.full(inputs.shape, IGNORE_INDEX, dtype=torch.long)  # (B, T)
    for i, y in enumerate(labels):
        tags[i, : y.numel()] = y
    return inputs, lengths, tags
