"""What the FER pipelines' evaluation nodes share: the report of one corpus's evaluation."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from expression_nas import tracking
from expression_nas.experiments.fer_evaluation import confusion_figure

logger = logging.getLogger(__name__)


def report_evaluation(
    label: str,
    corpus: str,
    predictions: pd.DataFrame,
    metrics: dict[str, Any],
    classes: list[str],
    model: nn.Module | None = None,
) -> Figure:
    """The confusion matrix of ``label``'s network evaluated on ``corpus``, logged with its
    metrics (``<corpus>.accuracy``, ...) on the pipeline run, and with ``model`` the trained
    network too (mlflow.pytorch, as ``final_model``)."""
    title = f"{label} on {corpus} ({metrics['protocol']}): accuracy {metrics['accuracy']:.2f}"
    figure = confusion_figure(predictions, classes, title)
    tracking.log_figure(figure, f"{corpus}/confusion_matrix.png")
    tracking.log_metrics({f"{corpus}.{k}": metrics[k] for k in ("accuracy", "uar", "uf1")})
    if model is not None:
        tracking.log_torch_model(model.cpu().eval(), name="final_model")
    logger.info(
        "%s on %s: accuracy %.3f, UAR %.3f, UF1 %.3f over %d images; %d parameters",
        label,
        corpus,
        metrics["accuracy"],
        metrics["uar"],
        metrics["uf1"],
        metrics["n"],
        metrics["costs"]["parameters"],
    )
    return figure
