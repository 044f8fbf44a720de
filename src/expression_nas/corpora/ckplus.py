"""CK+ (extended Cohn-Kanade) loader.

Layout under ``root``::

    cohn-kanade-images/S005/001/S005_001_00000001.png
    Emotion/S005/001/S005_001_00000011_emotion.txt     one float, e.g. "   3.0000000e+00"

Only sequences with an emotion file are labelled; the others are skipped. A labelled sequence
yields still samples: its last ``peak_frames`` frames with the sequence's label (sample ids
"S005/001/peak", "S005/001/peak2", ... counting back from the last frame) and, with
``include_neutral``, its first frame labelled neutral ("S005/001/neutral"), since every CK+
sequence starts from a neutral face.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path

import pandas as pd

from expression_nas.corpora._common import (
    corpus_root,
    frame_files,
    index_table,
    is_hidden,
    require_dir,
    subfolders,
)
from expression_nas.corpora.base import CorpusError

logger = logging.getLogger(__name__)

#: CK+ emotion code -> label (the code is the position).
VOCABULARY = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")
IMAGE_FOLDER = "cohn-kanade-images"
EMOTION_FOLDER = "Emotion"
FRAME_PATTERN = re.compile(r".*_(\d+)\.png", re.IGNORECASE)


def read_emotion_code(path: Path) -> int:
    """The emotion code in a CK+ ``*_emotion.txt`` file."""
    text = path.read_text(errors="replace").strip()
    try:
        value = float(text)
    except ValueError:
        raise CorpusError(
            f"{path}: expected one number (emotion code 0..7), got {text[:40]!r}"
        ) from None
    if not math.isfinite(value) or not value.is_integer() or not 0 <= value < len(VOCABULARY):
        raise CorpusError(f"{path}: expected an emotion code 0..7, got {text!r}")
    return int(value)


def _still(subject: str, sample_id: str, label: str, number: int, path: Path) -> dict:
    return {
        "dataset": "ckplus",
        "subject": subject,
        "sample_id": sample_id,
        "label": label,
        "onset": number,
        "apex": number,
        "offset": number,
        "n_frames_raw": 1,
        "frames": [str(path)],
        "apex_imputed": False,
        "offset_repaired": False,
    }


def load_ckplus(
    root: str | Path, include_neutral: bool = True, peak_frames: int = 1
) -> pd.DataFrame:
    """Raw index of CK+ stills (see ``base.INDEX_COLUMNS``)."""
    if peak_frames < 1:
        raise CorpusError(f"CK+: peak_frames must be at least 1, got {peak_frames}")
    root_path = corpus_root(root, "CK+")
    images = require_dir(root_path / IMAGE_FOLDER, "CK+ image")
    emotions = require_dir(root_path / EMOTION_FOLDER, "CK+ emotion label")

    samples = []
    unlabelled = 0
    for subject_dir in subfolders(emotions):
        subject = subject_dir.name
        for sequence_dir in subfolders(subject_dir):
            files = [f for f in sorted(sequence_dir.glob("*_emotion.txt")) if not is_hidden(f)]
            if not files:
                unlabelled += 1
                continue
            if len(files) > 1:
                names = [file.name for file in files]
                raise CorpusError(f"{sequence_dir}: expected one emotion file, found {names}")
            label = VOCABULARY[read_emotion_code(files[0])]
            frame_dir = images / subject / sequence_dir.name
            if not frame_dir.is_dir():
                raise CorpusError(f"{frame_dir}: image folder of labelled {files[0]} is missing")
            frames = list(frame_files(frame_dir, FRAME_PATTERN).items())
            needed = peak_frames + int(include_neutral)
            if len(frames) < needed:
                raise CorpusError(
                    f"{frame_dir}: expected at least {needed} frames *_<N>.png, found {len(frames)}"
                )
            prefix = f"{subject}/{sequence_dir.name}"
            for rank in range(1, peak_frames + 1):
                number, path = frames[-rank]
                suffix = "peak" if rank == 1 else f"peak{rank}"
                samples.append(_still(subject, f"{prefix}/{suffix}", label, number, path))
            if include_neutral:
                number, path = frames[0]
                samples.append(_still(subject, f"{prefix}/neutral", "neutral", number, path))
    if not samples:
        raise CorpusError(f"{emotions}: no sequence has an *_emotion.txt file")
    table = index_table(samples)
    logger.info(
        "CK+: %d stills from %d subjects (%d unlabelled sequences skipped)",
        len(table),
        table.subject.nunique(),
        unlabelled,
    )
    return table
