"""One template pipeline, instantiated per corpus under the corpus's name as namespace.

For corpus ``demo_casme2`` the outputs are the catalog entries ``demo_casme2.samples``,
``demo_casme2.clips``, ``demo_casme2.onset_apex``, ``demo_casme2.alignment_report`` and
``demo_casme2.augmented_clips`` / ``.augmented_samples`` (FER corpora: no onset_apex).
Its settings are ``data_preparation.corpora.demo_casme2`` in the parameters.
"""

from __future__ import annotations

from collections.abc import Callable

from kedro.pipeline import Node, Pipeline

from expression_nas.pipelines.data_preparation import nodes

#: Corpus name -> whether its samples are clips (MER) or stills (FER).
CORPORA = {
    "demo_casme2": "clips",
    "demo_samm": "clips",
    "demo_smic": "clips",
    "demo_composite": "clips",
    "demo_fer2013": "stills",
    "demo_ckplus": "stills",
    "demo_jaffe": "stills",
    "casme2": "clips",
    "samm": "clips",
    "smic": "clips",
    "composite": "clips",
    "fer2013": "stills",
    "ckplus": "stills",
    "jaffe": "stills",
}
DEMO_CORPORA = tuple(name for name in CORPORA if name.startswith("demo_"))
#: The still-image (FER) corpora, demo and real, that every FER pipeline reads.
FER_DEMO_CORPORA = tuple(n for n in DEMO_CORPORA if CORPORA[n] == "stills")
FER_REAL_CORPORA = tuple(
    n for n, kind in CORPORA.items() if kind == "stills" and not n.startswith("demo_")
)


def corpus_pipeline(corpus: str) -> Pipeline:
    """The preparation of one corpus, namespaced under its name."""
    clips = CORPORA[corpus] == "clips"
    shared = [
        Node(nodes.index_corpus, "params:corpus", "raw_index", name="index_corpus"),
        Node(nodes.select_classes, ["raw_index", "params:corpus"], "index", name="select_classes"),
        Node(
            nodes.align_corpus,
            ["index", "params:corpus", "params:alignment"],
            "aligned",
            name="align_faces",
        ),
        Node(
            nodes.report_quality,
            ["raw_index", "index", "aligned", "params:corpus"],
            "alignment_report",
            name="report_quality",
        ),
    ]
    if clips:
        specific = [
            Node(
                nodes.build_clips,
                ["index", "aligned", "params:corpus"],
                ["clips", "samples", "onset_apex"],
                name="normalize_clips",
            ),
            Node(
                nodes.augment_clips,
                ["clips", "samples", "params:augmentation"],
                ["augmented_clips", "augmented_samples"],
                name="augment",
            ),
        ]
    else:
        specific = [
            Node(
                nodes.build_stills,
                ["index", "aligned"],
                ["clips", "samples"],
                name="collect_stills",
            ),
            Node(
                nodes.augment_stills,
                ["clips", "samples", "params:augmentation"],
                ["augmented_clips", "augmented_samples"],
                name="augment",
            ),
        ]
    return Pipeline(
        shared + specific,
        namespace=corpus,
        parameters={
            "params:corpus": f"params:data_preparation.corpora.{corpus}",
            "params:alignment": "params:data_preparation.alignment",
            "params:augmentation": "params:data_preparation.augmentation",
        },
        tags=["data_preparation", corpus, "preparation"],
    )


def preparation(corpora: tuple[str, ...]) -> Pipeline:
    """The preparation pipelines of ``corpora``, each in its own namespace."""
    return sum((corpus_pipeline(corpus) for corpus in corpora), Pipeline([]))


def demo_and_real(name: str, build: Callable[[str, tuple[str, ...]], Pipeline]) -> dict:
    """A FER pipeline registered twice: ``name`` on the demo FER corpora, ``<name>_real`` on the
    real ones (``--env=fer``); ``build(name, corpora)`` makes it, and each is preceded by the
    preparation of its corpora."""
    return {
        name: preparation(FER_DEMO_CORPORA) + build(name, FER_DEMO_CORPORA),
        f"{name}_real": preparation(FER_REAL_CORPORA) + build(f"{name}_real", FER_REAL_CORPORA),
    }


def create_pipeline(**kwargs) -> Pipeline:
    """All demo corpora (the default data); real corpora are registered as ``prepare_<name>``."""
    return preparation(DEMO_CORPORA)
