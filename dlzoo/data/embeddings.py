"""Corpora for word embeddings: the planted corpus (the default, generated, no files) or any text file, served as
word2vec mini-batches or as GloVe co-occurrence entries.

- The corpus: ``path=null`` generates ``dlzoo.embeddings.planted.planted_corpus`` (``sentences_per_word``,
  ``noise``, ``corpus_seed``) and keeps its few MB in memory; ``path=<file>`` streams a text file, one sentence
  a line, lower-cased words (``dlzoo.embeddings.corpus``): every pass re-reads it, a block at a time, so a
  100 M-word file trains in the memory of its vocabulary. ``setup()`` counts the words once
  (``min_count``, ``max_vocab``).
- ``objective="word2vec"``: the training loader streams ``Word2VecBatches`` (subsampling ``sample``, dynamic
  ``window``, ``negative`` draws from unigram^(3/4), ``batch_size`` centre words a batch), pass e drawing its
  random numbers from ``seed + e`` with e the trainer's epoch, so a resumed run makes the same batches.
- ``objective="glove"``: ``setup()`` counts X_ij once (``window``, 1/distance weights, ``symmetric``) and the
  loader serves its positive entries in mini-batches of ``batch_size`` (``GloVeBatches``), shuffled per epoch.
- The test split is the intrinsic evaluation, one batch ``{"analogies": questions, "similarity": path}``:
  the planted questions (or a questions-words file, ``questions=``) and a word-pair file (``similarity=``).
  A text corpus without either has no test split.

``checkpoint_metadata()`` holds the vocabulary (words, counts, corpus length) and the words to plot, what
``dlzoo-predict`` needs to look words up from a checkpoint alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
from torch.utils.data import DataLoader

from dlzoo.embeddings.corpus import Corpus, WordCounts
from dlzoo.embeddings.evaluate import Question, read_analogies
from dlzoo.embeddings.glove import GloVeBatches, cooccurrence
from dlzoo.embeddings.planted import PEOPLE, planted_analogies, planted_corpus
from dlzoo.embeddings.sampling import Word2VecBatches
from dlzoo.errors import DlzooError

OBJECTIVES = ("word2vec", "glove")
# The royalty grid, singular and plural: gender, age, rank and number as directions of one picture.
PLANTED_PLOT_WORDS = [word for male, female, males, females, _ in PEOPLE[:4] for word in (male, female, males, females)]
PLOT_WORDS = 40  # words plotted when neither the config nor the planted corpus names them


def _as_is(item: Any) -> Any:
    """The DataLoader's collate for ready-made batches (``batch_size=None``)."""
    return item


def require_file(path: str | Path, what: str, key: str) -> Path:
    """``path``, or a DlzooError saying where it was looked for and how to supply it."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DlzooError(
            f"data file not found: {path} ({what}; looked in {path.parent}). Put the file there, set "
            f"data.{key}=<file>, or set DLZOO_DATA_DIR to the folder holding it (paths.data_dir)."
        )
    return path


class CorpusDataModule(L.LightningDataModule):
    """A corpus for dlzoo.tasks.embeddings (see the module docstring).

    Args:
        path: a text file, one sentence a line; None generates the planted corpus.
        objective: "word2vec" (streamed mini-batches of centre words) or "glove" (co-occurrence entries).
        sentences_per_word, noise, corpus_seed: the planted corpus and its questions (fixed by corpus_seed,
            whatever the training seed).
        min_count, max_vocab: words seen fewer times are dropped; at most max_vocab most frequent are kept.
        max_sentence_length: longer lines are cut (10,000 words, as gensim does for text8).
        window: word2vec's largest window (dynamic), GloVe's counting window.
        negative, sample: word2vec's negatives per centre and subsampling threshold (0 keeps every word).
        symmetric: GloVe counts each pair in both directions.
        batch_size: centre words (word2vec) or co-occurrence entries (GloVe) a step.
        chunk_words: corpus words a word2vec chunk holds (the bound on the memory of the batching).
        questions: a questions-words analogy file (default: the planted questions, for the planted corpus).
        similarity: a word-similarity file ("word1 word2 score" lines), Spearman's rho reported.
        plot_words: the words of the PCA picture (default: planted relations, else words of the questions,
            else the most frequent).
        seed: the per-epoch random draws (subsampling, windows, negatives, GloVe's order).
    """

    def __init__(
        self,
        path: str | None = None,
        objective: str = "word2vec",
        sentences_per_word: int = 300,
        noise: float = 0.2,
        corpus_seed: int = 0,
        min_count: int = 5,
        max_vocab: int | None = None,
        max_sentence_length: int = 10_000,
        window: int = 5,
        negative: int = 5,
        sample: float = 1e-3,
        symmetric: bool = True,
        batch_size: int = 512,
        chunk_words: int = 20_000,
        questions: str | None = None,
        similarity: str | None = None,
        plot_words: list[str] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise DlzooError(f"data.objective must be one of {list(OBJECTIVES)}, got {objective!r}")
        for key, value in (("window", window), ("negative", negative), ("batch_size", batch_size),
                           ("chunk_words", chunk_words), ("min_count", min_count),
                           ("sentences_per_word", sentences_per_word)):
            if value < 1:
                raise DlzooError(f"data.{key} must be >= 1, got {value}")
        if sample < 0 or not 0 <= noise < 0.5:
            raise DlzooError(f"data.sample must be >= 0 and data.noise in [0, 0.5), got {sample} and {noise}")
        self.path, self.objective = path, objective
        self.sentences_per_word, self.noise, self.corpus_seed = sentences_per_word, noise, corpus_seed
        self.min_count, self.max_vocab, self.max_sentence_length = min_count, max_vocab, max_sentence_length
        self.window, self.negative, self.sample, self.symmetric = window, negative, sample, symmetric
        self.batch_size, self.chunk_words, self.seed = batch_size, chunk_words, seed
        self.questions_path, self.similarity_path, self.configured_plot_words = questions, similarity, plot_words
        self.corpus: Corpus | None = None
        self.vocab: WordCounts | None = None
        self.train_set: Word2VecBatches | GloVeBatches | None = None
        self.questions: list[Question] | None = None
        self._evaluation_ready = False

    # ---- reading -------------------------------------------------------------------------------------------
    def _read_corpus(self) -> Corpus:
        if self.path is None:
            sentences = planted_corpus(self.sentences_per_word, self.noise, self.corpus_seed)
            return Corpus(sentences, max_sentence_length=self.max_sentence_length)
        return Corpus(require_file(self.path, "the text corpus", "path"), max_sentence_length=self.max_sentence_length)

    def _read_evaluation(self) -> None:
        if self.questions_path is not None:
            path = require_file(self.questions_path, "a questions-words analogy file", "questions")
            try:
                self.questions = read_analogies(path)
            except ValueError as err:
                raise DlzooError(str(err)) from err
        elif self.path is None:
            self.questions = planted_analogies(seed=self.corpus_seed)
        if self.similarity_path is not None:
            require_file(self.similarity_path, "a word-similarity file", "similarity")
        self._evaluation_ready = True

    def setup(self, stage: str | None = None) -> None:
        """The evaluation files always; for training, the vocabulary (and X for GloVe), once."""
        if not self._evaluation_ready:
            self._read_evaluation()
        if stage not in (None, "fit") or self.vocab is not None:
            return
        self.corpus = self._read_corpus()
        try:
            self.vocab = WordCounts.build(self.corpus, self.min_count, self.max_vocab)
        except ValueError as err:  # an empty vocabulary
            raise DlzooError(f"corpus {self.path or 'planted'}: {err}") from err
        if self.objective == "word2vec":
            self.train_set = Word2VecBatches(self.corpus, self.vocab, self.window, self.negative, self.sample,
                                             self.batch_size, self.chunk_words, self.seed, epoch=self._epoch)
        else:
            x = cooccurrence(self.corpus, self.vocab, self.window, self.symmetric)
            if x.nnz == 0:
                raise DlzooError(f"corpus {self.path or 'planted'}: no two known words within data.window={self.window}")
            self.train_set = GloVeBatches(x, self.batch_size, self.seed, epoch=self._epoch)

    def _epoch(self) -> int:
        """The epoch a pass starts, as Lightning numbers it for samplers' set_epoch (0 outside a trainer). Not
        trainer.current_epoch: a run resumed from an epoch's end makes its first iterator before counting
        that epoch as completed."""
        trainer = getattr(self, "trainer", None)
        return trainer.fit_loop.epoch_progress.current.processed if trainer is not None else 0

    def _require_vocab(self) -> WordCounts:
        if self.vocab is None:
            self.setup("fit")
        assert self.vocab is not None
        return self.vocab

    # ---- what the runner asks for ----------------------------------------------------------------------------
    @property
    def words_per_epoch(self) -> int:
        """Corpus tokens a pass reads (out-of-vocabulary ones included): word2vec's learning-rate clock."""
        return self._require_vocab().total_words

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        v = len(self._require_vocab())
        return {"vocab_size": (v, (v,))}

    @property
    def has_validation(self) -> bool:
        return False

    def plot_words(self) -> list[str]:
        """The configured words, else the planted royalty grid, else the first words of the questions, else the
        most frequent words; those outside the vocabulary left out."""
        known = self._require_vocab().index
        if self.configured_plot_words is not None:
            candidates = list(self.configured_plot_words)
        elif self.path is None:
            candidates = PLANTED_PLOT_WORDS
        else:
            candidates = list(dict.fromkeys(w for _, *words in self.questions or [] for w in words if w in known))
            candidates = candidates[:PLOT_WORDS] or self.vocab.words[:PLOT_WORDS]
        return [w for w in candidates if w in known]

    def checkpoint_metadata(self) -> dict:
        vocab = self._require_vocab()
        return {
            "words": list(vocab.words),
            "counts": [int(c) for c in vocab.counts],
            "total_words": int(vocab.total_words),
            "objective": self.objective,
            "plot_words": self.plot_words(),
        }

    def train_dataloader(self) -> DataLoader:
        self._require_vocab()
        return DataLoader(self.train_set, batch_size=None, collate_fn=_as_is)

    def test_dataloader(self) -> DataLoader | list:
        return self.eval_dataloaders().get("test", [])

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        """``test``: one batch holding the analogy questions and the similarity file, when there are any."""
        if not self._evaluation_ready:
            self._read_evaluation()
        if not self.questions and self.similarity_path is None:
            return {}
        batch = {"analogies": self.questions or [], "similarity": self.similarity_path}
        return {"test": DataLoader([batch], batch_size=None, collate_fn=_as_is)}
