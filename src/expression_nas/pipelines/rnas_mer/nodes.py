"""Nodes of the rnas_mer pipeline: thin wrappers over ``expression_nas.experiments.rnas_mer``."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import rnas_mer as experiment
from expression_nas.parameters import RnasMerParams

logger = logging.getLogger(__name__)


def _training_data(
    clips: np.ndarray,
    samples: pd.DataFrame,
    augmented_clips: np.ndarray,
    augmented_samples: pd.DataFrame,
    params: RnasMerParams,
) -> tuple[np.ndarray, pd.DataFrame]:
    if params.training.use_augmented:
        return augmented_clips, augmented_samples
    return clips, samples


def plan_searches(samples: pd.DataFrame, params: RnasMerParams) -> list[dict[str, Any]]:
    plan = experiment.plan_searches(samples, params.search_groups, params.seed)
    for group in plan:
        logger.info(
            "search %s: %d search subjects, %d evaluated subjects",
            group.name,
            len(group.search_subjects),
            len(group.evaluated_subjects),
        )
    return [asdict(group) for group in plan]


def search_architectures(
    clips: np.ndarray,
    samples: pd.DataFrame,
    plan: list[dict[str, Any]],
    params: RnasMerParams,
    classes: list[str],
    corpus: str,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Figure]]:
    """One search per group of the plan: the specs, their histories and their drawings.
    Checkpoints go to ``params.checkpoint_dir`` (with ``{corpus}`` filled in)."""
    checkpoint_dir = Path(params.checkpoint_dir.format(corpus=corpus))
    specs, report, drawings = {}, {}, {}
    for group in (experiment.SearchGroup(**row) for row in plan):
        outcome = experiment.search_for_group(
            clips, samples, group, params, classes, checkpoint_dir
        )
        specs[group.name] = outcome["spec"]
        report[group.name] = {"seconds": outcome["seconds"], "history": outcome["history"]}
        drawings[f"architecture_{group.name}"] = outcome["drawing"]
    tracking.log_metrics({"search_seconds_total": sum(r["seconds"] for r in report.values())})
    return specs, report, drawings


def evaluate_loso(
    clips: np.ndarray,
    samples: pd.DataFrame,
    augmented_clips: np.ndarray,
    augmented_samples: pd.DataFrame,
    specs: dict[str, Any],
    plan: list[dict[str, Any]],
    params: RnasMerParams,
) -> pd.DataFrame:
    data = _training_data(clips, samples, augmented_clips, augmented_samples, params)
    groups = [experiment.SearchGroup(**row) for row in plan]
    return experiment.loso_evaluation(*data, specs, groups, params)


def summarize_loso(
    predictions: pd.DataFrame, classes: list[str], params: RnasMerParams, corpus: str
) -> tuple[dict[str, Any], Figure]:
    """Pooled accuracy, UAR and UF1 (and per source), logged to MLflow and to the log."""
    metrics = experiment.summarize_predictions(predictions, classes)
    tracking.log_metrics({key: metrics[key] for key in ("accuracy", "uar", "uf1")})
    for row in metrics["by_source"]:
        tracking.log_metrics(
            {f"uf1_{row['dataset']}": row["uf1"], f"uar_{row['dataset']}": row["uar"]}
        )
    logger.info(
        "%s rnas_mer (variant %s) LOSO over %d samples: UF1 %.3f, UAR %.3f, accuracy %.3f "
        "(chance UF1 for %d balanced classes: %.3f)",
        corpus,
        params.variant,
        metrics["n"],
        metrics["uf1"],
        metrics["uar"],
        metrics["accuracy"],
        len(classes),
        metrics["chance_uf1_uniform"],
    )
    title = f"{corpus} rnas_mer[{params.variant}] LOSO (UF1 {metrics['uf1']:.2f})"
    figure = experiment.confusion_figure(predictions, classes, title)
    tracking.log_figure(figure, "confusion_matrix.png")
    return metrics, figure


def evaluate_cross_database(
    clips: np.ndarray,
    samples: pd.DataFrame,
    augmented_clips: np.ndarray,
    augmented_samples: pd.DataFrame,
    specs: dict[str, Any],
    params: RnasMerParams,
    classes: list[str],
) -> tuple[pd.DataFrame, Figure]:
    data = _training_data(clips, samples, augmented_clips, augmented_samples, params)
    matrix = experiment.cross_database(*data, specs, params, classes)
    return matrix, experiment.cross_database_figure(matrix)


def train_release_model(
    clips: np.ndarray,
    samples: pd.DataFrame,
    augmented_clips: np.ndarray,
    augmented_samples: pd.DataFrame,
    specs: dict[str, Any],
    params: RnasMerParams,
) -> dict[str, Any]:
    data = _training_data(clips, samples, augmented_clips, augmented_samples, params)
    return experiment.train_release_model(*data, specs, params)
