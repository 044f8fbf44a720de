import numpy as np
import pytest
from kedro.io import DatasetError

from expression_nas.catalog import NpyArrayDataset


def test_round_trip_is_memory_mapped(tmp_path):
    dataset = NpyArrayDataset(filepath=str(tmp_path / "corpus" / "clips.npy"))
    assert not dataset.exists()
    clips = np.arange(2 * 3 * 4 * 5, dtype=np.uint8).reshape(2, 3, 4, 5)
    dataset.save(clips)
    loaded = dataset.load()
    assert isinstance(loaded, np.memmap)
    np.testing.assert_array_equal(loaded, clips)
    assert not list((tmp_path / "corpus").glob("*.partial.npy"))


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(DatasetError, match=r"missing\.npy"):
        NpyArrayDataset(filepath=str(tmp_path / "missing.npy")).load()
