"""Benchmark: dlzoo's skip-gram negative sampling against gensim's Word2Vec, same corpus, same settings.

    python scripts/bench_word2vec.py [--corpus PATH] [--epochs 5] [--workers 2] [--repeats 3]

The corpus is text8 when $DLZOO_DATA_DIR/corpora/text8 exists, else tinyshakespeare.txt from there. Both
libraries get the same sentences (tokenized by dlzoo.embeddings.corpus.tokenize; a corpus over 50 MB, such as
text8, is streamed from disk by both, split on whitespace into 10,000-word pieces) and the same settings:
skip-gram, dim 100, window 5, 5 negatives, min_count 5, sample 1e-3, `--workers` threads each.

Speed is training words per second: the corpus' raw tokens times the epochs, over the wall-clock time of the
training call alone (vocabulary building excluded, for both). Each library trains `--repeats` times, the two
taking turns so that they meet the same machine load, and each one's best speed is kept (the first dlzoo run
of a process is slower: allocator and thread warm-up). Quality uses dlzoo's evaluators for both models:
3CosAdd accuracy on questions-words.txt and Spearman's rho on WordSim-353 (the copies that ship with gensim's
test data, unless --questions / --similarity name others; on tinyshakespeare few of their words are known and
both figures are mostly noise), and accuracy on the planted analogies after training both on the planted
corpus. On a machine with CUDA, dlzoo is also timed on the GPU (one worker) for each of `--cuda-batch-sizes`
centres a step, with its planted-analogy accuracy beside gensim's, after one untimed run that pays CUDA's
lazy start (kernel loading), which the CPU runs do not pay.

gensim is a benchmark-only dependency (pip install gensim); nothing else in dlzoo imports it.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from dlzoo.embeddings.corpus import Corpus, tokenize
from dlzoo.embeddings.evaluate import evaluate_analogies, evaluate_similarity
from dlzoo.embeddings.planted import planted_analogies, planted_corpus
from dlzoo.embeddings.vectors import KeyedVectors
from dlzoo.embeddings.word2vec import Word2Vec

SETTINGS = dict(dim=100, window=5, negative=5, min_count=5, sample=1e-3)


def default_corpus() -> Path:
    root = Path(os.environ.get("DLZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    for name in ("text8", "tinyshakespeare.txt"):
        if (root / "corpora" / name).is_file():
            return root / "corpora" / name
    raise SystemExit(f"no corpus found under {root}/corpora (set DLZOO_DATA_DIR or pass --corpus)")


def load_sentences(path: Path):
    """(dlzoo corpus, gensim corpus, raw token count): in memory when small, streamed from disk when large."""
    from gensim.models.word2vec import LineSentence

    if path.stat().st_size > 50_000_000:
        corpus = Corpus(path, tokenizer=str.split, max_sentence_length=10_000)
        return corpus, LineSentence(str(path), max_sentence_length=10_000), sum(len(s) for s in corpus)
    sentences = [s for s in (tokenize(line) for line in open(path, encoding="utf-8")) if s]
    return sentences, sentences, sum(len(s) for s in sentences)


def train_gensim(sentences, epochs: int, workers: int, seed: int):
    from gensim.models import Word2Vec as GensimWord2Vec

    model = GensimWord2Vec(vector_size=SETTINGS["dim"], window=SETTINGS["window"], negative=SETTINGS["negative"],
                           min_count=SETTINGS["min_count"], sample=SETTINGS["sample"], sg=1, hs=0,
                           workers=workers, epochs=epochs, seed=seed)
    model.build_vocab(sentences)
    start = time.perf_counter()
    model.train(sentences, total_examples=model.corpus_count, epochs=epochs)
    seconds = time.perf_counter() - start
    return KeyedVectors(model.wv.index_to_key, model.wv.vectors), seconds


def train_dlzoo(sentences, epochs: int, workers: int, seed: int, device: str = "cpu", batch_size: int = 512):
    model = Word2Vec(**SETTINGS, epochs=epochs, workers=workers, seed=seed, device=device, batch_size=batch_size)
    model.build_vocab(sentences)
    stats = model.train(sentences)
    return model.wv, stats.seconds


def best_of_interleaved(repeats: int, *jobs):
    """Run the jobs (train function, args) in turn, `repeats` rounds, so that both meet the same machine
    load; keep each job's fastest run (vectors, seconds) and return all the times too."""
    best, times = [None] * len(jobs), [[] for _ in jobs]
    for _ in range(repeats):
        for k, (train, args) in enumerate(jobs):
            run = train(*args)
            times[k].append(run[1])
            if best[k] is None or run[1] < best[k][1]:
                best[k] = run
    return best, times


def quality(kv: KeyedVectors, questions: Path | None, similarity: Path | None) -> dict[str, float]:
    out = {}
    if questions is not None:
        score = evaluate_analogies(kv, questions)
        out[f"questions-words acc ({score.counted} known)"] = score.accuracy
    if similarity is not None:
        score = evaluate_similarity(kv, similarity)
        out[f"wordsim353 spearman ({score.pairs} known)"] = score.spearman
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--planted-sentences-per-word", type=int, default=300)
    parser.add_argument("--questions", type=Path, default=None, help="questions-words file (default: gensim's)")
    parser.add_argument("--similarity", type=Path, default=None, help="word-pair file (default: gensim's WS-353)")
    parser.add_argument("--cuda-batch-sizes", type=int, nargs="+", default=[512, 1024, 4096])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    import gensim
    from gensim.test.utils import datapath

    path = args.corpus or default_corpus()
    questions = args.questions or Path(datapath("questions-words.txt"))
    similarity = args.similarity or Path(datapath("wordsim353.tsv"))
    dl_corpus, gs_corpus, words = load_sentences(path)
    print(f"corpus {path.name}: {words:,} words; skip-gram dim {SETTINGS['dim']}, window {SETTINGS['window']}, "
          f"{SETTINGS['negative']} negatives, min_count {SETTINGS['min_count']}, sample {SETTINGS['sample']}, "
          f"{args.epochs} epochs, {args.workers} threads each; gensim {gensim.__version__}, torch {torch.__version__}; "
          f"best of {args.repeats}")

    [(gs_kv, gs_seconds), (dl_kv, dl_seconds)], times = best_of_interleaved(
        args.repeats, (train_gensim, (gs_corpus, args.epochs, args.workers, args.seed)),
        (train_dlzoo, (dl_corpus, args.epochs, args.workers, args.seed)))
    for name, seconds in zip(("gensim", "dlzoo"), times):
        print(f"{name} words/s, every run: " + ", ".join(f"{words * args.epochs / t:,.0f}" for t in seconds))
    rows = [("train words/s", words * args.epochs / gs_seconds, words * args.epochs / dl_seconds, True)]
    gs_q, dl_q = quality(gs_kv, questions, similarity), quality(dl_kv, questions, similarity)
    rows += [(name, gs_q[name], dl_q[name], False) for name in gs_q]

    planted, planted_q = planted_corpus(args.planted_sentences_per_word, seed=0), planted_analogies(seed=0)
    gs_planted, _ = train_gensim(planted, args.epochs, args.workers, args.seed)
    dl_planted, _ = train_dlzoo(planted, args.epochs, args.workers, args.seed)
    rows.append(("planted analogy acc", evaluate_analogies(gs_planted, planted_q).accuracy,
                 evaluate_analogies(dl_planted, planted_q).accuracy, False))

    if torch.cuda.is_available():
        train_dlzoo(planted, 1, 1, args.seed, "cuda", args.cuda_batch_sizes[0])  # untimed: CUDA's lazy start
        for batch_size in args.cuda_batch_sizes:
            [(_, cuda_seconds)], _ = best_of_interleaved(
                args.repeats, (train_dlzoo, (dl_corpus, args.epochs, 1, args.seed, "cuda", batch_size)))
            cuda_planted, _ = train_dlzoo(planted, args.epochs, 1, args.seed, "cuda", batch_size)
            rows.append((f"CUDA, batch {batch_size}: train words/s", words * args.epochs / gs_seconds,
                         words * args.epochs / cuda_seconds, True))
            rows.append((f"CUDA, batch {batch_size}: planted acc", evaluate_analogies(gs_planted, planted_q).accuracy,
                         evaluate_analogies(cuda_planted, planted_q).accuracy, False))

    print(f"\n{'':34}{'gensim':>12}{'dlzoo':>12}{'dlzoo/gensim':>14}{'dlzoo-gensim':>14}")
    for name, theirs, ours, is_speed in rows:
        if is_speed:
            print(f"{name:34}{theirs:>12,.0f}{ours:>12,.0f}{ours / theirs:>14.2f}{'':>14}")
        else:
            print(f"{name:34}{theirs:>12.3f}{ours:>12.3f}{ours / theirs:>14.2f}{ours - theirs:>+14.3f}")


if __name__ == "__main__":
    main()
