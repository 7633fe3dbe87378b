"""Shared timing code of the bench_* scripts: the same model, data and optimizer trained by a plain
PyTorch loop and by dlzoo's runner (ClassificationTask under a Lightning Trainer with its usual
progress bar and logging), timed over the same steps after a warm-up."""

from __future__ import annotations

import time
from collections.abc import Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlzoo.config import compose, to_plain
from dlzoo.tasks.base import build
from dlzoo.tasks.classification import ClassificationTask


def synthetic_loader(shape: tuple[int, ...], classes: int, n: int, batch: int, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    data = TensorDataset(torch.randn(n, *shape, generator=g), torch.randint(0, classes, (n,), generator=g))
    return DataLoader(data, batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(seed), drop_last=True)


def plain_loop(net: nn.Module, loader: DataLoader, lr: float, steps: int, warmup: int, device: str = "cpu") -> float:
    """Seconds per step of zero_grad/forward/cross-entropy/backward/step, after ``warmup`` steps."""
    net = net.to(device).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    done, start = 0, 0.0
    while done < warmup + steps:
        for x, y in loader:
            if done == warmup:
                if device == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
            done += 1
            if done == warmup + steps:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


class StepTimer(L.Callback):
    """Wall time from the end of the warm-up steps to the end of the last step."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end, self.steps = warmup, 0.0, 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps += 1
        if self.steps == self.warmup:
            if torch.cuda.is_available() and pl_module.device.type == "cuda":
                torch.cuda.synchronize()
            self.start = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()
        self.end = time.perf_counter()


class _BareModule(L.LightningModule):
    """The plain loop's step as a LightningModule and nothing else."""

    def __init__(self, net: nn.Module, lr: float) -> None:
        super().__init__()
        self.net, self.lr = net, lr

    def training_step(self, batch, batch_idx):
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.net.parameters(), lr=self.lr)


def bare_lightning_loop(net: nn.Module, loader: DataLoader, lr: float, steps: int, warmup: int,
                        accelerator: str = "cpu") -> float:
    """Seconds per step of the plain loop's step under a Lightning Trainer with nothing else on (no
    logging, progress bar or checkpoints): the share of the runner's overhead that is Lightning's own."""
    timer = StepTimer(warmup)
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, max_steps=warmup + steps, logger=False, enable_checkpointing=False,
        enable_model_summary=False, enable_progress_bar=False, callbacks=[timer], num_sanity_val_steps=0,
    )
    trainer.fit(_BareModule(net, lr), train_dataloaders=loader)
    return (timer.end - timer.start) / steps


def runner_loop(
    net_config: dict,
    loader: DataLoader,
    lr: float,
    steps: int,
    warmup: int,
    accelerator: str = "cpu",
    task_options: dict | None = None,
    **trainer_args,
) -> float:
    """Seconds per step of dlzoo's ClassificationTask under a Trainer with the runner's progress bar
    and the task's usual logging."""
    optimizer = {"_target_": "torch.optim.Adam", "_partial_": True, "lr": lr}
    task = ClassificationTask(net=net_config, optimizer=optimizer, **(task_options or {}))
    timer = StepTimer(warmup)
    progress_bar = build(to_plain(compose().callbacks.progress_bar), console_kwargs={"stderr": True})  # drawn, off the table
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, max_steps=warmup + steps, logger=False, enable_checkpointing=False,
        enable_model_summary=False, callbacks=[timer, progress_bar], num_sanity_val_steps=0, **trainer_args,
    )
    trainer.fit(task, train_dataloaders=loader)
    return (timer.end - timer.start) / steps


def alternating_medians(measures: dict[str, Callable[[], float]], rounds: int) -> dict[str, list[float]]:
    """Every timing of each measure over ``rounds`` rounds, the measures taking turns within a round, so
    that a change in machine load hits them alike. Compare medians: on a shared machine a run can be 10 %
    faster or slower than the last one, and the best of a few runs rewards whichever side got the luckiest
    run."""
    times: dict[str, list[float]] = {name: [] for name in measures}
    for _ in range(rounds):
        for name, measure in measures.items():
            times[name].append(measure())
    return times
