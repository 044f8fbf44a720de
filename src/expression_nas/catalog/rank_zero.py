"""The project's data catalog class (``settings.DATA_CATALOG_CLASS``): Kedro's, with rank 0 alone
writing under ``torchrun`` (``distributed``)."""

from __future__ import annotations

from typing import Any

from kedro.io import DataCatalog, MemoryDataset

from expression_nas.distributed import env_rank


class RankZeroCatalog(DataCatalog):
    """Kedro's catalog, except that on ranks > 0 a save into a persisted dataset is kept in
    this process's memory instead (and later loads of it read that copy): rank 0 alone writes
    files and MLflow datasets, and no rank reads a file another is still writing. Every rank
    computes the same outputs (the replicas are kept identical), so the copies agree. Without
    torchrun, and on rank 0, it is Kedro's catalog."""

    def _rank_local(self) -> dict[str, Any]:
        return self.__dict__.setdefault("_rank_local_data", {})

    def save(self, ds_name: str, data: Any) -> None:
        if env_rank() == 0 or isinstance(self[ds_name], MemoryDataset):
            super().save(ds_name, data)
        else:
            self._rank_local()[ds_name] = data

    def load(self, ds_name: str, version: str | None = None) -> Any:
        local = self._rank_local()
        if ds_name in local:
            return local[ds_name]
        return super().load(ds_name, version)

    def release(self, ds_name: str) -> None:
        self._rank_local().pop(ds_name, None)
        super().release(ds_name)
