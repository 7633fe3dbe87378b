"""Training throughput of CNNs: dlzoo's runner against a plain PyTorch loop, same model and data.

    python scripts/bench_cnn.py [--device cpu|cuda] [--steps 20] [--repeats 3] [--models LeNet-5 ResNet-18 VGG-11]

Prints images/s for LeNet-5, ResNet-18 and VGG-11 at batch 64 (32x32 inputs, random data), and the
runner's overhead against the plain loop (bar on the CPU: <= 5 %). With ``--device cuda`` the same
rows run on the GPU (fp32 on both sides), then ResNet-50 at 224x224 with bf16 autocast and
channels_last is compared against fp32.
"""

from __future__ import annotations

import argparse

import torch

from benchlib import interleaved, plain_loop, runner_loop, synthetic_loader

# name: (net config, input shape, timed steps per --steps): a LeNet-5 step takes milliseconds, so it is
# timed over 10x more steps to bring the timing noise of a shared machine well under the 5 % bar.
MODELS = {
    "LeNet-5": ({"_target_": "dlzoo.models.lenet.lenet5_classic", "in_channels": 1, "num_classes": 10}, (1, 32, 32), 10),
    "ResNet-18": ({"_target_": "dlzoo.models.resnet.resnet18", "num_classes": 10}, (3, 32, 32), 1),
    "VGG-11": ({"_target_": "dlzoo.models.vgg.vgg11", "num_classes": 10}, (3, 32, 32), 1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    accelerator = "gpu" if args.device == "cuda" else "cpu"

    from hydra.utils import instantiate

    where = torch.cuda.get_device_name() if args.device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{where}, batch {args.batch}, {args.steps} timed steps ({10 * args.steps} for LeNet-5), best of {args.repeats}")
    print("| model | plain loop (img/s) | dlzoo runner (img/s) | runner overhead |")
    print("|---|---:|---:|---:|")
    for name in args.models:
        config, shape, more = MODELS[name]
        steps = args.steps * more
        loader = synthetic_loader(shape, 10, args.batch * (steps + args.warmup), args.batch)
        best = interleaved(
            {
                "plain": lambda: plain_loop(instantiate(config), loader, 1e-3, steps, args.warmup, args.device),
                "runner": lambda: runner_loop(
                    config, loader, 1e-3, steps, args.warmup, accelerator, {"channels_last": False}
                ),
            },
            args.repeats,
        )
        overhead = best["runner"] / best["plain"] - 1
        print(f"| {name} | {args.batch / best['plain']:.0f} | {args.batch / best['runner']:.0f} | {overhead:+.1%} |")

    if args.device == "cuda":
        config = {"_target_": "dlzoo.models.resnet.resnet50", "num_classes": 1000}
        loader = synthetic_loader((3, 224, 224), 1000, 128 * (args.steps + args.warmup), 128)
        fp32 = runner_loop(
            config, loader, 1e-3, args.steps, args.warmup, "gpu", {"channels_last": False}, precision="32-true"
        )
        bf16 = runner_loop(
            config, loader, 1e-3, args.steps, args.warmup, "gpu", {"channels_last": True}, precision="bf16-mixed"
        )
        print("\n| ResNet-50, CUDA, batch 128, 224x224 | img/s | vs fp32 |\n|---|---:|---:|")
        print(f"| fp32 | {128 / fp32:.0f} | 1.00x |\n| bf16-mixed + channels_last | {128 / bf16:.0f} | {fp32 / bf16:.2f}x |")


if __name__ == "__main__":
    main()
