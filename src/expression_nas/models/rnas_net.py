"""The RNAS-MER network rebuilt from its spec alone (no search code).

Stem at level 0; layer l is one cell at level ``path[l]`` with the spec's genotype (affine BN),
refined by ``attention[l]``. The cell's c_{l-1} input is the previous layer's output, brought
down one level by a stride-2 ``DownSample`` where the path goes down; its c_{l-2} input is the
output of layer l-2 (the stem for l < 2) brought down to ``path[l]`` the same way: the
supernet's rule with the path as the only existing cells. Head: global average pool, dropout,
Linear. Spec keys (besides schema_version and family): in_channels, input_size (the clip size
searched on, or null; any T/H/W works), num_classes, channels, stem_stride, levels, layers,
nodes, use_prev_prev, cell, path, attention, dropout, and optional search (provenance only).

For speed the network computes in channels-last-3d layout, where oneDNN's 3-D convolutions
are fastest on the CPU (1.4-1.7x the training steps per second of the default layout for the
demo's heavier derived networks, about even for the light ones); the function is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from expression_nas.nas.rnas.attention import ATTENTIONS, build_attention
from expression_nas.nas.rnas.operations import (
    FAST_OPERATIONS,
    OPERATIONS,
    ReLUConvBN,
    Stem,
    cell_projection,
    downsample_chain,
    level_channels,
    path_error,
)
from expression_nas.nas.spec import is_int, validate_cell, validate_spec

FAMILY = "rnas_mer"


def validate_rnas_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of an "rnas_mer" spec that is missing or wrong."""
    for key in ("in_channels", "num_classes", "channels", "levels", "layers", "nodes"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    for key, length in (("stem_stride", 3), ("input_size", 3)):
        value = spec.get(key)
        if key == "input_size" and value is None:
            continue
        if not (isinstance(value, list) and len(value) == length and all(map(is_int, value))):
            raise ValueError(f"spec key {key!r}: expected {length} ints >= 1, got {value!r}")
    if not isinstance(spec.get("use_prev_prev"), bool):
        raise ValueError(
            f"spec key 'use_prev_prev': expected a bool, got {spec.get('use_prev_prev')!r}"
        )
    dropout = spec.get("dropout")
    if not (
        isinstance(dropout, int | float) and not isinstance(dropout, bool) and 0 <= dropout < 1
    ):
        raise ValueError(f"spec key 'dropout': expected a number in [0, 1), got {dropout!r}")
    validate_cell(
        spec.get("cell"),
        spec["nodes"],
        "cell",
        OPERATIONS,
        first_source=0 if spec["use_prev_prev"] else 1,
        max_edges=2,
    )
    path = spec.get("path")
    problem = "expected a list" if not isinstance(path, list) else path_error(path, spec["levels"])
    if problem is None and len(path) != spec["layers"]:
        problem = f"has {len(path)} levels for {spec['layers']} layers"
    if problem:
        raise ValueError(f"spec key 'path': {problem}")
    attention = spec.get("attention")
    if not (
        isinstance(attention, list)
        and len(attention) == spec["layers"]
        and all(name in ATTENTIONS for name in attention)
    ):
        raise ValueError(
            f"spec key 'attention': expected {spec['layers']} names from {list(ATTENTIONS)}, "
            f"got {attention!r}"
        )
    if "search" in spec and not isinstance(spec["search"], dict):
        raise ValueError("spec key 'search': expected an object")


class DerivedCell(nn.Module):
    """A fixed cell: node j sums its genotype operations; output = 1x1x1 projection of the
    concatenated nodes."""

    def __init__(self, channels: int, genotype: list, use_prev_prev: bool) -> None:
        super().__init__()
        self.preprocess0 = (
            ReLUConvBN(channels, channels, (1, 1, 1), affine=True) if use_prev_prev else None
        )
        self.preprocess1 = ReLUConvBN(channels, channels, (1, 1, 1), affine=True)
        self.sources = [[source for _, source in node] for node in genotype]
        self.ops = nn.ModuleList(
            nn.ModuleList(FAST_OPERATIONS[name](channels, affine=True) for name, _ in node)
            for node in genotype
        )
        self.project = cell_projection(len(genotype) * channels, channels, affine=True)

    def forward(self, prev_prev: Tensor | None, prev: Tensor) -> Tensor:
        states = [
            self.preprocess0(prev_prev) if self.preprocess0 is not None else None,
            self.preprocess1(prev),
        ]
        for sources, ops in zip(self.sources, self.ops, strict=True):
            states.append(sum(op(states[s]) for s, op in zip(sources, ops, strict=True)))
        return self.project(torch.cat(states[2:], dim=1))


class RnasNetwork(nn.Module):
    """The derived RNAS-MER classifier for clips [B, in_channels, T, H, W]."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        spec = validate_spec(spec)
        if spec["family"] != FAMILY:
            raise ValueError(f"spec key 'family': expected {FAMILY!r}, got {spec['family']!r}")
        self.spec = spec
        c, path = spec["channels"], spec["path"]
        self.use_prev_prev = spec["use_prev_prev"]
        self.stem = Stem(spec["in_channels"], c, tuple(spec["stem_stride"]))
        levels_before = [0, 0, *path]  # layers -2 and -1 are the stem, at level 0
        self.downs = nn.ModuleList()
        self.prev_prev_reduce = nn.ModuleList()
        self.cells = nn.ModuleList()
        self.attentions = nn.ModuleList()
        for layer, level in enumerate(path):
            self.downs.append(downsample_chain(c, levels_before[layer + 1], level, affine=True))
            if self.use_prev_prev:
                self.prev_prev_reduce.append(
                    downsample_chain(c, levels_before[layer], level, affine=True)
                )
            width = level_channels(c, level)
            self.cells.append(DerivedCell(width, spec["cell"], self.use_prev_prev))
            self.attentions.append(build_attention(spec["attention"][layer], width))
        self.dropout = nn.Dropout(spec["dropout"])
        self.classifier = nn.Linear(level_channels(c, path[-1]), spec["num_classes"])
        self.to(memory_format=torch.channels_last_3d)

    def forward(self, x: Tensor) -> Tensor:
        before = prev = self.stem(x.contiguous(memory_format=torch.channels_last_3d))
        for layer, cell in enumerate(self.cells):
            s0 = self.prev_prev_reduce[layer](before) if self.use_prev_prev else None
            out = self.attentions[layer](cell(s0, self.downs[layer](prev)))
            before, prev = prev, out
        return self.classifier(self.dropout(prev.mean(dim=(2, 3, 4))))
