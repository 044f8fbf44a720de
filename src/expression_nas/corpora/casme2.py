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
outside onset..offset (apex) is an error.
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
    """Raw index of CASME II (see ``base.INDEX_COLUMNS``), plus ``action_units``."""
    if variant not in VARIANTS:
        raise CorpusError(f"unknown CASME II variant {variant!r}, expected one of {list(VARIANTS)}")
    root_path = corpus_root(root, "CASME II")
    sheet = find_coding_sheet(root_path)
    folder_name, pattern = VARIANTS[variant]
    images = require_dir(root_path / folder_name, f"CASME II {variant} image")

    samples = []
    for row, cells in read_sheet(sheet, COLUMNS):
        subject = _subject_folder(cells["Subject"], cell_where(sheet, row, "Subject"))
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
        frames = frame_files(folder, pattern)
        if not frames:
            raise CorpusError(f"{folder}: no frame files matching {pattern.pattern}")
        sample_id = f"{subject}/{folder.name}"

        onset = int_cell(cells["OnsetFrame"], cell_where(sheet, row, "OnsetFrame"))
        if onset not in frames:
            raise CorpusError(
                f"{cell_where(sheet, row, 'OnsetFrame')}: onset {onset} is not among the frames "
                f"of {folder} ({min(frames)}..{max(frames)})"
            )
        offset = int_cell(cells["OffsetFrame"], cell_where(sheet, row, "OffsetFrame"))
        offset_repaired = offset == 0 or offset < onset
        if offset_repaired:
            repaired = max(frames)
            logger.warning(
                "%s, row %d (%s): OffsetFrame %d repaired to the last frame %d",
                sheet.name,
                row,
                sample_id,
                offset,
                repaired,
            )
            offset = repaired
        elif offset not in frames:
            raise CorpusError(
                f"{cell_where(sheet, row, 'OffsetFrame')}: offset {offset} is not among the "
                f"frames of {folder} ({min(frames)}..{max(frames)})"
            )

        apex_cell = cells["ApexFrame"]
        apex_imputed = is_blank(apex_cell) or text_cell(apex_cell) in MISSING_APEX
        if apex_imputed:
            apex = middle_frame(frames, onset, offset)
            logger.warning(
                "%s, row %d (%s): ApexFrame %r imputed as the middle frame %d",
                sheet.name,
                row,
                sample_id,
                apex_cell,
                apex,
            )
        else:
            apex = int_cell(apex_cell, cell_where(sheet, row, "ApexFrame"))
            if not onset <= apex <= offset:
                raise CorpusError(
                    f"{cell_where(sheet, row, 'ApexFrame')}: apex {apex} lies outside "
                    f"onset..offset ({onset}..{offset})"
                )

        paths = clip_paths(frames, onset, offset)
        samples.append(
            {
                "dataset": "casme2",
                "subject": subject,
                "sample_id": sample_id,
                "label": label,
                "onset": onset,
                "apex": apex,
                "offset": offset,
                "n_frames_raw": len(paths),
                "frames": paths,
                "apex_imputed": apex_imputed,
                "offset_repaired": offset_repaired,
                "action_units": text_cell(cells["Action Units"]),
            }
        )
    check_unique((sample["sample_id"] for sample in samples), sheet)
    table = index_table(samples, extra=("action_units",))
    logger.info(
        "CASME II (%s): %d samples from %d subjects", variant, len(table), table.subject.nunique()
    )
    return table
