"""Training throughput of CNNs: dlzoo's runner against a plain PyTorch loop, same model and data.

    python scripts/bench_cnn.py [--device cpu|cuda] [--rounds-scale 1] [--models LeNet-5 ResNet-18 VGG-11]

Prints images/s for LeNet-5, ResNet-18 and VGG-11 at batch 64 (32x32 inputs, random data), and the
runner's overhead against the plain loop (bar on the CPU: <= 5 %). Each round times a plain loop, the
plain loop's step as a bare LightningModule under a Trainer with nothing else on, the runner, then a
plain loop again, each over the same steps after a warm-up; the table gives the medians over the
rounds. Overheads are against the median of all plain runs: the bare Lightning column is the share
that is Lightning's own. "plain vs plain" compares the first plain run of each round with the second:
how far two identical runs drift apart on this machine, the resolution of the overhead columns. With ``--device cuda`` the same
rows run on the GPU (fp32 on both sides), then ResNet-50 at 224x224 with bf16 autocast and
channels_last is compared against fp32.
"""

from __future__ import annotations

import argparse

import torch

import statistics

from benchlib import alternating_medians, bare_lightning_loop, plain_loop, runner_loop, synthetic_loader

# name: (net config, input shape, timed steps, rounds): a LeNet-5 step takes milliseconds on the CPU, so it
# gets many short rounds; a VGG-11 step takes a second, so a few rounds of fewer steps.
MODELS = {
    "LeNet-5": ({"_target_": "dlzoo.models.lenet.lenet5_classic", "in_channels": 1, "num_classes": 10}, (1, 32, 32), 50, 30),
    "ResNet-18": ({"_target_": "dlzoo.models.resnet.resnet18", "num_classes": 10}, (3, 32, 32), 20, 5),
    "VGG-11": ({"_target_": "dlzoo.models.vgg.vgg11", "num_classes": 10}, (3, 32, 32), 10, 3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds-scale", type=float, default=1.0, help="multiplies every model's rounds")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    accelerator = "gpu" if args.device == "cuda" else "cpu"

    from hydra.utils import instantiate

    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{where}, batch {args.batch}; medians over alternating rounds (plain, bare Lightning, runner, plain)")
    print("| model | steps x rounds | plain loop (img/s) | dlzoo runner (img/s) | runner overhead "
          "| bare Lightning overhead | plain vs plain |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in args.models:
        config, shape, steps, rounds = MODELS[name]
        rounds = max(1, round(rounds * args.rounds_scale))
        loader = synthetic_loader(shape, 10, args.batch * (steps + args.warmup), args.batch)
        times = alternating_medians(
            {
                "plain": lambda: plain_loop(instantiate(config), loader, 1e-3, steps, args.warmup, args.device),
                "bare": lambda: bare_lightning_loop(instantiate(config), loader, 1e-3, steps, args.warmup, accelerator),
                "runner": lambda: runner_loop(
                    config, loader, 1e-3, steps, args.warmup, accelerator, {"channels_last": False}
                ),
                "plain again": lambda: plain_loop(instantiate(config), loader, 1e-3, steps, args.warmup, args.device),
            },
            rounds,
        )
        plain = statistics.median(times["plain"] + times["plain again"])
        runner, bare = statistics.median(times["runner"]), statistics.median(times["bare"])
        drift = statistics.median(times["plain again"]) / statistics.median(times["plain"]) - 1
        print(f"| {name} | {steps} x {rounds} | {args.batch / plain:.0f} | {args.batch / runner:.0f} "
              f"| {runner / plain - 1:+.1%} | {bare / plain - 1:+.1%} | {drift:+.1%} |", flush=True)

    if args.device == "cuda":
        config = {"_target_": "dlzoo.models.resnet.resnet50", "num_classes": 1000}
        loader = synthetic_loader((3, 224, 224), 1000, 128 * (20 + args.warmup), 128)
        fp32 = runner_loop(
            config, loader, 1e-3, 20, args.warmup, "gpu", {"channels_last": False}, precision="32-true"
        )
        bf16 = runner_loop(
            config, loader, 1e-3, 20, args.warmup, "gpu", {"channels_last": True}, precision="bf16-mixed"
        )
        print("\n| ResNet-50, CUDA, batch 128, 224x224 | img/s | vs fp32 |\n|---|---:|---:|")
        print(f"| fp32 | {128 / fp32:.0f} | 1.00x |\n| bf16-mixed + channels_last | {128 / bf16:.0f} | {fp32 / bf16:.2f}x |")


if __name__ == "__main__":
    main()
