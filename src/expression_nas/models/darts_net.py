"""The network derived by a DARTS or DARTS-STN search, rebuilt from its spec alone.

Spec keys (besides schema_version and family "darts"): in_channels, num_classes, input_size
([H, W] searched on, or null; any size works), channels (of the first cells), layers, nodes,
stem_multiplier, genotype {"normal": ..., "reduce": ...} (per intermediate node a list of
[operation, source]; source 0 = cell k-2, 1 = cell k-1, 2.. = earlier nodes), dropout (before
the classifier), cell_dropout (after every cell, in training), and optional provenance.

Structure as in the search network (``nas.darts.search_space``) with the mixed edges replaced
by the chosen operations and affine batch norm; the final network is usually deeper and wider
than the search network (DARTS: 8 cells of 16 channels searched, 20 cells of 36 trained).

For speed the cells' convolutions are ``nas.darts.fast_conv.FastConv2d`` (the same parameters
and state-dict keys as ``nn.Conv2d``, the same function up to float rounding) and the network
computes in channels-last layout, where oneDNN's CPU kernels are fastest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from expression_nas.nas.darts.fast_conv import fast_conv
from expression_nas.nas.darts.operations import (
    PRIMITIVES,
    FactorizedReduce,
    ReLUConvBN,
    build_operation,
    reduction_layers,
)
from expression_nas.nas.spec import is_int, validate_cell, validate_spec

FAMILY = "darts"


def _is_rate(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1


def validate_darts_spec(spec: Mapping[str, Any]) -> None:
    """Raise ValueError naming the first key of a "darts" spec that is missing or wrong."""
    for key in ("in_channels", "num_classes", "channels", "layers", "nodes", "stem_multiplier"):
        if not is_int(spec.get(key)):
            raise ValueError(f"spec key {key!r}: expected an int >= 1, got {spec.get(key)!r}")
    if spec["layers"] < 3:
        raise ValueError(
            f"spec key 'layers': expected >= 3 (the reduction cells sit at 1/3 and 2/3), "
            f"got {spec['layers']}"
        )
    size = spec.get("input_size")
    if size is not None and not (
        isinstance(size, list) and len(size) == 2 and all(map(is_int, size))
    ):
        raise ValueError(f"spec key 'input_size': expected [H, W] or null, got {size!r}")
    for key in ("dropout", "cell_dropout"):
        if not _is_rate(spec.get(key, 0.0)):
            raise ValueError(f"spec key {key!r}: expected a number in [0, 1), got {spec[key]!r}")
    genotype = spec.get("genotype")
    if not isinstance(genotype, Mapping) or set(genotype) != {"normal", "reduce"}:
        raise ValueError("spec key 'genotype': expected an object with 'normal' and 'reduce'")
    for cell in ("normal", "reduce"):
        validate_cell(genotype[cell], spec["nodes"], f"genotype.{cell}", PRIMITIVES)


class DerivedCell(nn.Module):
    def __init__(
        self,
        genotype: list,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(c_prev_prev, channels, affine=True, conv=fast_conv)
            if reduction_prev
            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=True, conv=fast_conv)
        )
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=True, conv=fast_conv)
        self.sources = [[source for _, source in node] for node in genotype]
        self.ops = nn.ModuleList(
            nn.ModuleList(
                build_operation(
                    name, channels, 2 if reduction and source < 2 else 1, True, fast_conv
                )
                for name, source in node
            )
            for node in genotype
        )

    def forward(self, s0: Tensor, s1: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for sources, ops in zip(self.sources, self.ops, strict=True):
            states.append(sum(op(states[s]) for s, op in zip(sources, ops, strict=True)))
        return torch.cat(states[2:], dim=1)


class DartsNetwork(nn.Module):
    """The derived DARTS classifier for images [B, in_channels, H, W]."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        super().__init__()
        spec = validate_spec(spec)
        if spec["family"] != FAMILY:
            raise ValueError(f"spec key 'family': expected {FAMILY!r}, got {spec['family']!r}")
        self.spec = spec
        c = spec["channels"]
        c_stem = spec["stem_multiplier"] * c
        self.stem = nn.Sequential(
            nn.Conv2d(spec["in_channels"], c_stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_stem),
        )
        reductions = reduction_layers(spec["layers"])
        c_prev_prev, c_prev, c_curr = c_stem, c_stem, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for layer in range(spec["layers"]):
            reduction = layer in reductions
            if reduction:
                c_curr *= 2
            genotype = spec["genotype"]["reduce" if reduction else "normal"]
            self.cells.append(
                DerivedCell(genotype, c_prev_prev, c_prev, c_curr, reduction, reduction_prev)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, len(genotype) * c_curr
        self.cell_dropout = float(spec.get("cell_dropout", 0.0))
        self.dropout = nn.Dropout(spec.get("dropout", 0.0))
        self.classifier = nn.Linear(c_prev, spec["num_classes"])
        self.to(memory_format=torch.channels_last)

    def forward(self, x: Tensor) -> Tensor:
        s0 = s1 = self.stem(x.contiguous(memory_format=torch.channels_last))
        for cell in self.cells:
            out = cell(s0, s1)
            if self.cell_dropout and self.training:
                out = F.dropout(out, self.cell_dropout)
            s0, s1 = s1, out
        return self.classifier(self.dropout(s1.mean(dim=(2, 3))))
