"""Streaming corpora for the embedding trainers: tokenize, count words, cut the text into id chunks.

Nothing here holds the corpus. `Corpus` re-reads its file (or calls its factory again) on every pass, and
`iter_chunks` turns the sentences into bounded arrays of word ids, whole sentences at a time, so the trainers
use memory O(vocabulary + chunk) whatever the corpus length: a 100 M-word text8-style file streams through in
the same memory as a 1 M-word one. The one pass that sees every word is `WordCounts.build`, and it keeps only
the counts.

Long lines are cut into pieces of at most `max_sentence_length` words (10,000, as gensim's LineSentence does
for text8, which is one line): windows never cross a sentence boundary, as in word2vec.c and GloVe's cooccur.
A file is read in blocks of at most `READ_BLOCK` characters, a longer line cut at whitespace and its words
carried over, so a one-line 100 MB file never sits in memory as one string (tokenizers must split on
whitespace, as `tokenize` and str.split do).
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")

Sentences = Iterable[Sequence[str]]
READ_BLOCK = 1 << 20  # characters a file read takes at most


def tokenize(line: str) -> list[str]:
    """Lower-cased words and numbers, inner apostrophes kept: "O'er the King's 2 hills!" -> o'er the king's 2 hills."""
    return _TOKEN.findall(line.lower())


class Corpus:
    """A re-iterable stream of sentences (lists of tokens).

    `source` is a text file (one sentence a line, tokenized by `tokenizer`), a re-iterable of token lists
    (a list, or any object whose `__iter__` starts over), or a zero-argument callable returning a fresh
    iterable of token lists each time (a generator function: it is called once per pass).
    """

    def __init__(
        self,
        source: str | Path | Sentences | Callable[[], Sentences],
        tokenizer: Callable[[str], list[str]] = tokenize,
        max_sentence_length: int = 10_000,
    ) -> None:
        if max_sentence_length < 1:
            raise ValueError(f"max_sentence_length must be >= 1, got {max_sentence_length}")
        if isinstance(source, (str, Path)):
            if not Path(source).is_file():
                raise ValueError(f"corpus file {str(source)!r} does not exist")
            source = Path(source)
        elif isinstance(source, Iterator):
            raise ValueError("a one-shot iterator cannot be read once per epoch; pass a list, a file or a "
                             "zero-argument callable that returns a fresh generator")
        self.source = source
        self.tokenizer = tokenizer
        self.max_sentence_length = max_sentence_length

    def _file_sentences(self) -> Iterator[list[str]]:
        """The file's lines as token lists of at most max_sentence_length tokens, read a block at a time."""
        n, words, carry = self.max_sentence_length, [], ""
        with open(self.source, encoding="utf-8") as f:
            while block := f.readline(READ_BLOCK):
                text, line_ends = carry + block, block.endswith("\n")
                carry = ""
                if not line_ends:  # the line goes on: its last, maybe partial, word waits for the next block
                    cut = max(text.rfind(" "), text.rfind("\t")) + 1
                    text, carry = text[:cut], text[cut:]
                words.extend(self.tokenizer(text))
                while len(words) > n or (line_ends and words):
                    yield words[:n]
                    words = words[n:]
            words.extend(self.tokenizer(carry))  # a last line without a newline
            for start in range(0, len(words), n):
                yield words[start:start + n]

    def _sentences(self) -> Iterator[Sequence[str]]:
        if isinstance(self.source, Path):
            yield from self._file_sentences()
        elif callable(self.source):
            yield from self.source()
        else:
            yield from self.source

    def __iter__(self) -> Iterator[Sequence[str]]:
        n = self.max_sentence_length
        for sentence in self._sentences():
            if isinstance(sentence, str):
                raise ValueError("sentences must be sequences of tokens, got a str (tokenize it first)")
            if len(sentence) <= n:
                if sentence:
                    yield sentence
                continue
            for start in range(0, len(sentence), n):
                yield sentence[start:start + n]


@dataclass
class WordCounts:
    """The training vocabulary: `words[i]` seen `counts[i]` times, most frequent first (ties by the word).

    `total_words` counts every token of the corpus, those under `min_count` included (the words/s and the
    learning-rate schedule count raw words, as word2vec.c and gensim do).
    """

    words: list[str]
    counts: np.ndarray  # (V,) int64
    total_words: int

    def __post_init__(self) -> None:
        if len(self.words) != len(self.counts):
            raise ValueError(f"{len(self.words)} words but {len(self.counts)} counts")
        if len(self.words) == 0:
            raise ValueError("the vocabulary is empty (is min_count larger than every count?)")
        self.index = {word: i for i, word in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(cls, sentences: Sentences, min_count: int = 5, max_size: int | None = None) -> WordCounts:
        """One streaming pass: count, keep words seen >= `min_count` times, the `max_size` most frequent."""
        if min_count < 1:
            raise ValueError(f"min_count must be >= 1, got {min_count}")
        counter: Counter[str] = Counter()
        for sentence in sentences:
            counter.update(sentence)
        kept = sorted((w for w, c in counter.items() if c >= min_count), key=lambda w: (-counter[w], w))
        kept = kept[:max_size]
        counts = np.array([counter[w] for w in kept], dtype=np.int64)
        return cls(kept, counts, total_words=sum(counter.values()))

    def encode(self, sentence: Sequence[str]) -> list[int]:
        """Ids of the in-vocabulary tokens; the others are dropped, so windows reach past them (word2vec.c)."""
        return [i for i in map(self.index.get, sentence) if i is not None]


@dataclass
class Chunk:
    """Whole sentences as flat ids: `ids` (n,) int64 and `sentence` (n,) int64, the sentence of each id,
    numbered 0, 1, 2 ... in order. Unknown words are gone and every sentence has at least two ids.

    `raw_words` counts the tokens they came from, out-of-vocabulary ones included.
    """

    ids: np.ndarray
    sentence: np.ndarray
    raw_words: int


def iter_chunks(sentences: Sentences, vocab: WordCounts, chunk_words: int = 20_000) -> Iterator[Chunk]:
    """Group sentences into chunks of about `chunk_words` tokens (one sentence more at most), encoded.

    Lazy: it pulls sentences only as it fills the current chunk, so an endless generator works.
    """
    if chunk_words < 1:
        raise ValueError(f"chunk_words must be >= 1, got {chunk_words}")
    lookup, missing = vocab.index.get, itertools.repeat(-1)
    ids: list[int] = []
    lengths: list[int] = []
    for sentence in sentences:
        ids.extend(map(lookup, sentence, missing))  # -1 for out-of-vocabulary tokens, dropped below
        lengths.append(len(sentence))
        if len(ids) >= chunk_words:
            yield _chunk(ids, lengths)
            ids, lengths = [], []
    if ids:
        yield _chunk(ids, lengths)


def _chunk(ids: list[int], lengths: list[int]) -> Chunk:
    """Drop unknown words, then sentences left with fewer than two words (no context to learn from)."""
    ids = np.array(ids, dtype=np.int64)
    sentence = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    known = ids >= 0
    ids, sentence = ids[known], sentence[known]
    kept = np.bincount(sentence, minlength=len(lengths)) >= 2  # (sentences,)
    keep = kept[sentence]
    renumber = np.cumsum(kept) - 1  # kept sentences become 0, 1, 2 ...
    return Chunk(ids[keep], renumber[sentence[keep]], raw_words=len(known))
