"""SAMM loader on tiny trees in the real layout (13 preamble rows, header in row 14)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.samm import load_samm

SAMM_COLUMNS = ("Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame",
                "Offset Frame", "Duration", "Type", "Action Units", "Notes",
                "Estimated Emotion", "Objective Classes")  # fmt: skip

SHEET = "SAMM_Micro_FACS_Codes_v2.xlsx"
FRAMES = {
    "006/006_1_2": range(5558, 5572),
    "006/006_1_5": range(98, 103),  # 98..102: 00099 vs 00100 on disk
    "011/011_2_1": range(1, 12),  # 9, 10, 11
}


def rows(make_samm_row) -> list[list]:
    return [
        make_samm_row(11, "011_2_1", 2, 5, 10, emotion="Happiness", objective=1),  # Excel row 15
        make_samm_row(6, "006_1_5", 98, 100, 102, emotion="Other", objective=None),  # row 16
        make_samm_row(6, "006_1_2", 5560, 5562, 5570, emotion="Contempt", objective=3),  # row 17
    ]


def build(make_samm, make_samm_row, tmp_path, edit=None, **kwargs):
    data = rows(make_samm_row)
    if edit is not None:
        edit(data)
    return make_samm(tmp_path, data, FRAMES, **kwargs)


def test_happy_path(make_samm, make_samm_row, tmp_path):
    root = build(make_samm, make_samm_row, tmp_path)
    table = load_samm(root)

    assert list(table.columns) == [*INDEX_COLUMNS, "action_units", "objective_class"]
    assert table["sample_id"].tolist() == ["006/006_1_2", "006/006_1_5", "011/011_2_1"]
    assert table["subject"].tolist() == ["006", "006", "011"]
    assert table["label"].tolist() == ["contempt", "other", "happiness"]
    assert table["objective_class"].tolist() == [3, pd.NA, 1]
    assert str(table["objective_class"].dtype) == "Int64"
    assert set(table["dataset"]) == {"samm"}
    first = table.iloc[0]
    assert (first.onset, first.apex, first.offset, first.n_frames_raw) == (5560, 5562, 5570, 11)
    assert first.frames[0] == str(root / "SAMM" / "006" / "006_1_2" / "006_05560.jpg")
    last = table.iloc[2]
    assert [p.rsplit("_", 1)[1] for p in last.frames] == [f"{n:05d}.jpg" for n in range(2, 11)]
    assert not table["apex_imputed"].any()


def test_frames_sorted_by_number_not_name(make_samm, make_samm_row, image_writer, tmp_path):
    # unpadded frame numbers on disk: 011_9.jpg sorts after 011_10.jpg lexically
    data = [make_samm_row(11, "011_2_1", 8, 9, 11, emotion="Fear", objective=2)]
    root = make_samm(tmp_path, data, {})
    folder = root / "SAMM" / "011" / "011_2_1"
    folder.mkdir(parents=True)
    for number in (8, 9, 10, 11):
        image_writer(folder / f"011_{number}.jpg")
    (folder / "._011_9.jpg").write_bytes(b"macOS resource fork: ignored")
    frames = load_samm(root).iloc[0].frames
    assert frames == [str(folder / f"011_{n}.jpg") for n in (8, 9, 10, 11)]


def test_apex_minus_one_is_imputed(make_samm, make_samm_row, tmp_path, caplog):
    def edit(data):
        data[2][4] = -1  # 5560..5570 -> 5565

    with caplog.at_level("WARNING"):
        table = load_samm(build(make_samm, make_samm_row, tmp_path, edit)).set_index("sample_id")
    assert table.loc["006/006_1_2", "apex"] == 5565
    assert table["apex_imputed"].tolist() == [True, False, False]
    assert "006/006_1_2" in caplog.text


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="absent"):
        load_samm(tmp_path / "absent")


def test_missing_coding_sheet(make_samm, make_samm_row, tmp_path):
    root = build(make_samm, make_samm_row, tmp_path)
    (root / SHEET).unlink()
    with pytest.raises(CorpusError, match=SHEET):
        load_samm(root)


def test_missing_image_folder(make_samm, make_samm_row, tmp_path):
    root = build(make_samm, make_samm_row, tmp_path)
    shutil.rmtree(root / "SAMM")
    with pytest.raises(CorpusError, match="SAMM image folder"):
        load_samm(root)


def test_header_names_tolerate_case_and_whitespace(make_samm, make_samm_row, tmp_path):
    header = [" SUBJECT ", "filename", "Inducement Code", "onset frame", "ApexFrame",
              "Offset  Frame", "Duration", "Type", "Action Units", "Notes",
              "estimated emotion", "Objective Classes "]  # fmt: skip
    assert len(load_samm(build(make_samm, make_samm_row, tmp_path, header=header))) == 3


def test_missing_column_names_the_header_row(make_samm, make_samm_row, tmp_path):
    header = [*SAMM_COLUMNS]
    header[5] = "End Frame"  # instead of "Offset Frame"
    root = build(make_samm, make_samm_row, tmp_path, header=header)
    with pytest.raises(CorpusError) as error:
        load_samm(root)
    message = str(error.value)
    assert SHEET in message and "row 14" in message and "'Offset Frame'" in message


@pytest.fixture
def samm_error(make_samm, make_samm_row, tmp_path):
    """Build the tree with one cell of ``rows()`` changed; return the CorpusError message."""

    def run(row: int, column: int, value) -> str:
        def edit(data):
            data[row][column] = value

        root = build(make_samm, make_samm_row, tmp_path, edit)
        with pytest.raises(CorpusError) as error:
            load_samm(root)
        return str(error.value)

    return run


def test_onset_not_among_frames(samm_error):
    message = samm_error(0, 3, 0)  # first data row: 15
    assert SHEET in message and "row 15" in message and "Onset Frame" in message


def test_offset_not_among_frames(samm_error):
    message = samm_error(2, 5, 5600)
    assert SHEET in message and "row 17" in message and "Offset Frame" in message


def test_offset_before_onset(samm_error):
    message = samm_error(2, 5, 5559)
    assert "row 17" in message and "Offset Frame" in message


@pytest.mark.parametrize("apex", [5558, 5571, -2])
def test_apex_outside_onset_offset(samm_error, apex):
    message = samm_error(2, 4, apex)
    assert SHEET in message and "row 17" in message and "Apex Frame" in message


def test_sample_folder_missing(samm_error):
    message = samm_error(1, 1, "006_9_9")
    assert SHEET in message and "row 16" in message and "006_9_9" in message


def test_unknown_label(samm_error):
    message = samm_error(1, 10, "Joy")
    assert SHEET in message and "row 16" in message and "Estimated Emotion" in message


@pytest.mark.parametrize(
    "column, name", [(3, "Onset Frame"), (4, "Apex Frame"), (5, "Offset Frame")]
)
def test_non_integer_frame_number(samm_error, column, name):
    message = samm_error(0, column, "12a")
    assert SHEET in message and "row 15" in message and name in message


def test_non_integer_objective_class(samm_error):
    message = samm_error(0, 11, "II")
    assert "row 15" in message and "Objective Classes" in message


def test_every_bad_cell_is_listed_in_one_error(make_samm, make_samm_row, tmp_path):
    def edit(data):
        data[0][3] = "12a"  # row 15: Onset Frame not an integer
        data[2][10] = "Joy"  # row 17: unknown label
        data[2][5] = 5600  # row 17: offset not among the frames

    with pytest.raises(CorpusError) as error:
        load_samm(build(make_samm, make_samm_row, tmp_path, edit))
    heading, *listed = str(error.value).splitlines()
    assert SHEET in heading and "3 problems" in heading
    assert "row 15, column 'Onset Frame'" in listed[0] and "'12a'" in listed[0]
    assert "row 17, column 'Estimated Emotion'" in listed[1] and "'Joy'" in listed[1]
    assert "row 17, column 'Offset Frame'" in listed[2] and "5600" in listed[2]
