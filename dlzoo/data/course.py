"""The course's HDF5 image files (cat / non-cat, SIGNS, ...).

Layout, shared by every such file pair::

    train file: train_set_x uint8 (m, H, W, C), train_set_y int (m,), list_classes bytes (K,)
    test file:  test_set_x, test_set_y, list_classes

``flatten=True`` gives the course's vectors: each image flattened in (H, W, C) order, the order of
``x.reshape(m, -1)`` in the notebooks (this matters once weights are drawn per input feature).
``flatten=False`` gives (C, H, W) tensors for CNNs. ``normalize``: ``scale`` divides by 255 as the
course does; ``standardize`` subtracts the per-channel mean and divides by the standard deviation,
both fitted on the training split only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlzoo.data.base import ClassificationDataModule, Splits
from dlzoo.errors import DlzooError


def require_file(root: str | Path, name: str) -> Path:
    """``root/name``, or a DlzooError saying where it was looked for and how to supply it."""
    path = Path(root).expanduser() / name
    if not path.is_file():
        raise DlzooError(
            f"data file not found: {path}. Put '{name}' in that folder, or point data.root=<folder> "
            f"(or DLZOO_DATA_DIR=<dir> holding course/{name}) at the folder that has it."
        )
    return path


def read_course_h5(path: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``{split}_set_x``, ``{split}_set_y`` and ``list_classes`` of one course HDF5 file."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            x = np.asarray(f[f"{split}_set_x"])
            y = np.asarray(f[f"{split}_set_y"]).reshape(-1)
            classes = [c.decode() if isinstance(c, bytes) else str(c) for c in np.asarray(f["list_classes"])]
    except (OSError, KeyError) as err:
        raise DlzooError(
            f"cannot read {path}: {err}. Expected HDF5 keys {split}_set_x, {split}_set_y and list_classes"
        ) from err
    if x.ndim != 4 or len(x) != len(y) or len(x) == 0:
        raise DlzooError(f"{path}: {split}_set_x has shape {x.shape} and {split}_set_y {y.shape}; expected (m,H,W,C) and (m,)")
    return x, y, classes


class CourseH5DataModule(ClassificationDataModule):
    name = "course_h5"

    def __init__(
        self,
        root: str,
        train_file: str = "train_catvnoncat.h5",
        test_file: str = "test_catvnoncat.h5",
        flatten: bool = True,
        normalize: str = "scale",
        **loader_args,
    ) -> None:
        super().__init__(**loader_args)
        if normalize not in ("scale", "standardize"):
            raise DlzooError(f"data.normalize must be 'scale' or 'standardize', got {normalize!r}")
        self.root, self.train_file, self.test_file = root, train_file, test_file
        self.flatten, self.normalize = flatten, normalize

    def load(self) -> Splits:
        x_train, y_train, classes = read_course_h5(require_file(self.root, self.train_file), "train")
        x_test, y_test, _ = read_course_h5(require_file(self.root, self.test_file), "test")
        x_train, x_test = x_train.astype(np.float64), x_test.astype(np.float64)
        if self.normalize == "scale":
            x_train, x_test = x_train / 255.0, x_test / 255.0
        else:  # statistics of the training split only, per channel
            mean = x_train.mean(axis=(0, 1, 2))
            std = x_train.std(axis=(0, 1, 2)) + 1e-8
            x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
        if self.flatten:
            x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)  # (m, H*W*C)
        else:
            x_train, x_test = x_train.transpose(0, 3, 1, 2), x_test.transpose(0, 3, 1, 2)  # (m, C, H, W)
        return Splits(
            self.tensors(x_train, y_train), tuple(x_train.shape[1:]), classes, test=self.tensors(x_test, y_test)
        )
