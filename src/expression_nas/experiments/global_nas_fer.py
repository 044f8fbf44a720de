"""The protocol of ``global_nas_fer`` (seed 004): which data the candidates see, the training of
a network, the search's logging and report, and the evaluation of the found network.

- Search (``nas.global_nas.strategy``): on the search corpus's standard split (FER2013). Every
  candidate trains on Training (at most ``search_training.max_train_images``, a stratified
  draw) and is scored by its best PublicTest accuracy over its epochs; the trainer holds
  copies of those rows only, so no PrivateTest row reaches a decision. This departs from the
  seed's code, which scores the candidates on the test set (its validation split is empty).
- Final models: the found spec trained from scratch for a fixed number of epochs on every
  evaluation corpus under its protocol (``fer_evaluation.plan_folds``): FER2013 trains on
  Training and is tested once on PrivateTest; CK+ and JAFFE run person-independent k-fold,
  each fold training on its training subjects and tested once on its test subjects. No epoch
  or model is chosen on any split.
- The random baseline: ``experiments.global_nas_baseline``; the search's plot:
  ``nas.global_nas.drawing``.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional

from expression_nas import progress, tracking
from expression_nas.evaluation.profiling import profile_model
from expression_nas.experiments.fer_evaluation import (
    FER_PREDICTION_COLUMNS,
    Labelled,
    corpus_spec,
    in_channels_of,
    plan_folds,
    summarize_fer,
    training_rows,
)
from expression_nas.experiments.library_configs import (
    candidate_optimizer,
    epoch_schedule,
    global_space,
    search_rules,
)
from expression_nas.models.global_net import count_global_parameters
from expression_nas.models.registry import build_model
from expression_nas.nas.global_nas.cache import CachedTrainer, CandidateCache
from expression_nas.nas.global_nas.strategy import Candidate, TrainingOutcome, run_global_search
from expression_nas.parameters.global_nas_fer import (
    CandidateTrainingParams,
    GlobalNasFerParams,
    SearchTrainingParams,
)
from expression_nas.training.checkpoints import fingerprint
from expression_nas.training.loop import predict, resolve_device, train_fixed_epochs

logger = logging.getLogger(__name__)

EVALUATION_BATCH = 256
STRATEGY = "global"


def downscale(images: np.ndarray, size: int | None) -> np.ndarray:
    """Images [N, H, W] or [N, H, W, 3] (uint8) averaged down to ``size`` x ``size`` (area
    interpolation); unchanged when ``size`` is None or already theirs."""
    if size is None or tuple(images.shape[1:3]) == (size, size):
        return images
    tensor = torch.from_numpy(np.asarray(images, dtype=np.float32))
    colour = tensor.ndim == 4
    tensor = tensor.permute(0, 3, 1, 2) if colour else tensor.unsqueeze(1)
    small = functional.interpolate(tensor, size=(size, size), mode="area")
    small = small.permute(0, 2, 3, 1) if colour else small.squeeze(1)
    return small.round().clamp(0, 255).to(torch.uint8).numpy()


def labelled(images: Any, samples: pd.DataFrame, rows: np.ndarray, size: int | None) -> Labelled:
    """A copy of ``rows`` only, at the network's input size."""
    data = Labelled.rows(images, samples, rows)
    return Labelled(downscale(data.images, size), data.labels)


def train_network(
    spec: dict[str, Any],
    train: Labelled,
    epochs: int,
    training: CandidateTrainingParams,
    seed: int,
    device: str | torch.device,
    validation: Labelled | None = None,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> tuple[nn.Module, list[dict[str, float]]]:
    """``spec`` from a fresh initialisation (seeded with ``seed``) trained for ``epochs`` with
    the seed's SGD; one record per epoch (training loss, training accuracy in percentage
    points and, with ``validation``, the validation accuracy)."""
    torch.manual_seed(seed)
    model = build_model(spec)
    loader = train.loader(training.batch_size, shuffle=True, seed=seed, cutout=training.cutout)
    validation_loader = None if validation is None else validation.loader(EVALUATION_BATCH)
    records: list[dict[str, float]] = []

    def after_epoch(epoch: int, record: dict) -> None:
        entry = {
            "epoch": epoch,
            "train_loss": record["loss"],
            "train_accuracy": 100.0 * record["accuracy"],
        }
        if validation_loader is not None:
            y_true, y_pred, _ = predict(model, validation_loader, device)
            entry["val_accuracy"] = 100.0 * float(np.mean(y_true == y_pred))
        records.append(entry)
        if on_epoch is not None:
            on_epoch(epoch, entry)

    train_fixed_epochs(
        model,
        loader,
        candidate_optimizer(training, epochs),
        device=device,
        on_epoch_end=after_epoch,
        seed=seed,
    )
    return model, records


@dataclass(frozen=True)
class FerCandidateTrainer:
    """The search's trainer: a candidate trained on ``train`` and scored by its best
    ``validation`` accuracy over its epochs. Both hold training-side rows only."""

    train: Labelled
    validation: Labelled
    training: SearchTrainingParams
    device: str

    def __call__(self, spec: dict[str, Any], epochs: int, seed: int) -> TrainingOutcome:
        started = time.perf_counter()
        _, history = train_network(
            spec,
            self.train,
            epochs,
            self.training,
            seed,
            resolve_device(self.device),
            validation=self.validation,
        )
        return TrainingOutcome(
            score=max(record["val_accuracy"] for record in history),
            train_accuracy=history[-1]["train_accuracy"],
            seconds=time.perf_counter() - started,
            history=history,
        )

    def context(self) -> str:
        """A fingerprint of everything but (spec, epochs, seed) that a score depends on."""
        digest = hashlib.sha256()
        for part in (self.train.images, self.train.labels, self.validation.images):
            digest.update(np.ascontiguousarray(part).tobytes())
        digest.update(np.ascontiguousarray(self.validation.labels).tobytes())
        settings = self.training.model_dump(exclude={"cache_dir", "resume", "max_train_images"})
        return fingerprint(settings, digest.hexdigest())


def candidate_trainer(
    images: Any, samples: pd.DataFrame, corpus: str, params: GlobalNasFerParams
) -> FerCandidateTrainer:
    """The trainer of the search on ``corpus``: Training (cut to ``max_train_images``) to
    train, PublicTest to score; nothing of PrivateTest."""
    samples = samples.reset_index(drop=True)
    protocol = params.evaluation[corpus].protocol
    if protocol != "standard_split":
        raise ValueError(
            f"the search corpus {corpus!r} has protocol {protocol!r}; the search needs a "
            "validation split of its own (standard_split: FER2013's PublicTest). Put a corpus "
            "with one first; kfold corpora are evaluated with the spec found on it"
        )
    (plan,) = plan_folds(samples, protocol, 2, params.seed, 0.5)
    train_rows = training_rows(plan, samples, params.search_training.max_train_images, params.seed)
    size = params.input_size
    return FerCandidateTrainer(
        train=labelled(images, samples, train_rows, size),
        validation=labelled(images, samples, plan.search_validation, size),
        training=params.search_training,
        device=params.device,
    )


def _log_candidate(candidate: Candidate) -> None:
    """A candidate as a nested run of the search run, and its point on the search's curves."""
    row = candidate.row()
    with tracking.nested_run(
        f"candidate {candidate.index:03d} {candidate.phase}",
        tags={"kind": "candidate", "phase": candidate.phase, "strategy": STRATEGY},
    ):
        tracking.log_params(
            {k: row[k] for k in ("index", "phase", "depth", "width", "layers", "epochs", "cached")}
            | {"decision": candidate.decision}
        )
        tracking.log_metrics(
            {
                k: float(row[k])
                for k in ("score", "train_accuracy", "parameters", "accepted", "seconds")
            }
        )
        for record in candidate.outcome.history:
            epoch = int(record["epoch"])
            tracking.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)
    tracking.log_metrics(
        {k: float(row[k]) for k in ("score", "best_score", "depth", "width", "parameters")},
        step=candidate.index,
    )


def run_search(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    corpus: str,
    params: GlobalNasFerParams,
    pipeline: str,
) -> tuple[dict[str, Any], pd.DataFrame, dict[str, Any]]:
    """Algorithm 1 on ``corpus``, resumed from the candidate cache; returns the search report,
    the candidates table and the found spec. The search is a nested MLflow run with one run
    per candidate."""
    trainer = candidate_trainer(images, samples, corpus, params)
    space = global_space(params.bounds, in_channels_of(images), len(classes))
    cache = CandidateCache(
        Path(params.search_training.cache_dir.format(pipeline=pipeline)) / trainer.context()
    )
    cached = CachedTrainer(trainer, cache, reuse=params.search_training.resume)
    device = resolve_device(params.device)
    settings = {
        "corpus": corpus,
        "preset": params.preset,
        "bounds": params.bounds.model_dump(),
        "rules": params.rules.model_dump(),
        "input_size": params.input_size,
        "train_images": len(trainer.train.labels),
        "validation_images": len(trainer.validation.labels),
        "validation_split": "PublicTest",
    }
    tags = {"kind": "search", "strategy": STRATEGY, "preset": params.preset}
    with tracking.nested_run(f"search[{STRATEGY}] {corpus}", tags=tags):
        tracking.log_params(settings)
        result = run_global_search(
            space,
            cached,
            epoch_schedule(params.bounds),
            search_rules(params),
            params.seed,
            on_candidate=_log_candidate,
        )
        counts = result.counts
        seconds = result.search_seconds
        tracking.log_metrics({"found_score": result.score, "search_seconds": seconds, **counts})
    spec = {
        **result.spec,
        "provenance": {
            "strategy": STRATEGY,
            "corpus": corpus,
            "preset": params.preset,
            "validation": "PublicTest",
            "score": result.score,
        },
    }
    report = {
        **settings,
        "counts": counts,
        "evaluated_formula": (
            f"D' + W' + 2 D_f = {counts['grow']} + {counts['prune']} + 2 x "
            f"{counts['final_depth']} = {counts['evaluated']}"
        ),
        "stop_reasons": result.stop_reasons,
        "macro": {
            "depth": result.macro_spec["depth"],
            "width": result.macro_spec["width"],
            "score": result.macro_score,
        },
        "found": {
            "depth": result.spec["depth"],
            "width": result.spec["width"],
            "layers": result.spec["layers"],
            "score": result.score,
            "parameters": count_global_parameters(result.spec),
        },
        "search_seconds": seconds,
        "search_hours": seconds / 3600.0,
        "search_device": device.type,
        "threads": torch.get_num_threads(),
        "cache": {"folder": str(cache.folder), "trained": cached.trained, "reused": cached.reused},
    }
    logger.info(
        "global search on %s (%s preset): %s candidates (%s), %d trained now and %d reused; "
        "found depth %d, width %d, score %.2f; %.2f %s hours",
        corpus,
        params.preset,
        counts["evaluated"],
        report["evaluated_formula"],
        cached.trained,
        cached.reused,
        result.spec["depth"],
        result.spec["width"],
        result.score,
        report["search_hours"],
        device.type.upper(),
    )
    return report, pd.DataFrame([c.row() for c in result.candidates]), spec


def fit_and_predict(
    images: Any,
    samples: pd.DataFrame,
    corpus: str,
    spec: dict[str, Any],
    params: GlobalNasFerParams,
) -> tuple[pd.DataFrame, nn.Module, float]:
    """``spec`` trained from scratch on each fold of ``corpus``'s protocol for the fixed final
    epochs and tested once on the fold's test side; the pooled predictions, the first fold's
    model and the training seconds. Each fold is a nested run."""
    samples = samples.reset_index(drop=True)
    evaluation = params.evaluation[corpus]
    epochs = evaluation.epochs or params.final_training.epochs
    device = resolve_device(params.device)
    plans = plan_folds(samples, evaluation.protocol, evaluation.k, params.seed, 0.25)
    parts, models, started = [], [], time.perf_counter()
    for plan in progress.track(plans, corpus, "fold"):
        with tracking.nested_run(f"fold {plan.name}", tags={"kind": "fold"}):
            model, _ = train_network(
                spec,
                labelled(images, samples, plan.final_train, params.input_size),
                epochs,
                params.final_training,
                params.seed,
                device,
                on_epoch=_log_epoch,
            )
            test = labelled(images, samples, plan.test, params.input_size)
            _, y_pred, _ = predict(model, test.loader(EVALUATION_BATCH), device)
            part = samples.iloc[plan.test][["sample_id", "subject"]].assign(
                fold=plan.name, y_true=test.labels, y_pred=y_pred
            )
            tracking.log_metrics({"fold_accuracy": float(np.mean(part["y_true"] == y_pred))})
        parts.append(part)
        models.append(model)
    predictions = pd.concat(parts, ignore_index=True)[list(FER_PREDICTION_COLUMNS)]
    return predictions, models[0], time.perf_counter() - started


def _log_epoch(epoch: int, record: dict) -> None:
    tracking.log_metrics({k: v for k, v in record.items() if k != "epoch"}, step=epoch)


def evaluate_corpus(
    images: Any,
    samples: pd.DataFrame,
    classes: list[str],
    corpus: str,
    spec: dict[str, Any],
    search_report: dict[str, Any],
    params: GlobalNasFerParams,
) -> tuple[pd.DataFrame, dict[str, Any], nn.Module]:
    """The found network trained and tested under ``corpus``'s protocol (a nested run with
    one run per fold); the pooled predictions, the metrics (with its costs and the search
    cost) and the first fold's model."""
    spec = corpus_spec(spec, images, len(classes))
    evaluation = params.evaluation[corpus]
    with tracking.nested_run(
        f"model[{STRATEGY}] {corpus}", tags={"kind": "evaluation", "strategy": STRATEGY}
    ):
        tracking.log_params({"corpus": corpus, "protocol": evaluation.protocol, "spec": spec})
        predictions, model, seconds = fit_and_predict(images, samples, corpus, spec, params)
        metrics = summarize_fer(predictions, classes)
        size = params.input_size or images.shape[1]
        device = resolve_device(params.device)
        costs = profile_model(build_model(spec), (1, spec["in_channels"], size, size), device)
        metrics.update(
            corpus=corpus,
            strategy=STRATEGY,
            protocol=evaluation.protocol,
            epochs=evaluation.epochs or params.final_training.epochs,
            costs=costs,
            training_seconds=seconds,
            search_seconds=search_report["search_seconds"],
            search_hours=search_report["search_hours"],
            search_device=search_report["search_device"],
        )
        tracking.log_metrics({k: metrics[k] for k in ("accuracy", "uar", "uf1")})
        tracking.log_metrics({**costs, "search_hours": search_report["search_hours"]})
    return predictions, metrics, model
