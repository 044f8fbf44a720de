"""EfficientNetV2-S scaled for 48x48 faces (seed 003), built from torchvision's own blocks.

The stage table is EfficientNetV2-S's (Tan & Le 2021, Table 4; torchvision's
``efficientnet_v2_s``). Seed 003's Table 4.3 misprints it: stages 2-3 are Fused-MBConv4 (not
1), stages 5-6 are MBConv6 (not 4), and stage 5 has stride 1 (not 2). The scaled-down variant
(seed 003 sec. 4.4.2) keeps stages 1-4. Blocks, squeeze-excitation and stochastic depth are
torchvision's (``MBConvConfig``, ``FusedMBConvConfig``, ``EfficientNet``); only the list of
stages and the stem's input channels are ours.

Scaling rules (as torchvision's ``MBConvConfig`` applies them; ``FusedMBConvConfig`` takes no
multipliers, so its arguments are scaled here by the same static rules):
- width: channels * width_coefficient, rounded to the nearest multiple of 8 (never below 8,
  nor more than 10 % below the product): torchvision's ``_make_divisible``;
- depth: ceil(layers * depth_coefficient).
The stem has the first stage's (scaled) input width; the head is a 1x1 convolution to
``top_filters`` channels (seed 003's numTopFilters, torchvision's ``last_channel``, not
scaled), global average pooling, dropout and the linear classifier.

Spec keys (besides schema_version and family "efficientnet"): in_channels (1 or 3),
num_classes, stages (how many stages of the table, 1-6: 6 the full network, 4 the scaled-down
one), width_coefficient, depth_coefficient, top_filters, dropout, stochastic_depth_prob.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from torch import nn
from torchvision.models.efficientnet import EfficientNet, FusedMBConvConfig, MBConvConfig

from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, is_int

FAMILY = "efficientnet"

#: EfficientNetV2-S: (operator, expansion, kernel, stride, output channels, layers) per stage.
V2_S_STAGES: tuple[tuple[str, int, int, int, int, int], ...] = (
    ("fused_mbconv", 1, 3, 1, 24, 2),
    ("fused_mbconv", 4, 3, 2, 48, 4),
    ("fused_mbconv", 4, 3, 2, 64, 4),
    ("mbconv", 4, 3, 2, 128, 6),
    ("mbconv", 6, 3, 1, 160, 9),
    ("mbconv", 6, 3, 2, 256, 15),
)
V2_S_STEM_CHANNELS = 24
V2_S_TOP_FILTERS = 1280
FULL_STAGES = len(V2_S_STAGES)
SCALED_DOWN_STAGES = 4
#: variant name (the parameters' and reports' word) -> number of stages kept
VARIANTS = {"full": FULL_STAGES, "scaled_down": SCALED_DOWN_STAGES}


def scaled_channels(channels: int, width_coefficient: float) -> int:
    """torchvision's width rule: the nearest multiple of 8 (see the module docstring)."""
    return MBConvConfig.adjust_channels(channels, width_coefficient)


def scaled_layers(layers: int, depth_coefficient: float) -> int:
    """torchvision's depth rule: ceil(layers * depth_coefficient)."""
    return MBConvConfig.adjust_depth(layers, depth_coefficient)


def stage_settings(
    stages: int, width_coefficient: float, depth_coefficient: float
) -> list[MBConvConfig | FusedMBConvConfig]:
    """The first ``stages`` rows of V2_S_STAGES scaled, as torchvision's stage configs."""
    settings: list[MBConvConfig | FusedMBConvConfig] = []
    previous = V2_S_STEM_CHANNELS
    for operator, expansion, kernel, stride, channels, layers in V2_S_STAGES[:stages]:
        if operator == "mbconv":
            settings.append(
                MBConvConfig(
                    expansion,
                    kernel,
                    stride,
                    previous,
                    channels,
                    layers,
                    width_mult=width_coefficient,
                    depth_mult=depth_coefficient,
                )
            )
        else:
            settings.append(
                FusedMBConvConfig(
                    expansion,
                    kernel,
                    stride,
                    scaled_channels(previous, width_coefficient),
                    scaled_channels(channels, width_coefficient),
                    scaled_layers(layers, depth_coefficient),
                )
            )
        previous = channels
    return settings


def efficientnet_spec(
    in_channels: int,
    num_classes: int,
    *,
    variant: str = "scaled_down",
    width_coefficient: float = 1.0,
    depth_coefficient: float = 1.0,
    top_filters: int = V2_S_TOP_FILTERS,
    dropout: float = 0.2,
    stochastic_depth_prob: float = 0.2,
) -> dict[str, Any]:
    """The spec of a scaled EfficientNetV2-S (defaults: torchvision's V2-S settings)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant {variant!r}: expected one of {sorted(VARIANTS)}")
    return {
        "schema_version": SPEC_SCHEMA_VERSION,
        "family": FAMILY,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "stages": VARIANTS[variant],
        "width_coefficient": width_coefficient,
        "depth_coefficient": depth_coefficient,
        "top_filters": top_filters,
        "dropout": dropout,
        "stochastic_depth_prob": stochastic_depth_prob,
    }


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def validate_efficientnet_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of an "efficientnet" spec that is missing or
    wrong."""
    if spec.get("in_channels") not in (1, 3):
        channels = spec.get("in_channels")
        raise ValueError(f"spec key 'in_channels': expected 1 or 3, got {channels!r}")
    for key in ("num_classes", "top_filters"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    stages = spec.get("stages")
    if not is_int(stages) or stages > FULL_STAGES:
        raise ValueError(f"spec key 'stages': expected an int in 1..{FULL_STAGES}, got {stages!r}")
    for key in ("width_coefficient", "depth_coefficient"):
        if not (_is_number(spec.get(key)) and spec[key] > 0):
            raise ValueError(f"spec key {key!r}: expected a number > 0, got {spec.get(key)!r}")
    for key in ("dropout", "stochastic_depth_prob"):
        if not (_is_number(spec.get(key)) and 0 <= spec[key] < 1):
            raise ValueError(
                f"spec key {key!r}: expected a number in [0, 1), got {spec.get(key)!r}"
            )


def build_efficientnet(spec: Mapping[str, Any]) -> EfficientNet:
    """torchvision's ``EfficientNet`` with the spec's stages, head width and stem channels
    (batch norm with eps 1e-3, as torchvision's V2 models)."""
    network = EfficientNet(
        stage_settings(spec["stages"], spec["width_coefficient"], spec["depth_coefficient"]),
        dropout=spec["dropout"],
        stochastic_depth_prob=spec["stochastic_depth_prob"],
        num_classes=spec["num_classes"],
        norm_layer=partial(nn.BatchNorm2d, eps=1e-3),
        last_channel=spec["top_filters"],
    )
    if spec["in_channels"] != 3:  # torchvision's stem always takes RGB
        stem = network.features[0][0]
        network.features[0][0] = nn.Conv2d(
            spec["in_channels"],
            stem.out_channels,
            stem.kernel_size,
            stem.stride,
            stem.padding,
            bias=False,
        )
        nn.init.kaiming_normal_(network.features[0][0].weight, mode="fan_out")
    return network
