"""The rnas_mer pipeline for one prepared MER corpus (default: the demo composite).

Inputs are the outputs of the corpus's preparation (``<corpus>.clips``, ``.samples`` and the
augmented pair); outputs are ``<corpus>.rnas_mer_*`` (see conf/base/catalog.yml), written per
variant so that ablations sit side by side.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.data_preparation.pipeline import corpus_pipeline
from expression_nas.pipelines.namespaces import bind
from expression_nas.pipelines.rnas_mer import nodes

#: MER corpora this pipeline can run on (each has a prepare_<corpus> pipeline).
MER_CORPORA = ("demo_composite", "composite", "casme2", "samm", "smic")


def rnas_pipeline(corpus: str) -> Pipeline:
    """Search, LOSO evaluation, cross-database evaluation and the release model for ``corpus``,
    namespaced under the corpus so that it reads that corpus's prepared data."""
    data = ["clips", "samples"]
    augmented = ["augmented_clips", "augmented_samples"]
    return Pipeline(
        [
            Node(
                nodes.plan_searches,
                ["samples", "params:rnas_mer"],
                "rnas_mer_search_plan",
                name="plan_searches",
                tags=["search"],
            ),
            Node(
                bind(nodes.search_architectures, corpus=corpus),
                [*data, "rnas_mer_search_plan", "params:rnas_mer", "params:classes"],
                [
                    "rnas_mer_architecture_specs",
                    "rnas_mer_search_report",
                    "rnas_mer_architecture_drawings",
                ],
                name="search_architectures",
                tags=["search"],
            ),
            Node(
                nodes.evaluate_loso,
                [
                    *data,
                    *augmented,
                    "rnas_mer_architecture_specs",
                    "rnas_mer_search_plan",
                    "params:rnas_mer",
                ],
                "rnas_mer_loso_predictions",
                name="evaluate_loso",
                tags=["evaluation"],
            ),
            Node(
                bind(nodes.summarize_loso, corpus=corpus),
                ["rnas_mer_loso_predictions", "params:classes", "params:rnas_mer"],
                ["rnas_mer_metrics", "rnas_mer_confusion_matrix"],
                name="summarize_loso",
                tags=["report"],
            ),
            Node(
                nodes.evaluate_cross_database,
                [
                    *data,
                    *augmented,
                    "rnas_mer_architecture_specs",
                    "params:rnas_mer",
                    "params:classes",
                ],
                ["rnas_mer_cross_database", "rnas_mer_cross_database_plot"],
                name="evaluate_cross_database",
                tags=["evaluation"],
            ),
            Node(
                nodes.train_release_model,
                [*data, *augmented, "rnas_mer_architecture_specs", "params:rnas_mer"],
                "rnas_mer_model_profiles",
                name="train_release_model",
                tags=["release"],
            ),
        ],
        namespace=corpus,
        parameters={
            "params:rnas_mer": "params:rnas_mer",
            "params:classes": f"params:data_preparation.corpora.{corpus}.classes",
        },
        tags=["rnas_mer", corpus],
    )


def create_pipeline(**kwargs) -> Pipeline:
    """The main job on the demo data: prepare the demo composite, then search and evaluate."""
    return corpus_pipeline("demo_composite") + rnas_pipeline("demo_composite")
