"""YOLO-style one-stage detector: an S x S grid of cells, A anchors per cell, K classes.

Redmon et al. 2016, "You Only Look Once" (YOLOv1): the grid, the sum-squared loss of eq. (3) and its
weights lambda_coord = 5, lambda_noobj = 0.5. Redmon & Farhadi 2017, "YOLO9000" (YOLOv2): anchors
chosen by k-means on box shapes with distance 1 - IoU (sec. "Dimension Clusters") and the box
parameterisation (sec. "Direct location prediction"). Course 4 week 3 ("YOLO algorithm" and the
"Car detection" assignment): the output volume (S, S, A, 5 + K), the score = objectness x class
probability, score filtering, NMS and at most N boxes.

For every cell (row i, column j) and anchor (p_w, p_h), the head predicts t_x, t_y, t_w, t_h, t_o
and K class logits; boxes are in units of the image (0..1):

    b_x = (j + sigmoid(t_x)) / S_w        b_w = p_w * exp(t_w)        objectness = sigmoid(t_o)
    b_y = (i + sigmoid(t_y)) / S_h        b_h = p_h * exp(t_h)        p(class) = softmax(logits)

Training targets use the same "activated" layout [sigmoid(t_x), sigmoid(t_y), t_w, t_h, objectness,
p_1..p_K]: each object goes to the cell holding its centre and to the anchor of highest shape IoU
(IoU of the two boxes centred on one point), with x_hat = b_x * S_w - j, w_hat = log(b_w / p_w),
objectness 1 and a one-hot class. ``decode`` inverts ``encode_targets`` (up to float rounding): decoding
the encoded ground truth gives back its boxes and classes.

Loss (YOLOv1 eq. 3, with YOLOv2's coordinates), summed over cells and anchors, averaged over images:

    L = lambda_coord * sum_obj [(sx - x_hat)^2 + (sy - y_hat)^2 + (t_w - w_hat)^2 + (t_h - h_hat)^2]
      + lambda_obj   * sum_obj   (objectness - 1)^2
      + lambda_noobj * sum_noobj objectness^2
      + lambda_class * sum_obj   sum_k (p_k - 1[k = class])^2

Deviations, named: v1 regresses sqrt(w), sqrt(h) without anchors, we regress v2's log-ratio to the
anchor; v1 and v2 train objectness towards the IoU of prediction and truth, we train it towards 1;
v2 leaves predictions with IoU > 0.6 to a truth out of the noobj term, we do not; v1 predicts one
class distribution per cell, we predict one per anchor (v2). Two objects that land on the same cell
and anchor cannot both be encoded: the later one in the target list wins. ``objectness_loss="bce"``
and ``class_loss="ce"`` swap the squared errors for the log-losses later YOLOs use. ``decode`` runs
NMS per class (the course's assignment runs one class-agnostic NMS; ``class_agnostic=True``).
Scores: the course keeps boxes with score >= 0.6 for display; mAP is computed over all boxes down to a
low score (about 0.05) and up to 100 per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dlzoo.ops.boxes import box_cxcywh_to_xyxy, box_xyxy_to_cxcywh, fast_batched_nms

# Darknet-style trunk for small images: (out_channels, max-pool after) per 3x3 conv-BN-LeakyReLU(0.1)
# block, as in YOLOv2-tiny. Four pools: stride 16, so 128 x 128 images give an 8 x 8 grid.
TINY_DARKNET = [(16, True), (32, True), (64, True), (128, True), (256, False), (256, False)]

# k-means (distance 1 - IoU, YOLOv2) of the (w, h) of 20,000 objects of dlzoo.data.shapes.ShapesDataset
# (default settings), as fractions of the image; see ``anchor_kmeans`` and tests/test_yolo.py.
SHAPES_ANCHORS = ((0.1267, 0.1205), (0.1866, 0.1777), (0.2598, 0.2490))

# Decoding settings: the course's (for display) and the usual mAP evaluation ones.
COURSE_DECODE = {"score_threshold": 0.6, "iou_threshold": 0.5, "max_detections": 10}
EVAL_DECODE = {"score_threshold": 0.05, "iou_threshold": 0.5, "max_detections": 100}


class DarknetTiny(nn.Module):
    """Small default backbone: (B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)."""

    def __init__(self, in_channels: int = 3, layers: Sequence[tuple[int, bool]] = TINY_DARKNET) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for out_channels, pool in layers:
            blocks += [
                nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.LeakyReLU(0.1),
            ]
            if pool:
                blocks.append(nn.MaxPool2d(2))
            in_channels = out_channels
        self.body = nn.Sequential(*blocks)
        self.out_channels = in_channels
        self.stride = 2 ** sum(pool for _, pool in layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


class YOLO(nn.Module):
    """Backbone + 1x1 convolution head. ``forward``: images (B, C, H, W) -> raw predictions
    (B, S_h, S_w, A, 5 + K) = [t_x, t_y, t_w, t_h, t_o, class logits].

    ``backbone`` is any module mapping images to a (B, C, S_h, S_w) feature map; its channel count C
    comes from ``backbone_channels`` or its ``out_channels`` attribute. Default: ``DarknetTiny``.
    ``anchors``: (A, 2) widths and heights as fractions of the image.
    """

    def __init__(
        self,
        num_classes: int,
        anchors: Sequence[Sequence[float]] = SHAPES_ANCHORS,
        backbone: nn.Module | None = None,
        backbone_channels: int | None = None,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        anchors_t = torch.as_tensor(anchors, dtype=torch.float32)
        if anchors_t.ndim != 2 or anchors_t.shape[1] != 2 or (anchors_t <= 0).any():
            raise ValueError(f"anchors must be (A, 2) positive widths and heights, got {anchors}")
        self.backbone = backbone if backbone is not None else DarknetTiny(in_channels)
        channels = backbone_channels if backbone_channels is not None else getattr(self.backbone, "out_channels", None)
        if channels is None:
            raise ValueError("give backbone_channels: the backbone has no out_channels attribute")
        self.num_classes = num_classes
        self.register_buffer("anchors", anchors_t)  # (A, 2)
        self.head = nn.Conv2d(channels, len(anchors_t) * (5 + num_classes), kernel_size=1)
        # Objectness starts near 0.01 instead of 0.5, so the many empty slots do not dominate the first
        # steps (the prior initialisation of Lin et al. 2017, "Focal Loss", sec. 4.1).
        with torch.no_grad():
            self.head.bias.view(len(anchors_t), 5 + num_classes)[:, 4] = -math.log(99.0)

    def forward(self, images: Tensor) -> Tensor:
        features = self.backbone(images)  # (B, C, S_h, S_w)
        if features.ndim != 4:
            raise ValueError(f"the backbone must return (B, C, S_h, S_w) feature maps, got {tuple(features.shape)}")
        out = self.head(features)  # (B, A * (5 + K), S_h, S_w)
        b, _, s_h, s_w = out.shape
        return out.view(b, len(self.anchors), 5 + self.num_classes, s_h, s_w).permute(0, 3, 4, 1, 2)

    def encode_targets(
        self, targets: Sequence[dict[str, Tensor]], grid_size: int | Sequence[int], image_size: int | Sequence[int]
    ) -> Tensor:
        """``encode_targets`` with this model's anchors and classes."""
        return encode_targets(targets, self.anchors, grid_size, self.num_classes, image_size)

    @torch.no_grad()
    def detect(
        self, images: Tensor, score_threshold: float = 0.6, iou_threshold: float = 0.5, max_detections: int = 10
    ) -> list[dict[str, Tensor]]:
        """Boxes in pixels of ``images``, one dict (boxes, scores, labels) per image."""
        raw = self(images)
        return decode(
            activate(raw), self.anchors, score_threshold, iou_threshold, max_detections, image_size=images.shape[-2:]
        )


def activate(raw: Tensor) -> Tensor:
    """Raw (..., 5 + K) -> the target layout [sigmoid(t_x), sigmoid(t_y), t_w, t_h, objectness, p_1..p_K]."""
    return torch.cat([raw[..., :2].sigmoid(), raw[..., 2:4], raw[..., 4:5].sigmoid(), raw[..., 5:].softmax(-1)], -1)


def shape_iou(wh: Tensor, anchors: Tensor) -> Tensor:
    """IoU of boxes and anchors centred on the same point: (N, 2) and (A, 2) -> (N, A)."""
    inter = torch.min(wh[:, None, :], anchors[None, :, :]).prod(-1)  # (N, A)
    return inter / (wh.prod(-1)[:, None] + anchors.prod(-1)[None, :] - inter)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def encode_targets(
    targets: Sequence[dict[str, Tensor]],
    anchors: Tensor,
    grid_size: int | Sequence[int],
    num_classes: int,
    image_size: int | Sequence[int] | None = None,
) -> Tensor:
    """Ground truth -> (B, S_h, S_w, A, 5 + K) targets in the activated layout (see module docstring).

    ``targets[b]``: ``boxes`` (n, 4) corners in pixels of an image of ``image_size`` (H, W), or in
    0..1 units when ``image_size`` is None; ``labels`` (n,) in 0..K-1.
    """
    s_h, s_w = _pair(grid_size)
    anchors = torch.as_tensor(anchors, dtype=torch.float32)
    num_anchors = len(anchors)
    out = torch.zeros(len(targets), s_h, s_w, num_anchors, 5 + num_classes, device=anchors.device)
    scale = torch.ones(4) if image_size is None else torch.tensor(_pair(image_size)[::-1] * 2, dtype=torch.float32)
    for b, target in enumerate(targets):
        boxes = target["boxes"].float().reshape(-1, 4).to(anchors.device) / scale.to(anchors.device)  # (n, 4) in 0..1
        labels = target["labels"].long().to(anchors.device)  # (n,)
        if len(labels) != len(boxes):
            raise ValueError(f"targets[{b}] has {len(boxes)} boxes and {len(labels)} labels")
        if len(labels) == 0:
            continue
        cx, cy, w, h = box_xyxy_to_cxcywh(boxes).unbind(-1)  # (n,) each
        if (w <= 0).any() or (h <= 0).any() or (cx < 0).any() or (cx > 1).any() or (cy < 0).any() or (cy > 1).any():
            raise ValueError(f"targets[{b}] needs boxes of positive size with centres inside the image")
        if (labels < 0).any() or (labels >= num_classes).any():
            raise ValueError(f"targets[{b}] labels must be in 0..{num_classes - 1}, got {labels.tolist()}")
        col = (cx * s_w).floor().long().clamp(max=s_w - 1)  # a centre on the right edge stays in the grid
        row = (cy * s_h).floor().long().clamp(max=s_h - 1)
        anchor = shape_iou(torch.stack([w, h], -1), anchors).argmax(-1)  # (n,)
        # One object per (cell, anchor): keep the last object that claims a slot.
        slot = (row * s_w + col) * num_anchors + anchor
        last = torch.full((s_h * s_w * num_anchors,), -1, dtype=torch.long, device=slot.device)
        last.scatter_reduce_(0, slot, torch.arange(len(slot), device=slot.device), reduce="amax")
        keep = last[slot] == torch.arange(len(slot), device=slot.device)
        row, col, anchor = row[keep], col[keep], anchor[keep]
        out[b, row, col, anchor] = torch.cat(
            [
                torch.stack([cx[keep] * s_w - col, cy[keep] * s_h - row], -1),  # offsets in the cell, 0..1
                torch.log(torch.stack([w[keep], h[keep]], -1) / anchors[anchor]),  # log-ratio to the anchor
                torch.ones(len(row), 1, device=out.device),  # objectness
                F.one_hot(labels[keep], num_classes).float(),
            ],
            dim=-1,
        )
    return out


def decode(
    activated: Tensor,
    anchors: Tensor,
    score_threshold: float = 0.6,
    iou_threshold: float = 0.5,
    max_detections: int = 10,
    image_size: int | Sequence[int] | None = None,
    class_agnostic: bool = False,
) -> list[dict[str, Tensor]]:
    """Activated predictions (or encoded targets) (B, S_h, S_w, A, 5 + K) -> per image a dict of
    ``boxes`` (n, 4) corners (pixels of ``image_size`` (H, W), or 0..1 if None), ``scores`` (n,) =
    objectness x best class probability, ``labels`` (n,). Keeps scores >= ``score_threshold``, runs
    NMS (IoU > ``iou_threshold`` suppresses; per class unless ``class_agnostic``), then keeps the
    ``max_detections`` best. Defaults are the course's."""
    if activated.ndim != 5 or activated.shape[3] != len(anchors) or activated.shape[4] < 6:
        raise ValueError(f"expected (B, S_h, S_w, {len(anchors)}, 5 + K) predictions, got {tuple(activated.shape)}")
    b, s_h, s_w, num_anchors, _ = activated.shape
    rows = torch.arange(s_h, device=activated.device).view(1, s_h, 1, 1)
    cols = torch.arange(s_w, device=activated.device).view(1, 1, s_w, 1)
    cx = (cols + activated[..., 0]) / s_w  # (B, S_h, S_w, A)
    cy = (rows + activated[..., 1]) / s_h
    w = anchors[:, 0] * activated[..., 2].exp()
    h = anchors[:, 1] * activated[..., 3].exp()
    boxes = box_cxcywh_to_xyxy(torch.stack([cx, cy, w, h], -1)).reshape(b, -1, 4)  # (B, S_h * S_w * A, 4)
    if image_size is not None:
        height, width = _pair(image_size)
        boxes = boxes * torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
    class_prob, labels = activated[..., 5:].max(-1)  # (B, S_h, S_w, A)
    scores = (activated[..., 4] * class_prob).reshape(b, -1)  # (B, S_h * S_w * A)
    labels = labels.reshape(b, -1)
    results = []
    for i in range(b):
        keep = torch.where(scores[i] >= score_threshold)[0]
        groups = torch.zeros_like(labels[i, keep]) if class_agnostic else labels[i, keep]
        keep = keep[fast_batched_nms(boxes[i, keep], scores[i, keep], groups, iou_threshold)[:max_detections]]
        results.append({"boxes": boxes[i, keep], "scores": scores[i, keep], "labels": labels[i, keep]})
    return results


class YOLOLoss(nn.Module):
    """YOLOv1's sum-squared loss on YOLOv2 coordinates (see module docstring). ``forward(raw, target)``
    takes the model's raw output and ``encode_targets``' output, both (B, S_h, S_w, A, 5 + K), and
    returns ``loss`` and its four terms (weighted), each averaged over the images."""

    def __init__(
        self,
        lambda_coord: float = 5.0,  # YOLOv1
        lambda_noobj: float = 0.5,  # YOLOv1
        lambda_obj: float = 1.0,  # YOLOv1 (implicit 1)
        lambda_class: float = 1.0,  # YOLOv1 (implicit 1)
        objectness_loss: str = "mse",
        class_loss: str = "mse",
    ) -> None:
        super().__init__()
        if objectness_loss not in ("mse", "bce") or class_loss not in ("mse", "ce"):
            raise ValueError(
                f"objectness_loss must be mse|bce and class_loss mse|ce, got {objectness_loss!r}, {class_loss!r}"
            )
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
        self.lambda_obj, self.lambda_class = lambda_obj, lambda_class
        self.objectness_loss, self.class_loss = objectness_loss, class_loss

    def forward(self, raw: Tensor, target: Tensor) -> dict[str, Tensor]:
        if raw.shape != target.shape:
            raise ValueError(f"predictions {tuple(raw.shape)} and targets {tuple(target.shape)} differ in shape")
        pred = activate(raw)  # (B, S_h, S_w, A, 5 + K)
        obj = target[..., 4] > 0.5  # (B, S_h, S_w, A) slots holding an object
        coord = (pred[..., :4] - target[..., :4]).pow(2).sum(-1)[obj].sum()
        if self.objectness_loss == "mse":
            objectness = (pred[..., 4] - 1).pow(2)[obj].sum()
            noobj = pred[..., 4].pow(2)[~obj].sum()
        else:
            bce = F.binary_cross_entropy_with_logits(raw[..., 4], target[..., 4], reduction="none")
            objectness, noobj = bce[obj].sum(), bce[~obj].sum()
        if self.class_loss == "mse":
            classes = (pred[..., 5:] - target[..., 5:]).pow(2).sum(-1)[obj].sum()
        else:
            classes = F.cross_entropy(raw[obj][:, 5:], target[obj][:, 5:].argmax(-1), reduction="sum")
        n = raw.shape[0]
        terms = {
            "coord": self.lambda_coord * coord / n,
            "obj": self.lambda_obj * objectness / n,
            "noobj": self.lambda_noobj * noobj / n,
            "class": self.lambda_class * classes / n,
        }
        return {"loss": sum(terms.values()), **terms}


def anchor_kmeans(wh: Tensor, k: int, iterations: int = 100) -> Tensor:
    """YOLOv2's dimension clusters: k-means on (N, 2) box widths and heights with distance 1 - IoU of
    the boxes centred together; returns (k, 2) centroids sorted by area. Deterministic start: the
    boxes at the (i + 1/2)/k quantiles of area. Centres are the members' medians (the paper does not
    say mean or median)."""
    if wh.ndim != 2 or wh.shape[1] != 2 or len(wh) < k:
        raise ValueError(f"need (N >= k, 2) widths and heights, got {tuple(wh.shape)} for k={k}")
    by_area = wh.prod(-1).argsort()
    centres = wh[by_area[((torch.arange(k) + 0.5) * len(wh) / k).long()]]  # (k, 2)
    for _ in range(iterations):
        assign = shape_iou(wh, centres).argmax(-1)  # (N,) nearest = highest IoU
        new = torch.stack([wh[assign == c].median(0).values if (assign == c).any() else centres[c] for c in range(k)])
        if torch.equal(new, centres):
            break
        centres = new
    return centres[centres.prod(-1).argsort()]
