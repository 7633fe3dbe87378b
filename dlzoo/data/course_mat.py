"""The course's MATLAB data file of 2-D points (C2W1 "Regularization", ``datasets/data.mat``).

The notebook's ``load_2D_dataset`` reads it with ``scipy.io.loadmat``: ``X`` (m, 2) and ``y`` (m, 1)
train (211 points), ``Xval`` and ``yval`` the test split (200 points); the notebook transposes them
to its (features, examples) layout, dlzoo keeps one example per row. Labels are 0/1.
"""

from __future__ import annotations

import numpy as np

from dlzoo.data.base import ClassificationDataModule, Splits
from dlzoo.data.course import require_file
from dlzoo.errors import DlzooError


def read_course_mat(path, keys: tuple[str, ...] = ("X", "y", "Xval", "yval")) -> list[np.ndarray]:
    """The arrays ``keys`` of a MATLAB file, or a DlzooError naming the file and what it lacks."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        contents = scipy.io.loadmat(path)
    except (OSError, ValueError, MatReadError) as err:
        raise DlzooError(f"cannot read {path}: {err}. Expected a MATLAB .mat file with {list(keys)}") from err
    missing = [k for k in keys if k not in contents]
    if missing:
        raise DlzooError(f"{path} has no {missing}; expected the keys {list(keys)}")
    return [np.asarray(contents[k]) for k in keys]


class CourseMatDataModule(ClassificationDataModule):
    """``X``/``y`` train and ``Xval``/``yval`` test points of a course .mat file (``data.mat``)."""

    name = "course_mat"

    def __init__(self, root: str, file: str = "data.mat", **loader_args) -> None:
        super().__init__(**loader_args)
        self.root, self.file = root, file

    def load(self) -> Splits:
        path = require_file(self.root, self.file)
        x_train, y_train, x_test, y_test = read_course_mat(path)
        for x, y, name in ((x_train, y_train, "X/y"), (x_test, y_test, "Xval/yval")):
            if x.ndim != 2 or len(x) != y.size:
                raise DlzooError(f"{path}: {name} have shapes {x.shape} and {y.shape}; expected (m, d) and (m, 1)")
        classes = [str(c) for c in np.unique(y_train)]
        return Splits(
            self.tensors(x_train.astype(np.float64), y_train.reshape(-1)),
            (x_train.shape[1],),
            classes,
            test=self.tensors(x_test.astype(np.float64), y_test.reshape(-1)),
        )
