"""What every command prints: one progress reporter, one JSON form, one-line messages.

* **Progress** goes to stderr as a tqdm bar. On a terminal it is redrawn in place at most 5 times
  a second; when stderr is a file or a pipe each redraw is a line of its own, at most one every
  10 seconds, so logs stay readable.
* **Results** go to stdout: lines for people, or with ``--json`` the command's figures as one JSON
  object on a single line (numbers as numbers, NaN and infinity as ``null``, paths as strings).
* **Messages** (errors, interruptions) are one line on stderr: ``deconoising CMD: message``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TextIO

import numpy as np
from tqdm import tqdm

#: Exit codes: a user error (bad input, bad setting), and a run stopped by Ctrl-C (128 + SIGINT).
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
BAR_FORMAT = "{desc} [{bar:30}] {percentage:5.1f}%{postfix}"
TERMINAL_INTERVAL_S = 0.2
LOG_INTERVAL_S = 10.0
MAX_DETAIL = 60
DEFAULT_SIZE = (80, 24)


class _Lines:
    """A stream for tqdm that writes every redraw as a line of its own (for logs and pipes)."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> None:
        line = text.replace("\r", "").rstrip()
        if line:
            self.stream.write(line + "\n")

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """One progress bar on stderr, shown from the first :meth:`update` on; silent if disabled.

    Use it as a context manager so that the bar is ended however the command ends.
    """

    def __init__(self, label: str, enabled: bool = True, stream: TextIO | None = None):
        self.label, self.enabled = label, enabled
        self.stream = stream if stream is not None else sys.stderr
        self._bar: tqdm | None = None

    def update(self, fraction: float, detail: str = "") -> None:
        """Show ``fraction`` (0..1) done and a short ``detail``; redraws are rate-limited."""
        if not self.enabled:
            return
        fraction = _clamped(fraction)
        if self._bar is None:
            self._bar = self._open(fraction, detail)
            return
        self._bar.set_postfix_str(detail[:MAX_DETAIL], refresh=False)
        self._bar.update(fraction - self._bar.n)

    def close(self, fraction: float | None = None, detail: str | None = None) -> None:
        """End the bar, showing its final state (with ``fraction`` and ``detail`` when given)."""
        if self._bar is None and fraction is not None:
            self.update(fraction, detail or "")
        bar, self._bar = self._bar, None
        if bar is None:
            return
        if fraction is not None:
            bar.n = _clamped(fraction)
        if detail is not None:
            bar.set_postfix_str(detail[:MAX_DETAIL], refresh=False)
        bar.close()

    def note(self, text: str) -> None:
        """Print a line on stderr without breaking the bar."""
        if self._bar is not None:
            self._bar.clear()
        self.stream.write(text + "\n")
        self.stream.flush()
        if self._bar is not None:
            self._bar.refresh()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self, fraction: float, detail: str) -> tqdm:
        interactive = self.stream.isatty()
        columns, rows = _terminal_size(self.stream) if interactive else (None, None)
        return tqdm(
            total=1.0,
            initial=fraction,
            desc=self.label,
            postfix=detail[:MAX_DETAIL],
            bar_format=BAR_FORMAT,
            ascii="-#",
            file=self.stream if interactive else _Lines(self.stream),
            mininterval=TERMINAL_INTERVAL_S if interactive else LOG_INTERVAL_S,
            miniters=0,
            ncols=columns,
            nrows=rows,
        )


def _terminal_size(stream: TextIO) -> tuple[int, int]:
    """Columns and rows of the terminal; 80x24 where it reports none, as a new pseudo-terminal
    does (tqdm would then draw nothing)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        size = os.terminal_size((0, 0))
    return size.columns or DEFAULT_SIZE[0], size.lines or DEFAULT_SIZE[1]


def _clamped(fraction: float) -> float:
    return min(max(fraction, 0.0), 1.0)


def format_seconds(seconds: float) -> str:
    """``m:ss``."""
    seconds = max(0, round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def emit_json(figures: Mapping[str, Any]) -> None:
    """Print ``figures`` as the one JSON object of a ``--json`` run: a single line on stdout."""
    print(json.dumps(_plain(figures), allow_nan=False), flush=True)


def _plain(value: Any) -> Any:
    """``value`` with only JSON types: numpy scalars and arrays, paths and NaN converted."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def add_json_option(parser: argparse.ArgumentParser, what: str = "the figures") -> None:
    """Add ``--json``: print ``what`` as one JSON object (see :func:`report`)."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON object")


def report(figures: Mapping[str, Any], lines: Sequence[str], as_json: bool) -> None:
    """A command's result, the same form for every command: ``lines`` on stdout, or with
    ``as_json`` only the ``figures`` as one JSON object (progress is off then too)."""
    if not as_json:
        print("\n".join(lines))
        return
    emit_json(figures)


def say(command: str, message: str) -> None:
    """One line on stderr: ``deconoising COMMAND: message``."""
    print(f"deconoising {command}: {message}", file=sys.stderr, flush=True)
