"""Project pipelines.

Pipelines are registered explicitly rather than with ``find_pipelines()``: Kedro 1.x imports a
requested name as a module (``--pipelines=prepare_casme2`` would look for
``pipelines/prepare_casme2/``), while one preparation template serves every corpus here.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from expression_nas.pipelines import data_preparation
from expression_nas.pipelines.data_preparation.pipeline import CORPORA, corpus_pipeline


def register_pipelines() -> dict[str, Pipeline]:
    """``data_preparation`` prepares every demo corpus; ``prepare_<corpus>`` prepares one
    (``kedro run --env=casme2 --pipelines=prepare_casme2``)."""
    pipelines = {"data_preparation": data_preparation.create_pipeline()}
    pipelines.update({f"prepare_{name}": corpus_pipeline(name) for name in CORPORA})
    pipelines["__default__"] = pipelines["data_preparation"]
    return pipelines
