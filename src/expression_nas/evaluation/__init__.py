"""Evaluation: MER metrics, LOSO and cross-database protocols, model cost profiling."""

from expression_nas.evaluation.metrics import (
    classification_metrics,
    confusion_matrix_figure,
    metrics_by_group,
)
from expression_nas.evaluation.profiling import (
    count_flops,
    count_parameters,
    inference_latency_ms,
    peak_memory_mb,
    profile_model,
)
from expression_nas.evaluation.protocols import (
    BASIC_EMOTION_SYNONYMS,
    Fold,
    FoldView,
    RowView,
    harmonize_labels,
    loso_folds,
    run_loso,
    subject_groups,
    subject_validation_split,
)

__all__ = [
    "BASIC_EMOTION_SYNONYMS",
    "Fold",
    "FoldView",
    "RowView",
    "classification_metrics",
    "confusion_matrix_figure",
    "count_flops",
    "count_parameters",
    "harmonize_labels",
    "inference_latency_ms",
    "loso_folds",
    "metrics_by_group",
    "peak_memory_mb",
    "profile_model",
    "run_loso",
    "subject_groups",
    "subject_validation_split",
]
