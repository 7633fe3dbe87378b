"""dlzoo.ops.boxes against torchvision.ops and the course's worked example."""

from __future__ import annotations

import pytest
import torch
import torchvision

from dlzoo.ops.boxes import (
    batched_nms,
    box_area,
    box_cxcywh_to_xyxy,
    box_iou,
    box_xyxy_to_cxcywh,
    clip_boxes,
    elementwise_box_iou,
    fast_batched_nms,
    fast_nms,
    nms,
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The reference NMS runs one small tensor op per kept box; on shared, busy cores intra-op
    threads only add hand-off latency (about 10x here), so these tests use one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_boxes(n: int, seed: int) -> torch.Tensor:
    """Clustered boxes (so that many overlap), a quarter on an integer grid (so that IoU hits
    thresholds such as 1/2 exactly), one in ten of zero width or height, and some exact duplicates."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n // 8 + 1, 2, generator=g) * 200  # cluster centres
    xy = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * 6
    wh = torch.rand(n, 2, generator=g) * 40 + 1
    boxes = torch.cat([xy, xy + wh], dim=1)
    grid = torch.rand(n, generator=g) < 0.25
    boxes[grid] = boxes[grid].round()
    flat = torch.rand(n, generator=g) < 0.1  # zero width or zero height
    boxes[flat, 2] = boxes[flat, 0]
    taller = torch.rand(n, generator=g) < 0.05
    boxes[taller, 3] = boxes[taller, 1]
    dup = torch.randint(n, (n // 20,), generator=g)
    boxes[torch.randint(n, (n // 20,), generator=g)] = boxes[dup]
    return boxes


def tied_scores(n: int, seed: int) -> torch.Tensor:
    """Scores in steps of 1/16: many exact ties."""
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n,), generator=g).float() / 16


def test_course_iou_example() -> None:
    iou = box_iou(torch.tensor([[2.0, 1, 4, 3]]), torch.tensor([[1.0, 2, 3, 4]]))
    assert iou.item() == pytest.approx(1 / 7, abs=1e-7)  # course: 0.14285714285714285


def test_conversions_match_torchvision_and_invert() -> None:
    boxes = random_boxes(1000, seed=0)
    cxcywh = box_xyxy_to_cxcywh(boxes)
    torch.testing.assert_close(cxcywh, torchvision.ops.box_convert(boxes, "xyxy", "cxcywh"))
    torch.testing.assert_close(box_cxcywh_to_xyxy(cxcywh), boxes)
    torch.testing.assert_close(box_cxcywh_to_xyxy(cxcywh), torchvision.ops.box_convert(cxcywh, "cxcywh", "xyxy"))
    assert torch.equal(box_xyxy_to_cxcywh(torch.tensor([2.0, 1, 4, 3])), torch.tensor([3.0, 2, 2, 2]))


def test_box_area_and_clip() -> None:
    boxes = random_boxes(500, seed=1)
    assert torch.equal(box_area(boxes), torchvision.ops.box_area(boxes))
    assert torch.equal(clip_boxes(boxes, 100, 150), torchvision.ops.clip_boxes_to_image(boxes, (100, 150)))


def test_box_iou_equals_torchvision_bitwise() -> None:
    a, b = random_boxes(2000, seed=2), random_boxes(1500, seed=3)
    b[:100] = a[:100]  # identical pairs: IoU exactly 1
    ours, theirs = box_iou(a, b), torchvision.ops.box_iou(a, b)
    nan = theirs.isnan()
    assert nan.any(), "the data must contain pairs of zero-area boxes (torchvision gives 0/0 = NaN)"
    assert (ours[nan] == 0).all()
    assert torch.equal(ours[~nan], theirs[~nan])
    assert ((ours > 0) & (ours < 1)).any() and (ours == 1).any()


def test_elementwise_iou_is_the_diagonal() -> None:
    a, b = random_boxes(3000, seed=4), random_boxes(3000, seed=5)
    expected = torchvision.ops.box_iou(a, b).diagonal().nan_to_num(0.0)
    assert torch.equal(elementwise_box_iou(a, b), expected)


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_equals_torchvision_with_ties(threshold: float) -> None:
    boxes, scores = random_boxes(2000, seed=6), tied_scores(2000, seed=7)
    assert len(scores.unique()) < 20  # exact ties everywhere
    expected = torchvision.ops.nms(boxes, scores, threshold)
    assert 100 < len(expected) < 1900  # suppression actually happened
    assert torch.equal(nms(boxes, scores, threshold), expected)
    assert torch.equal(fast_nms(boxes, scores, threshold), expected)


def test_nms_threshold_is_strict() -> None:
    boxes = torch.tensor([[0.0, 0, 2, 1], [0.0, 0, 1, 1]])  # IoU exactly 1/2
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1] == torchvision.ops.nms(boxes, scores, 0.5).tolist()
    assert nms(boxes, scores, 0.49).tolist() == [0] == torchvision.ops.nms(boxes, scores, 0.49).tolist()


@pytest.mark.parametrize("n", [200, 2000])  # torchvision: offset trick up to 1000 boxes, class loop above
def test_batched_nms_equals_torchvision(n: int) -> None:
    boxes, scores = random_boxes(n, seed=8), tied_scores(n, seed=9)
    classes = torch.randint(0, 5, (n,), generator=torch.Generator().manual_seed(10))
    expected = torchvision.ops.batched_nms(boxes, scores, classes, 0.5)
    ours = batched_nms(boxes, scores, classes, 0.5)
    # Same kept set, same score sequence; torchvision's final sort is not stable, so the order of
    # equal scores may differ. Ours: equal scores in increasing index.
    assert set(ours.tolist()) == set(expected.tolist())
    assert torch.equal(scores[ours], scores[expected])
    assert torch.equal(ours, ours[torch.sort(scores[ours], descending=True, stable=True).indices])
    assert set(fast_batched_nms(boxes, scores, classes, 0.5).tolist()) == set(ours.tolist())
    # Classes are independent: more boxes survive than with class-agnostic NMS.
    assert len(ours) > len(nms(boxes, scores, 0.5))


def test_empty_inputs() -> None:
    empty = torch.zeros(0, 4)
    assert box_iou(empty, random_boxes(5, seed=0)).shape == (0, 5)
    assert nms(empty, torch.zeros(0), 0.5).shape == (0,)
    assert batched_nms(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5).shape == (0,)


def test_bad_input_raises() -> None:
    good = torch.tensor([[0.0, 0, 1, 1]])
    with pytest.raises(ValueError, match="shape"):
        box_iou(torch.zeros(3, 5), good)
    with pytest.raises(ValueError, match="x2 >= x1"):
        box_iou(torch.tensor([[2.0, 0, 1, 1]]), good)
    with pytest.raises(ValueError, match="scores"):
        nms(good, torch.zeros(2), 0.5)
    with pytest.raises(ValueError, match="equal shapes"):
        elementwise_box_iou(good, torch.cat([good, good]))
    with pytest.raises(ValueError, match="last dimension"):
        box_cxcywh_to_xyxy(torch.zeros(2, 3))
