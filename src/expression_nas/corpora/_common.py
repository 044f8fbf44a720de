"""Helpers shared by the corpus loaders: folders, coding sheets, frame files, the index table.

Coding sheets are read with openpyxl rather than ``pandas.read_excel`` so that every row keeps
the number Excel shows for it (pandas drops blank rows and renumbers), which is what error
messages quote. The loaders of tabular input (coding sheets, FER2013's csv) collect every bad
cell or line in ``Problems`` and raise one error listing them all, so that the user can fix
the file in one pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import openpyxl
import pandas as pd

from expression_nas.corpora.base import INDEX_COLUMNS, CorpusError

#: Image suffixes accepted for the frames of clip corpora.
FRAME_SUFFIXES = r"(?:jpe?g|png|bmp|tiff?)"
#: How many problems one error lists before it only counts the rest ("... and 7 more").
MAX_LISTED_PROBLEMS = 20

T = TypeVar("T")


def corpus_root(root: str | Path, corpus: str) -> Path:
    """The corpus root as an absolute path; CorpusError when it is not a folder."""
    path = Path(root).expanduser().absolute()
    if not path.is_dir():
        raise CorpusError(f"{path}: {corpus} root folder does not exist")
    return path


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise CorpusError(f"{path}: {what} folder is missing")
    return path


def normalise_header(name: Any) -> str:
    """Header key that ignores case and whitespace ("Onset Frame" == " onsetframe")."""
    return re.sub(r"\s+", "", "" if name is None else str(name)).lower()


def resolve_columns(header: Sequence[Any], wanted: Iterable[str], where: str) -> dict[str, int]:
    """Position of each wanted column in ``header``, matched by name (see normalise_header)."""
    positions: dict[str, int] = {}
    for position, name in enumerate(header):
        positions.setdefault(normalise_header(name), position)
    found = [str(name).strip() for name in header if name is not None and str(name).strip()]
    resolved = {}
    for name in wanted:
        key = normalise_header(name)
        if key not in positions:
            raise CorpusError(f"{where}: missing column '{name}' (found columns: {found})")
        resolved[name] = positions[key]
    return resolved


def read_sheet(
    path: Path, columns: Sequence[str], header_row: int = 1
) -> list[tuple[int, dict[str, Any]]]:
    """Data rows of the first worksheet as ``(excel_row_number, {column: value})``.

    ``header_row`` is the 1-based Excel row holding the column names; fully blank rows after
    it are skipped.
    """
    if not path.is_file():
        raise CorpusError(f"{path}: coding sheet is missing")
    try:
        workbook = openpyxl.load_workbook(path, data_only=True)
    except Exception as error:  # openpyxl raises many unrelated types for broken files
        raise CorpusError(f"{path}: cannot read the spreadsheet ({error})") from error
    try:
        sheet = workbook.worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    finally:
        workbook.close()
    if len(rows) < header_row:
        raise CorpusError(
            f"{path}: expected the column header in row {header_row}, "
            f"but the first sheet has only {len(rows)} rows"
        )
    header = rows[header_row - 1]
    where = f"{path}, header row {header_row}"
    positions = resolve_columns(header, columns, where)
    records = []
    for number, values in enumerate(rows[header_row:], start=header_row + 1):
        if all(is_blank(value) for value in values):
            continue
        record = {
            name: values[position] if position < len(values) else None
            for name, position in positions.items()
        }
        records.append((number, record))
    if not records:
        raise CorpusError(f"{path}: the coding sheet has no data rows below row {header_row}")
    return records


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def cell_where(row: int, column: str) -> str:
    return f"row {row}, column '{column}'"


class Problems:
    """What is wrong with one input file, raised as one CorpusError by ``raise_if_any``.

    Each entry is ``where: what``, e.g. "row 5, column 'OnsetFrame': expected an integer frame
    number, got 'ten'"; the error names ``source`` once and lists the entries in the order
    they were added, up to ``MAX_LISTED_PROBLEMS``.
    """

    def __init__(self, source: Path) -> None:
        self.source = source
        self.entries: list[str] = []

    def __len__(self) -> int:
        return len(self.entries)

    def add(self, where: str, what: str) -> None:
        self.entries.append(f"{where}: {what}")

    def cell(
        self,
        cells: Mapping[str, Any],
        row: int,
        column: str,
        parse: Callable[..., T],
        *args: Any,
    ) -> T | None:
        """``parse(cells[column], where, *args)``, or None with its CorpusError recorded."""
        try:
            return parse(cells[column], cell_where(row, column), *args)
        except CorpusError as error:
            self.entries.append(str(error))
            return None

    def raise_if_any(self) -> None:
        if len(self.entries) == 1:
            raise CorpusError(f"{self.source}, {self.entries[0]}")
        if self.entries:
            listed = [f"  - {entry}" for entry in self.entries[:MAX_LISTED_PROBLEMS]]
            hidden = len(self.entries) - len(listed)
            more = [f"  ... and {hidden} more"] if hidden else []
            heading = f"{self.source}: {len(self.entries)} problems"
            raise CorpusError("\n".join([heading, *listed, *more]))


def int_cell(value: Any, where: str, what: str = "an integer frame number") -> int:
    """An integer from a spreadsheet cell (int, integral float or digit string)."""
    if isinstance(value, bool):
        raise CorpusError(f"{where}: expected {what}, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise CorpusError(f"{where}: expected {what}, got {value!r}")


def text_cell(value: Any) -> str:
    """A cell as text: integral floats lose their ".0", blanks become ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def label_cell(value: Any, where: str, vocabulary: Sequence[str]) -> str:
    label = text_cell(value).lower()
    if label not in vocabulary:
        raise CorpusError(f"{where}: unknown label {value!r}, expected one of {list(vocabulary)}")
    return label


def sample_folder(
    images: Path, subject: str | None, cells: Mapping[str, Any], row: int, problems: Problems
) -> Path | None:
    """The folder ``images/subject/<Filename cell>`` (see find_sample_dir), or None with the
    problem recorded; None without a record when the subject cell was already wrong."""
    filename = text_cell(cells["Filename"])
    if not filename:
        problems.add(cell_where(row, "Filename"), "expected a sample folder name")
        return None
    if subject is None:
        return None
    folder = find_sample_dir(images / subject, filename)
    if folder is None:
        problems.add(f"row {row}", f"sample folder {images / subject / filename} is missing")
    return folder


def frame_files(folder: Path, pattern: re.Pattern[str]) -> dict[int, Path]:
    """Frame number -> file for the files of ``folder`` whose name matches ``pattern``.

    The pattern's first group is the frame number; the result is ordered by that number
    (not lexically, so img9 comes before img10). Files that do not match are ignored.
    """
    frames: dict[int, Path] = {}
    for entry in folder.iterdir():
        match = pattern.fullmatch(entry.name)
        if match is None or is_hidden(entry) or not entry.is_file():
            continue
        number = int(match.group(1))
        if number in frames:
            raise CorpusError(
                f"{folder}: frame number {number} appears twice "
                f"({frames[number].name}, {entry.name})"
            )
        frames[number] = entry
    return dict(sorted(frames.items()))


def is_hidden(path: Path) -> bool:
    """Dot files, e.g. the "._img46.jpg" companions macOS leaves on copied corpora."""
    return path.name.startswith(".")


def subfolders(path: Path) -> list[Path]:
    """Non-hidden sub-folders of ``path``, sorted by name."""
    return sorted(child for child in path.iterdir() if child.is_dir() and not is_hidden(child))


def find_sample_dir(parent: Path, name: str) -> Path | None:
    """``parent/name``, or the one child whose name differs from ``name`` only by case."""
    exact = parent / name
    if exact.is_dir():
        return exact
    if not parent.is_dir():
        return None
    matches = [
        child for child in parent.iterdir() if child.is_dir() and child.name.lower() == name.lower()
    ]
    return matches[0] if len(matches) == 1 else None


def clip_paths(frames: Mapping[int, Path], onset: int, offset: int) -> list[str]:
    return [str(path) for number, path in frames.items() if onset <= number <= offset]


def checked_apex(
    apex: int | None,
    imputed: bool,
    frames: Mapping[int, Path],
    onset: int,
    offset: int,
    where: str,
    problems: Problems,
) -> int | None:
    """The apex frame: the middle frame when the sheet has none (``imputed``), else the coded
    one, which must lie within onset..offset (a problem is recorded when it does not)."""
    if imputed:
        return middle_frame(frames, onset, offset)
    if apex is not None and not onset <= apex <= offset:
        problems.add(where, f"apex {apex} lies outside onset..offset ({onset}..{offset})")
    return apex


def clip_sample(
    dataset: str,
    subject: str,
    folder: Path,
    label: str,
    frames: Mapping[int, Path],
    onset: int,
    apex: int,
    offset: int,
    **flags_and_extra: Any,
) -> dict[str, Any]:
    """The index row of the clip ``folder`` (its ``frames`` from onset to offset);
    ``flags_and_extra`` gives apex_imputed, offset_repaired and any extra columns."""
    paths = clip_paths(frames, onset, offset)
    return {
        "dataset": dataset,
        "subject": subject,
        "sample_id": f"{subject}/{folder.name}",
        "label": label,
        "onset": onset,
        "apex": apex,
        "offset": offset,
        "n_frames_raw": len(paths),
        "frames": paths,
        **flags_and_extra,
    }


def middle_frame(frames: Iterable[int], onset: int, offset: int) -> int:
    """round((onset + offset) / 2) snapped to the nearest existing frame in onset..offset."""
    target = round((onset + offset) / 2)
    candidates = [number for number in frames if onset <= number <= offset]
    if not candidates:
        return target
    return min(candidates, key=lambda number: (abs(number - target), number))


def check_unique(sample_ids: Iterable[str], where: Path) -> None:
    seen: set[str] = set()
    for sample_id in sample_ids:
        if sample_id in seen:
            raise CorpusError(f"{where}: sample '{sample_id}' is listed more than once")
        seen.add(sample_id)


def index_table(rows: list[dict[str, Any]], extra: Sequence[str] = ()) -> pd.DataFrame:
    """The raw index: INDEX_COLUMNS then ``extra``, sorted by subject then sample_id."""
    table = pd.DataFrame(rows, columns=[*INDEX_COLUMNS, *extra])
    for column in ("onset", "apex", "offset", "n_frames_raw"):
        table[column] = table[column].astype("int64")
    for column in ("apex_imputed", "offset_repaired"):
        table[column] = table[column].astype(bool)
    table = table.sort_values(["subject", "sample_id"], kind="stable")
    return table.reset_index(drop=True)
