"""Classification with localization and landmark detection (course 4 week 3), as one task.

The network maps an image to one vector: ``kind=localization`` -> [p_c logit, b_x, b_y, b_h, b_w, class
logits] (``dlzoo.models.localization.LocalizationNet``), ``kind=landmarks`` -> [presence logit, l_1x,
l_1y, ..., l_Lx, l_Ly] (``LandmarkNet``). The loss is the course's masked loss
(``localization_loss`` / ``landmark_loss``): every component when an object is present, p_c alone
otherwise; ``loss_mode=practical`` uses the lecture's logistic / squared / cross-entropy variant.

Metrics (``<split>/...``): ``loss``; ``presence_acc`` (p_c > 0.5 agrees with y); on the images that hold an
object, ``class_acc`` and ``box_iou`` (mean IoU of predicted and true box) for localization, ``landmark_err``
(mean Euclidean distance between predicted and true landmarks, as a fraction of the image side) for
landmarks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from dlzoo.errors import DlzooError
from dlzoo.models.localization import landmark_loss, localization_loss
from dlzoo.ops.boxes import box_cxcywh_to_xyxy, broadcast_box_iou
from dlzoo.tasks.base import TaskModule


def _corners(y: Tensor) -> Tensor:
    """[p_c, b_x, b_y, b_h, b_w, ...] (B, D) -> (B, 4) corners; a negative predicted size counts as 0."""
    cx, cy, h, w = y[:, 1:5].unbind(-1)
    return box_cxcywh_to_xyxy(torch.stack([cx, cy, w.clamp(min=0), h.clamp(min=0)], -1))


class LocalizationTask(TaskModule):
    """Args: net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``;
    kind: ``localization`` | ``landmarks``; loss_mode: ``course`` | ``practical``."""

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        kind: str = "localization",
        loss_mode: str = "course",
        **task_options: Any,
    ) -> None:
        if kind not in ("localization", "landmarks") or loss_mode not in ("course", "practical"):
            raise DlzooError(f"model.kind must be localization|landmarks and model.loss_mode course|practical, got {kind!r}, {loss_mode!r}")
        super().__init__(net, optimizer, scheduler, scheduler_interval, kind=kind, loss_mode=loss_mode, **task_options)
        self.loss_fn = localization_loss if kind == "localization" else landmark_loss

    def metrics(self, pred: Tensor, y: Tensor) -> dict[str, Tensor]:
        present = y[:, 0] > 0.5  # (B,)
        out = {"loss": self.loss_fn(pred, y, self.hparams.loss_mode),
               "presence_acc": ((pred[:, 0] > 0) == present).float().mean()}  # logit > 0 <=> p_c > 0.5
        if not present.any():
            return out
        p, t = pred[present], y[present]
        if self.hparams.kind == "localization":
            out["box_iou"] = broadcast_box_iou(_corners(p), _corners(t)).mean()
            out["class_acc"] = (p[:, 5:].argmax(1) == t[:, 5:].argmax(1)).float().mean()
        else:
            out["landmark_err"] = (p[:, 1:] - t[:, 1:]).view(len(p), -1, 2).norm(dim=-1).mean()
        return out

    def _step(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        x, y = batch
        values = self.metrics(self(x), y)
        present = int((y[:, 0] > 0.5).sum())
        for name, value in values.items():
            n = len(y) if name in ("loss", "presence_acc") else present  # per-object metrics: mean over objects
            self.log(f"{stage}/{name}", value.detach() if name != "loss" else value, on_step=False, on_epoch=True,
                     batch_size=n, add_dataloader_idx=False, prog_bar=name == "loss", sync_dist=True)
        return values["loss"]

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self._step(batch, "train")
        self.check_finite(loss, batch_idx)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._step(batch, self.eval_splits[dataloader_idx])
