"""Kedro dataset classes of the project (the only package besides pipelines/ that imports Kedro)."""

from expression_nas.catalog.array_dataset import NpyArrayDataset

__all__ = ["NpyArrayDataset"]
