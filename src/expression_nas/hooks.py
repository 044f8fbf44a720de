"""Project hooks (registered in ``settings.py``): the parameter check before anything runs, and
kedro-mlflow's parameter logging for typed parameters."""

from __future__ import annotations

from typing import Any

from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline.node import Node
from kedro_mlflow.framework.hooks import MlflowHook
from pydantic import BaseModel

from expression_nas.parameters import check_parameters


class ParameterCheckHook:
    """Checks every pipeline's parameters (``parameters.PARAMETER_MODELS``) as soon as the
    context exists, before the catalog, the pipelines or MLflow are set up, so that a wrong
    value stops the run within seconds with each problem named by its full key."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        check_parameters(context.config_loader["parameters"])


class TypedParamsMlflowHook(MlflowHook):
    """kedro-mlflow's hook, logging a typed parameter model as the mapping it was read from.

    kedro-mlflow flattens only dicts (``rnas_mer.search.epochs``) and would log a model as one
    long string; the keys given in the configuration, and only those, keep their names."""

    @hook_impl
    def before_node_run(
        self, node: Node, catalog: Any, inputs: dict[str, Any], is_async: bool
    ) -> None:
        as_read = {
            name: value.model_dump(mode="json", exclude_unset=True)
            if isinstance(value, BaseModel)
            else value
            for name, value in inputs.items()
        }
        super().before_node_run(node, catalog, as_read, is_async)
