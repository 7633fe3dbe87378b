"""Text for language models: any text file, read as one long stream or as a file of lines.

- ``framing="stream"`` (tinyshakespeare, any book): the whole file is tokenized (characters or words) and cut
  into chunks of ``seq_len + 1`` tokens, each chunk starting where the previous one's inputs end, so every
  token but the first is a target exactly once. The model reads ``chunk[:-1]`` and predicts ``chunk[1:]``.
- ``framing="lines"`` (dinosaur names, first names): each non-empty line, stripped, is one sequence framed
  ``<bos> tokens <eos>``; the model learns to start a name from <bos> and to end it with <eos>.

Chunks (stream) or lines are split into train/val/test by a permutation drawn from ``seed``; the vocabulary
is built from the training split alone (an unseen token elsewhere is <unk>). Batches are
``(inputs (B, T), targets (B, T), lengths (B,))`` from ``dlzoo.text.collate_lm``: inputs padded with <pad>,
targets with -100. ``order="course"`` reproduces the C5W1 assignment's order: the lines shuffled once with
``np.random.seed(seed); np.random.shuffle(examples)`` and then read in that order every epoch.

``checkpoint_metadata()`` stores the vocabulary, the tokenizer level and case, and the framing, which is what
``dlzoo-sample`` needs to turn a prompt into ids and samples back into text.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from dlzoo.data.base import EpochShuffleSampler
from dlzoo.errors import DlzooError
from dlzoo.text import Vocab, build_tokenizer, collate_lm


class TokenSequences(Dataset):
    """A list of 1-D LongTensors of token ids; the collate shifts them into inputs and targets."""

    def __init__(self, sequences: list[torch.Tensor]) -> None:
        self.sequences = sequences

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.sequences[index]


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8), or a DlzooError naming the file, its folder and how to supply it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DlzooError(
            f"text file not found: {path} (looked in {path.parent}). Put the file there, set data.path=<file>, "
            f"or set DLZOO_DATA_DIR to the folder holding it (paths.data_dir)."
        )
    return path.read_text(encoding="utf-8")


class TextDataModule(L.LightningDataModule):
    """Character- or word-level language-model data from one text file.

    Args:
        path: the text file.
        level: "char" or "word" (``dlzoo.text.build_tokenizer``).
        framing: "stream" (contiguous chunks) or "lines" (one sequence a line, <bos> ... <eos>).
        seq_len: tokens a chunk feeds the model (stream only).
        lower: lower-case the text (None: the tokenizer's default, False for char and True for word).
        min_freq, max_vocab: vocabulary filters (``Vocab.build``), max_vocab counting the 4 specials.
        val_fraction, test_fraction: shares of the chunks or lines held out, drawn by ``seed``.
        batch_size: sequences a batch.
        order: "shuffle" (a new permutation every epoch, from seed + epoch), "course" (see module docstring)
            or "none" (file order).
        seed: the split, the shuffles and the course order.
    """

    def __init__(
        self,
        path: str,
        level: str = "char",
        framing: str = "stream",
        seq_len: int = 128,
        lower: bool | None = None,
        min_freq: int = 1,
        max_vocab: int | None = None,
        val_fraction: float = 0.05,
        test_fraction: float = 0.05,
        batch_size: int = 64,
        order: str = "shuffle",
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if level not in ("char", "word"):
            raise DlzooError(f"data.level must be 'char' or 'word', got {level!r}")
        if framing not in ("stream", "lines"):
            raise DlzooError(f"data.framing must be 'stream' or 'lines', got {framing!r}")
        if order not in ("shuffle", "course", "none"):
            raise DlzooError(f"data.order must be 'shuffle', 'course' or 'none', got {order!r}")
        if seq_len < 1 or batch_size < 1:
            raise DlzooError(f"data.seq_len and data.batch_size must be >= 1, got {seq_len} and {batch_size}")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise DlzooError(f"data.val_fraction + data.test_fraction must lie in [0, 1), got {val_fraction} + {test_fraction}")
        self.path, self.level, self.framing, self.seq_len = path, level, framing, seq_len
        self.tokenizer = build_tokenizer(level, lower)
        self.min_freq, self.max_vocab = min_freq, max_vocab
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self.batch_size, self.order, self.num_workers, self.seed = batch_size, order, num_workers, seed
        self.vocab: Vocab | None = None
        self.datasets: dict[str, TokenSequences] = {}
        self.split_indices: dict[str, list[int]] = {}

    # ---- reading and splitting ---------------------------------------------------------------------------
    def _pieces(self, text: str) -> list[list[str]]:
        """The token lists to split: one per line (lines) or one per chunk of seq_len + 1 tokens (stream)."""
        if self.framing == "lines":
            return [self.tokenizer(line.strip()) for line in text.splitlines() if line.strip()]
        tokens = self.tokenizer(text)
        step = self.seq_len  # chunks overlap by one token: the last target of one is the first input of the next
        return [tokens[i : i + step + 1] for i in range(0, len(tokens) - 1, step) if len(tokens[i : i + step + 1]) > 1]

    def _split(self, n: int) -> dict[str, list[int]]:
        n_val, n_test = round(self.val_fraction * n), round(self.test_fraction * n)
        if n - n_val - n_test < 1:
            raise DlzooError(f"{self.path}: {n} sequences leave nothing to train on after the val/test split")
        if self.order == "course":
            order = list(range(n))
            np.random.RandomState(self.seed).shuffle(order)  # the course's np.random.seed(0); shuffle(examples)
        else:
            order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        test, val, train = order[:n_test], order[n_test : n_test + n_val], order[n_test + n_val :]
        if self.order != "course":
            train.sort()  # file order, then shuffled per epoch (or not, with order="none")
        return {"train": train, "val": val, "test": test}

    def setup(self, stage: str | None = None) -> None:
        if self.vocab is not None:
            return
        pieces = self._pieces(read_text(self.path))
        if not pieces:
            raise DlzooError(f"{self.path} holds no text to train on")
        split = self.split_indices = self._split(len(pieces))  # split -> indices of the lines or chunks
        self.vocab = Vocab.build((pieces[i] for i in split["train"]), self.min_freq, self.max_vocab)
        framed = self.framing == "lines"
        for name, indices in split.items():
            if indices:
                sequences = [torch.tensor(self.vocab.encode(pieces[i], add_bos=framed, add_eos=framed)) for i in indices]
                self.datasets[name] = TokenSequences(sequences)

    def _require_setup(self) -> Vocab:
        if self.vocab is None:
            self.setup()
        assert self.vocab is not None
        return self.vocab

    # ---- what the runner asks for -----------------------------------------------------------------------------
    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        v = len(self._require_setup())
        return {"vocab_size": (v, (v,))}

    @property
    def has_validation(self) -> bool:
        self._require_setup()
        return "val" in self.datasets

    def checkpoint_metadata(self) -> dict:
        return {
            "vocab": self._require_setup().state_dict(),
            "level": self.level,
            "lower": self.tokenizer.lower,
            "framing": self.framing,
        }

    def _loader(self, name: str, shuffle: bool) -> DataLoader | list:
        self._require_setup()
        if name not in self.datasets:
            return []
        dataset = self.datasets[name]
        sampler = EpochShuffleSampler(len(dataset), self.seed) if shuffle and self.order == "shuffle" else None
        return DataLoader(
            dataset, batch_size=self.batch_size, sampler=sampler, collate_fn=collate_lm,
            generator=torch.Generator().manual_seed(self.seed), num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader | list:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", shuffle=False)

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        self._require_setup()
        return {name: self._loader(name, shuffle=False) for name in ("train", "val", "test") if name in self.datasets}
