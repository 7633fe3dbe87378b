"""Data modules of the sequence-to-sequence task (course 5 week 3, "Neural Machine Translation"): generated
date translation pairs (``DatesDataModule``) and a user's own parallel text, a TSV file of
``source<TAB>target`` lines (``ParallelTSVDataModule``).

Both give batches ``(src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,))`` from
``dlzoo.data.dates.collate_parallel``: right-padded with <pad> = 0, targets framed <bos> .. <eos>. The
vocabularies are built from the training split alone; in held-out splits an unseen source token is <unk>,
and so is an unseen target token, which the model is never trained to produce (it counts as a miss).

``checkpoint_metadata()`` stores both vocabularies (``Vocab.state_dict()``, plain lists) and the longest
training target, so ``dlzoo-translate`` works from the checkpoint alone: ``codec(state)`` rebuilds the
text <-> ids conversion from them.

Splits are seeded and deterministic; training batches follow ``EpochShuffleSampler`` (a permutation drawn
from seed + epoch), so a resumed run sees the same batches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from dlzoo.data.base import EpochShuffleSampler, NamedSplitLoaders, seeded_loader
from dlzoo.data.dates import ParallelTextDataset, build_vocabs, collate_parallel, generate_dates, read_parallel_tsv
from dlzoo.errors import DlzooError
from dlzoo.text import Vocab, build_tokenizer, pad_batch

Pairs = list[tuple[str, str]]

# Printed after training with the translations of the trained model (the course's examples and a few more).
EXAMPLE_DATES = [
    "3 May 1979", "5 April 09", "21th of August 2016", "Tue 10 Jul 2007", "Saturday May 9 2018",
    "March 3 2001", "March 3rd 2001", "1 March 2001",
]


@dataclass
class TextCodec:
    """Text <-> token ids for one trained model: its vocabularies, tokenizer and source preprocessing."""

    src_vocab: Vocab
    tgt_vocab: Vocab
    tokenize: Callable[[str], list[str]]
    join: Callable[[list[str]], str]
    prepare_source: Callable[[str], str]

    def source_tokens(self, text: str) -> list[str]:
        return self.tokenize(self.prepare_source(text))

    def encode_sources(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """-> (src (B, S), src_lengths (B,)), right-padded with <pad>."""
        ids = [self.src_vocab.encode(self.source_tokens(text)) for text in texts]
        empty = [text for text, seq in zip(texts, ids) if not seq]
        if empty:
            raise DlzooError(f"cannot translate empty sources: {empty!r}")
        return pad_batch(ids, self.src_vocab.pad_index)

    def target_tokens(self, ids: Sequence[int] | Tensor) -> list[str]:
        """The tokens of one output, up to its <eos>."""
        return self.tgt_vocab.decode(ids)

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        return self.join(self.target_tokens(ids))


class Seq2SeqDataModule(NamedSplitLoaders, L.LightningDataModule):
    """Shared logic; a subclass implements ``load()`` -> {"train": pairs, "val": pairs, "test": pairs} (val and
    test optional).

    Args:
        batch_size: sentence pairs per step.
        seed: seeds the per-epoch shuffles.
        tokenize: ``char`` or ``word`` (``dlzoo.text.build_tokenizer``), applied to both sides.
        lower: lower-case both sides before tokenizing (None: the tokenizer's default).
        num_workers, pin_memory: DataLoader options.
    """

    name = "seq2seq"
    min_freq = 1

    def __init__(
        self,
        batch_size: int = 64,
        seed: int = 0,
        tokenize: str = "char",
        lower: bool | None = None,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
    ) -> None:
        super().__init__()
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise DlzooError(f"data.batch_size must be a positive integer, got {batch_size!r}")
        try:
            self.tokenizer = build_tokenizer(tokenize, lower)
        except ValueError as err:
            raise DlzooError(f"data.tokenize: {err}") from err
        self.batch_size, self.seed, self.num_workers, self.pin_memory = batch_size, seed, num_workers, pin_memory
        self.pairs: dict[str, Pairs] = {}
        self.datasets: dict[str, ParallelTextDataset] = {}
        self.src_vocab: Vocab | None = None
        self.tgt_vocab: Vocab | None = None

    # ---- what a subclass defines ---------------------------------------------------------------------------
    def load(self) -> dict[str, Pairs]:
        raise NotImplementedError

    def prepare_source(self, text: str) -> str:
        """Preprocessing of a source string before tokenizing (the same for training data and new inputs)."""
        return text

    def build_vocabs(self, train: Pairs) -> tuple[Vocab, Vocab]:
        """Source and target vocabularies of the (preprocessed) training pairs, most frequent tokens first.
        Source tokens seen fewer than ``min_freq`` times are left to <unk>; every target token is kept, since
        the model must be able to produce it."""
        return (
            Vocab.build((self.tokenizer(src) for src, _ in train), min_freq=self.min_freq),
            Vocab.build(self.tokenizer(tgt) for _, tgt in train),
        )

    def example_sources(self) -> list[str]:
        """Sources translated and printed after training: the first few of the test (or val) split."""
        held_out = self.pairs.get("test") or self.pairs.get("val") or self.pairs["train"]
        return [src for src, _ in held_out[:8]]

    # ---- LightningDataModule ---------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        pairs = {name: split for name, split in self.load().items() if split}
        if not pairs.get("train"):
            raise DlzooError(f"data '{self.name}' has an empty training split")
        pairs = {name: [(self.prepare_source(src), tgt) for src, tgt in split] for name, split in pairs.items()}
        self.src_vocab, self.tgt_vocab = self.build_vocabs(pairs["train"])
        self.pairs = pairs
        try:
            self.datasets = {
                name: ParallelTextDataset(split, self.src_vocab, self.tgt_vocab, self.tokenizer,
                                          unknown_target="error" if name == "train" else "unk")
                for name, split in pairs.items()
            }
        except ValueError as err:  # e.g. a pair with nothing left after tokenizing
            raise DlzooError(f"data '{self.name}': {err}") from err

    def _require_setup(self) -> dict[str, ParallelTextDataset]:
        if not self.datasets:
            self.setup()
        return self.datasets

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """The vocabulary sizes an encoder-decoder takes from this data."""
        self._require_setup()
        assert self.src_vocab is not None and self.tgt_vocab is not None
        n_src, n_tgt = len(self.src_vocab), len(self.tgt_vocab)
        return {"src_vocab_size": (n_src, (n_src,)), "tgt_vocab_size": (n_tgt, (n_tgt,))}

    @property
    def has_validation(self) -> bool:
        return "val" in self._require_setup()

    @property
    def max_target_len(self) -> int:
        """Longest training target in tokens, <eos> included: how far decoding must run to reproduce it."""
        return max(len(tgt) - 1 for _, tgt in self._require_setup()["train"])

    def checkpoint_metadata(self) -> dict:
        self._require_setup()
        assert self.src_vocab is not None and self.tgt_vocab is not None
        return {
            "src_vocab": self.src_vocab.state_dict(),
            "tgt_vocab": self.tgt_vocab.state_dict(),
            "max_target_len": self.max_target_len,
        }

    def codec(self, state: dict | None = None) -> TextCodec:
        """Text <-> ids with this data's vocabularies, or with those of ``state`` (a checkpoint's data_state)."""
        if state is None:
            self._require_setup()
            src_vocab, tgt_vocab = self.src_vocab, self.tgt_vocab
        else:
            src_vocab, tgt_vocab = Vocab.from_state_dict(state["src_vocab"]), Vocab.from_state_dict(state["tgt_vocab"])
        return TextCodec(src_vocab, tgt_vocab, self.tokenizer, self.tokenizer.join, self.prepare_source)

    def _loader(self, dataset: ParallelTextDataset, shuffle: bool) -> DataLoader:
        sampler = EpochShuffleSampler(len(dataset), self.seed) if shuffle else None
        return seeded_loader(dataset, self.batch_size, self.seed, sampler, collate_parallel, self.num_workers,
                             self.pin_memory, self.trainer)

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        """Every split, unshuffled, for the final metrics (the training split in eval mode included)."""
        return {name: self._loader(ds, shuffle=False) for name, ds in self._require_setup().items()}


class DatesDataModule(Seq2SeqDataModule):
    """Human-readable dates -> YYYY-MM-DD, generated as the course does (``dlzoo.data.dates``).

    The training set is ``n_train`` pairs drawn with ``data_seed`` (duplicates allowed, as in the course);
    the validation and test sets are drawn with ``data_seed + 1`` and ``+ 2`` and redrawn until none of their
    sources occurs in the training set, and the test sources occur in neither other split: held-out dates.
    Sources are lower-cased and stripped of commas, the course's ``string_to_int`` preprocessing, for the
    generated data (already so) and for new inputs ('3 May 1979' -> '3 may 1979'). Vocabularies: the
    characters sorted, after the four specials (``build_vocabs``).

    Args:
        n_train, n_val, n_test: split sizes (the course trains on 10,000; n_val 0 gives no validation split).
        data_seed: seeds the generation, apart from ``seed`` (the shuffles), so runs with different seeds
            share the data.
        examples: sources translated after training (default ``EXAMPLE_DATES``).
        batch_size, seed, num_workers, pin_memory: see ``Seq2SeqDataModule``.
    """

    name = "dates"

    def __init__(
        self,
        n_train: int = 10_000,
        n_val: int = 1_000,
        n_test: int = 2_000,
        data_seed: int = 0,
        examples: list[str] | None = None,
        batch_size: int = 100,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, seed, "char", False, num_workers, pin_memory)
        if n_train < 1 or n_val < 0 or n_test < 0:
            raise DlzooError(f"data.n_train must be >= 1 and n_val, n_test >= 0; got {n_train}, {n_val}, {n_test}")
        self.n_train, self.n_val, self.n_test, self.data_seed = n_train, n_val, n_test, data_seed
        self.examples = list(examples) if examples is not None else list(EXAMPLE_DATES)

    def load(self) -> dict[str, Pairs]:
        train = generate_dates(self.n_train, seed=self.data_seed)
        seen = {src for src, _ in train}
        val = generate_dates(self.n_val, seed=self.data_seed + 1, exclude=seen)
        test = generate_dates(self.n_test, seed=self.data_seed + 2, exclude=seen | {src for src, _ in val})
        return {"train": train, "val": val, "test": test}

    def prepare_source(self, text: str) -> str:
        return text.lower().replace(",", "")

    def build_vocabs(self, train: Pairs) -> tuple[Vocab, Vocab]:
        return build_vocabs(train)

    def example_sources(self) -> list[str]:
        return list(self.examples)


def read_pairs(path: str | Path, option: str) -> Pairs:
    """The pairs of a TSV file, or a DlzooError naming the file, its folder and the option that sets it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DlzooError(
            f"parallel text file not found: '{path.name}' in folder {path.parent.resolve()}. "
            f"Pass {option}=<file.tsv>, a UTF-8 file with one 'source<TAB>target' pair a line."
        )
    try:
        pairs = read_parallel_tsv(path)
    except (ValueError, UnicodeDecodeError) as err:
        raise DlzooError(f"cannot read {path}: {err}") from err
    if not pairs:
        raise DlzooError(f"{path} holds no 'source<TAB>target' pairs")
    return pairs


class ParallelTSVDataModule(Seq2SeqDataModule):
    """A user's parallel text: ``path`` holds the pairs, one ``source<TAB>target`` a line.

    Validation and test splits come from ``val_path`` / ``test_path`` when given, else are carved out of
    ``path`` (``val_fraction``, ``test_fraction`` of its pairs, drawn with ``split_seed``; 0 gives no such split).

    Args:
        path: the TSV file of (training) pairs.
        val_path, test_path: optional TSV files of held-out pairs.
        val_fraction, test_fraction: shares of ``path`` held out when the matching file is not given.
        split_seed: seeds the carving, apart from ``seed`` (the shuffles).
        tokenize: ``char`` or ``word``; lower: lower-case both sides (None: the tokenizer's default).
        min_freq: source tokens seen fewer times in training are <unk> (see ``build_vocabs``).
        batch_size, seed, num_workers, pin_memory: see ``Seq2SeqDataModule``.
    """

    name = "parallel_tsv"

    def __init__(
        self,
        path: str | None = None,
        val_path: str | None = None,
        test_path: str | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        split_seed: int = 0,
        tokenize: str = "char",
        lower: bool | None = None,
        min_freq: int = 1,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
        pin_memory: bool | str = "auto",
    ) -> None:
        super().__init__(batch_size, seed, tokenize, lower, num_workers, pin_memory)
        if path in (None, "", "???"):
            raise DlzooError("data=parallel_tsv needs data.path=<file.tsv> (one 'source<TAB>target' pair a line)")
        for option, fraction in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 <= fraction < 1.0:
                raise DlzooError(f"data.{option} must lie in [0, 1), got {fraction}")
        if min_freq < 1:
            raise DlzooError(f"data.min_freq must be >= 1, got {min_freq}")
        self.path, self.val_path, self.test_path = path, val_path, test_path
        self.val_fraction, self.test_fraction, self.split_seed, self.min_freq = val_fraction, test_fraction, split_seed, min_freq

    def load(self) -> dict[str, Pairs]:
        pairs = read_pairs(self.path, "data.path")
        order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(self.split_seed)).tolist()
        splits: dict[str, Pairs] = {}
        for name, file, fraction in (("test", self.test_path, self.test_fraction), ("val", self.val_path, self.val_fraction)):
            if file:
                splits[name] = read_pairs(file, f"data.{name}_path")
            elif fraction > 0:
                n = max(1, round(fraction * len(pairs)))
                splits[name], order = [pairs[i] for i in order[:n]], order[n:]
        if not order:
            raise DlzooError(
                f"data.val_fraction={self.val_fraction} and data.test_fraction={self.test_fraction} leave no "
                f"training pairs out of the {len(pairs)} in {self.path}"
            )
        splits["train"] = [pairs[i] for i in sorted(order)]
        return splits
