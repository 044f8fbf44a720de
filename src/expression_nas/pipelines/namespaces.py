"""What the pipelines that read prepared corpora from the corpora's own namespaces share."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper

from kedro.pipeline import Node


def bind(function, **kwargs):
    """``function`` with some arguments fixed, keeping its name and docstring for Kedro."""
    return update_wrapper(partial(function, **kwargs), function)


@contextmanager
def reading_other_namespaces() -> Iterator[None]:
    """Kedro warns when a node's dataset lies in another namespace (``demo_ckplus.clips`` read
    by ``darts_fer``); here that is the point: the corpora are prepared in their own."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "One or more dataset names contain '.'", UserWarning)
        yield


def classes_parameter(corpus: str) -> str:
    """The parameter that lists ``corpus``'s class names."""
    return f"params:data_preparation.corpora.{corpus}.classes"


def corpus_inputs(corpora: tuple[str, ...]) -> dict[str, str]:
    """The pipeline's names of each corpus's prepared images and samples (``clips_<corpus>``,
    ``samples_<corpus>``) -> the corpus's own catalog entries."""
    inputs = {}
    for corpus in corpora:
        inputs |= {f"clips_{corpus}": f"{corpus}.clips", f"samples_{corpus}": f"{corpus}.samples"}
    return inputs


def evaluation_nodes(function, corpora: tuple[str, ...], shared: list[str]) -> list[Node]:
    """One ``evaluate_<corpus>`` node per corpus: ``function(images, samples, *shared,
    classes, corpus=, log_model=)`` to the corpus's predictions, metrics and confusion
    matrix; the first corpus (the search corpus) logs its model."""
    return [
        Node(
            bind(function, corpus=corpus, log_model=corpus == corpora[0]),
            [f"clips_{corpus}", f"samples_{corpus}", *shared, classes_parameter(corpus)],
            [f"predictions_{corpus}", f"metrics_{corpus}", f"confusion_matrix_{corpus}"],
            name=f"evaluate_{corpus}",
            tags=["evaluation"],
        )
        for corpus in corpora
    ]
