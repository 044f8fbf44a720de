"""Progress of long loops (search epochs and batches, training epochs, folds, trials, clips).

``track(iterable, "search", "epoch")`` iterates like tqdm and shows, depending on
``EXPRESSION_NAS_PROGRESS``:

- ``auto`` (default): a tqdm bar when standard error is a terminal, else ``log``;
- ``bar``: always a tqdm bar;
- ``log``: a log line per loop at most every ``EXPRESSION_NAS_PROGRESS_SECONDS`` (60 s by
  default), and one at the end of a loop that logged any, so that CI logs and batch jobs
  stay readable;
- ``off``: nothing.

The loops that are running are also the place a stop happened: ``where()`` names them
("search epoch 2/3 > batch 5/16") and ``epoch()`` the innermost epoch, for the tags of a run
that an interruption ends (``interruptions``).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)

MODE_VARIABLE = "EXPRESSION_NAS_PROGRESS"
SECONDS_VARIABLE = "EXPRESSION_NAS_PROGRESS_SECONDS"
MODES = ("auto", "bar", "log", "off")

T = TypeVar("T")

#: The loops being iterated, outermost first.
_running: list[Progress] = []


def mode() -> str:
    chosen = os.environ.get(MODE_VARIABLE, "auto").strip().lower() or "auto"
    if chosen not in MODES:
        raise ValueError(f"{MODE_VARIABLE} must be one of {', '.join(MODES)}, got {chosen!r}")
    if chosen == "auto":
        if os.environ.get("RANK", "0") != "0":  # torchrun: rank 0 alone shows progress
            return "off"
        return "bar" if sys.stderr.isatty() else "log"
    return chosen


def _log_interval() -> float:
    return float(os.environ.get(SECONDS_VARIABLE, "60"))


class Progress(Generic[T]):
    """One loop's progress: iterate it once, or count by hand (``with`` and ``update``);
    ``set_postfix`` as tqdm's."""

    def __init__(
        self,
        iterable: Iterable[T] | None,
        description: str,
        unit: str,
        total: int | None = None,
        initial: int = 0,
    ) -> None:
        self.iterable = iterable if iterable is not None else ()
        self.description = description
        self.unit = unit
        self.total = total if total is not None or iterable is None else _length(iterable)
        self.initial = initial
        self.done = initial  # items finished
        self.postfix: dict[str, str] = {}
        self.mode = mode()
        self._bar: tqdm | None = None
        self._started = self._last_line = 0.0
        self._logged = 0  # items done at the last log line

    @property
    def current(self) -> int:
        """1-based number of the item being worked on (the last one once finished)."""
        return self.done + 1 if self.total is None or self.done < self.total else self.done

    def describe(self, with_description: bool = True) -> str:
        total = f"/{self.total}" if self.total is not None else ""
        described = f"{self.unit} {self.current}{total}"
        return f"{self.description} {described}" if with_description else described

    def set_postfix(self, **values: object) -> None:
        self.postfix = {key: str(value) for key, value in values.items()}
        if self._bar is not None:
            self._bar.set_postfix(self.postfix, refresh=False)

    def __iter__(self) -> Iterator[T]:
        with self:
            for item in self.iterable:
                yield item
                self.update()

    def __enter__(self) -> Progress[T]:
        """Show the progress of work counted by hand with ``update`` (e.g. from callbacks)."""
        if self.mode == "bar":
            self._bar = tqdm(
                total=self.total,
                initial=self.initial,
                desc=self.description,
                unit=self.unit,
                leave=False,
                dynamic_ncols=True,
            )
        _running.append(self)
        self._started = self._last_line = time.monotonic()
        return self

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.mode == "log" and time.monotonic() - self._last_line >= _log_interval():
            self._last_line = time.monotonic()
            self._log(self._last_line - self._started)

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self.mode == "log" and exc_info[0] is None and 0 < self._logged < self.done:
            self._log(time.monotonic() - self._started)  # the end of a loop that logged
        if self in _running:
            _running.remove(self)

    def _log(self, seconds: float) -> None:
        self._logged = self.done
        finished = self.done - self.initial
        total = f"/{self.total}" if self.total is not None else ""
        rate = f" ({seconds / finished:.1f} s per {self.unit})" if finished else ""
        postfix = "".join(f", {key} {value}" for key, value in self.postfix.items())
        logger.info(
            "%s: %s %d%s after %.0f s%s%s",
            self.description,
            self.unit,
            self.done,
            total,
            seconds,
            rate,
            postfix,
        )


def track(
    iterable: Iterable[T],
    description: str,
    unit: str,
    total: int | None = None,
    initial: int = 0,
) -> Progress[T]:
    """``iterable`` with its progress shown (see the module); ``initial`` items already done
    before it (e.g. the epochs of a resumed search)."""
    return Progress(iterable, description, unit, total, initial)


def counter(description: str, unit: str, total: int | None = None) -> Progress[None]:
    """Progress counted by hand: ``with counter(...) as bar: ... bar.update()``."""
    return Progress(None, description, unit, total)


def where() -> str:
    """The loops running now, outermost first ("" outside any)."""
    parts, outer = [], None
    for progress in _running:
        inner = outer is not None and progress.description.startswith(outer.description)
        parts.append(progress.describe(with_description=not inner))
        outer = progress
    return " > ".join(parts)


def epoch() -> int | None:
    """The 1-based epoch of the innermost loop over epochs running now."""
    for progress in reversed(_running):
        if progress.unit == "epoch":
            return progress.current
    return None


def abandon() -> None:
    """Forget the loops an exception left (their bars closed): after an interruption."""
    for progress in reversed(_running):
        progress.__exit__(KeyboardInterrupt, None, None)
    _running.clear()


def _length(iterable: Iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None
