"""Drawing of an "rnas_mer" spec with matplotlib: the cell DAG and the network path."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from expression_nas.nas.rnas.attention import ATTENTIONS
from expression_nas.nas.rnas.operations import OPERATIONS, level_channels
from expression_nas.nas.spec import validate_spec

logger = logging.getLogger(__name__)

_NODE_BOX = {"boxstyle": "round,pad=0.35", "linewidth": 1.2}
_OP_PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939", "#ad494a",
)  # fmt: skip


def _op_colour(name: str) -> str:
    """A distinct, non-grey colour per operation (grey marks the concatenation)."""
    return _OP_PALETTE[list(OPERATIONS).index(name) % len(_OP_PALETTE)]


def draw_spec(spec: Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """The cell (left) and the path through the levels (right); also written as PNG to
    ``path`` when given."""
    spec = validate_spec(spec)
    if spec["family"] != "rnas_mer":
        raise ValueError(f"spec key 'family': can only draw 'rnas_mer', got {spec['family']!r}")
    figure = Figure(figsize=(16, 7), layout="constrained")
    FigureCanvasAgg(figure)
    cell_axes, path_axes = figure.subplots(1, 2, width_ratios=[3, 2])
    _draw_cell(cell_axes, spec["cell"], spec["use_prev_prev"])
    _draw_path(path_axes, spec)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, dpi=110)
        logger.info("architecture drawing written to %s", target)
    return figure


def _draw_cell(axes: Axes, cell: list, use_prev_prev: bool) -> None:
    nodes = len(cell)
    positions = {0: (0.0, 2.0), 1: (0.0, -2.0)}
    for j in range(nodes):
        positions[j + 2] = (2.8 * (j + 1), 0.0)
    output = (2.8 * (nodes + 1), -0.9)
    labels = {0: "c_{l-2}", 1: "c_{l-1}"} | {j + 2: str(j) for j in range(nodes)}
    boxes = {}
    for index, (x, y) in positions.items():
        if index == 0 and not use_prev_prev:
            continue
        colour = "#cfe2f3" if index < 2 else "#fff2cc"
        boxes[index] = axes.text(
            x,
            y,
            f"${labels[index]}$" if index < 2 else labels[index],
            ha="center",
            va="center",
            fontsize=12,
            zorder=3,
            bbox={**_NODE_BOX, "facecolor": colour},
        )
    out_box = axes.text(
        *output,
        "$c_l$",
        ha="center",
        va="center",
        fontsize=12,
        zorder=3,
        bbox={**_NODE_BOX, "facecolor": "#d9ead3"},
    )
    for j, edges in enumerate(cell):
        for name, source in edges:
            start, end = np.array(positions[source]), np.array(positions[j + 2])
            # Inputs bend outwards; node-to-node edges that skip nodes arc over (even
            # targets) or under (odd targets) the line of nodes.
            if source == 0:
                rad = -0.2
            elif source == 1:
                rad = 0.2
            elif source == j + 1:
                rad = 0.0
            else:
                rad = -0.35 if j % 2 == 0 else 0.35
            colour = _op_colour(name)
            axes.annotate(
                "",
                xy=end,
                xytext=start,
                zorder=1,
                arrowprops={
                    "arrowstyle": "-|>",
                    "color": colour,
                    "lw": 1.6,
                    "connectionstyle": f"arc3,rad={rad}",
                    "patchA": boxes[source].get_bbox_patch(),
                    "patchB": boxes[j + 2].get_bbox_patch(),
                },
            )
            if rad == 0.0:  # straight edge between neighbours: label just above it
                label = (start + end) / 2 + np.array([0.0, 0.3])
            else:  # 60 % along matplotlib's arc3 Bezier curve (exact with equal axis scales)
                dx, dy = end - start
                control = (start + end) / 2 + rad * np.array([dy, -dx])
                label = 0.16 * start + 0.48 * control + 0.36 * end
            axes.text(
                *label,
                name,
                ha="center",
                va="center",
                fontsize=8,
                color=colour,
                zorder=2,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
            )
    for j in range(nodes):
        axes.annotate(
            "",
            xy=output,
            xytext=positions[j + 2],
            zorder=1,
            arrowprops={
                "arrowstyle": "-|>",
                "color": "0.6",
                "lw": 1.0,
                "linestyle": "--",
                "connectionstyle": f"arc3,rad={0.0 if j == nodes - 1 else 0.3}",
                "patchA": boxes[j + 2].get_bbox_patch(),
                "patchB": out_box.get_bbox_patch(),
            },
        )
    axes.text(
        output[0],
        output[1] - 0.6,
        "concat +\n1x1x1 conv",
        ha="center",
        va="top",
        fontsize=8,
        color="0.4",
    )
    axes.set_xlim(-1.0, output[0] + 1.0)
    axes.set_ylim(-3.4, 3.4)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.set_title("cell (shared by all layers)")


def _draw_path(axes: Axes, spec: dict[str, Any]) -> None:
    layers, levels, path = spec["layers"], spec["levels"], spec["path"]
    lattice = [(layer, s) for layer in range(layers) for s in range(min(layer + 1, levels - 1) + 1)]
    axes.scatter(*zip(*lattice, strict=True), s=60, color="0.85", zorder=1)
    xs, ys = [-1, *range(layers)], [0, *path]
    axes.plot(xs, ys, color="tab:red", lw=3, zorder=2)
    axes.scatter([-1], [0], s=160, marker="s", color="0.3", zorder=3)
    axes.annotate(
        "stem", (-1, 0), textcoords="offset points", xytext=(0, 12), ha="center", fontsize=9
    )
    attention_colours = dict(
        zip(ATTENTIONS, ("0.5", "tab:blue", "tab:green", "tab:purple"), strict=True)
    )
    for layer, (level, attention) in enumerate(zip(path, spec["attention"], strict=True)):
        axes.scatter([layer], [level], s=160, color=attention_colours[attention], zorder=3)
        axes.annotate(
            attention,
            (layer, level),
            textcoords="offset points",
            xytext=(2, 10),
            ha="left",
            fontsize=8,
            rotation=35,
            color=attention_colours[attention],
        )
    stride = spec["stem_stride"]
    axes.set_yticks(range(levels))
    axes.set_yticklabels(
        [
            f"level {s}: {level_channels(spec['channels'], s)} ch,\n"
            f"stride {'x'.join(str(v * 2**s) for v in stride)}"
            for s in range(levels)
        ],
        fontsize=9,
    )
    axes.set_xticks(range(-1, layers))
    axes.set_xticklabels(["stem", *(str(layer) for layer in range(layers))])
    axes.set_xlim(-1.6, layers - 0.4)
    axes.set_ylim(levels - 0.5, -0.9)
    axes.set_xlabel("layer")
    axes.set_title(f"path {path} (marker colour and label: attention)")
    axes.grid(alpha=0.3)
