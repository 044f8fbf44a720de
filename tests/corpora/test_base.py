"""Frame reading: frames that cannot be used are reported, not raised, until asked to."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from expression_nas.corpora.base import CorpusError, read_frames, read_image


def test_missing_corrupt_and_odd_sized_frames_are_reported(tmp_path, image_writer):
    paths = [image_writer(tmp_path / f"img{n}.jpg", value=10 * n) for n in range(4)]
    paths[1].write_bytes(b"not a jpeg")
    paths[2].unlink()
    Image.fromarray(np.zeros((8, 12), np.uint8)).save(paths[3])  # 12x8, the others 8x8
    paths.append(image_writer(tmp_path / "img4.jpg"))

    read = read_frames([str(path) for path in paths])

    assert [image is None for image in read.images] == [False, True, True, True, False]
    assert sorted(read.unreadable) == [1, 2, 3]
    assert read.unreadable[1][0] == str(paths[1]) and "unreadable image" in read.unreadable[1][1]
    assert read.unreadable[2] == (str(paths[2]), "frame file is missing")
    assert read.unreadable[3][1] == "frame size 12x8, most frames are 8x8"
    with pytest.raises(CorpusError, match=r"img1\.jpg: unreadable image"):
        read.stacked()
    with pytest.raises(CorpusError, match=r"img2\.jpg: frame file is missing"):
        read_image(paths[2])


def test_readable_clip_stacks(tmp_path, image_writer):
    paths = [str(image_writer(tmp_path / f"img{n}.png", value=n)) for n in range(3)]
    read = read_frames(paths)
    assert not read.unreadable
    assert read.stacked().shape == (3, 8, 8, 3)
