"""Project pipelines.

Pipelines are registered explicitly rather than with ``find_pipelines()``: Kedro 1.x imports a
requested name as a module (``--pipelines=prepare_casme2`` would look for
``pipelines/prepare_casme2/``), while one template serves every corpus here.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from expression_nas.pipelines import cross_database, data_preparation, rnas_mer
from expression_nas.pipelines.cross_database.pipeline import REAL_CORPORA as XDB_REAL
from expression_nas.pipelines.cross_database.pipeline import cross_database_pipeline
from expression_nas.pipelines.darts_fer.pipeline import DEMO_CORPORA as FER_DEMO
from expression_nas.pipelines.darts_fer.pipeline import REAL_CORPORA as FER_REAL
from expression_nas.pipelines.darts_fer.pipeline import fer_pipelines
from expression_nas.pipelines.data_preparation.pipeline import (
    CORPORA,
    corpus_pipeline,
    preparation,
)
from expression_nas.pipelines.efficientnet_fer.pipeline import efficientnet_pipelines
from expression_nas.pipelines.global_nas_fer.pipeline import global_nas_pipelines
from expression_nas.pipelines.rnas_mer.pipeline import MER_CORPORA, rnas_pipeline
from expression_nas.pipelines.surrogate_hpo_fer.pipeline import surrogate_pipelines


def register_pipelines() -> dict[str, Pipeline]:
    """Registered names:

    - ``rnas_mer`` (the default): prepare the demo composite, search, train, evaluate.
    - ``rnas_mer_<corpus>``: the same on a real MER corpus, e.g.
      ``kedro run --env=composite --pipelines=rnas_mer_composite``.
    - ``data_preparation``: prepare every demo corpus; ``prepare_<corpus>``: one corpus.
    - ``darts_fer`` and ``darts_stn_fer``: DARTS / DARTS-STN searched on the demo FER2013 and
      evaluated on the demo FER2013, CK+ and JAFFE; ``darts_comparison``: both and their
      comparison. ``*_real``: the same on the real corpora (``--env=fer``).
    - ``surrogate_hpo_fer``: seed 001's sparseness HPO (DE / PSO through a surrogate network)
      and its baselines on the demo FER corpora; ``surrogate_hpo_fer_real`` (``--env=fer``).
    - ``cross_database``: prepare the demo FER corpora, train on each and test on each other;
      ``cross_database_real``: the same on FER2013, CK+ and JAFFE (``--env=fer``).
    - ``efficientnet_fer``: seed 003's EfficientNetV2-S scaling search with Optuna TPE (a
      study that several workers share), the best network retrained and evaluated on the
      demo FER corpora, and the seed's comparisons; ``efficientnet_fer_real`` (``--env=fer``).
    - ``global_nas_fer``: seed 004's global macro-micro search with architecture-aware
      training on the demo FER2013, the found network evaluated on the demo FER corpora, the
      random-sampling baseline and RI; ``global_nas_fer_real`` (``--env=fer``).
    """
    pipelines = {
        "rnas_mer": rnas_mer.create_pipeline(),
        "data_preparation": data_preparation.create_pipeline(),
    }
    pipelines.update({f"prepare_{name}": corpus_pipeline(name) for name in CORPORA})
    pipelines.update(
        {
            f"rnas_mer_{name}": corpus_pipeline(name) + rnas_pipeline(name)
            for name in MER_CORPORA
            if name != "demo_composite"
        }
    )
    pipelines.update(fer_pipelines("", *FER_DEMO))
    pipelines.update(fer_pipelines("_real", *FER_REAL))
    pipelines.update(surrogate_pipelines())
    pipelines["cross_database"] = cross_database.create_pipeline()
    pipelines["cross_database_real"] = preparation(XDB_REAL) + cross_database_pipeline(
        "cross_database_real", XDB_REAL
    )
    pipelines.update(efficientnet_pipelines())
    pipelines.update(global_nas_pipelines())
    pipelines["__default__"] = pipelines["rnas_mer"]
    return pipelines
