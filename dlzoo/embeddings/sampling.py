"""word2vec's training data, made on the fly from id chunks (Mikolov et al. 2013, arXiv:1301.3781 and 1310.4546).

Three pieces of the original C tool, vectorized over a chunk of whole sentences:

- Frequent-word subsampling, word2vec.c's variant: a word of corpus frequency f = count / (in-vocabulary
  words) is kept with probability min(1, (sqrt(f/t) + 1) * t/f), t = `sample` (1e-3 by default). The paper's
  formula discards with probability 1 - sqrt(t/f); the C code, which gensim copies, keeps a little more.
  Subsampled words are removed before the windows are laid, so windows reach past them.
- The dynamic window: each centre word draws its reach b uniformly from 1..window and pairs with the words at
  distance <= b on either side inside its sentence, which weights a context at distance d by (window-d+1)/window.
- Negative sampling: K words from the unigram distribution raised to 3/4, drawn from a table as word2vec.c
  does, per centre word and shared by its pairs (the trainer's docstring says why); a negative equal to a
  pair's positive word is skipped for that pair.

No pair list is ever built for more than one chunk: `PairMaker.batches` cuts a chunk into mini-batches and
drops them, so memory is bounded by the chunk size. Everything runs in torch on `device`, so on a GPU the
pairs are made where they are used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset

from dlzoo.embeddings.corpus import Chunk, Corpus, WordCounts, iter_chunks


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """word2vec.c's subsampling: P(keep) = min(1, (sqrt(f/t) + 1) t/f), f = count / sum(counts); 0 keeps all."""
    if sample < 0:
        raise ValueError(f"sample must be >= 0, got {sample}")
    counts = np.asarray(counts, dtype=np.float64)
    if sample == 0:
        return np.ones_like(counts)
    ratio = sample * counts.sum() / counts  # t/f
    return np.minimum(1.0, (np.sqrt(1.0 / ratio) + 1.0) * ratio)


def unigram_table(counts: np.ndarray, power: float = 0.75, size: int = 2_000_000) -> torch.Tensor:
    """Word ids repeated in proportion to count**power: a uniform index into it samples a negative.

    word2vec.c uses 1e8 entries; 2e6 keeps the table in cache and still resolves a probability of 5e-7.
    Every word gets at least one entry.
    """
    p = np.asarray(counts, dtype=np.float64) ** power
    reps = np.maximum(1, np.round(p / p.sum() * size)).astype(np.int64)
    return torch.from_numpy(np.repeat(np.arange(len(counts), dtype=np.int64), reps))


def subsample(ids: torch.Tensor, sentence: torch.Tensor, keep: torch.Tensor,
              generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep each id with probability `keep[id]`; returns the kept ids and their sentence numbers."""
    kept = torch.rand(ids.shape, generator=generator, device=ids.device) < keep[ids]  # (n,)
    return ids[kept], sentence[kept]


def dynamic_window(ids: torch.Tensor, sentence: torch.Tensor, window: int,
                   generator: torch.Generator) -> torch.Tensor:
    """Context ids (n, 2*window), columns ordered -window..-1, +1..+window, -1 where there is none.

    Each centre draws its reach from 1..window; contexts stay inside the centre's sentence.
    """
    n = ids.shape[0]
    reach = torch.randint(1, window + 1, (n,), generator=generator, device=ids.device)  # (n,)
    contexts = ids.new_full((n, 2 * window), -1)  # (n, 2W)
    for d in range(1, min(window, n - 1) + 1):
        same = sentence[d:] == sentence[:-d]  # (n-d,) centre i and word i+d share a sentence
        contexts[:-d, window + d - 1] = torch.where(same & (reach[:-d] >= d), ids[d:], -1)
        contexts[d:, window - d] = torch.where(same & (reach[d:] >= d), ids[:-d], -1)
    return contexts


@dataclass
class Batch:
    """A mini-batch of centre words with their windows, as pairs.

    `centers` (n,) and `negatives` (n, K), K words shared by the pairs of a centre; the pairs are
    (centers[owner[p]], contexts[p]) for `owner` (P,) row numbers in 0..n-1, sorted, and `contexts` (P,).
    Every centre has at least one pair. `progress` counts the training words (epochs included) done when the
    batch starts, for the learning-rate schedule (dlzoo.embeddings.word2vec.train_step).
    """

    centers: torch.Tensor
    owner: torch.Tensor
    contexts: torch.Tensor
    negatives: torch.Tensor
    progress: float = 0.0

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The skip-gram pairs spelled out: center (P,), context (P,), negatives (P, K)."""
        return self.centers[self.owner], self.contexts, self.negatives[self.owner]

    def windows(self, window: int) -> torch.Tensor:
        """The contexts as rows (n, 2*window), padded with -1: the input of dlzoo.models.word2vec.CBOW."""
        rows = torch.full((self.centers.shape[0], 2 * window), -1, dtype=torch.long, device=self.owner.device)
        first = torch.searchsorted(self.owner, torch.arange(rows.shape[0], device=self.owner.device))  # (n,)
        rows[self.owner, torch.arange(len(self.owner), device=self.owner.device) - first[self.owner]] = self.contexts
        return rows


@dataclass
class WindowBatch:
    """The pairs of a Batch as fixed-shape rows: `centers` (n,), `windows` (n, 2*window) the context ids of
    each centre with -1 where there is none, `negatives` (n, K). A row without contexts is padding. Fixed
    shapes let a GPU replay one recorded step (dlzoo.embeddings.word2vec.GraphedSkipGramStep)."""

    centers: torch.Tensor
    windows: torch.Tensor
    negatives: torch.Tensor
    progress: float = 0.0


class PairMaker:
    """Turns chunks into mini-batches: subsampling, dynamic window, negatives (see the module docstring)."""

    def __init__(self, counts: np.ndarray, window: int = 5, negative: int = 5, sample: float = 1e-3,
                 batch_size: int = 512, device: str | torch.device = "cpu") -> None:
        for name, value in (("window", window), ("negative", negative), ("batch_size", batch_size)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.window, self.negative, self.batch_size = window, negative, batch_size
        self.device = torch.device(device)
        self.keep = torch.from_numpy(keep_probabilities(counts, sample)).float().to(self.device)  # (V,)
        self.table = unigram_table(counts).to(self.device)

    def batches(self, chunk: Chunk, generator: torch.Generator, words_done: float = 0.0) -> Iterator[Batch]:
        """The chunk's mini-batches of `batch_size` centres, in text order. `words_done` counts the training
        words before the chunk; each batch's `progress` adds the chunk's raw words before its first centre."""
        made = self._centres(chunk, generator)
        if made is None:
            return
        centers, windows, negatives = made
        n = centers.shape[0]
        flat = windows.view(-1)
        where = (flat >= 0).nonzero().squeeze(1)  # (P,) positions of the pairs, row-major
        contexts = flat.index_select(0, where)  # (P,)
        owner = where.div_(2 * self.window, rounding_mode="floor")  # (P,) centre of each pair, sorted
        starts = torch.arange(0, n + self.batch_size, self.batch_size, device=self.device).clamp_(max=n)
        cuts = torch.searchsorted(owner, starts).tolist()  # pair range of each batch
        words_per_center = chunk.raw_words / n
        for b, start in enumerate(range(0, n, self.batch_size)):
            stop = start + self.batch_size
            yield Batch(centers[start:stop], owner[cuts[b]:cuts[b + 1]] - start, contexts[cuts[b]:cuts[b + 1]],
                        negatives[start:stop], words_done + start * words_per_center)

    def window_batches(self, chunk: Chunk, generator: torch.Generator,
                       words_done: float = 0.0) -> Iterator[WindowBatch]:
        """The same mini-batches as `batches` (same random draws), as fixed-shape WindowBatch rows: the last
        one is padded with centres that have no context, so every batch has exactly `batch_size` rows."""
        made = self._centres(chunk, generator)
        if made is None:
            return
        centers, windows, negatives = made
        n = centers.shape[0]
        pad = -n % self.batch_size
        if pad:  # rows of word 0 without contexts: they contribute nothing to a step
            centers = torch.cat([centers, centers.new_zeros(pad)])
            windows = torch.cat([windows, windows.new_full((pad, windows.shape[1]), -1)])
            negatives = torch.cat([negatives, negatives.new_zeros(pad, negatives.shape[1])])
        words_per_center = chunk.raw_words / n
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            yield WindowBatch(centers[start:stop], windows[start:stop], negatives[start:stop],
                              words_done + start * words_per_center)

    def _centres(self, chunk: Chunk,
                 generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """Subsample the chunk, lay the windows and draw the negatives: centres (n,), their context rows
        (n, 2*window) with -1 where there is none, and negatives (n, K), for the n kept words that have at
        least one context word; None when there are none."""
        ids = torch.from_numpy(chunk.ids).to(self.device)
        sentence = torch.from_numpy(chunk.sentence).to(self.device)
        ids, sentence = subsample(ids, sentence, self.keep, generator)
        if ids.shape[0] < 2:
            return None
        windows = dynamic_window(ids, sentence, self.window, generator)  # (N, 2W)
        has_context = (windows >= 0).any(1)  # (N,)
        centers, windows = ids[has_context], windows[has_context]  # (n,), (n, 2W)
        n = centers.shape[0]
        if n == 0:
            return None
        draws = torch.randint(len(self.table), (n, self.negative), generator=generator, device=self.device)
        return centers, windows, self.table[draws]  # negatives (n, K)


class Word2VecBatches(IterableDataset):
    """The mini-batches of one pass over `corpus` per iteration, for a Lightning data module.

    Yields Batch objects (use `batch_size=None` in the DataLoader): `Batch.pairs()` spells out the skip-gram
    pairs for dlzoo.models.word2vec.SkipGramNegSampling, `Batch.windows(window)`, `centers` and `negatives`
    feed CBOW. The corpus is streamed chunk by chunk, so an endless generator works too.

    Pass e draws its random numbers from a generator seeded `seed + e` and numbers its words from
    e * `vocab.total_words` (the batches' `progress`), so any pass can be replayed alone. `epoch` is a callable
    returning the pass number when an iteration starts (a Lightning trainer's current epoch, so that a resumed
    run repeats the passes of an uninterrupted one); without it the dataset counts its passes 0, 1, 2 ...
    """

    def __init__(self, corpus: Corpus, vocab: WordCounts, window: int = 5, negative: int = 5,
                 sample: float = 1e-3, batch_size: int = 512, chunk_words: int = 20_000, seed: int = 0,
                 epoch: Callable[[], int] | None = None) -> None:
        self.corpus, self.vocab, self.chunk_words, self.seed = corpus, vocab, chunk_words, seed
        self.maker = PairMaker(vocab.counts, window, negative, sample, batch_size)
        self.epoch_source = epoch
        self.passes = 0

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch_source() if self.epoch_source is not None else self.passes
        self.passes += 1
        generator = torch.Generator().manual_seed(self.seed + epoch)
        done = epoch * self.vocab.total_words
        for chunk in iter_chunks(self.corpus, self.vocab, self.chunk_words):
            yield from self.maker.batches(chunk, generator, done)
            done += chunk.raw_words
