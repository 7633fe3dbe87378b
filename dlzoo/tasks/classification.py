"""Classification task: any network that maps inputs to logits, binary or multi-class.

A network with one output unit is a binary classifier, trained as the course does:
``y_hat = sigmoid(z)``, cost ``-1/m sum [y log y_hat + (1-y) log(1-y_hat)]`` (BCE on logits). With
K >= 2 outputs it is a softmax classifier with cross-entropy. The optional L2 term is the course's
``lambda / (2m) * sum_l ||W[l]||_F^2`` over every weight matrix and filter bank (biases and
batch-norm parameters excluded), with m the examples in the batch.

A network may return auxiliary logits besides its main ones (GoogLeNet in training returns a
named tuple ``(logits, aux1, aux2)``): each auxiliary loss is added with weight ``aux_weight``
(0.3 in Szegedy et al. 2015, "Going deeper with convolutions", section 5); accuracy is the main head's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from dlzoo.errors import DlzooError
from dlzoo.tasks.base import TaskModule, build


def l2_penalty(net: nn.Module) -> torch.Tensor:
    """sum_l ||W[l]||_F^2 over the weights of linear and conv layers."""
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d))]
    return sum((w.pow(2).sum() for w in weights), torch.zeros((), device=weights[0].device if weights else None))


class ClassificationTask(TaskModule):
    """Binary (sigmoid + BCE) or multi-class (softmax + CE) classification of any ``net``.

    Args:
        net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``.
        l2_lambda: the course's L2 regularisation strength lambda (0 disables it).
        aux_weight: weight of auxiliary classifiers' losses.
    """

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        l2_lambda: float = 0.0,
        aux_weight: float = 0.3,
        **task_options: Any,
    ) -> None:
        super().__init__(net, optimizer, scheduler, scheduler_interval, l2_lambda=l2_lambda, aux_weight=aux_weight, **task_options)
        self._epoch_sums: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (loss, correct, m) of each step
        self._next_log_step = 0

    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        """Run two training examples through the network, so that a shape mismatch is reported in one
        sentence rather than deep inside the first training step."""
        dataset = datamodule.splits.train
        x = torch.stack([dataset[i][0] for i in range(min(2, len(dataset)))])  # (2, *input_shape)
        param = next(self.net.parameters(), None)
        if param is not None:
            x = x.to(param.device, param.dtype)  # built under trainer.init_module(), the net may be on the GPU
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self(x)
        except (RuntimeError, ValueError) as err:
            raise DlzooError(
                f"model '{model_name}' cannot take the examples of data '{data_name}' "
                f"(shape {tuple(x.shape[1:])}): {str(err).splitlines()[0]}"
            ) from err
        finally:
            self.train(was_training)
        _, fitting = datamodule.net_sizes()["num_classes"]
        if out.ndim == 2 and out.shape[1] not in fitting:
            raise DlzooError(f"model '{model_name}' outputs {out.shape[1]} logits but data '{data_name}' has {datamodule.num_classes} classes")

    def loss_and_correct(self, logits: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean data loss and the number of correct predictions of one batch."""
        if logits.ndim != 2:
            raise DlzooError(f"the network must return logits of shape (batch, classes), got {tuple(logits.shape)}")
        if logits.shape[1] == 1:  # binary: one sigmoid unit
            z = logits.squeeze(1)  # (B,)
            loss = F.binary_cross_entropy_with_logits(z, y.to(z.dtype))
            correct = ((z > 0).long() == y).sum()
        else:
            loss = F.cross_entropy(logits, y)
            correct = (logits.argmax(1) == y).sum()
        return loss, correct

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        out = self(x)
        if isinstance(out, tuple):  # (logits, *auxiliary logits)
            logits, *aux = out
            loss, correct = self.loss_and_correct(logits, y)
            loss = loss + self.hparams.aux_weight * sum(self.loss_and_correct(a, y)[0] for a in aux)
        else:
            loss, correct = self.loss_and_correct(out, y)
        if stage == "train":
            if self.hparams.l2_lambda:
                loss = loss + self.hparams.l2_lambda / (2 * len(y)) * l2_penalty(self.net)
            self._epoch_sums.append((loss.detach(), correct, len(y)))  # logged by on_train_epoch_end
            if len(self._epoch_sums) == 256:  # long epochs: fold into one entry, so memory stays bounded
                self._epoch_sums = [self._epoch_totals()]
        else:
            # epoch values are exact means over examples: Lightning weights each batch by batch_size
            self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
            self.log(f"{stage}/acc", correct / len(y), on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y), sync_dist=True)
        return loss

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self._step(batch, "train")
        self.check_finite(loss, batch_idx)
        return loss

    def on_train_epoch_end(self) -> None:
        """Log the epoch's training loss and accuracy (exact means over its examples), summed on the
        device, at most once every ``trainer.log_every_n_steps`` steps. A ``self.log`` call costs
        more than a whole step of a small model: logging every step, or every one-step epoch of
        full-batch gradient descent, would dominate the run time."""
        if not self._epoch_sums or self.global_step < self._next_log_step:
            self._epoch_sums = []
            return
        self._next_log_step = self.global_step + self.trainer.log_every_n_steps
        loss, correct, m = self._epoch_totals()
        self._epoch_sums = []
        self.log("train/loss", loss, prog_bar=True, sync_dist=True)  # under DDP: the mean of the ranks' shards
        self.log("train/acc", correct / m, prog_bar=True, sync_dist=True)

    def _epoch_totals(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(mean loss, correct, examples) of the steps recorded this epoch."""
        m = sum(n for _, _, n in self._epoch_sums)
        loss = torch.stack([loss * n for loss, _, n in self._epoch_sums]).sum() / m
        return loss, torch.stack([c for _, c, _ in self._epoch_sums]).sum(), m

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        x, y = batch
        loss, correct = self.loss_and_correct(self(x), y)
        stage = self.eval_splits[dataloader_idx]
        self.log(f"{stage}/loss", loss, batch_size=len(y), add_dataloader_idx=False, sync_dist=True)
        self.log(f"{stage}/acc", correct / len(y), batch_size=len(y), add_dataloader_idx=False, sync_dist=True)

    def predict_step(self, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        logits = self(x)
        return torch.sigmoid(logits) if logits.shape[1] == 1 else logits.softmax(1)

    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """``<file>\t<class>\t<probability>`` for every image file given (or found in a given folder),
        preprocessed as the run's data module preprocesses its evaluation images."""
        from PIL import Image

        files = image_files(inputs)
        transform = build(meta["data"]).predict_transform()
        names = meta.get("data_state", {}).get("class_names", [])
        lines = []
        with torch.no_grad():
            for path in files:
                x = transform(Image.open(path)).unsqueeze(0).to(self.device, next(self.net.parameters()).dtype)
                probs = self.predict_step(x, 0)[0]  # (classes,) or (1,)
                if probs.numel() == 1:
                    index, p = int(probs.item() > 0.5), float(max(probs.item(), 1 - probs.item()))
                else:
                    p, index = (float(v) for v in probs.max(0))
                    index = int(index)
                lines.append(f"{path}\t{names[index] if index < len(names) else index}\t{p:.4f}")
        return lines


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def image_files(inputs: list[str]) -> list[Path]:
    """The image files named, and those inside the folders named, in order."""
    files: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            files.append(path)
        else:
            raise DlzooError(f"no such image file or folder: {path}")
    if not files:
        raise DlzooError(f"no image files in {inputs}")
    return files
