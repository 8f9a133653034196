"""What every long job shares: the time-left estimate it reports and the token that cancels it.

Training, prediction (in memory and block-wise, local or on a cluster) and compression all
cancel through a :class:`CancelToken`; the widgets and the CLI show :func:`known_eta`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from napari_deconoising.errors import Cancelled


def eta_seconds(elapsed_s: float, progress: float) -> float:
    """Seconds left at the pace so far, after ``elapsed_s`` seconds for a share ``progress`` of
    the job (0 to 1); infinite before any progress."""
    progress = min(progress, 1.0)
    return elapsed_s * (1 - progress) / progress if progress > 0 else math.inf


def known_eta(elapsed_s: float, progress: float) -> float | None:
    """:func:`eta_seconds`, or None while there is no progress to estimate from."""
    eta = eta_seconds(elapsed_s, progress)
    return eta if math.isfinite(eta) else None


class CancelToken:
    """A cancel switch for one job, safe to flip from any thread: after :meth:`cancel`,
    :meth:`check` raises :class:`~napari_deconoising.errors.Cancelled` ("``what`` cancelled"),
    and every cancel function :meth:`forwarding` holds (e.g. a nested predictor's) is called."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._event = threading.Event()
        self._forwarded: list[Callable[[], None]] = []

    @property
    def requested(self) -> bool:
        """Whether a cancel was asked since the last :meth:`reset`."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Ask the job to stop, and pass the request on."""
        self._event.set()
        for cancel in list(self._forwarded):
            cancel()

    def reset(self) -> None:
        """Forget an earlier cancel: a new run starts."""
        self._event.clear()

    def check(self) -> None:
        """Raise :class:`~napari_deconoising.errors.Cancelled` once a cancel was asked."""
        if self._event.is_set():
            raise Cancelled(f"{self.what} cancelled")

    @contextmanager
    def forwarding(self, cancel: Callable[[], None]) -> Iterator[None]:
        """Check, then pass a cancel on to ``cancel`` while the block runs."""
        self.check()
        self._forwarded.append(cancel)
        try:
            yield
        finally:
            self._forwarded.remove(cancel)
