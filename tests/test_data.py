"""Data modules: seeded generation, splits, normalisation, loaders and clear errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from dlzoo.data.base import EpochShuffleSampler
from dlzoo.data.course import CourseH5DataModule
from dlzoo.data.digits import DigitsDataModule
from dlzoo.data.toy import ToyDataModule, make_toy, planar_flower
from dlzoo.data.vision import ImageFolderDataModule, TorchvisionDataModule
from dlzoo.errors import DlzooError


def test_planar_flower_follows_the_course_formula():
    x, y = planar_flower(400, np.random.RandomState(1))
    # the same draws written out as the course's load_planar_dataset does them
    np.random.seed(1)
    n, expected = 200, np.zeros((400, 2))
    for j in range(2):
        t = np.linspace(j * 3.12, (j + 1) * 3.12, n) + np.random.randn(n) * 0.2
        r = 4 * np.sin(4 * t) + np.random.randn(n) * 0.2
        expected[n * j : n * (j + 1)] = np.c_[r * np.sin(t), r * np.cos(t)]
    np.testing.assert_array_equal(x, expected)
    assert (y[:200] == 0).all() and (y[200:] == 1).all()


def test_seeded_toy_draw_equals_global_numpy_seed_then_sklearn():
    from sklearn.datasets import make_moons

    np.random.seed(3)
    x_course, y_course = make_moons(n_samples=300, noise=0.2)
    x, y = make_toy("moons", 300, 0.2, seed=3)
    np.testing.assert_array_equal(x, x_course)
    np.testing.assert_array_equal(y, y_course)


@pytest.mark.parametrize("name,classes", [("moons", 2), ("circles", 2), ("planar", 2), ("blobs", 4)])
def test_toy_module_splits_and_sizes(name, classes):
    dm = ToyDataModule(name=name, n_train=200, n_test=50, centers=classes, val_fraction=0.25, seed=0)
    dm.setup()
    assert dm.input_shape == (2,) and dm.num_classes == classes
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (150, 50, 50)


def test_validation_split_is_disjoint_and_seeded():
    a, b = ToyDataModule(val_fraction=0.2, seed=5), ToyDataModule(val_fraction=0.2, seed=5)
    a.setup(), b.setup()
    assert a.splits.val.indices == b.splits.val.indices
    assert not set(a.splits.val.indices) & set(a.splits.train.indices)
    assert len(a.splits.val) + len(a.splits.train) == 300


def test_full_batch_loader_yields_one_batch():
    dm = ToyDataModule(batch_size="full", val_fraction=0.0)
    batches = list(dm.train_dataloader())
    assert len(batches) == 1 and len(batches[0][0]) == 300
    assert dm.val_dataloader() == []


def test_epoch_shuffle_is_a_function_of_seed_and_epoch():
    sampler = EpochShuffleSampler(50, seed=3)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    sampler.set_epoch(0)
    assert list(sampler) == first and second != first and sorted(second) == list(range(50))


def test_digits_are_centred_on_32x32_and_stratified():
    dm = DigitsDataModule(val_fraction=0.0)
    dm.setup()
    x, _ = dm.splits.train.tensors
    assert dm.input_shape == (1, 32, 32) and dm.num_classes == 10
    assert x.shape[1:] == (1, 32, 32) and x.max() == 1.0
    assert x[:, :, :4].abs().sum() == 0 and x[:, :, 28:].abs().sum() == 0  # 24x24 digit, 4-pixel frame
    assert len(dm.splits.train) + len(dm.splits.test) == 1797 and len(dm.splits.test) == 360
    labels = dm.splits.test.tensors[1]
    assert torch.bincount(labels).min() >= 35  # every class present in proportion


def test_raw_digits_option():
    dm = DigitsDataModule(upscale=1, pad_to=8)
    assert dm.input_shape == (1, 8, 8)


def test_bad_batch_size_is_refused():
    with pytest.raises(DlzooError, match="batch_size"):
        ToyDataModule(batch_size=0)


def test_course_cat_files(data_dir):
    dm = CourseH5DataModule(root=str(data_dir / "course"), val_fraction=0.0, dtype="float64")
    dm.setup()
    x, y = dm.splits.train.tensors
    assert x.shape == (209, 12288) and x.dtype == torch.float64
    assert int(y.sum()) == 72 and int(dm.splits.test.tensors[1].sum()) == 33
    assert dm.class_names == ["non-cat", "cat"]
    import h5py

    with h5py.File(data_dir / "course" / "train_catvnoncat.h5") as f:
        raw = np.asarray(f["train_set_x"])
    # the course's flattening: x.reshape(m, -1) / 255, (H, W, C) order
    np.testing.assert_array_equal(x.numpy(), raw.reshape(209, -1) / 255.0)


def test_course_standardisation_uses_training_statistics_only(data_dir):
    dm = CourseH5DataModule(root=str(data_dir / "course"), flatten=False, normalize="standardize", val_fraction=0.0)
    dm.setup()
    train = dm.splits.train.tensors[0].double()
    assert dm.input_shape == (3, 64, 64)
    assert train.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert (train.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    assert dm.splits.test.tensors[0].double().mean(dim=(0, 2, 3)).abs().max() > 1e-3  # not refitted on test


def test_missing_course_file_names_file_and_folder(tmp_path):
    dm = CourseH5DataModule(root=str(tmp_path))
    with pytest.raises(DlzooError, match=f"data file not found: {tmp_path}/train_catvnoncat.h5.*data.root"):
        dm.setup()


def test_corrupt_course_file_is_reported(tmp_path):
    (tmp_path / "train_catvnoncat.h5").write_bytes(b"not an hdf5 file")
    (tmp_path / "test_catvnoncat.h5").write_bytes(b"")
    with pytest.raises(DlzooError, match="cannot read"):
        CourseH5DataModule(root=str(tmp_path)).setup()


def test_missing_torchvision_dataset_says_how_to_get_it(tmp_path):
    with pytest.raises(DlzooError, match=r"mnist not found under .*data.download=true"):
        TorchvisionDataModule(name="mnist", root=str(tmp_path)).setup()


def make_image_folder(root, classes=("ant", "bee"), per_class=10, size=20):
    rng = np.random.RandomState(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.randint(0, 255, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_split_by_seed(tmp_path):
    make_image_folder(tmp_path)
    dm = ImageFolderDataModule(root=str(tmp_path), image_size=16, val_fraction=0.2, test_fraction=0.1, seed=1)
    dm.setup()
    assert dm.class_names == ["ant", "bee"] and dm.input_shape == (3, 16, 16)
    assert (len(dm.splits.train), len(dm.splits.val), len(dm.splits.test)) == (14, 4, 2)
    used = dm.splits.train.indices + dm.splits.val.indices + dm.splits.test.indices
    assert sorted(used) == list(range(20))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape[1:] == (3, 16, 16)


def test_image_folder_missing_root(tmp_path):
    with pytest.raises(DlzooError, match="image folder not found"):
        ImageFolderDataModule(root=str(tmp_path / "nope")).setup()


def test_random_shift_moves_each_image_within_bounds():
    from dlzoo.data.digits import random_shift

    torch.manual_seed(0)
    images = torch.rand(50, 1, 12, 12)
    images[:, :, :2] = images[:, :, -2:] = images[:, :, :, :2] = images[:, :, :, -2:] = 0  # a 2-pixel frame
    shifted = random_shift(images, 2)
    shifts = []
    for original, moved in zip(images, shifted):
        # the one shift of the 25 possible that reproduces `moved` exactly
        matches = [
            (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
            if torch.equal(torch.roll(original, (dy, dx), dims=(1, 2)), moved)
        ]
        assert len(matches) == 1
        shifts += matches
    assert len(set(shifts)) >= 10  # each image draws its own shift


def test_pinned_memory_auto_follows_the_training_device():
    from types import SimpleNamespace

    from dlzoo.data.base import use_pinned_memory

    on = lambda device: SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device(device)))  # noqa: E731
    assert use_pinned_memory("auto", on("cuda")) is True
    assert use_pinned_memory("auto", on("cpu")) is False
    assert use_pinned_memory("auto", None) is False  # a loader made outside a run
    assert use_pinned_memory(True, on("cpu")) is True and use_pinned_memory(False, on("cuda")) is False
    with pytest.raises(DlzooError, match="pin_memory"):
        use_pinned_memory("yes", on("cpu"))


def test_auto_loader_workers_leave_a_core_for_training(monkeypatch):
    import os

    from dlzoo.data.base import loader_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)), raising=False)
    assert loader_workers("auto") == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert loader_workers("auto") == 8
    assert loader_workers(3) == 3
    with pytest.raises(DlzooError, match="num_workers"):
        loader_workers(-1)
