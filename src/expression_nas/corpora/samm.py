"""SAMM loader.

Layout under ``root``::

    SAMM_Micro_FACS_Codes_v2.xlsx     13 preamble rows, column header in row 14
    SAMM/006/006_1_2/006_05562.jpg    subject folder / Filename / <subject>_<frame 5 digits>

Columns are matched by name (ignoring case and whitespace). Error messages quote the row
number Excel shows (the first data row is row 15).

Erratum: SAMM writes an unknown apex as -1; such apexes are imputed as the middle frame
round((onset + offset) / 2), snapped to an existing frame, with ``apex_imputed`` True.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from expression_nas.corpora._common import (
    FRAME_SUFFIXES,
    cell_where,
    check_unique,
    clip_paths,
    corpus_root,
    find_sample_dir,
    frame_files,
    index_table,
    int_cell,
    is_blank,
    label_cell,
    middle_frame,
    read_sheet,
    require_dir,
    text_cell,
)
from expression_nas.corpora.base import CorpusError

logger = logging.getLogger(__name__)

VOCABULARY = (
    "anger",
    "contempt",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "other",
)

SHEET_NAME = "SAMM_Micro_FACS_Codes_v2.xlsx"
HEADER_ROW = 14
IMAGE_FOLDER = "SAMM"
FRAME_PATTERN = re.compile(rf".*_(\d+)\.{FRAME_SUFFIXES}", re.IGNORECASE)
COLUMNS = (
    "Subject",
    "Filename",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Action Units",
    "Estimated Emotion",
    "Objective Classes",
)
UNKNOWN_APEX = -1


def _subject(value: object, where: str) -> str:
    """Subject cell (6, "6" or "006") -> "006"."""
    text = text_cell(value)
    if not re.fullmatch(r"\d+", text):
        raise CorpusError(f"{where}: expected a subject number, got {value!r}")
    return f"{int(text):03d}"


def load_samm(root: str | Path) -> pd.DataFrame:
    """Raw index of SAMM (see ``base.INDEX_COLUMNS``), plus ``action_units`` and
    ``objective_class`` (nullable integer)."""
    root_path = corpus_root(root, "SAMM")
    sheet = root_path / SHEET_NAME
    rows = read_sheet(sheet, COLUMNS, header_row=HEADER_ROW)
    images = require_dir(root_path / IMAGE_FOLDER, "SAMM image")

    samples = []
    imputed = []
    for row, cells in rows:
        subject = _subject(cells["Subject"], cell_where(sheet, row, "Subject"))
        filename = text_cell(cells["Filename"])
        if not filename:
            raise CorpusError(
                f"{cell_where(sheet, row, 'Filename')}: expected a sample folder name"
            )
        folder = find_sample_dir(images / subject, filename)
        if folder is None:
            raise CorpusError(
                f"{sheet}, row {row}: sample folder {images / subject / filename} is missing"
            )
        label = label_cell(
            cells["Estimated Emotion"], VOCABULARY, cell_where(sheet, row, "Estimated Emotion")
        )
        frames = frame_files(folder, FRAME_PATTERN)
        if not frames:
            raise CorpusError(f"{folder}: no frame files named <subject>_<frame number>.jpg")
        sample_id = f"{subject}/{folder.name}"
        span = f"{min(frames)}..{max(frames)}"

        onset = int_cell(cells["Onset Frame"], cell_where(sheet, row, "Onset Frame"))
        offset = int_cell(cells["Offset Frame"], cell_where(sheet, row, "Offset Frame"))
        for column, number in (("Onset Frame", onset), ("Offset Frame", offset)):
            if number not in frames:
                raise CorpusError(
                    f"{cell_where(sheet, row, column)}: frame {number} is not among the frames "
                    f"of {folder} ({span})"
                )
        if offset < onset:
            raise CorpusError(
                f"{cell_where(sheet, row, 'Offset Frame')}: offset {offset} precedes onset {onset}"
            )
        apex = int_cell(cells["Apex Frame"], cell_where(sheet, row, "Apex Frame"))
        apex_imputed = apex == UNKNOWN_APEX
        if apex_imputed:
            apex = middle_frame(frames, onset, offset)
            imputed.append(sample_id)
        elif not onset <= apex <= offset:
            raise CorpusError(
                f"{cell_where(sheet, row, 'Apex Frame')}: apex {apex} lies outside "
                f"onset..offset ({onset}..{offset})"
            )

        objective = cells["Objective Classes"]
        objective_class = (
            None
            if is_blank(objective)
            else int_cell(
                objective, cell_where(sheet, row, "Objective Classes"), "an integer class"
            )
        )
        paths = clip_paths(frames, onset, offset)
        samples.append(
            {
                "dataset": "samm",
                "subject": subject,
                "sample_id": sample_id,
                "label": label,
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "n_frames_raw": len(paths),
                "frames": paths,
                "apex_imputed": apex_imputed,
                "offset_repaired": False,
                "action_units": text_cell(cells["Action Units"]),
                "objective_class": objective_class,
            }
        )
    check_unique((sample["sample_id"] for sample in samples), sheet)
    if imputed:
        logger.warning(
            "SAMM: apex -1 imputed as the middle frame for %d samples: %s",
            len(imputed),
            ", ".join(imputed),
        )
    table = index_table(samples, extra=("action_units", "objective_class"))
    table["objective_class"] = table["objective_class"].astype("Int64")
    logger.info("SAMM: %d samples from %d subjects", len(table), table.subject.nunique())
    return table
