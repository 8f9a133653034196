"""A measuring tool for tests and benchmarks, not part of the package: how long the Qt event
loop pauses."""

from __future__ import annotations

import time

from qtpy.QtCore import QTimer


class PauseMonitor:
    """Event-loop pauses: every gap between the ticks of a 10 ms ``QTimer``, with when it ended.

    Used by the responsiveness test, the preview benchmark (``bench/bench_preview.py``) and the
    screenshot script, which add this folder to ``sys.path``.
    """

    TICK_MS = 10

    def __init__(self) -> None:
        self.gaps: list[tuple[float, float]] = []  # (gap in ms, perf_counter at its end)
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(self.TICK_MS)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(((now - self._last) * 1000, now))
        self._last = now

    def start(self) -> None:
        """Start watching (the first gap counts from now)."""
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop watching."""
        self._timer.stop()

    @property
    def ticks(self) -> int:
        """Timer ticks seen."""
        return len(self.gaps)

    @property
    def longest_ms(self) -> float:
        """The longest pause seen (ms)."""
        return self.longest()

    def longest(self, since: float = 0.0) -> float:
        """The longest pause that ended after ``since`` (a ``time.perf_counter`` value), in ms."""
        return max((gap for gap, end in self.gaps if end > since), default=0.0)
