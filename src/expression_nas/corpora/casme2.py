"""CASME II loader.

Layout under ``root``::

    CASME2-coding-*.xlsx                        coding sheet (exactly one; first worksheet)
    CASME2_RAW_selected/sub01/EP02_01f/img46.jpg        variant "raw"
    Cropped/sub01/EP02_01f/reg_img46.jpg                variant "cropped"

Sheet columns (matched by name, ignoring case and whitespace): Subject, Filename,
OnsetFrame, ApexFrame, OffsetFrame, Action Units, Estimated Emotion.

Known errata of the released coding sheet, repaired here and flagged in the index:

- a few ApexFrame cells hold "/" (or nothing): the apex is imputed as the middle frame
  round((onset + offset) / 2), snapped to an existing frame; ``apex_imputed`` is True.
- one OffsetFrame is recorded as 0 (an offset earlier than the onset is treated alike): the
  offset becomes the last frame present in the sample folder; ``offset_repaired`` is True.
- some Filename cells differ from the folder name by letter case: the folder is matched
  case-insensitively and the sample_id uses the folder name on disk.

Any other frame number that is not among the sample's frame files (onset, offset) or lies
outside onset..offset (apex) is an error; one CorpusError lists every bad cell of the sheet.
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

VOCABULARY = ("happiness", "disgust", "repression", "surprise", "fear", "sadness", "others")

#: variant -> (image folder under root, frame file pattern; group 1 is the frame number)
VARIANTS = {
    "raw": ("CASME2_RAW_selected", re.compile(rf"img(\d+)\.{FRAME_SUFFIXES}", re.IGNORECASE)),
    "cropped": ("Cropped", re.compile(rf"reg_img(\d+)\.{FRAME_SUFFIXES}", re.IGNORECASE)),
}

SHEET_PATTERN = "CASME2-coding-*.xlsx"
COLUMNS = (
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
)
#: ApexFrame cells that mean "apex not coded" in the released sheet.
MISSING_APEX = ("/", "-", "")


def find_coding_sheet(root: Path) -> Path:
    sheets = sorted(root.glob(SHEET_PATTERN))
    if not sheets:
        raise CorpusError(f"{root}: coding sheet {SHEET_PATTERN} is missing")
    if len(sheets) > 1:
        names = [sheet.name for sheet in sheets]
        raise CorpusError(f"{root}: expected one coding sheet {SHEET_PATTERN}, found {names}")
    return sheets[0]


def _subject_folder(value: object, where: str) -> str:
    """Subject cell (1, "1", "01" or "sub01") -> "sub01"."""
    text = text_cell(value)
    match = re.fullmatch(r"(?:sub)?(\d+)", text, re.IGNORECASE)
    if match is None or int(match.group(1)) < 1:
        raise CorpusError(f"{where}: expected a positive subject number, got {value!r}")
    return f"sub{int(match.group(1)):02d}"


def load_casme2(root: str | Path, variant: str = "raw") -> pd.DataFrame:
    """Raw index of CASME II (see ``base.INDEX_COLUMNS``), plus ``action_units``.

    Every bad cell of the coding sheet is reported in one CorpusError (see ``Problems``).
    """
    if variant not in VARIANTS:
        raise CorpusError(f"unknown CASME II variant {variant!r}, expected one of {list(VARIANTS)}")
    root_path = corpus_root(root, "CASME II")
    sheet = find_coding_sheet(root_path)
    folder_name, pattern = VARIANTS[variant]
    images = require_dir(root_path / folder_name, f"CASME II {variant} image")

    problems = Problems(sheet)
    rows = [
        _sample(sheet, row, cells, images, pattern, problems)
        for row, cells in read_sheet(sheet, COLUMNS)
    ]
    problems.raise_if_any()
    samples = [sample for sample in rows if sample is not None]
    check_unique((sample["sample_id"] for sample in samples), sheet)
    table = index_table(samples, extra=("action_units",))
    logger.info(
        "CASME II (%s): %d samples from %d subjects", variant, len(table), table.subject.nunique()
    )
    return table


def _sample(
    sheet: Path,
    row: int,
    cells: dict,
    images: Path,
    pattern: re.Pattern[str],
    problems: Problems,
) -> dict | None:
    """One coding-sheet row as an index row, or None when one of its cells is wrong (recorded
    in ``problems``)."""
    known = len(problems)
    subject = problems.cell(cells, row, "Subject", _subject_folder)
    folder = sample_folder(images, subject, cells, row, problems)
    label = problems.cell(cells, row, "Estimated Emotion", label_cell, VOCABULARY)
    onset = problems.cell(cells, row, "OnsetFrame", int_cell)
    offset = problems.cell(cells, row, "OffsetFrame", int_cell)
    apex_cell = cells["ApexFrame"]
    apex_imputed = is_blank(apex_cell) or text_cell(apex_cell) in MISSING_APEX
    apex = None if apex_imputed else problems.cell(cells, row, "ApexFrame", int_cell)
    if folder is None or onset is None or offset is None:
        return None  # nothing to check the frame numbers against

    frames = frame_files(folder, pattern)
    if not frames:
        raise CorpusError(f"{folder}: no frame files matching {pattern.pattern}")
    span = f"{folder} ({min(frames)}..{max(frames)})"
    if onset not in frames:
        problems.add(
            cell_where(row, "OnsetFrame"), f"onset {onset} is not among the frames of {span}"
        )
    recorded_offset = offset
    offset_repaired = offset == 0 or offset < onset
    if offset_repaired:
        offset = max(frames)
    elif offset not in frames:
        problems.add(
            cell_where(row, "OffsetFrame"), f"offset {offset} is not among the frames of {span}"
        )
    apex = checked_apex(
        apex, apex_imputed, frames, onset, offset, cell_where(row, "ApexFrame"), problems
    )
    if len(problems) > known:
        return None

    sample = clip_sample(
        "casme2",
        subject,
        folder,
        label,
        frames,
        onset,
        apex,
        offset,
        apex_imputed=apex_imputed,
        offset_repaired=offset_repaired,
        action_units=text_cell(cells["Action Units"]),
    )
    where = f"{sheet.name}, row {row} ({sample['sample_id']})"
    if offset_repaired:
        logger.warning(
            "%s: OffsetFrame %d repaired to the last frame %d", where, recorded_offset, offset
        )
    if apex_imputed:
        logger.warning("%s: ApexFrame %r imputed as the middle frame %d", where, apex_cell, apex)
    return sample
