"""C5W1 dinosaur names: the course's smoothed loss through dlzoo-train, and what a step costs there against
a plain PyTorch loop doing the same work (one name a step, batch 1, SGD, clip to [-5, 5]).

    DLZOO_DATA_DIR=../shared/data python scripts/c5w1_dinos.py [--steps 35000] [--overhead-steps 2000]

Prints the course's "Iteration: j, Loss: L" values next to the course's numbers (22.73 at 22000, 22.40 at
34000), then a table of milliseconds a step: the runner (Lightning) and the plain loop, with one torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlzoo.config import compose
from dlzoo.data.text import TextDataModule
from dlzoo.models.language_model import LanguageModel
from dlzoo.train import train

COURSE = {22000: 22.73, 34000: 22.40}


def runner(steps: int, out: Path) -> tuple[dict, float]:
    cfg = compose([f"paths.output_dir={out}", "logger=none", "experiment=c5w1_dinos", f"trainer.max_steps={steps}"])
    start = time.perf_counter()
    train(cfg)
    return json.loads((out / "metrics.json").read_text()), time.perf_counter() - start


def plain_loop(steps: int, data_dir: str) -> float:
    """Seconds for `steps` course iterations in a bare loop: forward, summed CE, backward, clip, SGD."""
    dm = TextDataModule(f"{data_dir}/course/dinos.txt", framing="lines", lower=True, val_fraction=0, test_fraction=0,
                        batch_size=1, order="course", seed=0)
    dm.setup()
    net = LanguageModel(len(dm.vocab), "rnn", 50, embed_dim=None, impl="scratch", init="course")
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    batches = list(dm.train_dataloader())
    state = None
    start = time.perf_counter()
    for j in range(steps):
        inputs, targets, lengths = batches[j % len(batches)]
        logits, state = net(inputs, lengths, state)
        state = state.detach()
        loss = F.cross_entropy(logits[0], targets[0], reduction="sum")
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_value_(net.parameters(), 5.0)
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=35000)
    parser.add_argument("--overhead-steps", type=int, default=2000)
    args = parser.parse_args()
    data_dir = os.environ.get("DLZOO_DATA_DIR", str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    os.environ["DLZOO_DATA_DIR"] = data_dir
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        metrics, _ = runner(args.steps, Path(tmp) / "full")
        print("\niteration | dlzoo smoothed loss | course")
        for key in sorted((k for k in metrics if k.startswith("train/smoothed_loss_")), key=lambda k: int(k.rsplit("_", 1)[1])):
            j = int(key.rsplit("_", 1)[1])
            print(f"{j:9d} | {metrics[key]:19.3f} | {COURSE.get(j, '')}")
        n = args.overhead_steps
        # the difference of a 1-step and an (n+1)-step run leaves out setup, sampling and the final evaluation
        seconds = runner(n + 1, Path(tmp) / "long")[1] - runner(1, Path(tmp) / "short")[1]
        loop = plain_loop(n, data_dir)
    print(f"\nms a step ({n} steps, 1 thread, load {os.getloadavg()[0]:.1f}): "
          f"dlzoo-train {1000 * seconds / n:.2f} | plain loop {1000 * loop / n:.2f}")


if __name__ == "__main__":
    main()
