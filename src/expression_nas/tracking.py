"""MLflow logging that follows the run kedro-mlflow opened for the pipeline.

Every helper is a no-op when no run is active (library code used outside a Kedro session, or
tracking disabled), so search and training never depend on a tracking server.

Runs are named and tagged by their **labels**, so that a list of fifty stays readable and
filterable: the pipeline, the corpus, the variant and the fold (``LABELS``). The project hook
sets the labels of the node that runs (``set_labels``); a nested run adds its own and passes
them on to the runs nested in it: ``rnas_mer · demo_composite · no_attention · fold sub03``.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from typing import Any

import mlflow
import mlflow.pytorch

from expression_nas import interruptions

logger = logging.getLogger(__name__)

#: MLflow rejects parameter values longer than this; longer ones become tags.
MAX_PARAM_LENGTH = 6000

#: What names a run, in the order of its name; each is also a tag of the run.
LABELS = ("pipeline", "corpus", "variant", "fold")
#: Labels in a run's name before what the run does (the fold is in that already).
NAME_LABELS = ("pipeline", "corpus", "variant")
NAME_SEPARATOR = " · "

_labels: dict[str, str] = {}  # of the node running now (the project hook)
_open: list[dict[str, str]] = []  # of each nested run open now, innermost last


def active() -> bool:
    return mlflow.active_run() is not None


def active_run_id() -> str | None:
    run = mlflow.active_run()
    return run.info.run_id if run is not None else None


def set_labels(**labels: str | None) -> None:
    """The labels of what runs now (None or empty to leave one out)."""
    _check_labels(labels)
    _labels.clear()
    _labels.update({key: str(value) for key, value in labels.items() if value})


def current_labels() -> dict[str, str]:
    """The labels a run started now inherits."""
    return dict(_open[-1]) if _open else dict(_labels)


def run_name(name: str, labels: Mapping[str, str]) -> str:
    """``name`` after the labels it does not already hold."""
    parts = [labels[key] for key in NAME_LABELS if labels.get(key) and labels[key] not in name]
    return NAME_SEPARATOR.join(part for part in [*parts, name] if part)


@contextmanager
def nested_run(
    name: str, tags: Mapping[str, str] | None = None, **labels: str | None
) -> Iterator[str | None]:
    """A child of the active run (None and no logging when there is none), named and tagged
    with the inherited ``current_labels()`` and the given ones (``corpus=``, ``fold=``...).

    It ends FINISHED, FAILED with the error as a tag, or KILLED with the signal and where it
    came when the process is interrupted (``interruptions``)."""
    if not active():
        yield None
        return
    _check_labels(labels)
    merged = {**current_labels(), **{k: str(v) for k, v in labels.items() if v}}
    run = mlflow.start_run(
        run_name=run_name(name, merged),
        nested=True,
        tags={**merged, **interruptions.process_tags(), **dict(tags or {})},
    )
    run_id = run.info.run_id
    _open.append(merged)
    stop, error = None, None
    try:
        yield run_id
    except interruptions.RunInterrupted as interrupted:
        stop = interrupted.interruption
        raise
    except BaseException as raised:
        error = raised
        raise
    finally:
        _open.pop()
        if active_run_id() == run_id:
            interruptions.end_active_run(stop, error)


#: Short parameter columns of a pipeline run -> where they are in a pipeline's parameters: what
#: users compare runs by, the same column whichever pipeline ran (``compared_parameters``).
COMPARED = {
    "variant": "variant",
    "seed": "seed",
    "search.order": "search.order",
    "search.epochs": "search.epochs",
    "search.channels": "search_space.channels",
    "final.channels": "final_network.channels",
    "training.epochs": "training.epochs",
}


def parameter(values: Any, path: str) -> Any:
    """The value at a dotted ``path`` of nested mappings (None where there is none)."""
    for key in path.split("."):
        if not isinstance(values, Mapping) or key not in values:
            return None
        values = values[key]
    return values


def compared_parameters(parameters: Mapping[str, Any]) -> dict[str, str]:
    """``COMPARED``'s columns found in the parameter entries a pipeline reads (by key, e.g.
    ``{"rnas_mer": {...}}``); entries that disagree are joined with " / "."""
    columns = {}
    for column, path in COMPARED.items():
        found = {
            str(value)
            for entry in parameters.values()
            if (value := parameter(entry, path)) is not None and not isinstance(value, Mapping)
        }
        if found:
            columns[column] = " / ".join(sorted(found))
    return columns


def _check_labels(labels: Mapping[str, Any]) -> None:
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise TypeError(f"unknown run labels {sorted(unknown)}; known: {', '.join(LABELS)}")


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


def set_tags(tags: Mapping[str, str]) -> None:
    if active():
        mlflow.set_tags(dict(tags))


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


def log_training_epoch(record: Mapping[str, float]) -> None:
    """One epoch of a fixed-epoch training (a ``train_fixed_epochs`` record): its training loss
    and accuracy at step ``record["epoch"]``."""
    log_metrics(
        {"train_loss": record["loss"], "train_accuracy": record["accuracy"]}, step=record["epoch"]
    )


#: What a logged network needs to be loaded: the distributions MLflow's requirement inference
#: finds for the project's pickled networks.
MODEL_DISTRIBUTIONS = ("torch", "expression-nas", "mlflow", "cloudpickle", "numpy", "pandas")


@functools.cache
def model_requirements() -> tuple[str, ...]:
    """``MODEL_DISTRIBUTIONS`` pinned to the installed versions (without local labels such as
    ``+cu130``). Given to MLflow explicitly: its inference loads every model in a subprocess,
    about 5 s a model here, which was more than a minute of the DARTS demo's 14 networks."""
    return tuple(f"{name}=={metadata.version(name).split('+')[0]}" for name in MODEL_DISTRIBUTIONS)


def log_torch_model(model: Any, name: str = "model") -> None:
    """Log a torch module with mlflow.pytorch (pickle serialisation, no input example)."""
    if active():
        mlflow.pytorch.log_model(
            model,
            name=name,
            serialization_format="pickle",
            pip_requirements=list(model_requirements()),
        )
