"""``resnet18``: a ResNet-18-style network written in torch alone.

BasicBlocks in four stages of two blocks (``[2, 2, 2, 2]``) with widths 64-128-256-512,
each scaled by ``width`` (He et al., "Deep Residual Learning for Image Recognition",
CVPR 2016). Small inputs get the stem used for 32x32 images (one 3x3 convolution with
stride 1, no max-pooling); large inputs get the original 7x7 stride-2 convolution followed
by a 3x3 stride-2 max-pool.
"""

from __future__ import annotations

import torch
from torch import nn

from dmil.models.encoders.cnn import image_geometry
from dmil.models.encoders.common import Encoder, projection
from dmil.models.encoders.registry import register_encoder

__all__ = ["BasicBlock", "ResNet18Encoder"]

#: Inputs whose shorter spatial side is below this get the small-input stem by default.
SMALL_INPUT_SIDE = 64
#: Stage widths of ResNet-18 before scaling.
STAGE_WIDTHS = (64, 128, 256, 512)
#: BasicBlocks per stage.
STAGE_BLOCKS = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm and an identity (or 1x1 projection) shortcut.

    Parameters
    ----------
    in_channels, out_channels : int
        Channel counts; a projection shortcut is used when they differ or ``stride > 1``.
    stride : int, default 1
        Stride of the first convolution (2 halves the spatial size).
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


@register_encoder("resnet18")
class ResNet18Encoder(Encoder):
    """ResNet-18 trunk, global average pooling and a projection to ``embed_dim``.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C, H, W)``, or ``(H, W)`` which is treated as one channel.
    embed_dim : int
        Output width.
    modality : str
        Modality name for error messages.
    width : float, default 1.0
        Multiplier of the stage widths 64-128-256-512 (e.g. 0.25 gives 16-32-64-128).
    small_input : bool or None, default None
        Use the 3x3 stride-1 stem without max-pooling; ``None`` chooses it when the
        shorter spatial side is below 64.
    """

    def __init__(
        self,
        *,
        input_shape: tuple[int, ...],
        embed_dim: int,
        modality: str,
        width: float = 1.0,
        small_input: bool | None = None,
    ) -> None:
        super().__init__(
            input_shape=input_shape, embed_dim=embed_dim, modality=modality, encoder="resnet18"
        )
        in_ch, height, wid = image_geometry(input_shape, modality=modality, encoder="resnet18")
        if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
            raise ValueError(
                f"modality '{modality}': encoder 'resnet18' needs width > 0; found {width!r}."
            )
        if small_input is None:
            small_input = min(height, wid) < SMALL_INPUT_SIDE
        self.small_input = bool(small_input)
        self._add_channel = len(input_shape) == 2
        widths = [max(1, round(w * float(width))) for w in STAGE_WIDTHS]
        if self.small_input:
            stem = [nn.Conv2d(in_ch, widths[0], 3, stride=1, padding=1, bias=False)]
        else:
            stem = [nn.Conv2d(in_ch, widths[0], 7, stride=2, padding=3, bias=False)]
        stem += [nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
        if not self.small_input:
            stem.append(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.stem = nn.Sequential(*stem)
        stages = []
        channels = widths[0]
        for index, (out_ch, n_blocks) in enumerate(zip(widths, STAGE_BLOCKS, strict=True)):
            blocks = []
            for block in range(n_blocks):
                stride = 2 if index > 0 and block == 0 else 1
                blocks.append(BasicBlock(channels, out_ch, stride=stride))
                channels = out_ch
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.head = projection(channels, embed_dim)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features, shape ``(B, 512 * width)``."""
        if self._add_channel:
            x = x.unsqueeze(1)  # (B, H, W) -> (B, 1, H, W)
        h = self.stages(self.stem(x))  # (B, C', H', W')
        return h.mean(dim=(2, 3))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))  # (B, D)
