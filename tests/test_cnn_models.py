"""dlzoo's CNNs: equality with torchvision, parameter counts, output shapes of every builder (course 4)."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn

from dlzoo.models import alexnet, inception, mobilenet, resnet, vgg
from dlzoo.models.resnet import Bottleneck, keras_param_count, resnet50_signs

# torchvision name -> (dlzoo builder, key converter, input side): the smallest side that leaves every layer a
# non-empty map (AlexNet needs 63), to keep the tests fast.
EQUIVALENTS: dict[str, tuple[Callable[..., nn.Module], Callable, int]] = {
    "alexnet": (alexnet.alexnet, alexnet.from_torchvision_state_dict, 64),
    **{
        f"vgg{d}{'_bn' if bn else ''}": (
            lambda d=d, bn=bn, **kw: vgg.vgg(d, batch_norm=bn, **kw),
            vgg.from_torchvision_state_dict,
            32,
        )
        for d in (11, 13, 16, 19)
        for bn in (False, True)
    },
    **{
        f"resnet{d}": (getattr(resnet, f"resnet{d}"), resnet.from_torchvision_state_dict, 32)
        for d in resnet.RESNET_LAYERS
    },
    "googlenet": (inception.googlenet, inception.from_torchvision_state_dict, 32),
    "mobilenet_v2": (mobilenet.mobilenet_v2, mobilenet.from_torchvision_state_dict, 32),
}
NUM_CLASSES = 10


def random_torchvision(name: str, **kwargs) -> nn.Module:
    """torchvision's `name` (weights=None) with random weights, in eval mode.

    It is built on the meta device and filled here rather than by torchvision's init, which takes seconds
    for VGG and leaves BatchNorm at the identity and biases at zero: that would hide a misplaced BN or bias.
    """
    with torch.device("meta"):
        model = torchvision.models.get_model(name, weights=None, **kwargs)
    model.to_empty(device="cpu")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = math.sqrt(6 / m.weight[0].numel())  # He-uniform: activations stay O(1) with depth
                m.weight.uniform_(-bound, bound, generator=g)
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.1, 0.1, generator=g)
                m.running_mean.uniform_(-0.1, 0.1, generator=g)
                m.running_var.uniform_(0.5, 1.5, generator=g)
                m.num_batches_tracked.zero_()
    return model.eval()


def dlzoo_from_torchvision(name: str, reference: nn.Module, **kwargs) -> nn.Module:
    """dlzoo's `name` holding `reference`'s weights (built on meta: its own init is not needed here)."""
    build, convert, _ = EQUIVALENTS[name]
    with torch.device("meta"):
        model = build(num_classes=NUM_CLASSES, **kwargs)
    model.load_state_dict(convert(reference.state_dict()), strict=True, assign=True)
    return model.eval()


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", list(EQUIVALENTS))
@torch.no_grad()
def test_same_logits_and_params_as_torchvision(name: str):
    extra = {"aux_logits": True, "init_weights": True} if name == "googlenet" else {}
    reference = random_torchvision(name, num_classes=NUM_CLASSES, **extra)
    model = dlzoo_from_torchvision(name, reference)
    assert n_params(model) == n_params(reference)
    x = torch.randn(2, 3, EQUIVALENTS[name][2], EQUIVALENTS[name][2], generator=torch.Generator().manual_seed(1))
    logits = model(x)
    assert logits.shape == (2, NUM_CLASSES) and logits.abs().max() > 1e-3  # a real signal, not all zeros
    torch.testing.assert_close(logits, reference(x))
    torch.testing.assert_close(model.head(model.stages(model.stem(x))), logits)  # the stem/stages/head interface


def test_googlenet_aux_classifiers_match_torchvision_in_training():
    reference = random_torchvision("googlenet", num_classes=NUM_CLASSES, aux_logits=True, init_weights=True)
    model = dlzoo_from_torchvision("googlenet", reference)
    reference.train()
    model.train()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    torch.manual_seed(2)  # same dropout masks: both run aux1, aux2, then the main dropout
    expected = reference(x)
    torch.manual_seed(2)
    out = model(x)
    torch.testing.assert_close(out.logits, expected.logits)
    torch.testing.assert_close(out.aux1, expected.aux_logits1)
    torch.testing.assert_close(out.aux2, expected.aux_logits2)
    loss = inception.inception_loss(out, torch.tensor([1, 2]))
    ce = nn.functional.cross_entropy
    target = torch.tensor([1, 2])
    torch.testing.assert_close(loss, ce(out.logits, target) + 0.3 * (ce(out.aux1, target) + ce(out.aux2, target)))


def test_googlenet_without_aux_loads_torchvision_weights():
    reference = random_torchvision("googlenet", num_classes=NUM_CLASSES, aux_logits=True, init_weights=True)
    with torch.device("meta"):
        model = inception.googlenet(num_classes=NUM_CLASSES, aux_logits=False)
    state = inception.from_torchvision_state_dict(reference.state_dict(), aux_logits=False)
    model.load_state_dict(state, assign=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference(x))


# --- every builder: output (B, num_classes), with a non-default number of classes and input channels ---

BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "alexnet": alexnet.alexnet,
    **{f"vgg{d}": getattr(vgg, f"vgg{d}") for d in vgg.VGG_BLOCKS},
    **{f"vgg{d}_bn": (lambda d=d, **kw: getattr(vgg, f"vgg{d}")(batch_norm=True, **kw)) for d in vgg.VGG_BLOCKS},
    **{f"resnet{d}": getattr(resnet, f"resnet{d}") for d in resnet.RESNET_LAYERS},
    "resnet50_signs": resnet50_signs,
    "googlenet": inception.googlenet,
    "mobilenet_v2": mobilenet.mobilenet_v2,
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_output_shape(name: str):
    # Shapes are computed on the meta device (no memory, no arithmetic): these are torch's own shape rules.
    with torch.device("meta"):
        model = BUILDERS[name](num_classes=7, in_channels=1).eval()
        out = model(torch.empty(2, 1, 64, 64))
    assert out.shape == (2, 7)


def test_googlenet_training_outputs_shape():
    with torch.device("meta"):
        out = inception.googlenet(num_classes=7).train()(torch.empty(2, 3, 64, 64))
    assert isinstance(out, inception.GoogLeNetOutputs)
    assert out.logits.shape == out.aux1.shape == out.aux2.shape == (2, 7)


@pytest.mark.parametrize("build", [resnet.resnet18, mobilenet.mobilenet_v2, inception.googlenet])
def test_real_training_step(build: Callable[..., nn.Module]):
    torch.manual_seed(0)
    model = build(num_classes=3, in_channels=1).train()
    out = model(torch.randn(2, 1, 32, 32))
    inception.inception_loss(out, torch.tensor([0, 2])).backward()  # plain cross-entropy unless aux outputs
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_vgg_init_real_device():
    torch.manual_seed(0)
    model = vgg.vgg11(num_classes=3, batch_norm=True).eval()
    assert model.head.fc1.weight.std().item() == pytest.approx(0.01, rel=0.05)  # torchvision's N(0, 0.01)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)


# --- the course's ResNet-50 on SIGNS ---


def test_resnet50_signs_keras_param_count():
    with torch.device("meta"):
        model = resnet50_signs()
    assert keras_param_count(model) == 23_600_006  # the course's Keras model.summary()
    assert n_params(model) == 23_546_886  # Keras "trainable"; the other 53,120 are BN moving mean / variance


def test_resnet50_signs_structure_and_shapes():
    with torch.device("meta"):
        model = resnet50_signs().eval()
        blocks = [b for b in model.modules() if isinstance(b, Bottleneck)]
        convolutional = [b for b in blocks if b.shortcut is not None]
        assert len(convolutional) == 4 and len(blocks) - len(convolutional) == 2 + 3 + 5 + 2  # course's layout
        x = model.stem(torch.empty(2, 3, 64, 64))
        assert x.shape == (2, 64, 15, 15)
        shapes = []
        for stage in model.stages:
            x = stage(x)
            shapes.append(tuple(x.shape[1:]))
        assert shapes == [(256, 15, 15), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]
        assert model.head(x).shape == (2, 6)
        with pytest.raises(ValueError, match="64x64"):
            model(torch.empty(1, 3, 32, 32))


# --- bad input ---


@pytest.mark.parametrize(
    "call",
    [
        lambda: resnet.resnet(20),
        lambda: vgg.vgg(12),
        lambda: mobilenet.InvertedResidual(8, 8, stride=3, expand_ratio=6),
        lambda: inception.GoogLeNet(in_channels=1, transform_input=True),
        lambda: vgg.from_torchvision_state_dict({"features.0.weight": torch.zeros(64, 3, 3, 3)}),  # 1 conv: no VGG
        lambda: mobilenet.from_torchvision_state_dict({"fc.weight": torch.zeros(1)}),
        lambda: alexnet.from_torchvision_state_dict({"features.13.weight": torch.zeros(1)}),  # AlexNet has 13 layers
    ],
)
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()
