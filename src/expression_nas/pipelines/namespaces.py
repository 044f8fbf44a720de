"""What the pipelines that read prepared corpora from the corpora's own namespaces share."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial, update_wrapper


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
