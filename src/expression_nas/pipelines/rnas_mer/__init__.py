"""RNAS-MER: architecture search, LOSO training and evaluation, cross-database tests."""

from expression_nas.pipelines.rnas_mer.pipeline import create_pipeline

__all__ = ["create_pipeline"]
