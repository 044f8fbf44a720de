"""Checkpoints that resumable searches share: a key that ties a checkpoint to its settings,
and an atomic write (an interrupted write never leaves a half file under the real name)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)


def fingerprint(*parts: Any) -> str:
    """A short hash of JSON-able settings, to tell whether a checkpoint belongs to this search."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_checkpoint(path: Path | None, run_key: str) -> dict[str, Any] | None:
    """The state saved at ``path`` when it exists and was written with ``run_key``."""
    if path is None or not Path(path).exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state.get("run_key") != run_key:
        logger.info("ignoring checkpoint %s: it belongs to another search", path)
        return None
    return state


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` (with its ``run_key``) to ``path`` through a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    partial.replace(path)
