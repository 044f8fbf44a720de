"""Model families: spec["family"] -> builder and validator. Every search strategy writes a spec
of one of these families; training and evaluation only call ``build_model(spec)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from expression_nas.models.darts_net import FAMILY as DARTS_FAMILY
from expression_nas.models.darts_net import DartsNetwork, validate_darts_spec
from expression_nas.models.efficientnet_net import FAMILY as EFFICIENTNET_FAMILY
from expression_nas.models.efficientnet_net import build_efficientnet, validate_efficientnet_spec
from expression_nas.models.global_net import FAMILY as GLOBAL_FAMILY
from expression_nas.models.global_net import GlobalNetwork, validate_global_spec
from expression_nas.models.plain_cnn_net import FAMILY as PLAIN_CNN_FAMILY
from expression_nas.models.plain_cnn_net import PlainCnn, validate_plain_cnn_spec
from expression_nas.models.rnas_net import FAMILY as RNAS_FAMILY
from expression_nas.models.rnas_net import RnasNetwork, validate_rnas_spec
from expression_nas.models.surrogate_net import FAMILY as SURROGATE_FAMILY
from expression_nas.models.surrogate_net import SparseNetwork, validate_surrogate_spec
from expression_nas.nas.spec import validate_spec


@dataclass(frozen=True)
class ModelFamily:
    """``validate`` raises ValueError naming the offending key of an already normalised spec."""

    build: Callable[[dict[str, Any]], nn.Module]
    validate: Callable[[dict[str, Any]], None]


MODEL_FAMILIES: dict[str, ModelFamily] = {
    RNAS_FAMILY: ModelFamily(build=RnasNetwork, validate=validate_rnas_spec),
    DARTS_FAMILY: ModelFamily(build=DartsNetwork, validate=validate_darts_spec),
    PLAIN_CNN_FAMILY: ModelFamily(build=PlainCnn, validate=validate_plain_cnn_spec),
    SURROGATE_FAMILY: ModelFamily(build=SparseNetwork, validate=validate_surrogate_spec),
    EFFICIENTNET_FAMILY: ModelFamily(build=build_efficientnet, validate=validate_efficientnet_spec),
    GLOBAL_FAMILY: ModelFamily(build=GlobalNetwork, validate=validate_global_spec),
}


def build_model(spec: Mapping[str, Any]) -> nn.Module:
    """The network described by ``spec`` (validated first; unknown family -> ValueError)."""
    normalised = validate_spec(spec)
    return MODEL_FAMILIES[normalised["family"]].build(normalised)
