from pathlib import Path

import yaml
from kedro.config import OmegaConfigLoader

from expression_nas.pipeline_registry import register_pipelines
from expression_nas.pipelines.data_preparation.pipeline import CORPORA, DEMO_CORPORA
from expression_nas.settings import CONFIG_LOADER_ARGS

PROJECT = Path(__file__).resolve().parents[1]


def test_every_corpus_has_a_preparation_pipeline_and_a_default_exists():
    pipelines = register_pipelines()
    assert "__default__" in pipelines
    for name in CORPORA:
        outputs = pipelines[f"prepare_{name}"].all_outputs()
        assert {f"{name}.samples", f"{name}.clips", f"{name}.alignment_report"} <= outputs
    demo_outputs = pipelines["data_preparation"].all_outputs()
    assert {f"{name}.samples" for name in DEMO_CORPORA} <= demo_outputs
    assert not any(output.startswith("casme2.") for output in demo_outputs)


def test_each_real_corpus_environment_sets_only_its_root():
    parameters = yaml.safe_load((PROJECT / "conf/base/parameters_data_preparation.yml").read_text())
    for name in (name for name in CORPORA if not name.startswith("demo_")):
        env = yaml.safe_load((PROJECT / f"conf/{name}/parameters_data_preparation.yml").read_text())
        assert list(env["data_preparation"]["corpora"]) == [name]
        assert list(env["data_preparation"]["corpora"][name]) == ["root"]
        assert name in parameters["data_preparation"]["corpora"]


def test_telemetry_is_off():
    assert "consent: false" in (PROJECT / ".telemetry").read_text()
    assert "analytics = false" in (PROJECT / ".dvc/config").read_text()


def test_darts_pipelines_read_their_own_corpora_and_each_has_a_protocol():
    pipelines = register_pipelines()
    parameters = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"), **{**CONFIG_LOADER_ARGS, "default_run_env": "fer"}
    )["parameters"]
    for suffix, corpora in (
        ("", ("demo_fer2013", "demo_ckplus", "demo_jaffe")),
        ("_real", ("fer2013", "ckplus", "jaffe")),
    ):
        comparison = pipelines[f"darts_comparison{suffix}"]
        for method in ("darts_fer", "darts_stn_fer"):
            outputs = pipelines[f"{method}{suffix}"].all_outputs()
            assert {f"{method}{suffix}.metrics_{corpus}" for corpus in corpora} <= outputs
            assert f"{method}{suffix}.summary" in comparison.all_outputs()
        read = {name.split(".")[0] for name in comparison.all_inputs() | comparison.all_outputs()}
        assert {c for c in CORPORA if c in read} == set(corpora)
        for corpus in corpora:
            assert parameters["darts_fer"]["evaluation"][corpus]["protocol"] in (
                "standard_split",
                "kfold",
            )
    # the fer environment carries DARTS' settings on top of the base ones
    assert parameters["darts_fer"]["search_space"]["layers"] == 8
    assert parameters["darts_fer"]["final_network"] == {
        "channels": 36,
        "layers": 20,
        "dropout": 0.0,
        "cell_dropout": 0.0,
    }
    assert parameters["darts_fer"]["training"]["momentum"] == 0.9


def test_efficientnet_pipelines_read_their_own_corpora_and_search_on_fer2013():
    pipelines = register_pipelines()
    for name, corpora in (
        ("efficientnet_fer", ("demo_fer2013", "demo_ckplus", "demo_jaffe")),
        ("efficientnet_fer_real", ("fer2013", "ckplus", "jaffe")),
    ):
        pipeline = pipelines[name]
        outputs = pipeline.all_outputs()
        assert {f"{name}.metrics_{corpus}" for corpus in corpora} <= outputs
        assert {f"{name}.search_report", f"{name}.optuna_param_importances"} <= outputs
        read = {item.split(".")[0] for item in pipeline.all_inputs() | outputs}
        assert {c for c in CORPORA if c in read} == set(corpora)
        (search,) = [node for node in pipeline.nodes if node.name == f"{name}.search"]
        assert f"{corpora[0]}.clips" in search.inputs


def test_every_node_carries_one_stage_tag():
    """Stage tags group the nodes in kedro-viz's tag filter and select them on the command
    line (``kedro run --pipelines=rnas_mer --tags=search``)."""
    stages = {"preparation", "search", "evaluation", "release", "report"}
    for name, pipeline in register_pipelines().items():
        for node in pipeline.nodes:
            assert len(node.tags & stages) == 1, f"{name}: {node.name} has tags {node.tags}"


def test_global_nas_pipelines_read_their_own_corpora_and_search_on_fer2013():
    pipelines = register_pipelines()
    for name, corpora in (
        ("global_nas_fer", ("demo_fer2013", "demo_ckplus", "demo_jaffe")),
        ("global_nas_fer_real", ("fer2013", "ckplus", "jaffe")),
    ):
        pipeline = pipelines[name]
        outputs = pipeline.all_outputs()
        assert {f"{name}.metrics_{corpus}" for corpus in corpora} <= outputs
        assert {f"{name}.candidates", f"{name}.relative_improvement"} <= outputs
        read = {item.split(".")[0] for item in pipeline.all_inputs() | outputs}
        assert {c for c in CORPORA if c in read} == set(corpora)
        for node_name in (f"{name}.search", f"{name}.random_baseline"):
            (node,) = [node for node in pipeline.nodes if node.name == node_name]
            assert f"{corpora[0]}.clips" in node.inputs
