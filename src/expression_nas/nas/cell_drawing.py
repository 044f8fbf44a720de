"""Matplotlib drawing of a searched cell (a DAG of operations), shared by the search spaces.

Inputs c_{k-2} and c_{k-1} on the left, intermediate nodes 0..n-1 in a row, the output on the
right; every chosen edge is an arrow from its source to its node, labelled with (and coloured
by) its operation; dashed grey arrows feed the output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

NODE_BOX = {"boxstyle": "round,pad=0.35", "linewidth": 1.2}
_NODE_STEP = 2.8


def draw_cell_graph(
    axes: Axes,
    cell: list,
    op_colour: Callable[[str], str],
    input_labels: tuple[str, str],
    output_label: str,
    output_note: str,
    title: str,
    show_prev_prev: bool = True,
) -> None:
    """Draw ``cell`` (per intermediate node a list of [operation, source]; source 0 and 1 are
    the cell inputs, 2.. earlier nodes) on ``axes``."""
    nodes = len(cell)
    positions = {0: (0.0, 2.0), 1: (0.0, -2.0)}
    for j in range(nodes):
        positions[j + 2] = (_NODE_STEP * (j + 1), 0.0)
    output = (_NODE_STEP * (nodes + 1), -0.9)
    labels = {0: input_labels[0], 1: input_labels[1]} | {j + 2: str(j) for j in range(nodes)}
    boxes = {}
    for index, (x, y) in positions.items():
        if index == 0 and not show_prev_prev:
            continue
        boxes[index] = axes.text(
            x,
            y,
            labels[index],
            ha="center",
            va="center",
            fontsize=12,
            zorder=3,
            bbox={**NODE_BOX, "facecolor": "#cfe2f3" if index < 2 else "#fff2cc"},
        )
    out_box = axes.text(
        *output,
        output_label,
        ha="center",
        va="center",
        fontsize=12,
        zorder=3,
        bbox={**NODE_BOX, "facecolor": "#d9ead3"},
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
            colour = op_colour(name)
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
        output[0], output[1] - 0.6, output_note, ha="center", va="top", fontsize=8, color="0.4"
    )
    axes.set_xlim(-1.0, output[0] + 1.0)
    axes.set_ylim(-3.4, 3.4)
    axes.set_aspect("equal")
    axes.axis("off")
    axes.set_title(title)


def save_figure(figure: Figure, path: str | Path | None) -> None:
    """Write ``figure`` as PNG to ``path`` (parent folders created) when a path is given."""
    if path is None:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, dpi=110)
    logger.info("architecture drawing written to %s", target)
