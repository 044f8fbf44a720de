"""Nodes of the global_nas_fer pipelines: thin wrappers over
``expression_nas.experiments.global_nas_fer`` and ``.global_nas_baseline``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments import global_nas_baseline as baseline
from expression_nas.experiments import global_nas_fer as experiment
from expression_nas.nas.global_nas.drawing import trajectory_figure
from expression_nas.parameters import GlobalNasFerParams
from expression_nas.pipelines.fer_reporting import report_evaluation
from expression_nas.training.loop import torch_threads

logger = logging.getLogger(__name__)


def search(
    images: np.ndarray,
    samples: pd.DataFrame,
    params: GlobalNasFerParams,
    classes: list[str],
    corpus: str,
    pipeline: str,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any], Figure]:
    """Algorithm 1 on ``corpus`` (resumed from the candidate cache): its report, every
    candidate, the found spec and the trajectory plot."""
    with torch_threads(params.threads):
        report, candidates, spec = experiment.run_search(
            images, samples, classes, corpus, params, pipeline
        )
    figure = trajectory_figure(candidates, f"global search on {corpus}")
    tracking.log_figure(figure, "search/trajectory.png")
    tracking.log_dict(spec, "architecture_spec.json")
    tracking.log_dict(candidates.to_dict("records"), "search/candidates.json")
    return report, candidates, spec, figure


def evaluate_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: GlobalNasFerParams,
    classes: list[str],
    corpus: str,
    log_model: bool,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    """The found network trained from scratch and tested under ``corpus``'s protocol; with
    ``log_model`` (and ``final_training.log_models``) it goes on the pipeline run."""
    with torch_threads(params.threads):
        predictions, metrics, model = experiment.evaluate_corpus(
            images, samples, classes, corpus, spec, search_report, params
        )
    logged = model if log_model and params.final_training.log_models else None
    figure = report_evaluation("global NAS", corpus, predictions, metrics, classes, logged)
    return predictions, metrics, figure


def random_baseline(
    images: np.ndarray,
    samples: pd.DataFrame,
    found_metrics: dict[str, Any],
    params: GlobalNasFerParams,
    classes: list[str],
    corpus: str,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    """The random architectures trained and tested like the found one on ``corpus``, and
    the relative improvement RI."""
    with torch_threads(params.threads):
        table, report = baseline.run_random_baseline(
            images, samples, classes, corpus, found_metrics, params
        )
    figure = baseline.baseline_figure(table, report)
    tracking.log_figure(figure, "random_baseline/accuracy_parameters.png")
    tracking.log_dict(report, "random_baseline/relative_improvement.json")
    tracking.log_metrics({f"random_baseline.{k}": report[k] for k in ("ri", "random_mean")})
    return table, report, figure


def summarize(
    search_report: dict[str, Any], relative_improvement: dict[str, Any], *corpus_metrics: dict
) -> dict[str, Any]:
    """One record of the search, the found network per corpus and the random baseline."""
    keys = ("protocol", "n", "accuracy", "uar", "uf1", "costs", "epochs", "fold_accuracy_std")
    summary = {
        "search": search_report,
        "corpora": {m["corpus"]: {k: m.get(k) for k in keys} for m in corpus_metrics},
        "random_baseline": relative_improvement,
    }
    tracking.log_dict(summary, "global_nas_fer_summary.json")
    return summary
