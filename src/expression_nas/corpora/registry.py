"""Corpus kinds -> loaders and label vocabularies."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from expression_nas.corpora import casme2, ckplus, fer2013, jaffe, samm, smic
from expression_nas.corpora.base import CorpusError
from expression_nas.corpora.composite import COMPOSITE_CLASSES, load_composite

__all__ = ["COMPOSITE_CLASSES", "LOADERS", "VOCABULARIES", "load_corpus"]

LOADERS: dict[str, Callable[..., pd.DataFrame]] = {
    "casme2": casme2.load_casme2,
    "samm": samm.load_samm,
    "smic": smic.load_smic,
    "composite": load_composite,
    "fer2013": fer2013.load_fer2013,
    "ckplus": ckplus.load_ckplus,
    "jaffe": jaffe.load_jaffe,
}

#: Each corpus kind's valid label words, in a fixed order (usable as class indices).
VOCABULARIES: dict[str, tuple[str, ...]] = {
    "casme2": casme2.VOCABULARY,
    "samm": samm.VOCABULARY,
    "smic": smic.VOCABULARY,
    "composite": COMPOSITE_CLASSES,
    "fer2013": fer2013.VOCABULARY,
    "ckplus": ckplus.VOCABULARY,
    "jaffe": jaffe.VOCABULARY,
}


def load_corpus(kind: str, **options) -> pd.DataFrame:
    """Load corpus ``kind`` with its loader's keyword options (e.g. ``root=...``)."""
    if kind not in LOADERS:
        raise CorpusError(f"unknown corpus kind {kind!r}, expected one of {sorted(LOADERS)}")
    return LOADERS[kind](**options)
