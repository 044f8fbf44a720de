"""``surrogate_hpo_fer`` (demo corpora) and ``surrogate_hpo_fer_real`` (``--env=fer``): one
node per corpus runs every report row of that corpus (searches, baselines, final trainings,
tests); a node compares the networks' costs with their surrogates'; a node gathers the report.
Outputs live under the pipeline's namespace (conf/base/catalog.yml)."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.data_preparation.pipeline import (
    FER_DEMO_CORPORA,
    FER_REAL_CORPORA,
    demo_and_real,
)
from expression_nas.pipelines.namespaces import (
    bind,
    classes_parameter,
    corpus_inputs,
    reading_other_namespaces,
)
from expression_nas.pipelines.surrogate_hpo_fer import nodes

DEMO_CORPORA, REAL_CORPORA = FER_DEMO_CORPORA, FER_REAL_CORPORA


def hpo_pipeline(name: str, corpora: tuple[str, ...]) -> Pipeline:
    tuning = []
    for corpus in corpora:
        tuning.append(
            Node(
                bind(nodes.tune_corpus, corpus=corpus),
                [
                    f"clips_{corpus}",
                    f"samples_{corpus}",
                    "params:surrogate_hpo_fer",
                    classes_parameter(corpus),
                ],
                [
                    f"hpo_report_{corpus}",
                    f"predictions_{corpus}",
                    f"metrics_{corpus}",
                    f"confusion_matrix_{corpus}",
                    f"convergence_{corpus}",
                    f"architecture_spec_{corpus}",
                ],
                name=f"tune_{corpus}",
                tags=["search"],  # and the final training and test of what it chose
            )
        )
    with reading_other_namespaces():
        return Pipeline(
            [
                *tuning,
                Node(
                    nodes.compare_costs,
                    "params:surrogate_hpo_fer",
                    "cost_comparison",
                    name="compare_costs",
                    tags=["report"],
                ),
                Node(
                    nodes.summarize_reports,
                    [f"hpo_report_{corpus}" for corpus in corpora],
                    "hpo_report",
                    name="summarize_reports",
                    tags=["report"],
                ),
            ],
            namespace=name,
            inputs=corpus_inputs(corpora),
            parameters={"params:surrogate_hpo_fer", *(classes_parameter(c) for c in corpora)},
            tags=["surrogate_hpo_fer", name],
        )


def surrogate_pipelines() -> dict[str, Pipeline]:
    return demo_and_real("surrogate_hpo_fer", hpo_pipeline)


def create_pipeline(**kwargs) -> Pipeline:
    return surrogate_pipelines()["surrogate_hpo_fer"]
