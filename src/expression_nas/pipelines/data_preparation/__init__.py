"""Prepare a corpus: index, class selection, face alignment, fixed-length clips, augmentation."""

from expression_nas.pipelines.data_preparation.pipeline import create_pipeline

__all__ = ["create_pipeline"]
