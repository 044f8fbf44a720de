"""The versioned architecture spec every search strategy writes and ``build_model`` reads.

A spec is a plain JSON object with at least ``schema_version`` (an int, SPEC_SCHEMA_VERSION)
and ``family`` (a key of ``expression_nas.models.registry.MODEL_FAMILIES``); the family's
validator checks the rest. ``validate_spec`` returns a normalised copy (tuples as lists, numpy
scalars as Python numbers), so a valid spec equals its own JSON round trip exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

SPEC_SCHEMA_VERSION = 1


def is_int(value: Any, minimum: int = 1) -> bool:
    """An int (not a bool) >= ``minimum``: the check every family's validator needs."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def validate_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``spec`` and return its normalised copy; ValueError names the offending key."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a spec must be a mapping, got {type(spec).__name__}")
    normalised = _to_json(spec, "spec")
    version = normalised.get("schema_version")
    if isinstance(version, bool) or version != SPEC_SCHEMA_VERSION:
        raise ValueError(
            f"spec key 'schema_version': expected {SPEC_SCHEMA_VERSION}, got {version!r}"
        )
    # Imported here: the registry imports the model modules, which import this module.
    from expression_nas.models.registry import MODEL_FAMILIES  # noqa: PLC0415

    family = normalised.get("family")
    if family not in MODEL_FAMILIES:
        raise ValueError(
            f"spec key 'family': unknown family {family!r}, known: {sorted(MODEL_FAMILIES)}"
        )
    MODEL_FAMILIES[family].validate(normalised)
    return normalised


def save_spec(spec: Mapping[str, Any], path: str | Path) -> Path:
    """Validate ``spec`` and write it as indented JSON (parent folders are created)."""
    normalised = validate_spec(spec)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(normalised, indent=2) + "\n", encoding="utf-8")
    return target


def load_spec(path: str | Path) -> dict[str, Any]:
    """Read and validate a spec written by ``save_spec``."""
    return validate_spec(json.loads(Path(path).read_text(encoding="utf-8")))


def _to_json(value: Any, key: str) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"spec key {key!r}: {value} is not a finite number")
        return value
    if isinstance(value, Mapping):
        normalised = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise ValueError(f"spec key {key!r}: key {name!r} is not a string")
            normalised[name] = _to_json(item, f"{key}.{name}" if key != "spec" else name)
        return normalised
    if isinstance(value, list | tuple):
        return [_to_json(item, f"{key}[{i}]") for i, item in enumerate(value)]
    raise ValueError(f"spec key {key!r}: {type(value).__name__} is not JSON-serialisable")
