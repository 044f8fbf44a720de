"""Nodes of the efficientnet_fer pipelines: thin wrappers over
``expression_nas.experiments.efficientnet_fer``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import efficientnet_comparisons as comparisons
from expression_nas.experiments import efficientnet_fer as experiment
from expression_nas.experiments.library_configs import augmentation_config
from expression_nas.parameters import AugmentationParams, EfficientnetFerParams
from expression_nas.pipelines.fer_reporting import report_evaluation
from expression_nas.training.loop import torch_threads

logger = logging.getLogger(__name__)


def search(
    images: np.ndarray,
    samples: pd.DataFrame,
    params: EfficientnetFerParams,
    augmentation: AugmentationParams,
    classes: list[str],
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """The TPE study brought to its trial count (resumed when it exists): its report, its
    trials and the best configuration's spec."""
    report, trials, spec = experiment.run_search(
        images, samples, classes, params, augmentation_config(augmentation)
    )
    tracking.log_dict(spec, "architecture_spec.json")
    return report, trials, spec


def plot_study(
    search_report: dict[str, Any], params: EfficientnetFerParams
) -> tuple[Figure, Figure, Figure, Figure]:
    """Optuna's optimization history, parallel coordinate, importances and slice plots."""
    figures = experiment.study_figures_of(params)
    for name, figure in figures.items():
        tracking.log_figure(figure, f"optuna/{name}.png")
    logger.info("plots of study %s (%d trials)", search_report["study"], search_report["trials"])
    return tuple(figures[name] for name in experiment.STUDY_PLOTS)


def evaluate_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: EfficientnetFerParams,
    augmentation: AugmentationParams,
    classes: list[str],
    corpus: str,
    log_model: bool,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    """The best configuration retrained and tested under ``corpus``'s protocol; with
    ``log_model`` the trained network goes on the pipeline run (mlflow.pytorch)."""
    with torch_threads(params.threads):
        predictions, metrics, model = experiment.evaluate_corpus(
            images,
            samples,
            classes,
            corpus,
            spec,
            search_report["search_seconds"],
            params,
            augmentation_config(augmentation),
        )
    figure = report_evaluation(
        "efficientnet", corpus, predictions, metrics, classes, model if log_model else None
    )
    return predictions, metrics, figure


def compare(
    images: np.ndarray,
    samples: pd.DataFrame,
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: EfficientnetFerParams,
    augmentation: AugmentationParams,
    classes: list[str],
) -> tuple[pd.DataFrame, Figure, pd.DataFrame, Figure]:
    """Seed 003's comparisons: full against scaled-down, weighted against unweighted loss."""
    with torch_threads(params.threads):
        scaling, weighting = comparisons.run_comparisons(
            images, samples, classes, spec, search_report, params, augmentation_config(augmentation)
        )
    scaling_plot = comparisons.scaling_figure(scaling)
    weighting_plot = comparisons.loss_weighting_figure(weighting, classes)
    tracking.log_figure(scaling_plot, "comparisons/scaling.png")
    tracking.log_figure(weighting_plot, "comparisons/loss_weighting.png")
    for name, table in (("scaling", scaling), ("loss_weighting", weighting)):
        tracking.log_dict(table.to_dict("records"), f"comparisons/{name}.json")
        if not table.empty:
            columns = ["arm", "variant", "weighted_loss", "accuracy", "minority_recall"]
            logger.info("%s comparison:\n%s", name, table[[*columns, "parameters"]].to_string())
    return scaling, scaling_plot, weighting, weighting_plot


def summarize(
    search_report: dict[str, Any],
    scaling: pd.DataFrame,
    weighting: pd.DataFrame,
    *corpus_metrics: dict[str, Any],
) -> dict[str, Any]:
    """One record of the search, the final models per corpus and the comparisons."""
    keys = ("protocol", "n", "accuracy", "uar", "uf1", "costs", "fold_accuracy_std", "epochs")
    summary = {
        "search": search_report,
        "corpora": {m["corpus"]: {k: m.get(k) for k in keys} for m in corpus_metrics},
        "scaling_comparison": scaling.to_dict("records"),
        "loss_weighting_comparison": weighting.to_dict("records"),
    }
    tracking.log_dict(summary, "efficientnet_fer_summary.json")
    return summary
