"""Project settings (https://docs.kedro.org/en/stable/kedro_project_setup/settings.html)."""

import os

from kedro.config import OmegaConfigLoader

# Telemetry and analytics reach for the network and slow every command; off in every entry point.
for variable, value in {
    "KEDRO_DISABLE_TELEMETRY": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "DVC_NO_ANALYTICS": "1",
}.items():
    os.environ.setdefault(variable, value)

# imported once the variables are set: it imports MLflow
from expression_nas.hooks import (  # noqa: E402
    ParameterCheckHook,
    RunLifecycleHook,
    TypedParamsMlflowHook,
)

# kedro-mlflow's own hook is replaced by a subclass that logs typed parameters by their keys;
# RunLifecycleHook names the runs and ends them KILLED on SIGINT / SIGTERM (hooks.py).
HOOKS = (ParameterCheckHook(), TypedParamsMlflowHook(), RunLifecycleHook())
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (or --params) overrides single keys, e.g. only a corpus root, and keeps
    # the rest of base's nested settings.
    "merge_strategy": {"parameters": "soft"},
}
