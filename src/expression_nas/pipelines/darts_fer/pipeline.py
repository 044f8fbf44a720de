"""DARTS (``darts_fer``) and DARTS-STN (``darts_stn_fer``) on FER corpora, and their comparison.

One template serves both methods: search on the training split of the search corpus, then
train and evaluate the derived network on every evaluation corpus. Each method's outputs are
namespaced under the method's pipeline name (``darts_fer.architecture_spec``,
``darts_fer.metrics_demo_ckplus``, ...; see conf/base/catalog.yml); the prepared corpora are
read from their own namespaces. Both methods read ``params:darts_fer`` (same data, settings
and seed); only the strategy differs.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.darts_fer import nodes
from expression_nas.pipelines.data_preparation.pipeline import preparation
from expression_nas.pipelines.namespaces import bind, classes_parameter, reading_other_namespaces

#: (search corpus, evaluation corpora) of the demo and of the real corpora.
DEMO_CORPORA = ("demo_fer2013", ("demo_fer2013", "demo_ckplus", "demo_jaffe"))
REAL_CORPORA = ("fer2013", ("fer2013", "ckplus", "jaffe"))
#: pipeline name -> strategy
METHODS = {"darts_fer": "darts", "darts_stn_fer": "darts_stn"}


def method_pipeline(
    method: str, strategy: str, search_corpus: str, eval_corpora: tuple[str, ...]
) -> Pipeline:
    """Search with ``strategy`` on ``search_corpus`` and evaluate on ``eval_corpora``, under
    the namespace ``method``."""
    # Prepared data lives in the corpora's namespaces: nodes use local names, mapped here.
    external = {
        "search_clips": f"{search_corpus}.clips",
        "search_samples": f"{search_corpus}.samples",
    }
    evaluation = []
    for corpus in eval_corpora:
        names = ("clips", "samples", "augmented_clips", "augmented_samples")
        external.update({f"{name}_{corpus}": f"{corpus}.{name}" for name in names})
        data = [f"{name}_{corpus}" for name in names[:2]]
        augmented = [f"{name}_{corpus}" for name in names[2:]]
        evaluation.append(
            Node(
                bind(nodes.evaluate_corpus, corpus=corpus),
                [
                    *data,
                    *augmented,
                    "architecture_spec",
                    "search_report",
                    "params:darts_fer",
                    classes_parameter(corpus),
                ],
                [f"predictions_{corpus}", f"metrics_{corpus}", f"confusion_matrix_{corpus}"],
                name=f"evaluate_{corpus}",
                tags=["evaluation"],
            )
        )
    classes = {classes_parameter(corpus) for corpus in {search_corpus, *eval_corpora}}
    nodes_of_method = [
        Node(
            nodes.split_search_data,
            ["search_samples", "params:darts_fer"],
            "search_split",
            name="split_search_data",
            tags=["search"],
        ),
        Node(
            bind(nodes.search_architecture, strategy=strategy, method=method),
            [
                "search_clips",
                "search_samples",
                "search_split",
                "params:darts_fer",
                classes_parameter(search_corpus),
            ],
            ["architecture_spec", "search_report", "architecture_drawing"],
            name="search_architecture",
            tags=["search"],
        ),
        *evaluation,
        Node(
            nodes.summarize_method,
            ["search_report", *(f"metrics_{corpus}" for corpus in eval_corpora)],
            "summary",
            name="summarize",
            tags=["report"],
        ),
    ]
    with reading_other_namespaces():
        return Pipeline(
            nodes_of_method,
            namespace=method,
            inputs=external,
            parameters={"params:darts_fer", *classes},
            tags=["darts_fer", method],
        )


def comparison_pipeline(name: str, methods: tuple[str, ...]) -> Pipeline:
    """The comparison of the methods' summaries, as ``<name>.comparison_table`` and plot."""
    with reading_other_namespaces():
        return Pipeline(
            [
                Node(
                    nodes.compare_methods,
                    [f"summary_{method}" for method in methods],
                    ["comparison_table", "comparison_plot"],
                    name="compare_methods",
                    tags=["report"],
                )
            ],
            namespace=name,
            inputs={f"summary_{method}": f"{method}.summary" for method in methods},
            tags=["darts_fer", name],
        )


def fer_pipelines(suffix: str, search_corpus: str, eval_corpora: tuple[str, ...]) -> dict:
    """``darts_fer<suffix>``, ``darts_stn_fer<suffix>`` (each with the preparation of its
    corpora) and ``darts_comparison<suffix>`` (both methods and the comparison)."""
    prepare = preparation(tuple(dict.fromkeys((search_corpus, *eval_corpora))))
    methods = {
        f"{method}{suffix}": method_pipeline(
            f"{method}{suffix}", strategy, search_corpus, eval_corpora
        )
        for method, strategy in METHODS.items()
    }
    pipelines = {name: prepare + pipeline for name, pipeline in methods.items()}
    pipelines[f"darts_comparison{suffix}"] = (
        prepare
        + sum(methods.values(), Pipeline([]))
        + comparison_pipeline(f"darts_comparison{suffix}", tuple(methods))
    )
    return pipelines


def create_pipeline(**kwargs) -> Pipeline:
    """DARTS on the demo FER corpora (the registry also builds the other variants)."""
    return fer_pipelines("", *DEMO_CORPORA)["darts_fer"]
