"""Detection data without downloads: generated shapes, YOLO-txt and Pascal VOC readers, and box-aware
augmentations. Plain ``torch.utils.data.Dataset``s (no Lightning).

Every dataset item is ``(image, target)``: ``image`` a float tensor (3, H, W) in [0, 1], ``target`` a
dict with ``boxes`` (n, 4) corners (x1, y1, x2, y2) in pixels, continuous coordinates (pixel (r, c)
covers [c, c + 1) x [r, r + 1)), and ``labels`` (n,) int64 class ids. This is torchvision's detection
convention; ``detection_collate`` batches such items.

* ``ShapesDataset``: 1-6 circles, squares and triangles of random colours and sizes on a noisy
  background, overlapping a little. Boxes are exact (the shape's geometric extent). Item i is drawn
  from ``numpy.random.default_rng([seed, i])``: the same item every time, in any worker, any order.
* ``ShapesLocalizationDataset`` / ``ShapesLandmarkDataset``: one shape or none, with the course's
  classification-with-localization target y = [p_c, b_x, b_y, b_h, b_w, c_1..c_K] (course 4 week 3,
  "Object localization") or a triangle's three vertices as landmarks ("Landmark detection").
* ``YoloTxtDataset``: ``images/x.jpg`` with ``labels/x.txt`` lines ``class cx cy w h`` (normalised);
  ``VOCDataset``: ``Annotations/*.xml`` + ``JPEGImages`` (Everingham et al. 2010). VOC stores 1-based
  inclusive pixel indices; we map them to continuous corners as (xmin - 1, ymin - 1, xmax, ymax), like
  Detectron2.
* ``RandomHorizontalFlip``, ``RandomScaleCrop``, ``Resize``: move the boxes with the pixels.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from dlzoo.ops.boxes import clip_boxes

SHAPE_CLASSES = ("circle", "square", "triangle")
VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
    "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

Target = dict[str, Tensor]
Transform = Callable[[Tensor, Target], tuple[Tensor, Target]]


# ----------------------------------------------------------------------------- generated shapes


def _sample_shape(rng: np.random.Generator, label: int, image_size: int, side: float) -> dict:
    """One shape of class ``label`` whose bounding box (side x side, or side x height for a triangle)
    lies inside the image. Triangles: apex on the top (or bottom) edge of the box, base on the other."""
    height = side * rng.uniform(0.75, 1.0) if label == 2 else side
    x1, y1 = rng.uniform(0, image_size - side), rng.uniform(0, image_size - height)
    shape = {"label": label, "box": np.array([x1, y1, x1 + side, y1 + height])}
    if label == 2:
        apex_x = x1 + rng.uniform(0, 1) * side
        top, bottom = (y1, y1 + height) if rng.uniform() < 0.5 else (y1 + height, y1)
        shape["vertices"] = np.array([[apex_x, top], [x1, bottom], [x1 + side, bottom]])
    return shape


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def _mask(shape: dict, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Pixels whose centre lies inside the shape. xs (1, W), ys (H, 1) pixel-centre coordinates."""
    x1, y1, x2, y2 = shape["box"]
    if shape["label"] == 0:  # circle inscribed in its box
        r = (x2 - x1) / 2
        return (xs - (x1 + r)) ** 2 + (ys - (y1 + r)) ** 2 <= r**2
    if shape["label"] == 1:  # axis-aligned square
        return (xs >= x1) & (xs <= x2) & (ys >= y1) & (ys <= y2)
    # triangle: on the inner side of all three edges (edge functions of equal sign)
    v = shape["vertices"]
    edges = [(v[i], v[(i + 1) % 3]) for i in range(3)]
    sides = [(b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]) for a, b in edges]
    return ((sides[0] >= 0) & (sides[1] >= 0) & (sides[2] >= 0)) | ((sides[0] <= 0) & (sides[1] <= 0) & (sides[2] <= 0))


def _render(shapes: list[dict], image_size: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Shapes drawn in order (later ones on top) on a dark background with Gaussian noise -> (3, H, W)."""
    centres = np.arange(image_size) + 0.5
    xs, ys = centres[None, :], centres[:, None]
    image = np.broadcast_to(rng.uniform(0.0, 0.3, (3, 1, 1)), (3, image_size, image_size)).copy()
    for shape in shapes:
        image[:, _mask(shape, xs, ys)] = shape["colour"][:, None]
    image += rng.normal(0.0, noise, image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


class ShapesDataset(Dataset):
    """Generated detection images: ``min_objects``..``max_objects`` circles, squares and triangles
    (labels 0, 1, 2 = ``SHAPE_CLASSES``) with box sides of ``min_size``..``max_size`` x image size.
    A new shape may cover at most ``max_overlap`` of a smaller earlier one's box (intersection over
    the smaller area), so every object stays visible; a shape that finds no such place in 100 tries
    is dropped (rare with the defaults)."""

    def __init__(
        self,
        size: int = 2000,
        image_size: int = 128,
        min_objects: int = 1,
        max_objects: int = 6,
        min_size: float = 0.1,
        max_size: float = 0.3,
        max_overlap: float = 0.3,
        noise: float = 0.03,
        seed: int = 0,
        transform: Transform | None = None,
    ) -> None:
        if not 0 <= min_objects <= max_objects:
            raise ValueError(f"need 0 <= min_objects <= max_objects, got {min_objects}, {max_objects}")
        if not 0 < min_size <= max_size <= 1:
            raise ValueError(f"need 0 < min_size <= max_size <= 1, got {min_size}, {max_size}")
        self.size, self.image_size, self.seed, self.noise = size, image_size, seed, noise
        self.min_objects, self.max_objects = min_objects, max_objects
        self.min_size, self.max_size, self.max_overlap = min_size, max_size, max_overlap
        self.transform = transform
        self.classes = SHAPE_CLASSES

    def __len__(self) -> int:
        return self.size

    def _shapes(self, index: int) -> tuple[list[dict], np.random.Generator]:
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} out of range for {self.size} images")
        rng = np.random.default_rng([self.seed, index])
        shapes: list[dict] = []
        for _ in range(rng.integers(self.min_objects, self.max_objects + 1)):
            label = int(rng.integers(len(SHAPE_CLASSES)))
            side = rng.uniform(self.min_size, self.max_size) * self.image_size
            for _ in range(100):
                shape = _sample_shape(rng, label, self.image_size, side)
                if all(_overlap(shape["box"], other["box"]) <= self.max_overlap for other in shapes):
                    shape["colour"] = rng.uniform(0.4, 1.0, 3)
                    shapes.append(shape)
                    break
        return shapes, rng

    def target(self, index: int) -> Target:
        """The target of item ``index`` without drawing the image (untransformed)."""
        return _to_target(self._shapes(index)[0])

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        shapes, rng = self._shapes(index)
        image = torch.from_numpy(_render(shapes, self.image_size, rng, self.noise))
        target = _to_target(shapes)
        return self.transform(image, target) if self.transform else (image, target)


def _to_target(shapes: list[dict]) -> Target:
    boxes = np.array([s["box"] for s in shapes], dtype=np.float32).reshape(-1, 4)
    return {"boxes": torch.from_numpy(boxes), "labels": torch.tensor([s["label"] for s in shapes], dtype=torch.long)}


class ShapesLocalizationDataset(Dataset):
    """One shape or, with probability ``empty_prob``, none. Item: (image (3, S, S), y (5 + 3,)) with the
    course's y = [p_c, b_x, b_y, b_h, b_w, c_1, c_2, c_3]: centre, height and width as fractions of the
    image, one-hot class; when p_c = 0 the rest is 0 ("don't care")."""

    def __init__(self, size: int = 2000, image_size: int = 64, empty_prob: float = 0.2, seed: int = 0) -> None:
        self.size, self.image_size, self.empty_prob, self.seed = size, image_size, empty_prob, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.seed, index])
        shapes = []
        if rng.uniform() >= self.empty_prob:
            shape = _sample_shape(rng, int(rng.integers(3)), self.image_size, rng.uniform(0.2, 0.6) * self.image_size)
            shape["colour"] = rng.uniform(0.4, 1.0, 3)
            shapes.append(shape)
        image = torch.from_numpy(_render(shapes, self.image_size, rng, 0.03))
        y = torch.zeros(5 + len(SHAPE_CLASSES))
        if shapes:
            x1, y1, x2, y2 = (shapes[0]["box"] / self.image_size).tolist()
            y[:5] = torch.tensor([1.0, (x1 + x2) / 2, (y1 + y2) / 2, y2 - y1, x2 - x1])
            y[5 + shapes[0]["label"]] = 1.0
        return image, y


class ShapesLandmarkDataset(Dataset):
    """One triangle or, with probability ``empty_prob``, none. Item: (image, y (1 + 6,)) with
    y = [p, l1x, l1y, l2x, l2y, l3x, l3y]: presence, then the apex and the two base vertices (left,
    right) as fractions of the image, like the course's face landmarks [face?, l1x, l1y, ...]."""

    def __init__(self, size: int = 2000, image_size: int = 64, empty_prob: float = 0.2, seed: int = 0) -> None:
        self.size, self.image_size, self.empty_prob, self.seed = size, image_size, empty_prob, seed

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([self.seed, index])
        shapes = []
        if rng.uniform() >= self.empty_prob:
            shape = _sample_shape(rng, 2, self.image_size, rng.uniform(0.3, 0.7) * self.image_size)
            shape["colour"] = rng.uniform(0.4, 1.0, 3)
            shapes.append(shape)
        image = torch.from_numpy(_render(shapes, self.image_size, rng, 0.03))
        y = torch.zeros(7)
        if shapes:
            y[0] = 1.0
            y[1:] = torch.from_numpy(shapes[0]["vertices"].reshape(-1) / self.image_size).float()
        return image, y


# ----------------------------------------------------------------------------- file formats


def _load_image(path: Path) -> Tensor:
    with Image.open(path) as img:
        array = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()  # (3, H, W)


class YoloTxtDataset(Dataset):
    """YOLO-txt folders (Darknet / Ultralytics): every image ``images_dir/<name>.<ext>`` has
    ``labels_dir/<name>.txt`` with one ``class cx cy w h`` line per object, coordinates normalised by
    the image width and height. A missing or empty label file means no objects. ``labels_dir``
    defaults to Ultralytics' layout: the ``images`` folder in the path replaced by ``labels``."""

    def __init__(
        self,
        images_dir: str | Path,
        labels_dir: str | Path | None = None,
        class_names: Sequence[str] | None = None,
        transform: Transform | None = None,
    ) -> None:
        self.images_dir = Path(images_dir)
        if labels_dir is None:
            parts = list(self.images_dir.parts)
            if "images" not in parts:
                raise ValueError(f"give labels_dir: no 'images' folder in {self.images_dir} to replace by 'labels'")
            parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
            labels_dir = Path(*parts)
        self.labels_dir = Path(labels_dir)
        self.files = sorted(p for p in self.images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {self.images_dir}")
        self.classes = tuple(class_names) if class_names is not None else None
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        image = _load_image(self.files[index])
        height, width = image.shape[-2:]
        label_file = self.labels_dir / (self.files[index].stem + ".txt")
        rows = []
        if label_file.exists():
            for number, line in enumerate(label_file.read_text().splitlines(), start=1):
                if not line.strip():
                    continue
                fields = line.split()
                if len(fields) != 5:
                    raise ValueError(f"{label_file}:{number}: expected 'class cx cy w h', got {line!r}")
                rows.append([float(f) for f in fields])
        table = torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)
        labels = table[:, 0].long()
        if self.classes is not None and ((labels < 0) | (labels >= len(self.classes))).any():
            raise ValueError(f"{label_file}: class ids must be in 0..{len(self.classes) - 1}, got {labels.tolist()}")
        cx, cy, w, h = (table[:, 1:] * torch.tensor([width, height, width, height])).unbind(-1)
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
        target = {"boxes": boxes, "labels": labels}
        return self.transform(image, target) if self.transform else (image, target)


class VOCDataset(Dataset):
    """Pascal VOC layout: ``root/Annotations/<id>.xml`` and ``root/JPEGImages/<filename>``; the ids
    are those of ``root/ImageSets/Main/<split>.txt`` or, with ``split=None``, every annotation file.
    Targets also carry ``difficult`` (n,) bool; ``keep_difficult=False`` drops those objects."""

    def __init__(
        self,
        root: str | Path,
        split: str | None = None,
        class_names: Sequence[str] = VOC_CLASSES,
        keep_difficult: bool = True,
        transform: Transform | None = None,
    ) -> None:
        self.root = Path(root)
        if split is None:
            self.ids = sorted(p.stem for p in (self.root / "Annotations").glob("*.xml"))
        else:
            self.ids = (self.root / "ImageSets" / "Main" / f"{split}.txt").read_text().split()
        if not self.ids:
            raise ValueError(f"no annotations found under {self.root}")
        self.classes = tuple(class_names)
        self.keep_difficult, self.transform = keep_difficult, transform

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[Tensor, Target]:
        xml_file = self.root / "Annotations" / f"{self.ids[index]}.xml"
        tree = ET.parse(xml_file).getroot()
        boxes, labels, difficult = [], [], []
        for obj in tree.iter("object"):
            name = obj.findtext("name", "").strip()
            if name not in self.classes:
                raise ValueError(f"{xml_file}: unknown class {name!r}; known: {self.classes}")
            hard = obj.findtext("difficult", "0").strip() == "1"
            if hard and not self.keep_difficult:
                continue
            box = obj.find("bndbox")
            if box is None:
                raise ValueError(f"{xml_file}: object {name!r} has no bndbox")
            xmin, ymin, xmax, ymax = (float(box.findtext(k, "nan")) for k in ("xmin", "ymin", "xmax", "ymax"))
            if not all(math.isfinite(v) for v in (xmin, ymin, xmax, ymax)):
                raise ValueError(f"{xml_file}: object {name!r} has an incomplete bndbox")
            boxes.append([xmin - 1, ymin - 1, xmax, ymax])  # 1-based inclusive pixels -> corners
            labels.append(self.classes.index(name))
            difficult.append(hard)
        image = _load_image(self.root / "JPEGImages" / tree.findtext("filename", f"{self.ids[index]}.jpg"))
        target = {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor(labels, dtype=torch.long),
            "difficult": torch.tensor(difficult, dtype=torch.bool),
        }
        return self.transform(image, target) if self.transform else (image, target)


def detection_collate(batch: Sequence[tuple[Tensor, Target]]) -> tuple[Tensor, list[Target]]:
    """Stack equally sized images; keep targets as a list (their box counts differ)."""
    images, targets = zip(*batch)
    sizes = {tuple(image.shape) for image in images}
    if len(sizes) > 1:
        raise ValueError(f"images of different sizes {sorted(sizes)} cannot be stacked; add a Resize transform")
    return torch.stack(images), list(targets)


# ----------------------------------------------------------------------------- augmentations


def _keep(target: Target, keep: Tensor, boxes: Tensor) -> Target:
    """The target restricted to ``keep`` with new boxes; other per-object fields follow."""
    n = len(target["boxes"])
    out = {k: (v[keep] if isinstance(v, Tensor) and v.shape[:1] == (n,) else v) for k, v in target.items()}
    out["boxes"] = boxes[keep]
    return out


class Compose:
    """Apply (image, target) transforms in order."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = list(transforms)

    def __call__(self, image: Tensor, target: Target) -> tuple[Tensor, Target]:
        for transform in self.transforms:
            image, target = transform(image, target)
        return image, target


class RandomHorizontalFlip:
    """Mirror left-right with probability ``p``: x -> W - x, so (x1, x2) -> (W - x2, W - x1)."""

    def __init__(self, p: float = 0.5, generator: torch.Generator | None = None) -> None:
        self.p, self.generator = p, generator

    def __call__(self, image: Tensor, target: Target) -> tuple[Tensor, Target]:
        if torch.rand(1, generator=self.generator).item() >= self.p:
            return image, target
        width = image.shape[-1]
        x1, y1, x2, y2 = target["boxes"].unbind(-1)
        boxes = torch.stack([width - x2, y1, width - x1, y2], dim=-1)
        return image.flip(-1), {**target, "boxes": boxes}


class Resize:
    """Resize to (height, width) (bilinear); boxes scale by the same factors per axis."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, image: Tensor, target: Target) -> tuple[Tensor, Target]:
        height, width = image.shape[-2:]
        resized = F.interpolate(image[None], size=self.size, mode="bilinear", align_corners=False, antialias=True)[0]
        scale = torch.tensor([self.size[1] / width, self.size[0] / height] * 2)
        return resized, {**target, "boxes": target["boxes"] * scale}


class RandomScaleCrop:
    """Zoom by a random factor in ``scale`` (same factor for both axes), then cut (or zero-pad to) an
    ``output_size`` window at a random position. Boxes are scaled, shifted and clipped to the window;
    an object is dropped when less than ``min_visibility`` of its box area remains inside."""

    def __init__(
        self,
        output_size: int | tuple[int, int],
        scale: tuple[float, float] = (0.6, 1.4),
        min_visibility: float = 0.3,
        generator: torch.Generator | None = None,
    ) -> None:
        self.output_size = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
        self.scale, self.min_visibility, self.generator = scale, min_visibility, generator

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand(1, generator=self.generator).item()

    def __call__(self, image: Tensor, target: Target) -> tuple[Tensor, Target]:
        height, width = image.shape[-2:]
        s = self._uniform(*self.scale)
        new_h, new_w = max(1, round(height * s)), max(1, round(width * s))
        image, target = Resize((new_h, new_w))(image, target)
        out_h, out_w = self.output_size
        # Window origin in the zoomed image: >= 0 crops, < 0 pads.
        top = round(self._uniform(min(0, new_h - out_h), max(0, new_h - out_h)))
        left = round(self._uniform(min(0, new_w - out_w), max(0, new_w - out_w)))
        canvas = image.new_zeros(image.shape[0], out_h, out_w)
        src_y, src_x = slice(max(top, 0), min(top + out_h, new_h)), slice(max(left, 0), min(left + out_w, new_w))
        dst_y = slice(src_y.start - top, src_y.stop - top)
        dst_x = slice(src_x.start - left, src_x.stop - left)
        canvas[:, dst_y, dst_x] = image[:, src_y, src_x]
        boxes = target["boxes"] - torch.tensor([left, top, left, top], dtype=torch.float32)
        clipped = clip_boxes(boxes, out_h, out_w)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
        keep = (visible > 0) & (visible / area >= self.min_visibility)  # a ratio: 30 / 100 >= 0.3 holds
        return canvas, _keep(target, keep, clipped)
