"""Nodes of the darts_fer / darts_stn_fer pipelines: thin wrappers over
``expression_nas.experiments.darts_fer``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import darts_fer as experiment
from expression_nas.parameters import DartsFerParams

logger = logging.getLogger(__name__)


def split_search_data(samples: pd.DataFrame, params: DartsFerParams) -> dict[str, list[int]]:
    split = experiment.search_split(
        samples, params.seed, params.search.train_portion, params.search.max_images
    )
    logger.info(
        "search data: %d images for the weights, %d for the architecture (training split only)",
        len(split["train"]),
        len(split["val"]),
    )
    return split


def search_architecture(
    images: np.ndarray,
    samples: pd.DataFrame,
    split: dict[str, list[int]],
    params: DartsFerParams,
    classes: list[str],
    strategy: str,
    method: str,
) -> tuple[dict[str, Any], dict[str, Any], Figure]:
    """The searched cells (spec), the search's history and cost, and a drawing of the cells.
    Per-epoch checkpoints go to ``params.checkpoint_dir`` (with ``{method}`` filled in)."""
    checkpoint_dir = Path(params.checkpoint_dir.format(method=method))
    outcome = experiment.run_darts_search(
        images, samples, split, params, strategy, classes, checkpoint_dir
    )
    report = {
        "strategy": strategy,
        "seconds": outcome["seconds"],
        "history": outcome["history"],
        "arch_history": outcome["arch_history"],
    }
    return outcome["spec"], report, outcome["drawing"]


def evaluate_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    augmented_images: np.ndarray,
    augmented_samples: pd.DataFrame,
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: DartsFerParams,
    classes: list[str],
    corpus: str,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    augmented = (augmented_images, augmented_samples) if params.training.use_augmented else None
    return experiment.evaluate_corpus(
        images,
        samples,
        augmented,
        spec,
        params,
        classes,
        corpus,
        search_report["strategy"],
        search_report["seconds"],
    )


def summarize_method(search_report: dict[str, Any], *corpus_metrics: dict[str, Any]) -> dict:
    summary = experiment.method_summary(
        search_report["strategy"],
        search_report,
        {metrics["corpus"]: metrics for metrics in corpus_metrics},
    )
    tracking.log_metrics({"search_seconds": summary["search_seconds"]})
    return summary


def compare_methods(*summaries: dict[str, Any]) -> tuple[pd.DataFrame, Figure]:
    """The comparison table and plots, logged to MLflow as well."""
    table = experiment.comparison_table(list(summaries))
    figure = experiment.comparison_figure(table, list(summaries))
    for row in table.itertuples():
        tracking.log_metrics({f"{row.method}_{row.corpus}_accuracy": row.accuracy})
    tracking.log_dict(table.to_dict("records"), "darts_comparison.json")
    tracking.log_figure(figure, "darts_comparison.png")
    logger.info("DARTS vs DARTS-STN:\n%s", table.to_string(index=False))
    return table, figure
