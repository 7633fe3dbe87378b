"""Date translation data (course 5 week 3, "Neural Machine Translation"): human-readable dates -> YYYY-MM-DD,
and a reader for a user's own parallel text.

Generated offline as the course's ``nmt_utils.load_dataset`` does: a random date from Faker, rendered by babel's
``format_date`` (locale en_US) with a format drawn uniformly from ``COURSE_FORMATS`` (the course's list, where
'full' appears 10 times in 24), lower-cased and stripped of commas; the target is ``date.isoformat()``.
For example 'saturday april 28 1990', '28 apr 1990', '4/28/90', '28.04.90' -> '1990-04-28'.

Deviations from the course, named:
- The course's custom formats write the year as 'YYY' / 'YY', babel's *week-based* year, so a late-December
  date whose week belongs to the next year gets the wrong year in its source ('30.12.87' paired with
  1986-12-30, about 0.5 % of the pairs). dlzoo renders them with 'y' / 'yy', the calendar year.
- Dates are drawn from a fixed range, [1970-01-01, 2029-12-31], instead of Faker's default 1970 .. today, so
  a seed gives the same data on any day; two-digit years are unambiguous in it (70-99 -> 19xx, 00-29 -> 20xx).
- The vocabularies are ``dlzoo.text.Vocab``s: the four specials (<pad> = 0, <unk>, <bos>, <eos>) then the
  characters sorted, as the course sorts them. The course's human vocabulary is the same 35 characters plus
  <unk> and <pad> (37 symbols); its machine vocabulary is the 11 characters alone.

Seedable: the Faker instance and the format choice use their own generators seeded by ``seed``.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from dlzoo.text import SPECIALS, Vocab, pad_batch

COURSE_FORMATS = [
    "short", "medium", "long",
    *["full"] * 10,
    "d MMM y", "d MMMM y", "dd MMM y", "d MMM, y", "d MMMM, y", "dd, MMM y", "d MM yy", "d MMMM y",
    "MMMM d y", "MMMM d, y", "dd.MM.yy",
]  # the course's FORMATS with its 'YYY' / 'YY' written 'y' / 'yy'
LOCALE = "en_US"
DATE_RANGE = (datetime.date(1970, 1, 1), datetime.date(2029, 12, 31))


def render_date(date: datetime.date, fmt: str) -> str:
    """The course's source string: babel's rendering, lower-cased, without commas."""
    from babel.dates import format_date

    return format_date(date, format=fmt, locale=LOCALE).lower().replace(",", "")


def generate_dates(
    n: int, seed: int = 0, formats: Sequence[str] = COURSE_FORMATS, exclude: Collection[str] = ()
) -> list[tuple[str, str]]:
    """``n`` (human, machine) pairs, the same for the same arguments. Sources in ``exclude`` are redrawn,
    so a held-out set can be made disjoint from a training set: ``exclude={h for h, _ in train}``."""
    from faker import Faker

    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not formats:
        raise ValueError("formats is empty")
    fake = Faker(LOCALE)
    fake.seed_instance(seed)
    rng = random.Random(seed)
    pairs = []
    while len(pairs) < n:
        date = fake.date_between_dates(*DATE_RANGE)
        human = render_date(date, rng.choice(formats))
        if human not in exclude:
            pairs.append((human, date.isoformat()))
    return pairs


def build_vocabs(pairs: Sequence[tuple[str, str]]) -> tuple[Vocab, Vocab]:
    """Character vocabularies of the sources (human) and the targets (machine), specials first."""
    human = sorted({ch for src, _ in pairs for ch in src})
    machine = sorted({ch for _, tgt in pairs for ch in tgt})
    return Vocab([*SPECIALS, *human]), Vocab([*SPECIALS, *machine])


def read_parallel_tsv(path: str | Path) -> list[tuple[str, str]]:
    """Pairs from a UTF-8 file with one ``source<TAB>target`` per line; blank lines are skipped."""
    pairs = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                raise ValueError(f"{path}:{number}: expected 'source<TAB>target', got {line[:80]!r}")
            pairs.append((fields[0], fields[1]))
    return pairs


class ParallelTextDataset(Dataset):
    """(source ids, target ids framed <bos> .. <eos>) for each pair; character tokens unless ``tokenize``
    (e.g. a ``dlzoo.text.WordTokenizer``) is given. Unknown source tokens become <unk>. An unknown target
    token is an error (``unknown_target='error'``, for training data: the model could never produce it), or
    <unk> (``'unk'``, for held-out data scored against a vocabulary built from the training split: the model
    is never trained to produce <unk>, so such a token counts as a miss)."""

    def __init__(
        self,
        pairs: Sequence[tuple[str, str]],
        src_vocab: Vocab,
        tgt_vocab: Vocab,
        tokenize: Callable[[str], list[str]] = list,
        unknown_target: str = "error",
    ) -> None:
        if unknown_target not in ("error", "unk"):
            raise ValueError(f"unknown_target must be 'error' or 'unk', got {unknown_target!r}")
        self.src, self.tgt = [], []
        for i, (src, tgt) in enumerate(pairs):
            src_tokens, tgt_tokens = tokenize(src), tokenize(tgt)
            if not src_tokens or not tgt_tokens:
                raise ValueError(f"pair {i} has an empty side: {(src, tgt)!r}")
            unknown = [t for t in tgt_tokens if t not in tgt_vocab]
            if unknown and unknown_target == "error":
                raise ValueError(f"pair {i}: target tokens {unknown} are not in the target vocabulary")
            self.src.append(torch.tensor(src_vocab.encode(src_tokens), dtype=torch.long))
            self.tgt.append(torch.tensor(tgt_vocab.encode(tgt_tokens, add_bos=True, add_eos=True), dtype=torch.long))

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        return self.src[index], self.tgt[index]


def collate_parallel(batch: Sequence[tuple[Tensor, Tensor]], pad_id: int = 0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """-> (src (B, S), src_lengths (B,), tgt (B, T), tgt_lengths (B,)), right-padded with ``pad_id``.
    The decoder reads ``tgt[:, :-1]`` and is scored on ``tgt[:, 1:]``."""
    src, src_lengths = pad_batch([s for s, _ in batch], pad_id)
    tgt, tgt_lengths = pad_batch([t for _, t in batch], pad_id)
    return src, src_lengths, tgt, tgt_lengths
