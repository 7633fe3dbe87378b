"""Small text utilities for the sequence models: vocabulary, tokenizers, padding collates.

dlzoo does not use torchtext: its development stopped at 0.18 (2024) and it no longer loads with current
PyTorch releases. What the course's models need fits in three short modules:

- `vocab`: `Vocab`, token <-> index with the special tokens <pad> (index 0), <unk>, <bos>, <eos>, built with
  a minimum frequency and a maximum size, and saved inside checkpoints as plain Python lists.
- `tokenize`: character and word tokenizers (`CharTokenizer`, `WordTokenizer`, `build_tokenizer`).
- `collate`: padding collates that return padded LongTensors with their lengths (`pad_batch`, `collate_lm`,
  `collate_labeled`), the layout `dlzoo.models.rnn.RecurrentLayer` and `pack_padded_sequence` take.
"""

from __future__ import annotations

from dlzoo.text.collate import collate_labeled, collate_lm, pad_batch
from dlzoo.text.tokenize import CharTokenizer, WordTokenizer, build_tokenizer
from dlzoo.text.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab

__all__ = [
    "BOS", "EOS", "PAD", "SPECIALS", "UNK", "Vocab",
    "CharTokenizer", "WordTokenizer", "build_tokenizer",
    "collate_labeled", "collate_lm", "pad_batch",
]
