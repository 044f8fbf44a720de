"""The RNAS-MER supernet: DARTS-style cells (alpha) on an Auto-DeepLab-style lattice of
resolutions (beta), each cell refined by a mixture of attentions (eta).

Lattice. Layer -1 is the stem, at level 0. The state of layer l-1 at level s goes into layer l
either at the same level s ('same') or one level down at s+1 ('down', via a stride-2
``DownSample`` that doubles the channels); the last level has only 'same'. Hence level s exists
at layer l iff s <= min(l + 1, levels - 1). ``beta[l, s]`` holds the logits of (same, down)
for the state at level s of layer l-1; softmax runs over the valid transitions. Cell (l, s)
gets prev = sum over its incoming transitions of probability * (resampled) state; this is
Auto-DeepLab's network-level search, without up-sampling (a classifier only goes down).

prev_prev (the second cell input, c_{l-2}) of cell (l, s) is the state of layer l-2 at the
highest level <= s that exists there, brought down to s by stride-2 reductions; layers -1 and -2
are both the stem. The derived network applies the same rule with "exists" meaning "on the
path". With ``use_prev_prev=False`` the cell has no c_{l-2} input and no edges from it.

Cells. One topology (alpha, [edges, ops]) shared by all cells, each cell with its own weights;
node j sums a mixed operation over every edge into it. Mixed operations use PC-DARTS partial
channels: 1/k of the channels go through the operations, the rest bypass, then a channel
shuffle. Cell output = Conv1x1x1+BN of the concatenated nodes, with the level's channels.

Attention (eta, [layers, levels, 4]): per lattice cell rather than per layer, because every
lattice cell owns its own attention modules and the derived network takes eta at exactly the
cells its path visits. The output of cell (l, s) becomes sum_k softmax(eta[l, s])_k * att_k.

Head: at the last layer every level's state is average-pooled and classified by its own Linear;
the logits are summed over levels (as Auto-DeepLab sums its per-level ASPP outputs): the states
carry their beta weights already, and each head gets the full loss gradient.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from expression_nas.models.rnas_net import FAMILY
from expression_nas.nas.rnas.attention import ATTENTIONS, build_attention
from expression_nas.nas.rnas.decode import DOWN, SAME, cell_edges, derive_cell, viterbi_path
from expression_nas.nas.rnas.edge_groups import cell_nodes
from expression_nas.nas.rnas.mixed_op import MixedOp, ReferenceMixedOp
from expression_nas.nas.rnas.operations import (
    HYBRID_OPERATIONS,
    OPERATION_SETS,
    OPERATIONS,
    DownSample,
    ReLUConvBN,
    Stem,
    Triple,
    cell_projection,
    downsample_chain,
    level_channels,
    path_error,
)
from expression_nas.nas.spec import SPEC_SCHEMA_VERSION, validate_spec

logger = logging.getLogger(__name__)


def evenly_spread_path(layers: int, levels: int) -> tuple[int, ...]:
    """Fixed path that goes down at evenly spaced layers: level floor(l * levels / layers)."""
    return tuple(min(levels - 1, layer * levels // layers) for layer in range(layers))


@dataclass
class RnasSearchConfig:
    """Supernet settings. ``operations`` may be a name of OPERATION_SETS ("hybrid", "plain_3d")
    or a list of operation names. ``fixed_path`` is used only when ``search_path`` is False
    (None = ``evenly_spread_path``). ``checkpoint_edges`` recomputes each mixed operation in
    the backward pass instead of storing its activations (memory for time). ``input_size``
    (T, H, W) is only recorded in the spec. ``reference`` builds the straightforward mixed
    edges (``nas.rnas.mixed_op.ReferenceMixedOp``, whose recomputation updates the BN running
    statistics twice per step) instead of the fast ones, for comparison."""

    in_channels: int = 1
    num_classes: int = 3
    layers: int = 6
    nodes: int = 5
    channels: int = 8
    levels: int = 3
    stem_stride: Triple = (2, 2, 2)
    operations: tuple[str, ...] = HYBRID_OPERATIONS
    search_attention: bool = True
    search_path: bool = True
    fixed_path: tuple[int, ...] | None = None
    use_prev_prev: bool = True
    partial_channel_k: int = 4
    dropout: float = 0.0
    checkpoint_edges: bool = True
    input_size: Triple | None = None
    reference: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.operations, str):
            if self.operations not in OPERATION_SETS:
                raise ValueError(
                    f"operations: unknown set {self.operations!r}, known: {list(OPERATION_SETS)}"
                )
            self.operations = OPERATION_SETS[self.operations]
        self.operations = tuple(self.operations)
        self.stem_stride = tuple(self.stem_stride)
        if self.input_size is not None:
            self.input_size = tuple(self.input_size)
        for name in ("in_channels", "num_classes", "layers", "nodes", "channels", "levels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        unknown = [name for name in self.operations if name not in OPERATIONS]
        if unknown:
            raise ValueError(f"operations: unknown {unknown}, known: {list(OPERATIONS)}")
        if not set(self.operations) - {"none"}:
            raise ValueError("operations must hold at least one operation other than 'none'")
        if len(self.stem_stride) != 3 or min(self.stem_stride) < 1:
            raise ValueError(f"stem_stride must be 3 positive ints, got {self.stem_stride}")
        if self.partial_channel_k < 1 or self.channels % self.partial_channel_k:
            raise ValueError(
                f"partial_channel_k ({self.partial_channel_k}) must divide channels "
                f"({self.channels})"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.search_path:
            if self.fixed_path is not None:
                raise ValueError("fixed_path is only used with search_path=False")
        else:
            path = tuple(self.fixed_path or evenly_spread_path(self.layers, self.levels))
            problem = path_error(list(path), self.levels)
            if problem is None and len(path) != self.layers:
                problem = f"has {len(path)} levels for {self.layers} layers"
            if problem:
                raise ValueError(f"fixed_path {list(path)}: {problem}")
            self.fixed_path = path

    def to_dict(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RnasSearchConfig:
        known = {field.name for field in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RNAS search settings {unknown}, known: {sorted(known)}")
        return cls(**values)


class SearchCell(nn.Module):
    """A cell at one lattice position; the topology weights (alpha) come from the supernet."""

    def __init__(self, channels: int, config: RnasSearchConfig) -> None:
        super().__init__()
        self.edges = cell_edges(config.nodes, config.use_prev_prev)
        self.node_edges = [
            [e for e, (node, _) in enumerate(self.edges) if node == n] for n in range(config.nodes)
        ]
        self.preprocess0 = (
            ReLUConvBN(channels, channels, (1, 1, 1), affine=False)
            if config.use_prev_prev
            else None
        )
        self.preprocess1 = ReLUConvBN(channels, channels, (1, 1, 1), affine=False)
        self.mixed = nn.ModuleList(
            (ReferenceMixedOp if config.reference else MixedOp)(
                channels, config.operations, config.partial_channel_k, config.checkpoint_edges
            )
            for _ in self.edges
        )
        self.project = cell_projection(config.nodes * channels, channels, affine=False)
        self.reference = config.reference

    def forward(self, prev_prev: Tensor | None, prev: Tensor, alpha_probs: Tensor) -> Tensor:
        states = [
            self.preprocess0(prev_prev) if self.preprocess0 is not None else None,
            self.preprocess1(prev),
        ]
        if not self.reference:  # the edges of each source together (nas.rnas.edge_groups)
            nodes = cell_nodes(self.edges, self.mixed, states, alpha_probs, len(self.node_edges))
            return self.project(torch.cat(nodes, dim=1))
        for edge_ids in self.node_edges:
            states.append(
                sum(self.mixed[e](states[self.edges[e][1]], alpha_probs[e]) for e in edge_ids)
            )
        return self.project(torch.cat(states[2:], dim=1))


class AttentionMixture(nn.Module):
    """sum_k w_k * attention_k(x) over ATTENTIONS."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(build_attention(name, channels) for name in ATTENTIONS)

    def forward(self, x: Tensor, weights: Tensor) -> Tensor:
        return sum(w * attention(x) for w, attention in zip(weights, self.candidates, strict=True))


def _key(layer: int, level: int) -> str:
    return f"l{layer}_s{level}"


class RnasSupernet(nn.Module):
    """The RNAS-MER search space as one differentiable network (see the module docstring)."""

    def __init__(self, config: RnasSearchConfig) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.n_edges = len(cell_edges(config.nodes, config.use_prev_prev))
        self.alpha = nn.Parameter(1e-3 * torch.randn(self.n_edges, len(config.operations)))
        self.beta = (
            nn.Parameter(1e-3 * torch.randn(config.layers, config.levels, 2))
            if config.search_path
            else None
        )
        self.eta = (
            nn.Parameter(1e-3 * torch.randn(config.layers, config.levels, len(ATTENTIONS)))
            if config.search_attention
            else None
        )
        self.level_sets = [self._levels_at(layer) for layer in range(config.layers)]
        self.stem = Stem(config.in_channels, c, config.stem_stride)
        self.cells = nn.ModuleDict()
        self.downs = nn.ModuleDict()
        self.prev_prev_reduce = nn.ModuleDict()
        self.prev_prev_source: dict[str, int] = {}
        self.attentions = nn.ModuleDict()
        for layer, level_set in enumerate(self.level_sets):
            for level in level_set:
                key = _key(layer, level)
                width = level_channels(c, level)
                self.cells[key] = SearchCell(width, config)
                if level - 1 in self._levels_at(layer - 1):
                    self.downs[key] = DownSample(level_channels(c, level - 1), width, affine=False)
                if config.use_prev_prev:
                    source = max(s for s in self._levels_at(layer - 2) if s <= level)
                    self.prev_prev_source[key] = source
                    self.prev_prev_reduce[key] = downsample_chain(c, source, level, affine=False)
                if config.search_attention:
                    self.attentions[key] = AttentionMixture(width)
        self.dropout = nn.Dropout(config.dropout)
        self.heads = nn.ModuleDict(
            {
                str(level): nn.Linear(level_channels(c, level), config.num_classes)
                for level in self.level_sets[-1]
            }
        )
        logger.info(
            "RNAS supernet: %d lattice cells, %d edges x %d operations, %d weight parameters",
            len(self.cells),
            self.n_edges,
            len(config.operations),
            sum(p.numel() for p in self.weight_parameters()),
        )

    def _levels_at(self, layer: int) -> list[int]:
        """Levels that exist at ``layer`` (layers -1 and -2 are the stem, at level 0)."""
        if layer < 0:
            return [0]
        if self.config.search_path:
            return list(range(min(layer + 1, self.config.levels - 1) + 1))
        return [self.config.fixed_path[layer]]

    def arch_parameters(self) -> list[nn.Parameter]:
        return [p for p in (self.alpha, self.beta, self.eta) if p is not None]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def transition_probs(self) -> Tensor:
        """softmax(beta) over the valid transitions: [layers, levels, (same, down)]."""
        invalid = torch.zeros_like(self.beta, dtype=torch.bool)
        invalid[:, -1, DOWN] = True
        return F.softmax(self.beta.masked_fill(invalid, float("-inf")), dim=-1)

    def forward(self, x: Tensor) -> Tensor:
        alpha_probs = F.softmax(self.alpha, dim=-1)
        beta_probs = self.transition_probs() if self.beta is not None else None
        eta_probs = F.softmax(self.eta, dim=-1) if self.eta is not None else None
        stem = self.stem(x)
        before, prev = {0: stem}, {0: stem}
        for layer, level_set in enumerate(self.level_sets):
            current = {}
            for level in level_set:
                key = _key(layer, level)
                incoming = []
                if level in prev:
                    incoming.append((prev[level], level, SAME))
                if key in self.downs and level - 1 in prev:
                    incoming.append((self.downs[key](prev[level - 1]), level - 1, DOWN))
                s1 = sum(
                    state if beta_probs is None else beta_probs[layer, source, kind] * state
                    for state, source, kind in incoming
                )
                s0 = None
                if self.config.use_prev_prev:
                    s0 = self.prev_prev_reduce[key](before[self.prev_prev_source[key]])
                out = self.cells[key](s0, s1, alpha_probs)
                if eta_probs is not None:
                    out = self.attentions[key](out, eta_probs[layer, level])
                current[level] = out
            before, prev = prev, current
        return sum(
            self.heads[str(level)](self.dropout(state.mean(dim=(2, 3, 4))))
            for level, state in prev.items()
        )

    @torch.no_grad()
    def arch_snapshot(self) -> dict[str, list]:
        """Softmaxed architecture weights as nested lists (alpha [edges, ops], beta
        [layers, levels, 2], eta [layers, levels, attentions]; only those searched)."""
        snapshot = {"alpha": F.softmax(self.alpha, dim=-1).cpu().tolist()}
        if self.beta is not None:
            snapshot["beta"] = self.transition_probs().cpu().tolist()
        if self.eta is not None:
            snapshot["eta"] = F.softmax(self.eta, dim=-1).cpu().tolist()
        return snapshot

    def derive(self) -> dict[str, Any]:
        """The discrete architecture as a validated spec (family "rnas_mer")."""
        config = self.config
        snapshot = {key: np.asarray(value) for key, value in self.arch_snapshot().items()}
        if config.search_path:
            path = viterbi_path(snapshot["beta"], config.levels)
        else:
            path = list(config.fixed_path)
        if config.search_attention:
            attention = [
                ATTENTIONS[int(np.argmax(snapshot["eta"][layer, level]))]
                for layer, level in enumerate(path)
            ]
        else:
            attention = ["none"] * config.layers
        spec = {
            "schema_version": SPEC_SCHEMA_VERSION,
            "family": FAMILY,
            "in_channels": config.in_channels,
            "input_size": config.input_size,
            "num_classes": config.num_classes,
            "channels": config.channels,
            "stem_stride": config.stem_stride,
            "levels": config.levels,
            "layers": config.layers,
            "nodes": config.nodes,
            "use_prev_prev": config.use_prev_prev,
            "cell": derive_cell(
                snapshot["alpha"], config.operations, config.nodes, config.use_prev_prev
            ),
            "path": path,
            "attention": attention,
            "dropout": config.dropout,
            "search": {
                "operations": config.operations,
                "search_path": config.search_path,
                "search_attention": config.search_attention,
                "partial_channel_k": config.partial_channel_k,
            },
        }
        return validate_spec(spec)
