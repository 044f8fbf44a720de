"""JAFFE loader: a flat folder of ``KA.AN1.39.tiff`` stills.

The first dot-field is the subject, the first two letters of the second are the expression
code (AN DI FE HA NE SA SU), the third is the image number. Files that are not TIFF images
(README and the like) are ignored. JAFFE stills have no frame numbering: onset, apex and
offset are 0.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from expression_nas.corpora._common import corpus_root, index_table, is_hidden
from expression_nas.corpora.base import CorpusError

logger = logging.getLogger(__name__)

CODES = {
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sadness",
    "SU": "surprise",
}
VOCABULARY = tuple(CODES.values())
IMAGE_SUFFIXES = (".tiff", ".tif")
NAME_PATTERN = re.compile(r"([A-Za-z]+)\.([A-Za-z]{2})\d*\.(\d+)")


def load_jaffe(root: str | Path) -> pd.DataFrame:
    """Raw index of JAFFE stills (see ``base.INDEX_COLUMNS``)."""
    root_path = corpus_root(root, "JAFFE")
    samples = []
    for path in sorted(root_path.iterdir()):
        if is_hidden(path) or not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        match = NAME_PATTERN.fullmatch(path.stem)
        if match is None:
            raise CorpusError(
                f"{path}: expected a name like KA.AN1.39.tiff (subject.expression.number)"
            )
        subject, code = match.group(1), match.group(2).upper()
        if code not in CODES:
            raise CorpusError(
                f"{path}: unknown expression code '{match.group(2)}', expected one of {list(CODES)}"
            )
        samples.append(
            {
                "dataset": "jaffe",
                "subject": subject,
                "sample_id": path.stem,
                "label": CODES[code],
                "onset": 0,
                "apex": 0,
                "offset": 0,
                "n_frames_raw": 1,
                "frames": [str(path)],
                "apex_imputed": False,
                "offset_repaired": False,
            }
        )
    if not samples:
        raise CorpusError(f"{root_path}: no JAFFE images (*.tiff) found")
    table = index_table(samples)
    logger.info("JAFFE: %d stills from %d subjects", len(table), table.subject.nunique())
    return table
