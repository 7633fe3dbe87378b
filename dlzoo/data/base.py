"""The base of dlzoo's classification data modules.

A subclass implements ``load()``, returning the splits it has; the base carves a validation split
out of the training data when the source has none, builds the loaders and exposes what a model
must be sized to (``input_shape``, ``num_classes``).

Shuffling is a pure function of (seed, epoch) through ``EpochShuffleSampler``, so a resumed run
sees the same batches as an uninterrupted one. Under DDP, Lightning wraps the sampler in its
``DistributedSamplerWrapper``: each rank takes a disjoint shard of the epoch's order (its positions
reshuffled with ``seed + epoch``), a pure function of (seed, epoch) too.
Random augmentations in DataLoader workers (``num_workers > 0``) are seeded per loader, so they are
not replayed exactly after a resume; with ``num_workers=0`` everything is.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, Subset, TensorDataset, default_collate

from dlzoo.errors import DlzooError


@dataclass
class Splits:
    """What a data source provides. ``val``/``test`` are None when the source has no such split."""

    train: Dataset
    input_shape: tuple[int, ...]
    class_names: list[str]
    val: Dataset | None = None
    test: Dataset | None = None


class TensorBatch(tuple):
    """The tensors of a batch, already assembled; ``collate`` passes it through."""


class BatchedTensorDataset(TensorDataset):
    """A TensorDataset that serves a DataLoader batch with one indexing operation per tensor.

    The DataLoader hands ``__getitems__`` all of a batch's indices (``Subset`` forwards them), so a
    batch costs one gather instead of m ``__getitem__`` calls and a stack: full-batch gradient
    descent on a few hundred examples spends microseconds, not milliseconds, on loading. The whole
    set in its stored order (unshuffled full batch) is the stored tensors themselves, not a copy;
    a training step must not modify its batch in place.
    """

    def __getitems__(self, indices: list[int]) -> TensorBatch:
        if isinstance(indices, list) and len(indices) == len(self) and indices == list(range(len(self))):
            return TensorBatch(self.tensors)
        index = torch.as_tensor(indices)
        return TensorBatch(t[index] for t in self.tensors)


def collate(samples: TensorBatch | list) -> list:
    """A batch from ``BatchedTensorDataset`` as is; anything else through ``default_collate``."""
    return list(samples) if isinstance(samples, TensorBatch) else default_collate(samples)


def tensor_dataset(x: np.ndarray, y: np.ndarray, dtype: str = "float32") -> TensorDataset:
    """Features as ``dtype`` (``float64`` for the course's float64 reproductions), int64 labels."""
    features, labels = torch.as_tensor(x, dtype=getattr(torch, dtype)), torch.as_tensor(y, dtype=torch.long).reshape(-1)
    return BatchedTensorDataset(features, labels)


class EpochShuffleSampler(Sampler[int]):
    """A random permutation of ``range(n)`` drawn from ``seed + epoch``; Lightning calls ``set_epoch``."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n, self.seed, self.epoch = n, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return iter(torch.randperm(self.n, generator=generator).tolist())


class CourseShuffleSampler(EpochShuffleSampler):
    """The course's mini-batch order (C2W2 ``random_mini_batches``): before epoch e = 1, 2, ...
    ``np.random.seed(10 + e)`` then ``np.random.permutation(m)``. Lightning counts epochs from 0,
    so epoch e here uses seed ``seed + e + 1`` with ``seed`` 10."""

    def __iter__(self):
        return iter(np.random.RandomState(self.seed + self.epoch + 1).permutation(self.n).tolist())


SHUFFLES = {"torch": EpochShuffleSampler, "course": CourseShuffleSampler}


def seeded_loader(dataset: Dataset, batch_size: int, seed: int, sampler: Sampler | None, collate_fn,
                  num_workers: int | str = 0, pin_memory: bool | str = "auto", trainer: L.Trainer | None = None
                  ) -> DataLoader:
    """The DataLoader of every dlzoo data module: batches in the sampler's order (a function of seed and
    epoch, so a resumed run sees the same batches), workers and pinning as configured.

    A loader draws a seed for its workers each time it starts iterating. With a generator of its own
    that draw leaves the global RNG (dropout's) alone, so when Lightning starts the iterator (before
    or after the epoch hooks, resumed or not) cannot change the weights.
    """
    workers = loader_workers(num_workers)
    return DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collate_fn,
        generator=torch.Generator().manual_seed(seed), num_workers=workers,
        pin_memory=use_pinned_memory(pin_memory, trainer), persistent_workers=workers > 0,
    )


class NamedSplitLoaders:
    """train/val/test loaders of a data module whose ``_require_setup()`` gives {split name: dataset}
    (val and test optional) and whose ``_loader(dataset, shuffle)`` makes one loader."""

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._require_setup()["train"], shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        val = self._require_setup().get("val")
        return self._loader(val, shuffle=False) if val is not None else []

    def test_dataloader(self) -> DataLoader | list:
        test = self._require_setup().get("test")
        return self._loader(test, shuffle=False) if test is not None else []


def loader_workers(setting: int | str) -> int:
    """A loader's ``num_workers``: ``auto`` gives one worker process per core this process may use, less
    one for the training loop, at most 8 (decoding images in parallel; in-memory tensors want 0)."""
    if setting == "auto":
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        return max(0, min(8, cores - 1))
    if isinstance(setting, int) and setting >= 0:
        return setting
    raise DlzooError(f"data.num_workers must be a count >= 0 or 'auto', got {setting!r}")


def use_pinned_memory(setting: bool | str, trainer: L.Trainer | None) -> bool:
    """A loader's ``pin_memory``: ``auto`` pins host memory when the run trains on CUDA, where pinned
    batches are copied to the device asynchronously; on the CPU pinning would only cost time."""
    if setting == "auto":
        return trainer is not None and trainer.strategy.root_device.type == "cuda"
    if isinstance(setting, bool):
        return setting
    raise DlzooError(f"data.pin_memory must be true, false or 'auto', got {setting!r}")


class ClassificationDataModule(L.LightningDataModule):
    """Shared loader logic.

    Args:
        batch_size: examples per step, or ``full`` for full-batch gradient descent.
        val_fraction: share of the training split held out for validation when the source has no
            validation split; 0 trains on all of it and skips validation.
        seed: seeds the validation split and the per-epoch shuffles.
        shuffle: the per-epoch order of training examples: ``torch`` (a permutation drawn from
            seed + epoch), ``course`` (the course's NumPy order, seed 10 + epoch from 1; use
            ``seed=10``) or ``none`` (always the stored order).
        num_workers: DataLoader worker processes (``auto``: one per available core, less one, at most 8).
        pin_memory: pinned host memory for faster GPU copies (``auto``: when training on CUDA).
        dtype: feature dtype of array-backed sources (``float64`` with ``trainer.precision=64-true``).
    """

    name = "data"

    def __init__(
        self,
        batch_size: int | str = 64,
        val_fraction: float = 0.1,
        seed: int = 0,
        num_workers: int | str = 0,
        pin_memory: bool | str = "auto",
        dtype: str = "float32",
        shuffle: str = "torch",
    ) -> None:
        super().__init__()
        if not (batch_size == "full" or (isinstance(batch_size, int) and batch_size > 0)):
            raise DlzooError(f"data.batch_size must be a positive integer or 'full', got {batch_size!r}")
        if not 0.0 <= val_fraction < 1.0:
            raise DlzooError(f"data.val_fraction must lie in [0, 1), got {val_fraction}")
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        if dtype not in ("float32", "float64"):
            raise DlzooError(f"data.dtype must be 'float32' or 'float64', got {dtype!r}")
        if shuffle not in (*SHUFFLES, "none"):
            raise DlzooError(f"data.shuffle must be one of {[*SHUFFLES, 'none']}, got {shuffle!r}")
        self.num_workers, self.pin_memory, self.dtype, self.shuffle = num_workers, pin_memory, dtype, shuffle
        self.splits: Splits | None = None

    def load(self) -> Splits:
        raise NotImplementedError

    def tensors(self, x: np.ndarray, y: np.ndarray) -> TensorDataset:
        return tensor_dataset(x, y, self.dtype)

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        splits = self.load()
        if len(splits.train) == 0:
            raise DlzooError(f"data '{self.name}' has an empty training split")
        if splits.val is None and self.val_fraction > 0:
            splits.train, splits.val = self._hold_out(splits.train)
        self.splits = splits

    def _hold_out(self, train: Dataset) -> tuple[Dataset, Dataset]:
        n = len(train)
        n_val = max(1, round(self.val_fraction * n))
        if n_val >= n:
            raise DlzooError(f"data.val_fraction={self.val_fraction} leaves no training examples out of {n}")
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed)).tolist()
        return Subset(train, order[n_val:]), Subset(train, order[:n_val])

    def _require_setup(self) -> Splits:
        if self.splits is None:
            self.setup()
        assert self.splits is not None
        return self.splits

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self._require_setup().input_shape)

    @property
    def class_names(self) -> list[str]:
        return list(self._require_setup().class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def net_sizes(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """Sizes a network takes from this data: the value to fill in and the values that fit.

        ``in_features`` is the flattened example size, ``in_channels`` the first axis of an image, and
        ``num_classes`` the number of classes, or 1 for a two-class problem (one sigmoid unit, as in
        the course; 2, a softmax head, fits too).
        """
        shape, classes = self.input_shape, self.num_classes
        return {
            "in_features": (math.prod(shape), (math.prod(shape),)),
            "in_channels": (shape[0], (shape[0],)),
            "num_classes": (1, (1, 2)) if classes == 2 else (classes, (classes,)),
        }

    @property
    def has_validation(self) -> bool:
        return self._require_setup().val is not None

    def checkpoint_metadata(self) -> dict:
        """Plain values a checkpoint needs to use the model on new inputs: the class names and the
        input shape (what dlzoo-export feeds the network)."""
        return {"class_names": self.class_names, "input_shape": list(self.input_shape)}

    def predict_transform(self):
        """PIL image -> model input tensor, for predictions on image files."""
        raise DlzooError(f"data '{self.name}' does not read image files; predictions need image data")

    def _batch(self, dataset: Dataset) -> int:
        return len(dataset) if self.batch_size == "full" else int(self.batch_size)

    def _loader(self, dataset: Dataset, shuffle: bool) -> DataLoader:
        sampler = SHUFFLES[self.shuffle](len(dataset), self.seed) if shuffle and self.shuffle != "none" else None
        return seeded_loader(dataset, self._batch(dataset), self.seed, sampler, collate, self.num_workers,
                             self.pin_memory, self.trainer)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._require_setup().train, shuffle=True)

    def val_dataloader(self) -> DataLoader | list:
        val = self._require_setup().val
        return self._loader(val, shuffle=False) if val is not None else []

    def test_dataloader(self) -> DataLoader | list:
        test = self._require_setup().test
        return self._loader(test, shuffle=False) if test is not None else []

    def eval_dataloaders(self) -> dict[str, DataLoader]:
        """Every split, unshuffled, for the final metrics (training data in eval mode included)."""
        splits = self._require_setup()
        named = {"train": splits.train, "val": splits.val, "test": splits.test}
        return {name: self._loader(ds, shuffle=False) for name, ds in named.items() if ds is not None}
