"""The random-sampling baseline of ``global_nas_fer`` (seed 004 sec. 4.1, after Yang et al.'s
"NAS evaluation is frustratingly hard"): N architectures drawn uniformly from the same space,
each trained and tested exactly as the found network is on the search corpus, and the
relative improvement

    RI = 100 (Acc_m - Acc_r) / Acc_r,

Acc_m the found network's test accuracy and Acc_r the random networks' mean. Nothing is
chosen: every drawn network is trained and tested once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.experiments.fer_evaluation import in_channels_of, summarize_fer
from expression_nas.experiments.global_nas_fer import STRATEGY, fit_and_predict
from expression_nas.experiments.library_configs import global_space
from expression_nas.models.global_net import count_global_parameters
from expression_nas.nas.global_nas.space import random_spec
from expression_nas.parameters.global_nas_fer import GlobalNasFerParams

logger = logging.getLogger(__name__)


def random_architectures(
    params: GlobalNasFerParams, in_channels: int, num_classes: int
) -> list[dict[str, Any]]:
    """``random_baseline.architectures`` specs drawn uniformly from the preset's space."""
    space = global_space(params.bounds, in_channels, num_classes)
    rng = np.random.default_rng(params.random_baseline.seed)
    return [random_spec(space, rng) for _ in range(params.random_baseline.architectures)]


def relative_improvement(found: float, random: Sequence[float]) -> dict[str, float]:
    """RI of accuracy ``found`` over the mean of ``random`` (same unit), with the mean and
    the sample standard deviation of ``random``."""
    random = np.asarray(random, dtype=np.float64)
    if len(random) == 0:
        raise ValueError("RI needs at least one random architecture")
    mean = float(random.mean())
    if mean <= 0:
        raise ValueError(f"RI is undefined for a random mean accuracy of {mean}")
    return {
        "ri": 100.0 * (found - mean) / mean,
        "found_accuracy": float(found),
        "random_mean": mean,
        "random_std": float(random.std(ddof=1)) if len(random) > 1 else 0.0,
        "random_n": len(random),
    }


def run_random_baseline(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    corpus: str,
    found_metrics: dict[str, Any],
    params: GlobalNasFerParams,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Train and test every random architecture under ``corpus``'s protocol (a nested run,
    one run per architecture); the table of their results and the RI report (accuracies in
    percentage points)."""
    specs = random_architectures(params, in_channels_of(images), len(classes))
    rows = []
    tags = {"kind": "random_baseline", "strategy": "random"}
    with tracking.nested_run(f"random baseline {corpus}", tags=tags):
        for index, spec in enumerate(specs):
            with tracking.nested_run(f"random {index}", tags={"kind": "random_architecture"}):
                tracking.log_params({"spec": spec})
                predictions, _, seconds = fit_and_predict(images, samples, corpus, spec, params)
                scores = summarize_fer(predictions, classes)
                row = {
                    "index": index,
                    "depth": spec["depth"],
                    "width": spec["width"],
                    "layers": " ".join(f"{op}{kernel}" for op, kernel in spec["layers"]),
                    "parameters": count_global_parameters(spec),
                    "accuracy": 100.0 * scores["accuracy"],
                    "uar": 100.0 * scores["uar"],
                    "uf1": 100.0 * scores["uf1"],
                    "seconds": seconds,
                }
                tracking.log_metrics({k: row[k] for k in ("accuracy", "uar", "uf1", "parameters")})
            logger.info(
                "random architecture %d (depth %d, width %d, %d parameters): accuracy %.2f",
                index,
                row["depth"],
                row["width"],
                row["parameters"],
                row["accuracy"],
            )
            rows.append(row)
        table = pd.DataFrame(rows)
        ri = relative_improvement(100.0 * found_metrics["accuracy"], table["accuracy"])
        found_parameters = found_metrics["costs"]["parameters"]
        report = {
            "corpus": corpus,
            "protocol": found_metrics["protocol"],
            **ri,
            "found_uar": 100.0 * found_metrics["uar"],
            "random_uar_mean": float(table["uar"].mean()),
            "found_parameters": found_parameters,
            "random_parameters_mean": float(table["parameters"].mean()),
            "random_parameters_std": float(table["parameters"].std(ddof=1))
            if len(table) > 1
            else 0.0,
            "strategy": STRATEGY,
        }
        tracking.log_metrics({k: report[k] for k in ("ri", "random_mean", "random_std")})
    logger.info(
        "RI on %s: %.2f (found %.2f %% against %.2f +- %.2f %% over %d random networks)",
        corpus,
        ri["ri"],
        ri["found_accuracy"],
        ri["random_mean"],
        ri["random_std"],
        ri["random_n"],
    )
    return table, report


def baseline_figure(table: pd.DataFrame, report: dict[str, Any]) -> Figure:
    """Test accuracy against parameters: every random network, their mean, the found one."""
    figure = Figure(figsize=(6.5, 4.5), layout="constrained")
    axis = figure.subplots()
    axis.scatter(table["parameters"], table["accuracy"], color="C7", label="random")
    axis.axhline(report["random_mean"], color="C7", linestyle="--", linewidth=0.8,
                 label=f"random mean {report['random_mean']:.1f} %")  # fmt: skip
    axis.scatter([report["found_parameters"]], [report["found_accuracy"]], color="C3",
                 marker="*", s=160, label=f"found {report['found_accuracy']:.1f} %")  # fmt: skip
    axis.set_xscale("log")
    axis.set_xlabel("parameters")
    axis.set_ylabel(f"test accuracy on {report['corpus']} (%)")
    axis.set_title(f"random baseline: RI = {report['ri']:.1f} ({report['random_n']} networks)")
    axis.legend(fontsize="small")
    return figure
