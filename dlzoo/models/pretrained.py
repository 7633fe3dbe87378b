"""Pretrained weights and fine-tuning for dlzoo's CNNs (course 4, week 2: transfer learning).

The CNN interface. Every CNN in dlzoo.models (AlexNet, VGG, ResNet, ResNet50Signs, GoogLeNet, MobileNetV2)
has three parts and runs them in order, `forward(x) = head(stages(stem(x)))` in eval mode (GoogLeNet with
`transform_input` re-normalises x first):

    model.stem       nn.Module      input layers before the first stage (nn.Identity for VGG)
    model.stages     nn.Sequential  the body, one named child per stage, from input to output
    model.head       nn.Sequential  pooling and classifier; its last nn.Linear outputs the num_classes logits
    model.aux_heads  nn.ModuleDict | None, GoogLeNet only: extra classifiers used in training

The backbone is `stem` + `stages`; everything else (head, aux_heads) is the head side. `classifiers(model)`
lists the final Linear layers that `replace_head` swaps.

Weights. `load_pretrained(name, weights)` takes a torchvision weights name (`"IMAGENET1K_V1"`, `"DEFAULT"`)
or a local `.pth` / `.pt` / `.ckpt` path. A weights name is looked up in the torch hub cache,
`torch.hub.get_dir()/checkpoints/<file name of the weights URL>` (`$TORCH_HOME/hub/checkpoints` when
TORCH_HOME is set), the same file torchvision reads; it is downloaded only with `allow_download=True`, and
otherwise a missing file raises `PretrainedWeightsNotFoundError` naming the file, the folder and the ways to
supply it. torchvision-format state_dicts are converted with the architecture's `from_torchvision_state_dict`;
dlzoo-format ones (and Lightning checkpoints of dlzoo tasks, whose network sits under `net.`) load as they are.
`pretrained_transforms` gives the weights' preprocessing (resize, center crop, normalisation).

Fine-tuning. `replace_head` swaps the final Linear layer(s) for `num_classes`; `freeze_backbone` stops the
gradients of the backbone, except its last k stages, and replaces the frozen part's BatchNorm layers by
`torchvision.ops.FrozenBatchNorm2d`, so their statistics stay fixed even after `model.train()` (as the
course's Keras `base_model.trainable = False` with `training=False` does); `param_groups` gives the backbone a
smaller learning rate. Why it works: early layers learn generic features (edges, textures) that transfer
across tasks, later ones grow task-specific (Yosinski et al., "How transferable are features in deep neural
networks?", NeurIPS 2014), so the less target data there is, the more of the backbone stays frozen.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision
from torch import Tensor, nn
from torchvision.ops import FrozenBatchNorm2d

from dlzoo.models import alexnet, inception, mobilenet, resnet, vgg

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt")


@dataclass(frozen=True)
class Architecture:
    build: Callable[..., nn.Module]
    convert: Callable[[Mapping[str, Tensor], nn.Module], dict[str, Tensor]]  # torchvision keys -> dlzoo keys
    pretrained_kwargs: dict[str, Any] = field(default_factory=dict)  # what torchvision sets with its weights


def _vgg_builder(depth: int, batch_norm: bool) -> Callable[..., nn.Module]:
    return lambda **kwargs: vgg.vgg(depth, batch_norm=batch_norm, **kwargs)


def _resnet_builder(depth: int) -> Callable[..., nn.Module]:
    return lambda **kwargs: resnet.resnet(depth, **kwargs)


# torchvision model name -> dlzoo architecture
ARCHITECTURES: dict[str, Architecture] = {
    "alexnet": Architecture(alexnet.alexnet, lambda sd, model: alexnet.from_torchvision_state_dict(sd)),
    **{
        f"vgg{depth}{'_bn' if bn else ''}": Architecture(
            _vgg_builder(depth, bn), lambda sd, model: vgg.from_torchvision_state_dict(sd)
        )
        for depth in vgg.VGG_BLOCKS
        for bn in (False, True)
    },
    **{
        f"resnet{depth}": Architecture(_resnet_builder(depth), lambda sd, model: resnet.from_torchvision_state_dict(sd))
        for depth in resnet.RESNET_LAYERS
    },
    # torchvision's GoogLeNet weights expect re-normalised inputs; their aux classifiers were not trained.
    "googlenet": Architecture(
        inception.googlenet,
        lambda sd, model: inception.from_torchvision_state_dict(sd, aux_logits=model.aux_heads is not None),
        {"transform_input": True, "aux_logits": False},
    ),
    "mobilenet_v2": Architecture(mobilenet.mobilenet_v2, lambda sd, model: mobilenet.from_torchvision_state_dict(sd)),
}


class PretrainedWeightsNotFoundError(FileNotFoundError):
    """The weights file is neither in the torch hub cache nor at the given path."""


def _architecture(model_name: str) -> Architecture:
    if model_name not in ARCHITECTURES:
        raise ValueError(f"unknown model {model_name!r}; pretrained weights exist for {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[model_name]


def is_checkpoint_path(weights: str | os.PathLike) -> bool:
    """A local file (ends in .pth / .pt / .ckpt or contains a path separator) rather than a weights name."""
    text = os.fspath(weights)
    return text.endswith(CHECKPOINT_SUFFIXES) or os.sep in text or "/" in text


def resolve_weights(model_name: str, weights: str) -> torchvision.models.WeightsEnum:
    """torchvision's weights entry `weights` (e.g. "IMAGENET1K_V1", "DEFAULT") of `model_name`."""
    _architecture(model_name)
    enum = torchvision.models.get_model_weights(model_name)
    name = weights.rpartition(".")[2]  # also accept "ResNet18_Weights.IMAGENET1K_V1"
    if name not in enum.__members__:
        raise ValueError(f"unknown weights {weights!r} for {model_name}; expected one of {list(enum.__members__)}")
    return enum[name]


def cached_weights_path(model_name: str, weights: str) -> Path:
    """Where torchvision keeps `weights`: torch.hub.get_dir()/checkpoints/<file name of its URL>."""
    url = resolve_weights(model_name, weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(url).path).name


def pretrained_transforms(model_name: str, weights: str | os.PathLike = "DEFAULT") -> Callable[[Any], Tensor]:
    """The preprocessing of `weights` (resize, center crop, ImageNet normalisation), as torchvision defines it.

    For a local checkpoint path, those of the architecture's DEFAULT weights, which it was presumably
    fine-tuned from.
    """
    name = "DEFAULT" if is_checkpoint_path(weights) else str(weights)
    return resolve_weights(model_name, name).transforms()


def _weights_file(model_name: str, weights: str | os.PathLike, allow_download: bool) -> Path:
    if is_checkpoint_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise PretrainedWeightsNotFoundError(f"weights file {path} for {model_name} does not exist")
        return path
    weights = os.fspath(weights)
    entry = resolve_weights(model_name, weights)
    path = cached_weights_path(model_name, weights)
    if path.is_file():
        return path
    if not allow_download:
        raise PretrainedWeightsNotFoundError(
            f"{model_name} weights {weights} are not in the torch hub cache: expected the file {path.name} in the "
            f"folder {path.parent} (torch.hub.get_dir()/checkpoints; set TORCH_HOME to use another cache). "
            f"Supply it by allowing the download once (allow_download=True), by copying {entry.url} there, "
            f"or by passing a local .pth/.ckpt path as the weights."
        )
    torch.hub.load_state_dict_from_url(entry.url, model_dir=str(path.parent), map_location="cpu", check_hash=True)
    return path


def _read_state_dict(path: Path, trusted: bool, checkpoint_prefix: str) -> dict[str, Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trusted)
    except pickle.UnpicklingError as err:
        raise ValueError(
            f"{path} holds more than tensors and cannot be loaded safely; pass trusted=True if you trust it"
        ) from err
    if isinstance(obj, Mapping) and "state_dict" in obj:  # a Lightning checkpoint: keep the network's entries
        prefix = checkpoint_prefix
        state = {k[len(prefix) :]: v for k, v in obj["state_dict"].items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f"no key of the checkpoint {path} starts with {checkpoint_prefix!r}")
        return state
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return dict(obj)


def load_pretrained(
    model_name: str,
    weights: str | os.PathLike,
    num_classes: int | None = None,
    *,
    allow_download: bool = False,
    trusted: bool = False,
    checkpoint_prefix: str = "net.",
    **model_kwargs: Any,
) -> nn.Module:
    """Build dlzoo's `model_name` (a torchvision model name) and load `weights` into it.

    weights: a torchvision weights name of that model ("IMAGENET1K_V1", "DEFAULT"), read from the torch hub
        cache, or a path to a .pth/.pt state_dict (torchvision or dlzoo keys) or a Lightning .ckpt whose
        task keeps the network under `checkpoint_prefix`.
    num_classes: if given and different from the weights' classes, the head is replaced (new, random).
    allow_download: fetch missing torchvision weights from their URL into the cache.
    trusted: unpickle non-tensor objects too (only for files you trust).
    model_kwargs: passed to the builder (e.g. aux_logits=True for googlenet). With a weights name, the
        builder arguments torchvision uses with those weights come first (googlenet: transform_input=True,
        aux_logits=False); a local file gets only model_kwargs, so pass transform_input=True for a
        GoogLeNet fine-tuned from torchvision's weights.
    """
    arch = _architecture(model_name)
    path = _weights_file(model_name, weights, allow_download)
    kwargs = model_kwargs if is_checkpoint_path(weights) else {**arch.pretrained_kwargs, **model_kwargs}
    model = arch.build(**kwargs)
    state = _read_state_dict(path, trusted, checkpoint_prefix)
    if not set(state) <= set(model.state_dict()):  # not dlzoo keys: torchvision's
        state = arch.convert(state, model)
    head_name, head_fc = classifiers(model)[0]
    saved_classes = state[f"{head_name}.weight"].shape[0] if f"{head_name}.weight" in state else head_fc.out_features
    if saved_classes != head_fc.out_features:  # a checkpoint fine-tuned to other classes
        replace_head(model, saved_classes)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"{path} does not fit dlzoo's {model_name}: {err}") from err
    if num_classes is not None and num_classes != saved_classes:
        replace_head(model, num_classes)
    return model


def _check_interface(model: nn.Module) -> None:
    if not all(isinstance(getattr(model, part, None), nn.Module) for part in ("stem", "stages", "head")):
        raise ValueError(f"{type(model).__name__} lacks the dlzoo CNN interface (stem, stages, head)")


def classifiers(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(qualified name, module) of the final nn.Linear of model.head, then of each auxiliary head."""
    _check_interface(model)
    aux_heads = getattr(model, "aux_heads", None) or {}
    heads = [("head", model.head), *((f"aux_heads.{name}", aux) for name, aux in aux_heads.items())]
    found = []
    for prefix, head in heads:
        linears = [(name, m) for name, m in head.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ValueError(f"{type(model).__name__}.{prefix} has no nn.Linear classifier")
        name, linear = linears[-1]
        found.append((f"{prefix}.{name}", linear))
    return found


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Swap the final Linear of the head (and of each aux head) for a new one with `num_classes` outputs."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    for name, old in classifiers(model):
        new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, new)
    return model


def _freeze_batchnorm(module: nn.Module) -> None:
    """Replace every BatchNorm2d below `module` by a FrozenBatchNorm2d with the same statistics and affine."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
            for buffer in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, buffer).copy_(getattr(child, buffer).detach())
            setattr(module, name, frozen)
        else:
            _freeze_batchnorm(child)


def freeze_backbone(model: nn.Module, unfreeze_last_k_stages: int = 0) -> nn.Module:
    """Freeze the stem and all stages but the last k: no gradients, BatchNorm statistics fixed.

    The head side stays trainable. Frozen BatchNorm layers become FrozenBatchNorm2d (eval-mode batch norm
    with fixed buffers), which `model.train()` cannot switch back to batch statistics; state_dict keys are
    unchanged apart from `num_batches_tracked`.
    """
    _check_interface(model)
    stages = list(model.stages)
    if not 0 <= unfreeze_last_k_stages <= len(stages):
        raise ValueError(f"unfreeze_last_k_stages must be in [0, {len(stages)}], got {unfreeze_last_k_stages}")
    for module in [model.stem, *stages[: len(stages) - unfreeze_last_k_stages]]:
        module.requires_grad_(False)
        _freeze_batchnorm(module)
    return model


def param_groups(model: nn.Module, lr: float, backbone_lr_mult: float = 0.1) -> list[dict[str, Any]]:
    """Optimizer groups: the head side at `lr`, the trainable backbone at `lr * backbone_lr_mult`.

    Frozen parameters are left out; empty groups are dropped. Each group has a "name" ("head", "backbone").
    """
    _check_interface(model)
    if lr <= 0 or backbone_lr_mult < 0:
        raise ValueError(f"need lr > 0 and backbone_lr_mult >= 0, got lr={lr}, backbone_lr_mult={backbone_lr_mult}")
    backbone_ids = {id(p) for part in (model.stem, model.stages) for p in part.parameters()}
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"name": "head", "params": [p for p in trainable if id(p) not in backbone_ids], "lr": lr},
        {"name": "backbone", "params": [p for p in trainable if id(p) in backbone_ids], "lr": lr * backbone_lr_mult},
    ]
    return [group for group in groups if group["params"]]


def build_cnn(
    name: str,
    num_classes: int,
    in_channels: int = 3,
    pretrained: str | None = None,
    allow_download: bool = False,
    freeze: bool = False,
    unfreeze_last_k_stages: int = 0,
    **model_kwargs: Any,
) -> nn.Module:
    """The configs' entry point: dlzoo's `name` (a torchvision model name) for `num_classes`, optionally
    from `pretrained` weights (a weights name or a local file; see `load_pretrained`) with a new head,
    and with its backbone frozen but for the last `unfreeze_last_k_stages` stages."""
    if pretrained:
        if in_channels != 3:
            raise ValueError(f"pretrained {name} weights take 3-channel images, the data has {in_channels}")
        model = load_pretrained(
            name, pretrained, num_classes, allow_download=allow_download, **model_kwargs
        )
    else:
        model = _architecture(name).build(num_classes=num_classes, in_channels=in_channels, **model_kwargs)
    if freeze:
        freeze_backbone(model, unfreeze_last_k_stages)
    return model
