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
from expression_nas.catalog.rank_zero import RankZeroCatalog  # noqa: E402
from expression_nas.distributed import env_rank  # noqa: E402
from expression_nas.hooks import (  # noqa: E402
    DistributedHook,
    ParameterCheckHook,
    RunLifecycleHook,
    TypedParamsMlflowHook,
)

# kedro-mlflow's own hook is replaced by a subclass that logs typed parameters by their keys;
# RunLifecycleHook names the runs and ends them KILLED on SIGINT / SIGTERM (hooks.py).
# Under torchrun only rank 0 gets kedro-mlflow's hook, so no other rank ever opens a run (every
# tracking helper is then a no-op there), and only rank 0's catalog writes (RankZeroCatalog).
HOOKS = (
    DistributedHook(),
    ParameterCheckHook(),
    *([TypedParamsMlflowHook()] if env_rank() == 0 else []),
    RunLifecycleHook(),
)
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
DATA_CATALOG_CLASS = RankZeroCatalog

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # An environment (or --params) overrides single keys, e.g. only a corpus root, and keeps
    # the rest of base's nested settings.
    "merge_strategy": {"parameters": "soft"},
}
