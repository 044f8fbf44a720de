"""Spatiotemporal attention modules that refine a cell's output (the eta choice of RNAS-MER).

Channel attention follows squeeze-and-excitation with seed 000's reduction ratio 16; spatial
attention uses average pooling over channels, as seed 000 states (CBAM also max-pools; we do
not). "channel_spatial" applies both in CBAM's order. All keep the input's shape.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from expression_nas.nas.rnas.operations import Triple

ATTENTIONS: tuple[str, ...] = ("none", "channel", "spatial", "channel_spatial")


class ChannelAttention(nn.Module):
    """Global 3D average pool -> MLP (hidden max(1, C // reduction)) -> sigmoid -> scale."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: Tensor) -> Tensor:
        scale = torch.sigmoid(self.mlp(x.mean(dim=(2, 3, 4))))
        return x * scale[:, :, None, None, None]


class SpatialAttention(nn.Module):
    """Average over channels -> Conv3d (3x7x7, "same") -> sigmoid -> scale every position."""

    def __init__(self, kernel: Triple = (3, 7, 7)) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, kernel, padding=tuple(k // 2 for k in kernel))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.sigmoid(self.conv(x.mean(dim=1, keepdim=True)))


def build_attention(name: str, channels: int) -> nn.Module:
    """The attention module ``name`` (one of ATTENTIONS) for ``channels`` channels."""
    if name == "none":
        return nn.Identity()
    if name == "channel":
        return ChannelAttention(channels)
    if name == "spatial":
        return SpatialAttention()
    if name == "channel_spatial":
        return nn.Sequential(ChannelAttention(channels), SpatialAttention())
    raise ValueError(f"unknown attention {name!r}, expected one of {list(ATTENTIONS)}")
