"""Seed 003's two comparisons (sec. 5.1-5.3) for ``efficientnet_fer``: on the search
corpus, each arm trained from scratch with the best trial's hyper-parameters, on the same
training rows, with the same validation split (PublicTest) and budget (``final_training``),
and tested on PrivateTest: the full V2-S against the scaled-down network (accuracy against
parameters and time per epoch), and weighted against unweighted cross-entropy (accuracy and
minority-class recall). The seed ran a separate 50-trial search per variant; here one
search's configuration is shared, so that only the compared factor differs."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.evaluation.metrics import classification_metrics
from expression_nas.evaluation.profiling import count_parameters
from expression_nas.experiments.efficientnet_fer import (
    EVALUATION_BATCH,
    Labelled,
    configured_spec,
    fit,
    log_epoch,
    search_rows,
)
from expression_nas.models.efficientnet_net import VARIANTS
from expression_nas.parameters.efficientnet_fer import EfficientnetFerParams
from expression_nas.preprocessing.augmentation import AugmentationConfig
from expression_nas.training.loop import predict, resolve_device

logger = logging.getLogger(__name__)


def _arm(
    name: str,
    variant: str,
    weighted: bool,
    data: tuple[Labelled, Labelled, Labelled],
    values: dict[str, Any],
    classes: list[str],
    params: EfficientnetFerParams,
    augmentation: AugmentationConfig,
) -> dict[str, Any]:
    """One comparison arm trained and tested; its scores and costs as a row."""
    train, validation, test = data
    device = resolve_device(params.device)
    spec = configured_spec(
        values,
        1 if train.images.ndim == 3 else 3,
        len(classes),
        variant,
        params.network.stochastic_depth_prob,
    )
    training = params.final_training.model_copy(update={"weighted_loss": weighted})
    with tracking.nested_run(f"comparison[{name}]", tags={"kind": "comparison"}):
        model, result = fit(
            spec, values["lr"], train, validation, training, augmentation, params.seed, device,
            on_epoch_end=log_epoch,
        )  # fmt: skip
        _, y_pred, _ = predict(model, test.loader(EVALUATION_BATCH), device)
        scores = classification_metrics(test.labels, y_pred, len(classes))
        counts = np.bincount(train.labels, minlength=len(classes)).astype(float)
        counts[counts == 0] = np.inf
        minority = int(np.argmin(counts))
        row = {
            "arm": name,
            "variant": variant,
            "weighted_loss": weighted,
            "accuracy": scores["accuracy"],
            "uar": scores["uar"],
            "uf1": scores["uf1"],
            "minority_class": classes[minority],
            "minority_recall": scores["recall"][minority],
            **{f"recall_{c}": r for c, r in zip(classes, scores["recall"], strict=True)},
            "parameters": count_parameters(model),
            "seconds_per_epoch": result.seconds_per_epoch,
            "best_epoch": result.best_epoch,
            "stop_epoch": result.stop_epoch,
            "train_images": len(train.labels),
            "test_images": len(test.labels),
        }
        tracking.log_metrics({k: v for k, v in row.items() if isinstance(v, float | int)})
    logger.info("comparison arm %s: %s", name, row)
    return row


def run_comparisons(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: EfficientnetFerParams,
    augmentation: AugmentationConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scaling table (the searched variant against the other) and the loss-weighting
    table (the configured weighting against the other), sharing their reference arm."""
    samples = samples.reset_index(drop=True)
    rows = search_rows(samples, params.comparisons.max_train_images, params.seed)
    data = tuple(Labelled.rows(images, samples, part) for part in rows)
    values = search_report["best"]["params"]
    variant, weighted = params.network.variant, params.final_training.weighted_loss
    other = next(name for name in VARIANTS if name != variant)
    arms = {"reference": (variant, weighted)}
    if params.comparisons.scaling:
        arms[other] = (other, weighted)
    if params.comparisons.loss_weighting:
        arms["unweighted" if weighted else "weighted"] = (variant, not weighted)
    if len(arms) == 1:
        return pd.DataFrame(), pd.DataFrame()
    results = {
        name: _arm(name, v, w, data, values, classes, params, augmentation)
        for name, (v, w) in arms.items()
    }
    scaling = [results[n] for n in results if results[n]["weighted_loss"] == weighted]
    weighting = [results[n] for n in results if results[n]["variant"] == variant]
    return (
        pd.DataFrame(scaling if params.comparisons.scaling else []),
        pd.DataFrame(weighting if params.comparisons.loss_weighting else []),
    )


def _empty(text: str) -> Figure:
    figure = Figure(figsize=(6, 2))
    figure.text(0.5, 0.5, text, ha="center", va="center")
    return figure


def scaling_figure(table: pd.DataFrame) -> Figure:
    """Test accuracy against parameters, and time per epoch, per variant."""
    if table.empty:
        return _empty("scaling comparison switched off")
    figure = Figure(figsize=(10, 4), layout="constrained")
    scatter, timing = figure.subplots(1, 2)
    for row in table.itertuples():
        scatter.scatter(row.parameters, row.accuracy, s=60)
        scatter.annotate(
            f"{row.variant}\n{row.seconds_per_epoch:.1f} s/epoch",
            (row.parameters, row.accuracy),
            textcoords="offset points",
            xytext=(6, 6),
            fontsize=8,
        )
    scatter.set_xscale("log")
    scatter.set_xlabel("parameters")
    scatter.set_ylabel("test accuracy")
    scatter.set_title("full V2-S against scaled-down")
    timing.bar(table["variant"], table["seconds_per_epoch"], color="grey")
    timing.set_ylabel("seconds per training epoch")
    timing.set_title("time per epoch (same data)")
    return figure


def loss_weighting_figure(table: pd.DataFrame, classes: list[str]) -> Figure:
    """Per-class test recall of the weighted and unweighted arms."""
    if table.empty:
        return _empty("loss-weighting comparison switched off")
    figure = Figure(figsize=(9, 4), layout="constrained")
    axes = figure.subplots()
    width = 0.8 / len(table)
    positions = np.arange(len(classes))
    for i, row in enumerate(table.to_dict("records")):
        label = f"{'weighted' if row['weighted_loss'] else 'unweighted'}: acc {row['accuracy']:.2f}"
        recalls = [row[f"recall_{c}"] for c in classes]
        axes.bar(positions + i * width, recalls, width, label=label)
    axes.set_xticks(positions + width * (len(table) - 1) / 2, classes, rotation=30)
    axes.set_ylabel("test recall")
    axes.set_ylim(0, 1.05)
    axes.set_title(f"weighted against unweighted loss (minority: {table['minority_class'][0]})")
    axes.legend()
    return figure
