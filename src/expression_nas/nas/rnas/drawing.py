"""Drawing of an "rnas_mer" spec with matplotlib: the cell DAG and the network path."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from expression_nas.nas.cell_drawing import draw_cell_graph, save_figure
from expression_nas.nas.rnas.attention import ATTENTIONS
from expression_nas.nas.rnas.operations import OPERATIONS, level_channels
from expression_nas.nas.spec import validate_spec

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
    draw_cell_graph(
        cell_axes,
        spec["cell"],
        _op_colour,
        ("$c_{l-2}$", "$c_{l-1}$"),
        "$c_l$",
        "concat +\n1x1x1 conv",
        "cell (shared by all layers)",
        show_prev_prev=spec["use_prev_prev"],
    )
    _draw_path(path_axes, spec)
    save_figure(figure, path)
    return figure


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
