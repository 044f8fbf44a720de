"""Classification metrics in the MER convention, confusion-matrix and score-matrix plots.

UAR is the unweighted mean of per-class recall (TP / N_c) and UF1 the unweighted mean of
per-class F1 (2TP / (2TP + FP + FN)), both over ALL ``n_classes`` classes. Under LOSO they are
computed once over the predictions pooled from every fold, not averaged over folds: a test
subject rarely shows every class, so per-fold scores are dominated by empty classes.

Zero division: a class with no true and no predicted sample has F1 = 0/0 and recall = 0/0;
it counts as 0 and stays in the denominator (sklearn ``zero_division=0``). The mean is then
always over the same ``n_classes``, comparable between runs, and never inflated by leaving
out a class the model was not asked about. On pooled LOSO predictions every class has true
samples, so this only touches degenerate subsets (a single fold, a small cross-database
subset); a warning names the classes concerned.

No prediction: ``NO_PREDICTION`` (-1) in ``y_pred`` marks a sample the model could not
predict (its training diverged). It counts as wrong for its true class and for no class as
a prediction, so a failed model scores what it is worth instead of stopping the report.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

logger = logging.getLogger(__name__)

#: ``y_pred`` of a sample that has no prediction (see the module docstring)
NO_PREDICTION = -1


def classification_metrics(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int
) -> dict:
    """Accuracy, UAR, UF1 and per-class precision/recall/F1/support (lists indexed by class).

    See the module docstring for the pooling and zero-division conventions.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(
            f"need two matching, non-empty 1-D label arrays: {y_true.shape}, {y_pred.shape}"
        )
    for name, values, lowest in (("y_true", y_true, 0), ("y_pred", y_pred, NO_PREDICTION)):
        if values.min() < lowest or values.max() >= n_classes:
            raise ValueError(f"{name} has labels outside {lowest}..{n_classes - 1}")
    labels = list(range(n_classes))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0
    )
    absent = [c for c in labels if support[c] == 0]
    if absent:
        logger.warning(
            "classes %s have no true sample here: their recall and F1 count as 0 in UAR/UF1",
            absent,
        )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "uar": float(np.mean(recall)),
        "uf1": float(np.mean(f1)),
        "precision": [float(v) for v in precision],
        "recall": [float(v) for v in recall],
        "f1": [float(v) for v in f1],
        "support": [int(v) for v in support],
    }


def metrics_by_group(
    predictions: pd.DataFrame, group_column: str, n_classes: int | None = None
) -> pd.DataFrame:
    """Accuracy, UAR and UF1 per value of ``group_column`` (e.g. ``dataset``: the source
    corpus of the composite) over a pooled predictions table with ``y_true`` and ``y_pred``.

    Every group is scored over the same ``n_classes`` (default: inferred from the whole table),
    so a group lacking a class is scored 0 on it, as in ``classification_metrics``.
    """
    if n_classes is None:
        n_classes = int(max(predictions["y_true"].max(), predictions["y_pred"].max())) + 1
    rows = []
    for group, part in predictions.groupby(group_column, sort=True):
        scores = classification_metrics(part["y_true"], part["y_pred"], n_classes)
        rows.append(
            {
                group_column: group,
                "n": scores["n"],
                "accuracy": scores["accuracy"],
                "uar": scores["uar"],
                "uf1": scores["uf1"],
            }
        )
    return pd.DataFrame(rows).set_index(group_column)


def confusion_matrix_figure(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    title: str,
) -> Figure:
    """Confusion matrix as counts (left) and normalised by true class (right: recall on the
    diagonal; a class without samples gives a zero row)."""
    labels = list(range(len(class_names)))
    figure = Figure(
        figsize=(6.0 + 2.4 * len(labels), 0.6 * len(labels) + 3.5), layout="constrained"
    )
    count_axes, rate_axes = figure.subplots(1, 2)
    for axes, normalize, fmt, subtitle in (
        (count_axes, None, "d", "counts"),
        (rate_axes, "true", ".2f", "normalised by true class"),
    ):
        matrix = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
        ConfusionMatrixDisplay(matrix, display_labels=list(class_names)).plot(
            ax=axes, cmap="Blues", values_format=fmt, colorbar=False, xticks_rotation=45
        )
        axes.set_title(subtitle)
    figure.suptitle(title)
    return figure


def score_matrix_heatmap(axes: Axes, matrix: pd.DataFrame, title: str) -> AxesImage:
    """A cross-database score matrix (rows: training corpus, columns: test corpus, values in
    [0, 1]; NaN where there is no score: the diagonal, a skipped pair) drawn on ``axes`` with
    each cell's value; returns the image, for a colour bar."""
    values = matrix.to_numpy(dtype=float)
    image = axes.imshow(np.ma.masked_invalid(values), vmin=0, vmax=1, cmap="viridis")
    axes.set_xticks(range(len(matrix.columns)), list(matrix.columns), rotation=20, ha="right")
    axes.set_yticks(range(len(matrix.index)), list(matrix.index))
    axes.set_xlabel("test corpus")
    axes.set_ylabel("train corpus")
    for (row, column), value in np.ndenumerate(values):
        scored = bool(np.isfinite(value))
        axes.text(
            column,
            row,
            f"{value:.2f}" if scored else "-",
            ha="center",
            va="center",
            color=("k" if value > 0.6 else "w") if scored else "grey",
        )
    axes.set_title(title)
    return image
