"""A fast word2vec trainer: skip-gram or CBOW with negative sampling, by hand-written SGD on two matrices.

Mikolov et al. 2013, "Distributed Representations of Words and Phrases and their Compositionality"
(arXiv:1310.4546), eq. 4: for an input vector e and its positive word o (label 1) and negatives k (label 0),

    loss = -log sigma(u_o . e) - sum_k log sigma(-u_k . e),

whose SGD step is u_t += lr (label_t - sigma(u_t . e)) e and e += lr sum_t (label_t - sigma(u_t . e)) u_t.
The step functions apply exactly that to a mini-batch with index_select / index_add_ (no autograd, no
optimizer): one gather of the rows, one score per term, scatters back. A test checks that a step equals an
SGD step of dlzoo.models.word2vec's modules under autograd. Training data: dlzoo.embeddings.sampling.

As in word2vec.c: input vectors start uniform in [-0.5, 0.5)/dim and output vectors at zero; the learning rate
falls linearly from `lr` (0.025 skip-gram, 0.05 CBOW) to `min_lr` over all training words; `workers` threads
update the shared matrices without locks (Hogwild), each on its own chunks of text, one core each (torch's
intra-op threads are set to 1 during training and restored after). `train_step` (the schedule and the step) is
the one update both `Word2Vec` and the Lightning task dlzoo.tasks.embeddings.Word2VecTask apply. On a GPU,
skip-gram runs the same update on fixed-shape rows (`sgns_window_step`, tested equal to `sgns_step`),
recorded once as a CUDA graph and replayed, since there the host's kernel launches, not the arithmetic,
would set the pace.

Deviations from word2vec.c, named:
- Skip-gram uses the paper's direction, the centre's input vector predicting each context word (the C code
  lets the context word predict the centre; both see the same pairs up to the random window).
- The K negatives are drawn per centre word and shared by its pairs (Ji et al. 2016, "Parallelizing Word2Vec
  in Shared and Distributed Memory"): each pair still meets K draws from unigram^(3/4), but the m pairs of a
  centre meet the same K, so their negative term is computed once with weight m. This is most of the speed.
- Updates are summed over a mini-batch of `batch_size` centres taken in text order, not made pair by pair.
  With `damp` (default), an output row whose summed step could overshoot is scaled down: the logistic loss
  has curvature sigma' <= 1/4, so the terms of row r in the batch bound its Hessian by
  L_r = sum_t weight_t |e_t|^2 / 4, and the row's step is divided by max(1, lr L_r), the classic step-size
  bound of gradient descent. It leaves rare words alone and keeps a frequent word's hundreds of same-batch
  updates from diverging where sequential SGD would have slowed down on its own (without it, training on a
  small vocabulary or with sample=0 blows up).
- CBOW back-propagates the exact gradient of the context mean (1/count to each context word, gensim's
  cbow_mean=1; word2vec.c gives each word the full gradient).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlzoo.embeddings.corpus import Corpus, Sentences, WordCounts, iter_chunks
from dlzoo.embeddings.sampling import Batch, PairMaker, WindowBatch
from dlzoo.embeddings.vectors import KeyedVectors


def _per_row(owner: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """(n, 1) how many entries of `owner` name each row: torch.bincount without its device sync on CUDA."""
    return torch.zeros(n, dtype=dtype, device=owner.device).index_add_(
        0, owner, torch.ones(owner.shape, dtype=dtype, device=owner.device))[:, None]


def _damping(rows: torch.Tensor, bound: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
    """1 / max(1, sum of `bound` over the entries of the same row) for each entry of rows; scratch stays zero."""
    scratch.index_add_(0, rows, bound)
    scale = scratch.index_select(0, rows).clamp_(min=1.0).reciprocal_()
    scratch.index_fill_(0, rows, 0.0)
    return scale


@torch.inference_mode()
def sgns_step(w_in: torch.Tensor, w_out: torch.Tensor, batch: Batch, lr: float, damp: bool = True,
              scratch: torch.Tensor | None = None, with_loss: bool = False) -> torch.Tensor | None:
    """One SGD step of skip-gram negative sampling, in place, on the batch's pairs (see Batch).

    A centre's K negatives serve all of its m pairs, so their term is computed once and weighted by m, less
    the pairs whose positive word is that negative (word2vec.c skips a negative equal to the positive).
    `damp` and `scratch` (an optional zero tensor of V entries, reused): see the module docstring.
    `with_loss` returns the batch's eq. 4 loss before the step, averaged over its pairs (else None).
    """
    centers, owner, contexts, negatives = batch.centers, batch.owner, batch.contexts, batch.negatives
    n, k = negatives.shape
    p = contexts.shape[0]
    clash = torch.zeros(n, k, dtype=w_in.dtype, device=w_in.device)  # pairs whose positive is this negative
    clash.index_add_(0, owner, (negatives.index_select(0, owner) == contexts[:, None]).to(w_in.dtype))
    weight = _per_row(owner, n, w_in.dtype) - clash  # (n, K) pairs per negative
    h = w_in.index_select(0, centers)  # (n, D)
    h_pair = h.index_select(0, owner)  # (P, D)
    u_pos = w_out.index_select(0, contexts)  # (P, D)
    u_neg = w_out.index_select(0, negatives.view(-1)).view(n, k, -1)  # (n, K, D)
    s_pos = (u_pos * h_pair).sum(-1)  # (P,) scores u_o . h
    s_neg = (u_neg * h[:, None, :]).sum(-1)  # (n, K) scores u_k . h
    loss = None
    if with_loss:  # -log sigma(s_pos) - sum_k log sigma(-s_neg), each negative counted for its pairs
        loss = -(F.logsigmoid(s_pos).sum() + (F.logsigmoid(-s_neg) * weight).sum()) / p
    g_pos = s_pos.sigmoid_().neg_().add_(1.0).mul_(lr)  # (P,) lr (1 - sigma)
    g_neg = s_neg.sigmoid_().mul_(weight).mul_(-lr)  # (n, K) lr weight (0 - sigma)
    if damp:
        scratch = torch.zeros(w_out.shape[0], dtype=w_in.dtype, device=w_in.device) if scratch is None else scratch
        h_sq = torch.linalg.vector_norm(h, dim=-1).square_().mul_(lr / 4)  # (n,) lr/4 |h|^2
        bound = torch.cat([h_sq.index_select(0, owner), (weight * h_sq[:, None]).view(-1)])  # (P + nK,)
        scale = _damping(torch.cat([contexts, negatives.view(-1)]), bound, scratch)
        g_pos.mul_(scale[:p])
        g_neg.mul_(scale[p:].view(n, k))
    dh = torch.bmm(g_neg[:, None, :], u_neg).squeeze(1)  # (n, D) from the old u, as the C code does
    dh.index_add_(0, owner, g_pos[:, None] * u_pos)
    w_out.index_add_(0, contexts, g_pos[:, None] * h_pair)
    w_out.index_add_(0, negatives.view(-1), (g_neg[:, :, None] * h[:, None, :]).view(n * k, -1))
    w_in.index_add_(0, centers, dh)
    return loss


@torch.inference_mode()
def sgns_window_step(w_in: torch.Tensor, w_out: torch.Tensor, batch: WindowBatch, lr: float | torch.Tensor,
                     damp: bool = True, scratch: torch.Tensor | None = None) -> None:
    """`sgns_step` on the fixed-shape rows of a WindowBatch (a test checks the two agree): every tensor
    here has a shape set by the batch size alone, so a GPU can record the step once and replay it
    (GraphedSkipGramStep). `lr` may be a 0-d tensor, for the same reason. A missing context (-1) takes
    part as word 0 with weight 0, which changes nothing."""
    centers, windows, negatives = batch.centers, batch.windows, batch.negatives
    n, k = negatives.shape
    real = (windows >= 0).to(w_in.dtype)  # (n, 2W) 1 for a real pair
    contexts = windows.clamp(min=0)  # (n, 2W)
    clash = ((negatives[:, None, :] == contexts[:, :, None]) * real[:, :, None]).sum(1)  # (n, K)
    weight = real.sum(1, keepdim=True) - clash  # (n, K) pairs per negative
    h = w_in.index_select(0, centers)  # (n, D)
    u_pos = w_out.index_select(0, contexts.view(-1)).view(n, -1, h.shape[1])  # (n, 2W, D)
    u_neg = w_out.index_select(0, negatives.view(-1)).view(n, k, -1)  # (n, K, D)
    s_pos = torch.bmm(u_pos, h[:, :, None]).squeeze(2)  # (n, 2W) scores u_o . h
    s_neg = torch.bmm(u_neg, h[:, :, None]).squeeze(2)  # (n, K) scores u_k . h
    g_pos = s_pos.sigmoid_().neg_().add_(1.0).mul_(real).mul_(lr)  # (n, 2W) lr (1 - sigma), 0 off the pairs
    g_neg = s_neg.sigmoid_().mul_(weight).mul_(-lr)  # (n, K) lr weight (0 - sigma)
    if damp:
        scratch = torch.zeros(w_out.shape[0], dtype=w_in.dtype, device=w_in.device) if scratch is None else scratch
        h_sq = torch.linalg.vector_norm(h, dim=-1).square_().mul_(lr / 4)[:, None]  # (n, 1) lr/4 |h|^2
        bound = torch.cat([(real * h_sq).view(-1), (weight * h_sq).view(-1)])  # (n 2W + n K,)
        scale = _damping(torch.cat([contexts.view(-1), negatives.view(-1)]), bound, scratch)
        g_pos.mul_(scale[:g_pos.numel()].view_as(g_pos))
        g_neg.mul_(scale[g_pos.numel():].view_as(g_neg))
    dh = torch.bmm(g_neg[:, None, :], u_neg).add_(torch.bmm(g_pos[:, None, :], u_pos)).squeeze(1)  # (n, D)
    w_out.index_add_(0, contexts.view(-1), (g_pos[:, :, None] * h[:, None, :]).view(-1, h.shape[1]))
    w_out.index_add_(0, negatives.view(-1), (g_neg[:, :, None] * h[:, None, :]).view(n * k, -1))
    w_in.index_add_(0, centers, dh)


class GraphedSkipGramStep:
    """`sgns_window_step` recorded once as a CUDA graph and replayed for every batch.

    An eager step is a few dozen small kernels, each launched from Python: on a GPU the host's launching,
    not the arithmetic, sets the pace. A replayed graph launches them all at once, so a step costs the
    host four copies into the recorded input buffers and one replay.
    """

    def __init__(self, w_in: torch.Tensor, w_out: torch.Tensor, batch_size: int, window: int, negative: int,
                 damp: bool = True) -> None:
        device = w_in.device
        self.batch = WindowBatch(torch.zeros(batch_size, dtype=torch.long, device=device),
                                 torch.full((batch_size, 2 * window), -1, dtype=torch.long, device=device),
                                 torch.zeros(batch_size, negative, dtype=torch.long, device=device))
        self.lr = torch.zeros((), dtype=w_in.dtype, device=device)
        scratch = torch.zeros(w_out.shape[0], dtype=w_in.dtype, device=device)

        def step() -> None:
            sgns_window_step(w_in, w_out, self.batch, self.lr, damp, scratch)

        side = torch.cuda.Stream(device)  # warm-up runs before recording, as torch.cuda.graph asks; the
        side.wait_stream(torch.cuda.current_stream(device))  # batch is all padding, so they change nothing
        with torch.cuda.stream(side):
            for _ in range(2):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            step()

    def __call__(self, batch: WindowBatch, lr: float) -> None:
        self.batch.centers.copy_(batch.centers, non_blocking=True)
        self.batch.windows.copy_(batch.windows, non_blocking=True)
        self.batch.negatives.copy_(batch.negatives, non_blocking=True)
        self.lr.fill_(lr)
        self.graph.replay()


@torch.inference_mode()
def cbow_step(w_in: torch.Tensor, w_out: torch.Tensor, batch: Batch, lr: float, damp: bool = True,
              scratch: torch.Tensor | None = None, with_loss: bool = False) -> torch.Tensor | None:
    """One SGD step of CBOW negative sampling, in place: the mean of each centre's context words predicts the
    centre against its K negatives (a negative equal to the centre is skipped); the gradient reaches each
    context word divided by their count, the exact gradient of the mean. `with_loss` returns the loss before
    the step, averaged over the centres (else None)."""
    centers, owner, contexts, negatives = batch.centers, batch.owner, batch.contexts, batch.negatives
    n, k = negatives.shape
    count = _per_row(owner, n, w_in.dtype)  # (n, 1) context words per centre
    h = torch.zeros(n, w_in.shape[1], dtype=w_in.dtype, device=w_in.device)
    h.index_add_(0, owner, w_in.index_select(0, contexts)).div_(count)  # (n, D) mean of the context
    targets = torch.cat([centers[:, None], negatives], 1)  # (n, 1+K) the centre, then negatives
    weight = torch.ones(n, k + 1, dtype=w_in.dtype, device=w_in.device)
    weight[:, 1:].masked_fill_(negatives == centers[:, None], 0.0)
    u = w_out.index_select(0, targets.view(-1)).view(n, k + 1, -1)  # (n, 1+K, D)
    scores = (u * h[:, None, :]).sum(-1)  # (n, 1+K) u . h
    loss = None
    if with_loss:  # -log sigma(s_centre) - sum_k log sigma(-s_k)
        loss = -(F.logsigmoid(scores[:, 0]).sum() + (F.logsigmoid(-scores[:, 1:]) * weight[:, 1:]).sum()) / n
    g = scores.sigmoid_().neg_()  # (n, 1+K) label - sigma(u . h) ...
    g[:, 0] += 1.0
    g.mul_(weight).mul_(lr)  # ... times weight and lr
    if damp:
        scratch = torch.zeros(w_out.shape[0], dtype=w_in.dtype, device=w_in.device) if scratch is None else scratch
        h_sq = torch.linalg.vector_norm(h, dim=-1).square_().mul_(lr / 4)  # (n,) lr/4 |h|^2
        g.mul_(_damping(targets.view(-1), (weight * h_sq[:, None]).view(-1), scratch).view(n, k + 1))
    dh = torch.bmm(g[:, None, :], u).squeeze(1).div_(count)  # (n, D) d(mean)/d(word) = 1/count
    w_out.index_add_(0, targets.view(-1), (g[:, :, None] * h[:, None, :]).view(n * (k + 1), -1))
    w_in.index_add_(0, contexts, dh.index_select(0, owner))
    return loss


def train_step(w_in: torch.Tensor, w_out: torch.Tensor, batch: Batch, sg: bool, lr: float, min_lr: float,
               total_words: float, damp: bool = True, scratch: torch.Tensor | None = None,
               with_loss: bool = False) -> torch.Tensor | None:
    """The update of both trainers: a skip-gram (`sg`) or CBOW step at word2vec.c's learning rate, falling
    linearly from `lr` to `min_lr` as `batch.progress` (training words done) goes from 0 to `total_words`."""
    rate = linear_rate(batch.progress, lr, min_lr, total_words)
    return (sgns_step if sg else cbow_step)(w_in, w_out, batch, rate, damp, scratch, with_loss)


def linear_rate(progress: float, lr: float, min_lr: float, total_words: float) -> float:
    """word2vec.c's learning rate after `progress` of `total_words` training words."""
    return lr - (lr - min_lr) * min(progress / total_words, 1.0)


@dataclass
class TrainStats:
    raw_words: int  # corpus tokens read, all epochs, out-of-vocabulary ones included
    seconds: float

    @property
    def words_per_second(self) -> float:
        return self.raw_words / self.seconds


class Word2Vec:
    """word2vec with negative sampling: `Word2Vec(dim=100).fit(corpus).wv` gives the KeyedVectors.

    `corpus` is anything `Corpus` takes (a file path, a list of token lists, a generator function) or a Corpus.
    `sg` picks skip-gram (True) or CBOW; `sample` is the subsampling threshold t, 0 to keep every word;
    `batch_size` counts centre words per SGD step; `chunk_words` the ids per job a worker thread takes
    (default 20,000 on CPU; 1,000,000 on a GPU, where each chunk costs a few host-device syncs and the
    steps between them queue up without waiting); `damp` the step bound of the module docstring. With
    `workers` > 1 training is Hogwild and not bit-reproducible; with 1 worker, `seed` fixes the result.
    `device="cuda"` trains on a GPU with one worker: skip-gram replays one recorded CUDA graph of
    `sgns_window_step` per batch (GraphedSkipGramStep), CBOW runs the eager step. A larger `batch_size`
    is faster there but takes fewer steps in all, which costs quality on a small corpus;
    scripts/bench_word2vec.py measures both.
    """

    def __init__(self, dim: int = 100, window: int = 5, negative: int = 5, min_count: int = 5,
                 sample: float = 1e-3, epochs: int = 5, sg: bool = True, lr: float | None = None,
                 min_lr: float = 1e-4, batch_size: int = 512, chunk_words: int | None = None, workers: int = 2,
                 seed: int = 0, device: str | torch.device = "cpu", max_vocab: int | None = None,
                 damp: bool = True) -> None:
        for name, value in (("dim", dim), ("epochs", epochs), ("workers", workers)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self.dim, self.window, self.negative, self.min_count = dim, window, negative, min_count
        self.sample, self.epochs, self.sg = sample, epochs, sg
        self.lr = lr if lr is not None else (0.025 if sg else 0.05)
        self.workers, self.seed, self.device, self.max_vocab = workers, seed, torch.device(device), max_vocab
        if chunk_words is None:
            chunk_words = 20_000 if self.device.type == "cpu" else 1_000_000
        self.min_lr, self.batch_size, self.chunk_words = min_lr, batch_size, chunk_words
        self.damp = damp
        self.vocab: WordCounts | None = None

    def build_vocab(self, corpus: Corpus | Sentences) -> WordCounts:
        corpus = corpus if isinstance(corpus, Corpus) else Corpus(corpus)
        self.vocab = WordCounts.build(corpus, self.min_count, self.max_vocab)
        g = torch.Generator().manual_seed(self.seed)
        v = len(self.vocab)
        self.w_in = ((torch.rand(v, self.dim, generator=g) - 0.5) / self.dim).to(self.device)  # (V, D)
        self.w_out = torch.zeros(v, self.dim, device=self.device)  # (V, D)
        return self.vocab

    def fit(self, corpus: Corpus | Sentences) -> Word2Vec:
        corpus = corpus if isinstance(corpus, Corpus) else Corpus(corpus)
        self.build_vocab(corpus)
        self.train(corpus)
        return self

    def train(self, corpus: Corpus | Sentences) -> TrainStats:
        """`epochs` streamed passes over `corpus` (whose words were counted by `build_vocab`)."""
        if self.vocab is None:
            raise ValueError("call build_vocab(corpus) (or fit) before train")
        corpus = corpus if isinstance(corpus, Corpus) else Corpus(corpus)
        maker = PairMaker(self.vocab.counts, self.window, self.negative, self.sample, self.batch_size,
                          self.device)
        raw = self.epochs * self.vocab.total_words
        jobs = self._jobs(corpus)
        start = time.perf_counter()
        threads_before = torch.get_num_threads()
        torch.set_num_threads(1)  # parallel over text chunks instead, one core per worker like gensim's
        try:
            if self.workers == 1 or self.device.type != "cpu":
                self._work(jobs, maker, raw, self.seed)
            else:
                self._run_threads(jobs, maker, raw)
        finally:
            torch.set_num_threads(threads_before)
        return TrainStats(raw, time.perf_counter() - start)

    def _jobs(self, corpus: Corpus) -> Iterator[tuple]:
        """(chunk, training words done before it), epoch after epoch."""
        done = 0
        for _ in range(self.epochs):
            for chunk in iter_chunks(corpus, self.vocab, self.chunk_words):
                yield chunk, done
                done += chunk.raw_words

    def _work(self, jobs, maker: PairMaker, total_words: int, seed: int) -> None:
        generator = torch.Generator(self.device).manual_seed(seed)
        if self.device.type == "cuda" and self.sg:
            step = GraphedSkipGramStep(self.w_in, self.w_out, self.batch_size, self.window, self.negative, self.damp)
            for chunk, done in jobs:
                for batch in maker.window_batches(chunk, generator, done):
                    step(batch, linear_rate(batch.progress, self.lr, self.min_lr, total_words))
            return
        scratch = torch.zeros(len(self.vocab), device=self.device)
        for chunk, done in jobs:
            for batch in maker.batches(chunk, generator, done):
                train_step(self.w_in, self.w_out, batch, self.sg, self.lr, self.min_lr, total_words, self.damp,
                           scratch)

    def _run_threads(self, jobs, maker: PairMaker, total_words: int) -> None:
        """The calling thread reads and encodes text; `workers` threads train on the chunks (bounded queue)."""
        q: queue.Queue = queue.Queue(maxsize=2 * self.workers)
        errors: list[BaseException] = []

        def drain() -> Iterator[tuple]:
            while (job := q.get()) is not None:
                yield job

        def work(seed: int) -> None:
            try:
                self._work(drain(), maker, total_words, seed)
            except BaseException as e:  # re-raised in the caller
                errors.append(e)
                while q.get() is not None:  # keep the producer unblocked
                    pass

        threads = [threading.Thread(target=work, args=(self.seed + i,), daemon=True) for i in range(self.workers)]
        for t in threads:
            t.start()
        try:
            for job in jobs:
                q.put(job)
                if errors:
                    break
        finally:
            for _ in threads:
                q.put(None)
            for t in threads:
                t.join()
        if errors:
            raise errors[0]

    @property
    def wv(self) -> KeyedVectors:
        """The input vectors, which word2vec keeps as the embeddings."""
        if self.vocab is None:
            raise ValueError("the model is not trained yet")
        return KeyedVectors(self.vocab.words, self.w_in.cpu().numpy().copy())
