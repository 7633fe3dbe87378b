"""Runner overhead: the same model, data and seed trained by dlzoo's runner and by a plain PyTorch loop.

    python scripts/bench_runner.py [--device cpu|cuda] [--repeats 3] [--cases mlp32 mlp256 lenet5 char_lstm]

After Lightning's own parity benchmark (tests/parity_pytorch in the Lightning repository). Both sides
build the data module and the network from the same Hydra config with the same seed, so they start
from the same weights and see the same batches in the same order:

- runner: ``dlzoo.train.train(cfg)``, the real entry point, with its task logging, CSV logger and
  progress bar on. Checkpointing and validation are off on both sides (a plain loop has neither).
- plain: ``for x, y in loader: zero_grad; loss(net(x), y).backward(); step`` with the same optimizer,
  scheduler and gradient clipping;
- bare Lightning: that same step as the ``training_step`` of a minimal LightningModule, under a Trainer
  with no logger, progress bar or checkpoints: the share of the overhead that is Lightning's own.

Each side runs in a fresh process, so its peak memory (resident set on the CPU, allocated memory on
CUDA) is its own; sides alternate ``--repeats`` times and the best is kept. Time per epoch is the
median interval between epoch starts, the first epoch (warm-up) left out. The final loss is the
training-set loss of the trained weights in eval mode; the two must agree to 1e-5.

Bars (issue 9): overhead <= 5 % of epoch time at batch 256, <= 1.0 ms a step at batch 32.
The char-LSTM row needs tinyshakespeare (DLZOO_DATA_DIR); it is skipped without it.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import lightning as L

SCRIPTS = Path(__file__).resolve().parent
EVAL_BATCHES = 20  # training-set batches the final loss is measured on
CASES = {  # name: (overrides, epochs)
    "mlp32": (["model=mlp", "data=digits", "data.upscale=1", "data.pad_to=8", "data.max_shift=0", "data.batch_size=32"], 12),
    "mlp256": (["model=mlp", "data=digits", "data.upscale=1", "data.pad_to=8", "data.max_shift=0", "data.batch_size=256"], 40),
    "lenet5": (["model=lenet5", "data=digits", "data.max_shift=0", "data.batch_size=256"], 10),
    "char_lstm": (["experiment=char_lstm_shakespeare", "++trainer.limit_train_batches=8", "~callbacks.torch_threads"], 4),
}
LABELS = {"mlp32": "MLP, digits 8x8, batch 32", "mlp256": "MLP, digits 8x8, batch 256",
          "lenet5": "LeNet-5, digits 32x32, batch 256", "char_lstm": "char-LSTM 2x256, seq 128, batch 64"}


class EpochTimer(L.Callback):
    """perf_counter at every training-epoch start (the runner side's clock)."""

    instances: list[EpochTimer] = []

    def __init__(self) -> None:
        self.starts: list[float] = []
        EpochTimer.instances.append(self)

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        _sync(pl_module.device.type)
        self.starts.append(time.perf_counter())

    def on_train_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device.type)
        self.starts.append(time.perf_counter())


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _config(case: str, device: str, out: str):
    from omegaconf import open_dict

    from dlzoo.config import compose

    overrides, epochs = CASES[case]
    data_dir = os.environ.get("DLZOO_DATA_DIR")
    cfg = compose([
        f"paths.output_dir={out}", *([f"paths.data_dir={data_dir}"] if data_dir else []), *overrides,
        f"trainer.max_epochs={epochs}", "++trainer.limit_val_batches=0", f"++trainer.limit_test_batches={EVAL_BATCHES}",
        "++trainer.num_sanity_val_steps=0", "trainer.enable_model_summary=false",
        f"trainer.accelerator={'gpu' if device == 'cuda' else 'cpu'}", "trainer.precision=32-true",
        "callbacks=last_only", "~callbacks.last_checkpoint", "++trainer.enable_checkpointing=false", "+callbacks.epoch_timer._target_=bench_runner.EpochTimer",
    ])
    with open_dict(cfg):
        cfg.trainer.pop("max_time", None)  # a time budget would make the two sides train different lengths
    return cfg


def _peak_memory(device: str) -> float:
    """MiB: the process's peak resident set (CPU) or peak allocated CUDA memory."""
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_runner(case: str, device: str) -> dict:
    import json

    from dlzoo.train import train

    with tempfile.TemporaryDirectory() as out:
        train(_config(case, device, out))
        metrics = json.loads((Path(out) / "metrics.json").read_text())
    import bench_runner  # the module Hydra instantiated the timer from (this file runs as __main__)

    starts = bench_runner.EpochTimer.instances[-1].starts
    return {"epoch_s": statistics.median(b - a for a, b in zip(starts[1:-1], starts[2:])),
            "loss": metrics["train/loss"], "memory": _peak_memory(device)}


class _Setup:
    """What the plain loop and the bare Lightning module share: the runner's data, weights and optimizer."""

    def __init__(self, case: str, device: str) -> None:
        import torch

        from dlzoo.config import to_plain
        from dlzoo.tasks.base import build
        from dlzoo.train import bind_net_to_data

        with tempfile.TemporaryDirectory() as out:
            cfg = _config(case, device, out)
        # The runner's order of construction, so the seeded weights are the same.
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        self.datamodule = build(to_plain(cfg.data))
        self.datamodule.prepare_data()
        self.datamodule.setup("fit")
        bind_net_to_data(cfg.model.net, self.datamodule.net_sizes(), case, case)
        with torch.device(device):  # as the runner's trainer.init_module(): drawn by the device's generator
            task = build(to_plain(cfg.model), _recursive_=False)
        self.net, self.device, self.epochs = task.net, device, cfg.trainer.max_epochs
        self.language_model = "vocab_size" in cfg.model.net
        if self.language_model:
            assert not cfg.model.carry_state and cfg.model.loss_reduction == "token_mean", "the plain loop's loss"
        optimizers = task.configure_optimizers()
        self.optimizer, self.scheduler = (optimizers["optimizer"], optimizers["lr_scheduler"]["scheduler"]) \
            if isinstance(optimizers, dict) else (optimizers, None)
        self.clip = cfg.trainer.get("gradient_clip_val")
        self.limit = cfg.trainer.get("limit_train_batches") or None

    def loss(self, batch):
        import torch.nn.functional as F

        if self.language_model:
            inputs, targets, lengths = (t.to(self.device, non_blocking=True) for t in batch)
            logits, _ = self.net(inputs, lengths)  # (B, T, V)
            return F.cross_entropy(logits.transpose(1, 2), targets)  # mean over real tokens (-100 ignored)
        x, y = (t.to(self.device, non_blocking=True) for t in batch)
        return F.cross_entropy(self.net(x), y)

    def result(self, starts: list[float]) -> dict:
        """Median epoch time (first epoch left out), training-set loss in eval mode, peak memory."""
        import torch

        self.net.to(self.device).eval()  # a Trainer hands its module back on the CPU when fit ends
        total, count = 0.0, 0
        with torch.no_grad():
            for i, batch in enumerate(self.datamodule.eval_dataloaders()["train"]):
                if i == EVAL_BATCHES:
                    break
                n = int((batch[1] != -100).sum())  # examples, or real tokens
                total += float(self.loss(batch)) * n
                count += n
        return {"epoch_s": statistics.median(b - a for a, b in zip(starts[1:-1], starts[2:])),
                "loss": total / count, "memory": _peak_memory(self.device)}


def run_plain(case: str, device: str) -> dict:
    import torch

    setup = _Setup(case, device)
    loader = setup.datamodule.train_dataloader()
    starts = []
    setup.net.train()
    for epoch in range(setup.epochs):
        _sync(device)
        starts.append(time.perf_counter())
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        for i, batch in enumerate(loader):
            if setup.limit and i == setup.limit:
                break
            setup.optimizer.zero_grad(set_to_none=True)
            setup.loss(batch).backward()
            if setup.clip:
                torch.nn.utils.clip_grad_norm_(setup.net.parameters(), setup.clip)
            setup.optimizer.step()
        if setup.scheduler is not None:
            setup.scheduler.step()
    _sync(device)
    starts.append(time.perf_counter())
    return setup.result(starts)


def run_lightning(case: str, device: str) -> dict:
    """The plain loop's step as a bare LightningModule under a Trainer with nothing else on (no logger,
    progress bar or checkpoints): what Lightning itself costs, apart from dlzoo."""
    setup = _Setup(case, device)

    class Bare(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = setup.net

        def training_step(self, batch, batch_idx):
            return setup.loss(batch)

        def configure_optimizers(self):
            if setup.scheduler is None:
                return setup.optimizer
            return {"optimizer": setup.optimizer, "lr_scheduler": setup.scheduler}

    timer = EpochTimer()
    trainer = L.Trainer(
        accelerator="gpu" if device == "cuda" else "cpu", devices=1, max_epochs=setup.epochs, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
        gradient_clip_val=setup.clip, limit_train_batches=setup.limit, limit_val_batches=0, num_sanity_val_steps=0,
    )
    trainer.fit(Bare(), train_dataloaders=setup.datamodule.train_dataloader())
    return setup.result(timer.starts)


def _child(side: str, case: str, device: str, threads: int | None) -> dict:
    sys.path.insert(0, str(SCRIPTS))
    quiet = os.open(os.devnull, os.O_WRONLY)  # the runner still draws its progress bar, out of the table's way
    os.dup2(quiet, 1)
    os.dup2(quiet, 2)
    if threads:
        import torch

        torch.set_num_threads(threads)
    return {"plain": run_plain, "lightning": run_lightning, "runner": run_runner}[side](case, device)


def measure(side: str, case: str, device: str, threads: int | None) -> dict:
    """One side in a fresh process (its own peak memory, no state shared with the other side)."""
    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        return pool.submit(_child, side, case, device, threads).result()


def steps_per_epoch(case: str) -> int:
    from dlzoo.config import to_plain
    from dlzoo.tasks.base import build

    with tempfile.TemporaryDirectory() as out:
        cfg = _config(case, "cpu", out)
    datamodule = build(to_plain(cfg.data))
    datamodule.setup("fit")
    steps = len(datamodule.train_dataloader())
    limit = cfg.trainer.get("limit_train_batches")
    return min(steps, limit) if isinstance(limit, int) else steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads in both sides (default: torch's)")
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    args = parser.parse_args()
    data_dir = os.environ.get("DLZOO_DATA_DIR")

    print(f"{args.device}, best of {args.repeats} alternating runs, one process each; load {os.getloadavg()[0]:.1f}")
    print("| case | steps/epoch | plain ms/epoch | bare Lightning | dlzoo runner | runner overhead | overhead ms/step "
          "| of which Lightning's, ms/step | peak memory runner/plain | final loss plain / Lightning / runner "
          "| equal to 1e-5 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for case in args.cases:
        if case == "char_lstm" and not (data_dir and (Path(data_dir) / "corpora" / "tinyshakespeare.txt").is_file()):
            print(f"| {LABELS[case]} | skipped: set DLZOO_DATA_DIR to a folder with corpora/tinyshakespeare.txt |")
            continue
        best: dict[str, dict] = {}
        for _ in range(args.repeats):
            for side in ("plain", "lightning", "runner"):
                result = measure(side, case, args.device, args.threads)
                if side not in best or result["epoch_s"] < best[side]["epoch_s"]:
                    best[side] = result
        plain, bare, runner = best["plain"], best["lightning"], best["runner"]
        steps = steps_per_epoch(case)
        overhead = runner["epoch_s"] / plain["epoch_s"] - 1
        per_step = (runner["epoch_s"] - plain["epoch_s"]) / steps * 1e3
        lightning_per_step = (bare["epoch_s"] - plain["epoch_s"]) / steps * 1e3
        equal = max(abs(runner["loss"] - plain["loss"]), abs(bare["loss"] - plain["loss"])) <= 1e-5
        print(f"| {LABELS[case]} | {steps} | {plain['epoch_s'] * 1e3:.1f} | {bare['epoch_s'] * 1e3:.1f} "
              f"| {runner['epoch_s'] * 1e3:.1f} | {overhead:+.1%} | {per_step:+.2f} | {lightning_per_step:+.2f} "
              f"| {runner['memory'] / plain['memory']:.2f} "
              f"| {plain['loss']:.6f} / {bare['loss']:.6f} / {runner['loss']:.6f} | {'yes' if equal else 'NO'} |",
              flush=True)


if __name__ == "__main__":
    main()
