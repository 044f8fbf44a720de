"""The DARTS search network for faces (seed 002, sec. 4.2.1), optionally as a self-tuning
network (DARTS-STN, sec. 4.3-4.4).

A stem convolution, then ``layers`` cells; the cells at 1/3 and 2/3 of the depth are reduction
cells (stride 2, doubled channels), the others normal cells. All normal cells share one
architecture-weight matrix ``alphas_normal`` [edges, operations] and all reduction cells
``alphas_reduce``; both are ``nn.Parameter``s of the module, so they live in its state dict,
checkpoints and optimisers like any weight. Each edge is the softmax(alpha)-weighted sum of
the eight DARTS operations (eq. 15); each intermediate node sums its incoming edges (eq. 14);
the cell's output concatenates the intermediate nodes.

The hyper-parameter vector is [alphas_normal, alphas_reduce, dropout logits]: ``forward(x,
hyper)`` evaluates the network at any such vector (the STN search feeds perturbed ones); by
default it uses the module's own parameters. With ``stn=True`` every convolution in the cells
and the classifier are STN layers (``nas.stn``) whose best-response correction reads that
same vector. With ``tune_dropout=True`` two dropout rates (after every cell, before the
classifier) are hyper-parameters too, as sigmoid(logit); dropout acts in training mode only,
so the validation loss sees a rate only through the STN's response to it (as in STNs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from expression_nas.nas.darts.derive import derive_cell
from expression_nas.nas.darts.mixed_op import MixedOp, ReferenceMixedOp, channels_last_grad
from expression_nas.nas.darts.operations import (
    PRIMITIVES,
    ConvFactory,
    FactorizedReduce,
    ReLUConvBN,
    cell_edges,
    plain_conv,
    reduction_layers,
)
from expression_nas.nas.spec import SPEC_SCHEMA_VERSION
from expression_nas.nas.stn import HyperContext, StnConv2d, StnLinear

DROPOUT_NAMES = ("cell", "classifier")
#: lean: each mixed edge is recomputed in the backward pass (least memory); fast: kept.
MEMORY_MODES = ("lean", "fast")


@dataclass(frozen=True)
class DartsSearchConfig:
    """Defaults are DARTS' search network (8 cells, 16 channels, 4 nodes, stem x3)."""

    in_channels: int = 1
    num_classes: int = 7
    input_size: tuple[int, int] = (48, 48)
    channels: int = 16
    layers: int = 8
    nodes: int = 4
    stem_multiplier: int = 3
    operations: tuple[str, ...] = PRIMITIVES
    memory: str = "fast"  # fast: keep each mixed edge's activations; lean: recompute them
    reference: bool = False  # the straightforward construction (quark0/darts), for comparison
    max_skip_connect: int | None = 2  # skip-connection guard at derivation (None: off)
    stn: bool = False
    tune_dropout: bool = False
    initial_dropout: float = 0.05
    arch_init_scale: float = 1e-3

    def __post_init__(self) -> None:
        unknown = set(self.operations) - set(PRIMITIVES)
        if unknown:
            raise ValueError(f"unknown DARTS operations {sorted(unknown)}; known {PRIMITIVES}")
        if self.memory not in MEMORY_MODES:
            raise ValueError(f"memory must be one of {MEMORY_MODES}, got {self.memory!r}")
        if self.layers < 3 or self.nodes < 1 or self.channels < 1:
            raise ValueError(
                "a DARTS network needs layers >= 3 (two reduction cells), nodes and channels >= 1"
            )
        if self.tune_dropout and not self.stn:
            raise ValueError(
                "tune_dropout needs stn=True: without the best response the validation loss "
                "does not depend on the dropout rates"
            )
        if not 0.0 < self.initial_dropout < 1.0:
            raise ValueError(f"initial_dropout must be in (0, 1), got {self.initial_dropout}")

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["input_size"] = list(self.input_size)
        values["operations"] = list(self.operations)
        return values


def _mixed_op(config: DartsSearchConfig, channels: int, stride: int, conv: ConvFactory):
    if config.reference:
        return ReferenceMixedOp(channels, stride, config.operations, conv)
    return MixedOp(channels, stride, config.operations, conv, config.memory == "lean")


class SearchCell(nn.Module):
    def __init__(
        self,
        config: DartsSearchConfig,
        c_prev_prev: int,
        c_prev: int,
        channels: int,
        reduction: bool,
        reduction_prev: bool,
        conv: ConvFactory,
    ) -> None:
        super().__init__()
        self.reduction = reduction
        self.preprocess0 = (
            FactorizedReduce(c_prev_prev, channels, affine=False, conv=conv)
            if reduction_prev
            else ReLUConvBN(c_prev_prev, channels, 1, 1, 0, affine=False, conv=conv)
        )
        self.preprocess1 = ReLUConvBN(c_prev, channels, 1, 1, 0, affine=False, conv=conv)
        self.edges = cell_edges(config.nodes)
        self.mixed = nn.ModuleList(
            _mixed_op(config, channels, 2 if reduction and source < 2 else 1, conv)
            for _, source in self.edges
        )
        self.nodes = config.nodes
        self.reference = config.reference

    def forward(self, s0: Tensor, s1: Tensor, weights: Tensor) -> Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        row = 0
        for _ in range(self.nodes):
            inputs = len(states)
            edges = (self.mixed[row + i](states[i], weights[row + i]) for i in range(inputs))
            if self.reference:
                states.append(sum(edges))
            else:  # summed in place (each edge's output is fresh), the gradient channels-last
                node = next(edges)
                for edge in edges:
                    node = node.add_(edge)
                states.append(channels_last_grad(node))
            row += inputs
        return torch.cat(states[2:], dim=1)


def _dropout(x: Tensor, rate: float) -> Tensor:
    """``F.dropout(x, rate)`` with the mask drawn in the logical (NCHW) order whatever the
    memory layout, so that a channels-last supernet drops the very same elements."""
    noise = torch.empty(x.shape, dtype=x.dtype, device=x.device).bernoulli_(1 - rate)
    return x * noise.div_(1 - rate)


class DartsSupernet(nn.Module):
    """See the module docstring."""

    def __init__(self, config: DartsSearchConfig) -> None:
        super().__init__()
        self.config = config
        n_edges, n_ops = len(cell_edges(config.nodes)), len(config.operations)
        n_dropout = len(DROPOUT_NAMES) if config.tune_dropout else 0
        self.n_hyper = 2 * n_edges * n_ops + n_dropout
        self.context = HyperContext(self.n_hyper) if config.stn else None
        conv: ConvFactory = partial(StnConv2d, self.context) if config.stn else plain_conv

        self.alphas_normal = nn.Parameter(config.arch_init_scale * torch.randn(n_edges, n_ops))
        self.alphas_reduce = nn.Parameter(config.arch_init_scale * torch.randn(n_edges, n_ops))
        initial_logit = float(np.log(config.initial_dropout / (1 - config.initial_dropout)))
        self.dropout_logits = (
            nn.Parameter(torch.full((n_dropout,), initial_logit)) if n_dropout else None
        )

        c = config.channels
        c_stem = config.stem_multiplier * c
        self.stem = nn.Sequential(
            nn.Conv2d(config.in_channels, c_stem, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_stem),
        )
        c_prev_prev, c_prev, c_curr = c_stem, c_stem, c
        reductions = reduction_layers(config.layers)
        self.cells = nn.ModuleList()
        reduction_prev = False
        for layer in range(config.layers):
            reduction = layer in reductions
            if reduction:
                c_curr *= 2
            self.cells.append(
                SearchCell(config, c_prev_prev, c_prev, c_curr, reduction, reduction_prev, conv)
            )
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, config.nodes * c_curr
        self.classifier = (
            StnLinear(self.context, c_prev, config.num_classes)
            if config.stn
            else nn.Linear(c_prev, config.num_classes)
        )

    # --- parameter groups ------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        """The hyper-parameters the outer level tunes (alphas, and dropout logits if tuned)."""
        extra = [self.dropout_logits] if self.dropout_logits is not None else []
        return [self.alphas_normal, self.alphas_reduce, *extra]

    def weight_parameters(self) -> list[nn.Parameter]:
        hyper = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in hyper]

    def hyper_vector(self) -> Tensor:
        """The current hyper-parameters as one flat vector (the STN's lambda)."""
        return torch.cat([p.reshape(-1) for p in self.arch_parameters()])

    def split_hyper(self, hyper: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        n = self.alphas_normal.numel()
        normal = hyper[:n].view_as(self.alphas_normal)
        reduce = hyper[n : 2 * n].view_as(self.alphas_reduce)
        return normal, reduce, (hyper[2 * n :] if self.dropout_logits is not None else None)

    # --- forward ---------------------------------------------------------------------------
    def forward(self, x: Tensor, hyper: Tensor | None = None, dropout: bool = True) -> Tensor:
        """Logits at hyper-parameters ``hyper`` (default: the module's own); the tuned dropout
        acts in training mode when ``dropout`` is true."""
        if hyper is None:
            hyper = self.hyper_vector()
        normal, reduce, dropout_logits = self.split_hyper(hyper)
        if self.context is not None:
            self.context.value = hyper
        rates = (
            torch.sigmoid(dropout_logits).detach().tolist()
            if dropout_logits is not None and self.training and dropout
            else [0.0, 0.0]
        )
        weights_normal, weights_reduce = F.softmax(normal, dim=-1), F.softmax(reduce, dim=-1)
        s0 = s1 = self.stem(x)
        if not self.config.reference:  # channels-last: oneDNN's fast depthwise convolutions
            s0 = s1 = s1.contiguous(memory_format=torch.channels_last)
        for cell in self.cells:
            out = cell(s0, s1, weights_reduce if cell.reduction else weights_normal)
            s0, s1 = s1, _dropout(out, rates[0]) if rates[0] and self.training else out
        features = s1.mean(dim=(2, 3))
        if rates[1]:
            features = F.dropout(features, rates[1], self.training)
        logits = self.classifier(features)
        if self.context is not None:
            self.context.value = None  # the graph holds it; a stored tensor blocks deepcopy
        return logits

    # --- reporting -------------------------------------------------------------------------
    def dropout_rates(self) -> dict[str, float]:
        if self.dropout_logits is None:
            return {}
        rates = torch.sigmoid(self.dropout_logits.detach()).tolist()
        return dict(zip(DROPOUT_NAMES, rates, strict=True))

    def arch_snapshot(self) -> dict[str, Any]:
        """Softmaxed architecture weights [edges, operations] of both cell types, and the
        dropout rates when they are tuned."""
        snapshot: dict[str, Any] = {
            "alpha_normal": F.softmax(self.alphas_normal.detach(), dim=-1).cpu().tolist(),
            "alpha_reduce": F.softmax(self.alphas_reduce.detach(), dim=-1).cpu().tolist(),
        }
        if self.dropout_logits is not None:
            snapshot["dropout"] = self.dropout_rates()
        return snapshot

    def derive(self) -> dict[str, Any]:
        """The "darts" spec of the derived cells (see ``models.darts_net``), with the search
        network's size; the final network's size is set by the caller."""
        config = self.config
        snapshot = self.arch_snapshot()
        genotype = {
            cell: derive_cell(
                np.asarray(snapshot[f"alpha_{cell}"]),
                config.operations,
                config.nodes,
                config.max_skip_connect if cell == "normal" else None,
            )
            for cell in ("normal", "reduce")
        }
        dropout = self.dropout_rates().get("classifier", 0.0)
        return {
            "schema_version": SPEC_SCHEMA_VERSION,
            "family": "darts",
            "in_channels": config.in_channels,
            "num_classes": config.num_classes,
            "input_size": list(config.input_size),
            "channels": config.channels,
            "layers": config.layers,
            "nodes": config.nodes,
            "stem_multiplier": config.stem_multiplier,
            "genotype": genotype,
            "dropout": dropout,
            "cell_dropout": self.dropout_rates().get("cell", 0.0),
        }
