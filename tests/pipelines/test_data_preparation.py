"""End-to-end runs of the data_preparation pipeline on tiny demo corpora, through the project's
own catalog factories and parameters (paths redirected into a temporary folder)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from expression_nas.corpora.casme2 import load_casme2
from expression_nas.demo import generate_demo_corpus
from expression_nas.parameters import InvalidParametersError, check_parameters
from expression_nas.pipelines.data_preparation.pipeline import corpus_pipeline

PROJECT = Path(__file__).resolve().parents[2]
#: Small generator settings per corpus kind, so a run takes seconds.
TINY_DEMO = {
    "casme2": {"samples_per_class": 1},
    "fer2013": {"training": (3, 1, 3, 3, 3, 3, 3), "test": (1, 1, 1, 1, 1, 1, 1)},
    "ckplus": {"n_subjects": 3, "unlabelled": 1},
    "jaffe": {"n_subjects": 3, "repetitions": 1},
}


def _config() -> tuple[dict, dict]:
    loader = OmegaConfigLoader(
        conf_source=str(PROJECT / "conf"), base_env="base", default_run_env="base"
    )
    return loader["catalog"], loader["parameters"]


def _merge(base: dict, override: dict) -> dict:
    """``base`` with the nested keys of ``override`` replaced (for tiny pipeline settings)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) else value
    return merged


def _run(corpus: str, tmp_path: Path, edit=None) -> DataCatalog:
    catalog_config, parameters = _config()
    for entry in catalog_config.values():
        if "filepath" in entry:
            entry["filepath"] = str(tmp_path / entry["filepath"])
    settings = copy.deepcopy(parameters["data_preparation"])
    for name, corpus_settings in settings["corpora"].items():
        root = corpus_settings["root"]
        if name.startswith("demo_"):
            corpus_settings["demo"] = TINY_DEMO.get(corpus_settings["kind"], True)
            corpus_settings["root"] = (
                {kind: str(tmp_path / path) for kind, path in root.items()}
                if isinstance(root, dict)
                else str(tmp_path / root)
            )
    if edit:
        edit(settings)
    catalog = DataCatalog.from_config(catalog_config)
    add_preparation_parameters(catalog, settings, [corpus])
    SequentialRunner().run(corpus_pipeline(corpus), catalog)
    return catalog


def add_preparation_parameters(catalog: DataCatalog, settings: dict, corpora: list[str]) -> None:
    """The typed ``data_preparation`` parameters the nodes of ``corpora`` take, checked and
    instantiated from ``settings`` as a Kedro session would."""
    typed = check_parameters({"data_preparation": settings})["data_preparation"]
    catalog["params:data_preparation.alignment"] = typed.alignment
    catalog["params:data_preparation.augmentation"] = typed.augmentation
    for corpus in corpora:
        catalog[f"params:data_preparation.corpora.{corpus}"] = typed.corpora[corpus]
        catalog[f"params:data_preparation.corpora.{corpus}.classes"] = typed.corpora[corpus].classes


def test_mer_corpus_end_to_end(tmp_path):
    catalog = _run("demo_casme2", tmp_path)
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_casme2/samples.parquet")
    clips = np.load(tmp_path / "data/03_primary/demo_casme2/clips.npy", mmap_mode="r")
    onset_apex = np.load(tmp_path / "data/03_primary/demo_casme2/onset_apex.npy")
    report = json.loads(
        (tmp_path / "data/08_reporting/demo_casme2/alignment_report.json").read_text()
    )

    for column in (
        "dataset",
        "subject",
        "sample_id",
        "label",
        "label_index",
        "onset",
        "apex",
        "offset",
        "n_frames_raw",
        "face_found",
        "detector_score",
        "frames_repaired",
    ):
        assert column in samples.columns, column
    assert clips.dtype == np.uint8 and clips.shape == (len(samples), 16, 80, 80)
    assert onset_apex.shape == (len(samples), 2, 80, 80)
    np.testing.assert_array_equal(onset_apex[:, 0], clips[:, 0])  # TIM keeps the onset
    assert samples["face_found"].all() and (samples["detector_score"] > 0.9).all()
    assert report["samples_aligned"] == len(samples) and report["samples_dropped"] == 0
    assert report["apex_imputed"] >= 1  # the demo sheet carries CASME II's "/" apex erratum
    classes = ["happiness", "disgust", "repression", "surprise"]
    assert samples["label_index"].tolist() == [classes.index(x) for x in samples["label"]]

    augmented = catalog.load("demo_casme2.augmented_samples")
    augmented_clips = catalog.load("demo_casme2.augmented_clips")
    assert len(augmented) == len(augmented_clips) == 2 * len(samples)
    originals = augmented["copy"] == 0
    np.testing.assert_array_equal(augmented_clips[originals.to_numpy()], clips)
    assert (
        augmented["subject"] == samples["subject"].iloc[augmented["source_row"]].to_numpy()
    ).all()


def test_a_corrupt_frame_is_repaired_and_reported(tmp_path):
    corrupt = {}

    def corrupt_one_frame(settings):
        corpus = settings["corpora"]["demo_casme2"]
        # generated here with the tiny settings; without `demo` the run reads it as it is
        root = generate_demo_corpus("casme2", corpus["root"], **corpus.pop("demo"))
        sample = load_casme2(root).iloc[0]
        corrupt.update(sample_id=sample["sample_id"], file=sample["frames"][2])
        Path(corrupt["file"]).write_bytes(b"not a jpeg")

    _run("demo_casme2", tmp_path, corrupt_one_frame)
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_casme2/samples.parquet")
    report = json.loads(
        (tmp_path / "data/08_reporting/demo_casme2/alignment_report.json").read_text()
    )
    assert report["samples_dropped"] == 0 and report["frames_unreadable"] == 1
    [listed] = report["unreadable_files"]
    assert listed["sample_id"] == corrupt["sample_id"] and listed["file"] == corrupt["file"]
    unreadable = samples.set_index("sample_id")["frames_unreadable"]
    assert unreadable[corrupt["sample_id"]] == 1 and unreadable.sum() == 1


def test_composite_maps_three_sources_to_three_classes(tmp_path):
    _run("demo_composite", tmp_path)
    samples = pd.read_parquet(tmp_path / "data/03_primary/demo_composite/samples.parquet")
    assert set(samples["label"]) == {"negative", "positive", "surprise"}
    assert set(samples["dataset"]) == {"casme2", "samm", "smic"}
    assert samples.groupby("subject")["dataset"].nunique().max() == 1


def test_fer_stills_end_to_end(tmp_path):
    catalog = _run("demo_jaffe", tmp_path)
    images = catalog.load("demo_jaffe.clips")
    samples = catalog.load("demo_jaffe.samples")
    assert images.shape == (len(samples), 48, 48)
    assert set(samples["label"]) == {
        "anger",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sadness",
        "surprise",
    }


def test_unknown_class_in_parameters_is_a_clear_error(tmp_path):
    def misspell(settings):
        settings["corpora"]["demo_smic"]["classes"] = ["negative", "positiv"]

    with pytest.raises(
        InvalidParametersError, match=r"data_preparation\.corpora\.demo_smic.*positiv"
    ):
        _run("demo_smic", tmp_path, misspell)
    assert not (tmp_path / "data/02_intermediate/demo_smic").exists()  # before any node ran
