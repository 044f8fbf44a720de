"""The versioned architecture spec every search strategy writes and ``build_model`` reads.

A spec is a plain JSON object with at least ``schema_version`` (an int, SPEC_SCHEMA_VERSION)
and ``family`` (a key of ``expression_nas.models.registry.MODEL_FAMILIES``); the family's
validator checks the rest. ``validate_spec`` returns a normalised copy (tuples as lists, numpy
scalars as Python numbers), so a valid spec equals its own JSON round trip exactly.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SPEC_SCHEMA_VERSION = 1


def is_int(value: Any, minimum: int = 1) -> bool:
    """An int (not a bool) >= ``minimum``: the check every family's validator needs."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def validate_cell(
    cell: Any,
    nodes: int,
    key: str,
    operations: Collection[str],
    first_source: int = 0,
    max_edges: int | None = None,
) -> None:
    """Check a cell genotype: ``nodes`` non-empty lists (at most ``max_edges`` long) of
    [operation, source] edges, the operation one of ``operations`` other than "none", the
    source in ``first_source``..node+1 (0 and 1 are the cell's inputs, 2.. earlier nodes).
    ValueError names ``key`` and the node."""
    if not isinstance(cell, list) or len(cell) != nodes:
        raise ValueError(f"spec key {key!r}: expected a list of {nodes} nodes, got {cell!r}")
    for node, edges in enumerate(cell):
        if (
            not isinstance(edges, list)
            or not edges
            or (max_edges is not None and len(edges) > max_edges)
        ):
            most = "" if max_edges is None else f"at most {max_edges} "
            raise ValueError(
                f"spec key '{key}[{node}]': expected a non-empty list of {most}"
                "[operation, source] edges"
            )
        for edge in edges:
            valid = (
                isinstance(edge, list)
                and len(edge) == 2
                and edge[0] in operations
                and edge[0] != "none"
                and is_int(edge[1], first_source)
                and edge[1] < node + 2
            )
            if not valid:
                raise ValueError(
                    f"spec key '{key}[{node}]': bad edge {edge!r} (expected [operation, source] "
                    f"with an operation other than 'none' and a source in "
                    f"{first_source}..{node + 1})"
                )


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
