"""Evaluation: MER metrics, LOSO and cross-database protocols (common label spaces, the
target-fold protocol), model cost profiling."""

from expression_nas.evaluation.metrics import (
    classification_metrics,
    confusion_matrix_figure,
    metrics_by_group,
    score_matrix_heatmap,
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
    LabelSpace,
    RowView,
    common_label_space,
    harmonize_labels,
    loso_folds,
    run_loso,
    subject_groups,
    subject_validation_split,
)
from expression_nas.evaluation.target_fold import choose_epoch, rotation_scores, target_folds

__all__ = [
    "BASIC_EMOTION_SYNONYMS",
    "Fold",
    "FoldView",
    "LabelSpace",
    "RowView",
    "choose_epoch",
    "classification_metrics",
    "common_label_space",
    "confusion_matrix_figure",
    "count_flops",
    "count_parameters",
    "harmonize_labels",
    "inference_latency_ms",
    "loso_folds",
    "metrics_by_group",
    "peak_memory_mb",
    "profile_model",
    "rotation_scores",
    "run_loso",
    "score_matrix_heatmap",
    "subject_groups",
    "subject_validation_split",
    "target_folds",
]
