"""Fixtures shared by the test packages: a single-thread torch setting and builders of tiny
corpus trees in the exact on-disk layouts of the real corpora."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import mlflow
import numpy as np
import openpyxl
import pandas as pd
import pytest
import torch
from PIL import Image


@pytest.fixture
def mlflow_experiment(tmp_path):
    """A fresh MLflow experiment in a SQLite store under ``tmp_path``, set as the current
    one; its id. Every run still open is ended afterwards."""
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = mlflow.create_experiment("runs", (tmp_path / "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment)
    yield experiment
    while mlflow.active_run():
        mlflow.end_run()


@pytest.fixture(scope="module")
def single_torch_thread():
    """Tiny convolutions run fastest on one thread; several contend on a busy machine.
    Use with ``pytestmark = pytest.mark.usefixtures("single_torch_thread")``."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CASME2_HEADER = (
    "Subject",
    "Filename",
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    "Action Units",
    "Estimated Emotion",
)
SAMM_HEADER = (
    "Subject",
    "Filename",
    "Inducement Code",
    "Onset Frame",
    "Apex Frame",
    "Offset Frame",
    "Duration",
    "Type",
    "Action Units",
    "Notes",
    "Estimated Emotion",
    "Objective Classes",
)


def write_image(path: Path, value: int = 128) -> Path:
    """An 8x8 grayscale image; the format follows the suffix (jpg, png, bmp, tiff)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)
    return path


def write_frames(folder: Path, name: Callable[[int], str], numbers: Iterable[int]) -> None:
    for number in numbers:
        write_image(folder / name(number))


def build_casme2(
    root: Path,
    rows: list[list],
    frames: dict[str, Iterable[int]],
    *,
    variant: str = "raw",
    header: Iterable[str] = CASME2_HEADER,
    sheet: str = "CASME2-coding-20190701.xlsx",
) -> Path:
    """CASME II tree: coding sheet ``rows`` and frame files for each "subXX/EPxx" folder."""
    folder, prefix = ("CASME2_RAW_selected", "img") if variant == "raw" else ("Cropped", "reg_img")
    for sample, numbers in frames.items():
        write_frames(root / folder / sample, lambda n: f"{prefix}{n}.jpg", numbers)
    (root / folder).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=list(header)).to_excel(root / sheet, index=False)
    return root


def build_samm(
    root: Path,
    rows: list[list],
    frames: dict[str, Iterable[int]],
    *,
    header: Iterable[str] = SAMM_HEADER,
) -> Path:
    """SAMM tree: 13 preamble rows, header in row 14, then ``rows``; frames per "006/006_1_2"."""
    for sample, numbers in frames.items():
        subject = sample.split("/")[0]
        write_frames(root / "SAMM" / sample, lambda n, s=subject: f"{s}_{n:05d}.jpg", numbers)
    (root / "SAMM").mkdir(parents=True, exist_ok=True)
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.cell(row=1, column=1, value="SAMM Micro-Movement Coding")
    sheet.cell(row=3, column=1, value="Action Units coded with FACS")
    sheet.cell(row=13, column=1, value="Coder notes")  # rows 2, 4..12 stay blank
    for column, name in enumerate(header, start=1):
        sheet.cell(row=14, column=column, value=name)
    for offset, values in enumerate(rows):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=15 + offset, column=column, value=value)
    workbook.save(root / "SAMM_Micro_FACS_Codes_v2.xlsx")
    return root


def samm_row(
    subject: int,
    filename: str,
    onset: int,
    apex: int,
    offset: int,
    *,
    emotion: str = "Anger",
    objective: int | None = 1,
    action_units: str = "R4+7",
) -> list:
    """A SAMM data row in SAMM_HEADER order (extra columns filled with plausible values)."""
    return [
        subject, filename, "1_2", onset, apex, offset, offset - onset, "Micro - 1/2",
        action_units, "", emotion, objective,
    ]  # fmt: skip


def build_smic(root: Path, samples: dict[str, Iterable[int]]) -> Path:
    """SMIC-HS tree: keys like "s1/negative/s1_ne_01" -> frame numbers."""
    for sample, numbers in samples.items():
        subject, label, name = sample.split("/")
        folder = root / "HS" / subject / "micro" / label / name
        write_frames(folder, lambda n: f"image{n:06d}.bmp", numbers)
    (root / "HS").mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture
def make_casme2() -> Callable[..., Path]:
    return build_casme2


@pytest.fixture
def make_samm() -> Callable[..., Path]:
    return build_samm


@pytest.fixture
def make_smic() -> Callable[..., Path]:
    return build_smic


@pytest.fixture
def make_samm_row() -> Callable[..., list]:
    return samm_row


@pytest.fixture
def image_writer() -> Callable[..., Path]:
    return write_image
