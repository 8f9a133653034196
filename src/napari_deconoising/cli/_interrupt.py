"""Ctrl-C as a request to stop: the first one asks a long task to end cleanly, the second aborts."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType


@dataclass
class Interrupts:
    """How many Ctrl-C arrived, and how many of them the command has already reported."""

    count: int = 0
    reported: int = 0

    def news(self) -> bool:
        """True once for each Ctrl-C that arrived since the last call."""
        fresh = self.count > self.reported
        self.reported = self.count
        return fresh


@contextmanager
def first_interrupt_stops(stop: Callable[[], None]) -> Iterator[Interrupts]:
    """Within the block the first Ctrl-C (SIGINT) calls ``stop`` instead of raising; the second
    raises :class:`KeyboardInterrupt` at once. Outside the main thread nothing changes."""
    interrupts = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        interrupts.count += 1
        if interrupts.count > 1:
            raise KeyboardInterrupt
        stop()

    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)
