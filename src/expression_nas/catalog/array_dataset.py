"""A Kedro dataset for one numpy array stored as ``.npy``, loaded memory-mapped by default."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from kedro.io import AbstractDataset, DatasetError


class NpyArrayDataset(AbstractDataset[np.ndarray, np.ndarray]):
    """Saves with ``np.save``; loads with ``np.load(mmap_mode=...)`` ("r" by default), so a
    corpus of clips [N, T, H, W] is paged in on demand rather than read whole.

    Example catalog entry::

        "{corpus}.clips":
          type: expression_nas.catalog.NpyArrayDataset
          filepath: data/03_primary/{corpus}/clips.npy
    """

    def __init__(self, filepath: str, mmap_mode: str | None = "r", metadata: dict | None = None):
        self._filepath = PurePosixPath(filepath)
        self._mmap_mode = mmap_mode
        self.metadata = metadata

    def load(self) -> np.ndarray:
        path = Path(self._filepath)
        if not path.exists():
            raise DatasetError(f"{path}: no such array; run the pipeline that writes it first")
        return np.load(path, mmap_mode=self._mmap_mode, allow_pickle=False)

    def save(self, data: np.ndarray) -> None:
        path = Path(self._filepath)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial.npy")
        np.save(partial, np.ascontiguousarray(data), allow_pickle=False)
        partial.replace(path)

    def _exists(self) -> bool:
        return Path(self._filepath).exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "mmap_mode": self._mmap_mode}
