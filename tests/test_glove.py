"""GloVe: co-occurrence counts, the weighted least-squares loss and its gradients against naive computations,
AdaGrad against torch.optim.Adagrad, and analogies on the planted corpus."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dlzoo.embeddings.corpus import WordCounts
from dlzoo.embeddings.evaluate import evaluate_analogies
from dlzoo.embeddings.glove import RowAdaGrad, cooccurrence, fit_glove, glove_gradients, train_glove
from dlzoo.embeddings.planted import planted_analogies, planted_corpus
from dlzoo.models.glove import GloVe, glove_weight

SENTENCES = [
    "the cat sat on the mat with the other cat".split(),
    "a dog sat on a log".split(),
    "the dog and the cat".split(),
    "zebra".split(),
]


def _vocab(min_count: int = 1) -> WordCounts:
    return WordCounts.build(SENTENCES, min_count=min_count)


def _naive_counts(vocab: WordCounts, window: int, symmetric: bool) -> np.ndarray:
    """Triple loop over sentences, positions and distances, out-of-vocabulary words removed first."""
    x = np.zeros((len(vocab), len(vocab)))
    for sentence in SENTENCES:
        ids = [vocab.index[w] for w in sentence if w in vocab.index]
        for p, i in enumerate(ids):
            for d in range(1, window + 1):
                if p + d < len(ids):
                    x[i, ids[p + d]] += 1.0 / d
                    if symmetric:
                        x[ids[p + d], i] += 1.0 / d
    return x


@pytest.mark.parametrize("window, symmetric, min_count", [(3, True, 1), (2, False, 1), (10, True, 2)])
def test_cooccurrence_matches_a_naive_count(window, symmetric, min_count):
    vocab = _vocab(min_count)
    x = cooccurrence(SENTENCES, vocab, window=window, symmetric=symmetric, chunk_words=7)  # many small chunks
    np.testing.assert_allclose(x.toarray(), _naive_counts(vocab, window, symmetric))
    assert x.format == "csr"


def test_cooccurrence_streams_a_generator_function():
    vocab = _vocab()
    from_list = cooccurrence(SENTENCES, vocab)
    from_generator = cooccurrence(lambda: (s for s in SENTENCES), vocab)
    np.testing.assert_allclose(from_generator.toarray(), from_list.toarray())


def test_weighting_function():
    x = torch.tensor([1.0, 50.0, 100.0, 400.0])
    expected = torch.tensor([(1 / 100) ** 0.75, 0.5 ** 0.75, 1.0, 1.0])
    torch.testing.assert_close(glove_weight(x), expected)
    torch.testing.assert_close(glove_weight(x, x_max=10, alpha=1.0), torch.tensor([0.1, 1.0, 1.0, 1.0]))


def _model_and_counts(dim: int = 4):
    vocab = _vocab()
    x = cooccurrence(SENTENCES, vocab, window=3)
    torch.manual_seed(0)
    model = GloVe(len(vocab), dim)
    with torch.no_grad():
        for table in (model.w, model.w_tilde, model.b, model.b_tilde):
            table.weight.normal_()
    coo = x.tocoo()
    i, j = torch.from_numpy(coo.row.astype(np.int64)), torch.from_numpy(coo.col.astype(np.int64))
    return model, x.toarray(), i, j, torch.from_numpy(coo.data).float()


def test_loss_matches_a_naive_dense_sum():
    model, dense, i, j, counts = _model_and_counts()
    w, wt = model.w.weight.double().detach(), model.w_tilde.weight.double().detach()
    b, bt = model.b.weight.double().detach()[:, 0], model.b_tilde.weight.double().detach()[:, 0]
    expected = 0.0
    for a in range(dense.shape[0]):  # J = sum over X_ab > 0 of f(X_ab) (w_a . w~_b + b_a + b~_b - log X_ab)^2
        for c in range(dense.shape[1]):
            if dense[a, c] > 0:
                f = min(1.0, (dense[a, c] / 100) ** 0.75)
                expected += f * (float(w[a] @ wt[c]) + float(b[a]) + float(bt[c]) - np.log(dense[a, c])) ** 2
    assert model(i, j, counts).item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(model.vectors(), (model.w.weight + model.w_tilde.weight).detach() / 2)


def test_gradients_match_autograd():
    model, _, i, j, counts = _model_and_counts()
    model(i, j, counts).backward()
    grads = glove_gradients(model, i, j, counts)
    tables = (model.w, model.w_tilde, model.b, model.b_tilde)
    for table, rows, grad in zip(tables, (i, j, i, j), grads):
        summed = torch.zeros_like(table.weight).index_add_(0, rows, grad.detach())
        torch.testing.assert_close(summed, table.weight.grad.to_dense())


def test_row_adagrad_is_torch_adagrad_on_sparse_gradients():
    model, _, i, j, counts = _model_and_counts()
    reference = torch.optim.Adagrad(model.parameters(), lr=0.05)
    tables = [t.weight.detach().clone() for t in (model.w, model.w_tilde, model.b, model.b_tilde)]
    ours = [RowAdaGrad(t, lr=0.05) for t in tables]
    mirror = GloVe(model.vocab_size, model.w.weight.shape[1])
    for step in range(3):
        batch = torch.arange(step, len(counts), 3)  # different rows, repeated rows, each step
        reference.zero_grad()
        model(i[batch], j[batch], counts[batch]).backward()
        reference.step()
        with torch.no_grad():
            for dst, src in zip((mirror.w, mirror.w_tilde, mirror.b, mirror.b_tilde), tables):
                dst.weight.copy_(src)
        for opt, rows, grad in zip(ours, (i[batch], j[batch]) * 2, glove_gradients(mirror, i[batch], j[batch],
                                                                                   counts[batch])):
            opt.step(rows, grad.detach())
    for table, mine in zip((model.w, model.w_tilde, model.b, model.b_tilde), tables):
        torch.testing.assert_close(mine, table.weight.detach())


def test_training_lowers_the_loss_and_checks_inputs():
    vocab = _vocab()
    x = cooccurrence(SENTENCES, vocab, window=3)
    kv, model, losses = train_glove(x, vocab.words, dim=8, epochs=30, batch_size=8)
    assert losses[-1] < 0.2 * losses[0]
    np.testing.assert_allclose(kv.vectors, model.vectors().numpy())
    with pytest.raises(ValueError, match="shape"):
        train_glove(x, vocab.words[:-1])
    with pytest.raises(ValueError, match="positive counts"):
        model(torch.tensor([0]), torch.tensor([1]), torch.tensor([0.0]))


def _planted_glove(sentences_per_word: int, epochs: int):
    corpus = planted_corpus(sentences_per_word=sentences_per_word, seed=0)
    kv, _, _, _ = fit_glove(corpus, dim=100, window=10, min_count=5, epochs=epochs, seed=0)
    return evaluate_analogies(kv, planted_analogies(seed=0))


def test_planted_analogies_small():
    score = _planted_glove(sentences_per_word=200, epochs=30)
    assert score.counted == len(planted_analogies(seed=0))
    assert score.accuracy >= 0.85, score.sections


@pytest.mark.slow
def test_planted_bar_glove():
    """The issue's bar: >= 90 % of the planted analogies in under 2 minutes on 2 cores, corpus included."""
    start = time.perf_counter()
    score = _planted_glove(sentences_per_word=300, epochs=50)
    seconds = time.perf_counter() - start
    assert seconds < 120 and score.accuracy >= 0.9, (seconds, score.sections)
