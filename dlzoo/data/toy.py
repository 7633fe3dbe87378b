"""Generated 2-D toy problems of Courses 1 and 2: planar flower, circles, moons, blobs.

Each split is drawn from its own seed with NumPy's legacy ``RandomState``, which yields exactly the
stream the course gets from ``np.random.seed(seed)`` followed by unseeded NumPy/scikit-learn calls
(C1W3 flower: seed 1; C2W1 circles: train seed 1, test seed 2; C2W2 moons: seed 3).
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets

from dlzoo.data.base import ClassificationDataModule, Splits
from dlzoo.errors import DlzooError


def planar_flower(n_samples: int, rng: np.random.RandomState, petals: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    """The course's two-class "flower" (C1W3 ``load_planar_dataset``), drawn in the course's order.

    For class j in (0, 1), with N = n_samples / 2 points each:
        t = linspace(3.12 j, 3.12 (j + 1), N) + 0.2 randn(N)
        r = a sin(4 t) + 0.2 randn(N)
        x = (r sin t, r cos t)
    """
    n = n_samples // 2
    x = np.zeros((2 * n, 2))
    y = np.zeros(2 * n, dtype=np.int64)
    for j in range(2):
        ix = slice(n * j, n * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + rng.randn(n) * 0.2  # theta
        r = petals * np.sin(4 * t) + rng.randn(n) * 0.2  # radius
        x[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return x, y


def make_toy(name: str, n_samples: int, noise: float, seed: int, centers: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n_samples`` points of problem ``name`` drawn from ``RandomState(seed)``."""
    rng = np.random.RandomState(seed)
    if name == "planar":
        return planar_flower(n_samples, rng)
    if name == "circles":
        return datasets.make_circles(n_samples=n_samples, noise=noise, random_state=rng)
    if name == "moons":
        return datasets.make_moons(n_samples=n_samples, noise=noise, random_state=rng)
    if name == "blobs":
        return datasets.make_blobs(n_samples=n_samples, centers=centers, cluster_std=max(noise, 1e-6), random_state=rng)
    raise DlzooError(f"unknown toy dataset {name!r}; choose planar, circles, moons or blobs")


class ToyDataModule(ClassificationDataModule):
    """A generated 2-D problem; the test split is a separate draw from ``test_seed`` (none when
    ``n_test`` is 0)."""

    def __init__(
        self,
        name: str = "moons",
        n_train: int = 300,
        n_test: int = 100,
        noise: float = 0.2,
        train_seed: int = 1,
        test_seed: int = 2,
        centers: int = 3,
        **loader_args,
    ) -> None:
        super().__init__(**loader_args)
        self.name, self.n_train, self.n_test, self.noise = name, n_train, n_test, noise
        self.train_seed, self.test_seed, self.centers = train_seed, test_seed, centers

    def load(self) -> Splits:
        x, y = make_toy(self.name, self.n_train, self.noise, self.train_seed, self.centers)
        test = None
        if self.n_test > 0:
            test = self.tensors(*make_toy(self.name, self.n_test, self.noise, self.test_seed, self.centers))
        num_classes = self.centers if self.name == "blobs" else 2
        return Splits(self.tensors(x, y), (2,), [str(c) for c in range(num_classes)], test=test)
