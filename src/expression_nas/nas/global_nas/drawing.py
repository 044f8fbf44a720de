"""The trajectory of a global search: every candidate's score, depth and width in order."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from expression_nas.nas.global_nas.strategy import PHASES


def trajectory_figure(candidates: pd.DataFrame, title: str = "global search") -> Figure:
    """Score per candidate (accepted ones filled, the best so far as a line), with the depth
    and width of every candidate below it."""
    figure = Figure(figsize=(9, 7), layout="constrained")
    score_axis, depth_axis, width_axis = figure.subplots(3, 1, sharex=True)
    colours = dict(zip(PHASES, ("C0", "C1", "C7", "C2", "C3"), strict=True))
    for phase, rows in candidates.groupby("phase", sort=False):
        accepted = rows[rows["accepted"]]
        score_axis.scatter(rows["index"], rows["score"], edgecolors=colours[phase],
                           facecolors="none", label=phase)  # fmt: skip
        score_axis.scatter(accepted["index"], accepted["score"], color=colours[phase])
    score_axis.step(candidates["index"], candidates["best_score"], where="post", color="k",
                    linewidth=0.8, label="best so far")  # fmt: skip
    score_axis.set_ylabel("validation accuracy (%)")
    score_axis.legend(fontsize="small", ncols=3)
    score_axis.set_title(f"{title}: filled = accepted")
    depth_axis.step(candidates["index"], candidates["depth"], where="mid")
    depth_axis.set_ylabel("depth (layers)")
    width_axis.step(candidates["index"], candidates["width"], where="mid", color="C1")
    width_axis.set_ylabel("width (channels)")
    width_axis.set_xlabel("candidate")
    return figure
