"""Tokens per second of dlzoo's recurrent layers, scratch cells against torch.nn.RNN/GRU/LSTM.

Training is one forward and backward pass over a (B, T) batch; generation feeds one time step at a time and
carries the state, as sampling from a language model does. `slowdown` is torch's tokens/s over scratch's.
Each number is the fastest of `--repeats` runs, scratch and torch interleaved, so that load from other
processes on a shared machine hits both alike. On a busy machine, `--threads 1 --cpu-time` times the CPU
seconds this process used rather than the wall clock, which other processes barely disturb.

    python scripts/bench_rnn.py                      # CPU, and CUDA when present
    python scripts/bench_rnn.py --devices cpu --hidden 256 --seq 100 --batch 32
    python scripts/bench_rnn.py --devices cpu --threads 1 --cpu-time
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch

from dlzoo.models.rnn import RecurrentLayer, copy_weights


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def train_step(layer: RecurrentLayer, x: torch.Tensor) -> Callable[[], None]:
    def run() -> None:
        out, _ = layer(x)
        out.square().mean().backward()

    return run


def generate_steps(layer: RecurrentLayer, x: torch.Tensor) -> Callable[[], None]:
    @torch.inference_mode()
    def run() -> None:
        state = None
        for t in range(x.shape[1]):
            _, state = layer(x[:, t : t + 1], state=state)

    return run


def best_times(fns: list[Callable[[], None]], device: str, repeats: int, clock: Callable[[], float]) -> list[float]:
    for fn in fns:  # warm-up: allocations, cuDNN plans
        fn()
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            sync(device)
            start = clock()
            fn()
            sync(device)
            best[i] = min(best[i], clock() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", nargs="+", default=["cpu", "cuda"])
    parser.add_argument("--cells", nargs="+", default=["rnn", "gru", "lstm"])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--cpu-time", action="store_true", help="time CPU seconds of this process, not wall clock")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.cpu_time and "cuda" in args.devices:
        parser.error("--cpu-time measures CPU work only; use it with --devices cpu")
    clock = time.process_time if args.cpu_time else time.perf_counter

    torch.manual_seed(0)
    tokens = args.batch * args.seq
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; hidden {args.hidden}, "
          f"seq {args.seq}, batch {args.batch}, input size = hidden, 1 layer, float32, "
          f"{'CPU' if args.cpu_time else 'wall-clock'} time")
    print(f"{'device':6} {'cell':5} {'mode':8} {'scratch tok/s':>14} {'torch tok/s':>12} {'slowdown':>9}")
    for device in args.devices:
        if device == "cuda" and not torch.cuda.is_available():
            print("cuda   (not available, skipped)")
            continue
        for cell in args.cells:
            scratch = RecurrentLayer(cell, args.hidden, args.hidden, impl="scratch").to(device)
            reference = RecurrentLayer(cell, args.hidden, args.hidden, impl="torch").to(device)
            copy_weights(scratch, reference)
            x = torch.randn(args.batch, args.seq, args.hidden, device=device)
            for mode, make in (("train", train_step), ("generate", generate_steps)):
                times = best_times([make(scratch, x), make(reference, x)], device, args.repeats, clock)
                s, t = (tokens / seconds for seconds in times)
                print(f"{device:6} {cell:5} {mode:8} {s:14,.0f} {t:12,.0f} {t / s:8.2f}x", flush=True)


if __name__ == "__main__":
    main()
