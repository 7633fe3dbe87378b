"""Sentences labelled with an emoji: the course's Emojify data and a generated negation set.

- `EmojiDataModule` (Course 5 week 2, "Emojify!"): ``train_emoji.csv`` (132 sentences) and ``tesss.csv`` (56,
  the test file the notebooks read), CSV without a header, ``sentence,label[,...]`` with the label 0-4 in the
  second column (later columns, present in the training file, are ignored). Labels are the course's emoji:
  0 heart, 1 baseball, 2 smile, 3 disappointed, 4 fork_and_knife. The course trains on all 132 sentences, so
  the default ``val_fraction=0`` has no validation split; ``val_fraction > 0`` holds out that share of the
  training file, drawn by ``seed``.
- `NegationDataModule`: generated from ``seed`` (no files), binary (0 disappointed, 1 smile). Sentences where a
  word flips the meaning ("the food was not good at all", "the movie was lacking in good ideas", "my day
  was far from bad") and contrast sentences whose two orders share one bag of words with opposite labels
  ("the party was good , not bad" / "the party was bad , not good"). Averaging the embeddings (Emojify v1)
  cannot tell a contrast pair apart and a negation is a XOR of two words, which an average followed by a
  linear layer cannot represent; an LSTM (v2) reads the order. The space of sentences is small, so test
  sentences may also occur in training; that cannot help v1 on a contrast sentence, whose twin has the
  same average and the other label.

Words are lower-cased ``dlzoo.text.WordTokenizer`` tokens; the vocabulary is built from the training split
(a word seen only in validation or test is <unk>). With ``embeddings_path`` (a GloVe-format or word2vec
file, ``dlzoo.embeddings.vectors.load_vectors``) the model's embedding starts from the file's vectors:
``pretrained_embeddings()`` gives the (V, d) matrix, copied in by ``SequenceLabelingTask`` when training
starts; vocabulary words the file lacks get random normal vectors of the file's standard deviation (logged
with their count), <pad> a zero vector. ``vocab_from_vectors=True`` adds every word of the file to the
vocabulary, as the course does with GloVe's 400k words, so a test word never seen in training still has
its vector (training never reads those rows: only weight decay changes them, and freezing the embedding
keeps them exactly).

Batches are ``dlzoo.text.collate_labeled``'s (tokens (B, T), lengths (B,), labels (B,)).
``checkpoint_metadata()`` holds the vocabulary, the class names and the tokenizer's case, which is what
``dlzoo-predict ckpt_path=... "i love you"`` needs.
"""

from __future__ import annotations

import csv
import logging
import random
from pathlib import Path
from typing import ClassVar

import lightning as L
import torch
from torch.utils.data import DataLoader

from dlzoo.data.course import require_file
from dlzoo.data.sequence_tasks import labeled_sequence_loader
from dlzoo.embeddings.vectors import KeyedVectors, load_vectors
from dlzoo.errors import DlzooError
from dlzoo.text import SPECIALS, Vocab, WordTokenizer

log = logging.getLogger("dlzoo")

# The course's emoji (emoji.emojize(":heart:"), ...), in label order.
COURSE_EMOJI = [
    "\u2764\ufe0f heart", "\u26be baseball", "\U0001f604 smile", "\U0001f61e disappointed", "\U0001f374 fork_and_knife",
]
NEGATION_CLASSES = ["\U0001f61e disappointed", "\U0001f604 smile"]

Rows = list[tuple[str, int]]  # (sentence, label)


class SentenceDataModule(L.LightningDataModule):
    """Shared logic: tokenize, build the vocabulary, hold out validation, load vectors, batch.

    Args:
        batch_size: sentences per step.
        val_fraction: share of the training rows held out for validation when the source has no validation
            split (drawn by ``seed``); 0 keeps them all.
        embeddings_path: a GloVe-format (or word2vec) file whose vectors start the embedding; None learns it
            from scratch.
        vocab_from_vectors: add every word of that file to the vocabulary.
        seed: the validation split, the shuffles and the random vectors of words missing from the file.
    """

    name = "sentences"
    class_names: ClassVar[list[str]] = []

    def __init__(
        self, batch_size: int = 32, val_fraction: float = 0.0, embeddings_path: str | None = None,
        vocab_from_vectors: bool = False, seed: int = 0,
    ) -> None:
        super().__init__()
        if batch_size < 1 or not 0.0 <= val_fraction < 1.0:
            raise DlzooError(
                f"data.batch_size must be >= 1 and data.val_fraction in [0, 1), got {batch_size}, {val_fraction}"
            )
        if vocab_from_vectors and not embeddings_path:
            raise DlzooError("data.vocab_from_vectors=true needs a vectors file: set embeddings.path=<a GloVe file>")
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.embeddings_path, self.vocab_from_vectors = embeddings_path, vocab_from_vectors
        self.tokenizer = WordTokenizer(lower=True)
        self.vocab: Vocab | None = None
        self.datasets: dict[str, list[tuple[torch.Tensor, int]]] = {}
        self._vectors: KeyedVectors | None = None

    def load(self) -> dict[str, Rows]:
        """The source's splits: "train", and "val" / "test" where it has them."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        splits = self.load()
        if "val" not in splits and self.val_fraction > 0:
            splits["train"], splits["val"] = self._hold_out(splits["train"])
        tokens = {name: [(self.tokenizer(s), y) for s, y in rows] for name, rows in splits.items()}
        for name, examples in tokens.items():
            empty = [splits[name][i][0] for i, (words, _) in enumerate(examples) if not words]
            if empty:
                raise DlzooError(f"data '{self.name}': {len(empty)} {name} sentences have no words, e.g. {empty[0]!r}")
        self.vocab = Vocab.build(words for words, _ in tokens["train"])
        if self.vocab_from_vectors:
            known = set(self.vocab.itos)
            self.vocab = Vocab([*self.vocab.itos, *(w for w in self.vectors().words if w not in known)])
        self.datasets = {
            name: [(torch.tensor(self.vocab.encode(words)), y) for words, y in examples]
            for name, examples in tokens.items()
        }

    def _hold_out(self, rows: Rows) -> tuple[Rows, Rows]:
        n_val = max(1, round(self.val_fraction * len(rows)))
        if n_val >= len(rows):
            raise DlzooError(f"data.val_fraction={self.val_fraction} leaves no training sentences out of {len(rows)}")
        order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(self.seed)).tolist()
        return [rows[i] for i in order[n_val:]], [rows[i] for i in order[:n_val]]

    def vectors(self) -> KeyedVectors:
        """The embeddings file, read once."""
        if self._vectors is None:
            path = Path(str(self.embeddings_path)).expanduser()
            if not path.is_file():
                raise DlzooError(
                    f"embeddings file not found: {path} (looked in {path.parent}). Set embeddings.path=<a GloVe-format "
                    f"file such as glove.6B.50d.txt>, or embeddings.path=null to learn the embeddings from scratch."
                )
            try:
                self._vectors = load_vectors(path)
            except (ValueError, UnicodeDecodeError) as err:
                raise DlzooError(f"cannot read embeddings file {path}: {err}") from err
        return self._vectors

    def pretrained_embeddings(self) -> torch.Tensor | None:
        """(V, d) initial embedding matrix in vocabulary order, or None when learned from scratch."""
        if not self.embeddings_path:
            return None
        self.setup()
        assert self.vocab is not None
        matrix, missing = self.vectors().matrix_for(self.vocab.itos, seed=self.seed)  # (V, d)
        matrix[self.vocab.pad_index] = 0.0
        words = [w for w in missing if w not in SPECIALS]
        log.info(
            "%d of %d vocabulary words are not in %s and start as random vectors%s", len(words),
            len(self.vocab) - len(SPECIALS), self.embeddings_path, f", e.g. {words[:5]}" if words else "",
        )
        return torch.from_numpy(matrix)

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        self.setup()
        assert self.vocab is not None
        v, k = len(self.vocab), len(self.class_names)
        sizes = {"vocab_size": (v, (v,)), "num_classes": (k, (k,))}
        if self.embeddings_path:  # a file fixes the width; learned from scratch, the model's embed_dim is used
            sizes["embed_dim"] = (self.vectors().dim, (self.vectors().dim,))
        return sizes

    @property
    def has_validation(self) -> bool:
        self.setup()
        return "val" in self.datasets

    def checkpoint_metadata(self) -> dict:
        self.setup()
        assert self.vocab is not None
        return {"vocab": self.vocab.state_dict(), "class_names": list(self.class_names), "level": "word", "lower": True}

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        self.setup()
        return labeled_sequence_loader(self.datasets[name], self.batch_size, self.seed, shuffle)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        return self._loader("val", shuffle=False) if self.has_validation else []

    def test_dataloader(self) -> DataLoader | list:
        return self._loader("test", shuffle=False) if "test" in self.datasets else []

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        self.setup()
        return {name: self._loader(name, shuffle=False) for name in ("train", "val", "test") if name in self.datasets}


def read_emoji_csv(path: Path, num_classes: int = len(COURSE_EMOJI)) -> Rows:
    """(sentence, label) of every row of a course emoji CSV: the sentence in column 1, the label in column 2."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for number, row in enumerate(csv.reader(f), 1):
            if not any(cell.strip() for cell in row):
                continue
            label = row[1].strip() if len(row) > 1 else ""
            if not label.isdigit() or int(label) >= num_classes:
                raise DlzooError(
                    f"{path}, line {number}: expected 'sentence,label' with a label 0-{num_classes - 1}, got {row}"
                )
            rows.append((row[0], int(label)))
    if not rows:
        raise DlzooError(f"{path} holds no sentences")
    return rows


class EmojiDataModule(SentenceDataModule):
    """The course's Emojify files under ``root`` (``${paths.data_dir}/course``)."""

    name = "emoji"
    class_names = COURSE_EMOJI

    def __init__(self, root: str, train_file: str = "train_emoji.csv", test_file: str = "tesss.csv", **options) -> None:
        super().__init__(**options)
        self.root, self.train_file, self.test_file = root, train_file, test_file

    def load(self) -> dict[str, Rows]:
        return {
            "train": read_emoji_csv(require_file(self.root, self.train_file)),
            "test": read_emoji_csv(require_file(self.root, self.test_file)),
        }


# The negation set's grammar: a subject, a verb, and one of the templates below.
SUBJECTS = ["the food", "the movie", "the service", "the weather", "my day", "the party", "this book", "the game"]
VERBS = ["was", "is", "seemed", "felt"]
POSITIVE = ["good", "great", "nice", "fun", "lovely", "happy", "tasty"]
NEGATIVE = ["bad", "awful", "boring", "terrible", "sad", "poor", "ugly"]
NEGATORS = ["not", "never", "hardly", "far from"]
NOUNS = ["taste", "ideas", "moments", "manners"]


def negation_example(rng: random.Random) -> tuple[str, int]:
    """One (sentence, label) with label 1 positive (smile), 0 negative (disappointed); templates equally likely:

    - plain:     "the food was good"                        -> the adjective's polarity
    - negated:   "the food was not good [at all]", "... never / hardly / far from good" -> flipped
    - lacking:   "the food was full of / lacking in good taste"                         -> flipped by "lacking in"
    - contrast:  "the food was good , not bad"              -> the first adjective's polarity
    """
    start = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)}"
    positive = rng.random() < 0.5
    adjective = rng.choice(POSITIVE if positive else NEGATIVE)
    template = rng.randrange(4)
    if template == 0:
        return f"{start} {adjective}", int(positive)
    if template == 1:
        negator = rng.choice(NEGATORS)
        at_all = " at all" if negator == "not" and rng.random() < 0.5 else ""
        return f"{start} {negator} {adjective}{at_all}", int(not positive)
    if template == 2:
        lacking = rng.random() < 0.5
        quantity = "lacking in" if lacking else "full of"
        return f"{start} {quantity} {adjective} {rng.choice(NOUNS)}", int(positive != lacking)
    other = rng.choice(NEGATIVE if positive else POSITIVE)
    return f"{start} {adjective} , not {other}", int(positive)


class NegationDataModule(SentenceDataModule):
    """Generated train / val / test sentences where order and negation decide the label."""

    name = "negation"
    class_names = NEGATION_CLASSES

    def __init__(self, n_train: int = 2000, n_val: int = 500, n_test: int = 500, **options) -> None:
        super().__init__(**options)
        if min(n_train, n_val, n_test) < 1:
            raise DlzooError(f"negation needs n_train, n_val, n_test >= 1, got {n_train}, {n_val}, {n_test}")
        self.sizes = {"train": n_train, "val": n_val, "test": n_test}

    def load(self) -> dict[str, Rows]:
        rng = random.Random(self.seed)
        return {name: [negation_example(rng) for _ in range(n)] for name, n in self.sizes.items()}
