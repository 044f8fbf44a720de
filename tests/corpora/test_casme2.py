"""CASME II loader on tiny trees in the real layout."""

from __future__ import annotations

import logging

import pytest

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError
from expression_nas.corpora.casme2 import load_casme2

SHEET = "CASME2-coding-20190701.xlsx"
FRAMES = {
    "sub01/EP02_01f": range(7, 13),  # 7..12: img9 and img10 catch lexical sorting
    "sub01/EP01_11f": range(1, 5),
    "sub02/EP03_02": range(96, 106),
}


def good_rows() -> list[list]:
    # deliberately not in subject/sample order
    return [
        [2, "EP03_02", 97, 100, 104, "12", "Surprise"],
        [1, "EP02_01f", 8, 10, 11, "4+7", "happiness"],
        [1, "EP01_11f", 1, 2, 4, "1+2", "Repression"],
    ]


def build(make_casme2, tmp_path, rows=None, **kwargs):
    return make_casme2(tmp_path, good_rows() if rows is None else rows, FRAMES, **kwargs)


def test_happy_path_rows_columns_and_frame_order(make_casme2, tmp_path):
    root = build(make_casme2, tmp_path)
    table = load_casme2(root)

    assert list(table.columns) == [*INDEX_COLUMNS, "action_units"]
    assert table["sample_id"].tolist() == ["sub01/EP01_11f", "sub01/EP02_01f", "sub02/EP03_02"]
    assert table["subject"].tolist() == ["sub01", "sub01", "sub02"]
    assert table["label"].tolist() == ["repression", "happiness", "surprise"]
    assert set(table["dataset"]) == {"casme2"}
    assert table["action_units"].tolist() == ["1+2", "4+7", "12"]
    row = table.iloc[1]
    assert (row.onset, row.apex, row.offset, row.n_frames_raw) == (8, 10, 11, 4)
    folder = root / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    assert row.frames == [str(folder / f"img{n}.jpg") for n in (8, 9, 10, 11)]
    assert not table["apex_imputed"].any()
    assert not table["offset_repaired"].any()
    assert table.iloc[2].frames[0].endswith("img97.jpg")
    assert table.iloc[2].frames[-1].endswith("img104.jpg")


def test_cropped_variant_and_relative_root(make_casme2, tmp_path, monkeypatch):
    build(make_casme2, tmp_path, variant="cropped")
    monkeypatch.chdir(tmp_path.parent)
    table = load_casme2(tmp_path.name, variant="cropped")
    assert table.iloc[1].frames[0] == str(
        tmp_path / "Cropped" / "sub01" / "EP02_01f" / "reg_img8.jpg"
    )
    with pytest.raises(CorpusError, match="CASME2_RAW_selected"):
        load_casme2(tmp_path, variant="raw")
    with pytest.raises(CorpusError, match="unknown CASME II variant"):
        load_casme2(tmp_path, variant="aligned")


def test_header_names_tolerate_case_and_whitespace(make_casme2, tmp_path):
    header = [" subject", "FILENAME ", "onsetframe", "Apex Frame", "OffsetFrame", "action units",
              "Estimated  Emotion"]  # fmt: skip
    root = build(make_casme2, tmp_path, header=header)
    assert len(load_casme2(root)) == 3


def test_erratum_missing_apex_is_imputed(make_casme2, tmp_path, caplog):
    rows = good_rows()
    rows[0][3] = "/"  # sub02/EP03_02: onset 97, offset 104 -> round(100.5) = 100
    rows[1][3] = None  # sub01/EP02_01f: onset 8, offset 11 -> round(9.5) = 10
    root = build(make_casme2, tmp_path, rows=rows)
    with caplog.at_level(logging.WARNING):
        table = load_casme2(root).set_index("sample_id")
    assert table.loc["sub02/EP03_02", "apex"] == 100
    assert table.loc["sub01/EP02_01f", "apex"] == 10
    assert table["apex_imputed"].tolist() == [False, True, True]
    assert "ApexFrame" in caplog.text and "sub02/EP03_02" in caplog.text


def test_erratum_imputed_apex_snaps_to_an_existing_frame(make_casme2, tmp_path):
    frames = {"sub01/EP02_01f": [10, 11, 14, 15]}  # middle 12.5 -> 12 missing -> 11
    root = make_casme2(tmp_path, [[1, "EP02_01f", 10, "/", 15, "", "fear"]], frames)
    assert load_casme2(root).iloc[0].apex == 11


@pytest.mark.parametrize("bad_offset", [0, 5])
def test_erratum_bad_offset_is_repaired_to_last_frame(make_casme2, tmp_path, caplog, bad_offset):
    rows = good_rows()
    rows[1][4] = bad_offset  # sub01/EP02_01f, frames 7..12, onset 8
    root = build(make_casme2, tmp_path, rows=rows)
    with caplog.at_level(logging.WARNING):
        table = load_casme2(root).set_index("sample_id")
    row = table.loc["sub01/EP02_01f"]
    assert row.offset == 12
    assert row.offset_repaired
    assert row.n_frames_raw == 5
    assert table["offset_repaired"].sum() == 1
    assert "OffsetFrame" in caplog.text


def test_filename_differing_only_by_case(make_casme2, tmp_path):
    rows = good_rows()
    rows[1][1] = "ep02_01F"
    table = load_casme2(build(make_casme2, tmp_path, rows=rows))
    assert "sub01/EP02_01f" in table["sample_id"].tolist()


def test_missing_root(tmp_path):
    with pytest.raises(CorpusError, match="nowhere"):
        load_casme2(tmp_path / "nowhere")


def test_missing_coding_sheet(make_casme2, tmp_path):
    root = build(make_casme2, tmp_path)
    (root / SHEET).unlink()
    with pytest.raises(CorpusError, match=r"CASME2-coding-\*\.xlsx"):
        load_casme2(root)


def test_two_coding_sheets(make_casme2, tmp_path):
    root = build(make_casme2, tmp_path)
    (root / "CASME2-coding-old.xlsx").write_bytes((root / SHEET).read_bytes())
    with pytest.raises(CorpusError, match=r"CASME2-coding-old\.xlsx"):
        load_casme2(root)


def test_unreadable_coding_sheet(make_casme2, tmp_path):
    root = build(make_casme2, tmp_path)
    (root / SHEET).write_text("not a workbook")
    with pytest.raises(CorpusError, match=SHEET):
        load_casme2(root)


def test_missing_column(make_casme2, tmp_path):
    header = ["Subject", "Filename", "OnsetFrame", "Apex", "OffsetFrame", "Action Units",
              "Estimated Emotion"]  # fmt: skip
    root = build(make_casme2, tmp_path, header=header)
    with pytest.raises(CorpusError) as error:
        load_casme2(root)
    assert SHEET in str(error.value) and "'ApexFrame'" in str(error.value)


def _error(make_casme2, tmp_path, row: int, column: int, value) -> str:
    rows = good_rows()
    rows[row][column] = value
    root = build(make_casme2, tmp_path, rows=rows)
    with pytest.raises(CorpusError) as error:
        load_casme2(root)
    return str(error.value)


def test_onset_not_among_frames(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 1, 2, 6)  # Excel row 3
    assert SHEET in message and "row 3" in message and "OnsetFrame" in message


def test_offset_not_among_frames(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 0, 4, 120)  # Excel row 2
    assert SHEET in message and "row 2" in message and "OffsetFrame" in message


@pytest.mark.parametrize("apex", [7, 12])
def test_apex_outside_onset_offset(make_casme2, tmp_path, apex):
    message = _error(make_casme2, tmp_path, 1, 3, apex)  # frames exist but outside 8..11
    assert SHEET in message and "row 3" in message and "ApexFrame" in message


def test_sample_folder_missing(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 2, 1, "EP09_09")  # Excel row 4
    assert SHEET in message and "row 4" in message and "EP09_09" in message


def test_subject_folder_missing(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 2, 0, 7)
    assert "row 4" in message and "sub07" in message


def test_unknown_label(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 2, 6, "joy")
    assert SHEET in message and "row 4" in message and "Estimated Emotion" in message


@pytest.mark.parametrize("column, name", [(2, "OnsetFrame"), (3, "ApexFrame"), (4, "OffsetFrame")])
def test_non_integer_frame_number(make_casme2, tmp_path, column, name):
    message = _error(make_casme2, tmp_path, 0, column, "ten")
    assert SHEET in message and "row 2" in message and name in message


def test_non_integer_subject(make_casme2, tmp_path):
    message = _error(make_casme2, tmp_path, 0, 0, "first")
    assert "row 2" in message and "Subject" in message


def test_duplicate_sample(make_casme2, tmp_path):
    rows = [*good_rows(), good_rows()[1]]
    root = build(make_casme2, tmp_path, rows=rows)
    with pytest.raises(CorpusError, match="sub01/EP02_01f"):
        load_casme2(root)


def test_every_bad_cell_is_listed_in_one_error(make_casme2, tmp_path):
    rows = good_rows()
    rows[0][2] = "ten"  # row 2: OnsetFrame not an integer
    rows[0][6] = "joy"  # row 2: unknown label
    rows[1][1] = "EP09_09"  # row 3: sample folder missing
    rows[2][3] = 9  # row 4: apex outside onset..offset
    with pytest.raises(CorpusError) as error:
        load_casme2(build(make_casme2, tmp_path, rows=rows))
    heading, *listed = str(error.value).splitlines()
    assert SHEET in heading and "4 problems" in heading
    assert "row 2, column 'Estimated Emotion'" in listed[0] and "'joy'" in listed[0]
    assert "row 2, column 'OnsetFrame'" in listed[1] and "'ten'" in listed[1]
    assert "row 3" in listed[2] and "EP09_09" in listed[2]
    assert "row 4, column 'ApexFrame'" in listed[3] and "apex 9" in listed[3]
