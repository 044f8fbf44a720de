"""Cross-database evaluation (seed 001 sec. 3.6): train on one FER corpus, test on another."""

from expression_nas.pipelines.cross_database.pipeline import create_pipeline

__all__ = ["create_pipeline"]
