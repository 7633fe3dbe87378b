"""Callbacks of the runner: the ones it always installs, and the configurable ones of configs/callbacks."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.utilities.data import extract_batch_size


class RNGState(L.Callback):
    """Saves the Python, NumPy and torch random states in every checkpoint and restores them when a
    run resumes, so that dropout masks (and anything else drawing random numbers) continue exactly.

    The states are captured when the checkpoint is written (end of an epoch) and put back at the
    start of the first resumed epoch, after Lightning's sanity check, which draws numbers too.
    NumPy's state is stored as plain lists so the checkpoint loads under ``weights_only=True``.
    """

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        version, internal, gauss_next = random.getstate()
        state = {
            "python": [version, list(internal), gauss_next],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)],
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))
        kind, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])


class StepProgressBar(RichProgressBar):
    """Lightning's RichProgressBar, brought up to date every ``every_n_steps`` training steps.

    Rich's ``refresh_rate`` counts redraws per second, but Lightning's bar still gathers the logged
    metrics after every step, which costs more than a whole step of a small model (about 0.3 ms on a
    laptop core). This bar skips the steps in between, and always shows an epoch's last step.
    """

    def __init__(self, every_n_steps: int = 10, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if every_n_steps < 1:
            raise ValueError(f"every_n_steps must be >= 1, got {every_n_steps}")
        self.every_n_steps = every_n_steps

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if (batch_idx + 1) % self.every_n_steps == 0 or trainer.is_last_batch:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)


class TorchThreads(L.Callback):
    """Runs fit and test with ``n`` torch intra-op threads, and puts the previous number back afterwards.

    For small recurrent models (the seq2seq date model multiplies 100 x 64 matrices, a step at a time)
    one thread is the fast choice: the work of an op is smaller than the cost of splitting it, and on a CPU
    shared with other processes the threads of every op wait for each other (measured: a training step
    17x slower with 2 threads than with 1 on 2 busy cores).
    """

    def __init__(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError(f"TorchThreads needs n >= 1, got {n}")
        self.n = n
        self._before: int | None = None

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._before is not None:
            torch.set_num_threads(self._before)
            self._before = None


class FinalCheckpoint(L.Callback):
    """Writes ``dirpath/filename`` (``last.ckpt``) once, when training ends.

    For runs of thousands of tiny epochs (the course's full-batch gradient descent): Lightning's
    ``ModelCheckpoint`` deep-copies the logged metrics at every epoch end, even when it saves
    nothing, which costs about as much as a whole step of a small network. Not with fast_dev_run.
    """

    def __init__(self, dirpath: str, filename: str = "last.ckpt") -> None:
        self.dirpath, self.filename = dirpath, filename

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.fast_dev_run:
            trainer.save_checkpoint(Path(self.dirpath) / self.filename)


class CostHistory(L.Callback):
    """The course notebooks' cost printout: the training cost of every ``every_n_epochs``-th epoch.

    An epoch's cost is the mean over its examples of the cost each batch had before its update,
    L2 term and dropout included as the task trains with them. With full-batch gradient descent an
    epoch is one iteration, so this is the cost of iteration i before its update ("Cost after
    iteration i", C1 and C2W1); with mini-batches it is C2W2's ``cost_total / m`` ("Cost after epoch
    i"). Only the recorded epochs keep their batch losses, on the device, so other steps cost nothing.

    After training (not with fast_dev_run) it writes ``costs.csv`` (epoch, cost) and ``cost.png``
    into ``dirpath``; ``final_metrics()`` gives ``train/cost`` of the last recorded epoch and
    ``train/cost_epoch``, its index, which the runner adds to ``metrics.json``. The history is saved
    in checkpoints, so a resumed run continues it. Under DDP each rank records its own shard's cost.
    """

    def __init__(self, every_n_epochs: int = 100, dirpath: str | None = None, verbose: bool = True) -> None:
        if every_n_epochs < 1:
            raise ValueError(f"CostHistory needs every_n_epochs >= 1, got {every_n_epochs}")
        self.every_n_epochs, self.dirpath, self.verbose = every_n_epochs, dirpath, verbose
        self.costs: list[tuple[int, float]] = []
        self._batches: list[tuple[torch.Tensor, int]] | None = None  # (loss * m, m) of the recorded epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._batches = [] if trainer.current_epoch % self.every_n_epochs == 0 else None

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._batches is not None:
            loss = outputs["loss"] if isinstance(outputs, dict) else outputs
            m = extract_batch_size(batch)
            self._batches.append((loss.detach() * m, m))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._batches:
            return
        cost = float(torch.stack([s for s, _ in self._batches]).sum()) / sum(m for _, m in self._batches)
        self.costs.append((trainer.current_epoch, cost))
        self._batches = None
        if self.verbose and trainer.is_global_zero:
            unit = "iteration" if trainer.num_training_batches == 1 else "epoch"
            print(f"Cost after {unit} {trainer.current_epoch}: {cost}", flush=True)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not (self.dirpath and self.costs and trainer.is_global_zero) or trainer.fast_dev_run:
            return
        from dlzoo.plots import cost_curve

        folder = Path(self.dirpath)
        folder.mkdir(parents=True, exist_ok=True)
        lines = ["epoch,cost", *(f"{epoch},{cost!r}" for epoch, cost in self.costs)]
        (folder / "costs.csv").write_text("\n".join(lines) + "\n")
        unit = "iteration" if trainer.num_training_batches == 1 else "epoch"
        epochs, costs = zip(*self.costs)
        title = f"training cost every {self.every_n_epochs} {unit}s"
        cost_curve(epochs, costs, folder / "cost.png", xlabel=unit, title=title)

    def final_metrics(self) -> dict[str, float]:
        if not self.costs:
            return {}
        epoch, cost = self.costs[-1]
        return {"train/cost": cost, "train/cost_epoch": float(epoch)}

    def state_dict(self) -> dict[str, Any]:
        return {"costs": [list(c) for c in self.costs]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.costs = [(int(e), float(c)) for e, c in state_dict["costs"]]


class DecisionBoundary(L.Callback):
    """After training, ``decision_boundary.png`` in ``dirpath``: the model's predicted class over the
    plane with the training points on top (the course's ``plot_decision_boundary``). Only for data
    modules with ``eval_dataloaders()`` and 2-D examples, and not with fast_dev_run."""

    def __init__(self, dirpath: str, filename: str = "decision_boundary.png") -> None:
        self.dirpath, self.filename = dirpath, filename

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loaders = getattr(trainer.datamodule, "eval_dataloaders", None)
        if not trainer.is_global_zero or loaders is None or trainer.fast_dev_run:
            return
        batches = list(loaders()["train"])
        x = torch.cat([b[0] for b in batches])  # (m, ...)
        if x.shape[1:] != (2,):
            return
        y = torch.cat([b[1] for b in batches])  # (m,)
        param = next(pl_module.parameters())
        was_training = pl_module.training
        pl_module.eval()

        @torch.no_grad()
        def predict(points: np.ndarray) -> np.ndarray:
            logits = pl_module(torch.as_tensor(points, dtype=param.dtype, device=param.device))  # (n, K)
            classes = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
            return classes.cpu().numpy()

        from dlzoo.plots import decision_boundary

        try:
            Path(self.dirpath).mkdir(parents=True, exist_ok=True)
            decision_boundary(predict, x.cpu().numpy(), y.cpu().numpy(), Path(self.dirpath) / self.filename)
        finally:
            pl_module.train(was_training)
