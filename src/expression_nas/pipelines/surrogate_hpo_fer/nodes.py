"""Nodes of the surrogate_hpo_fer pipelines: thin wrappers over
``expression_nas.experiments.surrogate_hpo_fer``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import surrogate_hpo_fer as experiment
from expression_nas.experiments.fer_evaluation import confusion_figure, summarize_fer
from expression_nas.hpo.sparseness import SparsenessSetting
from expression_nas.parameters import SurrogateHpoFerParams

logger = logging.getLogger(__name__)


def tune_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    params: SurrogateHpoFerParams,
    classes: list[str],
    corpus: str,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any], Figure, Figure, dict[str, Any]]:
    """Every report row of ``corpus``; the metrics and confusion matrix of its last row (the
    'selected' one in the shipped settings), the convergence plot and the selected network's
    spec (from its first fold's setting)."""
    report, predictions, histories = experiment.run_corpus(images, samples, classes, corpus, params)
    main = report["method"].iloc[-1]
    main_predictions = predictions[(predictions["method"] == main) & (predictions["repeat"] == 0)]
    metrics = summarize_fer(main_predictions, classes) | {"corpus": corpus, "method": main}
    metrics["report"] = report.drop(columns="settings").to_dict("records")
    confusion = confusion_figure(
        main_predictions, classes, f"{main} on {corpus}: accuracy {metrics['accuracy']:.2f}"
    )
    convergence = experiment.convergence_figure(histories, corpus)
    tracking.log_figure(convergence, f"{corpus}/convergence.png")
    tracking.log_figure(confusion, f"{corpus}/confusion_matrix.png")
    in_channels = 3 if np.asarray(images[0]).ndim == 3 else 1
    first_setting = next(iter(report["settings"].iloc[-1].values()))
    spec = experiment.selected_spec(
        experiment.original_spec(params, len(classes), in_channels),
        SparsenessSetting(**first_setting),
    )
    report = report.assign(settings=report["settings"].map(str))
    return report, predictions, metrics, confusion, convergence, spec


def compare_costs(params: SurrogateHpoFerParams) -> pd.DataFrame:
    """T_ori against T_sur for the three backbones (ours at 28x28; M-ResNet at the configured
    input size when it is the pipeline's network, else 96x96)."""
    size = params.network.input_size if params.network.backbone == "mresnet" else 96
    table = experiment.cost_comparison([("lenet", 28), ("resnet20", 28), ("mresnet", size)])
    tracking.log_dict(table.to_dict("records"), "cost_comparison.json")
    logger.info("original against surrogate:\n%s", table.to_string(index=False))
    return table


def summarize_reports(*reports: pd.DataFrame) -> pd.DataFrame:
    """One table of every corpus's rows (the Table-4-like report)."""
    table = pd.concat(reports, ignore_index=True)
    for row in table.itertuples():
        tracking.log_metrics({f"{row.corpus}.{row.method}.accuracy": row.accuracy})
    tracking.log_dict(table.to_dict("records"), "surrogate_hpo_report.json")
    columns = ["corpus", "method", "accuracy", "uar", "uf1", "surrogate_evaluations", "seconds"]
    logger.info("surrogate HPO report:\n%s", table[columns].to_string(index=False))
    return table
