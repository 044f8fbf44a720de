"""MLflow logging that follows the run kedro-mlflow opened for the pipeline.

Every helper is a no-op when no run is active (library code used outside a Kedro session, or
tracking disabled), so search and training never depend on a tracking server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import mlflow
import mlflow.pytorch

logger = logging.getLogger(__name__)

#: MLflow rejects parameter values longer than this; longer ones become tags.
MAX_PARAM_LENGTH = 6000


def active() -> bool:
    return mlflow.active_run() is not None


@contextmanager
def nested_run(name: str, tags: Mapping[str, str] | None = None) -> Iterator[str | None]:
    """A child of the active run (None and no logging when there is none)."""
    if not active():
        yield None
        return
    with mlflow.start_run(run_name=name, nested=True, tags=dict(tags or {})) as run:
        yield run.info.run_id


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def log_params(values: Mapping[str, Any]) -> None:
    if not active():
        return
    for key, value in flatten(values).items():
        text = json.dumps(value) if isinstance(value, list | tuple) else str(value)
        if len(text) > MAX_PARAM_LENGTH:
            mlflow.set_tag(key, text[:MAX_PARAM_LENGTH])
        else:
            mlflow.log_param(key, text)


def log_metrics(values: Mapping[str, float], step: int | None = None) -> None:
    if active():
        mlflow.log_metrics({k: float(v) for k, v in values.items()}, step=step)


def log_dict(values: Any, artifact_file: str) -> None:
    if active():
        mlflow.log_dict(values, artifact_file)


def log_figure(figure: Any, artifact_file: str) -> None:
    if active():
        mlflow.log_figure(figure, artifact_file)


def log_search_epoch(epoch: int, metrics: Mapping[str, float], snapshot: Mapping) -> None:
    """One search epoch: its metrics, the scalars of the architecture snapshot (entries of a
    nested mapping as ``<key>_<name>``, e.g. ``dropout_cell``) and the snapshot as JSON."""
    log_metrics({k: v for k, v in metrics.items() if k != "epoch"}, step=epoch)
    scalars = {k: v for k, v in snapshot.items() if isinstance(v, float)}
    for key, values in snapshot.items():
        if isinstance(values, Mapping):
            scalars.update({f"{key}_{name}": value for name, value in values.items()})
    if scalars:
        log_metrics(scalars, step=epoch)
    log_dict(snapshot, f"architecture_weights/epoch_{epoch:03d}.json")


def log_torch_model(model: Any, name: str = "model") -> None:
    """Log a torch module with mlflow.pytorch (pickle serialisation, no input example)."""
    if active():
        mlflow.pytorch.log_model(model, name=name, serialization_format="pickle")
