"""The darts_fer and darts_stn_fer pipelines and their comparison (seed 002)."""

from expression_nas.pipelines.darts_fer.pipeline import create_pipeline

__all__ = ["create_pipeline"]
