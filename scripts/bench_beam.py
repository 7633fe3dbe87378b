"""Batched beam search against decoding the same sentences one at a time, and decoding throughput.

The model is the course's date model made autoregressive (``course_date_model(..., feed_previous=True)``:
Bi-LSTM n_a 32, attention, LSTM n_s 64), *randomly initialised* (seed 0): speed does not depend on the
weights, and an untrained model never emits <eos>, so every search runs the full ``max_len`` steps (the
worst case). The sentences are generated dates (seed 0).

1. Beam 5 on a batch of 64 vs the same ``beam_search`` on each sentence alone: the outputs must be identical
   (tokens equal, scores equal to float tolerance); prints the speedup (bar: >= 10x on CPU).
2. Throughput of greedy and beam 1/5/10 on the batch: tokens/s = sentences x steps / time (every step emits
   one more token of each sentence's output) and hypothesis tokens/s = sentences x beams x steps / time (the
   rows the decoder actually runs). With a trained model, beams that all end early stop the search sooner;
   the untrained one shows the cost per step.

    python scripts/bench_beam.py [--batch 64] [--beam 5] [--repeats 3] [--min-speedup 10] [--threads N]

Exit status 1 when the outputs differ or the speedup is under ``--min-speedup``. On a machine shared with
other processes use ``--threads 1``: torch's worker threads wait for each other when the cores are busy, which
slows every small op by an order of magnitude and measures the contention, not the decoder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch

from dlzoo.data.dates import ParallelTextDataset, build_vocabs, collate_parallel, generate_dates
from dlzoo.models.seq2seq import course_date_model
from dlzoo.ops.beam_search import beam_search, greedy_decode

MAX_LEN = 11  # 'YYYY-MM-DD' and <eos>


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time of ``repeats`` runs, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-speedup", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    pairs = generate_dates(args.batch, seed=0)
    human, machine = build_vocabs(generate_dates(2000, seed=0))
    src, lengths, _, _ = collate_parallel(list(ParallelTextDataset(pairs, human, machine)))
    torch.manual_seed(0)
    model = course_date_model(len(human), len(machine), feed_previous=True).eval()
    ids = dict(bos_id=machine.bos_index, eos_id=machine.eos_index, pad_id=machine.pad_index)

    def batched():
        return beam_search(model, src, lengths, beam_size=args.beam, max_len=MAX_LEN, n_best=args.beam, **ids)

    def one_by_one():
        return [beam_search(model, src[b:b + 1, : int(lengths[b])], lengths[b:b + 1], beam_size=args.beam,
                            max_len=MAX_LEN, n_best=args.beam, **ids) for b in range(args.batch)]

    t_batch, out = timed(batched, args.repeats)
    t_single, singles = timed(one_by_one, args.repeats)
    identical = all(
        torch.equal(s.tokens[0], out.tokens[b, :, : s.tokens.shape[2]]) and torch.allclose(s.scores[0], out.scores[b])
        for b, s in enumerate(singles)
    )
    speedup = t_single / t_batch
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, random-init course date model "
          f"(feed_previous=True), max_len {MAX_LEN}")
    print(f"beam {args.beam}, {args.batch} sentences: batched {t_batch * 1e3:.1f} ms, one at a time "
          f"{t_single * 1e3:.1f} ms, speedup {speedup:.1f}x (bar >= {args.min_speedup:g}x), "
          f"outputs identical: {identical}")

    print("\n| decoder | batch | steps | time (ms) | tokens/s | hypothesis tokens/s |\n|---|---|---|---|---|---|")
    for name, k in [("greedy", 0), ("beam 1", 1), ("beam 5", 5), ("beam 10", 10)]:
        if k == 0:
            t, res = timed(lambda: greedy_decode(model, src, lengths, max_len=MAX_LEN, **ids), args.repeats)
            steps = res.tokens.shape[1]
        else:
            t, res = timed(lambda: beam_search(model, src, lengths, beam_size=k, max_len=MAX_LEN, **ids), args.repeats)
            steps = res.tokens.shape[2]
        tokens = args.batch * steps
        hyp_tokens = tokens * max(k, 1)
        print(f"| {name} | {args.batch} | {steps} | {t * 1e3:.1f} | {tokens / t:,.0f} | {hyp_tokens / t:,.0f} |")

    return 0 if identical and speedup >= args.min_speedup else 1


if __name__ == "__main__":
    sys.exit(main())
