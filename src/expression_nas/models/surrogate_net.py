"""The networks of seed 001's sparseness HPO and their one-convolution surrogates.

An original network and its surrogate differ only in the trunk that produces the last feature
map; both end in the same sparse head (``SparseHead``), where the 8 hyper-parameters act:

    z (the trunk's output, flattened) -> feature dropout p_z -> FC1, weights V (DropConnect
    p_V) -> x (input of FC2) -> feature dropout p_x -> FC2, weights W (DropConnect p_W) -> logits

ResNet20 has one FC layer: its head is z -> dropout p_z -> V -> logits, so x is the logits and
it has no p_x, p_W (seed 001 tunes p_z, p_V, lambda_z, lambda_V on it).

Dropout (eq. 7), with p the drop probability: in training a unit (or weight) is kept with
probability 1 - p and divided by 1 - p; at test time it passes unchanged. Eq. 7 writes the
other convention (no rescaling in training, the test multiplies by 1 - p); both give the same
networks, the weights absorbing the factor, and this "inverted" one is what Caffe's dropout
layer, in which the seed ran, does by default. It also matters here: with four dropouts at the
seed's p = 0.5, the literal convention shrinks the training signal 16-fold, and LeNet did not
learn at all within the demo's 400 iterations (UAR at chance, against 0.38 inverted). DropConnect
draws one mask per batch.

Backbones (the seed's Figs. 1-3, the M-ResNet layer table, are missing from its text; the
choices below are ours):
- ``lenet``: Caffe's LeNet: conv 20@5x5, max pool, conv 50@5x5, max pool (no activations in
  the trunk, as in Caffe), FC1 500 with ReLU, FC2. At 28x28 z is 50x4x4.
- ``resnet20``: the CIFAR ResNet of 3x3 basic blocks (16, 32, 64 channels, 3 blocks each, 1x1
  projection shortcuts where the shape changes); z is the global average of the last 64x7x7
  map (at 28x28).
- ``mresnet``: a PReLU residual network in the face-recognition style: per stage a 3x3
  convolution with PReLU, a 2x2 max pool and residual blocks out = in + CoPr(CoPr(in));
  channels (32, 64, 128, 256) with (1, 2, 2, 1) blocks; FC1 512 (no activation: a face
  embedding). Seed 001 fine-tunes it from a face-recognition model; no such weights can be
  fetched here, so it trains from scratch.

The surrogate's trunk is one convolution (with the backbone's activation) whose output has the
original's last feature map size and channels: LeNet (50, 7x7, stride 7, pad 0) and ResNet20
(64, 6x6, stride 4, pad 1) at 28x28 as in the seed's Table 2; otherwise kernel = stride =
input // output size, cropped to the output size.

Spec keys (besides schema_version and family "surrogate"): backbone, part ("original" or
"surrogate"), in_channels, num_classes, input_size (square side), dropout {z, V, x, W}.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, is_int

FAMILY = "surrogate"
BACKBONES = ("lenet", "resnet20", "mresnet")
PARTS = ("original", "surrogate")
#: The dropout rates of a backbone's head, in eq. 8's order.
DROPOUT_KEYS = {
    "lenet": ("z", "V", "x", "W"),
    "resnet20": ("z", "V"),
    "mresnet": ("z", "V", "x", "W"),
}
FC1_WIDTH = {"lenet": 500, "mresnet": 512}
#: The seed's surrogate convolutions (Table 2) at 28x28: (kernel, stride, padding).
SEED_SURROGATE_CONVOLUTION = {("lenet", 28): (7, 7, 0), ("resnet20", 28): (6, 4, 1)}
MRESNET_STAGES = ((32, 1), (64, 2), (128, 2), (256, 1))
#: The smallest side every backbone's trunk still maps to a non-empty feature map.
MIN_INPUT_SIZE = 16


def _is_rate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


def validate_surrogate_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of a "surrogate" spec that is missing or wrong."""
    backbone = spec.get("backbone")
    if backbone not in BACKBONES:
        raise ValueError(f"spec key 'backbone': expected one of {BACKBONES}, got {backbone!r}")
    if spec.get("part", "original") not in PARTS:
        raise ValueError(f"spec key 'part': expected one of {PARTS}, got {spec.get('part')!r}")
    for key in ("in_channels", "num_classes"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    size = spec.get("input_size")
    if not is_int(size, MIN_INPUT_SIZE):
        raise ValueError(
            f"spec key 'input_size': expected an int >= {MIN_INPUT_SIZE}, got {size!r}"
        )
    dropout = spec.get("dropout", {})
    if not isinstance(dropout, Mapping) or not set(dropout) <= set(DROPOUT_KEYS[backbone]):
        raise ValueError(
            f"spec key 'dropout': expected an object with keys among "
            f"{DROPOUT_KEYS[backbone]} for {backbone}, got {dropout!r}"
        )
    for key, rate in dropout.items():
        if not _is_rate(rate):
            raise ValueError(f"spec key 'dropout.{key}': expected a number in [0, 1), got {rate!r}")


def surrogate_spec(
    backbone: str,
    num_classes: int,
    in_channels: int = 1,
    input_size: int = 28,
    dropout: Mapping[str, float] | None = None,
    part: Literal["original", "surrogate"] = "original",
) -> dict[str, Any]:
    """The spec of ``backbone`` (its original network unless ``part="surrogate"``)."""
    return {
        "schema_version": SPEC_SCHEMA_VERSION,
        "family": FAMILY,
        "backbone": backbone,
        "part": part,
        "in_channels": in_channels,
        "num_classes": num_classes,
        "input_size": input_size,
        "dropout": dict(dropout or {}),
    }


def _keep_mask(values: Tensor, p: float) -> Tensor:
    """True with probability 1 - p per element (a uniform draw compared with p: about three
    times faster than ``bernoulli_`` on this CPU, and the masks dominate a LeNet step)."""
    return torch.rand_like(values) >= p


class FeatureDropout(nn.Module):
    """Eq. 7's feature dropout: keep each unit with probability 1 - p in training, divided by
    1 - p; unchanged at test time."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, features: Tensor) -> Tensor:
        if self.p == 0 or not self.training:
            return features
        return features * _keep_mask(features, self.p) / (1 - self.p)


class DropConnectLinear(nn.Linear):
    """A linear layer with eq. 7's weight dropout (DropConnect): in training each weight is
    kept with probability 1 - p and divided by 1 - p (one mask per batch); at test time the
    weights are used as they are. The bias is never dropped."""

    def __init__(self, in_features: int, out_features: int, p: float = 0.0) -> None:
        super().__init__(in_features, out_features)
        self.p = p

    def effective_weight(self) -> Tensor:
        if self.p == 0 or not self.training:
            return self.weight
        return self.weight * _keep_mask(self.weight, self.p) / (1 - self.p)

    def forward(self, inputs: Tensor) -> Tensor:
        return F.linear(inputs, self.effective_weight(), self.bias)


@dataclass
class SparseOutputs:
    """The quantities the sparseness and fitting losses need, before any dropout of their own
    layer: z (FC1's input), x (FC2's input; the logits when there is no FC2) and the logits."""

    z: Tensor
    x: Tensor
    logits: Tensor


class SparseHead(nn.Module):
    """z -> dropout p_z -> FC1 (V) [-> activation -> x -> dropout p_x -> FC2 (W)] -> logits."""

    def __init__(
        self,
        z_features: int,
        num_classes: int,
        hidden: int | None,
        activation: nn.Module | None,
        dropout: Mapping[str, float],
    ) -> None:
        super().__init__()
        self.drop_z = FeatureDropout(dropout.get("z", 0.0))
        self.fc1 = DropConnectLinear(z_features, hidden or num_classes, dropout.get("V", 0.0))
        self.activation = activation or nn.Identity()
        self.drop_x = FeatureDropout(dropout.get("x", 0.0)) if hidden else None
        self.fc2 = DropConnectLinear(hidden, num_classes, dropout.get("W", 0.0)) if hidden else None

    @property
    def V(self) -> Tensor:  # the seed's name
        return self.fc1.weight

    @property
    def W(self) -> Tensor | None:  # the seed's name
        return None if self.fc2 is None else self.fc2.weight

    def set_dropout(self, rates: Mapping[str, float]) -> None:
        """Set the rates named in ``rates`` (keys z, V, x, W)."""
        layers = {"z": self.drop_z, "V": self.fc1, "x": self.drop_x, "W": self.fc2}
        for key, rate in rates.items():
            if layers.get(key) is None:
                raise ValueError(f"this head has no dropout {key!r}")
            layers[key].p = float(rate)

    def forward(self, z: Tensor) -> SparseOutputs:
        hidden = self.fc1(self.drop_z(z))
        if self.fc2 is None:
            return SparseOutputs(z=z, x=hidden, logits=hidden)
        x = self.activation(hidden)
        return SparseOutputs(z=z, x=x, logits=self.fc2(self.drop_x(x)))


class _BasicBlock(nn.Module):
    """ResNet's 3x3 basic block, with a 1x1 projection shortcut where the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, inputs: Tensor) -> Tensor:
        return F.relu(self.body(inputs) + self.shortcut(inputs))


def _co_pr(in_channels: int, out_channels: int) -> nn.Sequential:
    """The seed's CoPr: a 3x3 convolution followed by PReLU."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.PReLU(out_channels))


class _PReLUResidual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(_co_pr(channels, channels), _co_pr(channels, channels))

    def forward(self, inputs: Tensor) -> Tensor:
        return inputs + self.body(inputs)


def _lenet_trunk(in_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2)
    )


def _resnet20_trunk(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(inplace=True),
    ]
    width = 16
    for stage, channels in enumerate((16, 32, 64)):
        for block in range(3):
            layers.append(_BasicBlock(width, channels, 2 if stage > 0 and block == 0 else 1))
            width = channels
    return nn.Sequential(*layers)


def _mresnet_trunk(in_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = in_channels
    for channels, blocks in MRESNET_STAGES:
        layers += [_co_pr(width, channels), nn.MaxPool2d(2)]
        layers += [_PReLUResidual(channels) for _ in range(blocks)]
        width = channels
    return nn.Sequential(*layers)


_TRUNKS = {"lenet": _lenet_trunk, "resnet20": _resnet20_trunk, "mresnet": _mresnet_trunk}


def last_feature_map(backbone: str, in_channels: int, input_size: int) -> tuple[int, int]:
    """(channels, side) of the original trunk's output at ``input_size``."""
    with torch.no_grad():
        shape = _TRUNKS[backbone](in_channels)(torch.zeros(1, in_channels, input_size, input_size))
    return int(shape.shape[1]), int(shape.shape[2])


def surrogate_convolution(backbone: str, input_size: int, output_size: int) -> tuple[int, int, int]:
    """(kernel, stride, padding) of the surrogate's single convolution: the seed's Table 2
    where it applies, else kernel = stride = input // output (its output, at least
    ``output_size`` wide, is cropped to it)."""
    if (backbone, input_size) in SEED_SURROGATE_CONVOLUTION:
        return SEED_SURROGATE_CONVOLUTION[(backbone, input_size)]
    stride = input_size // output_size
    return stride, stride, 0


class _SurrogateTrunk(nn.Module):
    def __init__(self, backbone: str, in_channels: int, input_size: int) -> None:
        super().__init__()
        channels, side = last_feature_map(backbone, in_channels, input_size)
        kernel, stride, padding = surrogate_convolution(backbone, input_size, side)
        self.conv = nn.Conv2d(in_channels, channels, kernel, stride, padding)
        self.activation = {
            "lenet": nn.Identity(),
            "resnet20": nn.ReLU(inplace=True),
            "mresnet": nn.PReLU(channels),
        }[backbone]
        self.side = side

    def forward(self, images: Tensor) -> Tensor:
        features = self.activation(self.conv(images))
        if features.shape[-1] != self.side:  # kernel = stride = input // output may overshoot
            features = features[..., : self.side, : self.side]
        return features


class SparseNetwork(nn.Module):
    """A trunk and the sparse head; ``forward`` gives the logits, ``outputs`` z, x and logits.

    ``forward`` alone makes it an ordinary classifier for training, prediction and profiling.
    """

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        backbone, channels_in, size = spec["backbone"], spec["in_channels"], spec["input_size"]
        self.backbone = backbone
        self.part = spec.get("part", "original")
        self.input_size = size
        if self.part == "surrogate":
            self.trunk = _SurrogateTrunk(backbone, channels_in, size)
        else:
            self.trunk = _TRUNKS[backbone](channels_in)
        channels, side = last_feature_map(backbone, channels_in, size)
        self.pool = nn.AdaptiveAvgPool2d(1) if backbone == "resnet20" else nn.Identity()
        z_features = channels if backbone == "resnet20" else channels * side * side
        activation = nn.ReLU() if backbone == "lenet" else None
        self.head = SparseHead(
            z_features, spec["num_classes"], FC1_WIDTH.get(backbone), activation, spec["dropout"]
        )

    def outputs(self, images: Tensor) -> SparseOutputs:
        if images.shape[-1] != self.input_size or images.shape[-2] != self.input_size:
            images = F.interpolate(
                images,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
        return self.head(self.pool(self.trunk(images)).flatten(1))

    def forward(self, images: Tensor) -> Tensor:
        return self.outputs(images).logits
