"""Composite MEGC2019 corpus: CASME II + SAMM + SMIC-HS mapped to three classes."""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from expression_nas.corpora import casme2, samm, smic
from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.composite import (
    COMPOSITE_CLASSES,
    COMPOSITE_LABEL_MAP,
    composite_from_indexes,
    load_composite,
)


@pytest.fixture
def roots(tmp_path, make_casme2, make_samm, make_samm_row, make_smic):
    casme2 = make_casme2(
        tmp_path / "casme2",
        [
            [1, "EP01_01", 1, 2, 3, "4", "disgust"],
            [1, "EP01_02", 1, 2, 3, "12", "happiness"],
            [2, "EP02_01", 1, 2, 3, "", "others"],
            [2, "EP02_02", 1, 2, 3, "", "repression"],
        ],
        {f"sub0{s}/EP0{s}_0{k}": range(1, 4) for s in (1, 2) for k in (1, 2)},
    )
    samm = make_samm(
        tmp_path / "samm",
        [
            make_samm_row(6, "006_1_2", 10, 11, 12, emotion="Anger"),
            make_samm_row(6, "006_1_3", 10, 11, 12, emotion="Contempt"),
            make_samm_row(7, "007_1_1", 10, 11, 12, emotion="Other"),
            make_samm_row(7, "007_1_2", 10, -1, 12, emotion="Surprise"),
        ],
        {s: range(10, 13) for s in ("006/006_1_2", "006/006_1_3", "007/007_1_1", "007/007_1_2")},
    )
    smic = make_smic(
        tmp_path / "smic",
        {
            "s1/negative/s1_ne_01": range(1, 4),
            "s1/positive/s1_po_01": range(1, 4),
            "s2/surprise/s2_sur_01": range(1, 4),
        },
    )
    return casme2, samm, smic


def test_mapping_exclusion_and_prefixes(roots, caplog):
    with caplog.at_level(logging.INFO):
        table = load_composite(*roots)

    assert list(table.columns) == [*INDEX_COLUMNS, "source", "original_label", "action_units"]
    assert table["sample_id"].tolist() == [
        "casme2/sub01/EP01_01",
        "casme2/sub01/EP01_02",
        "casme2/sub02/EP02_02",
        "samm/006/006_1_2",
        "samm/006/006_1_3",
        "samm/007/007_1_2",
        "smic/s1/s1_ne_01",
        "smic/s1/s1_po_01",
        "smic/s2/s2_sur_01",
    ]
    assert table["label"].tolist() == [
        "negative", "positive", "negative", "negative", "negative", "surprise",
        "negative", "positive", "surprise",
    ]  # fmt: skip
    assert table["original_label"].tolist() == [
        "disgust", "happiness", "repression", "anger", "contempt", "surprise",
        "negative", "positive", "surprise",
    ]  # fmt: skip
    assert table["dataset"].tolist() == table["source"].tolist()
    assert table["dataset"].tolist() == ["casme2"] * 3 + ["samm"] * 3 + ["smic"] * 3
    assert table["subject"].nunique() == 6
    assert table["subject"].iloc[3] == "samm/006"
    assert set(table["label"]) <= set(COMPOSITE_CLASSES)
    assert table.set_index("sample_id").loc["samm/007/007_1_2", "apex_imputed"]
    assert "9 samples from 6 subjects" in caplog.text


def test_label_map_covers_every_source_vocabulary():
    for vocabulary in (casme2.VOCABULARY, samm.VOCABULARY, smic.VOCABULARY):
        for label in vocabulary:
            assert label in COMPOSITE_LABEL_MAP or label in ("others", "other")
    assert set(COMPOSITE_LABEL_MAP.values()) == set(COMPOSITE_CLASSES)


def test_cropped_variant_is_passed_on(roots, tmp_path):
    with pytest.raises(CorpusError, match="Cropped"):
        load_composite(*roots, casme2_variant="cropped")


def test_source_errors_propagate(roots, tmp_path):
    casme2, samm, _ = roots
    with pytest.raises(CorpusError, match="HS"):
        load_composite(casme2, samm, tmp_path / "casme2")


def test_unmapped_label_is_an_error():
    index = pd.DataFrame(
        [["x", "a", "a/1", "joy", 0, 0, 0, 1, ["f"], False, False]], columns=list(INDEX_COLUMNS)
    )
    with pytest.raises(CorpusError, match="joy"):
        composite_from_indexes({"x": index})
