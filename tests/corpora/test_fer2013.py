"""FER2013 loader on a tiny fer2013.csv."""

from __future__ import annotations

import numpy as np
import pytest

from expression_nas.corpora import fer2013
from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError, read_sample
from expression_nas.corpora.fer2013 import load_fer2013


def pixels(seed: int) -> str:
    values = np.random.default_rng(seed).integers(0, 256, 48 * 48)
    values[:3] = (0, 255, 9)  # extremes and a one-digit value
    return " ".join(map(str, values))


def write_csv(root, rows, header=("emotion", "pixels", "Usage")):
    lines = [",".join(header)] + [",".join(map(str, row)) for row in rows]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n")
    return root


def good_rows():
    return [
        [0, pixels(0), "Training"],
        [3, pixels(1), "PublicTest"],
        [6, pixels(2), "PrivateTest"],
        [5, pixels(3), "Training"],
        [1, pixels(4), "Training"],
    ]


def test_happy_path(tmp_path):
    rows = good_rows()
    table = load_fer2013(write_csv(tmp_path, rows))

    assert list(table.columns) == [*INDEX_COLUMNS, "pixels", "usage"]
    assert table["sample_id"].tolist() == [f"row{i:05d}" for i in range(5)]
    assert table["label"].tolist() == ["angry", "happy", "neutral", "surprise", "disgust"]
    assert table["usage"].tolist() == [
        "Training",
        "PublicTest",
        "PrivateTest",
        "Training",
        "Training",
    ]
    assert set(table["subject"]) == {"unknown"}
    assert set(table["dataset"]) == {"fer2013"}
    assert table["frames"].tolist() == [[]] * 5
    assert (table[["onset", "apex", "offset"]] == 0).all().all()
    assert (table["n_frames_raw"] == 1).all()
    assert table["pixels"].tolist() == [row[1] for row in rows]
    image = read_sample(table.iloc[1].to_dict()).stacked()
    assert image.shape == (1, 48, 48, 3)
    assert image[0, 0, :3, 0].tolist() == [0, 255, 9]


def test_header_names_tolerate_case_and_whitespace(tmp_path):
    root = write_csv(tmp_path, good_rows(), header=(" Emotion", "PIXELS", "usage "))
    assert len(load_fer2013(root)) == 5


def test_doubled_spaces_are_accepted(tmp_path):
    rows = good_rows()
    rows[2][1] = "  " + rows[2][1].replace(" ", "  ", 5) + " "
    table = load_fer2013(write_csv(tmp_path, rows))
    assert read_sample(table.iloc[2].to_dict()).stacked()[0, 0, :3, 0].tolist() == [0, 255, 9]


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_fer2013(tmp_path / "absent")


def test_missing_csv(tmp_path):
    with pytest.raises(CorpusError, match=r"fer2013\.csv"):
        load_fer2013(tmp_path)


def test_missing_column(tmp_path):
    root = write_csv(tmp_path, good_rows(), header=("emotion", "pixels", "split"))
    with pytest.raises(CorpusError) as error:
        load_fer2013(root)
    assert "fer2013.csv" in str(error.value) and "'Usage'" in str(error.value)


def _error(tmp_path, row: int, column: int, value) -> str:
    rows = good_rows()
    rows[row][column] = value
    with pytest.raises(CorpusError) as error:
        load_fer2013(write_csv(tmp_path, rows))
    return str(error.value)


@pytest.mark.parametrize(
    "value, what",
    [
        (" ".join(["1"] * 2303), "2303 values"),
        (" ".join(["1"] * 2305), "2305 values"),
        ("256 " + " ".join(["1"] * 2303), "256"),
        ("1000 " + " ".join(["1"] * 2303), "1000"),
        ("1.5 " + " ".join(["1"] * 2303), "1.5"),
        ("-1 " + " ".join(["1"] * 2303), "-1"),
        ("é " + " ".join(["1"] * 2303), "é"),
        ("", "0 values"),
    ],
)
def test_bad_pixels_name_the_line(tmp_path, value, what):
    message = _error(tmp_path, 3, 1, value)  # data row 3 -> CSV line 5
    assert "fer2013.csv" in message and "line 5" in message and "pixels" in message
    assert what in message


def test_bad_pixels_line_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(fer2013, "_CHUNK_ROWS", 2)
    message = _error(tmp_path, 4, 1, "7 " * 10)  # third chunk, CSV line 6
    assert "line 6" in message and "10 values" in message


@pytest.mark.parametrize("value", ["7", "x", "", "-1", "2.0"])
def test_bad_emotion(tmp_path, value):
    message = _error(tmp_path, 1, 0, value)
    assert "fer2013.csv" in message and "line 3" in message and "emotion" in message


def test_bad_usage(tmp_path):
    message = _error(tmp_path, 2, 2, "Validation")
    assert "fer2013.csv" in message and "line 4" in message and "Usage" in message


def test_unparsable_csv(tmp_path):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n0,1 2,Training,extra,more\n")
    with pytest.raises(CorpusError, match=r"fer2013\.csv"):
        load_fer2013(tmp_path)


def test_no_rows(tmp_path):
    write_csv(tmp_path, [])
    with pytest.raises(CorpusError, match="no data rows"):
        load_fer2013(tmp_path)


def test_every_bad_line_is_listed_in_one_error(tmp_path):
    rows = good_rows()
    rows[0][1] = " ".join(["1"] * 2303)  # line 2: pixel count
    rows[1][0] = 9  # line 3: emotion
    rows[2][1] = "300 " + " ".join(["1"] * 2303)  # line 4: pixel above 255
    rows[2][2] = "Validation"  # line 4: Usage as well
    with pytest.raises(CorpusError) as error:
        load_fer2013(write_csv(tmp_path, rows))
    lines = str(error.value).splitlines()
    assert "fer2013.csv" in lines[0] and "4 problems" in lines[0]
    assert [line.split(":")[0].strip(" -") for line in lines[1:]] == [
        "line 2, column 'pixels'",
        "line 3, column 'emotion'",
        "line 4, column 'pixels'",
        "line 4, column 'Usage'",
    ]
    assert "2303 values" in lines[1] and "'9'" in lines[2] and "300" in lines[3]


def test_the_list_of_bad_lines_is_capped(tmp_path):
    rows = [[7, pixels(0), "Training"]] * 25
    with pytest.raises(CorpusError) as error:
        load_fer2013(write_csv(tmp_path, rows))
    lines = str(error.value).splitlines()
    assert "25 problems" in lines[0]
    assert len(lines) == 1 + 20 + 1 and "line 21," in lines[20]
    assert lines[-1].strip() == "... and 5 more"
