from pathlib import Path

import yaml

from expression_nas.pipeline_registry import register_pipelines
from expression_nas.pipelines.data_preparation.pipeline import CORPORA, DEMO_CORPORA

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
