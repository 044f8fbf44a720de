"""A fixed, small convolutional network: the reference that no search produced.

It answers "can these data be learned at all?" independently of any search strategy (the
learnability check of the demo FER corpora, ``studies.demo_learnability``), and is a baseline
that searched networks should beat.

Spec keys (besides schema_version and family "plain_cnn"): in_channels, num_classes,
channels (one int per stage: two 3x3 convolutions with batch norm and ReLU, then a 2x2 max
pool), dropout (before the linear classifier, after global average pooling).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, is_int

FAMILY = "plain_cnn"


def validate_plain_cnn_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of a "plain_cnn" spec that is missing or wrong."""
    for key in ("in_channels", "num_classes"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    channels = spec.get("channels")
    if not isinstance(channels, list) or not channels or not all(map(is_int, channels)):
        raise ValueError(
            f"spec key 'channels': expected a non-empty list of ints >= 1, got {channels!r}"
        )
    dropout = spec.get("dropout", 0.0)
    if not (
        isinstance(dropout, int | float) and not isinstance(dropout, bool) and 0 <= dropout < 1
    ):
        raise ValueError(f"spec key 'dropout': expected a number in [0, 1), got {dropout!r}")


def plain_cnn_spec(
    in_channels: int,
    num_classes: int,
    channels: tuple[int, ...] = (16, 32, 64),
    dropout: float = 0.2,
) -> dict[str, Any]:
    """The spec of a plain CNN (defaults: three stages of 16, 32 and 64 channels)."""
    return {
        "schema_version": SPEC_SCHEMA_VERSION,
        "family": FAMILY,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "channels": list(channels),
        "dropout": dropout,
    }


def _conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]


class PlainCnn(nn.Module):
    """Stages of two 3x3 convolutions and a max pool, global average pooling, a classifier."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = spec["in_channels"]
        for channels in spec["channels"]:
            layers += [*_conv_bn_relu(width, channels), *_conv_bn_relu(channels, channels)]
            layers.append(nn.MaxPool2d(2))
            width = channels
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(spec.get("dropout", 0.0))
        self.classifier = nn.Linear(width, spec["num_classes"])

    def forward(self, images: Tensor) -> Tensor:
        features = self.pool(self.features(images)).flatten(1)
        return self.classifier(self.dropout(features))
