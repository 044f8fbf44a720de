"""``efficientnet_fer`` (demo corpora) and ``efficientnet_fer_real`` (``--env=fer``): the TPE
study on the search corpus (the first: FER2013), Optuna's plots, the best configuration
retrained and evaluated on every corpus, the comparisons and a summary. Outputs live under
the pipeline's namespace (conf/base/catalog.yml); the prepared corpora in their own."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.experiments.efficientnet_fer import STUDY_PLOTS
from expression_nas.pipelines.data_preparation.pipeline import (
    FER_DEMO_CORPORA,
    FER_REAL_CORPORA,
    demo_and_real,
)
from expression_nas.pipelines.efficientnet_fer import nodes
from expression_nas.pipelines.namespaces import (
    classes_parameter,
    corpus_inputs,
    evaluation_nodes,
    reading_other_namespaces,
)

DEMO_CORPORA, REAL_CORPORA = FER_DEMO_CORPORA, FER_REAL_CORPORA
PARAMS = "params:efficientnet_fer"
AUGMENTATION = "params:data_preparation.augmentation"


def efficientnet_pipeline(name: str, corpora: tuple[str, ...]) -> Pipeline:
    """The study on ``corpora[0]`` and the evaluation on every corpus, under ``name``."""
    search_corpus = corpora[0]
    search_data = [f"clips_{search_corpus}", f"samples_{search_corpus}"]
    evaluation = evaluation_nodes(
        nodes.evaluate_corpus, corpora, ["architecture_spec", "search_report", PARAMS, AUGMENTATION]
    )
    with reading_other_namespaces():
        return Pipeline(
            [
                Node(
                    nodes.search,
                    [*search_data, PARAMS, AUGMENTATION, classes_parameter(search_corpus)],
                    ["search_report", "trials", "architecture_spec"],
                    name="search",
                    tags=["search"],
                ),
                Node(
                    nodes.plot_study,
                    ["search_report", PARAMS],
                    [f"optuna_{plot}" for plot in STUDY_PLOTS],
                    name="plot_study",
                    tags=["report"],
                ),
                *evaluation,
                Node(
                    nodes.compare,
                    [
                        *search_data,
                        "architecture_spec",
                        "search_report",
                        PARAMS,
                        AUGMENTATION,
                        classes_parameter(search_corpus),
                    ],
                    [
                        "scaling_comparison",
                        "scaling_comparison_plot",
                        "loss_weighting_comparison",
                        "loss_weighting_comparison_plot",
                    ],
                    name="compare",
                    tags=["evaluation"],  # it trains the seed's comparison networks
                ),
                Node(
                    nodes.summarize,
                    [
                        "search_report",
                        "scaling_comparison",
                        "loss_weighting_comparison",
                        *(f"metrics_{corpus}" for corpus in corpora),
                    ],
                    "summary",
                    name="summarize",
                    tags=["report"],
                ),
            ],
            namespace=name,
            inputs=corpus_inputs(corpora),
            parameters={PARAMS, AUGMENTATION, *(classes_parameter(c) for c in corpora)},
            tags=["efficientnet_fer", name],
        )


def efficientnet_pipelines() -> dict[str, Pipeline]:
    return demo_and_real("efficientnet_fer", efficientnet_pipeline)


def create_pipeline(**kwargs) -> Pipeline:
    return efficientnet_pipelines()["efficientnet_fer"]
