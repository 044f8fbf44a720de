"""The rnas_mer pipeline for one prepared MER corpus (default: the demo composite).

Inputs are the outputs of the corpus's preparation (``<corpus>.clips``, ``.samples`` and the
augmented pair); outputs are ``<corpus>.rnas_mer.*`` (see conf/base/catalog.yml), written per
variant so that ablations sit side by side.
"""

from __future__ import annotations

from functools import partial, update_wrapper

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.data_preparation.pipeline import corpus_pipeline
from expression_nas.pipelines.rnas_mer import nodes

#: MER corpora this pipeline can run on (each has a prepare_<corpus> pipeline).
MER_CORPORA = ("demo_composite", "composite", "casme2", "samm", "smic")


def _bind(function, **kwargs):
    return update_wrapper(partial(function, **kwargs), function)


def rnas_pipeline(corpus: str) -> Pipeline:
    """Search, LOSO evaluation, cross-database evaluation and the release model for ``corpus``."""
    data = [f"{corpus}.clips", f"{corpus}.samples"]
    augmented = [f"{corpus}.augmented_clips", f"{corpus}.augmented_samples"]
    classes = f"params:data_preparation.corpora.{corpus}.classes"
    out = f"{corpus}.rnas_mer"
    return Pipeline(
        [
            Node(
                nodes.plan_searches,
                [f"{corpus}.samples", "params:rnas_mer"],
                f"{out}.search_plan",
                name="plan_searches",
            ),
            Node(
                _bind(
                    nodes.search_architectures,
                    checkpoint_dir=f"data/06_models/{corpus}/rnas_mer/checkpoints",
                ),
                [*data, f"{out}.search_plan", "params:rnas_mer", classes],
                [
                    f"{out}.architecture_specs",
                    f"{out}.search_report",
                    f"{out}.architecture_drawings",
                ],
                name="search_architectures",
            ),
            Node(
                nodes.evaluate_loso,
                [
                    *data,
                    *augmented,
                    f"{out}.architecture_specs",
                    f"{out}.search_plan",
                    "params:rnas_mer",
                ],
                f"{out}.loso_predictions",
                name="evaluate_loso",
            ),
            Node(
                _bind(nodes.summarize_loso, corpus=corpus),
                [f"{out}.loso_predictions", classes, "params:rnas_mer"],
                [f"{out}.metrics", f"{out}.confusion_matrix"],
                name="summarize_loso",
            ),
            Node(
                nodes.evaluate_cross_database,
                [*data, *augmented, f"{out}.architecture_specs", "params:rnas_mer", classes],
                [f"{out}.cross_database", f"{out}.cross_database_plot"],
                name="evaluate_cross_database",
            ),
            Node(
                nodes.train_release_model,
                [*data, *augmented, f"{out}.architecture_specs", "params:rnas_mer"],
                f"{out}.model_profiles",
                name="train_release_model",
            ),
        ],
        tags=["rnas_mer", corpus],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """The main job on the demo data: prepare the demo composite, then search and evaluate."""
    return corpus_pipeline("demo_composite") + rnas_pipeline("demo_composite")
