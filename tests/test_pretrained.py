"""Pretrained weights (offline, planted in a temporary TORCH_HOME) and fine-tuning helpers (course 4, week 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn

from dlzoo.models import inception, mobilenet, pretrained, resnet
from dlzoo.models.pretrained import (
    ARCHITECTURES,
    PretrainedWeightsNotFoundError,
    cached_weights_path,
    classifiers,
    freeze_backbone,
    load_pretrained,
    param_groups,
    pretrained_transforms,
    replace_head,
)
from dlzoo.models.resnet import resnet50_signs


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def plant(model_name: str, weights: str = "IMAGENET1K_V1", **kwargs) -> nn.Module:
    """Save a randomly initialised torchvision model where its weights would be cached; return it (eval)."""
    torch.manual_seed(0)
    reference = torchvision.models.get_model(model_name, weights=None, **kwargs).eval()
    path = cached_weights_path(model_name, weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(reference.state_dict(), path)
    return reference


def test_cache_path_follows_torch_home(torch_home: Path):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    expected = torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[1]
    assert cached_weights_path("resnet18", "IMAGENET1K_V1") == expected
    assert cached_weights_path("resnet18", "DEFAULT") == cached_weights_path("resnet18", "IMAGENET1K_V1")


@torch.no_grad()
def test_planted_weights_give_torchvision_logits(torch_home: Path):
    plant("resnet18")
    model = load_pretrained("resnet18", "IMAGENET1K_V1").eval()
    # torchvision's own loader reads the same cached file, offline, since it is there.
    expected_model = torchvision.models.resnet18(weights="IMAGENET1K_V1").eval()
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(model(x), expected_model(x))


@torch.no_grad()
def test_planted_googlenet_matches_torchvision(torch_home: Path):
    # torchvision's GoogLeNet weights file holds the aux classifiers and expects re-normalised inputs.
    plant("googlenet", aux_logits=True, init_weights=True)
    model = load_pretrained("googlenet", "IMAGENET1K_V1").eval()
    assert model.transform_input and model.aux_heads is None
    expected_model = torchvision.models.googlenet(weights="IMAGENET1K_V1").eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), expected_model(x))


def test_num_classes_replaces_only_the_head(torch_home: Path):
    reference = plant("mobilenet_v2")
    model = load_pretrained("mobilenet_v2", "IMAGENET1K_V1", num_classes=5)
    assert model.head.fc.out_features == 5
    loaded = mobilenet.from_torchvision_state_dict(reference.state_dict())
    for key, value in model.state_dict().items():
        if not key.startswith("head."):
            assert torch.equal(value, loaded[key]), key


def test_missing_weights_raise_one_clear_error(torch_home: Path, monkeypatch: pytest.MonkeyPatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_pretrained tried to download without allow_download=True")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(PretrainedWeightsNotFoundError) as info:
        load_pretrained("resnet18", "IMAGENET1K_V1")
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    expected = cached_weights_path("resnet18", "IMAGENET1K_V1")
    assert expected.name in message and str(expected.parent) in message
    assert "allow_download=True" in message and "TORCH_HOME" in message and ".pth" in message


def test_download_happens_only_when_allowed(torch_home: Path, monkeypatch: pytest.MonkeyPatch):
    torch.manual_seed(0)
    state = torchvision.models.resnet18().state_dict()
    calls = []

    def fake_download(url: str, model_dir: str, **kwargs):  # stands in for the network
        calls.append(url)
        Path(model_dir).mkdir(parents=True, exist_ok=True)
        torch.save(state, Path(model_dir) / url.rsplit("/", 1)[1])
        return state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fake_download)
    with pytest.raises(PretrainedWeightsNotFoundError):
        load_pretrained("resnet18", "IMAGENET1K_V1")
    assert calls == []
    model = load_pretrained("resnet18", "IMAGENET1K_V1", allow_download=True)
    assert calls == [torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url]
    torch.testing.assert_close(model.stem.conv.weight, state["conv1.weight"])


@torch.no_grad()
def test_local_checkpoints(tmp_path: Path):
    torch.manual_seed(0)
    reference = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 32, 32)

    torchvision_file = tmp_path / "tv.pth"  # torchvision keys
    torch.save(reference.state_dict(), torchvision_file)
    torch.testing.assert_close(load_pretrained("resnet18", str(torchvision_file)).eval()(x), reference(x))

    finetuned = replace_head(load_pretrained("resnet18", str(torchvision_file)), 4).eval()
    dlzoo_file = tmp_path / "finetuned.pth"  # dlzoo keys, 4 classes: the head size comes from the file
    torch.save(finetuned.state_dict(), dlzoo_file)
    torch.testing.assert_close(load_pretrained("resnet18", str(dlzoo_file)).eval()(x), finetuned(x))

    lightning_file = tmp_path / "last.ckpt"  # a dlzoo task checkpoint: the network sits under `net.`
    task_state = {f"net.{k}": v for k, v in finetuned.state_dict().items()} | {"criterion.weight": torch.ones(4)}
    torch.save({"state_dict": task_state, "epoch": 3}, lightning_file)
    torch.testing.assert_close(load_pretrained("resnet18", str(lightning_file)).eval()(x), finetuned(x))

    with pytest.raises(PretrainedWeightsNotFoundError, match="nowhere.pth"):
        load_pretrained("resnet18", str(tmp_path / "nowhere.pth"))
    with pytest.raises(ValueError, match="does not fit"):
        load_pretrained("resnet34", str(dlzoo_file))  # resnet18 weights for a resnet34


@pytest.mark.parametrize(
    "call",
    [
        lambda: load_pretrained("resnet20", "IMAGENET1K_V1"),
        lambda: load_pretrained("resnet18", "IMAGENET21K"),
        lambda: pretrained_transforms("vit_b_16"),
    ],
)
def test_unknown_names_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_transforms_come_from_the_weights():
    transform = pretrained_transforms("resnet18", "IMAGENET1K_V1")
    assert transform.resize_size == [256] and transform.crop_size == [224]
    image = Image.new("RGB", (400, 300), (128, 64, 255))
    out = transform(image)
    assert out.shape == (3, 224, 224)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])  # ImageNet statistics
    expected = (torch.tensor([128, 64, 255]) / 255 - mean) / std
    torch.testing.assert_close(out[:, 100, 100], expected, atol=1e-2, rtol=0)
    assert pretrained_transforms("resnet18", "/some/finetuned.ckpt").crop_size == [224]  # path: DEFAULT's


# --- fine-tuning helpers ---


def test_replace_head_every_architecture():
    for name, arch in ARCHITECTURES.items():
        with torch.device("meta"):
            model = arch.build(**({"aux_logits": True} if name == "googlenet" else {}))
        before = [(n, m.in_features) for n, m in classifiers(model)]
        replace_head(model, 3)
        assert [(n, m.in_features, m.out_features) for n, m in classifiers(model)] == [(n, i, 3) for n, i in before]
        assert len(before) == (3 if name == "googlenet" else 1), name
    with pytest.raises(ValueError):
        replace_head(resnet.resnet18(), 0)
    with pytest.raises(ValueError, match="interface"):
        replace_head(nn.Sequential(nn.Linear(2, 2)), 3)


def test_every_cnn_has_the_interface():
    for build in [*(arch.build for arch in ARCHITECTURES.values()), resnet50_signs]:
        with torch.device("meta"):
            model = build()
        assert isinstance(model.stages, nn.Sequential) and len(model.stages) >= 3
        assert isinstance(model.head, nn.Sequential) and isinstance(model.stem, nn.Module)


@torch.no_grad()
def test_frozen_backbone_keeps_batchnorm_statistics_in_train_mode():
    torch.manual_seed(0)
    model = resnet.resnet18(num_classes=4)
    model.train()
    model(torch.randn(8, 3, 32, 32))  # move the running statistics away from their init
    model.eval()
    x = torch.randn(4, 3, 32, 32)
    expected = model(x)
    original_keys = set(model.state_dict())

    freeze_backbone(model)
    model.train()  # what Lightning does every epoch
    torch.testing.assert_close(model(x), expected)  # BN still uses its running statistics
    assert not any(isinstance(m, nn.BatchNorm2d) for m in [*model.stem.modules(), *model.stages.modules()])
    assert all(not p.requires_grad for p in [*model.stem.parameters(), *model.stages.parameters()])
    assert all(p.requires_grad for p in model.head.parameters())
    # Same keys but the frozen BN counters, and a fresh model loads them: checkpoints stay compatible.
    assert set(model.state_dict()) == {k for k in original_keys if not k.endswith("num_batches_tracked")}
    fresh = resnet.resnet18(num_classes=4)
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.eval()(x), expected)


def test_unfreeze_last_stages_and_lower_backbone_lr():
    torch.manual_seed(0)
    model = freeze_backbone(mobilenet.mobilenet_v2(num_classes=3), unfreeze_last_k_stages=2)
    last_two = [*model.stages[-2].parameters(), *model.stages[-1].parameters()]
    assert all(p.requires_grad for p in last_two)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.stages[-1].modules())  # trainable BN stays BN
    assert not any(p.requires_grad for p in model.stages[-3].parameters())

    groups = param_groups(model, lr=0.1, backbone_lr_mult=0.01)
    assert [(g["name"], g["lr"]) for g in groups] == [("head", 0.1), ("backbone", 0.001)]
    assert {id(p) for p in groups[1]["params"]} == {id(p) for p in last_two}
    grouped = [id(p) for g in groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters() if p.requires_grad)  # disjoint, complete

    frozen_before = {k: v.clone() for k, v in model.stages[:-2].state_dict().items()}
    head_before = model.head.fc.weight.clone()
    optimizer = torch.optim.SGD(groups, momentum=0.9, weight_decay=1e-4)
    model.train()
    nn.functional.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 0])).backward()
    optimizer.step()
    assert all(torch.equal(v, frozen_before[k]) for k, v in model.stages[:-2].state_dict().items())
    assert not torch.equal(model.head.fc.weight, head_before)


def test_googlenet_aux_heads_stay_trainable():
    model = freeze_backbone(inception.googlenet(num_classes=3, aux_logits=True))
    groups = param_groups(model, lr=1e-3)
    assert [g["name"] for g in groups] == ["head"]  # the whole backbone is frozen
    aux = {id(p) for p in model.aux_heads.parameters()}
    assert aux <= {id(p) for p in groups[0]["params"]}


@pytest.mark.parametrize(
    "call",
    [
        lambda: freeze_backbone(resnet.resnet18(), unfreeze_last_k_stages=5),
        lambda: freeze_backbone(resnet.resnet18(), unfreeze_last_k_stages=-1),
        lambda: param_groups(resnet.resnet18(), lr=0.0),
        lambda: param_groups(resnet.resnet18(), lr=0.1, backbone_lr_mult=-1),
        lambda: pretrained.freeze_backbone(nn.Linear(2, 2)),
    ],
)
def test_fine_tuning_bad_input(call):
    with pytest.raises(ValueError):
        call()
