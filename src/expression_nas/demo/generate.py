"""Writers of the six demo corpora, in the real corpora's on-disk layouts.

``generate_demo_corpus(kind, root, seed)`` writes a small synthetic look-alike of CASME II,
SAMM, SMIC-HS, FER2013, CK+ or JAFFE under ``root`` (layouts as in DESIGN.md section 3), so
the real loaders in ``expression_nas.corpora`` read it unchanged. The faces are real photos
shipped inside scikit-image and matplotlib (see ``faces``); the expressions are synthetic
motions (see ``motion``). Everything is offline and deterministic: the same kind, seed and
settings give byte-identical files.

The folder is claimed with a marker, ``.demo_corpus.json`` (kind, seed, settings, generator
version and the top-level entries written), written last. A folder whose marker matches is
left as it is; a folder with a different marker of ours is regenerated (only the entries
that marker lists are removed); any other non-empty folder is refused.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import os
import re
import shutil
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
from PIL import Image

from expression_nas.demo.faces import (
    corpus_identities,
    fer2013_pools,
    fer_identity,
    render_face,
)
from expression_nas.demo.motion import (
    EXPRESSIONS,
    MACRO_AMPLITUDE,
    MICRO_AMPLITUDE,
    MotionPlan,
    plan_motion,
    render_clip,
    render_still,
)

logger = logging.getLogger(__name__)

#: Bump when the same settings would produce different files.
GENERATOR_VERSION = 2
DEMO_KINDS = ("casme2", "samm", "smic", "fer2013", "ckplus", "jaffe")
MARKER_NAME = ".demo_corpus.json"
PARTIAL_MARKER_NAME = ".demo_corpus.partial.json"
README_NAME = "README_DEMO.txt"

#: The three composite (MEGC2019) classes every MER demo corpus covers equally.
COMPOSITE_CLASSES = ("negative", "positive", "surprise")

_MER_DEFAULTS: dict[str, Any] = {
    "n_subjects": 6,
    "samples_per_class": 2,
    "frames": (20, 40),  # clip length range (inclusive)
    "amplitude": MICRO_AMPLITUDE,
    "drift": 0.5,  # head drift (pixels) over a clip
    "noise": 1.2,  # sensor noise (gray levels)
}

#: Posed (FER) expressions: strong, with per-image head tilt (degrees), side light and noise.
_POSED_DEFAULTS: dict[str, Any] = {
    "amplitude": MACRO_AMPLITUDE,
    "shading": 2.5,
    "tilt": 6.0,
    "lighting": 0.3,
    "noise": 1.5,
}
#: Demo FER2013 images per class (``FER2013_CLASSES`` order): the real Training split scaled
#: to 200 surprise images, disgust raised to 45 (it would be 27); each test split (PublicTest,
#: PrivateTest) the real PublicTest scaled to 30 surprise images, disgust raised to 10.
FER2013_TRAINING = (252, 45, 258, 455, 305, 200, 313)
FER2013_TEST = (34, 10, 36, 65, 47, 30, 44)

#: Settings per kind; any of them can be overridden through ``generate_demo_corpus``.
DEFAULTS: dict[str, dict[str, Any]] = {
    "casme2": {**_MER_DEFAULTS, "size": 144, "errata": True},
    "samm": {**_MER_DEFAULTS, "size": 136, "margin": (2, 4), "errata": True},
    "smic": {**_MER_DEFAULTS, "size": 128},
    "fer2013": {**_POSED_DEFAULTS, "training": FER2013_TRAINING, "test": FER2013_TEST},
    "ckplus": {
        **_POSED_DEFAULTS,
        "n_subjects": 32,
        "frames": (6, 8),
        "size": 128,
        "unlabelled": 4,
    },
    "jaffe": {**_POSED_DEFAULTS, "n_subjects": 10, "repetitions": 3, "size": 128},
}
#: Settings that are a (low, high) range; other tuples hold one count per class.
RANGE_SETTINGS = ("frames", "margin")

#: Composite class -> source emotions (CASME II and SAMM spell them their own way).
CASME2_EMOTIONS = {
    "positive": ("happiness",),
    "negative": ("disgust", "repression"),
    "surprise": ("surprise",),
}
SAMM_EMOTIONS = {
    "positive": ("happiness",),
    "negative": ("anger", "contempt"),
    "surprise": ("surprise",),
}
SMIC_NEGATIVE = ("disgust", "sadness", "fear", "anger")
SAMM_OBJECTIVE_CLASSES = {
    "happiness": 1,
    "surprise": 2,
    "anger": 3,
    "disgust": 4,
    "fear": 5,
    "sadness": 6,
    "contempt": 7,
}
FER2013_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
CKPLUS_CODES = {
    "anger": 1,
    "contempt": 2,
    "disgust": 3,
    "fear": 4,
    "happiness": 5,
    "sadness": 6,
    "surprise": 7,
}
JAFFE_CODES = {
    "NE": "neutral",
    "HA": "happiness",
    "SA": "sadness",
    "SU": "surprise",
    "AN": "anger",
    "DI": "disgust",
    "FE": "fear",
}

CASME2_SUBJECTS = (1, 2, 4, 5, 9, 11, 12, 15, 17, 19, 20, 23, 24, 26)
SAMM_SUBJECTS = (6, 7, 9, 11, 14, 16, 17, 18, 20, 22, 26, 28, 30, 33)
SMIC_SUBJECTS = (1, 2, 3, 4, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)
CKPLUS_SUBJECTS = (5, 10, 11, 14, 22, 26, 32, 37, 42, 44, 50, 52, 55, 57)
JAFFE_SUBJECTS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")

#: Fixed timestamp written into the xlsx files (zip entries and document properties).
_XLSX_DATE = (2020, 1, 1, 0, 0, 0)


class DemoCorpusError(FileExistsError):
    """The target folder holds something that is not a demo corpus of ours."""


# --------------------------------------------------------------------------- helpers


def _rng(seed: int, kind: str, *keys: int) -> np.random.Generator:
    """Independent random stream for (seed, corpus, subject, sample, ...)."""
    return np.random.default_rng([seed, zlib.crc32(kind.encode()), *keys])


def _frames_range(config: dict[str, Any], rng: np.random.Generator) -> int:
    low, high = config["frames"]
    return int(rng.integers(low, high + 1))


def _subject_ids(base: Sequence[int], count: int) -> list[int]:
    """``count`` subject numbers: the real-looking ones first, then further numbers."""
    extra = range(max(base) + 1, max(base) + 1 + max(0, count - len(base)))
    return [*base[:count], *extra]


def _jaffe_subjects(count: int) -> list[str]:
    """JAFFE's two-letter subject codes, then further two-letter codes (letters only)."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    extra = (a + b for a in letters for b in letters if a + b not in JAFFE_SUBJECTS)
    return [*JAFFE_SUBJECTS[:count], *(next(extra) for _ in range(count - len(JAFFE_SUBJECTS)))]


def _mer_plan(
    rng: np.random.Generator,
    expression: str,
    config: dict[str, Any],
    *,
    n_frames: int,
    onset: int,
    offset: int,
    apex: int | None = None,
) -> MotionPlan:
    """A micro-expression plan: apex at 30-60 % of onset..offset unless given."""
    if apex is None:
        span = offset - onset
        apex = onset + round(span * rng.uniform(0.3, 0.6))
    return plan_motion(
        rng,
        expression,
        n_frames=n_frames,
        onset=onset,
        apex=apex,
        offset=offset,
        amplitude=config["amplitude"],
        drift=config["drift"],
        noise=config["noise"],
    )


def _posed_plan(
    rng: np.random.Generator, expression: str, config: dict[str, Any], n_frames: int = 1
) -> MotionPlan:
    """A posed (macro) expression rising from neutral at frame 0 to its peak at the end."""
    return plan_motion(
        rng,
        expression,
        n_frames=n_frames,
        onset=0,
        apex=n_frames - 1,
        offset=n_frames - 1,
        amplitude=config["amplitude"],
        amplitude_jitter=0.25,
        drift=0.3 if n_frames > 1 else 0.0,
        noise=config["noise"],
        residual=0.0,
        shading=config["shading"],
        tilt=config["tilt"],
        lighting=config["lighting"],
    )


def _save_image(array: np.ndarray, path: Path, image_format: str, **options: Any) -> None:
    image = Image.fromarray(array[:, :, 0] if array.shape[-1] == 1 else array)
    image.save(path, format=image_format, **options)


def _composite_labels(config: dict[str, Any]) -> list[str]:
    return [label for label in COMPOSITE_CLASSES for _ in range(config["samples_per_class"])]


def _pick_emotion(choices: Sequence[str], subject: int, sample: int) -> str:
    """Alternate the source emotions of a composite class over samples and subjects."""
    return choices[(subject + sample) % len(choices)]


def _write_xlsx(path: Path, rows: Sequence[Sequence[Any]], title: str) -> None:
    """Write one worksheet with a reproducible byte stream (fixed dates in the zip)."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    fixed = datetime.datetime(*_XLSX_DATE)
    workbook.properties.created = fixed
    workbook.properties.creator = "expression_nas.demo"
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    stamp = fixed.strftime("%Y-%m-%dT%H:%M:%SZ")
    with (
        zipfile.ZipFile(buffer) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + stamp.encode() + rb"\g<2>",
                    data,
                )
            entry = zipfile.ZipInfo(info.filename, date_time=_XLSX_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o600 << 16
            target.writestr(entry, data)


def _readme(kind: str, seed: int) -> str:
    return (
        f"SYNTHETIC DEMO CORPUS ({kind}, seed {seed}) written by expression_nas.demo.\n"
        "It only imitates the layout and metadata of the real corpus. The faces are public\n"
        "photos shipped with scikit-image (astronaut, lfw_subset) and matplotlib\n"
        "(grace_hopper); the expressions are synthetic warps (FACS-like action units).\n"
        "Results on it say nothing about real micro-/macro-expression recognition.\n"
    )


# --------------------------------------------------------------------------- MER corpora


def _mer_samples(config: dict[str, Any]) -> Iterator[tuple[int, int, str]]:
    """(subject position, sample position, composite class) of every clip."""
    labels = _composite_labels(config)
    for subject in range(config["n_subjects"]):
        for sample, label in enumerate(labels):
            yield subject, sample, label


def _write_casme2(root: Path, config: dict[str, Any], seed: int) -> None:
    kind = "casme2"
    subjects = _subject_ids(CASME2_SUBJECTS, config["n_subjects"])
    identities = corpus_identities(kind, config["n_subjects"])
    layout = _rng(seed, kind, 1_000_000)
    samples = list(_mer_samples(config))
    apex_erratum, offset_erratum = (
        layout.choice(len(samples), size=2, replace=False) if config["errata"] else (-1, -1)
    )
    episodes = {
        subject: [int(e) for e in layout.permutation(np.arange(1, 20))]
        for subject in range(len(subjects))
    }
    rows = []
    image_root = root / "CASME2_RAW_selected"
    for position, (subject, sample, label) in enumerate(samples):
        rng = _rng(seed, kind, subject, sample)
        emotion = _pick_emotion(CASME2_EMOTIONS[label], subject, sample)
        n_frames = _frames_range(config, rng)
        # the first clip straddles frame 100, the others start anywhere in 20..160
        onset = 100 - n_frames // 2 if position == 0 else int(rng.integers(20, 161))
        apex = (n_frames - 1) // 2 if position == apex_erratum else None
        plan = _mer_plan(
            rng, emotion, config, n_frames=n_frames, onset=0, offset=n_frames - 1, apex=apex
        )
        face = render_face(identities[subject], config["size"], color=True)
        frames = render_clip(face, plan, rng)
        episode = episodes[subject][sample % len(episodes[subject])]
        take = 1 + sample // len(episodes[subject])
        filename = f"EP{episode:02d}_{take:02d}" + ("f" if rng.uniform() < 0.4 else "")
        folder = image_root / f"sub{subjects[subject]:02d}" / filename
        folder.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            _save_image(frame, folder / f"img{onset + index}.jpg", "JPEG", quality=92)
        apex_cell: Any = "/" if position == apex_erratum else onset + plan.apex
        offset_cell = 0 if position == offset_erratum else onset + plan.offset
        rows.append(
            (
                subjects[subject],
                filename,
                onset + plan.onset,
                apex_cell,
                offset_cell,
                plan.action_units,
                emotion,
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    header = (
        "Subject",
        "Filename",
        "OnsetFrame",
        "ApexFrame",
        "OffsetFrame",
        "Action Units",
        "Estimated Emotion",
    )
    _write_xlsx(root / "CASME2-coding-demo.xlsx", [header, *rows], "Sheet1")


def _write_samm(root: Path, config: dict[str, Any], seed: int) -> None:
    kind = "samm"
    subjects = _subject_ids(SAMM_SUBJECTS, config["n_subjects"])
    identities = corpus_identities(kind, config["n_subjects"])
    samples = list(_mer_samples(config))
    layout = _rng(seed, kind, 1_000_000)
    apex_erratum = int(layout.integers(len(samples))) if config["errata"] else -1
    rows = []
    image_root = root / "SAMM"
    takes: dict[tuple[int, int], int] = {}
    for position, (subject, sample, label) in enumerate(samples):
        rng = _rng(seed, kind, subject, sample)
        emotion = _pick_emotion(SAMM_EMOTIONS[label], subject, sample)
        n_clip = _frames_range(config, rng)
        low, high = config["margin"]
        before, after = (int(rng.integers(low, high + 1)) for _ in range(2))
        n_frames = before + n_clip + after
        plan = _mer_plan(
            rng, emotion, config, n_frames=n_frames, onset=before, offset=before + n_clip - 1
        )
        face = render_face(identities[subject], config["size"], color=False)
        frames = render_clip(face, plan, rng)
        first = int(rng.integers(1000, 9000))
        inducement = SAMM_OBJECTIVE_CLASSES[emotion]
        takes[subject, inducement] = takes.get((subject, inducement), 0) + 1
        code = f"{subjects[subject]:03d}"
        filename = f"{code}_{inducement}_{takes[subject, inducement]}"
        folder = image_root / code / filename
        folder.mkdir(parents=True, exist_ok=True)
        for index, frame in enumerate(frames):
            _save_image(frame, folder / f"{code}_{first + index:05d}.jpg", "JPEG", quality=92)
        onset, apex, offset = (first + plan.onset, first + plan.apex, first + plan.offset)
        rows.append(
            (
                code,
                filename,
                inducement,
                onset,
                -1 if position == apex_erratum else apex,
                offset,
                offset - onset + 1,
                "Micro - 1/2",
                plan.action_units,
                "synthetic demo sample",
                emotion.capitalize(),
                SAMM_OBJECTIVE_CLASSES[emotion],
            )
        )
    rows.sort(key=lambda row: (row[0], row[1]))
    preamble: list[tuple[Any, ...]] = [
        ("SAMM: Spontaneous Actions and Micro-Movements -- SYNTHETIC DEMO look-alike",),
        ("Written by expression_nas.demo; not the real corpus.",),
        ("Faces: public sample photos shipped with scikit-image and matplotlib.",),
        ("Expressions: synthetic FACS-like warps.",),
        *[()] * 8,
        ("FACS codes",),
    ]
    header = (
        "Subject",
        "Filename",
        "Inducement Code",
        "Onset Frame",
        "Apex Frame",
        "Offset Frame",
        "Duration",
        "Type",
        "Action Units",
        "Notes",
        "Estimated Emotion",
        "Objective Classes",
    )
    assert len(preamble) == 13
    _write_xlsx(root / "SAMM_Micro_FACS_Codes_v2.xlsx", [*preamble, header, *rows], "FACS")


def _write_smic(root: Path, config: dict[str, Any], seed: int) -> None:
    kind = "smic"
    subjects = _subject_ids(SMIC_SUBJECTS, config["n_subjects"])
    identities = corpus_identities(kind, config["n_subjects"])
    short = {"negative": "ne", "positive": "po", "surprise": "sur"}
    counters: dict[tuple[int, str], int] = {}
    for subject, sample, label in _mer_samples(config):
        rng = _rng(seed, kind, subject, sample)
        expression = {"positive": "happiness", "surprise": "surprise"}.get(label)
        if expression is None:
            expression = SMIC_NEGATIVE[int(rng.integers(len(SMIC_NEGATIVE)))]
        n_frames = _frames_range(config, rng)
        plan = _mer_plan(rng, expression, config, n_frames=n_frames, onset=0, offset=n_frames - 1)
        face = render_face(identities[subject], config["size"], color=True)
        frames = render_clip(face, plan, rng)
        counters[subject, label] = counters.get((subject, label), 0) + 1
        name = f"s{subjects[subject]}"
        folder = (
            root
            / "HS"
            / name
            / "micro"
            / label
            / f"{name}_{short[label]}_{counters[subject, label]:02d}"
        )
        folder.mkdir(parents=True, exist_ok=True)
        first = int(rng.integers(1000, 90000))
        for index, frame in enumerate(frames):
            _save_image(frame, folder / f"image{first + index:06d}.bmp", "BMP")


# --------------------------------------------------------------------------- FER corpora


def _write_fer2013(root: Path, config: dict[str, Any], seed: int) -> None:
    """``fer2013.csv``: per class the configured counts, Training people disjoint from the
    people of PublicTest and PrivateTest (see ``faces.fer2013_pools``); shuffled per split."""
    kind = "fer2013"
    layout = _rng(seed, kind, 1_000_000)
    pools = fer2013_pools()
    splits = (
        ("Training", config["training"], pools["Training"]),
        ("PublicTest", config["test"], pools["test"]),
        ("PrivateTest", config["test"], pools["test"]),
    )
    lines = ["emotion,pixels,Usage"]
    for split, (usage, counts, pool) in enumerate(splits):
        rows = []
        for code, (expression, count) in enumerate(zip(FER2013_CLASSES, counts, strict=True)):
            for sample in range(count):
                rng = _rng(seed, kind, split, code, sample)
                face = render_face(fer_identity(rng, pool), 48, color=False)
                still = render_still(face, _posed_plan(rng, expression, config), rng)
                rows.append(f"{code},{' '.join(map(str, still.reshape(-1).tolist()))},{usage}")
        lines += [rows[index] for index in layout.permutation(len(rows))]
    (root / "fer2013.csv").write_text("\n".join(lines) + "\n", encoding="ascii")


def _write_ckplus(root: Path, config: dict[str, Any], seed: int) -> None:
    kind = "ckplus"
    subjects = _subject_ids(CKPLUS_SUBJECTS, config["n_subjects"])
    identities = corpus_identities(kind, config["n_subjects"])
    emotions = list(CKPLUS_CODES)
    for subject in range(config["n_subjects"]):
        layout = _rng(seed, kind, subject, 1_000_000)
        order = [emotions[int(i)] for i in layout.permutation(len(emotions))]
        # the first subjects also get unlabelled sequences (CK+ labels only some of them)
        if subject < config["unlabelled"]:
            order.append(None)
        name = f"S{subjects[subject]:03d}"
        face = render_face(identities[subject], config["size"], color=False)
        for sequence, emotion in enumerate(order, start=1):
            rng = _rng(seed, kind, subject, sequence)
            n_frames = _frames_range(config, rng)
            expression = emotion or emotions[int(rng.integers(len(emotions)))]
            frames = render_clip(face, _posed_plan(rng, expression, config, n_frames), rng)
            folder = root / "cohn-kanade-images" / name / f"{sequence:03d}"
            label_folder = root / "Emotion" / name / f"{sequence:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            label_folder.mkdir(parents=True, exist_ok=True)
            stem = f"{name}_{sequence:03d}"
            for index, frame in enumerate(frames, start=1):
                _save_image(frame, folder / f"{stem}_{index:08d}.png", "PNG")
            if emotion is not None:
                text = f"{float(CKPLUS_CODES[emotion]):16.7e}\n"
                (label_folder / f"{stem}_{n_frames:08d}_emotion.txt").write_text(text)


def _jaffe_names(config: dict[str, Any]) -> list[tuple[int, str, int, str]]:
    """(subject position, expression code, repetition, file name) of every JAFFE still."""
    subjects = _jaffe_subjects(config["n_subjects"])
    names = []
    number = 1
    for position, subject in enumerate(subjects):
        for code in JAFFE_CODES:
            for repetition in range(1, config["repetitions"] + 1):
                names.append(
                    (position, code, repetition, f"{subject}.{code}{repetition}.{number}.tiff")
                )
                number += 1
    return names


def _write_jaffe(root: Path, config: dict[str, Any], seed: int) -> None:
    kind = "jaffe"
    identities = corpus_identities(kind, config["n_subjects"])
    for position, code, repetition, name in _jaffe_names(config):
        rng = _rng(seed, kind, position, list(JAFFE_CODES).index(code), repetition)
        face = render_face(identities[position], config["size"], color=False)
        still = render_still(face, _posed_plan(rng, JAFFE_CODES[code], config), rng)
        _save_image(still, root / name, "TIFF")


_WRITERS: dict[str, Callable[[Path, dict[str, Any], int], None]] = {
    "casme2": _write_casme2,
    "samm": _write_samm,
    "smic": _write_smic,
    "fer2013": _write_fer2013,
    "ckplus": _write_ckplus,
    "jaffe": _write_jaffe,
}

_ENTRIES: dict[str, tuple[str, ...]] = {
    "casme2": ("CASME2-coding-demo.xlsx", "CASME2_RAW_selected"),
    "samm": ("SAMM_Micro_FACS_Codes_v2.xlsx", "SAMM"),
    "smic": ("HS",),
    "fer2013": ("fer2013.csv",),
    "ckplus": ("cohn-kanade-images", "Emotion"),
}


def _entries(kind: str, config: dict[str, Any]) -> list[str]:
    """Top-level names this generator writes under the root (besides its markers)."""
    names = [name for *_, name in _jaffe_names(config)] if kind == "jaffe" else list(_ENTRIES[kind])
    return [README_NAME, *names]


# --------------------------------------------------------------------------- public API


def demo_config(kind: str, **overrides: Any) -> dict[str, Any]:
    """The settings of demo corpus ``kind``: its defaults updated with ``overrides``."""
    if kind not in DEFAULTS:
        raise ValueError(f"unknown demo corpus kind {kind!r}, expected one of {list(DEMO_KINDS)}")
    unknown = sorted(set(overrides) - set(DEFAULTS[kind]))
    if unknown:
        raise ValueError(
            f"unknown setting(s) {unknown} for demo corpus {kind!r}, "
            f"expected some of {sorted(DEFAULTS[kind])}"
        )
    config = {**DEFAULTS[kind], **overrides}
    for key, value in config.items():
        default = DEFAULTS[kind][key]
        if key in RANGE_SETTINGS:
            pair = tuple(value)
            if len(pair) != 2 or pair[0] > pair[1]:
                raise ValueError(f"{kind}: setting {key!r} must be a (low, high) pair, got {value}")
            config[key] = pair
        elif isinstance(default, tuple):
            counts = tuple(value)
            if len(counts) != len(default) or not all(
                isinstance(count, int) and count >= 1 for count in counts
            ):
                raise ValueError(
                    f"{kind}: setting {key!r} must hold {len(default)} counts >= 1 (one per "
                    f"class, in the order {list(FER2013_CLASSES)}), got {value}"
                )
            config[key] = counts
    for key in ("n_subjects", "samples_per_class", "repetitions"):
        if key in config and int(config[key]) < 1:
            raise ValueError(f"{kind}: setting {key!r} must be at least 1, got {config[key]}")
    return config


def _marker(kind: str, seed: int, config: dict[str, Any]) -> dict[str, Any]:
    content = {
        "generator": "expression_nas.demo",
        "version": GENERATOR_VERSION,
        "kind": kind,
        "seed": seed,
        "config": config,
        "entries": _entries(kind, config),
        "synthetic": True,
    }
    return json.loads(json.dumps(content))  # tuples -> lists, as read back from disk


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("generator") != "expression_nas.demo":
        return None
    return content


def _write_json(path: Path, content: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def _remove_entries(root: Path, marker: dict[str, Any]) -> None:
    """Delete the top-level entries an earlier generation of ours listed (nothing else)."""
    for name in marker.get("entries", []):
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            continue
        path = root / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def generate_demo_corpus(kind: str, root: str | Path, seed: int = 0, **overrides: Any) -> Path:
    """Write demo corpus ``kind`` (one of ``DEMO_KINDS``) under ``root`` and return ``root``.

    ``overrides`` change the settings in ``DEFAULTS[kind]`` (e.g. ``n_subjects=3``). Nothing
    is written when ``root`` already holds this exact corpus; raises ``DemoCorpusError`` when
    ``root`` is a non-empty folder that is not a demo corpus of ours.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    config = demo_config(kind, **overrides)
    root = Path(root).expanduser().absolute()
    expected = _marker(kind, seed, config)
    marker_path = root / MARKER_NAME
    partial_path = root / PARTIAL_MARKER_NAME

    if root.exists() and not root.is_dir():
        raise DemoCorpusError(f"{root}: exists and is not a folder; cannot write a demo corpus")
    if root.is_dir():
        marker = _read_marker(marker_path) if marker_path.exists() else None
        if marker == expected:
            partial_path.unlink(missing_ok=True)
            logger.info("demo %s corpus (seed %d) already at %s", kind, seed, root)
            return root
        previous = marker or (_read_marker(partial_path) if partial_path.exists() else None)
        if previous is not None:
            logger.info("rewriting the demo corpus at %s (settings changed)", root)
            _remove_entries(root, previous)
            marker_path.unlink(missing_ok=True)
        elif any(root.iterdir()):
            raise DemoCorpusError(
                f"{root}: folder is not empty and holds no demo corpus marker ({MARKER_NAME}); "
                "refusing to write a demo corpus into it. Choose an empty or new folder."
            )
    root.mkdir(parents=True, exist_ok=True)
    clashes = [name for name in expected["entries"] if (root / name).exists()]
    if clashes:
        raise DemoCorpusError(f"{root}: would overwrite {clashes}, which are not ours")

    started = time.perf_counter()
    _write_json(partial_path, expected)  # claims the folder while writing
    (root / README_NAME).write_text(_readme(kind, seed))
    _WRITERS[kind](root, config, seed)
    _write_json(marker_path, expected)
    partial_path.unlink()
    logger.info(
        "wrote demo %s corpus (seed %d) to %s in %.1f s",
        kind,
        seed,
        root,
        time.perf_counter() - started,
    )
    return root


def generate_demo_composite(root: str | Path, seed: int = 0, **overrides: Any) -> dict[str, Path]:
    """Demo CASME II, SAMM and SMIC-HS under ``root/casme2`` etc. (the MEGC2019 composite's
    three sources), as {kind: folder}; ``overrides`` apply to all three."""
    root = Path(root)
    return {
        kind: generate_demo_corpus(kind, root / kind, seed=seed, **overrides)
        for kind in ("casme2", "samm", "smic")
    }


__all__ = [
    "DEFAULTS",
    "DEMO_KINDS",
    "EXPRESSIONS",
    "GENERATOR_VERSION",
    "MARKER_NAME",
    "DemoCorpusError",
    "demo_config",
    "generate_demo_composite",
    "generate_demo_corpus",
]
