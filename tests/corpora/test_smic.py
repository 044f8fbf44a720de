"""SMIC-HS loader on tiny trees in the real layout."""

from __future__ import annotations

import pytest

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.smic import load_smic

SAMPLES = {
    "s2/positive/s2_po_01": range(8, 13),  # image000009 .. image000012
    "s1/surprise/s1_sur_01": range(1, 4),
    "s1/negative/s1_ne_01": range(96, 104),
}


def test_happy_path(make_smic, tmp_path):
    root = make_smic(tmp_path, SAMPLES)
    table = load_smic(root)

    assert list(table.columns) == list(INDEX_COLUMNS)
    assert table["sample_id"].tolist() == ["s1/s1_ne_01", "s1/s1_sur_01", "s2/s2_po_01"]
    assert table["subject"].tolist() == ["s1", "s1", "s2"]
    assert table["label"].tolist() == ["negative", "surprise", "positive"]
    assert set(table["dataset"]) == {"smic"}
    first = table.iloc[0]
    assert (first.onset, first.apex, first.offset, first.n_frames_raw) == (96, 100, 103, 8)
    folder = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
    assert first.frames == [str(folder / f"image{n:06d}.bmp") for n in range(96, 104)]
    assert (table.iloc[2].onset, table.iloc[2].apex, table.iloc[2].offset) == (8, 10, 12)
    assert table["apex_imputed"].all()
    assert not table["offset_repaired"].any()


def test_frames_sorted_by_number_not_name(make_smic, image_writer, tmp_path):
    root = make_smic(tmp_path, {"s1/negative/s1_ne_01": []})
    folder = root / "HS" / "s1" / "micro" / "negative" / "s1_ne_01"
    for number in (8, 9, 10, 11):
        image_writer(folder / f"image{number}.bmp")  # unpadded
    image_writer(folder / "Thumbs.png")  # not a frame: ignored
    assert load_smic(root).iloc[0].frames == [str(folder / f"image{n}.bmp") for n in (8, 9, 10, 11)]


def test_subject_without_micro_folder_is_skipped(make_smic, image_writer, tmp_path):
    root = make_smic(tmp_path, SAMPLES)
    image_writer(root / "HS" / "s3" / "macro" / "happy" / "x" / "image000001.bmp")
    assert sorted(load_smic(root)["subject"].unique()) == ["s1", "s2"]


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_smic(tmp_path / "absent")


def test_missing_hs_folder(tmp_path):
    with pytest.raises(CorpusError, match="HS"):
        load_smic(tmp_path)


def test_no_samples(tmp_path):
    (tmp_path / "HS" / "s1").mkdir(parents=True)
    with pytest.raises(CorpusError, match="no samples"):
        load_smic(tmp_path)


def test_unknown_class_folder(make_smic, tmp_path):
    root = make_smic(tmp_path, {**SAMPLES, "s2/happy/s2_ha_01": range(1, 3)})
    with pytest.raises(CorpusError) as error:
        load_smic(root)
    assert "'happy'" in str(error.value) and str(root / "HS" / "s2" / "micro") in str(error.value)


def test_sample_folder_without_frames(make_smic, tmp_path):
    root = make_smic(tmp_path, SAMPLES)
    (root / "HS" / "s2" / "micro" / "surprise" / "s2_sur_01").mkdir(parents=True)
    with pytest.raises(CorpusError, match="s2_sur_01"):
        load_smic(root)
