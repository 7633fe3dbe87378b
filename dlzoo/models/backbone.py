"""A CNN of the zoo as a feature extractor for dense heads (the YOLO-style detector, localization nets).

Every dlzoo CNN has ``stem``, ``stages`` and ``head`` (see ``dlzoo.models.pretrained``). A detector needs
the feature map, not the logits: ``CNNBackbone`` keeps ``stem`` and the first ``num_stages`` stages and
drops the rest. Fewer stages give a finer grid: a ResNet's stride is 4 after its stem and doubles with
each later stage, so 128 x 128 images give an 8 x 8 grid after three stages (stride 16) and 4 x 4 after
all four (stride 32). ``out_channels`` and ``stride`` are measured on a dummy image, so any CNN of the
interface works. Pretrained weights and freezing go through ``build_cnn`` as for classification.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dlzoo.models.pretrained import build_cnn


class CNNBackbone(nn.Module):
    """``name``'s stem + first ``num_stages`` stages (all when None): (B, C_in, H, W) -> (B, C, H / s, W / s).

    Args:
        name: a CNN of the zoo (torchvision's model names: ``resnet18``, ``vgg11_bn``, ``mobilenet_v2``, ...).
        num_stages: stages kept, from the input side.
        in_channels, pretrained, allow_download, freeze, unfreeze_last_k_stages: as in ``build_cnn``.
    """

    def __init__(
        self,
        name: str,
        num_stages: int | None = None,
        in_channels: int = 3,
        pretrained: str | None = None,
        allow_download: bool = False,
        freeze: bool = False,
        unfreeze_last_k_stages: int = 0,
    ) -> None:
        super().__init__()
        cnn = build_cnn(name, num_classes=1, in_channels=in_channels, pretrained=pretrained,
                        allow_download=allow_download, freeze=freeze, unfreeze_last_k_stages=unfreeze_last_k_stages)
        total = len(cnn.stages)
        if num_stages is not None and not 1 <= num_stages <= total:
            raise ValueError(f"{name} has {total} stages; num_stages must be in 1..{total}, got {num_stages}")
        self.stem = cnn.stem
        self.stages = cnn.stages[: num_stages or total]
        probe = 224  # ImageNet's size: every CNN of the zoo takes it
        was_training = self.training
        self.eval()
        with torch.no_grad():
            out = self(torch.zeros(1, in_channels, probe, probe))  # (1, C, probe / s, probe / s)
        self.train(was_training)
        self.out_channels, self.stride = out.shape[1], probe // out.shape[-1]

    def forward(self, x: Tensor) -> Tensor:
        return self.stages(self.stem(x))  # (B, C, H / stride, W / stride)
