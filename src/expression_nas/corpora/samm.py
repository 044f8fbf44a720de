"""SAMM loader.

Layout under ``root``::

    SAMM_Micro_FACS_Codes_v2.xlsx     13 preamble rows, column header in row 14
    SAMM/006/006_1_2/006_05562.jpg    subject folder / Filename / <subject>_<frame 5 digits>

Columns are matched by name (ignoring case and whitespace). Error messages quote the row
number Excel shows (the first data row is row 15); one CorpusError lists every bad cell.

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
    Problems,
    cell_where,
    check_unique,
    checked_apex,
    clip_sample,
    corpus_root,
    frame_files,
    index_table,
    int_cell,
    is_blank,
    label_cell,
    read_sheet,
    require_dir,
    sample_folder,
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
    ``objective_class`` (nullable integer).

    Every bad cell of the coding sheet is reported in one CorpusError (see ``Problems``).
    """
    root_path = corpus_root(root, "SAMM")
    sheet = root_path / SHEET_NAME
    rows = read_sheet(sheet, COLUMNS, header_row=HEADER_ROW)
    images = require_dir(root_path / IMAGE_FOLDER, "SAMM image")

    problems = Problems(sheet)
    read = [_sample(row, cells, images, problems) for row, cells in rows]
    problems.raise_if_any()
    samples = [sample for sample in read if sample is not None]
    check_unique((sample["sample_id"] for sample in samples), sheet)
    imputed = [sample["sample_id"] for sample in samples if sample["apex_imputed"]]
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


def _sample(row: int, cells: dict, images: Path, problems: Problems) -> dict | None:
    """One coding-sheet row as an index row, or None when one of its cells is wrong (recorded
    in ``problems``)."""
    known = len(problems)
    subject = problems.cell(cells, row, "Subject", _subject)
    folder = sample_folder(images, subject, cells, row, problems)
    label = problems.cell(cells, row, "Estimated Emotion", label_cell, VOCABULARY)
    onset = problems.cell(cells, row, "Onset Frame", int_cell)
    apex = problems.cell(cells, row, "Apex Frame", int_cell)
    offset = problems.cell(cells, row, "Offset Frame", int_cell)
    objective = cells["Objective Classes"]
    objective_class = (
        None
        if is_blank(objective)
        else problems.cell(cells, row, "Objective Classes", int_cell, "an integer class")
    )
    if folder is None or onset is None or offset is None:
        return None  # nothing to check the frame numbers against

    frames = frame_files(folder, FRAME_PATTERN)
    if not frames:
        raise CorpusError(f"{folder}: no frame files named <subject>_<frame number>.jpg")
    span = f"{folder} ({min(frames)}..{max(frames)})"
    for column, number in (("Onset Frame", onset), ("Offset Frame", offset)):
        if number not in frames:
            problems.add(
                cell_where(row, column), f"frame {number} is not among the frames of {span}"
            )
    if offset < onset:
        problems.add(cell_where(row, "Offset Frame"), f"offset {offset} precedes onset {onset}")
    apex_imputed = apex == UNKNOWN_APEX
    apex = checked_apex(
        apex, apex_imputed, frames, onset, offset, cell_where(row, "Apex Frame"), problems
    )
    if len(problems) > known:
        return None

    return clip_sample(
        "samm",
        subject,
        folder,
        label,
        frames,
        onset,
        apex,
        offset,
        apex_imputed=apex_imputed,
        offset_repaired=False,
        action_units=text_cell(cells["Action Units"]),
        objective_class=objective_class,
    )
