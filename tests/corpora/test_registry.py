"""Corpus registry: kinds, loaders and vocabularies."""

from __future__ import annotations

import inspect

import pytest

from expression_nas.corpora import registry
from expression_nas.corpora.base import CorpusError
from expression_nas.corpora.registry import (
    COMPOSITE_CLASSES,
    LOADERS,
    VOCABULARIES,
    load_corpus,
)

KINDS = {"casme2", "samm", "smic", "composite", "fer2013", "ckplus", "jaffe"}


def test_every_kind_has_a_loader_and_a_vocabulary():
    assert set(LOADERS) == KINDS
    assert set(VOCABULARIES) == KINDS
    assert VOCABULARIES["composite"] == COMPOSITE_CLASSES == ("negative", "positive", "surprise")
    for kind, vocabulary in VOCABULARIES.items():
        assert len(set(vocabulary)) == len(vocabulary), kind
        assert all(word == word.lower().strip() for word in vocabulary), kind
    assert VOCABULARIES["fer2013"] == (
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    )  # fmt: skip
    assert VOCABULARIES["ckplus"][0] == "neutral" and VOCABULARIES["ckplus"][7] == "surprise"
    assert "repression" in VOCABULARIES["casme2"] and "contempt" in VOCABULARIES["samm"]


def test_loaders_take_a_root_or_the_composite_roots():
    for kind, loader in LOADERS.items():
        parameters = inspect.signature(loader).parameters
        expected = ["casme2", "samm", "smic"] if kind == "composite" else ["root"]
        assert list(parameters)[: len(expected)] == expected, kind


def test_load_corpus_dispatches_with_options(tmp_path, image_writer):
    image_writer(tmp_path / "KA.HA1.29.tiff")
    table = load_corpus("jaffe", root=tmp_path)
    assert table["label"].tolist() == ["happy"]


def test_load_corpus_passes_errors_on(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_corpus("casme2", root=tmp_path / "absent", variant="raw")


def test_unknown_kind_lists_the_known_kinds():
    with pytest.raises(CorpusError) as error:
        load_corpus("affectnet", root="x")
    message = str(error.value)
    assert "affectnet" in message
    assert all(kind in message for kind in KINDS)


def test_library_does_not_import_kedro():
    source = inspect.getsource(registry)
    assert "kedro" not in source
