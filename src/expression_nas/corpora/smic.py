"""SMIC-HS loader.

Layout under ``root``::

    HS/s1/micro/{negative,positive,surprise}/s1_ne_01/image000123.bmp

Labels come from the class folder. SMIC codes no onset, apex or offset: a sample spans all
frames of its folder (onset = first, offset = last) and the apex is the middle frame, so
``apex_imputed`` is True for every SMIC sample. Subjects without a ``micro`` folder (SMIC-HS
has gaps in its subject numbering and some subjects only have non-micro clips) are skipped.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from expression_nas.corpora._common import (
    check_unique,
    corpus_root,
    frame_files,
    index_table,
    middle_frame,
    require_dir,
    subfolders,
)
from expression_nas.corpora.base import CorpusError

logger = logging.getLogger(__name__)

VOCABULARY = ("negative", "positive", "surprise")
FRAME_PATTERN = re.compile(r"image(\d+)\.bmp", re.IGNORECASE)


def load_smic(root: str | Path) -> pd.DataFrame:
    """Raw index of SMIC-HS (see ``base.INDEX_COLUMNS``)."""
    root_path = corpus_root(root, "SMIC")
    high_speed = require_dir(root_path / "HS", "SMIC high-speed (HS)")

    samples = []
    for subject_dir in subfolders(high_speed):
        micro = subject_dir / "micro"
        if not micro.is_dir():
            logger.info("SMIC: %s has no micro folder, skipped", subject_dir)
            continue
        for class_dir in subfolders(micro):
            label = class_dir.name.strip().lower()
            if label not in VOCABULARY:
                raise CorpusError(
                    f"{class_dir}: unknown class folder '{class_dir.name}', "
                    f"expected one of {list(VOCABULARY)}"
                )
            for sample_dir in subfolders(class_dir):
                frames = frame_files(sample_dir, FRAME_PATTERN)
                if not frames:
                    raise CorpusError(f"{sample_dir}: no frame files named image<N>.bmp")
                onset, offset = min(frames), max(frames)
                samples.append(
                    {
                        "dataset": "smic",
                        "subject": subject_dir.name,
                        "sample_id": f"{subject_dir.name}/{sample_dir.name}",
                        "label": label,
                        "onset": onset,
                        "apex": middle_frame(frames, onset, offset),
                        "offset": offset,
                        "n_frames_raw": len(frames),
                        "frames": [str(path) for path in frames.values()],
                        "apex_imputed": True,
                        "offset_repaired": False,
                    }
                )
    if not samples:
        raise CorpusError(f"{high_speed}: no samples found under <subject>/micro/<class>/")
    check_unique((sample["sample_id"] for sample in samples), high_speed)
    table = index_table(samples)
    logger.info("SMIC-HS: %d samples from %d subjects", len(table), table.subject.nunique())
    return table
