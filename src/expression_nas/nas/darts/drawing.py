"""Drawing of a "darts" spec with matplotlib: the normal cell above the reduction cell.

Each cell is drawn as DARTS draws it (seed 002, Fig. 3(b) and 14): the two input nodes
c_{k-2} and c_{k-1} (outputs of the previous two cells) on the left, the intermediate nodes
0..n-1 in a row, and the output c_k, the channel concatenation of all intermediate nodes, on
the right. Every chosen edge is an arrow from its source to its node, labelled with (and
coloured by) its operation; the dashed grey arrows feed the concatenation.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from expression_nas.nas.darts.operations import PRIMITIVES
from expression_nas.nas.spec import validate_spec

logger = logging.getLogger(__name__)

_NODE_BOX = {"boxstyle": "round,pad=0.35", "linewidth": 1.2}
_OP_PALETTE = (
    "#7f7f7f", "#1f77b4", "#17becf", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd", "#8c564b",
)  # fmt: skip
_CELLS = (("normal", "normal cell"), ("reduce", "reduction cell"))


def _op_colour(name: str) -> str:
    """One colour per DARTS operation (grey is kept for the concatenation arrows)."""
    index = PRIMITIVES.index(name) if name in PRIMITIVES else 0
    return _OP_PALETTE[index % len(_OP_PALETTE)]


def draw_genotype(spec: Mapping[str, Any], path: str | Path | None = None) -> Figure:
    """The normal cell (top) and the reduction cell (bottom) of a "darts" spec; also written
    as PNG to ``path`` when given."""
    spec = validate_spec(spec)
    if spec["family"] != "darts":
        raise ValueError(f"spec key 'family': can only draw 'darts', got {spec['family']!r}")
    nodes = max(len(spec["genotype"][cell]) for cell, _ in _CELLS)
    figure = Figure(figsize=(max(8.0, 2.0 * (nodes + 2)), 9), layout="constrained")
    FigureCanvasAgg(figure)
    for axes, (cell, title) in zip(figure.subplots(2, 1), _CELLS, strict=True):
        _draw_cell(axes, spec["genotype"][cell], title)
    if path is not None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(target, dpi=110)
        logger.info("architecture drawing written to %s", target)
    return figure


def _draw_cell(axes: Axes, cell: list, title: str) -> None:
    nodes = len(cell)
    step = 2.8
    positions = {0: (0.0, 2.0), 1: (0.0, -2.0)}
    for j in range(nodes):
        positions[j + 2] = (step * (j + 1), 0.0)
    output = (step * (nodes + 1), -0.9)
    labels = {0: "$c_{k-2}$", 1: "$c_{k-1}$"} | {j + 2: str(j) for j in range(nodes)}
    boxes = {}
    for index, (x, y) in positions.items():
        boxes[index] = axes.text(
            x,
            y,
            labels[index],
            ha="center",
            va="center",
            fontsize=12,
            zorder=3,
            bbox={**_NODE_BOX, "facecolor": "#cfe2f3" if index < 2 else "#fff2cc"},
        )
    out_box = axes.text(
        *output,
        "$c_k$",
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
            # targets) or under (odd targets) the row of nodes.
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
    axes.text(output[0], output[1] - 0.6, "concat", ha="center", va="top", fontsize=8, color="0.4")
    axes.set_xlim(-1.0, output[0] + 1.0)
    axes.set_ylim(-3.4, 3.4)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.set_title(title)
