"""Project pipelines."""

from __future__ import annotations

from kedro.framework.project import find_pipelines
from kedro.pipeline import Pipeline

from expression_nas.pipelines.data_preparation.pipeline import CORPORA, corpus_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """``data_preparation`` prepares every demo corpus; ``prepare_<corpus>`` prepares one
    (``kedro run --env=casme2 --pipelines=prepare_casme2``)."""
    pipelines = find_pipelines(raise_errors=True)
    pipelines.update({f"prepare_{name}": corpus_pipeline(name) for name in CORPORA})
    pipelines["__default__"] = pipelines["data_preparation"]
    return pipelines
