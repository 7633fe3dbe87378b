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

`nonzero_entries`, `entry_batches` and `glove_step` are the pieces `train_glove` loops over; the Lightning task
(dlzoo.tasks.embeddings.GloVeTask, fed by `GloVeBatches`) runs the same ones.

Deviations from glove.c, named: it steps per entry (Hogwild threads) rather than per mini-batch, starts G at
1 instead of 0, uses G before adding the current gradient, and clips each gradient coordinate at 100.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import torch
from scipy import sparse
from torch.utils.data import IterableDataset

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
    with g the batch's gradient summed per row (what torch.optim.Adagrad does with a sparse gradient).

    `sum_sq` is G, updated in place: zeros by default, or a torch.optim.Adagrad's state["sum"] of `param`, so
    that the accumulator lives (and is checkpointed) in that optimizer.
    """

    def __init__(self, param: torch.Tensor, lr: float, eps: float = 1e-10, sum_sq: torch.Tensor | None = None) -> None:
        if sum_sq is not None and sum_sq.shape != param.shape:
            raise ValueError(f"sum_sq must have the parameter's shape {tuple(param.shape)}, got {tuple(sum_sq.shape)}")
        self.param, self.lr, self.eps = param, lr, eps
        self.sum_sq = torch.zeros_like(param) if sum_sq is None else sum_sq  # G

    def step(self, rows: torch.Tensor, grads: torch.Tensor) -> None:
        """rows (B,), grads (B, D): one gradient row per batch entry, repeated rows allowed."""
        unique, inverse = torch.unique(rows, return_inverse=True)
        g = grads.new_zeros(len(unique), grads.shape[1]).index_add_(0, inverse, grads)  # (U, D)
        g_sq = self.sum_sq.index_select(0, unique).add_(g * g)  # (U, D) G after this step
        self.sum_sq.index_copy_(0, unique, g_sq)
        self.param.index_add_(0, unique, g.div_(g_sq.sqrt_().add_(self.eps)).mul_(-self.lr))


def _residuals(model: GloVe, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """w_i, w~_j (B, D), f(X_ij) (B,) and diff = w_i . w~_j + b_i + b~_j - log X_ij (B,)."""
    wi, wj = model.w.weight[i], model.w_tilde.weight[j]  # (B, D)
    diff = (wi * wj).sum(-1) + model.b.weight[i, 0] + model.b_tilde.weight[j, 0] - x.log()  # (B,)
    return wi, wj, glove_weight(x, model.x_max, model.alpha), diff


def _gradients(wi: torch.Tensor, wj: torch.Tensor, weight: torch.Tensor, diff: torch.Tensor) -> tuple[torch.Tensor, ...]:
    fdiff2 = (2 * weight * diff)[:, None]  # (B, 1)
    return fdiff2 * wj, fdiff2 * wi, fdiff2, fdiff2


def glove_gradients(model: GloVe, i: torch.Tensor, j: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Per-entry gradients of J (eq. 8): for w_i, w~_j (B, D) and b_i, b~_j (B, 1), with fdiff = f(x) * diff,
    dJ/dw_i = 2 fdiff w~_j, dJ/dw~_j = 2 fdiff w_i, dJ/db_i = dJ/db~_j = 2 fdiff."""
    return _gradients(*_residuals(model, i, j, x))


def glove_tables(model: GloVe) -> list[torch.Tensor]:
    """The four tables in the order of `glove_step`'s optimizers: W, W~, b, b~."""
    return [model.w.weight, model.w_tilde.weight, model.b.weight, model.b_tilde.weight]


@torch.no_grad()
def glove_step(model: GloVe, optimizers: list[RowAdaGrad], i: torch.Tensor, j: torch.Tensor,
               x: torch.Tensor) -> torch.Tensor:
    """One AdaGrad step on the entries X_ij (i, j, x each (B,)), one RowAdaGrad per table of `glove_tables`;
    returns the entries' J before the step."""
    wi, wj, weight, diff = _residuals(model, i, j, x)
    for opt, rows, grad in zip(optimizers, (i, j, i, j), _gradients(wi, wj, weight, diff)):
        opt.step(rows, grad)
    return (weight * diff.square()).sum()


def nonzero_entries(x: sparse.spmatrix) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The positive entries of X as rows i (N,) int64, columns j (N,) int64 and counts (N,) float32."""
    coo = sparse.coo_matrix(x)
    keep = coo.data > 0
    i = torch.from_numpy(coo.row[keep].astype(np.int64))
    j = torch.from_numpy(coo.col[keep].astype(np.int64))
    counts = torch.from_numpy(coo.data[keep].astype(np.float32))
    if len(counts) == 0:
        raise ValueError("X has no positive entry")
    return i, j, counts


def entry_batches(i: torch.Tensor, j: torch.Tensor, counts: torch.Tensor, batch_size: int,
                  generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One pass over the entries in an order drawn from `generator`: (i, j, x) mini-batches of `batch_size`."""
    order = torch.randperm(len(counts), generator=generator)
    for start in range(0, len(order), batch_size):
        b = order[start:start + batch_size]
        yield i[b], j[b], counts[b]


class GloVeBatches(IterableDataset):
    """The (i, j, x) mini-batches of one pass over the entries of X per iteration, for a Lightning data module
    (use `batch_size=None` in the DataLoader). Pass e is shuffled by a generator seeded `seed + e`; `epoch`
    gives e (a Lightning trainer's current epoch, so a resumed run repeats the passes), else passes are counted."""

    def __init__(self, x: sparse.spmatrix, batch_size: int = 512, seed: int = 0,
                 epoch: Callable[[], int] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.i, self.j, self.counts = nonzero_entries(x)
        self.batch_size, self.seed, self.epoch_source, self.passes = batch_size, seed, epoch, 0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        epoch = self.epoch_source() if self.epoch_source is not None else self.passes
        self.passes += 1
        generator = torch.Generator().manual_seed(self.seed + epoch)
        yield from entry_batches(self.i, self.j, self.counts, self.batch_size, generator)


@torch.no_grad()
def train_glove(x: sparse.spmatrix, words: list[str], dim: int = 50, epochs: int = 50, lr: float = 0.05,
                x_max: float = 100.0, alpha: float = 0.75, batch_size: int = 512,
                seed: int = 0) -> tuple[KeyedVectors, GloVe, list[float]]:
    """Fit GloVe to the counts X; returns the (W + W~)/2 vectors, the model, and J after each epoch."""
    if x.shape != (len(words), len(words)):
        raise ValueError(f"X has shape {x.shape} but there are {len(words)} words")
    i, j, counts = nonzero_entries(x)
    with torch.random.fork_rng():  # seed the initialization without touching the caller's RNG
        torch.manual_seed(seed)
        model = GloVe(len(words), dim, x_max, alpha)
    optimizers = [RowAdaGrad(t.data, lr) for t in glove_tables(model)]
    generator = torch.Generator().manual_seed(seed)
    losses = []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # the batches are small: one core is faster, and robust to busy machines
    try:
        for _ in range(epochs):
            for bi, bj, bx in entry_batches(i, j, counts, batch_size, generator):
                glove_step(model, optimizers, bi, bj, bx)
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
