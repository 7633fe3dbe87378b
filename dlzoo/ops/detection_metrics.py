"""Mean average precision for object detection: PASCAL VOC (all-point) and COCO (101-point).

Everingham et al. 2010, "The PASCAL Visual Object Classes (VOC) Challenge", sec. 4.2, and the
VOC2010+ devkit (``VOCevaldet.m``, ``VOCap.m``); Lin et al. 2014, "Microsoft COCO", and
``pycocotools.cocoeval.COCOeval`` (evaluate / accumulate / summarize), whose numbers this module
reproduces (tested against ``torchmetrics.detection.MeanAveragePrecision`` with pycocotools).

Both metrics share the same two steps.

1. Matching, per (image, class), detections in decreasing score order. A detection is a true
   positive (TP) when it takes a ground-truth box with IoU >= t that no higher-scoring detection
   took; otherwise a false positive (FP). The two rules differ in one detail:
   * VOC: the detection looks only at its best-IoU ground truth; if that one is taken, FP.
   * COCO: the detection takes the best-IoU ground truth among those still free (ties: the later
     box); boxes outside the evaluated area range are "ignored": matching one makes the detection
     neither TP nor FP, and ignored boxes are tried only when no regular box qualifies.
2. Per class, all detections sorted by score (stable) give cumulative precision P_i = TP_i / i and
   recall R_i = TP_i / n_gt. The interpolated precision p(r) = max_{R_i >= r} P_i (the monotone
   envelope), and
   * VOC all-point:    AP = integral_0^1 p(r) dr = (1 / n_gt) sum over TPs of p(R_i);
   * COCO 101-point:   AP = mean of p(r) at r in {0, 0.01, ..., 1} (p = 0 beyond the last recall).
   mAP is the mean over classes that have ground truth (other classes count as -1 and are skipped).

COCO specifics matched here: IoU thresholds 0.50:0.05:0.95; area ranges all [0, 1e10], small
[0, 32^2], medium [32^2, 96^2], large [96^2, 1e10] (bounds inclusive, so an area of exactly 32^2
is both small and medium), on box area w * h in pixels; ``maxDets`` (1, 10, 100) keeps the top-k
detections *per image and class* (pycocotools' behaviour, although its docs say per image);
a matched detection keeps its match in every area range, an unmatched one outside the range is
ignored; recall uses the ground-truth count in the range.

Deviations: no ``iscrowd`` (COCO) or ``difficult`` (VOC) ground truth, every box counts; VOC boxes are
continuous (area (x2 - x1) * (y2 - y1)), not the devkit's inclusive pixel indices (+1); classes without
ground truth are left out of the VOC mean (the devkit assumes every class has some).

Vectorisation: the greedy matching is sequential within a (image, class) group, so the loop runs
over the rank of a detection in its group (at most 100 steps for COCO) and treats all groups, IoU
thresholds and area ranges at once; groups are sorted by size so that step j touches only the
groups with more than j detections, and processed in blocks of 2048 groups so that memory stays
bounded. Accumulation loops over classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor

from dlzoo.ops.boxes import broadcast_box_iou

# COCO's constants, built with numpy exactly as pycocotools builds them (np.linspace in float64).
COCO_IOU_THRESHOLDS = torch.from_numpy(np.linspace(0.5, 0.95, 10))
COCO_RECALL_THRESHOLDS = torch.from_numpy(np.linspace(0.0, 1.0, 101))
COCO_AREA_RANGES = {
    "all": (0.0, 1e10), "small": (0.0, 32.0**2), "medium": (32.0**2, 96.0**2), "large": (96.0**2, 1e10),
}  # fmt: skip
COCO_MAX_DETECTIONS = (1, 10, 100)
EPS = float(np.spacing(1))  # pycocotools' guard in TP / (TP + FP + eps)
GROUP_BLOCK = 2048  # (image, class) groups matched at once: memory ~ GROUP_BLOCK x A x T x objects per group


# ----------------------------------------------------------------------------- inputs


class _Flat:
    """All images' boxes in one table: detections sorted by (image, class, score), with groups."""

    def __init__(self, preds: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Tensor]]) -> None:
        if len(preds) != len(targets) or len(preds) == 0:
            raise ValueError(f"preds and targets need one entry per image, got {len(preds)} and {len(targets)}")
        det = [_check_item(p, i, "preds", ("boxes", "scores", "labels")) for i, p in enumerate(preds)]
        gt = [_check_item(t, i, "targets", ("boxes", "labels")) for i, t in enumerate(targets)]
        f64 = torch.float64
        self.det_boxes = torch.cat([d["boxes"] for d in det]).to(f64)  # (N, 4)
        self.det_scores = torch.cat([d["scores"] for d in det]).to(f64)  # (N,)
        det_labels = torch.cat([d["labels"] for d in det]).long()  # (N,)
        self.gt_boxes = torch.cat([g["boxes"] for g in gt]).to(f64)  # (G, 4)
        gt_labels = torch.cat([g["labels"] for g in gt]).long()  # (G,)
        det_image = torch.repeat_interleave(torch.tensor([len(d["labels"]) for d in det]))  # (N,)
        gt_image = torch.repeat_interleave(torch.tensor([len(g["labels"]) for g in gt]))  # (G,)
        _check_corners(self.det_boxes, det_image, "preds")
        _check_corners(self.gt_boxes, gt_image, "targets")

        self.classes = torch.cat([det_labels, gt_labels]).unique()  # (K,) sorted
        self.det_class = torch.searchsorted(self.classes, det_labels)  # (N,) in 0..K-1
        self.gt_class = torch.searchsorted(self.classes, gt_labels)  # (G,)
        num_classes = len(self.classes)
        # Sort detections by group key (image, class), then by decreasing score; both sorts are
        # stable, so equal scores keep their input order, as pycocotools' mergesort does.
        order = torch.sort(self.det_scores, descending=True, stable=True).indices
        det_key = det_image * num_classes + self.det_class  # (N,)
        order = order[torch.sort(det_key[order], stable=True).indices]
        self._select_dets(order)
        self.det_key = det_key[order]
        self.det_rank = _rank_in_group(self.det_key)  # (N,) 0 = best in its (image, class)
        gt_key = gt_image * num_classes + self.gt_class  # (G,)
        gt_order = torch.sort(gt_key, stable=True).indices  # input order within a group
        self.gt_boxes, self.gt_class, self.gt_key = self.gt_boxes[gt_order], self.gt_class[gt_order], gt_key[gt_order]

    def _select_dets(self, index: Tensor) -> None:
        self.det_boxes, self.det_scores = self.det_boxes[index], self.det_scores[index]
        self.det_class = self.det_class[index]

    def keep_top(self, k: int) -> None:
        """Keep the k best detections of each (image, class)."""
        keep = self.det_rank < k
        self._select_dets(keep)
        self.det_key, self.det_rank = self.det_key[keep], self.det_rank[keep]


def _check_item(item: dict[str, Tensor], i: int, name: str, keys: tuple[str, ...]) -> dict[str, Tensor]:
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{name}[{i}] lacks {missing}; expected keys {list(keys)}")
    out = {k: torch.as_tensor(item[k]).detach().cpu() for k in keys}
    n = len(out["labels"])
    if out["boxes"].numel() == 0:
        out["boxes"] = out["boxes"].reshape(0, 4)
    if out["boxes"].shape != (n, 4) or any(out[k].shape != (n,) for k in keys if k != "boxes"):
        shapes = {k: tuple(v.shape) for k, v in out.items()}
        raise ValueError(f"{name}[{i}] must hold boxes (n, 4) and {keys[1:]} of shape (n,), got {shapes}")
    return out


def _check_corners(boxes: Tensor, image: Tensor, name: str) -> None:
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])  # (N,)
    if bad.any():
        i = int(image[bad][0])
        raise ValueError(f"{name}[{i}] boxes must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1")


def _rank_in_group(sorted_keys: Tensor) -> Tensor:
    """Position of each element within its run of equal keys: [5, 5, 7, 9, 9, 9] -> [0, 1, 0, 0, 1, 2]."""
    _, counts = torch.unique_consecutive(sorted_keys, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    return torch.arange(len(sorted_keys)) - torch.repeat_interleave(starts, counts)


def _area(boxes: Tensor) -> Tensor:
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


class _Groups:
    """The (image, class) groups that have detections, sorted by decreasing number of detections and
    served in blocks of ``GROUP_BLOCK`` groups (to bound memory with crowded images)."""

    def __init__(self, flat: _Flat) -> None:
        keys, det_group, counts = torch.unique_consecutive(flat.det_key, return_inverse=True, return_counts=True)
        by_size = torch.sort(counts, descending=True, stable=True).indices  # (Q,)
        new_index = torch.empty_like(by_size)
        new_index[by_size] = torch.arange(len(by_size))
        self.counts = counts[by_size]  # (Q,) decreasing
        self.det_group = new_index[det_group]  # (N,) group of each detection
        self.det_slot = flat.det_rank  # (N,) its rank in the group
        self.det_boxes = flat.det_boxes
        # Ground truths of groups that have detections; the others can only be missed.
        if len(keys):
            pos = torch.searchsorted(keys, flat.gt_key).clamp(max=len(keys) - 1)  # (G,)
            has_dets = keys[pos] == flat.gt_key
        else:
            pos, has_dets = torch.zeros_like(flat.gt_key), torch.zeros_like(flat.gt_key, dtype=torch.bool)
        self.gt_group = new_index[pos[has_dets]]
        self.gt_slot = _rank_in_group(flat.gt_key)[has_dets]
        self.gt_boxes = flat.gt_boxes[has_dets]

    def blocks(self) -> Iterator[_Block]:
        for start in range(0, len(self.counts), GROUP_BLOCK):
            stop = min(start + GROUP_BLOCK, len(self.counts))
            dets = torch.where((self.det_group >= start) & (self.det_group < stop))[0]
            gts = torch.where((self.gt_group >= start) & (self.gt_group < stop))[0]
            yield _Block(self, start, stop, dets, gts)


class _Block:
    """Groups start..stop-1 padded into tables: detections (q, D, 4) in score order, ground truths
    (q, G, 4) in input order; ``det_index`` maps each real detection's (group, slot) back to _Flat."""

    def __init__(self, groups: _Groups, start: int, stop: int, dets: Tensor, gts: Tensor) -> None:
        self.counts = groups.counts[start:stop]  # (q,) decreasing
        self.det_index, self.det_group, self.det_slot = dets, groups.det_group[dets] - start, groups.det_slot[dets]
        self.det_boxes = groups.det_boxes.new_zeros(stop - start, int(self.counts[0]), 4)  # (q, D, 4)
        self.det_boxes[self.det_group, self.det_slot] = groups.det_boxes[dets]
        gt_group, gt_slot = groups.gt_group[gts] - start, groups.gt_slot[gts]
        max_gts = int(gt_slot.max()) + 1 if len(gts) else 0
        self.gt_boxes = groups.gt_boxes.new_zeros(stop - start, max_gts, 4)  # (q, G, 4)
        self.gt_boxes[gt_group, gt_slot] = groups.gt_boxes[gts]
        self.gt_valid = torch.zeros(stop - start, max_gts, dtype=torch.bool)  # (q, G) False = padding
        self.gt_valid[gt_group, gt_slot] = True

    def ious(self, step: int) -> tuple[int, Tensor]:
        """IoU of each active group's detection of rank ``step`` with the group's ground truths."""
        n = int((self.counts > step).sum())  # active groups form a prefix
        iou = broadcast_box_iou(self.det_boxes[:n, step, None, :], self.gt_boxes[:n])  # (n, G)
        return n, torch.where(self.gt_valid[:n], iou, -1.0)  # padding never matches


def _in_range(area: Tensor, ranges: Tensor) -> Tensor:
    """(...,) areas, (A, 2) inclusive ranges -> (A, ...) membership."""
    lo = ranges[:, 0].reshape(-1, *[1] * area.ndim)
    hi = ranges[:, 1].reshape(-1, *[1] * area.ndim)
    return (area >= lo) & (area <= hi)


# ----------------------------------------------------------------------------- matching


def _match_coco(groups: _Block, iou_thresholds: Tensor, area_ranges: Tensor) -> tuple[Tensor, Tensor]:
    """COCO greedy matching -> (matched, ignored), each (q, A, T, D) bool."""
    num_groups, max_gts = groups.gt_valid.shape
    max_dets = groups.det_boxes.shape[1]
    num_areas, num_thr = len(area_ranges), len(iou_thresholds)
    thr = iou_thresholds.clamp(max=1 - 1e-10).reshape(1, 1, -1, 1)  # pycocotools caps t at 1 - 1e-10
    gt_ignore = ~_in_range(_area(groups.gt_boxes), area_ranges).permute(1, 0, 2)  # (q, A, G)
    taken = torch.zeros(num_groups, num_areas, num_thr, max_gts, dtype=torch.bool)  # (q, A, T, G)
    matched = torch.zeros(num_groups, num_areas, num_thr, max_dets, dtype=torch.bool)  # (q, A, T, D)
    ignored = torch.zeros_like(matched)
    slot = torch.arange(max_gts)
    for step in range(max_dets if max_gts else 0):  # without ground truth nothing can match
        n, iou = groups.ious(step)  # (n, G)
        iou = iou[:, None, None, :]  # (n, 1, 1, G)
        cand = (iou >= thr) & ~taken[:n]  # (n, A, T, G)
        regular = cand & ~gt_ignore[:n, :, None, :]
        cand = torch.where(regular.any(-1, keepdim=True), regular, cand)  # regular boxes first
        has = cand.any(-1)  # (n, A, T)
        value = torch.where(cand, iou, -1.0)
        best = value == value.amax(-1, keepdim=True)
        chosen_slot = torch.where(cand & best, slot, -1).amax(-1)  # (n, A, T) last of the best
        chosen = (slot == chosen_slot[..., None]) & has[..., None]  # (n, A, T, G) one-hot
        taken[:n] |= chosen
        matched[:n, :, :, step] = has
        ignored[:n, :, :, step] = (chosen & gt_ignore[:n, :, None, :]).any(-1)
    # Unmatched detections outside the area range are ignored too.
    det_out = ~_in_range(_area(groups.det_boxes), area_ranges).permute(1, 0, 2)  # (q, A, D)
    ignored |= ~matched & det_out[:, :, None, :]
    return matched, ignored


def _match_voc(groups: _Block, iou_threshold: float) -> Tensor:
    """VOC matching -> (q, D) bool true positives."""
    num_groups, max_gts = groups.gt_valid.shape
    taken = torch.zeros(num_groups, max_gts, dtype=torch.bool)  # (q, G)
    tp = torch.zeros(num_groups, groups.det_boxes.shape[1], dtype=torch.bool)  # (q, D)
    for step in range(tp.shape[1] if max_gts else 0):  # without ground truth nothing can match
        n, iou = groups.ious(step)  # (n, G)
        best_iou, best = iou.max(-1)  # (n,) first index on ties, as the devkit's max()
        hit = (best_iou >= iou_threshold) & ~taken[:n].gather(1, best[:, None])[:, 0]
        taken[torch.arange(n)[hit], best[hit]] = True
        tp[:n, step] = hit
    return tp


# ----------------------------------------------------------------------------- VOC


def voc_map(
    preds: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Tensor]], iou_threshold: float = 0.5
) -> dict[str, Tensor]:
    """PASCAL VOC mAP with all-point interpolation (VOC2010+), at one IoU threshold.

    ``preds[i]``: ``boxes`` (n, 4) corners, ``scores`` (n,), ``labels`` (n,) for image i;
    ``targets[i]``: ``boxes`` (m, 4), ``labels`` (m,). Every detection counts (no score threshold,
    no per-image cap). Returns ``map`` (mean over classes with ground truth; -1 if none),
    ``ap_per_class`` (K,) (-1 for a class without ground truth) and ``classes`` (K,).
    """
    flat = _Flat(preds, targets)
    tp = torch.zeros(len(flat.det_scores), dtype=torch.bool)  # (N,)
    for block in _Groups(flat).blocks():
        tp[block.det_index] = _match_voc(block, iou_threshold)[block.det_group, block.det_slot]
    ap = torch.full((len(flat.classes),), -1.0, dtype=torch.float64)
    for k in range(len(flat.classes)):
        num_gt = int((flat.gt_class == k).sum())
        if num_gt == 0:
            continue
        mine = flat.det_class == k
        tp_k = tp[mine][torch.sort(flat.det_scores[mine], descending=True, stable=True).indices]  # (n,)
        tp_cum = tp_k.cumsum(0, dtype=torch.float64)
        precision = tp_cum / torch.arange(1, len(tp_k) + 1)  # every detection is a TP or an FP
        envelope = precision.flip(0).cummax(0).values.flip(0)  # max precision at recall >= R_i
        ap[k] = envelope[tp_k].sum() / num_gt
    valid = ap > -1
    return {"map": ap[valid].mean() if valid.any() else torch.tensor(-1.0), "ap_per_class": ap, "classes": flat.classes}


# ----------------------------------------------------------------------------- COCO


def coco_evaluate(
    preds: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_thresholds: Sequence[float] | Tensor = COCO_IOU_THRESHOLDS,
    recall_thresholds: Sequence[float] | Tensor = COCO_RECALL_THRESHOLDS,
    max_detections: Sequence[int] = COCO_MAX_DETECTIONS,
) -> dict[str, Tensor]:
    """COCO's ``evaluate`` + ``accumulate``: precision (T, R, K, A, M) and recall (T, K, A, M) tables,
    -1 where a class has no ground truth in the area range. A = ``COCO_AREA_RANGES`` in order."""
    iou_thresholds = torch.as_tensor(iou_thresholds, dtype=torch.float64)
    recall_thresholds = torch.as_tensor(recall_thresholds, dtype=torch.float64)
    max_dets = torch.tensor(sorted(max_detections))
    area_ranges = torch.tensor(list(COCO_AREA_RANGES.values()), dtype=torch.float64)  # (A, 2)
    flat = _Flat(preds, targets)
    flat.keep_top(int(max_dets[-1]))
    matched = torch.zeros(len(flat.det_scores), len(area_ranges), len(iou_thresholds), dtype=torch.bool)
    ignored = torch.zeros_like(matched)  # (N, A, T) each
    for block in _Groups(flat).blocks():
        block_matched, block_ignored = _match_coco(block, iou_thresholds, area_ranges)  # (q, A, T, D)
        matched[block.det_index] = block_matched[block.det_group, :, :, block.det_slot]
        ignored[block.det_index] = block_ignored[block.det_group, :, :, block.det_slot]
    matched, ignored = matched.permute(1, 2, 0), ignored.permute(1, 2, 0)  # (A, T, N)
    gt_in_range = _in_range(_area(flat.gt_boxes), area_ranges)  # (A, G)

    num_t, num_r, num_m = len(iou_thresholds), len(recall_thresholds), len(max_dets)
    num_k, num_a = len(flat.classes), len(area_ranges)
    precision = torch.full((num_a, num_m, num_t, num_r, num_k), -1.0, dtype=torch.float64)
    recall = torch.full((num_a, num_m, num_t, num_k), -1.0, dtype=torch.float64)
    for k in range(num_k):
        num_gt = gt_in_range[:, flat.gt_class == k].sum(1)  # (A,)
        mine = torch.where(flat.det_class == k)[0]
        order = mine[torch.sort(flat.det_scores[mine], descending=True, stable=True).indices]  # (n,)
        within = flat.det_rank[order][None, :] < max_dets[:, None]  # (M, n) inside the (image, class) cap
        counted = (~ignored[:, :, order])[:, None] & within[None, :, None]  # (A, M, T, n)
        tp = (counted & matched[:, None, :, order]).cumsum(-1, dtype=torch.float64)
        fp = (counted & ~matched[:, None, :, order]).cumsum(-1, dtype=torch.float64)
        rc = tp / num_gt.clamp(min=1).reshape(-1, 1, 1, 1)  # (A, M, T, n); rows without ground truth: below
        pr = tp / (tp + fp + EPS)
        envelope = pr.flip(-1).cummax(-1).values.flip(-1)
        # p(r) at each recall threshold: the envelope at the first detection reaching recall r.
        first = torch.searchsorted(rc.contiguous(), recall_thresholds.expand(*rc.shape[:3], -1).contiguous())
        n = len(order)
        q = envelope.gather(-1, first.clamp(max=max(n - 1, 0))) if n else torch.zeros_like(first, dtype=pr.dtype)
        q = torch.where(first < n, q, 0.0)  # (A, M, T, R)
        has_gt = (num_gt > 0).reshape(-1, 1, 1)  # (A, 1, 1)
        precision[..., k] = torch.where(has_gt[..., None], q, -1.0)
        last = rc[..., -1] if n else torch.zeros(rc.shape[:3], dtype=torch.float64)
        recall[..., k] = torch.where(has_gt, last, -1.0)
    return {
        "precision": precision.permute(2, 3, 4, 0, 1),  # (T, R, K, A, M)
        "recall": recall.permute(2, 3, 0, 1),  # (T, K, A, M)
        "iou_thresholds": iou_thresholds,
        "max_detections": max_dets,
        "classes": flat.classes,
    }


def _mean_valid(x: Tensor) -> Tensor:
    valid = x[x > -1]
    return valid.mean() if len(valid) else torch.tensor(-1.0, dtype=torch.float64)


def coco_map(
    preds: Sequence[dict[str, Tensor]],
    targets: Sequence[dict[str, Tensor]],
    iou_thresholds: Sequence[float] | Tensor = COCO_IOU_THRESHOLDS,
    recall_thresholds: Sequence[float] | Tensor = COCO_RECALL_THRESHOLDS,
    max_detections: Sequence[int] = COCO_MAX_DETECTIONS,
) -> dict[str, Tensor]:
    """COCO's 12 summary numbers (``COCOeval.summarize``), named as torchmetrics names them:
    ``map`` (AP@[.50:.95]), ``map_50``, ``map_75``, ``map_small``/``medium``/``large``,
    ``mar_1``/``mar_10``/``mar_100`` (one per ``max_detections``), ``mar_small``/``medium``/``large``,
    plus ``map_per_class`` and ``mar_100_per_class`` (K,) and ``classes`` (K,). -1 means "no ground
    truth to measure"; ``map_50``/``map_75`` are -1 when 0.5/0.75 are not among the thresholds."""
    ev = coco_evaluate(preds, targets, iou_thresholds, recall_thresholds, max_detections)
    precision, recall, thresholds = ev["precision"], ev["recall"], ev["iou_thresholds"]
    m_top = len(ev["max_detections"]) - 1
    areas = list(COCO_AREA_RANGES)
    out = {"map": _mean_valid(precision[..., 0, m_top])}
    for t in (0.5, 0.75):
        out[f"map_{round(t * 100)}"] = _mean_valid(precision[thresholds == t][..., 0, m_top])
    for a in areas[1:]:
        out[f"map_{a}"] = _mean_valid(precision[..., areas.index(a), m_top])
    for m, cap in enumerate(ev["max_detections"].tolist()):
        out[f"mar_{cap}"] = _mean_valid(recall[..., 0, m])
    for a in areas[1:]:
        out[f"mar_{a}"] = _mean_valid(recall[..., areas.index(a), m_top])
    cap = ev["max_detections"][-1].item()
    classes = range(len(ev["classes"]))
    out["map_per_class"] = torch.tensor([_mean_valid(precision[:, :, k, 0, m_top]) for k in classes]).double()
    out[f"mar_{cap}_per_class"] = torch.tensor([_mean_valid(recall[:, k, 0, m_top]) for k in classes]).double()
    out["classes"] = ev["classes"]
    return out


class DetectionEvaluator:
    """Collects per-image predictions and targets over an epoch; ``compute`` returns COCO's summary
    (``coco_map``) plus ``voc_map_50``, the VOC all-point mAP at IoU 0.5. Plain Python: no
    distributed syncing."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.preds: list[dict[str, Tensor]] = []
        self.targets: list[dict[str, Tensor]] = []

    def update(self, preds: Sequence[dict[str, Tensor]], targets: Sequence[dict[str, Tensor]]) -> None:
        if len(preds) != len(targets):
            raise ValueError(f"preds and targets must have one entry per image, got {len(preds)} and {len(targets)}")
        self.preds += [{k: v.detach().cpu() for k, v in p.items()} for p in preds]
        self.targets += [{k: v.detach().cpu() for k, v in t.items()} for t in targets]

    def compute(self) -> dict[str, Tensor]:
        out = coco_map(self.preds, self.targets)
        out["voc_map_50"] = voc_map(self.preds, self.targets, 0.5)["map"]
        return out
