"""dlzoo.models.yolo: shapes, target encoding, the encode/decode round trip, the loss and decoding."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dlzoo.data.shapes import ShapesDataset
from dlzoo.models.yolo import (
    SHAPES_ANCHORS,
    YOLO,
    YOLOLoss,
    activate,
    anchor_kmeans,
    decode,
    encode_targets,
    shape_iou,
)
from dlzoo.ops.boxes import box_iou

ANCHORS = torch.tensor(SHAPES_ANCHORS)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors and shared, busy cores: intra-op threads only add hand-off latency."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_output_shape_default_backbone() -> None:
    model = YOLO(num_classes=3).eval()
    assert model(torch.zeros(2, 3, 128, 128)).shape == (2, 8, 8, 3, 5 + 3)  # stride 16


def test_course_output_volume_with_any_backbone() -> None:
    # The course: 608 x 608 image -> 19 x 19 grid x 5 anchors x (5 + 80). Any stride-32 backbone will do.
    backbone = nn.Conv2d(3, 8, kernel_size=32, stride=32)
    model = YOLO(num_classes=80, anchors=[(0.1, 0.1)] * 5, backbone=backbone, backbone_channels=8)
    assert model(torch.zeros(1, 3, 608, 608)).shape == (1, 19, 19, 5, 85)
    with pytest.raises(ValueError, match="backbone_channels"):
        YOLO(num_classes=80, backbone=nn.Sequential(nn.Conv2d(3, 8, 32, 32)))


def random_targets(n_images: int, grid: int, seed: int, image_size: int = 128):
    """Boxes whose centres fall in distinct cells (so no two objects compete for a slot)."""
    g = torch.Generator().manual_seed(seed)
    targets = []
    for _ in range(n_images):
        n = int(torch.randint(1, 7, (1,), generator=g))
        cells = torch.randperm(grid * grid, generator=g)[:n]
        centre = (torch.stack([cells % grid, cells // grid], -1) + torch.rand(n, 2, generator=g)) / grid
        wh = 0.05 + 0.4 * torch.rand(n, 2, generator=g)
        boxes = torch.cat([centre - wh / 2, centre + wh / 2], -1) * image_size
        targets.append({"boxes": boxes, "labels": torch.randint(0, 3, (n,), generator=g)})
    return targets


def sort_by_box(boxes: torch.Tensor, labels: torch.Tensor):
    order = sorted(range(len(boxes)), key=lambda i: boxes[i].tolist())
    return boxes[order], labels[order]


def test_encode_decode_round_trip() -> None:
    targets = random_targets(8, grid=8, seed=0)
    encoded = encode_targets(targets, ANCHORS, grid_size=8, num_classes=3, image_size=128)
    assert encoded.shape == (8, 8, 8, 3, 8)
    # Ideal predictions: the targets themselves. No NMS (IoU > 1 never happens), no cap.
    decoded = decode(encoded, ANCHORS, score_threshold=0.5, iou_threshold=1.0, max_detections=1000, image_size=128)
    for target, detection in zip(targets, decoded):
        expected_boxes, expected_labels = sort_by_box(target["boxes"], target["labels"])
        boxes, labels = sort_by_box(detection["boxes"], detection["labels"])
        torch.testing.assert_close(boxes, expected_boxes, atol=1e-4, rtol=0)
        assert torch.equal(labels, expected_labels)
        assert torch.equal(detection["scores"], torch.ones(len(labels)))


def test_encoding_assigns_centre_cell_and_best_shape_anchor() -> None:
    anchors = torch.tensor([[0.1, 0.1], [0.2, 0.4], [0.4, 0.2]])
    box = torch.tensor([[0.3 - 0.1, 0.7 - 0.2, 0.3 + 0.1, 0.7 + 0.2]])  # centre (0.3, 0.7), w 0.2, h 0.4
    out = encode_targets([{"boxes": box, "labels": torch.tensor([2])}], anchors, grid_size=4, num_classes=3)
    assert torch.nonzero(out[..., 4]).tolist() == [[0, 2, 1, 1]]  # row floor(0.7 * 4), col floor(0.3 * 4), anchor 1
    torch.testing.assert_close(out[0, 2, 1, 1], torch.tensor([0.2, 0.8, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]))
    assert shape_iou(torch.tensor([[0.2, 0.4]]), anchors).argmax().item() == 1
    # Shape IoU of 0.2 x 0.4 with 0.4 x 0.2: overlap 0.2 x 0.2 = 0.04, union 0.08 + 0.08 - 0.04.
    assert shape_iou(torch.tensor([[0.2, 0.4]]), anchors)[0, 2].item() == pytest.approx(0.04 / 0.12)


def test_encoding_collision_keeps_the_later_object() -> None:
    boxes = torch.tensor([[0.10, 0.10, 0.20, 0.20], [0.12, 0.12, 0.21, 0.21]])  # same cell, same anchor
    out = encode_targets([{"boxes": boxes, "labels": torch.tensor([0, 1])}], ANCHORS, grid_size=4, num_classes=3)
    assert out[..., 4].sum().item() == 1
    decoded = decode(out, ANCHORS, score_threshold=0.5, iou_threshold=1.0, max_detections=10)[0]
    torch.testing.assert_close(decoded["boxes"], boxes[1:], atol=1e-6, rtol=0)
    assert decoded["labels"].tolist() == [1]


def test_decode_scores_threshold_nms_and_cap() -> None:
    # Three predictions in one image: two overlapping boxes of different classes, one weak box.
    pred = torch.zeros(1, 2, 2, 1, 5 + 2)
    anchors = torch.tensor([[0.5, 0.5]])
    pred[0, 0, 0, 0] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.9, 0.8, 0.2])  # box (0, 0, .5, .5), class 0, score .72
    pred[0, 0, 1, 0] = torch.tensor([0.0, 0.5, 0.0, 0.0, 0.8, 0.3, 0.7])  # box (.25, 0, .75, .5), class 1, .56
    pred[0, 1, 1, 0] = torch.tensor([0.5, 0.5, 0.0, 0.0, 0.5, 0.75, 0.25])  # class 0, score .375 (exact)
    out = decode(pred, anchors, score_threshold=0.5, iou_threshold=0.3, max_detections=10)[0]
    torch.testing.assert_close(out["scores"], torch.tensor([0.72, 0.56]))
    assert out["labels"].tolist() == [0, 1]
    torch.testing.assert_close(out["boxes"], torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.25, 0.0, 0.75, 0.5]]))
    # IoU of the two boxes is 1/3 > 0.3: one NMS over all classes keeps only the best (the course).
    assert len(decode(pred, anchors, 0.5, 0.3, 10, class_agnostic=True)[0]["scores"]) == 1
    assert decode(pred, anchors, 0.375, 0.3, 10)[0]["scores"].tolist() == pytest.approx([0.72, 0.56, 0.375])  # >=
    assert decode(pred, anchors, 0.3, 0.3, 2)[0]["scores"].tolist() == pytest.approx([0.72, 0.56])


def reference_loss(raw: torch.Tensor, target: torch.Tensor, l_coord: float, l_noobj: float) -> float:
    """YOLOv1 eq. (3) with YOLOv2 coordinates, one slot at a time."""
    total = 0.0
    for idx in torch.cartesian_prod(*[torch.arange(s) for s in raw.shape[:4]]):
        r, t = raw[tuple(idx)].tolist(), target[tuple(idx)].tolist()
        sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
        probs = torch.tensor(r[5:]).softmax(0).tolist()
        if t[4] == 1:
            coord = (sig(r[0]) - t[0]) ** 2 + (sig(r[1]) - t[1]) ** 2 + (r[2] - t[2]) ** 2 + (r[3] - t[3]) ** 2
            total += l_coord * coord
            total += (sig(r[4]) - 1) ** 2
            total += sum((p - c) ** 2 for p, c in zip(probs, t[5:]))
        else:
            total += l_noobj * sig(r[4]) ** 2
    return total / raw.shape[0]


def test_loss_equals_yolo_v1_formula() -> None:
    targets = random_targets(2, grid=4, seed=1)
    target = encode_targets(targets, ANCHORS, grid_size=4, num_classes=3, image_size=128)
    raw = torch.randn(target.shape, generator=torch.Generator().manual_seed(2))
    loss = YOLOLoss()  # defaults: YOLOv1's lambda_coord = 5, lambda_noobj = 0.5
    assert (loss.lambda_coord, loss.lambda_noobj) == (5.0, 0.5)
    out = loss(raw, target)
    assert out["loss"].item() == pytest.approx(reference_loss(raw, target, 5.0, 0.5), rel=1e-5)
    assert out["loss"].item() == pytest.approx(sum(out[k].item() for k in ("coord", "obj", "noobj", "class")), rel=1e-6)
    assert YOLOLoss(lambda_coord=1, lambda_noobj=2)(raw, target)["loss"].item() == pytest.approx(
        reference_loss(raw, target, 1.0, 2.0), rel=1e-5
    )


def test_loss_ignores_box_and_class_of_empty_slots() -> None:
    target = encode_targets(random_targets(2, grid=4, seed=3), ANCHORS, grid_size=4, num_classes=3, image_size=128)
    raw = torch.randn(target.shape, requires_grad=True)
    for objectness_loss, class_loss in [("mse", "mse"), ("bce", "ce")]:
        YOLOLoss(objectness_loss=objectness_loss, class_loss=class_loss)(raw, target)["loss"].backward()
        empty = target[..., 4] == 0
        assert (raw.grad[empty][:, [0, 1, 2, 3, 5, 6, 7]] == 0).all()  # only objectness is pushed down there
        assert (raw.grad[empty][:, 4] != 0).all() and (raw.grad[~empty] != 0).any()
        raw.grad = None


def test_log_loss_options_equal_torch_losses() -> None:
    target = encode_targets(random_targets(2, grid=4, seed=4), ANCHORS, grid_size=4, num_classes=3, image_size=128)
    raw = torch.randn(target.shape)
    out = YOLOLoss(objectness_loss="bce", class_loss="ce")(raw, target)
    obj = target[..., 4] == 1
    bce = nn.functional.binary_cross_entropy_with_logits(raw[..., 4], target[..., 4], reduction="none")
    assert out["obj"].item() == pytest.approx(bce[obj].sum().item() / 2, rel=1e-6)
    assert out["noobj"].item() == pytest.approx(0.5 * bce[~obj].sum().item() / 2, rel=1e-6)
    ce = nn.functional.cross_entropy(raw[obj][:, 5:], target[obj][:, 5:].argmax(-1), reduction="sum")
    assert out["class"].item() == pytest.approx(ce.item() / 2, rel=1e-6)


def test_model_overfits_one_batch() -> None:
    # The loss is differentiable end to end and its minimum is the encoded truth: training on one
    # batch drives it down, and the decoded boxes (in pixels) land on the objects.
    torch.manual_seed(0)
    dataset = ShapesDataset(size=4, image_size=64, seed=1)
    images = torch.stack([dataset[i][0] for i in range(4)])
    truth = [dataset[i][1] for i in range(4)]
    model = YOLO(num_classes=3)
    target = model.encode_targets(truth, grid_size=(4, 4), image_size=(64, 64))
    loss_fn, optimizer = YOLOLoss(), torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = loss_fn(model(images), target)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
    model.eval()
    detections = model.detect(images, score_threshold=0.05, max_detections=100)
    best = torch.cat([box_iou(d["boxes"], t["boxes"]).amax(0) for d, t in zip(detections, truth)])  # per object
    assert (best > 0.5).float().mean() >= 0.7


def test_shapes_anchors_are_its_kmeans_clusters() -> None:
    dataset = ShapesDataset(size=6000, seed=0)
    wh, count, i = [], 0, 0
    while count < 20000:
        boxes = dataset.target(i)["boxes"]
        wh.append((boxes[:, 2:] - boxes[:, :2]) / dataset.image_size)
        count, i = count + len(boxes), i + 1
    centres = anchor_kmeans(torch.cat(wh)[:20000], k=3)
    torch.testing.assert_close(centres, ANCHORS, atol=1e-4, rtol=0)


def test_anchor_kmeans_recovers_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    truth = torch.tensor([[0.05, 0.1], [0.2, 0.2], [0.5, 0.3]])
    wh = truth.repeat_interleave(200, 0) * (1 + 0.02 * torch.randn(600, 2, generator=g))
    torch.testing.assert_close(anchor_kmeans(wh, k=3), truth, atol=0.005, rtol=0)


def test_bad_input_raises() -> None:
    good = {"boxes": torch.tensor([[10.0, 10, 20, 20]]), "labels": torch.tensor([0])}
    with pytest.raises(ValueError, match="positive size"):
        encode_targets([{"boxes": torch.tensor([[10.0, 10, 10, 20]]), "labels": torch.tensor([0])}], ANCHORS, 4, 3, 128)
    with pytest.raises(ValueError, match="labels must be in"):
        encode_targets([{**good, "labels": torch.tensor([3])}], ANCHORS, 4, 3, 128)
    with pytest.raises(ValueError, match="boxes and"):
        encode_targets([{**good, "labels": torch.tensor([0, 1])}], ANCHORS, 4, 3, 128)
    with pytest.raises(ValueError, match="differ in shape"):
        YOLOLoss()(torch.zeros(1, 4, 4, 3, 8), torch.zeros(1, 4, 4, 3, 9))
    with pytest.raises(ValueError, match="expected"):
        decode(torch.zeros(1, 4, 4, 2, 8), ANCHORS)
    with pytest.raises(ValueError, match="anchors"):
        YOLO(num_classes=3, anchors=[(0.1, -0.1)])
    with pytest.raises(ValueError, match="objectness_loss"):
        YOLOLoss(objectness_loss="focal")
    assert activate(torch.zeros(1, 1, 1, 1, 7))[..., 5:].sum().item() == pytest.approx(1.0)
