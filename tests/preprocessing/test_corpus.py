"""Corpus-level preparation on tiny trees in the real layouts: the policies for unreadable
frames and images and for several faces, as counted in the sample table and the report."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image
from skimage import data

from expression_nas.corpora.base import CorpusError
from expression_nas.corpora.casme2 import load_casme2
from expression_nas.corpora.jaffe import load_jaffe
from expression_nas.preprocessing.alignment import AlignmentConfig
from expression_nas.preprocessing.corpus import (
    align_samples,
    assemble_clips,
    assemble_stills,
    quality_report,
)

ROWS = [[1, "EP01_01", 8, 9, 11, "4", "happiness"], [2, "EP02_02", 1, 2, 3, "12", "surprise"]]
FRAMES = {"sub01/EP01_01": range(8, 12), "sub02/EP02_02": range(1, 4)}


@pytest.fixture
def casme2_tree(tmp_path, make_casme2, image_writer):
    """Two clips; frame img9 of sub01/EP01_01 is a corrupt JPEG between a dark and a light
    frame (img8 and img10)."""
    root = make_casme2(tmp_path, ROWS, FRAMES)
    folder = root / "CASME2_RAW_selected" / "sub01" / "EP01_01"
    image_writer(folder / "img8.jpg", value=40)
    image_writer(folder / "img10.jpg", value=200)
    (folder / "img9.jpg").write_bytes(b"\xff\xd8 garbage, not a jpeg")
    return root


def _prepare(root, **settings):
    index = load_casme2(root)
    config = AlignmentConfig(size=8, grayscale=True, **settings)
    aligned = align_samples(index, config, align=False)  # reading policies only, no detector
    return index, aligned, quality_report("casme2", index, index, aligned)


def test_repair_keeps_the_clip_and_lists_the_frame(casme2_tree, caplog):
    with caplog.at_level(logging.WARNING):
        index, aligned, report = _prepare(casme2_tree)
    _, samples, _ = assemble_clips(index, aligned, length=4, method="linear")

    corrupt = str(casme2_tree / "CASME2_RAW_selected" / "sub01" / "EP01_01" / "img9.jpg")
    assert samples["sample_id"].tolist() == ["sub01/EP01_01", "sub02/EP02_02"]
    assert samples["frames_unreadable"].tolist() == [1, 0]
    assert report["samples_dropped"] == 0 and report["frames_unreadable"] == 1
    [listed] = report["unreadable_files"]
    assert (listed["sample_id"], listed["file"]) == ("sub01/EP01_01", corrupt)
    assert "unreadable image" in listed["reason"]
    repaired = aligned[0].frames
    assert repaired.shape == (4, 8, 8)
    assert abs(int(repaired[1].mean()) - 40) <= 2  # img8: of two nearest, the earlier
    assert "img9.jpg" in caplog.text and "sub01/EP01_01" in caplog.text


def test_drop_clip_drops_it_with_its_reason(casme2_tree):
    index, aligned, report = _prepare(casme2_tree, unreadable_frame="drop_clip")
    _, samples, _ = assemble_clips(index, aligned, length=4, method="linear")
    assert samples["sample_id"].tolist() == ["sub02/EP02_02"]
    assert report["drop_reasons"] == {"unreadable_clip": 1}
    assert report["dropped"][0]["sample_id"] == "sub01/EP01_01"
    assert [item["sample_id"] for item in report["unreadable_files"]] == ["sub01/EP01_01"]


def test_error_stops_with_the_file_named(casme2_tree):
    with pytest.raises(CorpusError, match=r"EP01_01/img9\.jpg: unreadable image"):
        _prepare(casme2_tree, unreadable_frame="error")


def test_a_clip_without_one_readable_frame_is_dropped(casme2_tree):
    for path in (casme2_tree / "CASME2_RAW_selected" / "sub02" / "EP02_02").iterdir():
        path.write_bytes(b"")
    _, _, report = _prepare(casme2_tree)
    assert report["drop_reasons"] == {"unreadable_clip": 1}
    assert report["dropped"][0]["sample_id"] == "sub02/EP02_02"
    assert report["frames_unreadable"] == 1 + 3


def _face(darken: float = 1.0, scale: float = 1.0) -> np.ndarray:
    """The astronaut's face (a real photo shipped by scikit-image), resized and darkened."""
    face = Image.fromarray(data.astronaut()[20:260, 120:330])
    face = face.resize((round(210 * scale), round(240 * scale)))
    return (np.asarray(face) * darken).astype(np.uint8)


@pytest.fixture(scope="module")
def jaffe_tree(tmp_path_factory):
    """A JAFFE folder: one face, one group photo (a large bright face at the left edge, a small
    dark one near the centre) and one corrupt TIFF."""
    root = tmp_path_factory.mktemp("jaffe")
    Image.fromarray(_face()).save(root / "KA.AN1.39.tiff")
    group = np.full((240, 480, 3), 200, dtype=np.uint8)
    group[:, :210] = _face()
    small = _face(darken=0.5, scale=0.5)
    group[60 : 60 + small.shape[0], 260 : 260 + small.shape[1]] = small
    Image.fromarray(group).save(root / "KA.HA1.40.tiff")
    (root / "KA.SU1.41.tiff").write_bytes(b"garbage, not a tiff")
    return root


@pytest.mark.parametrize("policy", ["largest", "central"])
def test_stills_unreadable_image_dropped_and_group_photo_aligned_by_policy(jaffe_tree, policy):
    index = load_jaffe(jaffe_tree)
    aligned = align_samples(index, AlignmentConfig(size=48, multiple_faces=policy))
    images, samples = assemble_stills(index, aligned)
    report = quality_report("jaffe", index, index, aligned)

    assert samples["sample_id"].tolist() == ["KA.AN1.39", "KA.HA1.40"]
    assert samples["faces_detected"].tolist() == [1, 2]
    assert report["samples_multiple_faces"] == 1
    assert report["drop_reasons"] == {"unreadable_image": 1}
    assert [item["sample_id"] for item in report["unreadable_files"]] == ["KA.SU1.41"]
    single, group = images.astype(float).mean(axis=(1, 2))
    if policy == "largest":
        assert abs(group - single) < 10  # the same bright face
    else:
        assert group < 0.75 * single  # the small dark face near the centre
