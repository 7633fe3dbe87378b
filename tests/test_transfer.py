"""Transfer learning works as a mechanism: pretrained features help a new task, and the
fine-tuning experiment runs offline end to end from planted weights."""


import pytest
import torch
import torch.nn.functional as F
import torchvision

from dlzoo.data.digits import DigitsDataModule
from dlzoo.models.lenet import lenet5_course
from dlzoo.models.pretrained import cached_weights_path, freeze_backbone, replace_head
from tests.test_data import make_image_folder


def digits_subset(labels: range, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    dm = DigitsDataModule(val_fraction=0.0)
    dm.setup()
    x, y = getattr(dm.splits, split).tensors
    keep = (y >= labels.start) & (y < labels.stop)
    return x[keep], y[keep] - labels.start  # labels 0..4


def fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float = 3e-3) -> None:
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    generator = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=generator).split(32):
            optimizer.zero_grad()
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    return (model(x).argmax(1) == y).float().mean().item()


def test_pretrained_features_beat_random_features_on_new_classes():
    torch.manual_seed(0)
    source = lenet5_course(in_channels=1, num_classes=5)
    fit(source, *digits_subset(range(0, 5), "train"), epochs=4)  # learn features on digits 0-4

    x_new, y_new = digits_subset(range(5, 10), "train")
    x_test, y_test = digits_subset(range(5, 10), "test")
    few = slice(0, 50)  # a small labelled set for the new task, as in transfer learning

    torch.manual_seed(1)
    transferred = freeze_backbone(replace_head(source, 5))
    fit(transferred, x_new[few], y_new[few], epochs=30)
    torch.manual_seed(1)
    scratch = freeze_backbone(lenet5_course(in_channels=1, num_classes=5))  # same linear head, random frozen features
    fit(scratch, x_new[few], y_new[few], epochs=30)

    # A linear classifier on the frozen features: learned ones separate the new digits far better
    # (measured: 0.61 against 0.31 on the 180 test images of digits 5-9; chance is 0.2).
    transferred_acc, scratch_acc = accuracy(transferred, x_test, y_test), accuracy(scratch, x_test, y_test)
    assert transferred_acc >= scratch_acc + 0.2, (transferred_acc, scratch_acc)


def test_finetune_imagefolder_experiment_runs_offline_from_planted_weights(run, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    planted = cached_weights_path("mobilenet_v2", "IMAGENET1K_V1")
    planted.parent.mkdir(parents=True)
    torch.manual_seed(0)
    reference = torchvision.models.mobilenet_v2()  # random weights stand in for ImageNet's
    torch.save(reference.state_dict(), planted)
    make_image_folder(tmp_path / "images", per_class=6, size=40)

    metrics, out = run(
        "experiment=finetune_imagefolder", f"data.root={tmp_path / 'images'}", "data.num_workers=0",
        "data.batch_size=4", "trainer.max_epochs=1",
    )
    assert {"train/acc", "test/acc"} <= metrics.keys()
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    # the frozen backbone still holds the planted weights; the new head is one sigmoid unit (2 classes)
    assert torch.equal(state["net.stem.0.weight"], reference.state_dict()["features.0.0.weight"])
    assert torch.equal(state["net.stem.1.running_mean"], reference.state_dict()["features.0.1.running_mean"])
    assert state["net.head.fc.weight"].shape == (1, 1280)


def test_finetune_without_weights_says_where_to_put_them(run, tmp_path, monkeypatch):
    from dlzoo.errors import DlzooError

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    make_image_folder(tmp_path / "images", per_class=4, size=40)
    with pytest.raises(DlzooError, match=r"mobilenet_v2-.*\.pth.*TORCH_HOME"):
        run("experiment=finetune_imagefolder", f"data.root={tmp_path / 'images'}", "data.num_workers=0")
