"""The candidate cache that makes the global search resumable: every trained candidate's
outcome is written as soon as it is known, keyed by (spec, epochs, seed), so a search that is
interrupted and run again replays what it had already trained and trains only the rest.
Algorithm 1 is deterministic given the outcomes, so the resumed search takes the same path.

The cache folder must belong to one setting of everything else a score depends on (data,
training settings): the experiment names it by a fingerprint of those.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from expression_nas.nas.global_nas.strategy import CandidateTrainer, TrainingOutcome
from expression_nas.nas.spec import validate_spec
from expression_nas.training.checkpoints import fingerprint

logger = logging.getLogger(__name__)


class CandidateCache:
    """Outcomes stored as one JSON file per (spec, epochs, seed) under ``folder``."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def path(self, spec: dict[str, Any], epochs: int, seed: int) -> Path:
        return self.folder / f"{fingerprint(validate_spec(spec), epochs, seed)}.json"

    def get(self, spec: dict[str, Any], epochs: int, seed: int) -> TrainingOutcome | None:
        path = self.path(spec, epochs, seed)
        if not path.exists():
            return None
        stored = json.loads(path.read_text(encoding="utf-8"))
        if (stored["spec"], stored["epochs"], stored["seed"]) != (
            validate_spec(spec),
            epochs,
            seed,
        ):
            logger.warning("ignoring %s: it holds another candidate", path)
            return None
        return replace(TrainingOutcome(**stored["outcome"]), cached=True)

    def put(self, spec: dict[str, Any], epochs: int, seed: int, outcome: TrainingOutcome) -> None:
        """Write the outcome through a partial file (an interrupted write leaves no entry)."""
        path = self.path(spec, epochs, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "spec": validate_spec(spec),
            "epochs": epochs,
            "seed": seed,
            "outcome": asdict(replace(outcome, cached=False)),
        }
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        partial.replace(path)

    def __len__(self) -> int:
        return sum(1 for _ in self.folder.glob("*.json")) if self.folder.exists() else 0


class CachedTrainer:
    """``trainer`` behind ``cache``: a candidate found there is not trained again (with
    ``reuse`` false every candidate is trained, and the cache rewritten)."""

    def __init__(
        self, trainer: CandidateTrainer, cache: CandidateCache, reuse: bool = True
    ) -> None:
        self.trainer, self.cache, self.reuse = trainer, cache, reuse
        self.trained = 0
        self.reused = 0

    def __call__(self, spec: dict[str, Any], epochs: int, seed: int) -> TrainingOutcome:
        outcome = self.cache.get(spec, epochs, seed) if self.reuse else None
        if outcome is not None:
            self.reused += 1
            return outcome
        outcome = self.trainer(spec, epochs, seed)
        self.cache.put(spec, epochs, seed, outcome)
        self.trained += 1
        return outcome
