"""``cross_database``: the parameters of the cross-database evaluation (seed 001 sec. 3.6), in
``conf/base/parameters_cross_database.yml`` (the demo's settings, the defaults here) and
``conf/fer/parameters_cross_database.yml`` (the real FER2013, CK+ and JAFFE)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from expression_nas.parameters.common import (
    BatchSize,
    Device,
    Epochs,
    LearningRate,
    ParameterModel,
    Seed,
    SgdTrainingParams,
    WeightDecay,
)

Protocol = Literal["direct", "target_fold"]
#: Spec keys that every training sets itself: the images' channels and the common classes.
PER_PAIR_SPEC_KEYS = ("in_channels", "num_classes")


def _plain_cnn_spec() -> dict[str, Any]:
    """The fixed reference CNN of ``models.plain_cnn_net`` (three stages of 16, 32, 64)."""
    return {"schema_version": 1, "family": "plain_cnn", "channels": [16, 32, 64], "dropout": 0.2}


class ArchitectureParams(ParameterModel):
    """The network trained on each training corpus: an inline spec, or the spec file a FER
    pipeline wrote (``data/06_models/darts_fer/architecture_spec.json``), so that searched
    cells are tested across databases too. ``in_channels`` and ``num_classes`` are set per
    training (the images' channels, the pair's common classes); ``build_model`` checks the
    rest before any corpus is read."""

    spec: dict[str, Any] = Field(
        default_factory=_plain_cnn_spec,
        description="an architecture spec (schema_version, family and the family's keys); "
        "used when file is null",
    )
    file: str | None = Field(
        None, description="a spec JSON file written by a search pipeline; replaces spec when set"
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="spec keys replaced after loading, e.g. {channels: 8, layers: 5} to train "
        "DARTS cells in a larger network, as darts_fer's final_network does",
    )

    @field_validator("spec")
    @classmethod
    def _looks_like_a_spec(cls, spec: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(spec.get("family"), str) or "schema_version" not in spec:
            raise ValueError("a spec needs 'schema_version' and a 'family' name")
        return spec

    @field_validator("overrides")
    @classmethod
    def _overrides_keep_the_family(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        fixed = sorted({"schema_version", "family", *PER_PAIR_SPEC_KEYS} & set(overrides))
        if fixed:
            raise ValueError(f"overrides may not set {fixed} (the spec's own or set per pair)")
        return overrides


class CrossDatabaseTrainingParams(SgdTrainingParams):
    """Training on the training corpus: fixed epochs of SGD, cosine learning rate. Training
    material: FER2013's Training usage, every image of CK+ and JAFFE, of the common classes."""

    epochs: Epochs = 12
    batch_size: BatchSize = 32
    lr: LearningRate = 0.02
    weight_decay: WeightDecay = 5.0e-4
    weighted_loss: bool = Field(
        False, description="class-weighted cross-entropy (inverse class frequency)"
    )


class TargetFoldParams(ParameterModel):
    """Seed 001's protocol: the test corpus's test material in ``folds`` folds, by subject
    where it has subjects (else stratified by class); each fold in turn chooses the training
    epoch and the others are scored; the scores are averaged over the rotations."""

    folds: int = Field(10, ge=2, description="folds of the test corpus (seed 001: 10)")
    usage: list[str] = Field(
        default_factory=lambda: ["PrivateTest"],
        min_length=1,
        description="on a test corpus with a usage column (FER2013), the usages that make its "
        "test material",
    )


class CrossDatabaseParams(ParameterModel):
    """``cross_database``: for every ordered pair (A, B) of the prepared FER corpora, train on
    A and test on B, on the classes both share."""

    seed: Seed = Field(0, description="seed of the initialisation, batch order and folds")
    device: Device = "auto"
    protocols: list[Protocol] = Field(
        default_factory=lambda: ["direct", "target_fold"],
        min_length=1,
        description="direct: the last epoch on every image of B, no target information; "
        "target_fold: the epoch chosen on one fold of B, scored on the others (seed 001). "
        "Both score the same training",
    )
    architecture: ArchitectureParams = ArchitectureParams()
    training: CrossDatabaseTrainingParams = CrossDatabaseTrainingParams()
    target_fold: TargetFoldParams = TargetFoldParams()

    @field_validator("protocols")
    @classmethod
    def _protocols_once_each(cls, protocols: list[str]) -> list[str]:
        if len(set(protocols)) != len(protocols):
            raise ValueError("a protocol is listed twice")
        return protocols
