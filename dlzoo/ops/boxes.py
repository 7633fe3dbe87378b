"""Bounding-box ops: format conversions, IoU and greedy non-max suppression.

Course 4, week 3 (Andrew Ng, Deep Learning Specialization) and the YOLO papers
(Redmon et al. 2016, "You Only Look Once"; Redmon & Farhadi 2017, "YOLO9000").

Boxes are float tensors of shape (N, 4). Two formats are used:

* corners ``(x1, y1, x2, y2)``, top-left and bottom-right, the format of every function here
  unless its name says otherwise (the course's ``iou`` uses it too);
* centre ``(cx, cy, w, h)``, the format the YOLO head predicts.

Intersection over union (course, "Intersection over union"):

    IoU(A, B) = |A ∩ B| / |A ∪ B| = inter / (area(A) + area(B) - inter)

Greedy NMS (course, "Non-max suppression"): repeatedly keep the highest-scoring remaining box and
discard every remaining box whose IoU with it exceeds the threshold.

Each function is written to be read, and each is tested equal to ``torchvision.ops``:
``box_iou`` bit for bit, ``nms`` index for index (ties in score are broken by the lower index, as
torchvision's stable sort does), ``batched_nms`` as the same kept set in the same score order.

Fast paths. ``box_iou`` and ``elementwise_box_iou`` are already vectorised tensor code (no Python
loop) and are what the detector calls. ``nms`` and ``batched_nms`` below loop in Python once per kept
box, which is fine for reading and testing but slow for thousands of boxes, so the detector's decoder
calls ``fast_nms`` / ``fast_batched_nms``, thin wrappers over torchvision's compiled kernels, which
compute the same result (the tests check both against each other through torchvision).

Deviation from torchvision: the IoU of two zero-area boxes that do not overlap is 0/0; torchvision
returns NaN, we return 0 (they share no area). NMS is unaffected: NaN > threshold is false in
torchvision, and 0 > threshold is false here.
"""

from __future__ import annotations

import torch
import torchvision
from torch import Tensor


def _check_boxes(boxes: Tensor, name: str = "boxes") -> None:
    if boxes.ndim != 2 or boxes.shape[-1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {tuple(boxes.shape)}")


def _check_corners(boxes: Tensor, name: str = "boxes") -> None:
    _check_boxes(boxes, name)
    if ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
        raise ValueError(f"{name} must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")


# ----------------------------------------------------------------------------- conversions


def box_cxcywh_to_xyxy(boxes: Tensor) -> Tensor:
    """(..., 4) centre-size boxes -> corner boxes."""
    if boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 values in the last dimension, got {tuple(boxes.shape)}")
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def box_xyxy_to_cxcywh(boxes: Tensor) -> Tensor:
    """(..., 4) corner boxes -> centre-size boxes."""
    if boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have 4 values in the last dimension, got {tuple(boxes.shape)}")
    x1, y1, x2, y2 = boxes.unbind(-1)
    return torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """(N, 4) corner boxes -> (N,) areas."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def clip_boxes(boxes: Tensor, height: float, width: float) -> Tensor:
    """Clip (N, 4) corner boxes to the image rectangle [0, width] x [0, height]."""
    _check_boxes(boxes)
    x = boxes[:, 0::2].clamp(0, width)  # (N, 2)
    y = boxes[:, 1::2].clamp(0, height)  # (N, 2)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


# ----------------------------------------------------------------------------- IoU


def _inter_union(boxes1: Tensor, boxes2: Tensor) -> tuple[Tensor, Tensor]:
    """Intersection and union areas of boxes that broadcast against each other, (..., 4) each."""
    top_left = torch.max(boxes1[..., :2], boxes2[..., :2])  # (..., 2)
    bottom_right = torch.min(boxes1[..., 2:], boxes2[..., 2:])  # (..., 2)
    wh = (bottom_right - top_left).clamp(min=0)  # (..., 2), 0 when the boxes are apart
    inter = wh[..., 0] * wh[..., 1]  # (...)
    area1 = (boxes1[..., 2] - boxes1[..., 0]) * (boxes1[..., 3] - boxes1[..., 1])
    area2 = (boxes2[..., 2] - boxes2[..., 0]) * (boxes2[..., 3] - boxes2[..., 1])
    return inter, area1 + area2 - inter


def broadcast_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of corner boxes (..., 4) that broadcast against each other, without input checks (for
    callers that validated their boxes once, e.g. the mAP code)."""
    inter, union = _inter_union(boxes1, boxes2)
    # 0/0 only for two zero-area boxes; they share no area, so their IoU is 0 (torchvision: NaN).
    return (inter / union).nan_to_num_(nan=0.0)


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise IoU: (N, 4) and (M, 4) corner boxes -> (N, M)."""
    _check_corners(boxes1, "boxes1")
    _check_corners(boxes2, "boxes2")
    return broadcast_box_iou(boxes1[:, None, :], boxes2[None, :, :])  # (N, M)


def elementwise_box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of matching rows: (N, 4) and (N, 4) corner boxes -> (N,)."""
    _check_corners(boxes1, "boxes1")
    _check_corners(boxes2, "boxes2")
    if boxes1.shape != boxes2.shape:
        raise ValueError(f"elementwise IoU needs equal shapes, got {tuple(boxes1.shape)} and {tuple(boxes2.shape)}")
    return broadcast_box_iou(boxes1, boxes2)  # (N,)


# ----------------------------------------------------------------------------- NMS


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-max suppression.

    Returns the int64 indices of the kept boxes, in decreasing score order. A box is suppressed when
    its IoU with a kept, higher-scoring box is strictly greater than ``iou_threshold``.
    """
    _check_corners(boxes)
    if scores.shape != boxes.shape[:1]:
        raise ValueError(f"scores must have shape ({boxes.shape[0]},), got {tuple(scores.shape)}")
    # Stable sort: equal scores are visited lowest index first, as torchvision does.
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    keep = []
    while order.numel() > 0:
        best, rest = order[0], order[1:]
        keep.append(best)
        ious = broadcast_box_iou(boxes[best], boxes[rest])  # (R,)
        # Compare in float64: torchvision compares its float IoU with the threshold as a double.
        order = rest[ious.double() <= iou_threshold]
    return torch.stack(keep) if keep else torch.empty(0, dtype=torch.long, device=boxes.device)


def batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """Per-class NMS: boxes with different ``idxs`` (class ids, or image ids) never suppress each other.

    Runs ``nms`` once per class and merges the survivors in decreasing score order (ties: lower
    index first). torchvision does the same for large inputs; for small ones it instead shifts every
    class's boxes by ``class_id * (max_coordinate + 1)`` so that boxes of different classes cannot
    overlap and one ``nms`` call suffices (the "coordinate offset trick"). The trick is faster but
    rounds the shifted coordinates (adding 1000 to a float32 coordinate keeps ~3 fewer decimal
    digits), which can flip a decision at an IoU close to the threshold; the loop is exact.
    """
    _check_corners(boxes)
    if scores.shape != boxes.shape[:1] or idxs.shape != boxes.shape[:1]:
        raise ValueError(
            f"scores and idxs must have shape ({boxes.shape[0]},), got {tuple(scores.shape)} and {tuple(idxs.shape)}"
        )
    keep_mask = torch.zeros_like(scores, dtype=torch.bool)  # (N,)
    for class_id in torch.unique(idxs):
        members = torch.where(idxs == class_id)[0]  # (N_c,)
        keep_mask[members[nms(boxes[members], scores[members], iou_threshold)]] = True
    kept = torch.where(keep_mask)[0]  # (K,)
    return kept[torch.sort(scores[kept], descending=True, stable=True).indices]


def fast_nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """``nms`` computed by torchvision's compiled kernel (the detector's hot path)."""
    return torchvision.ops.nms(boxes, scores, iou_threshold)


def fast_batched_nms(boxes: Tensor, scores: Tensor, idxs: Tensor, iou_threshold: float) -> Tensor:
    """``batched_nms`` computed by torchvision (the detector's hot path). Same kept set; equal scores
    may come out in a different order."""
    return torchvision.ops.batched_nms(boxes, scores, idxs, iou_threshold)
