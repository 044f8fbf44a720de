"""DARTS and DARTS-STN for facial expression recognition (seed 002): a cell search on the
training split of a FER corpus with a standard split (FER2013), then the derived network,
rebuilt larger, trained from scratch and evaluated on every FER corpus under that corpus's
protocol (``experiments.fer_evaluation``), and a comparison of the two strategies.

Honesty rule: the search sees only the search corpus's training split (``usage ==
Training``), halved into the weight and architecture batches as in DARTS. Its test split is
evaluated with an architecture that never saw it, and the other corpora (CK+, JAFFE) took no
part in the search at all. Training runs a fixed number of epochs; nothing is selected on a
test side.
"""

from __future__ import annotations

import copy
import logging
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from expression_nas import tracking
from expression_nas.evaluation.profiling import profile_model
from expression_nas.evaluation.protocols import stratified_draw
from expression_nas.experiments.fer_evaluation import (
    TRAIN_USAGE,
    confusion_figure,
    evaluate_fer,
    summarize_fer,
)
from expression_nas.experiments.library_configs import (
    darts_search_config,
    optimizer_config,
    search_settings,
    stn_settings,
)
from expression_nas.models.registry import build_model
from expression_nas.nas.darts.drawing import draw_genotype
from expression_nas.nas.darts.search_space import DartsSupernet
from expression_nas.nas.search_loop import run_search
from expression_nas.nas.stn_search import StnStrategy
from expression_nas.parameters import DartsFerParams
from expression_nas.parameters.darts_fer import FinalNetworkParams
from expression_nas.training.checkpoints import fingerprint
from expression_nas.training.data import ImageDataset, make_loader
from expression_nas.training.loop import resolve_device

logger = logging.getLogger(__name__)


def _image_geometry(images: np.ndarray) -> tuple[int, tuple[int, int]]:
    """(channels, (H, W)) of an image array [N, H, W] or [N, H, W, 3]."""
    if images.ndim == 3:
        return 1, images.shape[1:3]
    if images.ndim == 4 and images.shape[-1] == 3:
        return 3, images.shape[1:3]
    raise ValueError(f"expected images [N, H, W] or [N, H, W, 3], got {images.shape}")


def search_split(
    samples: pd.DataFrame, seed: int, train_portion: float, max_images: int | None = None
) -> dict[str, list[int]]:
    """The rows the search may use: the corpus's training split (at most ``max_images`` of
    it, drawn with the seed and stratified by class), shuffled and cut into the weight half
    and the architecture (validation) half."""
    if "usage" not in samples.columns:
        raise ValueError(
            "the search corpus needs a standard split (a 'usage' column, as FER2013 has) so that "
            "its test split stays unseen by the search; corpora evaluated by k-fold (CK+, "
            "JAFFE) would need a search per fold"
        )
    rows = np.flatnonzero(samples["usage"].to_numpy() == TRAIN_USAGE)
    if len(rows) < 2:
        raise ValueError(f"the search corpus has {len(rows)} rows with usage == {TRAIN_USAGE!r}")
    if not 0.0 < train_portion < 1.0:
        raise ValueError(f"darts_fer.search.train_portion must be in (0, 1), got {train_portion}")
    rng = np.random.default_rng(seed)
    if max_images is not None and max_images < len(rows):
        rows = stratified_draw(rows, samples["label_index"].to_numpy()[rows], max_images, rng)
    shuffled = rng.permutation(rows)
    cut = min(len(rows) - 1, max(1, round(train_portion * len(rows))))
    return {"train": sorted(shuffled[:cut].tolist()), "val": sorted(shuffled[cut:].tolist())}


def run_darts_search(
    images: np.ndarray,
    samples: pd.DataFrame,
    split: dict[str, list[int]],
    params: DartsFerParams,
    strategy: str,
    classes: list[str],
    checkpoint_dir: Path,
) -> dict[str, Any]:
    """One DARTS or DARTS-STN search; returns the spec, histories, seconds and drawing."""
    device = resolve_device(params.device)
    labels = samples["label_index"].to_numpy(dtype=np.int64)
    in_channels, size = _image_geometry(images)
    config = darts_search_config(params, strategy, len(classes), in_channels, size)
    settings = search_settings(params.search, params.seed)
    # what the search's results depend on (the STN strategy has its own hypergradient: no order)
    search = params.search.model_dump(
        exclude={
            "resume",
            "train_portion",
            "max_images",
            *(["order"] if strategy == "darts_stn" else []),
        }
    )
    stn = params.stn.model_dump(exclude={"tune_dropout", "initial_dropout"})
    train_rows, val_rows = np.asarray(split["train"]), np.asarray(split["val"])
    loader_train = make_loader(
        ImageDataset(images, train_rows, labels[train_rows]),
        settings.batch_size,
        True,
        params.seed,
    )
    loader_val = make_loader(  # shuffled too, as DARTS samples its architecture batches
        ImageDataset(images, val_rows, labels[val_rows]), settings.batch_size, True, params.seed
    )
    key = fingerprint(strategy, config.to_dict(), search, stn, params.seed, split)
    checkpoint = checkpoint_dir / f"search_{strategy}_{key}.pt"
    if not params.search.resume and checkpoint.exists():
        checkpoint.unlink(missing_ok=True)  # under torchrun every rank may try

    torch.manual_seed(params.seed)
    model = DartsSupernet(config).to(device)
    search_strategy = (
        StnStrategy(
            model,
            stn_settings(params.stn),
            settings.arch_lr,
            settings.arch_weight_decay,
            seed=params.seed,
        )
        if strategy == "darts_stn"
        else None
    )
    with tracking.nested_run(f"search[{strategy}]", tags={"kind": "search", "strategy": strategy}):
        tracking.log_params(
            {
                "strategy": strategy,
                "train_images": len(train_rows),
                "val_images": len(val_rows),
                "search_space": config.to_dict(),
                "search": search,
                **({"stn": stn} if strategy == "darts_stn" else {}),
            }
        )

        result = run_search(
            model,
            loader_train,
            loader_val,
            settings,
            checkpoint,
            key,
            device,
            tracking.log_search_epoch,
            strategy=search_strategy,
        )
        spec = result.spec
        spec["provenance"] = {
            "strategy": strategy,
            "search_images": len(train_rows) + len(val_rows),
            "search_seconds": round(result.seconds, 2),
            "device": str(device),
        }
        drawing = draw_genotype(spec)
        tracking.log_dict(spec, "architecture_spec.json")
        tracking.log_figure(drawing, "architecture.png")
        tracking.log_dict(result.arch_history, "architecture_weights/history.json")
        tracking.log_metrics({"search_seconds": result.seconds})
    return {
        "spec": spec,
        "history": result.history,
        "arch_history": result.arch_history,
        "seconds": result.seconds,
        "drawing": drawing,
    }


def final_spec(
    searched: dict[str, Any], network: FinalNetworkParams, n_classes: int, in_channels: int
) -> dict[str, Any]:
    """The searched cells in the final (usually larger) network for one corpus."""
    spec = copy.deepcopy(searched)
    spec.update(
        channels=network.channels,
        layers=network.layers,
        num_classes=n_classes,
        in_channels=in_channels,
    )
    for key in ("dropout", "cell_dropout"):  # null: keep the rate DARTS-STN tuned (DARTS: 0)
        if getattr(network, key) is not None:
            spec[key] = getattr(network, key)
    return spec


def build_for_classes(spec: dict[str, Any], n_classes: int) -> torch.nn.Module:
    """The network of ``spec`` with ``n_classes`` outputs (picklable with ``partial``)."""
    return build_model({**spec, "num_classes": n_classes})


def evaluate_corpus(
    images: np.ndarray,
    samples: pd.DataFrame,
    augmented: tuple[np.ndarray, pd.DataFrame] | None,
    searched: dict[str, Any],
    params: DartsFerParams,
    classes: list[str],
    corpus: str,
    strategy: str,
    search_seconds: float,
) -> tuple[pd.DataFrame, dict[str, Any], Figure]:
    """Train the derived network on ``corpus`` under its protocol; the pooled predictions,
    metrics (with the network's costs and the search cost) and confusion matrix."""
    device = resolve_device(params.device)
    evaluation = params.evaluation[corpus]
    in_channels, size = _image_geometry(images)

    spec = final_spec(searched, params.final_network, len(classes), in_channels)

    own_settings = {"epochs": evaluation.epochs, "batch_size": evaluation.batch_size}
    training = params.training.model_copy(
        update={key: value for key, value in own_settings.items() if value is not None}
    )
    protocol = {"protocol": evaluation.protocol}
    if evaluation.protocol == "kfold":
        protocol["k"] = evaluation.k
    with tracking.nested_run(
        f"model[{strategy}] {corpus}",
        tags={"kind": "evaluation", "strategy": strategy},
        corpus=corpus,
    ):
        tracking.log_params(
            {"corpus": corpus, "strategy": strategy, **protocol, "training": training.model_dump()}
        )
        tracking.log_dict(spec, "architecture_spec.json")
        predictions = evaluate_fer(
            images,
            samples,
            partial(build_for_classes, spec),
            classes,
            protocol=evaluation.protocol,
            k=evaluation.k,
            training=optimizer_config(training),
            seed=params.seed,
            weighted_loss=training.weighted_loss,
            device=device,
            augmented=augmented,
            log_models=training.log_models,
            workers=training.workers,
        )
        metrics = summarize_fer(predictions, classes)
        costs = profile_model(build_model(spec), (1, in_channels, *size), device)
        metrics.update(
            corpus=corpus,
            strategy=strategy,
            protocol=evaluation.protocol,
            costs=costs,
            search_seconds=search_seconds,
        )
        tracking.log_metrics({k: metrics[k] for k in ("accuracy", "uar", "uf1")})
        tracking.log_metrics({**costs, "search_seconds": search_seconds})
        title = (
            f"{strategy} on {corpus} ({evaluation.protocol}): accuracy {metrics['accuracy']:.2f}"
        )
        figure = confusion_figure(predictions, classes, title)
        tracking.log_figure(figure, "confusion_matrix.png")
    logger.info(
        "%s on %s (%s): accuracy %.3f, UF1 %.3f over %d images; %d parameters",
        strategy,
        corpus,
        evaluation.protocol,
        metrics["accuracy"],
        metrics["uf1"],
        metrics["n"],
        costs["parameters"],
    )
    return predictions, metrics, figure


def method_summary(
    strategy: str, search_report: dict[str, Any], corpus_metrics: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """What the comparison needs from one method: its search and its per-corpus results."""
    return {
        "strategy": strategy,
        "search_seconds": search_report["seconds"],
        "search_history": search_report["history"],
        "corpora": {
            corpus: {
                key: metrics[key]
                for key in ("protocol", "n", "accuracy", "uar", "uf1", "f1", "classes", "costs")
            }
            | {"fold_accuracy_std": metrics.get("fold_accuracy_std")}
            for corpus, metrics in corpus_metrics.items()
        },
    }


def comparison_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (method, corpus): scores, the final network's costs and the search cost."""
    rows = []
    for summary in summaries:
        for corpus, result in summary["corpora"].items():
            rows.append(
                {
                    "method": summary["strategy"],
                    "corpus": corpus,
                    "protocol": result["protocol"],
                    "n": result["n"],
                    "accuracy": result["accuracy"],
                    "uar": result["uar"],
                    "uf1": result["uf1"],
                    "fold_accuracy_std": result["fold_accuracy_std"],
                    "parameters": result["costs"]["parameters"],
                    "flops": result["costs"]["flops"],
                    "search_seconds": summary["search_seconds"],
                }
            )
    return pd.DataFrame(rows)


def comparison_figure(table: pd.DataFrame, summaries: list[dict[str, Any]]) -> Figure:
    """Accuracy per corpus and method, the searches' validation accuracy per epoch, and the
    search cost."""
    figure = Figure(figsize=(13, 4), layout="constrained")
    scores, curves, cost = figure.subplots(1, 3)
    corpora = list(dict.fromkeys(table["corpus"]))
    methods = list(dict.fromkeys(table["method"]))
    width = 0.8 / max(len(methods), 1)
    for i, method in enumerate(methods):
        part = table[table["method"] == method].set_index("corpus").reindex(corpora)
        positions = np.arange(len(corpora)) + i * width
        scores.bar(positions, part["accuracy"], width, label=method)
        for x, value in zip(positions, part["accuracy"], strict=True):
            scores.text(x, value + 0.01, f"{value:.2f}", ha="center", fontsize=8)
    scores.set_xticks(np.arange(len(corpora)) + width * (len(methods) - 1) / 2, corpora)
    scores.set_ylim(0, 1.05)
    scores.set_ylabel("test accuracy")
    scores.set_title("final networks")
    scores.legend()
    for summary in summaries:
        history = summary["search_history"]
        curves.plot(
            [row["epoch"] + 1 for row in history],
            [row["val_accuracy"] for row in history],
            marker="o",
            label=summary["strategy"],
        )
    curves.set_xlabel("search epoch")
    curves.set_ylabel("search validation accuracy")
    curves.set_title("searches (training split only)")
    curves.legend()
    names = [summary["strategy"] for summary in summaries]
    cost.bar(names, [summary["search_seconds"] for summary in summaries], color="grey")
    cost.set_ylabel("seconds")
    cost.set_title("search cost")
    return figure
