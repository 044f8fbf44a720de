"""The parameter contract of every pipeline: one pydantic model per top-level parameter key
(``data_preparation``, ``rnas_mer``, ``darts_fer``, ``surrogate_hpo_fer``, ``cross_database``,
``efficientnet_fer``, ``global_nas_fer``), with nested models for its sections, the demo's
settings (``conf/base``) as defaults, units and ranges in the field descriptions, and unknown
keys refused.

Where it sits: the layers run pipelines -> experiments -> library (DESIGN.md sec. 9), and each
uses only those below. The nodes take these models (Kedro instantiates them from
``params:<key>`` before the run, ``kedro.validation``) and hand them to the experiments, so the
models sit below both, in a package of their own that imports neither Kedro nor torch: the
project settings, tests and notebooks can check parameters without loading a network.
``experiments.library_configs`` is the one place that turns them into the library's own
configs (``RnasSearchConfig``, ``SearchSettings``, ``OptimizerConfig``, ...); library code
never sees a parameter dict.

A new pipeline adds ``parameters/<name>.py`` and its key to ``PARAMETER_MODELS``.
"""

from expression_nas.parameters.contract import (
    PARAMETER_MODELS,
    InvalidParametersError,
    check_parameters,
)
from expression_nas.parameters.cross_database import CrossDatabaseParams
from expression_nas.parameters.darts_fer import DartsFerParams
from expression_nas.parameters.data_preparation import (
    AlignmentParams,
    AugmentationParams,
    CorpusParams,
    DataPreparationParams,
)
from expression_nas.parameters.efficientnet_fer import EfficientnetFerParams
from expression_nas.parameters.global_nas_fer import GlobalNasFerParams
from expression_nas.parameters.rnas_mer import RnasMerParams
from expression_nas.parameters.surrogate_hpo_fer import SurrogateHpoFerParams

__all__ = [
    "PARAMETER_MODELS",
    "AlignmentParams",
    "AugmentationParams",
    "CorpusParams",
    "CrossDatabaseParams",
    "DartsFerParams",
    "DataPreparationParams",
    "EfficientnetFerParams",
    "GlobalNasFerParams",
    "InvalidParametersError",
    "RnasMerParams",
    "SurrogateHpoFerParams",
    "check_parameters",
]
