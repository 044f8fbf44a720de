"""FER2013 loader: ``root/fer2013.csv`` with columns emotion, pixels, Usage.

Each row is a 48x48 grayscale still stored as 2304 space-separated integers. The index keeps
the validated string in ``pixels`` (``base.read_sample`` decodes it) and has no frame files.
FER2013 has no subject ids, so every row's subject is "unknown". Error messages give the
CSV line number (the header is line 1).

The pixel strings are validated on their bytes with numpy, a few hundred rows at a time,
because splitting 35,887 x 2,304 values into Python objects takes many seconds; only a chunk
that fails the fast check is re-checked row by row to name the faulty lines. One CorpusError
lists every bad line (emotion, pixels and Usage), up to ``MAX_LISTED_PROBLEMS``.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from expression_nas.corpora._common import Problems, corpus_root, resolve_columns
from expression_nas.corpora.base import CorpusError

logger = logging.getLogger(__name__)

VOCABULARY = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGES = ("Training", "PublicTest", "PrivateTest")
CSV_NAME = "fer2013.csv"
N_PIXELS = 48 * 48
_CHUNK_ROWS = 512
_ALLOWED = b"0123456789 \n"
_DIGIT_0, _NEWLINE = ord("0"), ord("\n")


def _line(row: int) -> int:
    """CSV line number of 0-based data row ``row`` (header = line 1)."""
    return row + 2


def pixel_problems(pixels: list[str]) -> list[tuple[int, str]]:
    """(row, what is wrong) for each string that does not hold exactly 2304 integers 0..255
    separated by spaces."""
    problems = []
    for start in range(0, len(pixels), _CHUNK_ROWS):
        chunk = pixels[start : start + _CHUNK_ROWS]
        if _canonical(chunk):
            continue
        for offset, value in enumerate(chunk):  # slow, exact path: find the rows and the faults
            problem = _pixel_problem(value)
            if problem is not None:
                problems.append((start + offset, problem))
    return problems


def _canonical(chunk: list[str]) -> bool:
    """Fast check that every string is canonical: 2304 values 0..255, single spaces.

    False does not mean invalid (e.g. doubled spaces are fine): the caller then checks the
    rows one by one.
    """
    text = "\n".join(chunk)
    if not text.isascii():
        return False
    raw = text.encode("ascii")
    if raw.translate(None, _ALLOWED) or raw.count(b"\n") != len(chunk) - 1:
        return False
    data = np.frombuffer(raw, dtype=np.uint8)
    separators = np.flatnonzero(data < _DIGIT_0)  # spaces and line breaks
    if separators.size != len(chunk) * N_PIXELS - 1:
        return False
    if not (data[separators[N_PIXELS - 1 :: N_PIXELS]] == _NEWLINE).all():
        return False  # the line breaks must fall after every 2304th value
    lengths = np.diff(separators, prepend=-1, append=data.size) - 1
    if lengths.min() < 1 or lengths.max() > 3:
        return False
    starts = np.concatenate([[0], separators + 1])[lengths == 3]
    hundreds = data[starts].astype(np.int16) - _DIGIT_0
    tens = data[starts + 1].astype(np.int16) - _DIGIT_0
    ones = data[starts + 2].astype(np.int16) - _DIGIT_0
    return bool((hundreds * 100 + tens * 10 + ones).max(initial=0) <= 255)


def _pixel_problem(value: str) -> str | None:
    """What is wrong with one pixels string, or None when it is valid."""
    parts = value.split()
    if len(parts) != N_PIXELS:
        return f"found {len(parts)} values"
    for part in parts:
        if not (part.isascii() and part.isdigit()):
            return f"found {part[:20]!r}"
        if int(part) > 255:
            return f"found the value {part} (above 255)"
    return None


def load_fer2013(root: str | Path) -> pd.DataFrame:
    """Raw index of FER2013 (see ``base.INDEX_COLUMNS``), plus ``pixels`` and ``usage``."""
    root_path = corpus_root(root, "FER2013")
    path = root_path / CSV_NAME
    if not path.is_file():
        raise CorpusError(f"{path}: FER2013 csv is missing")
    # pyarrow's reader is several times faster than the C one on the 290 MB file
    engine = "pyarrow" if importlib.util.find_spec("pyarrow") else "c"
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, engine=engine)
    except (ValueError, UnicodeDecodeError, pd.errors.EmptyDataError) as error:
        raise CorpusError(f"{path}: cannot parse the csv ({error})") from error
    positions = resolve_columns(list(raw.columns), ("emotion", "pixels", "Usage"), str(path))
    emotion, pixels, usage = (
        raw.iloc[:, positions[name]] for name in ("emotion", "pixels", "Usage")
    )
    if raw.empty:
        raise CorpusError(f"{path}: no data rows")

    labels = emotion.str.strip().map({str(code): label for code, label in enumerate(VOCABULARY)})
    usage = usage.str.strip()
    found = [  # (row, column position, column, what is wrong)
        (row, 0, "emotion", f"expected an integer 0..6, got {emotion.iloc[row]!r}")
        for row in np.flatnonzero(labels.isna().to_numpy())
    ]
    found += [
        (row, 1, "pixels", f"expected {N_PIXELS} integers 0..255 separated by spaces, {problem}")
        for row, problem in pixel_problems(pixels.tolist())
    ]
    found += [
        (row, 2, "Usage", f"expected one of {list(USAGES)}, got {usage.iloc[row]!r}")
        for row in np.flatnonzero(~usage.isin(USAGES).to_numpy())
    ]
    problems = Problems(path)
    for row, _, column, what in sorted(found):
        problems.add(f"line {_line(row)}, column '{column}'", what)
    problems.raise_if_any()

    n = len(raw)
    table = pd.DataFrame(
        {
            "dataset": "fer2013",
            "subject": "unknown",
            "sample_id": [f"row{row:05d}" for row in range(n)],
            "label": labels.array,
            "onset": np.zeros(n, dtype=np.int64),
            "apex": np.zeros(n, dtype=np.int64),
            "offset": np.zeros(n, dtype=np.int64),
            "n_frames_raw": np.ones(n, dtype=np.int64),
            "frames": [[] for _ in range(n)],
            "apex_imputed": np.zeros(n, dtype=bool),
            "offset_repaired": np.zeros(n, dtype=bool),
            "pixels": pixels.array,
            "usage": usage.array,
        }
    )
    logger.info(
        "FER2013: %d images (%s)",
        n,
        ", ".join(f"{name} {count}" for name, count in table["usage"].value_counts().items()),
    )
    return table
