"""Detection task (course 4 week 3): train a YOLO-style grid detector, measure mAP, draw its boxes.

The network is any detector of ``dlzoo.models.yolo.YOLO``'s interface: ``net(images (B, C, H, W))`` returns
raw predictions (B, S_h, S_w, A, 5 + K), and ``net.anchors`` (A, 2) and ``net.num_classes`` say how to read
them. Training encodes the ground truth on the network's own grid (``encode_targets``) and minimises
``loss`` (``YOLOLoss`` by default: YOLOv1's weighted coordinate, objectness, no-object and class terms,
each logged as ``train/loss_<term>``).

Evaluation decodes with ``eval_decode`` (score >= 0.05, NMS at IoU 0.5, at most 100 boxes an image: the
usual mAP setting) and measures, per split, ``<split>/map_50`` (PASCAL VOC all-point AP at IoU 0.5) and
``<split>/map`` (COCO AP@[.50:.95]) with ``dlzoo.ops.detection_metrics.DetectionEvaluator``, plus the
loss. The course's 0.6 score threshold is for display: ``dlzoo-predict`` draws the boxes that pass
``score_threshold`` of configs/predict.yaml (0.6), with NMS at 0.5 and at most 10 boxes (the course's
``yolo_eval`` defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor

from dlzoo.errors import DlzooError
from dlzoo.models.yolo import COURSE_DECODE, EVAL_DECODE, activate, decode, encode_targets
from dlzoo.ops.detection_metrics import DetectionEvaluator
from dlzoo.tasks.base import SplitEvaluation, TaskModule, build
from dlzoo.tasks.classification import image_files

Batch = tuple[Tensor, list[dict[str, Tensor]]]


class DetectionTask(SplitEvaluation, TaskModule):
    """Grid detector training and mAP evaluation.

    Args:
        net, optimizer, scheduler, scheduler_interval, **task_options: see ``TaskModule``.
        loss: ``_target_`` dict of the loss, called as ``loss(raw, encoded_targets)`` and returning a dict
            with ``loss`` and its terms (default ``dlzoo.models.yolo.YOLOLoss`` with YOLOv1's weights).
        eval_decode: ``decode`` settings for mAP (``score_threshold``, ``iou_threshold``, ``max_detections``).
    """

    def __init__(
        self,
        net: dict[str, Any],
        optimizer: dict[str, Any],
        scheduler: dict[str, Any] | None = None,
        scheduler_interval: str = "epoch",
        loss: dict[str, Any] | None = None,
        eval_decode: dict[str, Any] | None = None,
        **task_options: Any,
    ) -> None:
        loss = loss or {"_target_": "dlzoo.models.yolo.YOLOLoss"}
        eval_decode = {**EVAL_DECODE, **(eval_decode or {})}
        super().__init__(net, optimizer, scheduler, scheduler_interval, loss=loss, eval_decode=eval_decode, **task_options)
        for attribute in ("anchors", "num_classes"):
            if not hasattr(self.net, attribute):
                raise DlzooError(f"{type(self.net).__name__} is not a grid detector: it has no '{attribute}' attribute")
        self.criterion = build(self.hparams.loss)
        self.evaluators: dict[str, DetectionEvaluator] = {}

    # ---- shared pieces
    def losses(self, raw: Tensor, images: Tensor, targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        encoded = encode_targets(targets, self.net.anchors, raw.shape[1:3], self.net.num_classes, images.shape[-2:])
        return self.criterion(raw, encoded)

    def detections(self, raw: Tensor, image_size: tuple[int, int], **settings: Any) -> list[dict[str, Tensor]]:
        """Boxes in pixels of ``image_size`` (H, W), one dict (boxes, scores, labels) an image."""
        return decode(activate(raw), self.net.anchors, image_size=image_size, **{**self.hparams.eval_decode, **settings})

    def check_fits(self, datamodule: L.LightningDataModule, model_name: str, data_name: str) -> None:
        """Run two training images through the network, so that a mismatch is one sentence before training."""
        images, _ = next(iter(datamodule.train_dataloader()))
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                raw = self(images[:2].to(self.device))
        except (RuntimeError, ValueError) as err:
            raise DlzooError(f"model '{model_name}' cannot take the images of data '{data_name}' (shape {tuple(images.shape[1:])}): {str(err).splitlines()[0]}") from err
        finally:
            self.train(was_training)
        expected = 5 + datamodule.num_classes
        if raw.ndim != 5 or raw.shape[-1] != expected:
            raise DlzooError(f"model '{model_name}' outputs {tuple(raw.shape)}; data '{data_name}' needs (B, S_h, S_w, A, {expected})")

    # ---- training
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, targets = batch
        terms = self.losses(self(images), images, targets)
        self.check_finite(terms["loss"], batch_idx)
        for name, value in terms.items():
            key = "train/loss" if name == "loss" else f"train/loss_{name}"
            self.log(key, value.detach(), on_step=False, on_epoch=True, prog_bar=name == "loss", batch_size=len(images), sync_dist=True)
        return terms["loss"]

    # ---- evaluation: one evaluator per split, mAP computed when the split ends
    def _evaluate(self, batch: Batch, split: str) -> None:
        images, targets = batch
        raw = self(images)
        terms = self.losses(raw, images, targets)
        self.log(f"{split}/loss", terms["loss"], on_step=False, on_epoch=True, prog_bar=split == "val",
                 batch_size=len(images), add_dataloader_idx=False, sync_dist=True)
        self.evaluators.setdefault(split, DetectionEvaluator()).update(self.detections(raw, images.shape[-2:]), targets)

    def reset_evaluation(self) -> None:
        self.evaluators = {}

    def log_evaluation(self) -> None:
        for split, evaluator in self.evaluators.items():
            result = evaluator.compute()
            self.log(f"{split}/map_50", result["voc_map_50"].float(), prog_bar=split == "val", add_dataloader_idx=False, sync_dist=True)
            self.log(f"{split}/map", result["map"].float(), add_dataloader_idx=False, sync_dist=True)
        self.evaluators = {}

    # ---- dlzoo-predict
    def predict_cli(self, inputs: list[str], cfg: Any, meta: dict, output_dir: Path) -> list[str]:
        """For every image file given (or found in a given folder): ``<name>_boxes.png`` in ``output_dir``
        with the boxes, labels and scores drawn on the original image, and one line
        ``<file>\t<png>\t<label> <score> <x1>,<y1>,<x2>,<y2>; ...`` (pixels of the original image)."""
        from PIL import Image

        from dlzoo.data.detection import predict_transform

        state = meta.get("data_state", {})
        names = state.get("class_names", [])
        size = int(state.get("image_size") or meta["data"]["image_size"])
        transform = predict_transform(size)
        settings = {**COURSE_DECODE, "score_threshold": float(cfg.get("score_threshold", COURSE_DECODE["score_threshold"]))}
        param = next(self.net.parameters())
        lines, used = [], set()
        with torch.no_grad():
            for path in image_files(inputs):
                with Image.open(path) as opened:
                    image = opened.convert("RGB")
                x = transform(image)[None].to(param.device, param.dtype)  # (1, 3, size, size)
                found = self.detections(self(x), (size, size), **settings)[0]
                scale = torch.tensor([image.width / size, image.height / size] * 2)
                boxes = found["boxes"].float().cpu() * scale  # (n, 4) in pixels of the original image
                labels = [names[k] if k < len(names) else str(k) for k in found["labels"].tolist()]
                png = output_dir / _unique_name(f"{path.stem}_boxes.png", used)
                draw_boxes(image, boxes, labels, found["scores"].tolist(), found["labels"].tolist()).save(png)
                described = "; ".join(
                    f"{label} {score:.3f} {','.join(f'{v:.1f}' for v in box)}"
                    for label, score, box in zip(labels, found["scores"].tolist(), boxes.tolist())
                )
                lines.append(f"{path}\t{png}\t{described or '-'}")
        return lines


def _unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``<stem>_<k>.png`` if an image of the same name was written already."""
    candidate, k = name, 1
    while candidate in used:
        candidate, k = name.replace(".png", f"_{k}.png"), k + 1
    used.add(candidate)
    return candidate


# A colour per class (matplotlib's tab10), cycling.
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]  # fmt: skip


def draw_boxes(image, boxes: Tensor, labels: list[str], scores: list[float], class_ids: list[int]):
    """A copy of the PIL ``image`` with each box outlined in its class's colour, captioned ``<label> <score>``."""
    from PIL import ImageDraw

    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(max(image.size) / 200))
    for box, label, score, k in zip(boxes.tolist(), labels, scores, class_ids):
        colour = PALETTE[k % len(PALETTE)]
        draw.rectangle(box, outline=colour, width=width)
        caption = f"{label} {score:.2f}"
        left, top, right, bottom = draw.textbbox((box[0], box[1]), caption)
        lift = bottom - top + 2
        draw.rectangle((left, top - lift, right + 2, bottom - lift), fill=colour)
        draw.text((box[0] + 1, box[1] - lift), caption, fill=(255, 255, 255))
    return canvas
