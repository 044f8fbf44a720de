"""Demo corpus writers: layouts the real loaders read, determinism, idempotence, learnability."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import LeaveOneGroupOut, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from expression_nas.corpora.base import read_image
from expression_nas.corpora.registry import load_corpus
from expression_nas.demo import (
    DEFAULTS,
    DEMO_KINDS,
    MARKER_NAME,
    DemoCorpusError,
    demo_config,
    generate_demo_composite,
    generate_demo_corpus,
)

#: Small settings that keep each generation well under a second.
SMALL = {
    "casme2": {"n_subjects": 2, "samples_per_class": 1, "frames": (8, 10), "size": 64},
    "samm": {"n_subjects": 2, "samples_per_class": 1, "frames": (8, 10), "size": 64},
    "smic": {"n_subjects": 2, "samples_per_class": 1, "frames": (8, 10), "size": 64},
    "fer2013": {"training": (3, 1, 3, 4, 3, 2, 3), "test": (1, 1, 1, 2, 1, 1, 1)},
    "ckplus": {"n_subjects": 2, "frames": (4, 5), "size": 64, "unlabelled": 1},
    "jaffe": {"n_subjects": 2, "repetitions": 1, "size": 64},
}
COMPOSITE = {
    "anger": "negative",
    "contempt": "negative",
    "disgust": "negative",
    "repression": "negative",
    "negative": "negative",
    "happiness": "positive",
    "positive": "positive",
    "surprise": "surprise",
}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def mer_roots(tmp_path_factory) -> dict[str, Path]:
    """The three MER demo corpora at their default subjects, classes and frame size (shorter
    clips than the default, to keep the test fast; only onset and apex frames are used)."""
    root = tmp_path_factory.mktemp("mer")
    return generate_demo_composite(root, seed=0, frames=(12, 16))


@pytest.fixture(scope="module")
def fer_roots(tmp_path_factory) -> dict[str, Path]:
    """The three FER demo corpora with their default settings."""
    root = tmp_path_factory.mktemp("fer")
    return {
        kind: generate_demo_corpus(kind, root / kind) for kind in ("fer2013", "ckplus", "jaffe")
    }


def test_kinds_and_config():
    assert DEMO_KINDS == ("casme2", "samm", "smic", "fer2013", "ckplus", "jaffe")
    config = demo_config("casme2", n_subjects=3, frames=[10, 12])
    assert config["n_subjects"] == 3 and config["frames"] == (10, 12)
    assert config["size"] == DEFAULTS["casme2"]["size"]
    with pytest.raises(ValueError, match="unknown setting"):
        demo_config("casme2", per_class=(1, 2))
    with pytest.raises(ValueError, match="unknown demo corpus kind"):
        demo_config("casme3")
    with pytest.raises(ValueError, match="low, high"):
        demo_config("smic", frames=(10, 5))
    with pytest.raises(ValueError, match="non-negative integer"):
        generate_demo_corpus("smic", "unused", seed=-1)


@pytest.mark.parametrize("kind", DEMO_KINDS)
def test_same_seed_gives_byte_identical_files(kind, tmp_path):
    first = generate_demo_corpus(kind, tmp_path / "a", seed=5, **SMALL[kind])
    second = generate_demo_corpus(kind, tmp_path / "b", seed=5, **SMALL[kind])
    assert _tree(first) == _tree(second)
    other = generate_demo_corpus(kind, tmp_path / "c", seed=6, **SMALL[kind])
    assert _tree(other) != _tree(first)


def test_second_call_does_nothing(tmp_path):
    root = generate_demo_corpus("smic", tmp_path / "smic", **SMALL["smic"])
    stamps = {path: path.stat().st_mtime_ns for path in root.rglob("*")}
    assert generate_demo_corpus("smic", root, **SMALL["smic"]) == root
    assert {path: path.stat().st_mtime_ns for path in root.rglob("*")} == stamps
    marker = json.loads((root / MARKER_NAME).read_text())
    assert marker["kind"] == "smic" and marker["seed"] == 0 and marker["synthetic"] is True
    assert marker["config"]["n_subjects"] == 2 and "version" in marker


def test_changed_settings_rewrite_only_our_entries(tmp_path):
    root = generate_demo_corpus("casme2", tmp_path / "c2", **SMALL["casme2"])
    (root / "my_notes.txt").write_text("keep me")
    before = _tree(root)
    generate_demo_corpus("casme2", root, seed=1, **SMALL["casme2"])
    after = _tree(root)
    assert after != before
    assert (root / "my_notes.txt").read_text() == "keep me"
    assert json.loads((root / MARKER_NAME).read_text())["seed"] == 1
    # a different kind into a folder of ours replaces the old kind's entries
    generate_demo_corpus("smic", root, **SMALL["smic"])
    assert not (root / "CASME2_RAW_selected").exists()
    assert (root / "HS").is_dir() and (root / "my_notes.txt").exists()


def test_refuses_a_foreign_folder(tmp_path):
    root = tmp_path / "real_casme2"
    root.mkdir()
    (root / "CASME2-coding-20140508.xlsx").write_bytes(b"the user's precious sheet")
    with pytest.raises(DemoCorpusError, match="not empty"):
        generate_demo_corpus("casme2", root, **SMALL["casme2"])
    assert [path.name for path in root.iterdir()] == ["CASME2-coding-20140508.xlsx"]
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    with pytest.raises(DemoCorpusError, match="not a folder"):
        generate_demo_corpus("jaffe", a_file)


def test_interrupted_generation_is_redone(tmp_path):
    root = generate_demo_corpus("jaffe", tmp_path / "j", **SMALL["jaffe"])
    reference = _tree(root)
    marker = root / MARKER_NAME
    marker.rename(root / ".demo_corpus.partial.json")  # as if killed before the marker
    next(root.glob("*.tiff")).unlink()
    generate_demo_corpus("jaffe", root, **SMALL["jaffe"])
    assert _tree(root) == reference


def test_casme2_layout_and_errata(mer_roots):
    root = mer_roots["casme2"]
    workbook = openpyxl.load_workbook(root / "CASME2-coding-demo.xlsx")
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    assert rows[0] == (
        "Subject",
        "Filename",
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        "Action Units",
        "Estimated Emotion",
    )
    data = rows[1:]
    assert len(data) == 6 * 3 * 2
    assert all(isinstance(row[0], int) for row in data)
    assert [row[3] for row in data].count("/") == 1
    assert {row[6] for row in data} == {"happiness", "disgust", "repression", "surprise"}
    numbers = [
        int(re.fullmatch(r"img(\d+)\.jpg", path.name).group(1))
        for path in (root / "CASME2_RAW_selected").glob("sub*/*/img*.jpg")
    ]
    assert min(numbers) >= 20 and any(n < 100 for n in numbers) and any(n >= 100 for n in numbers)
    clips = sorted((root / "CASME2_RAW_selected").glob("sub*/*"))
    assert len(clips) == 36
    frame = Image.open(next(clips[0].glob("*.jpg")))
    assert frame.mode == "RGB" and frame.size == (144, 144)


def test_samm_and_smic_layouts(mer_roots):
    sheet = openpyxl.load_workbook(mer_roots["samm"] / "SAMM_Micro_FACS_Codes_v2.xlsx")
    rows = list(sheet.worksheets[0].iter_rows(values_only=True))
    assert rows[13][:6] == (
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
    )
    assert rows[13][-3:] == ("Notes", "Estimated Emotion", "Objective Classes")
    frames = sorted((mer_roots["samm"] / "SAMM").glob("*/*/*.jpg"))
    assert all(re.fullmatch(r"\d{3}_\d{5}\.jpg", path.name) for path in frames)
    assert Image.open(frames[0]).mode == "L"
    clips = sorted((mer_roots["smic"] / "HS").glob("s*/micro/*/*"))
    assert len(clips) == 36
    assert {clip.parent.name for clip in clips} == {"negative", "positive", "surprise"}
    assert re.fullmatch(r"s\d+_(ne|po|sur)_\d\d", clips[0].name)
    first = next(clips[0].iterdir())
    assert re.fullmatch(r"image\d{6}\.bmp", first.name) and Image.open(first).mode == "RGB"


def test_fer_layouts(fer_roots):
    lines = (fer_roots["fer2013"] / "fer2013.csv").read_text().splitlines()
    assert lines[0] == "emotion,pixels,Usage"
    rows = [line.split(",") for line in lines[1:]]
    assert all(len(row[1].split()) == 2304 for row in rows)
    counts = {
        usage: np.bincount([int(row[0]) for row in rows if row[2] == usage], minlength=7)
        for usage in ("Training", "PublicTest", "PrivateTest")
    }
    disgust = 1  # FER2013's code of the rare class
    others = np.arange(7) != disgust
    # the real corpus's shape: disgust rare, every other class well represented
    assert counts["Training"][others].min() >= 200 and counts["Training"][disgust] >= 40
    for usage in ("PublicTest", "PrivateTest"):
        assert counts[usage][others].min() >= 30 and counts[usage][disgust] >= 10
    assert counts["Training"].argmax() == 3  # happiness is the largest class, as in FER2013
    emotion_files = sorted((fer_roots["ckplus"] / "Emotion").glob("S*/*/*_emotion.txt"))
    assert len(emotion_files) == 32 * 7
    assert re.fullmatch(r" {3}[1-7]\.0000000e\+00\n", emotion_files[0].read_text())
    sequence = sorted((fer_roots["ckplus"] / "cohn-kanade-images" / "S005" / "001").iterdir())
    assert sequence[0].name == "S005_001_00000001.png" and 6 <= len(sequence) <= 8
    stills = sorted(fer_roots["jaffe"].glob("*.tiff"))
    assert len(stills) == 10 * 7 * 3  # the real JAFFE has 213
    assert all(
        re.fullmatch(r"[A-Z]{2}\.(AN|DI|FE|HA|NE|SA|SU)[123]\.\d+\.tiff", p.name) for p in stills
    )
    assert Image.open(stills[0]).mode == "L"


@pytest.mark.parametrize("kind", ["casme2", "samm", "smic"])
def test_loaders_read_the_mer_demos(kind, mer_roots):
    table = load_corpus(kind, root=mer_roots[kind])
    assert len(table) == 36
    assert table["subject"].nunique() == 6
    composite = table["label"].map(COMPOSITE)
    assert composite.notna().all()
    assert composite.value_counts().to_dict() == {"negative": 12, "positive": 12, "surprise": 12}
    assert table["n_frames_raw"].between(12, 16).all()
    if kind == "casme2":
        assert table["apex_imputed"].sum() == 1 and table["offset_repaired"].sum() == 1
    if kind == "samm":
        assert table["apex_imputed"].sum() == 1


def test_loaders_read_the_composite(mer_roots):
    table = load_corpus("composite", **{kind: path for kind, path in mer_roots.items()})
    assert len(table) == 108 and table["subject"].nunique() == 18
    assert set(table["label"]) == {"negative", "positive", "surprise"}


def test_loaders_read_the_fer_demos(fer_roots):
    fer = load_corpus("fer2013", root=fer_roots["fer2013"])
    assert fer["label"].nunique() == 7
    ckplus = load_corpus("ckplus", root=fer_roots["ckplus"])
    assert ckplus["subject"].nunique() == 32
    assert set(ckplus["label"]) == {
        "neutral",
        "anger",
        "contempt",
        "disgust",
        "fear",
        "happy",
        "sadness",
        "surprise",
    }
    assert (ckplus["label"] != "neutral").sum() == 32 * 7  # unlabelled sequences are skipped
    jaffe = load_corpus("jaffe", root=fer_roots["jaffe"])
    assert jaffe["subject"].nunique() == 10 and jaffe["label"].nunique() == 7


def _motion_energy(table, cells: int = 16) -> np.ndarray:
    """|apex - onset| of every clip, gray, averaged over cells x cells blocks."""
    features = []
    for row in table.itertuples():
        onset = read_image(row.frames[0]).astype(np.float32).mean(axis=2)
        apex = read_image(row.frames[row.apex - row.onset]).astype(np.float32).mean(axis=2)
        difference = np.abs(apex - onset)
        block = difference.shape[0] // cells
        difference = difference[: block * cells, : block * cells]
        features.append(difference.reshape(cells, block, cells, block).mean(axis=(1, 3)).ravel())
    return np.asarray(features)


def test_classes_are_learnable_leave_one_subject_out(mer_roots):
    table = load_corpus("composite", **{kind: path for kind, path in mer_roots.items()})
    features = _motion_energy(table)
    labels = table["label"].to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    predicted = cross_val_predict(
        model, features, labels, groups=table["subject"].to_numpy(), cv=LeaveOneGroupOut()
    )
    accuracy = float((predicted == labels).mean())
    per_source = {
        source: float((predicted[mask] == labels[mask]).mean())
        for source in ("casme2", "samm", "smic")
        for mask in [table["source"].to_numpy() == source]
    }
    print(f"LOSO accuracy: composite {accuracy:.3f}, per source {per_source}")
    assert accuracy > 0.6  # chance is 1/3
    assert min(per_source.values()) > 0.5
