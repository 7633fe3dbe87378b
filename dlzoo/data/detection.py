"""Data modules of the detection task (course 4 week 3): generated shapes, and a user's YOLO-txt or VOC folder.

Batches are ``(images (B, 3, H, W), targets)`` from ``dlzoo.data.shapes.detection_collate``: ``targets`` a
list of dicts with ``boxes`` (n, 4) corners in pixels of the (resized) image and ``labels`` (n,).

* ``ShapesDataModule``: ``dlzoo.data.shapes.ShapesDataset``, no files. The splits are held out by seed:
  train, val and test draw their images from ``seed``, ``seed + 1_000_003`` and ``seed + 2_000_006``, so
  no image of one split appears in another, and every run with the same seed sees the same images.
* ``DetectionFolderDataModule``: ``data.root=<folder>`` in YOLO-txt layout (``images/`` + ``labels/``,
  Ultralytics or Darknet) or Pascal VOC layout (``Annotations/`` + ``JPEGImages/``). Images are resized
  to ``image_size`` x ``image_size`` (no letterbox: the aspect ratio changes, and the boxes with it).

Training images get box-moving augmentations: a horizontal flip (``flip``) and a random zoom and crop
(``scale_crop``, scale range ``scale``). Augmentations draw from torch's global generator, which the
runner seeds; with ``num_workers=0`` a run is reproducible. Training batches follow
``EpochShuffleSampler`` (a permutation drawn from seed + epoch), so a resumed run sees the same batches.

For the final metrics (metrics.json), ``eval_dataloaders`` measures the training split on its first
``train_eval_size`` images, unaugmented: detection evaluation costs a forward pass and a matching per
image, and the whole training set would dominate the run.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import lightning as L
import torch
import yaml
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from dlzoo.data.base import EpochShuffleSampler, NamedSplitLoaders, seeded_loader
from dlzoo.data.shapes import (
    SHAPE_CLASSES, VOC_CLASSES, Compose, RandomHorizontalFlip, RandomScaleCrop, Resize,
    ShapesDataset, ShapesLandmarkDataset, ShapesLocalizationDataset, Transform, VOCDataset, YoloTxtDataset,
    detection_collate,
)  # fmt: skip
from dlzoo.errors import DlzooError

SPLIT_SEED_OFFSETS = {"train": 0, "val": 1_000_003, "test": 2_000_006}  # primes: no overlap for seeds < 1e6


class DetectionDataModule(NamedSplitLoaders, L.LightningDataModule):
    """Shared loader logic. A subclass implements ``load() -> dict[split, Dataset]`` (``train`` required;
    ``val``, ``test`` optional) given the train and eval transforms, and sets ``self.class_names``."""

    name = "detection"
    collate = staticmethod(detection_collate)

    def __init__(
        self,
        image_size: int = 128,
        batch_size: int = 32,
        flip: bool = True,
        scale_crop: bool = False,
        scale: tuple[float, float] = (0.7, 1.3),
        train_eval_size: int = 300,
        num_workers: int | str = 0,
        pin_memory: bool | str = "auto",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if not (isinstance(batch_size, int) and batch_size > 0):
            raise DlzooError(f"data.batch_size must be a positive integer, got {batch_size!r}")
        if not (isinstance(image_size, int) and image_size >= 16):
            raise DlzooError(f"data.image_size must be an integer >= 16, got {image_size!r}")
        self.image_size, self.batch_size, self.seed = image_size, batch_size, seed
        self.flip, self.scale_crop, self.scale = flip, scale_crop, tuple(scale)
        self.train_eval_size, self.num_workers, self.pin_memory = train_eval_size, num_workers, pin_memory
        self.class_names: list[str] = []
        self.splits: dict[str, Dataset] | None = None

    # ---- what a subclass defines
    def load(self, train_transform: Transform, eval_transform: Transform) -> dict[str, Dataset]:
        raise NotImplementedError

    # ---- transforms
    def resize(self) -> Transform | None:
        """Brings an image to ``image_size`` (None when the source already has that size)."""
        return Resize(self.image_size)

    def train_transform(self) -> Transform:
        steps = [t for t in [self.resize()] if t is not None]
        if self.scale_crop:
            steps.append(RandomScaleCrop(self.image_size, self.scale))
        if self.flip:
            steps.append(RandomHorizontalFlip())
        return Compose(steps)

    def eval_transform(self) -> Transform:
        return Compose([t for t in [self.resize()] if t is not None])

    def predict_transform(self):
        """PIL image -> (3, image_size, image_size) model input, as evaluation images are prepared."""
        return predict_transform(self.image_size)

    # ---- the runner's interface
    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        splits = self.load(self.train_transform(), self.eval_transform())
        if len(splits["train"]) == 0:
            raise DlzooError(f"data '{self.name}' has an empty training split")
        self.splits = splits

    def _require_setup(self) -> dict[str, Dataset]:
        if self.splits is None:
            self.setup()
        assert self.splits is not None
        return self.splits

    @property
    def num_classes(self) -> int:
        self._require_setup()
        return len(self.class_names)

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """``num_classes`` (the detector's K) and ``in_channels`` (RGB)."""
        return {"num_classes": (self.num_classes, (self.num_classes,)), "in_channels": (3, (3,))}

    @property
    def has_validation(self) -> bool:
        return self._require_setup().get("val") is not None

    def checkpoint_metadata(self) -> dict:
        """The class names and the image size the model was trained at, for ``dlzoo-predict``."""
        self._require_setup()
        return {"class_names": list(self.class_names), "image_size": self.image_size}

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = EpochShuffleSampler(len(dataset), self.seed) if shuffle else None
        return seeded_loader(dataset, self.batch_size, self.seed, sampler, self.collate, self.num_workers,
                             self.pin_memory, self.trainer)

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        """train (its first ``train_eval_size`` images, unaugmented), val and test, unshuffled."""
        splits = self._require_setup()
        loaders = {"train": self._loader(self.train_eval_subset(), shuffle=False)}
        loaders.update({name: self._loader(splits[name], shuffle=False) for name in ("val", "test") if splits.get(name) is not None})
        return loaders

    def train_eval_subset(self) -> Dataset:
        raise NotImplementedError


def predict_transform(image_size: int):
    """PIL image -> float tensor (3, image_size, image_size) in [0, 1], bilinear with antialiasing."""
    import numpy as np
    import torch.nn.functional as F

    def transform(image) -> torch.Tensor:
        array = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0  # (H, W, 3)
        x = torch.from_numpy(array).permute(2, 0, 1)[None]  # (1, 3, H, W)
        return F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False, antialias=True)[0]

    return transform


class ShapesDataModule(DetectionDataModule):
    """Generated circles, squares and triangles (``ShapesDataset``): ``train_size`` / ``val_size`` /
    ``test_size`` images of ``image_size`` pixels, each split drawn from its own seed. The remaining
    arguments are ``ShapesDataset``'s and ``DetectionDataModule``'s."""

    name = "shapes"

    def __init__(
        self,
        train_size: int = 3200,
        val_size: int = 300,
        test_size: int = 300,
        min_objects: int = 1,
        max_objects: int = 6,
        min_size: float = 0.1,
        max_size: float = 0.3,
        max_overlap: float = 0.3,
        noise: float = 0.03,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if train_size < 1 or val_size < 0 or test_size < 0:
            raise DlzooError(f"data sizes must be train >= 1, val >= 0, test >= 0, got {train_size}, {val_size}, {test_size}")
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.shape_options = dict(
            min_objects=min_objects, max_objects=max_objects, min_size=min_size, max_size=max_size,
            max_overlap=max_overlap, noise=noise,
        )  # fmt: skip
        self.class_names = list(SHAPE_CLASSES)

    def resize(self) -> None:
        return None  # generated at image_size

    def _dataset(self, split: str, transform: Transform | None) -> ShapesDataset:
        return ShapesDataset(
            self.sizes[split], self.image_size, seed=self.seed + SPLIT_SEED_OFFSETS[split], transform=transform,
            **self.shape_options,
        )  # fmt: skip

    def load(self, train_transform: Transform, eval_transform: Transform) -> dict[str, Dataset]:
        splits: dict[str, Dataset] = {"train": self._dataset("train", train_transform)}
        for split in ("val", "test"):
            if self.sizes[split]:
                splits[split] = self._dataset(split, eval_transform)
        return splits

    def train_eval_subset(self) -> Dataset:
        return Subset(self._dataset("train", None), range(min(self.train_eval_size, self.sizes["train"])))


# ----------------------------------------------------------------------------- a user's folder


def _yolo_class_names(root: Path) -> list[str] | None:
    """Names from ``root/data.yaml`` (Ultralytics: ``names`` list or {id: name}) or ``root/classes.txt``
    / ``root/obj.names`` (Darknet: one name a line); None when there is no such file."""
    data_yaml = root / "data.yaml"
    if data_yaml.is_file():
        names = (yaml.safe_load(data_yaml.read_text()) or {}).get("names")
        if isinstance(names, dict):
            return [str(names[k]) for k in sorted(names)]
        if isinstance(names, list):
            return [str(n) for n in names]
    for name in ("classes.txt", "obj.names"):
        if (root / name).is_file():
            return [line.strip() for line in (root / name).read_text().splitlines() if line.strip()]
    return None


def _yolo_max_label(labels_dir: Path) -> int:
    top = -1
    for file in labels_dir.rglob("*.txt"):
        for line in file.read_text().splitlines():
            if line.strip():
                top = max(top, int(float(line.split()[0])))
    return top


def _voc_names(root: Path, ids: list[str]) -> list[str]:
    """The classes named in the annotations: VOC's 20 in their usual order when they are all VOC classes,
    else the names found, sorted."""
    found = {obj.findtext("name", "").strip() for i in ids for obj in ET.parse(root / "Annotations" / f"{i}.xml").getroot().iter("object")}
    return list(VOC_CLASSES) if found <= set(VOC_CLASSES) else sorted(found)


def write_yolo_folder(root: str | Path, size: int = 64, image_size: int = 128, seed: int = 0) -> Path:
    """Write ``size`` generated shapes images as a YOLO-txt folder: ``root/images/*.png``,
    ``root/labels/*.txt`` (``class cx cy w h``, normalised) and ``root/classes.txt``. Returns ``root``."""
    from PIL import Image

    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("".join(f"{name}\n" for name in SHAPE_CLASSES))
    for i, (image, target) in enumerate(ShapesDataset(size, image_size, seed=seed)):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype("uint8")  # (H, W, 3)
        Image.fromarray(pixels).save(root / "images" / f"{i:05d}.png")
        x1, y1, x2, y2 = (target["boxes"] / image_size).unbind(-1)
        rows = zip(target["labels"].tolist(), ((x1 + x2) / 2).tolist(), ((y1 + y2) / 2).tolist(), (x2 - x1).tolist(), (y2 - y1).tolist())
        (root / "labels" / f"{i:05d}.txt").write_text("".join(f"{k} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}\n" for k, cx, cy, w, h in rows))
    return root


class DetectionFolderDataModule(DetectionDataModule):
    """A user's detection data, ``format=yolo`` or ``format=voc``, under ``root``.

    YOLO-txt: ``root/images/<split>/*.jpg`` with ``root/labels/<split>/*.txt`` (Ultralytics; splits
    ``train``, ``val``, ``test``, val and test optional), or flat ``root/images`` + ``root/labels``.
    Class names: ``class_names``, else ``root/data.yaml`` ``names``, else ``root/classes.txt`` or
    ``obj.names``, else ``0..max id``.
    VOC: ``root/Annotations/*.xml`` + ``root/JPEGImages``; splits from ``root/ImageSets/Main/<split>.txt``
    when ``train.txt`` is there. Class names: ``class_names``, else the names in the annotations.
    A source without val/test splits is split by seed: ``val_fraction`` and ``test_fraction`` of its images.
    ``root=null`` writes a demo folder of ``demo_size`` generated shapes images (YOLO txt) into
    ``demo_dir`` first and reads that: the experiment runs as is, and shows the layout it expects.
    """

    name = "yolo_folder"

    def __init__(
        self,
        root: str | None,
        format: str = "yolo",
        class_names: list[str] | None = None,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        image_size: int = 256,
        demo_dir: str = "yolo_demo",
        demo_size: int = 64,
        **kwargs,
    ) -> None:
        super().__init__(image_size=image_size, **kwargs)
        if format not in ("yolo", "voc"):
            raise DlzooError(f"data.format must be 'yolo' or 'voc', got {format!r}")
        if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1 and val_fraction + test_fraction < 1):
            raise DlzooError(f"data.val_fraction and data.test_fraction must be in [0, 1) with a sum < 1, got {val_fraction}, {test_fraction}")
        if root is None and format != "yolo":
            raise DlzooError("data.root is required for data.format=voc: set data.root=<folder with Annotations/ and JPEGImages/>")
        self.demo = root is None
        self.root = Path(demo_dir if root is None else root).expanduser()
        self.format, self.given_names, self.demo_size = format, class_names, demo_size
        self.val_fraction, self.test_fraction = val_fraction, test_fraction
        self._train_eval: Dataset | None = None

    def _require(self, path: Path, what: str) -> Path:
        if not path.exists():
            layout = (
                "images/ and labels/ (YOLO txt: one 'class cx cy w h' line per object), or images/train and labels/train"
                if self.format == "yolo" else "Annotations/*.xml and JPEGImages/ (Pascal VOC)"
            )  # fmt: skip
            raise DlzooError(
                f"{what} not found: {path.name} in the folder {path.parent}. data.root must hold {layout}; "
                f"set data.root=<folder> (and data.format=yolo|voc)."
            )
        return path

    def _sources(self, transform: Transform) -> dict[str, Dataset]:
        """The splits the folder itself has, each read with ``transform``."""
        self._require(self.root, "data.root")
        if self.format == "yolo":
            images = self._require(self.root / "images", "the images folder")
            labels = self._require(self.root / "labels", "the labels folder")
            names = self.class_names
            if (images / "train").is_dir():
                return {
                    split: YoloTxtDataset(images / split, labels / split, names, transform)
                    for split in ("train", "val", "test") if (images / split).is_dir()
                }  # fmt: skip
            return {"all": YoloTxtDataset(images, labels, names, transform)}
        self._require(self.root / "Annotations", "the Annotations folder")
        if (self.root / "ImageSets" / "Main" / "train.txt").is_file():
            return {
                split: VOCDataset(self.root, split, self.class_names, transform=transform)
                for split in ("train", "val", "test") if (self.root / "ImageSets" / "Main" / f"{split}.txt").is_file()
            }  # fmt: skip
        return {"all": VOCDataset(self.root, None, self.class_names, transform=transform)}

    def _find_class_names(self) -> list[str]:
        if self.given_names:
            return [str(n) for n in self.given_names]
        if self.format == "yolo":
            self._require(self.root / "images", "the images folder")
            names = _yolo_class_names(self.root)
            if names is None:
                names = [str(k) for k in range(_yolo_max_label(self._require(self.root / "labels", "the labels folder")) + 1)]
            return names
        ids = sorted(p.stem for p in self._require(self.root / "Annotations", "the Annotations folder").glob("*.xml"))
        return _voc_names(self.root, ids)

    def prepare_data(self) -> None:
        if self.demo and not (self.root / "images").is_dir():
            write_yolo_folder(self.root, self.demo_size, seed=self.seed)

    def load(self, train_transform: Transform, eval_transform: Transform) -> dict[str, Dataset]:
        self.prepare_data()
        self.class_names = self._find_class_names()
        if not self.class_names:
            raise DlzooError(f"no classes found under {self.root}: give data.class_names=[...]")
        try:
            train_src, eval_src, plain_src = (self._sources(t) for t in (train_transform, eval_transform, self.eval_transform()))
        except ValueError as err:  # the readers' messages name the file
            raise DlzooError(str(err)) from err
        if "all" not in train_src:
            splits: dict[str, Dataset] = {"train": train_src["train"]}
            splits.update({s: eval_src[s] for s in ("val", "test") if s in eval_src})
            self._train_eval = plain_src["train"]
            return splits
        n = len(train_src["all"])
        n_val, n_test = round(self.val_fraction * n), round(self.test_fraction * n)
        if n_val + n_test >= n:
            raise DlzooError(f"{n} images leave none for training with val_fraction={self.val_fraction}, test_fraction={self.test_fraction}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        val, test, train = order[:n_val], order[n_val : n_val + n_test], order[n_val + n_test :]
        splits = {"train": Subset(train_src["all"], train)}
        if val:
            splits["val"] = Subset(eval_src["all"], val)
        if test:
            splits["test"] = Subset(eval_src["all"], test)
        self._train_eval = Subset(plain_src["all"], train)
        return splits

    def train_eval_subset(self) -> Dataset:
        self._require_setup()
        assert self._train_eval is not None
        return Subset(self._train_eval, range(min(self.train_eval_size, len(self._train_eval))))



# ----------------------------------------------------------------------------- one object: localization, landmarks


class ShapesLocalizationDataModule(DetectionDataModule):
    """Course 4 week 3's "classification with localization" (``kind=localization``: one shape or none, y =
    [p_c, b_x, b_y, b_h, b_w, c_1..c_3]) or "landmark detection" (``kind=landmarks``: one triangle or none,
    y = [p, l1x, l1y, l2x, l2y, l3x, l3y]), generated (``ShapesLocalizationDataset`` /
    ``ShapesLandmarkDataset``); splits held out by seed as in ``ShapesDataModule``. Batches are
    ``(images (B, 3, S, S), y (B, D))``; no augmentation (the targets are fractions of the image)."""

    name = "shapes_localization"
    collate = staticmethod(default_collate)  # (image, y) pairs stack

    def __init__(self, kind: str = "localization", train_size: int = 2000, val_size: int = 300, test_size: int = 300,
                 image_size: int = 64, empty_prob: float = 0.2, **kwargs) -> None:
        super().__init__(image_size=image_size, flip=False, **kwargs)
        if kind not in ("localization", "landmarks"):
            raise DlzooError(f"data.kind must be 'localization' or 'landmarks', got {kind!r}")
        self.kind, self.empty_prob = kind, empty_prob
        self.sizes = {"train": train_size, "val": val_size, "test": test_size}
        self.class_names = list(SHAPE_CLASSES) if kind == "localization" else ["triangle"]

    def _dataset(self, split: str) -> Dataset:
        cls = ShapesLocalizationDataset if self.kind == "localization" else ShapesLandmarkDataset
        return cls(self.sizes[split], self.image_size, self.empty_prob, seed=self.seed + SPLIT_SEED_OFFSETS[split])

    def load(self, train_transform: Transform, eval_transform: Transform) -> dict[str, Dataset]:
        return {split: self._dataset(split) for split in ("train", "val", "test") if self.sizes[split]}

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """``num_classes`` (localization) or ``num_landmarks`` (3: a triangle's vertices)."""
        return {"num_classes": (3, (3,)), "num_landmarks": (3, (3,)), "in_channels": (3, (3,))}

    def train_eval_subset(self) -> Dataset:
        return Subset(self._dataset("train"), range(min(self.train_eval_size, self.sizes["train"])))
