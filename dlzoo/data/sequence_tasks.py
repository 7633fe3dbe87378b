"""A generated tagging task that needs right context: tag each token with the parity of the NEXT token.

Tokens are drawn uniformly from 1..n_tokens-1 (0 is <pad>), lengths uniformly from [min_len, max_len]; the
last token's tag is 0 (there is no next token). A left-to-right RNN cannot know token t+1 when it tags
token t, so it is right only by chance (about 50 %) on every position but the last; a bidirectional RNN
sees it and reaches 100 %. Batches are ``dlzoo.text.collate_labeled``'s (inputs, lengths, tags).
"""

from __future__ import annotations

import lightning as L
import torch
from torch.utils.data import DataLoader

from dlzoo.data.base import EpochShuffleSampler, seeded_loader
from dlzoo.errors import DlzooError
from dlzoo.text import collate_labeled


def next_parity_examples(n: int, n_tokens: int, min_len: int, max_len: int, generator: torch.Generator) -> list:
    """n pairs (tokens (T,), tags (T,)) with tags[t] = tokens[t + 1] % 2 and tags[-1] = 0."""
    examples = []
    for length in torch.randint(min_len, max_len + 1, (n,), generator=generator).tolist():
        tokens = torch.randint(1, n_tokens, (length,), generator=generator)  # (T,)
        tags = torch.cat([tokens[1:] % 2, tokens.new_zeros(1)])  # (T,)
        examples.append((tokens, tags))
    return examples


def labeled_sequence_loader(dataset, batch_size: int, seed: int, shuffle: bool) -> DataLoader:
    """Batches of (token ids, label) sequences padded by ``collate_labeled``, in an order drawn from
    (seed, epoch) when shuffled."""
    sampler = EpochShuffleSampler(len(dataset), seed) if shuffle else None
    return seeded_loader(dataset, batch_size, seed, sampler, collate_labeled)


class NextParityDataModule(L.LightningDataModule):
    """Train/val/test sets of the next-token-parity tagging task, generated from ``seed``."""

    def __init__(
        self, n_train: int = 2000, n_val: int = 500, n_test: int = 500, n_tokens: int = 10, min_len: int = 4,
        max_len: int = 12, batch_size: int = 64, seed: int = 0,
    ) -> None:
        super().__init__()
        if min(n_train, n_val, n_test, batch_size) < 1 or n_tokens < 3 or not 1 <= min_len <= max_len:
            raise DlzooError(
                f"next_parity needs n_train, n_val, n_test, batch_size >= 1, n_tokens >= 3 and 1 <= min_len <= max_len; "
                f"got {n_train}, {n_val}, {n_test}, {batch_size}, {n_tokens}, {min_len}, {max_len}"
            )
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}
        self.n_tokens, self.min_len, self.max_len, self.batch_size, self.seed = n_tokens, min_len, max_len, batch_size, seed
        self.datasets: dict[str, list] = {}

    def setup(self, stage: str | None = None) -> None:
        if not self.datasets:
            generator = torch.Generator().manual_seed(self.seed)
            for name, n in self.sizes.items():
                self.datasets[name] = next_parity_examples(n, self.n_tokens, self.min_len, self.max_len, generator)

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        return {"vocab_size": (self.n_tokens, (self.n_tokens,)), "num_classes": (2, (2,))}

    @property
    def has_validation(self) -> bool:
        return True

    def checkpoint_metadata(self) -> dict:
        return {}

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        self.setup()
        return labeled_sequence_loader(self.datasets[name], self.batch_size, self.seed, shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        return {name: self._loader(name, shuffle=False) for name in self.sizes}
