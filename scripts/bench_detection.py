"""Time dlzoo's IoU, NMS and mAP against torchvision.ops and torchmetrics.

    python scripts/bench_detection.py [--threads 1] [--images 5000] [--repeats 3]

Boxes: N random boxes in clusters of about 20 around N / 20 "objects" (what a detector emits before
NMS), scores uniform. Rows: pairwise IoU of N boxes against 100; NMS at IoU 0.5 (dlzoo's readable
``nms`` and its hot path ``fast_nms``); per-class NMS over 10 classes. mAP: generated predictions for
``--images`` images (noisy copies of 0-6 ground-truth boxes per image plus false positives, 3
classes), dlzoo's ``coco_map`` and ``voc_map`` against torchmetrics' MeanAveragePrecision (update +
compute, pycocotools backend), which reports COCO mAP and mAP@0.5 in one pass. Ratio = dlzoo time /
reference time (below 1: dlzoo is faster). Each time is the best of ``--repeats`` runs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torchvision

from dlzoo.ops.boxes import batched_nms, box_iou, fast_batched_nms, fast_nms, nms
from dlzoo.ops.detection_metrics import coco_map, voc_map


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def clustered_boxes(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    objects = max(1, n // 20)
    centre = torch.rand(objects, 2, generator=g) * 1000
    size = 20 + torch.rand(objects, 2, generator=g) * 80
    which = torch.randint(objects, (n,), generator=g)
    xy = centre[which] + torch.randn(n, 2, generator=g) * size[which] * 0.1
    wh = size[which] * (1 + 0.1 * torch.randn(n, 2, generator=g)).clamp(min=0.5)
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], dim=1)
    return boxes, torch.rand(n, generator=g), torch.randint(0, 10, (n,), generator=g)


def generated_predictions(num_images: int, seed: int = 0, num_classes: int = 3):
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for _ in range(num_images):
        m = int(torch.randint(0, 7, (1,), generator=g))
        wh = torch.exp(torch.rand(m, 2, generator=g) * 3.2 + 2.3)  # 10..245 px: all COCO area ranges
        xy = torch.rand(m, 2, generator=g) * (320 - wh)
        gt = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, num_classes, (m,), generator=g)
        found = torch.where(torch.rand(m, generator=g) < 0.8)[0]  # detected objects
        again = torch.where(torch.rand(m, generator=g) < 0.3)[0]  # detected twice
        src = torch.cat([found, again])
        det = gt[src] + torch.randn(len(src), 4, generator=g) * (gt[src, 2:] - gt[src, :2]).repeat(1, 2) * 0.08
        n_false = int(torch.randint(0, 4, (1,), generator=g))
        f_wh = torch.exp(torch.rand(n_false, 2, generator=g) * 3.2 + 2.3)
        f_xy = torch.rand(n_false, 2, generator=g) * (320 - f_wh)
        det = torch.cat([det, torch.cat([f_xy, f_xy + f_wh], 1)])
        det[:, 2:] = torch.maximum(det[:, 2:], det[:, :2])
        det_labels = torch.cat([labels[src], torch.randint(0, num_classes, (n_false,), generator=g)])
        preds.append({"boxes": det, "scores": torch.rand(len(det), generator=g), "labels": det_labels})
        targets.append({"boxes": gt, "labels": labels})
    return preds, targets


def torchmetrics_map(preds, targets) -> dict:
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(backend="pycocotools")
    metric.update(preds, targets)
    return metric.compute()


def row(name: str, n: int | str, ours: float, theirs: float) -> None:
    print(f"{name:<38} {n!s:>7} {ours * 1e3:>11.2f} {theirs * 1e3:>11.2f} {ours / theirs:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, {torch.get_num_threads()} thread(s)\n")
    print(f"{'operation (dlzoo vs reference)':<38} {'N':>7} {'dlzoo ms':>11} {'ref ms':>11} {'ratio':>7}")
    for n in args.sizes:
        boxes, scores, classes = clustered_boxes(n, seed=0)
        others = boxes[:100]
        ours = best_time(lambda: box_iou(boxes, others), args.repeats)
        theirs = best_time(lambda: torchvision.ops.box_iou(boxes, others), args.repeats)
        row("box_iou (N x 100) vs torchvision", n, ours, theirs)
        kept = len(torchvision.ops.nms(boxes, scores, 0.5))
        reference_nms = best_time(lambda: torchvision.ops.nms(boxes, scores, 0.5), args.repeats)
        row(f"nms, readable loop ({kept} kept)", n, best_time(lambda: nms(boxes, scores, 0.5), 1), reference_nms)
        row("fast_nms (hot path)", n, best_time(lambda: fast_nms(boxes, scores, 0.5), args.repeats), reference_nms)
        reference_batched = best_time(lambda: torchvision.ops.batched_nms(boxes, scores, classes, 0.5), args.repeats)
        readable_batched = best_time(lambda: batched_nms(boxes, scores, classes, 0.5), 1)
        row("batched_nms, readable (10 classes)", n, readable_batched, reference_batched)
        fast_batched = best_time(lambda: fast_batched_nms(boxes, scores, classes, 0.5), args.repeats)
        row("fast_batched_nms (hot path)", n, fast_batched, reference_batched)

    preds, targets = generated_predictions(args.images)
    n_det = sum(len(p["labels"]) for p in preds)
    print(f"\nmAP on {args.images} images ({n_det} detections, {sum(len(t['labels']) for t in targets)} objects):")
    repeats = max(1, args.repeats // 2)
    theirs = best_time(lambda: torchmetrics_map(preds, targets), repeats)
    ours_coco = best_time(lambda: coco_map(preds, targets), repeats)
    ours_voc = best_time(lambda: voc_map(preds, targets), repeats)
    row("coco_map vs torchmetrics", args.images, ours_coco, theirs)
    row("voc_map vs torchmetrics", args.images, ours_voc, theirs)
    row("coco_map + voc_map vs torchmetrics", args.images, ours_coco + ours_voc, theirs)
    expected, ours = torchmetrics_map(preds, targets), coco_map(preds, targets)
    print(f"\nmAP@[.5:.95]: dlzoo {ours['map'].item():.6f}, torchmetrics {expected['map'].item():.6f}; "
          f"mAP@0.5: COCO 101-point {ours['map_50'].item():.6f} (torchmetrics {expected['map_50'].item():.6f}), "
          f"VOC all-point {voc_map(preds, targets)['map'].item():.6f}")  # fmt: skip


if __name__ == "__main__":
    main()
