"""CK+ loader on a tiny tree in the real layout."""

from __future__ import annotations

import pytest

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.ckplus import load_ckplus

SEQUENCES = {  # (subject, sequence) -> (frame numbers, emotion code or None)
    ("S005", "001"): (range(1, 12), 3.0),  # 00000009 .. 00000011
    ("S010", "002"): (range(1, 5), 7.0),
    ("S010", "006"): (range(1, 4), None),  # unlabelled: skipped
}


def build(root, image_writer, sequences=SEQUENCES):
    for (subject, sequence), (numbers, code) in sequences.items():
        for number in numbers:
            name = f"{subject}_{sequence}_{number:08d}.png"
            image_writer(root / "cohn-kanade-images" / subject / sequence / name)
        emotion_dir = root / "Emotion" / subject / sequence
        emotion_dir.mkdir(parents=True, exist_ok=True)
        if code is not None:
            last = max(numbers)
            (emotion_dir / f"{subject}_{sequence}_{last:08d}_emotion.txt").write_text(
                f"   {code:.7e}\n"
            )
    return root


def frame(root, subject, sequence, number):
    name = f"{subject}_{sequence}_{number:08d}.png"
    return str(root / "cohn-kanade-images" / subject / sequence / name)


def test_peak_and_neutral_stills(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    table = load_ckplus(root)

    assert list(table.columns) == list(INDEX_COLUMNS)
    assert table["sample_id"].tolist() == [
        "S005/001/neutral", "S005/001/peak", "S010/002/neutral", "S010/002/peak",
    ]  # fmt: skip
    assert table["label"].tolist() == ["neutral", "disgust", "neutral", "surprise"]
    assert table["subject"].tolist() == ["S005", "S005", "S010", "S010"]
    peak = table.iloc[1]
    assert peak.frames == [frame(root, "S005", "001", 11)]
    assert (peak.onset, peak.apex, peak.offset, peak.n_frames_raw) == (11, 11, 11, 1)
    neutral = table.iloc[0]
    assert neutral.frames == [frame(root, "S005", "001", 1)]
    assert (neutral.onset, neutral.apex, neutral.offset) == (1, 1, 1)
    assert set(table["dataset"]) == {"ckplus"}
    assert not table["apex_imputed"].any() and not table["offset_repaired"].any()


def test_several_peak_frames_without_neutral(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    table = load_ckplus(root, include_neutral=False, peak_frames=3).set_index("sample_id")
    assert table.index.tolist() == [
        "S005/001/peak", "S005/001/peak2", "S005/001/peak3",
        "S010/002/peak", "S010/002/peak2", "S010/002/peak3",
    ]  # fmt: skip
    # frame order is numeric: 9, 10, 11 are the last three of 1..11
    assert table.loc["S005/001/peak2", "frames"] == [frame(root, "S005", "001", 10)]
    assert table.loc["S005/001/peak3", "frames"] == [frame(root, "S005", "001", 9)]
    assert set(table["label"]) == {"disgust", "surprise"}


def test_unpadded_frame_numbers_sort_numerically(tmp_path, image_writer):
    root = tmp_path
    for number in (1, 2, 9, 10):
        image_writer(root / "cohn-kanade-images" / "S001" / "001" / f"S001_001_{number}.png")
    emotion = root / "Emotion" / "S001" / "001"
    emotion.mkdir(parents=True)
    (emotion / "S001_001_10_emotion.txt").write_text("5.0\n")
    table = load_ckplus(root).set_index("sample_id")
    assert table.loc["S001/001/peak", "apex"] == 10
    assert table.loc["S001/001/peak", "label"] == "happy"


def test_too_short_sequence(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    with pytest.raises(CorpusError, match="S010"):
        load_ckplus(root, peak_frames=4)


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_ckplus(tmp_path / "absent")


@pytest.mark.parametrize("folder", ["cohn-kanade-images", "Emotion"])
def test_missing_folder(tmp_path, folder):
    (tmp_path / "cohn-kanade-images").mkdir()
    (tmp_path / "Emotion").mkdir()
    (tmp_path / folder).rmdir()
    with pytest.raises(CorpusError, match=folder):
        load_ckplus(tmp_path)


def test_no_labelled_sequence(tmp_path, image_writer):
    root = build(tmp_path, image_writer, {("S010", "006"): (range(1, 4), None)})
    with pytest.raises(CorpusError, match="emotion"):
        load_ckplus(root)


def test_sequence_images_missing(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    emotion = root / "Emotion" / "S011" / "001"
    emotion.mkdir(parents=True)
    (emotion / "S011_001_00000004_emotion.txt").write_text("1.0")
    with pytest.raises(CorpusError) as error:
        load_ckplus(root)
    assert "S011" in str(error.value) and "missing" in str(error.value)


@pytest.mark.parametrize("content", ["happy", "", "8.0000000e+00", "-1", "2.5", "nan"])
def test_bad_emotion_file(tmp_path, image_writer, content):
    root = build(tmp_path, image_writer)
    path = root / "Emotion" / "S010" / "002" / "S010_002_00000004_emotion.txt"
    path.write_text(content)
    with pytest.raises(CorpusError) as error:
        load_ckplus(root)
    assert "S010_002_00000004_emotion.txt" in str(error.value)


def test_two_emotion_files(tmp_path, image_writer):
    root = build(tmp_path, image_writer)
    (root / "Emotion" / "S010" / "002" / "S010_002_00000003_emotion.txt").write_text("1.0")
    with pytest.raises(CorpusError, match="one emotion file"):
        load_ckplus(root)


def test_peak_frames_must_be_positive(tmp_path, image_writer):
    with pytest.raises(CorpusError, match="peak_frames"):
        load_ckplus(build(tmp_path, image_writer), peak_frames=0)
