"""Word embeddings: streaming corpora, fast word2vec and GloVe trainers, and a toolkit to use them.

- corpus: `Corpus` (re-iterable sentences from a file, a list or a generator function), `WordCounts`.
- sampling: word2vec's subsampling, dynamic window and negatives; `Word2VecBatches` for a DataLoader.
- word2vec: `Word2Vec`, the fast skip-gram / CBOW negative-sampling trainer; `train_step`, its update, which
  the runner's task (dlzoo.tasks.embeddings) applies too.
- glove: `cooccurrence`, `train_glove`, `fit_glove`; `glove_step` and `GloVeBatches`, shared with the task.
- vectors: `KeyedVectors` (similarity, nearest, analogy) and the GloVe / word2vec file formats.
- evaluate: questions-words analogies and word-similarity Spearman.
- plot: 2-D PCA / t-SNE pictures as PNG.
- planted: a generated corpus with planted relations and its analogy questions.
"""

from dlzoo.embeddings.corpus import Corpus, WordCounts, tokenize
from dlzoo.embeddings.evaluate import evaluate_analogies, evaluate_similarity, read_analogies, write_analogies
from dlzoo.embeddings.glove import cooccurrence, fit_glove, train_glove
from dlzoo.embeddings.planted import planted_analogies, planted_corpus, write_planted
from dlzoo.embeddings.plot import plot_words
from dlzoo.embeddings.sampling import Word2VecBatches
from dlzoo.embeddings.vectors import (KeyedVectors, load_glove, load_vectors, load_word2vec, save_glove,
                                      save_word2vec)
from dlzoo.embeddings.word2vec import Word2Vec

__all__ = [
    "Corpus", "KeyedVectors", "Word2Vec", "Word2VecBatches", "WordCounts", "cooccurrence", "evaluate_analogies",
    "evaluate_similarity", "fit_glove", "load_glove", "load_vectors", "load_word2vec", "planted_analogies",
    "planted_corpus", "plot_words", "read_analogies", "save_glove", "save_word2vec", "tokenize", "train_glove",
    "write_analogies", "write_planted",
]
