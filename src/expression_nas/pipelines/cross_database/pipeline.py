"""Cross-database evaluation on the prepared FER corpora: ``cross_database`` (the demo corpora,
with their preparation) and ``cross_database_real`` (FER2013, CK+ and JAFFE, ``--env=fer``).

The outputs are namespaced under the pipeline's name (``cross_database.pair_scores``, ...; see
conf/base/catalog.yml); the prepared corpora are read from their own namespaces.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.cross_database import nodes
from expression_nas.pipelines.data_preparation.pipeline import (
    FER_DEMO_CORPORA,
    FER_REAL_CORPORA,
    preparation,
)
from expression_nas.pipelines.namespaces import bind, classes_parameter, reading_other_namespaces

DEMO_CORPORA, REAL_CORPORA = FER_DEMO_CORPORA, FER_REAL_CORPORA
CORPUS_DATASETS = ("clips", "samples", "augmented_clips", "augmented_samples")


def cross_database_pipeline(name: str, corpora: tuple[str, ...]) -> Pipeline:
    """Every ordered pair of ``corpora``: train on one, test on the other, under the namespace
    ``name``."""
    external = {
        f"{dataset}_{corpus}": f"{corpus}.{dataset}"
        for corpus in corpora
        for dataset in CORPUS_DATASETS
    }
    classes = {classes_parameter(corpus) for corpus in corpora}
    collect = [
        Node(
            bind(nodes.collect_corpus, corpus=corpus),
            [
                *(f"{dataset}_{corpus}" for dataset in CORPUS_DATASETS),
                "params:cross_database",
                classes_parameter(corpus),
            ],
            f"corpus_{corpus}",
            name=f"collect_{corpus}",
            tags=["preparation"],
        )
        for corpus in corpora
    ]
    report = bind(nodes.report_matrices, corpora=corpora)
    evaluation = [
        Node(
            nodes.resolve_architecture,
            "params:cross_database",
            "architecture",
            name="resolve_architecture",
            tags=["search"],
        ),
        *collect,
        Node(
            nodes.evaluate_pairs,
            [
                "params:cross_database",
                "architecture",
                *(f"corpus_{corpus}" for corpus in corpora),
            ],
            ["pair_scores", "epoch_predictions"],
            name="evaluate_pairs",
            tags=["evaluation"],
        ),
        Node(
            report,
            "pair_scores",
            ["accuracy_matrix", "uf1_matrix", "matrix_heatmap"],
            name="report_matrices",
            tags=["report"],
        ),
    ]
    with reading_other_namespaces():
        return Pipeline(
            evaluation,
            namespace=name,
            inputs=external,
            parameters={"params:cross_database", *classes},
            tags=["cross_database", name],
        )


def create_pipeline(**kwargs) -> Pipeline:
    """The demo FER corpora, prepared and evaluated across databases."""
    return preparation(DEMO_CORPORA) + cross_database_pipeline("cross_database", DEMO_CORPORA)
