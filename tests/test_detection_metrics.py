"""dlzoo.ops.detection_metrics against torchmetrics' MeanAveragePrecision (pycocotools backend), the
VOC devkit's algorithm and worked examples."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlzoo.ops import detection_metrics
from dlzoo.ops.detection_metrics import (
    COCO_IOU_THRESHOLDS,
    COCO_RECALL_THRESHOLDS,
    DetectionEvaluator,
    coco_map,
    voc_map,
)

pytest.importorskip("pycocotools", reason="torchmetrics' mAP needs pycocotools (dev extras)")
from torchmetrics.detection import MeanAveragePrecision  # noqa: E402

SUMMARY_KEYS = [
    "map", "map_50", "map_75", "map_small", "map_medium", "map_large",
    "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large",
]  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The matching loop runs small tensor ops; on shared, busy cores intra-op threads only add latency."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_problem(num_images: int, seed: int, num_classes: int = 3, integer: bool = False, crowd: int = 0):
    """Ground truths of 10-245 px on a 320 px canvas (all three COCO area ranges), detections that are
    jittered copies (some twice, some with the wrong class), plus random false positives.
    ``integer``: integer coordinates (IoU and area ties, areas of exactly 32^2 and 96^2), duplicated
    ground truths and scores in steps of 1/8 (score ties). ``crowd``: every 7th image also gets that
    many class-0 detections, more than COCO's 100 per image and class."""
    g = torch.Generator().manual_seed(seed)
    preds, targets = [], []
    for i in range(num_images):
        m = int(torch.randint(0, 7, (1,), generator=g))
        wh = torch.exp(torch.rand(m, 2, generator=g) * 3.2 + 2.3)
        if integer and m >= 2:
            wh[0], wh[1] = 32.0, 96.0  # areas on the range bounds
        xy = torch.rand(m, 2, generator=g) * (320 - wh)
        gt = torch.cat([xy, xy + wh], 1)
        labels = torch.randint(0, num_classes, (m,), generator=g)
        if integer:
            gt = gt.round()
            if m >= 3:
                gt[2], labels[2] = gt[1], labels[1]  # duplicated ground truth: equal IoUs
        found = torch.where(torch.rand(m, generator=g) < 0.8)[0]  # detected objects
        again = torch.where(torch.rand(m, generator=g) < 0.3)[0]  # detected twice
        src = torch.cat([found, again])
        size = (gt[src, 2:] - gt[src, :2]).repeat(1, 2)
        det = gt[src] + torch.randn(len(src), 4, generator=g) * size * 0.08
        det_labels = labels[src].clone()
        wrong = torch.rand(len(src), generator=g) < 0.1
        det_labels[wrong] = torch.randint(0, num_classes, (int(wrong.sum()),), generator=g)
        n_false = int(torch.randint(0, 4, (1,), generator=g)) + (crowd if crowd and i % 7 == 0 else 0)
        f_wh = torch.exp(torch.rand(n_false, 2, generator=g) * 3.2 + 2.3)
        f_xy = torch.rand(n_false, 2, generator=g) * (320 - f_wh)
        det = torch.cat([det, torch.cat([f_xy, f_xy + f_wh], 1)])
        f_labels = torch.randint(0, num_classes, (n_false,), generator=g)
        if crowd and i % 7 == 0:
            f_labels[-crowd:] = 0
        det_labels = torch.cat([det_labels, f_labels])
        if integer:
            det = det.round()
        det[:, 2:] = torch.maximum(det[:, 2:], det[:, :2])
        scores = torch.rand(len(det), generator=g)
        if integer:
            scores = (scores * 8).round() / 8
        preds.append({"boxes": det, "scores": scores, "labels": det_labels})
        targets.append({"boxes": gt, "labels": labels})
    return preds, targets


def torchmetrics_map(preds, targets, **kwargs) -> dict[str, torch.Tensor]:
    metric = MeanAveragePrecision(**kwargs)
    metric.warn_on_many_detections = False
    metric.update(preds, targets)
    return metric.compute()


def assert_same_as_torchmetrics(preds, targets) -> None:
    # COCO's float64 thresholds; torchmetrics' defaults are float32 linspace values (0.55 ->
    # 0.550000011920929), which moves recall ties such as 1/10 vs "0.1" to the next point.
    expected = torchmetrics_map(
        preds, targets,
        iou_thresholds=COCO_IOU_THRESHOLDS.tolist(), rec_thresholds=COCO_RECALL_THRESHOLDS.tolist(), class_metrics=True,
    )  # fmt: skip
    ours = coco_map(preds, targets)
    for key in SUMMARY_KEYS + ["map_per_class", "mar_100_per_class"]:
        # (torchmetrics squeezes the per-class tensors to 0-d for a single class)
        theirs = expected[key].float().reshape(ours[key].shape)
        torch.testing.assert_close(ours[key].float(), theirs, atol=1e-4, rtol=0, msg=key)
    assert torch.equal(ours["classes"], expected["classes"].long().reshape(-1))


def test_coco_equals_torchmetrics() -> None:
    preds, targets = make_problem(300, seed=0)
    assert_same_as_torchmetrics(preds, targets)
    ours = coco_map(preds, targets)
    assert all(0.05 < ours[k] < 0.95 for k in SUMMARY_KEYS)  # every number is non-trivial


def test_coco_equals_torchmetrics_with_ties_bounds_and_caps() -> None:
    preds, targets = make_problem(300, seed=1, integer=True, crowd=150)
    assert max(len(p["labels"]) for p in preds) > 100  # maxDets=100 truncates
    assert_same_as_torchmetrics(preds, targets)


def test_coco_caps_detections_per_image_and_class() -> None:
    # One image: 100 false positives of class 0 scored above one true positive of class 1.
    # pycocotools caps each (image, class) at 100, so class 1 keeps its hit; a per-image cap would not.
    fp = torch.tensor([[0.0, 0, 10, 10]]).repeat(100, 1)
    preds = [{"boxes": torch.cat([fp, torch.tensor([[50.0, 50, 90, 90]])]),
              "scores": torch.cat([torch.full((100,), 0.9), torch.tensor([0.5])]),
              "labels": torch.cat([torch.zeros(100, dtype=torch.long), torch.ones(1, dtype=torch.long)])}]  # fmt: skip
    targets = [{"boxes": torch.tensor([[50.0, 50, 90, 90], [200, 200, 240, 240]]), "labels": torch.tensor([1, 0])}]
    ours = coco_map(preds, targets)
    assert ours["map_per_class"].tolist() == pytest.approx([0.0, 1.0])
    assert_same_as_torchmetrics(preds, targets)


def test_worked_example() -> None:
    # One class, 3 ground truths; detections by score: TP, FP, TP, FP.
    gts = torch.tensor([[0.0, 0, 10, 10], [20, 0, 30, 10], [40, 0, 50, 10]])
    dets = torch.tensor([[0.0, 0, 10, 10], [60, 0, 70, 10], [20, 0, 30, 10], [80, 0, 90, 10]])
    preds = [{"boxes": dets, "scores": torch.tensor([0.9, 0.8, 0.7, 0.6]), "labels": torch.zeros(4, dtype=torch.long)}]
    targets = [{"boxes": gts, "labels": torch.zeros(3, dtype=torch.long)}]
    # Precision 1, 1/2, 2/3, 1/2 at recall 1/3, 1/3, 2/3, 2/3; envelope 1 up to 1/3, 2/3 up to 2/3.
    assert voc_map(preds, targets)["map"].item() == pytest.approx((1 + 2 / 3) / 3)  # area under the envelope
    # COCO: r = 0.00..0.33 (34 points) -> 1, r = 0.34..0.66 (33 points) -> 2/3, r >= 0.67 -> 0.
    assert coco_map(preds, targets)["map_50"].item() == pytest.approx((34 + 33 * 2 / 3) / 101)


def test_voc_and_coco_matching_rules_differ() -> None:
    # Two overlapping ground truths A and B; the second detection's best match is A (already
    # taken), but it also overlaps B with IoU >= 0.5. VOC: false positive. COCO: matches B.
    gts = torch.tensor([[0.0, 0, 10, 10], [0, 3, 10, 13]])  # A, B
    dets = torch.tensor([[0.0, 0, 10, 10], [0, 1, 10, 11]])  # d1 = A; IoU(d2, A) = 9/11, IoU(d2, B) = 2/3
    preds = [{"boxes": dets, "scores": torch.tensor([0.9, 0.8]), "labels": torch.zeros(2, dtype=torch.long)}]
    targets = [{"boxes": gts, "labels": torch.zeros(2, dtype=torch.long)}]
    assert voc_map(preds, targets)["map"].item() == pytest.approx(0.5)  # TP, FP: recall stops at 1/2
    assert coco_map(preds, targets, iou_thresholds=[0.5])["map"].item() == pytest.approx(1.0)  # TP, TP


@pytest.mark.parametrize("a_first", [True, False])
def test_coco_equal_iou_goes_to_later_ground_truth(a_first: bool) -> None:
    # d1 overlaps A and B equally (IoU 2/3 each); d2 overlaps A only (9/11; with B 1/3). pycocotools
    # gives d1 the later of A and B: when that is B, d2 still finds A (two TPs, AP 1), otherwise
    # d2 is a false positive (precision 1 up to recall 1/2: 51 of the 101 recall points).
    a, b = [0.0, 0, 10, 10], [4.0, 0, 14, 10]
    targets = [{"boxes": torch.tensor([a, b] if a_first else [b, a]), "labels": torch.zeros(2, dtype=torch.long)}]
    preds = [{"boxes": torch.tensor([[2.0, 0, 12, 10], [-1.0, 0, 9, 10]]), "scores": torch.tensor([0.9, 0.8]),
              "labels": torch.zeros(2, dtype=torch.long)}]  # fmt: skip
    ours = coco_map(preds, targets, iou_thresholds=[0.5])["map"].item()
    assert ours == pytest.approx(1.0 if a_first else 51 / 101)
    assert_same_as_torchmetrics(preds, targets)


def devkit_voc_map(preds, targets, threshold: float = 0.5) -> float:
    """The VOC2010+ devkit (VOCevaldet.m + VOCap.m) transcribed loop for loop, continuous boxes."""
    classes = sorted({int(c) for t in targets for c in t["labels"]})
    aps = []
    for cls in classes:
        gt = {i: [b.tolist() for b, c in zip(t["boxes"], t["labels"]) if c == cls] for i, t in enumerate(targets)}
        taken = {i: [False] * len(b) for i, b in gt.items()}
        npos = sum(len(b) for b in gt.values())
        dets = [(float(s), i, b.tolist()) for i, p in enumerate(preds)
                for b, s, c in zip(p["boxes"], p["scores"], p["labels"]) if c == cls]  # fmt: skip
        dets.sort(key=lambda d: -d[0])  # stable, like MATLAB's sort
        tp, fp = [], []
        for _, i, bb in dets:
            ovmax, jmax = -math.inf, -1
            for j, bbgt in enumerate(gt[i]):
                iw = min(bb[2], bbgt[2]) - max(bb[0], bbgt[0])
                ih = min(bb[3], bbgt[3]) - max(bb[1], bbgt[1])
                if iw > 0 and ih > 0:
                    ua = (bb[2] - bb[0]) * (bb[3] - bb[1]) + (bbgt[2] - bbgt[0]) * (bbgt[3] - bbgt[1]) - iw * ih
                    if iw * ih / ua > ovmax:
                        ovmax, jmax = iw * ih / ua, j
            hit = ovmax >= threshold and not taken[i][jmax]
            if hit:
                taken[i][jmax] = True
            tp.append(int(hit))
            fp.append(int(not hit))
        tp, fp = np.cumsum(tp), np.cumsum(fp)
        rec, prec = tp / npos, tp / np.maximum(tp + fp, 1)
        mrec, mpre = np.concatenate([[0], rec, [1]]), np.concatenate([[0], prec, [0]])
        for k in range(len(mpre) - 2, -1, -1):
            mpre[k] = max(mpre[k], mpre[k + 1])
        changed = np.where(mrec[1:] != mrec[:-1])[0] + 1
        aps.append(float(np.sum((mrec[changed] - mrec[changed - 1]) * mpre[changed])))
    return float(np.mean(aps))


@pytest.mark.parametrize("integer", [False, True])
def test_voc_equals_devkit(integer: bool) -> None:
    preds, targets = make_problem(150, seed=2, integer=integer)
    for threshold in (0.5, 0.7):
        assert voc_map(preds, targets, threshold)["map"].item() == pytest.approx(
            devkit_voc_map(preds, targets, threshold), abs=1e-12
        )


def test_voc_all_point_equals_torchmetrics_dense_interpolation() -> None:
    # All-point AP is the integral of the precision envelope over recall; COCO-style AP with N evenly
    # spaced recall points is a Riemann sum of the same envelope, within 2/N of it. With disjoint
    # ground truths (so the VOC and COCO matching rules agree) and N = 100001, they agree to 2e-5.
    preds, targets = make_problem(150, seed=3, num_classes=2)
    for t in targets:  # keep ground truths that touch no earlier kept one
        keep: list[int] = []
        for i, b in enumerate(t["boxes"]):
            kept = t["boxes"][keep]  # (k, 4)
            apart = ((torch.min(b[2:], kept[:, 2:]) - torch.max(b[:2], kept[:, :2])) <= 0).any(-1)  # (k,)
            if apart.all():
                keep.append(i)
        t["boxes"], t["labels"] = t["boxes"][keep], t["labels"][keep]
    expected = torchmetrics_map(preds, targets, iou_thresholds=[0.5], rec_thresholds=np.linspace(0, 1, 100001).tolist())
    coarse = coco_map(preds, targets, iou_thresholds=[0.5])["map"].item()
    ours = voc_map(preds, targets)["map"].item()
    assert ours == pytest.approx(expected["map"].item(), abs=1e-4)
    assert abs(ours - coarse) > 1e-4  # the 101-point value differs: the test can tell them apart


def test_degenerate_inputs() -> None:
    preds, targets = make_problem(20, seed=4)
    no_dets = [{"boxes": torch.zeros(0, 4), "scores": torch.zeros(0), "labels": torch.zeros(0, dtype=torch.long)}] * 20
    assert coco_map(no_dets, targets)["map"].item() == 0.0 == voc_map(no_dets, targets)["map"].item()
    assert_same_as_torchmetrics(no_dets, targets)
    no_gts = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}] * 20
    assert coco_map(preds, no_gts)["map"].item() == -1.0 == voc_map(preds, no_gts)["map"].item()


def test_blocks_of_groups_give_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    preds, targets = make_problem(60, seed=7, crowd=120)
    whole_coco, whole_voc = coco_map(preds, targets), voc_map(preds, targets)
    monkeypatch.setattr(detection_metrics, "GROUP_BLOCK", 20)  # ~10 blocks instead of one
    blocked_coco, blocked_voc = coco_map(preds, targets), voc_map(preds, targets)
    for key in SUMMARY_KEYS + ["map_per_class"]:
        assert torch.equal(blocked_coco[key], whole_coco[key]), key
    assert torch.equal(blocked_voc["ap_per_class"], whole_voc["ap_per_class"])


def test_evaluator_accumulates_batches() -> None:
    preds, targets = make_problem(40, seed=5)
    evaluator = DetectionEvaluator()
    for start in range(0, 40, 16):
        evaluator.update(preds[start : start + 16], targets[start : start + 16])
    out = evaluator.compute()
    assert out["map"] == coco_map(preds, targets)["map"]
    assert out["voc_map_50"] == voc_map(preds, targets)["map"]


def test_bad_input_raises() -> None:
    preds, targets = make_problem(3, seed=6)
    with pytest.raises(ValueError, match="one entry per image"):
        coco_map(preds, targets[:2])
    with pytest.raises(ValueError, match="one entry per image"):
        voc_map([], [])
    with pytest.raises(ValueError, match="lacks"):
        voc_map([{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0)}] * 3, targets)
    bad = [dict(p) for p in preds]
    bad[1]["scores"] = bad[1]["scores"][:-1]
    with pytest.raises(ValueError, match=r"preds\[1\]"):
        coco_map(bad, targets)
    flipped = [dict(t) for t in targets]
    flipped[2]["boxes"] = flipped[2]["boxes"][:, [2, 1, 0, 3]]
    with pytest.raises(ValueError, match=r"targets\[2\] boxes must be \(x1, y1, x2, y2\)"):
        coco_map(preds, flipped)
