"""GloVe training: sparse co-occurrence counts, then AdaGrad on the weighted least squares of eq. 8.

Pennington, Socher and Manning 2014, "GloVe: Global Vectors for Word Representation", section 4.2:

- `cooccurrence`: X_ij sums 1/d over every occurrence of word j at distance d <= window from word i inside
  one sentence (the paper's "decreasing weighting function", glove.c's distance_weighting), counted in both
  directions when `symmetric` (glove.c's default). Out-of-vocabulary words are dropped first, as in cooccur.c.
  The text streams through in chunks; each chunk's (i, j, 1/d) triples are merged into a scipy CSR matrix,
  so memory is O(nnz(X) + chunk), never O(corpus).
- `train_glove`: shuffled mini-batches of the non-zero X_ij, the gradient of the loss J of
  dlzoo.models.glove.GloVe summed over the batch (written out in `glove_gradients`), and AdaGrad with the
  paper's initial learning rate 0.05. `RowAdaGrad` is Duchi et al.'s diagonal AdaGrad, the one the paper
  cites: G += g^2, theta -= lr g / (sqrt(G) + 1e-10) per coordinate, rows untouched by a batch left alone.
  That is exactly torch.optim.Adagrad's update on sparse gradients (a test checks it step for step), without
  the sparse-tensor overhead. Training runs on one core (torch threads set to 1, then restored): the batches
  are small.
- `fit_glove` chains the three steps: count words, count co-occurrences, train.

Deviations from glove.c, named: it steps per entry (Hogwild threads) rather than per mini-batch, starts G at
1 instead of 0, uses G before adding the current gradient, and clips each gradient coordinate at 100.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import sparse

from dlzoo.embeddings.corpus import Corpus, Sentences, WordCounts, iter_chunks
from dlzoo.embeddings.vectors import KeyedVectors
from dlzoo.models.glove import GloVe, glove_weight


def cooccurrence(corpus: Corpus | Sentences, vocab: WordCounts, window: int = 10, symmetric: bool = True,
                 chunk_words: int = 200_000) -> sparse.csr_matrix:
    """X (V, V) float64 CSR: X[i, j] = sum of 1/d over word j at distance d after i (and before, if symmetric)."""
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    corpus = corpus if isinstance(corpus, Corpus) else Corpus(corpus)
    v = len(vocab)
    x = sparse.csr_matrix((v, v), dtype=np.float64)
    for chunk in iter_chunks(corpus, vocab, chunk_words):
        ids, sentence = chunk.ids, chunk.sentence
        rows, cols, vals = [], [], []
        for d in range(1, min(window, len(ids) - 1) + 1):
            same = sentence[d:] == sentence[:-d]  # (n-d,) positions p, p+d in one sentence
            left, right = ids[:-d][same], ids[d:][same]
            rows.append(left)
            cols.append(right)
            vals.append(np.full(left.shape, 1.0 / d))
        if not rows:
            continue
        r, c, w = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        counts = sparse.csr_matrix((w, (r, c)), shape=(v, v))  # duplicates are summed
        x = x + counts + counts.T if symmetric else x + counts
    return x


class RowAdaGrad:
    """Duchi et al.'s diagonal AdaGrad on the rows a batch touches: G += g^2, p -= lr g / (sqrt(G) + eps),
    with g the batch's gradient summed per row (what torch.optim.Adagrad does with a sparse gradient)."""

    def __init__(self, param: torch.Tensor, lr: float, eps: float = 1e-10) -> None:
        self.param, self.lr, self.eps = param, lr, eps
        self.sum_sq = torch.zeros_like(param)  # G

    def step(self, rows: torch.Tensor, grads: torch.Tensor) -> None:
        """rows (B,), grads (B, D): one gradient row per batch entry, repeated rows allowed."""
        unique, inverse = torch.unique(rows, return_inverse=True)
        g = grads.new_zeros(len(unique), grads.shape[1]).index_add_(0, inverse, grads)  # (U, D)
        g_sq = self.sum_sq.index_select(0, unique).add_(g * g)  # (U, D) G after this step
        self.sum_sq.index_copy_(0, unique, g_sq)
        self.param.index_add_(0, unique, g.div_(g_sq.sqrt_().add_(self.eps)).mul_(-self.lr))


def glove_gradients(model: GloVe, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-entry gradients of J (eq. 8): for w_i, w~_j (B, D) and b_i, b~_j (B, 1), with fdiff = f(x) * diff,
    dJ/dw_i = 2 fdiff w~_j, dJ/dw~_j = 2 fdiff w_i, dJ/db_i = dJ/db~_j = 2 fdiff."""
    wi, wj = model.w.weight[i], model.w_tilde.weight[j]  # (B, D)
    diff = (wi * wj).sum(-1) + model.b.weight[i, 0] + model.b_tilde.weight[j, 0] - x.log()  # (B,)
    fdiff2 = (2 * glove_weight(x, model.x_max, model.alpha) * diff)[:, None]  # (B, 1)
    return fdiff2 * wj, fdiff2 * wi, fdiff2, fdiff2


@torch.no_grad()
def train_glove(x: sparse.spmatrix, words: list[str], dim: int = 50, epochs: int = 50, lr: float = 0.05,
                x_max: float = 100.0, alpha: float = 0.75, batch_size: int = 512,
                seed: int = 0) -> tuple[KeyedVectors, GloVe, list[float]]:
    """Fit GloVe to the counts X; returns the (W + W~)/2 vectors, the model, and J after each epoch."""
    if x.shape != (len(words), len(words)):
        raise ValueError(f"X has shape {x.shape} but there are {len(words)} words")
    coo = sparse.coo_matrix(x)
    keep = coo.data > 0
    i = torch.from_numpy(coo.row[keep].astype(np.int64))
    j = torch.from_numpy(coo.col[keep].astype(np.int64))
    counts = torch.from_numpy(coo.data[keep].astype(np.float32))
    if len(counts) == 0:
        raise ValueError("X has no positive entry")
    with torch.random.fork_rng():  # seed the initialization without touching the caller's RNG
        torch.manual_seed(seed)
        model = GloVe(len(words), dim, x_max, alpha)
    tables = [model.w.weight, model.w_tilde.weight, model.b.weight, model.b_tilde.weight]
    optimizers = [RowAdaGrad(t.data, lr) for t in tables]
    generator = torch.Generator().manual_seed(seed)
    losses = []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # the batches are small: one core is faster, and robust to busy machines
    try:
        for _ in range(epochs):
            order = torch.randperm(len(counts), generator=generator)
            for start in range(0, len(order), batch_size):
                b = order[start:start + batch_size]
                bi, bj = i[b], j[b]
                grads = glove_gradients(model, bi, bj, counts[b])
                for opt, rows, grad in zip(optimizers, (bi, bj, bi, bj), grads):
                    opt.step(rows, grad)
            losses.append(model(i, j, counts).item())
    finally:
        torch.set_num_threads(threads_before)
    return KeyedVectors(words, model.vectors().numpy()), model, losses


def fit_glove(corpus: Corpus | Sentences, dim: int = 50, window: int = 10, min_count: int = 5, epochs: int = 50,
              seed: int = 0, **train_kwargs) -> tuple[KeyedVectors, GloVe, list[float], WordCounts]:
    """Vocabulary, co-occurrences and training in one call (two streamed passes over `corpus`)."""
    corpus = corpus if isinstance(corpus, Corpus) else Corpus(corpus)
    vocab = WordCounts.build(corpus, min_count)
    x = cooccurrence(corpus, vocab, window)
    kv, model, losses = train_glove(x, vocab.words, dim, epochs, seed=seed, **train_kwargs)
    return kv, model, losses, vocab
