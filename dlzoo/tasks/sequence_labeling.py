"""Sequence tagging (many-to-many, Tx = Ty) and sequence classification (many-to-one), course 5 week 1.

Batches are ``(inputs (B, T), lengths (B,), labels)`` from ``dlzoo.text.collate_labeled``: labels (B, T) padded
with -100 for tagging, (B,) for classification. The net (``dlzoo.models.sequence_classifier``) returns logits
(B, T, C) or (B, C); the loss is cross-entropy over the real tokens (tagging) or the sequences
(classification), and ``acc`` is the share of real tokens / sequences whose argmax is the label.
``dlzoo.tasks.classification.ClassificationTask`` is not reused: it calls ``net(x)`` on one tensor and has no
notion of lengths or of per-token labels.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from dlzoo.tasks.base import TaskModule

Batch = tuple[Tensor, Tensor, Tensor]


class SequenceLabelingTask(TaskModule):
    """Cross-entropy and accuracy of a tagger or a sequence classifier; see ``TaskModule`` for the arguments."""

    def _loss_acc(self, batch: Batch) -> tuple[Tensor, Tensor, int]:
        inputs, lengths, labels = batch
        logits = (self._compiled or self.net)(inputs, lengths)  # (B, T, C) or (B, C)
        if logits.dim() == 3:
            logits = logits.transpose(1, 2)  # (B, C, T), cross_entropy's layout
        loss = F.cross_entropy(logits, labels)  # mean over labels != -100
        real = labels != -100
        acc = (logits.argmax(1) == labels)[real].float().mean()
        return loss, acc, int(real.sum())

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        loss, acc, n = self._loss_acc(batch)
        self.check_finite(loss, batch_idx)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=n)
        return loss

    def _evaluate(self, batch: Batch, split: str) -> None:
        loss, acc, n = self._loss_acc(batch)
        log = dict(on_step=False, on_epoch=True, add_dataloader_idx=False, batch_size=n)
        self.log(f"{split}/loss", loss, prog_bar=split == "val", **log)
        self.log(f"{split}/acc", acc, prog_bar=split == "val", **log)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._evaluate(batch, self.eval_splits[dataloader_idx])
