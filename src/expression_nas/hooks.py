"""Project hooks (registered in ``settings.py``): the parameter check before anything runs,
the process group of a run under ``torchrun``, kedro-mlflow's parameter logging for typed
parameters, and what a pipeline run is in MLflow from its start to however it stops (names,
labels, interruptions, orphans, resumption)."""

from __future__ import annotations

import logging
from typing import Any

import mlflow
from kedro.framework.context import KedroContext
from kedro.framework.hooks import hook_impl
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro_mlflow.framework.hooks import MlflowHook
from mlflow.tracking import MlflowClient
from pydantic import BaseModel

from expression_nas import distributed, interruptions, tracking
from expression_nas.parameters import check_parameters


class ParameterCheckHook:
    """Checks every pipeline's parameters (``parameters.PARAMETER_MODELS``) as soon as the
    context exists, before the catalog, the pipelines or MLflow are set up, so that a wrong
    value stops the run within seconds with each problem named by its full key."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        check_parameters(context.config_loader["parameters"])


class DistributedHook:
    """Under ``torchrun``: every worker joins the process group before anything else runs and
    leaves it when the pipeline ends; the workers other than rank 0 log warnings only (their
    nodes, saves and MLflow are rank 0's, ``settings.py``). Without torchrun: nothing."""

    @hook_impl(tryfirst=True)
    def after_context_created(self, context: KedroContext) -> None:
        if distributed.init() and not distributed.is_main():
            logging.getLogger().setLevel(logging.WARNING)
            for name in ("kedro", "expression_nas"):
                logging.getLogger(name).setLevel(logging.WARNING)

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        distributed.shutdown()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        distributed.shutdown()


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


class RunLifecycleHook:
    """What a pipeline run is in MLflow, from its start to however it stops.

    - At the start (after kedro-mlflow opened the run): the run is named and labelled
      (pipeline, variant: ``tracking``), tagged with its process (host, PID) and its command
      (``interruptions.command_key``), and the parameters users compare get short columns
      of their own (``tracking.COMPARED``). Runs left RUNNING by a process of this host that
      no longer exists are marked KILLED; if the last run of the same command did not finish,
      this one is tagged ``resumes_run_id`` with its id. The experiment gets the tags of
      ``mlflow.yml`` it lacks (one created before them opens in MLflow's GenAI view).
    - Before each node: the node and its labels (corpus, variant) for the runs it opens.
    - SIGINT and SIGTERM, for the whole run, here only (``interruptions``): every open run ends
      KILLED with the signal, node and epoch, and the process exits 130 / 143.
    - An exception: the pipeline run gets the error as a tag; kedro-mlflow ends it FAILED.
    """

    def __init__(self) -> None:
        self._experiment_tags: dict[str, str] = {}
        self._rename = True  # unless mlflow.yml names the run, or it was open before Kedro
        self._pipeline: str | None = None
        self._run_id: str | None = None

    @hook_impl(trylast=True)  # after kedro-mlflow's, which reads mlflow.yml
    def after_context_created(self, context: KedroContext) -> None:
        config = getattr(context, "mlflow", None)
        if config is not None:
            tags = config.tracking.experiment.create_experiment_kwargs.tags
            self._experiment_tags = dict(tags or {})
            self._rename = config.tracking.run.name is None and config.tracking.run.id is None

    @hook_impl(trylast=True)  # after kedro-mlflow's, which opens the run
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        interruptions.install()
        names = run_params.get("pipeline_names") or ["__default__"]
        self._pipeline = "+".join([names] if isinstance(names, str) else names)
        run = mlflow.active_run()
        self._run_id = run.info.run_id if run is not None else None
        if run is None:
            return
        compared = tracking.compared_parameters(_pipeline_parameters(pipeline, catalog))
        tracking.set_labels(pipeline=self._pipeline, variant=compared.get("variant"))
        key = interruptions.command_key(run_params)
        mlflow.set_tags(
            {
                **tracking.current_labels(),
                **interruptions.process_tags(),
                interruptions.COMMAND_KEY_TAG: key,
            }
        )
        client = MlflowClient()
        if self._rename:
            name = tracking.run_name("", tracking.current_labels())
            client.update_run(run.info.run_id, name=name)
        mlflow.log_params(compared)
        present = client.get_experiment(run.info.experiment_id).tags
        for name, value in self._experiment_tags.items():
            if name not in present:
                client.set_experiment_tag(run.info.experiment_id, name, value)
        interruptions.mark_orphaned_runs(client, found_by=run.info.run_id)
        interruptions.link_resumed_run(client, run.info, key)

    @hook_impl
    def before_node_run(self, node: Node, catalog: Any, inputs: dict[str, Any]) -> None:
        interruptions.set_node(node.name)
        tracking.set_labels(**node_labels(node, inputs, catalog, self._pipeline))

    @hook_impl
    def after_node_run(self, node: Node) -> None:
        interruptions.set_node(None)
        tracking.set_labels(pipeline=self._pipeline)

    @hook_impl(tryfirst=True)  # before kedro-mlflow's, which ends the runs FAILED
    def on_pipeline_error(self, error: Exception) -> None:
        # the nested runs got the error as it passed them (``tracking.nested_run``)
        if self._run_id is not None:
            client = MlflowClient()
            for key, value in interruptions.error_tags(error).items():
                client.set_tag(self._run_id, key, value)
        self._finish()

    @hook_impl
    def after_pipeline_run(self) -> None:
        self._finish()

    def _finish(self) -> None:
        interruptions.uninstall()
        interruptions.set_node(None)
        tracking.set_labels()
        self._run_id = None


def node_labels(
    node: Node, inputs: dict[str, Any], catalog: Any, pipeline: str | None
) -> dict[str, str | None]:
    """A node's labels: its corpus (the one whose preparation parameters it reads, else its
    namespace when that is a corpus), its pipeline (its namespace when that is not a corpus,
    e.g. ``darts_stn_fer`` within ``darts_comparison``, else the run's) and its variant."""
    corpora = {
        name.removeprefix(CORPUS_PARAMETERS).split(".")[0]
        for name in node.inputs
        if name.startswith(CORPUS_PARAMETERS)
    }
    namespace = (node.namespace or "").split(".")[0] or None
    namespace_is_corpus = namespace is not None and _has(catalog, CORPUS_PARAMETERS + namespace)
    corpus = next(iter(corpora)) if len(corpora) == 1 else None
    if corpus is None and namespace_is_corpus:
        corpus = namespace
    variants = {
        str(variant)
        for name, value in inputs.items()
        if name.startswith("params:")
        and (variant := tracking.parameter(_as_read(value), "variant")) is not None
    }
    return {
        "pipeline": namespace if namespace and not namespace_is_corpus else pipeline,
        "corpus": corpus,
        "variant": next(iter(variants)) if len(variants) == 1 else None,
    }


CORPUS_PARAMETERS = "params:data_preparation.corpora."


def _has(catalog: Any, name: str) -> bool:
    try:
        return name in catalog
    except TypeError:
        return False


def _as_read(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _pipeline_parameters(pipeline: Pipeline, catalog: Any) -> dict[str, Any]:
    """The top-level parameter entries (``params:rnas_mer``) the pipeline reads, by key."""
    return {
        name.removeprefix("params:"): _as_read(catalog.load(name))
        for name in sorted(pipeline.inputs())
        if name.startswith("params:") and "." not in name
    }
