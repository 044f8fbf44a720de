"""``data_preparation``: the parameters of the data_preparation pipeline, in
``conf/base/parameters_data_preparation.yml`` (every corpus, the demo's shared settings as the
defaults here) and ``conf/<corpus>/parameters_data_preparation.yml`` (a real corpus's root).

Each corpus entry (``data_preparation.corpora.<name>``) is one ``CorpusParams``; its
``alignment`` holds only the settings that differ from the shared ``data_preparation.alignment``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from expression_nas.corpora.registry import VOCABULARIES
from expression_nas.parameters.common import ParameterModel, PositiveInt, Seed

CorpusKind = Literal["casme2", "samm", "smic", "composite", "fer2013", "ckplus", "jaffe"]
#: Corpus kinds made of clips, which are resampled to a fixed length.
CLIP_KINDS = ("casme2", "samm", "smic", "composite")


class AlignmentParams(ParameterModel):
    """Face alignment with facenet-pytorch's MTCNN (``preprocessing.alignment``)."""

    enabled: bool = Field(
        True, description="false: only resize (corpora that ship face crops, e.g. FER2013)"
    )
    size: int = Field(80, ge=8, description="side of the output crop in pixels: 80 MER, 48 FER")
    grayscale: bool = Field(True, description="one gray channel instead of RGB")
    detect: Literal["per_clip", "per_frame"] = Field(
        "per_clip",
        description="per_clip: one detection on the onset frame (or a neighbour), one transform "
        "for the clip; per_frame: a detection and transform per frame",
    )
    max_reference_shift: int = Field(
        5, ge=0, description="frames after the onset tried when the onset has no face"
    )
    missing_face: Literal["repair", "drop"] = Field(
        "repair",
        description="per_frame only: a frame without a face takes its nearest frame's transform "
        "(repair) or is removed (drop)",
    )
    unreadable_frame: Literal["repair", "drop_clip", "error"] = Field(
        "repair",
        description="a frame file that cannot be read: replaced by its nearest readable frame "
        "(repair), its clip dropped (drop_clip), or the run stopped (error)",
    )
    multiple_faces: Literal["largest", "central"] = Field(
        "largest", description="which face to align when the detector finds several"
    )
    min_score: float = Field(
        0.9, ge=0.0, le=1.0, description="lowest MTCNN probability accepted as a face"
    )
    face_scale: float = Field(
        0.85,
        gt=0.0,
        description="share of the crop the canonical landmarks span (1: the template's; "
        "smaller leaves more margin)",
    )
    min_face_size: int = Field(20, ge=1, description="smallest face MTCNN looks for, in pixels")


class AugmentationParams(ParameterModel):
    """Augmented copies of every sample, one random transform per clip applied to all its
    frames (``preprocessing.augmentation``; seed 003 sec. 4.2.4)."""

    seed: Seed = Field(0, description="seed of the transforms and of the class-balancing draw")
    copies: int = Field(1, ge=0, description="augmented copies per sample")
    balance_classes: bool = Field(
        False, description="fill every class up to (1 + copies) times the largest one"
    )
    flip: bool = Field(True, description="random horizontal flip")
    rotation_deg: float = Field(10.0, ge=0.0, le=180.0, description="rotation within +-degrees")
    translation: float = Field(
        0.1, ge=0.0, lt=1.0, description="shift within +- this share of the side"
    )
    zoom: float = Field(0.1, ge=0.0, lt=1.0, description="scale within 1 +- zoom")
    contrast: float = Field(0.1, ge=0.0, description="contrast factor within 1 +- contrast")
    brightness: float = Field(0.1, ge=0.0, description="brightness factor within 1 +- brightness")


class CompositeRoots(ParameterModel):
    """The roots of the composite's three source corpora."""

    casme2: str | None = Field(None, description="folder of CASME II (see the casme2 entry)")
    samm: str | None = Field(None, description="folder of SAMM")
    smic: str | None = Field(None, description="folder of SMIC (holding HS/)")


class LoaderOptions(ParameterModel):
    """Options of a corpus kind's loader (``corpora.<kind>.load_<kind>``); each kind takes only
    its own."""

    variant: Literal["raw", "cropped"] | None = Field(
        None,
        description="casme2: CASME2_RAW_selected (raw) or Cropped/subXX/EPxx_yy/reg_imgN.jpg",
    )
    casme2_variant: Literal["raw", "cropped"] | None = Field(
        None, description="composite: the variant of its CASME II source"
    )
    include_neutral: bool | None = Field(
        None, description="ckplus: also take each sequence's first (neutral) frame"
    )
    peak_frames: PositiveInt | None = Field(
        None, description="ckplus: last frames of each sequence taken as its expression"
    )


#: corpus kind -> the loader options it takes
LOADER_OPTIONS: dict[str, frozenset[str]] = {
    "casme2": frozenset({"variant"}),
    "composite": frozenset({"casme2_variant"}),
    "ckplus": frozenset({"include_neutral", "peak_frames"}),
}


class CorpusParams(ParameterModel):
    """One corpus (``data_preparation.corpora.<name>``): where it is, which classes to keep and
    how its samples are normalised."""

    kind: CorpusKind = Field(description="which loader reads the corpus layout")
    root: str | CompositeRoots | None = Field(
        description="folder of the corpus (composite: one per source); null until set in "
        "conf/<corpus>/"
    )
    demo: bool | dict[str, Any] = Field(
        False,
        description="generate the synthetic demo corpus at root first: true, or a mapping of "
        "generator settings (keys of expression_nas.demo.generate.DEFAULTS[kind])",
    )
    loader: LoaderOptions = LoaderOptions()
    length: PositiveInt | None = Field(
        None, description="frames of every normalised clip (clip corpora only)"
    )
    interpolation: Literal["tim", "linear"] = Field(
        "tim",
        description="resampling to length: the temporal interpolation model (TIM) or linear",
    )
    classes: list[str] = Field(
        min_length=1,
        description="labels to keep, in class-index order; samples of other labels are excluded",
    )
    label_map: dict[str, str] = Field(
        default_factory=dict, description="label -> label applied before selecting classes"
    )
    alignment: AlignmentParams = Field(
        AlignmentParams(),
        description="the keys given here override data_preparation.alignment for this corpus",
    )

    @model_validator(mode="after")
    def _consistent_with_kind(self) -> CorpusParams:
        composite = self.kind == "composite"
        if self.root is not None and isinstance(self.root, CompositeRoots) != composite:
            expected = "a mapping of casme2, samm and smic roots" if composite else "one folder"
            raise ValueError(f"the root of a {self.kind} corpus must be {expected}")
        unknown_options = self.loader.model_fields_set - LOADER_OPTIONS.get(self.kind, set())
        if unknown_options:
            allowed = sorted(LOADER_OPTIONS.get(self.kind, ())) or "none"
            raise ValueError(
                f"loader options {sorted(unknown_options)} do not apply to kind {self.kind!r} "
                f"(it takes {allowed})"
            )
        if self.kind in CLIP_KINDS and self.length is None:
            raise ValueError(f"a {self.kind} corpus needs a clip length")
        if self.kind not in CLIP_KINDS and self.length is not None:
            raise ValueError(f"length applies to clip corpora only, not to {self.kind}")
        known = set(VOCABULARIES[self.kind]) | set(self.label_map.values())
        unknown_classes = [name for name in self.classes if name not in known]
        if unknown_classes:
            raise ValueError(
                f"classes {unknown_classes} are not labels of corpus kind {self.kind!r}; "
                f"expected some of {sorted(known)}"
            )
        return self

    @property
    def root_is_set(self) -> bool:
        if isinstance(self.root, CompositeRoots):
            return None not in self.root.model_dump().values()
        return self.root is not None

    def source_roots(self) -> dict[str, str]:
        """Source corpus kind -> its root: the composite's three sources, else the corpus."""
        if isinstance(self.root, CompositeRoots):
            return self.root.model_dump()
        return {self.kind: self.root}

    def loader_arguments(self) -> dict[str, Any]:
        """Keyword arguments of ``corpora.registry.load_corpus`` for this corpus."""
        roots = self.source_roots() if self.kind == "composite" else {"root": self.root}
        return {**roots, **self.loader.model_dump(exclude_unset=True)}

    def alignment_over(self, shared: AlignmentParams) -> AlignmentParams:
        """``shared`` with this corpus's own alignment keys in their place."""
        return shared.model_copy(
            update=self.alignment.model_dump(include=self.alignment.model_fields_set)
        )


class DataPreparationParams(ParameterModel):
    """``data_preparation``: the alignment and augmentation every corpus shares, and the
    corpora."""

    alignment: AlignmentParams = AlignmentParams()
    augmentation: AugmentationParams = AugmentationParams()
    corpora: dict[str, CorpusParams] = Field(
        description="corpus name (the pipeline's namespace, e.g. demo_casme2) -> its settings"
    )
