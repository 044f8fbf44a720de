"""JAFFE loader on a tiny flat folder."""

from __future__ import annotations

import pytest

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.jaffe import load_jaffe

NAMES = {
    "KA.AN1.39.tiff": "anger",
    "KA.DI2.43.tiff": "disgust",
    "KL.FE3.57.TIFF": "fear",
    "KM.HA1.4.tif": "happy",
    "NA.NE1.202.tiff": "neutral",
    "TM.SA2.120.tiff": "sadness",
    "YM.SU3.60.tiff": "surprise",
}


def build(root, image_writer, names=NAMES):
    for name in names:
        image_writer(root / name)
    (root / "README").write_text("The Japanese Female Facial Expression database")
    (root / "._KA.AN1.39.tiff").write_bytes(b"macOS resource fork, not an image")
    return root


def test_codes_subjects_and_stills(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    table = load_jaffe(root)

    assert list(table.columns) == list(INDEX_COLUMNS)
    assert len(table) == 7
    assert table["sample_id"].tolist() == [
        "KA.AN1.39", "KA.DI2.43", "KL.FE3.57", "KM.HA1.4", "NA.NE1.202", "TM.SA2.120", "YM.SU3.60",
    ]  # fmt: skip
    assert table["label"].tolist() == list(NAMES.values())
    assert table["subject"].tolist() == ["KA", "KA", "KL", "KM", "NA", "TM", "YM"]
    assert table.iloc[2].frames == [str(root / "KL.FE3.57.TIFF")]
    assert (table["n_frames_raw"] == 1).all()
    assert set(table["dataset"]) == {"jaffe"}


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_jaffe(tmp_path / "absent")


def test_no_images(tmp_path):
    (tmp_path / "README").write_text("nothing here")
    with pytest.raises(CorpusError, match="no JAFFE images"):
        load_jaffe(tmp_path)


def test_unknown_code(tmp_path, image_writer):
    root = build(tmp_path, image_writer, [*NAMES, "KA.XX1.40.tiff"])
    with pytest.raises(CorpusError) as error:
        load_jaffe(root)
    assert "KA.XX1.40.tiff" in str(error.value) and "'XX'" in str(error.value)


@pytest.mark.parametrize("name", ["KA_AN1_39.tiff", "KA.AN1.tiff", "KA.A1.39.tiff", "photo.tif"])
def test_name_not_of_the_expected_shape(tmp_path, image_writer, name):
    root = build(tmp_path, image_writer, [*NAMES, name])
    with pytest.raises(CorpusError, match=name.replace(".", r"\.")):
        load_jaffe(root)
