"""The plain feed-forward networks of seed 004's global macro-micro space.

No skip connections, no pooling layers and no fully connected layer but the classifier:

- stem: a 3x3 convolution to 2C channels and batch norm;
- L layers, each ReLU -> convolution -> batch norm, the convolution either separable
  (depthwise k x k, then pointwise 1 x 1) or plain, with k in {3, 5};
- the layers at floor(L/3) and floor(2L/3) have stride 2 and double the channels, so the
  layers have C, 2C and 4C channels (for L < 3 the two positions coincide at first and
  the network has fewer reductions);
- global average pooling and a linear classifier.

Spec keys (besides schema_version and family "global"): in_channels, num_classes, width (C),
depth (L) and layers, one [operation, kernel] pair per layer, operation "sep" or "conv".
``count_global_parameters`` gives a spec's parameter count without building it (the micro
phase of the search calls it for every width it tries).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import Tensor, nn

from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, is_int

FAMILY = "global"
OPERATIONS = ("sep", "conv")
KERNELS = (3, 5)
STEM_MULTIPLIER = 2


def reduction_layers(depth: int) -> frozenset[int]:
    """Indices of the stride-2 layers of a network of ``depth`` layers."""
    return frozenset({depth // 3, 2 * depth // 3})


def layer_channels(width: int, depth: int) -> list[tuple[int, int, int]]:
    """(input channels, output channels, stride) of every layer."""
    reductions = reduction_layers(depth)
    channels, current, plan = STEM_MULTIPLIER * width, width, []
    for index in range(depth):
        stride = 2 if index in reductions else 1
        current *= stride
        plan.append((channels, current, stride))
        channels = current
    return plan


def _output_channels(width: int, depth: int) -> int:
    return layer_channels(width, depth)[-1][1] if depth else STEM_MULTIPLIER * width


def validate_global_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of a "global" spec that is missing or wrong."""
    for key in ("in_channels", "num_classes", "width", "depth"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    layers = spec.get("layers")
    if not isinstance(layers, list) or len(layers) != spec["depth"]:
        raise ValueError(
            f"spec key 'layers': expected a list of {spec['depth']} [operation, kernel] pairs "
            f"(one per layer), got {layers!r}"
        )
    for index, layer in enumerate(layers):
        if not (
            isinstance(layer, list)
            and len(layer) == 2
            and layer[0] in OPERATIONS
            and layer[1] in KERNELS
            and not isinstance(layer[1], bool)
        ):
            raise ValueError(
                f"spec key 'layers[{index}]': expected [operation, kernel] with operation in "
                f"{list(OPERATIONS)} and kernel in {list(KERNELS)}, got {layer!r}"
            )


def global_spec(
    in_channels: int, num_classes: int, width: int, layers: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """The spec of a network of ``width`` and one (operation, kernel) pair per layer."""
    return {
        "schema_version": SPEC_SCHEMA_VERSION,
        "family": FAMILY,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "width": width,
        "depth": len(layers),
        "layers": [[str(operation), int(kernel)] for operation, kernel in layers],
    }


def count_global_parameters(spec: Mapping[str, Any]) -> int:
    """The parameter count of the network ``spec`` describes (what ``build_model`` gives)."""
    width, layers = spec["width"], spec["layers"]
    stem = STEM_MULTIPLIER * width
    total = 9 * spec["in_channels"] * stem + 2 * stem
    for (operation, kernel), (c_in, c_out, _) in zip(
        layers, layer_channels(width, len(layers)), strict=True
    ):
        spatial = kernel * kernel * c_in
        total += (spatial + c_in * c_out if operation == "sep" else spatial * c_out) + 2 * c_out
    classes = spec["num_classes"]
    return total + _output_channels(width, len(layers)) * classes + classes


def _convolution(operation: str, kernel: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    padding = kernel // 2
    if operation == "conv":
        return nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False)
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, kernel, stride, padding, groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
    )


class GlobalNetwork(nn.Module):
    """Stem, the spec's layers (ReLU -> convolution -> batch norm), pooling, classifier."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        width, layers = spec["width"], spec["layers"]
        stem = STEM_MULTIPLIER * width
        self.stem = nn.Sequential(
            nn.Conv2d(spec["in_channels"], stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem)
        )
        self.layers = nn.Sequential(
            *(
                nn.Sequential(
                    nn.ReLU(inplace=False),
                    _convolution(operation, kernel, c_in, c_out, stride),
                    nn.BatchNorm2d(c_out),
                )
                for (operation, kernel), (c_in, c_out, stride) in zip(
                    layers, layer_channels(width, len(layers)), strict=True
                )
            )
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(_output_channels(width, len(layers)), spec["num_classes"])

    def forward(self, images: Tensor) -> Tensor:
        features = self.pool(self.layers(self.stem(images))).flatten(1)
        return self.classifier(features)
