"""Image datasets from disk: torchvision's MNIST / FashionMNIST / CIFAR-10, and a user's own
``ImageFolder``.

Nothing downloads unless ``download=true`` is passed. A missing dataset raises one DlzooError naming
the folder looked in and the two ways to supply it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Subset
from torchvision import datasets, transforms

from dlzoo.data.base import ClassificationDataModule, Splits
from dlzoo.errors import DlzooError

# Per-channel mean and std of each training split (the values the torchvision references use).
TORCHVISION_SETS = {
    "mnist": (datasets.MNIST, (1, 28, 28), (0.1307,), (0.3081,)),
    "fashion_mnist": (datasets.FashionMNIST, (1, 28, 28), (0.2860,), (0.3530,)),
    "cifar10": (datasets.CIFAR10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class TorchvisionDataModule(ClassificationDataModule):
    """MNIST, FashionMNIST or CIFAR-10 under ``root``; ``pad_to=32`` pads 28x28 digits for LeNet-5.

    ``augment`` adds random crops (padding 4) and horizontal flips to CIFAR-10's training images.
    """

    def __init__(
        self,
        name: str = "mnist",
        root: str = "data",
        download: bool = False,
        pad_to: int | None = None,
        augment: bool = False,
        **loader_args,
    ) -> None:
        super().__init__(**loader_args)
        if name not in TORCHVISION_SETS:
            raise DlzooError(f"unknown torchvision dataset {name!r}; choose one of {sorted(TORCHVISION_SETS)}")
        self.name, self.root, self.download, self.pad_to, self.augment = name, root, download, pad_to, augment

    def _transform(self, augment: bool) -> transforms.Compose:
        _, shape, mean, std = TORCHVISION_SETS[self.name]
        steps: list = []
        if augment and self.augment:
            steps += [transforms.RandomCrop(shape[-1], padding=4), transforms.RandomHorizontalFlip()]
        steps += [transforms.ToTensor(), transforms.Normalize(mean, std)]
        if self.pad_to is not None and self.pad_to > shape[-1]:
            steps.append(transforms.CenterCrop(self.pad_to))  # pads with zeros around the centre
        return transforms.Compose(steps)

    def predict_transform(self) -> transforms.Compose:
        channels = TORCHVISION_SETS[self.name][1][0]
        side = TORCHVISION_SETS[self.name][1][-1]
        resize = [transforms.Grayscale()] if channels == 1 else [transforms.Lambda(lambda im: im.convert("RGB"))]
        return transforms.Compose([*resize, transforms.Resize((side, side)), self._transform(False)])

    def _dataset(self, train: bool, augment: bool = False):
        cls = TORCHVISION_SETS[self.name][0]
        try:
            return cls(self.root, train=train, download=self.download, transform=self._transform(augment))
        except RuntimeError as err:
            raise DlzooError(
                f"{self.name} not found under {Path(self.root).resolve()} ({err}). Pass data.download=true to fetch "
                f"it, or set data.root= (or DLZOO_DATA_DIR) to the folder that holds it."
            ) from err

    def prepare_data(self) -> None:
        if self.download:
            for train in (True, False):
                self._dataset(train)

    def load(self) -> Splits:
        _, shape, _, _ = TORCHVISION_SETS[self.name]
        side = self.pad_to if self.pad_to and self.pad_to > shape[-1] else shape[-1]
        train = self._dataset(True, augment=True)
        classes = list(train.classes)
        val = None
        if self.val_fraction > 0:
            train, val = self._hold_out(train)
            # validation images must not be augmented: the same indices of a plain view of the files
            val = Subset(self._dataset(True, augment=False), val.indices)
        return Splits(train, (shape[0], side, side), classes, val=val, test=self._dataset(False))


class ImageFolderDataModule(ClassificationDataModule):
    """A user's images in ``root/<class name>/<image>``, resized to ``image_size``.

    If ``root`` holds ``train/`` (and optionally ``val/`` and ``test/``) folders, those are the splits;
    otherwise the images of ``root`` are split by ``seed`` into train / val / test with
    ``val_fraction`` and ``test_fraction``. ``mean``/``std`` default to ImageNet's, which suits
    pretrained backbones. ``weights`` (``<torchvision model>.<weights>``, e.g.
    ``mobilenet_v2.IMAGENET1K_V1``) takes the evaluation transform from those weights (their resize,
    crop and normalisation), and trains on random crops of their crop size.
    """

    name = "imagefolder"

    def __init__(
        self,
        root: str,
        image_size: int = 224,
        test_fraction: float = 0.1,
        augment: bool = True,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        weights: str | None = None,
        **loader_args,
    ) -> None:
        super().__init__(**loader_args)
        self.root, self.image_size, self.test_fraction, self.augment = Path(root).expanduser(), image_size, test_fraction, augment
        self.mean, self.std = tuple(mean), tuple(std)
        self.weights_transform = None
        if weights:
            from dlzoo.models.pretrained import pretrained_transforms

            model_name, _, weights_name = weights.rpartition(".")
            self.weights_transform = pretrained_transforms(model_name, weights_name)
            self.image_size = self.weights_transform.crop_size[0]
            self.mean, self.std = tuple(self.weights_transform.mean), tuple(self.weights_transform.std)

    def _transform(self, train: bool) -> transforms.Compose:
        if self.weights_transform is not None and not (train and self.augment):
            return self.weights_transform
        size = self.image_size
        if train and self.augment:
            steps = [transforms.RandomResizedCrop(size, scale=(0.6, 1.0)), transforms.RandomHorizontalFlip()]
        else:
            steps = [transforms.Resize(size), transforms.CenterCrop(size)]
        return transforms.Compose([*steps, transforms.ToTensor(), transforms.Normalize(self.mean, self.std)])

    def predict_transform(self) -> transforms.Compose:
        return transforms.Compose([transforms.Lambda(lambda im: im.convert("RGB")), self._transform(False)])

    def _folder(self, path: Path, train: bool) -> datasets.ImageFolder:
        if not path.is_dir():
            raise DlzooError(f"image folder not found: {path}. Set data.root to a folder of <class>/<image> subfolders")
        try:
            return datasets.ImageFolder(str(path), transform=self._transform(train))
        except (FileNotFoundError, RuntimeError) as err:
            raise DlzooError(f"no images found under {path}: {err}") from err

    def load(self) -> Splits:
        shape = (3, self.image_size, self.image_size)
        if (self.root / "train").is_dir():
            train = self._folder(self.root / "train", True)
            val = self._folder(self.root / "val", False) if (self.root / "val").is_dir() else None
            test = self._folder(self.root / "test", False) if (self.root / "test").is_dir() else None
            return Splits(train, shape, list(train.classes), val=val, test=test)

        plain, augmented = self._folder(self.root, False), self._folder(self.root, True)
        n = len(plain)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        n_test, n_val = round(self.test_fraction * n), round(self.val_fraction * n)
        if n - n_test - n_val < 1:
            raise DlzooError(f"{n} images under {self.root} leave none for training after the val/test split")
        test = Subset(plain, order[:n_test]) if n_test else None
        val = Subset(plain, order[n_test : n_test + n_val]) if n_val else None
        train = Subset(augmented, order[n_test + n_val :])
        return Splits(train, shape, list(plain.classes), val=val, test=test)
