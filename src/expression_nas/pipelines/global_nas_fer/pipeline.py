"""``global_nas_fer`` (demo corpora) and ``global_nas_fer_real`` (``--env=fer``): Algorithm 1 on
the search corpus (the first: FER2013), the found network trained from scratch and evaluated
on every corpus, the random baseline on the search corpus and a summary. Outputs live under
the pipeline's namespace (conf/base/catalog.yml); the prepared corpora in their own."""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.data_preparation.pipeline import (
    FER_DEMO_CORPORA,
    FER_REAL_CORPORA,
    demo_and_real,
)
from expression_nas.pipelines.global_nas_fer import nodes
from expression_nas.pipelines.namespaces import (
    bind,
    classes_parameter,
    corpus_inputs,
    evaluation_nodes,
    reading_other_namespaces,
)

DEMO_CORPORA, REAL_CORPORA = FER_DEMO_CORPORA, FER_REAL_CORPORA
PARAMS = "params:global_nas_fer"


def global_nas_pipeline(name: str, corpora: tuple[str, ...]) -> Pipeline:
    """The search on ``corpora[0]``, the evaluation on every corpus, the random baseline on
    ``corpora[0]``, under ``name``."""
    search_corpus = corpora[0]
    search_data = [f"clips_{search_corpus}", f"samples_{search_corpus}"]
    evaluation = evaluation_nodes(
        nodes.evaluate_corpus, corpora, ["architecture_spec", "search_report", PARAMS]
    )
    with reading_other_namespaces():
        return Pipeline(
            [
                Node(
                    bind(nodes.search, corpus=search_corpus, pipeline=name),
                    [*search_data, PARAMS, classes_parameter(search_corpus)],
                    ["search_report", "candidates", "architecture_spec", "search_trajectory"],
                    name="search",
                    tags=["search"],
                ),
                *evaluation,
                Node(
                    bind(nodes.random_baseline, corpus=search_corpus),
                    [
                        *search_data,
                        f"metrics_{search_corpus}",
                        PARAMS,
                        classes_parameter(search_corpus),
                    ],
                    ["random_architectures", "relative_improvement", "random_baseline_plot"],
                    name="random_baseline",
                    tags=["evaluation"],
                ),
                Node(
                    nodes.summarize,
                    [
                        "search_report",
                        "relative_improvement",
                        *(f"metrics_{corpus}" for corpus in corpora),
                    ],
                    "summary",
                    name="summarize",
                    tags=["report"],
                ),
            ],
            namespace=name,
            inputs=corpus_inputs(corpora),
            parameters={PARAMS, *(classes_parameter(c) for c in corpora)},
            tags=["global_nas_fer", name],
        )


def global_nas_pipelines() -> dict[str, Pipeline]:
    return demo_and_real("global_nas_fer", global_nas_pipeline)


def create_pipeline(**kwargs) -> Pipeline:
    return global_nas_pipelines()["global_nas_fer"]
