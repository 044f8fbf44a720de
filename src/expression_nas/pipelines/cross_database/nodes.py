"""Nodes of the cross_database pipelines: thin wrappers over
``expression_nas.experiments.cross_database``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import cross_database as experiment
from expression_nas.experiments.cross_database import CorpusData
from expression_nas.parameters import CrossDatabaseParams

logger = logging.getLogger(__name__)


def resolve_architecture(params: CrossDatabaseParams) -> dict[str, Any]:
    """The spec every training builds (in_channels and num_classes set per training)."""
    spec = experiment.architecture_template(params.architecture)
    source = params.architecture.file or "cross_database.architecture.spec"
    logger.info("architecture: family %r from %s", spec["family"], source)
    return spec


def collect_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    augmented_images: np.ndarray,
    augmented_samples: pd.DataFrame,
    params: CrossDatabaseParams,
    classes: list[str],
    corpus: str,
) -> CorpusData:
    augmented = (augmented_images, augmented_samples) if params.training.use_augmented else None
    return CorpusData(corpus, images, samples.reset_index(drop=True), tuple(classes), augmented)


def evaluate_pairs(
    params: CrossDatabaseParams, spec: dict[str, Any], *corpora: CorpusData
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The long table of scores (one row per pair and protocol) and the test predictions."""
    return experiment.evaluate_pairs(corpora, spec, params)


def report_matrices(
    scores: pd.DataFrame, corpora: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame, Figure]:
    """The accuracy and UF1 matrices and their heatmaps; every pair's scores logged to the
    pipeline's MLflow run as ``xdb.<protocol>.<train>__<test>.<metric>``."""
    accuracy = experiment.score_matrix(scores, corpora, "accuracy")
    uf1 = experiment.score_matrix(scores, corpora, "uf1")
    figure = experiment.matrices_figure(scores, corpora)
    for row in scores[scores["accuracy"].notna()].itertuples():  # skipped pairs have none
        pair = f"xdb.{row.protocol}.{row.train_corpus}__{row.test_corpus}"
        tracking.log_metrics(
            {f"{pair}.{metric}": getattr(row, metric) for metric in ("accuracy", "uar", "uf1")}
        )
    records = scores.astype(object).where(scores.notna(), None).to_dict("records")
    tracking.log_dict(records, "cross_database/pair_scores.json")
    tracking.log_figure(figure, "cross_database/matrices.png")
    logger.info(
        "cross-database accuracy (rows: train, columns: test):\n%s", accuracy.to_string(index=False)
    )
    return accuracy, uf1, figure
