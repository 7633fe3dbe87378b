"""dlzoo.data.shapes: the generated datasets, the YOLO-txt and VOC readers (on tiny folders written
here) and the box-aware augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dlzoo.data.shapes import (
    Compose,
    RandomHorizontalFlip,
    RandomScaleCrop,
    Resize,
    ShapesDataset,
    ShapesLandmarkDataset,
    ShapesLocalizationDataset,
    VOCDataset,
    YoloTxtDataset,
    detection_collate,
)


def pixel_box(mask: torch.Tensor) -> torch.Tensor:
    """Corners of the pixels set in a (H, W) mask, continuous coordinates."""
    rows, cols = torch.where(mask)
    return torch.tensor([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1], dtype=torch.float32)


def test_items_are_deterministic_per_index_and_seed() -> None:
    a, b = ShapesDataset(size=10, seed=3), ShapesDataset(size=10, seed=3)
    later = b[7]
    first = a[7]
    assert torch.equal(first[0], later[0]) and torch.equal(first[1]["boxes"], later[1]["boxes"])
    assert torch.equal(a.target(7)["boxes"], first[1]["boxes"])
    assert not torch.equal(ShapesDataset(size=10, seed=4)[7][0], first[0])
    with pytest.raises(IndexError):
        a[10]


def test_counts_classes_sizes_and_overlap() -> None:
    dataset = ShapesDataset(size=200, image_size=96)
    counts, labels = [], []
    for i in range(len(dataset)):
        target = dataset.target(i)
        boxes = target["boxes"]
        counts.append(len(boxes))
        labels += target["labels"].tolist()
        assert (boxes >= 0).all() and (boxes <= 96).all()
        sides = boxes[:, 2:] - boxes[:, :2]
        assert (sides >= 0.1 * 96 * 0.75 - 1e-4).all() and (sides <= 0.3 * 96 + 1e-4).all()
        for j in range(len(boxes)):
            for k in range(j):
                overlap = torch.min(boxes[j, 2:], boxes[k, 2:]) - torch.max(boxes[j, :2], boxes[k, :2])
                inter = overlap.clamp(min=0).prod()
                assert inter <= 0.3 * min(sides[j].prod(), sides[k].prod()) + 1e-3
    assert min(counts) == 1 and max(counts) == 6
    assert set(labels) == {0, 1, 2}
    assert 0.2 < np.mean(np.array(labels) == 2) < 0.45


def test_boxes_are_exact() -> None:
    # One shape, no noise: the pixels that differ from the background are the shape. Pixels are
    # sampled at their centres, so their extent lies within the geometric box and misses each side by
    # at most half a pixel for circles and squares; a triangle's sharp corner can fall between pixel
    # centres, so there the bound is looser.
    dataset = ShapesDataset(size=100, image_size=64, min_objects=1, max_objects=1, noise=0.0, seed=5)
    for i in range(len(dataset)):
        image, target = dataset[i]
        mask = (image != image[:, :1, :1]).any(0)
        box, label = target["boxes"][0], target["labels"][0].item()
        found = pixel_box(mask)
        assert (found[:2] >= box[:2].floor()).all() and (found[2:] <= box[2:].ceil()).all()
        assert ((found - box).abs() < (0.55 if label < 2 else 2.0)).all(), (label, found, box)


def foreground(image: torch.Tensor) -> torch.Tensor:
    """Pixels far (> 0.2, noise sigma 0.03) from the background colour (the median: shapes cover < half)."""
    background = image.flatten(1).median(1).values[:, None, None]
    return ((image - background).abs() > 0.2).any(0)


def test_localization_and_landmark_targets() -> None:
    localization = ShapesLocalizationDataset(size=40, image_size=64, seed=1)
    present = 0
    for i in range(len(localization)):
        image, y = localization[i]
        assert image.shape == (3, 64, 64) and y.shape == (8,)
        if y[0] == 0:
            assert (y[1:] == 0).all()
            continue
        present += 1
        assert y[5:].sum() == 1
        bx, by, bh, bw = y[1:5].tolist()
        box = torch.tensor([bx - bw / 2, by - bh / 2, bx + bw / 2, by + bh / 2]) * 64
        mask = foreground(image)
        assert ((pixel_box(mask) - box).abs() < 2.0).all()  # 2: sharp triangle corners, see above
    assert 20 < present < 40
    landmarks = ShapesLandmarkDataset(size=20, image_size=64, seed=2)
    for i in range(len(landmarks)):
        image, y = landmarks[i]
        if y[0] == 1:
            vertices = y[1:].reshape(3, 2) * 64
            box = torch.cat([vertices.min(0).values, vertices.max(0).values])
            mask = foreground(image)
            assert ((pixel_box(mask) - box).abs() < 2.0).all()
            assert vertices[1, 1] == vertices[2, 1] and vertices[1, 0] < vertices[2, 0]  # base: left, right


def save_png(image: torch.Tensor, path: Path) -> None:
    array = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    Image.fromarray(array).save(path)


def test_yolo_txt_folder(tmp_path: Path) -> None:
    shapes = ShapesDataset(size=3, image_size=48, seed=7)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for i in range(3):
        image, target = shapes[i]
        image = image[:, :, :40]  # a non-square image: 48 high, 40 wide
        save_png(image, tmp_path / "images" / f"img{i}.png")
        if i == 2:
            continue  # no label file: an image without objects
        boxes = target["boxes"].clamp(max=40)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2 / 40, (boxes[:, 1] + boxes[:, 3]) / 2 / 48
        w, h = (boxes[:, 2] - boxes[:, 0]) / 40, (boxes[:, 3] - boxes[:, 1]) / 48
        rows = zip(target["labels"].tolist(), cx, cy, w, h)
        lines = [f"{c} {x:.6f} {y:.6f} {ww:.6f} {hh:.6f}" for c, x, y, ww, hh in rows]
        (tmp_path / "labels" / f"img{i}.txt").write_text("\n".join(lines) + "\n\n")
    dataset = YoloTxtDataset(tmp_path / "images", class_names=["circle", "square", "triangle"])
    assert len(dataset) == 3
    for i in range(2):
        image, target = dataset[i]
        assert image.shape == (3, 48, 40)
        torch.testing.assert_close(target["boxes"], shapes[i][1]["boxes"].clamp(max=40), atol=1e-3, rtol=0)
        assert torch.equal(target["labels"], shapes[i][1]["labels"])
        torch.testing.assert_close(image, shapes[i][0][:, :, :40], atol=1 / 255, rtol=0)
    assert dataset[2][1]["boxes"].shape == (0, 4)
    (tmp_path / "labels" / "img0.txt").write_text("0 0.5 0.5 0.1\n")
    with pytest.raises(ValueError, match=r"img0.txt:1: expected 'class cx cy w h'"):
        dataset[0]
    (tmp_path / "labels" / "img0.txt").write_text("5 0.5 0.5 0.1 0.1\n")
    with pytest.raises(ValueError, match="class ids must be in 0..2"):
        dataset[0]
    with pytest.raises(ValueError, match="labels_dir"):
        YoloTxtDataset(tmp_path / "labels")


VOC_XML = """<annotation>
  <filename>{name}.jpg</filename>
  <size><width>40</width><height>30</height><depth>3</depth></size>
  <object><name>dog</name><difficult>0</difficult>
    <bndbox><xmin>1</xmin><ymin>2</ymin><xmax>20</xmax><ymax>15</ymax></bndbox></object>
  <object><name>person</name><difficult>1</difficult>
    <bndbox><xmin>11</xmin><ymin>5</ymin><xmax>40</xmax><ymax>30</ymax></bndbox></object>
</annotation>"""


def test_voc_folder(tmp_path: Path) -> None:
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (tmp_path / sub).mkdir(parents=True)
    for name in ("a", "b"):
        (tmp_path / "Annotations" / f"{name}.xml").write_text(VOC_XML.format(name=name))
        Image.new("RGB", (40, 30), (255, 0, 0)).save(tmp_path / "JPEGImages" / f"{name}.jpg")
    (tmp_path / "ImageSets/Main/val.txt").write_text("b\n")
    dataset = VOCDataset(tmp_path)
    assert len(dataset) == 2 and len(VOCDataset(tmp_path, split="val")) == 1
    image, target = dataset[0]
    assert image.shape == (3, 30, 40) and image[0].mean() > 0.95
    # 1-based inclusive pixel indices -> continuous corners: pixels 1..20 are [0, 20)
    assert target["boxes"].tolist() == [[0, 1, 20, 15], [10, 4, 40, 30]]
    assert target["labels"].tolist() == [11, 14]  # dog, person
    assert target["difficult"].tolist() == [False, True]
    easy = VOCDataset(tmp_path, keep_difficult=False)[0][1]
    assert easy["labels"].tolist() == [11] and easy["difficult"].tolist() == [False]
    (tmp_path / "Annotations" / "a.xml").write_text(VOC_XML.format(name="a").replace("dog", "dragon"))
    with pytest.raises(ValueError, match="unknown class 'dragon'"):
        dataset[0]


def rectangle_image(box: list[int], size: tuple[int, int] = (40, 60)) -> tuple[torch.Tensor, dict]:
    """A white rectangle covering exactly the pixels of an integer box on black."""
    image = torch.zeros(3, *size)
    image[:, box[1] : box[3], box[0] : box[2]] = 1.0
    return image, {"boxes": torch.tensor([box], dtype=torch.float32), "labels": torch.tensor([1])}


def test_flip_moves_boxes_with_pixels() -> None:
    image, target = rectangle_image([5, 8, 21, 30])
    flip = RandomHorizontalFlip(p=1.0)
    flipped, moved = flip(image, target)
    assert moved["boxes"].tolist() == [[39, 8, 55, 30]]  # width 60: x -> 60 - x
    assert torch.equal(pixel_box(flipped[0] > 0.5), moved["boxes"][0])
    twice, back = flip(flipped, moved)
    assert torch.equal(twice, image) and torch.equal(back["boxes"], target["boxes"])
    unchanged, same = RandomHorizontalFlip(p=0.0)(image, target)
    assert unchanged is image and same is target


def test_scale_crop_moves_boxes_with_pixels() -> None:
    generator = torch.Generator().manual_seed(0)
    transform = RandomScaleCrop(output_size=(48, 48), scale=(0.5, 1.6), min_visibility=0.3, generator=generator)
    kept = 0
    for trial in range(40):
        image, target = rectangle_image([10 + trial % 20, 6, 34 + trial % 20, 26])
        out, moved = transform(image, target)
        assert out.shape == (3, 48, 48)
        if len(moved["boxes"]):
            kept += 1
            assert moved["labels"].tolist() == [1]
            # The bright pixels (bilinear edges at half intensity) match the moved, clipped box.
            assert ((pixel_box(out[0] > 0.5) - moved["boxes"][0]).abs() <= 1.0).all()
    assert kept > 20


def test_scale_crop_drops_mostly_hidden_objects() -> None:
    # No zoom, a 30-wide window over a 60-wide image, a 10 x 10 object at the right edge: the object
    # is kept exactly when at least 30 % of it (30 pixels) is inside the window.
    generator = torch.Generator().manual_seed(1)
    transform = RandomScaleCrop(output_size=(40, 30), scale=(1.0, 1.0), min_visibility=0.3, generator=generator)
    outcomes = set()
    for _ in range(30):
        out, moved = transform(*rectangle_image([50, 0, 60, 10]))
        visible = int((out[0] > 0.5).sum())
        assert (len(moved["boxes"]) == 1) == (visible >= 30)
        if len(moved["boxes"]):
            assert visible == moved["boxes"][0, 2:].sub(moved["boxes"][0, :2]).prod().item()
        outcomes.add((visible > 0, len(moved["boxes"])))
    assert outcomes >= {(False, 0), (True, 1)}


def test_resize_compose_and_collate() -> None:
    image, target = rectangle_image([6, 4, 30, 20])
    resized, moved = Compose([Resize((20, 30)), RandomHorizontalFlip(p=1.0)])(image, target)
    assert resized.shape == (3, 20, 30)
    assert moved["boxes"].tolist() == [[30 - 15, 2, 30 - 3, 10]]  # halved, then mirrored in width 30
    images, targets = detection_collate([(resized, moved), (resized, moved)])
    assert images.shape == (2, 3, 20, 30) and len(targets) == 2
    with pytest.raises(ValueError, match="different sizes"):
        detection_collate([(resized, moved), (image, target)])
