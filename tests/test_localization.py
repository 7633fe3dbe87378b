"""dlzoo.models.localization and dlzoo.ops.sliding_window: the course's masked losses and the
convolutional sliding window."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlzoo.data.shapes import ShapesLandmarkDataset, ShapesLocalizationDataset
from dlzoo.models.localization import (
    LandmarkNet,
    LocalizationNet,
    landmark_loss,
    localization_loss,
    window_classifier,
)
from dlzoo.ops.sliding_window import convolutionalize, sliding_window_predict, sliding_windows


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small tensors and shared, busy cores: intra-op threads only add hand-off latency."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def targets(batch: int, num_classes: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    y = torch.zeros(batch, 5 + num_classes)
    y[:, 0] = (torch.rand(batch, generator=g) < 0.6).float()
    y[:, 1:5] = torch.rand(batch, 4, generator=g)
    y[torch.arange(batch), 5 + torch.randint(0, num_classes, (batch,), generator=g)] = 1.0
    y[y[:, 0] == 0, 1:] = 0.0  # "don't care" entries
    return y


def test_localization_net_shapes_and_custom_backbone() -> None:
    assert LocalizationNet(num_classes=3)(torch.zeros(2, 3, 64, 64)).shape == (2, 8)
    backbone = nn.Sequential(nn.Conv2d(3, 5, 3, stride=2), nn.ReLU())
    assert LocalizationNet(4, backbone=backbone, backbone_channels=5)(torch.zeros(2, 3, 32, 32)).shape == (2, 9)
    assert LandmarkNet(num_landmarks=64)(torch.zeros(1, 3, 64, 64)).shape == (1, 129)  # course: face + 64 points
    with pytest.raises(ValueError, match="backbone_channels"):
        LocalizationNet(3, backbone=backbone)


def test_course_loss_is_masked_squared_error() -> None:
    y = targets(16)
    pred = torch.randn(16, 8)
    y_hat = torch.cat([pred[:, :1].sigmoid(), pred[:, 1:5], pred[:, 5:].softmax(-1)], 1)
    per_example = [
        ((y_hat[i] - y[i]) ** 2).sum() if y[i, 0] == 1 else (y_hat[i, 0] - y[i, 0]) ** 2 for i in range(16)
    ]  # the lecture's two cases
    assert localization_loss(pred, y).item() == pytest.approx(torch.stack(per_example).mean().item(), rel=1e-6)


def test_practical_loss_is_logistic_squared_and_cross_entropy() -> None:
    y = targets(16, seed=1)
    pred = torch.randn(16, 8)
    present = y[:, 0]
    expected = (
        F.binary_cross_entropy_with_logits(pred[:, 0], present, reduction="none")
        + present * ((pred[:, 1:5] - y[:, 1:5]) ** 2).sum(1)
        + present * F.cross_entropy(pred[:, 5:], y[:, 5:].argmax(1), reduction="none")
    ).mean()
    assert localization_loss(pred, y, mode="practical").item() == pytest.approx(expected.item(), rel=1e-6)


@pytest.mark.parametrize("mode", ["course", "practical"])
def test_background_examples_train_only_p_c(mode: str) -> None:
    y = targets(16, seed=2)
    pred = torch.randn(16, 8, requires_grad=True)
    localization_loss(pred, y, mode).backward()
    background = y[:, 0] == 0
    assert background.any() and (~background).any()
    assert (pred.grad[background, 1:] == 0).all() and (pred.grad[background, 0] != 0).all()
    assert (pred.grad[~background, 1:5] != 0).all()


def test_landmark_loss_masks_coordinates() -> None:
    g = torch.Generator().manual_seed(3)
    y = torch.rand(8, 7, generator=g)
    y[:, 0] = torch.tensor([1.0, 0, 1, 0, 1, 1, 0, 1])
    pred = torch.randn(8, 7, generator=g, requires_grad=True)
    loss = landmark_loss(pred, y)
    expected = ((pred[:, 0].sigmoid() - y[:, 0]) ** 2 + y[:, 0] * ((pred[:, 1:] - y[:, 1:]) ** 2).sum(1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert (pred.grad[y[:, 0] == 0, 1:] == 0).all()
    with pytest.raises(ValueError, match="same"):
        landmark_loss(pred, y[:, :5])
    with pytest.raises(ValueError, match="mode"):
        localization_loss(torch.zeros(2, 8), torch.zeros(2, 8), mode="l1")


def test_models_learn_shapes_datasets() -> None:
    # A few Adam steps on one batch of each generated dataset lower the course losses.
    torch.manual_seed(0)
    for dataset, model, loss_fn in [
        (ShapesLocalizationDataset(size=8, seed=0), LocalizationNet(3), localization_loss),
        (ShapesLandmarkDataset(size=8, seed=0), LandmarkNet(3), landmark_loss),
    ]:
        images = torch.stack([dataset[i][0] for i in range(8)])
        y = torch.stack([dataset[i][1] for i in range(8)])
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        losses = []
        for _ in range(20):
            loss = loss_fn(model(images), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.5 * losses[0]


def test_window_classifier_is_the_lecture_network() -> None:
    net = window_classifier(num_classes=4)
    assert net(torch.zeros(1, 3, 14, 14)).shape == (1, 4)
    # conv 5x5x3x16 + 16, FC 400x400 + 400 twice, FC 400x4 + 4
    assert sum(p.numel() for p in net.parameters()) == (5 * 5 * 3 * 16 + 16) + 2 * (400 * 400 + 400) + (400 * 4 + 4)


@pytest.mark.parametrize("size", [(16, 16), (28, 28), (20, 34)])
def test_one_convolutional_pass_equals_cropping_every_window(size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    classifier = window_classifier(num_classes=4).eval()
    convolutional = convolutionalize(classifier, window=14).eval()
    images = torch.randn(2, 3, *size)
    dense = convolutional(images)  # (2, 4, n_h, n_w)
    stride = 2  # the max-pool's
    assert dense.shape == (2, 4, (size[0] - 14) // stride + 1, (size[1] - 14) // stride + 1)  # 16 -> 2 x 2, 28 -> 8 x 8
    naive = sliding_window_predict(classifier, images, window=14, stride=stride)
    torch.testing.assert_close(dense, naive, atol=1e-5, rtol=1e-5)
    # The converted network is a copy: changing it leaves the classifier alone.
    with torch.no_grad():
        convolutional[0].weight.add_(1.0)
    assert not torch.equal(convolutional[0].weight, classifier[0].weight)


def test_sliding_windows_crops() -> None:
    images = torch.arange(2 * 1 * 6 * 7, dtype=torch.float32).reshape(2, 1, 6, 7)
    crops = sliding_windows(images, window=(3, 4), stride=1)
    assert crops.shape == (2, 4, 4, 1, 3, 4)
    assert torch.equal(crops[1, 2, 3], images[1, :, 2:5, 3:7])
    with pytest.raises(ValueError, match="at least"):
        sliding_windows(images, window=8, stride=1)


def test_convolutionalize_rejects_non_elementwise_heads() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 6 * 6, 10), nn.BatchNorm1d(10))
    with pytest.raises(ValueError, match="BatchNorm1d"):
        convolutionalize(net, window=8)
    with pytest.raises(ValueError, match="does not fit"):
        convolutionalize(nn.Sequential(nn.Flatten(), nn.Linear(10, 2)), window=8)
