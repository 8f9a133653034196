"""Cancelling a compression run from another thread, including the prediction under way."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from napari_deconoising.errors import Cancelled
from napari_deconoising.prediction.predictor import Predictor


class Cancellation:
    """A cancel switch: :meth:`cancel` (any thread) makes the run's next :meth:`check` raise
    :class:`~napari_deconoising.errors.Cancelled` and cancels the prediction :meth:`watching`
    holds."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._predictor: Predictor | None = None

    def cancel(self) -> None:
        """Ask the run to stop, and cancel the prediction under way."""
        self._event.set()
        predictor = self._predictor
        if predictor is not None:
            predictor.cancel()

    def reset(self) -> None:
        """Forget an earlier cancel (a new run starts)."""
        self._event.clear()

    def check(self) -> None:
        """Raise :class:`~napari_deconoising.errors.Cancelled` once a cancel was asked."""
        if self._event.is_set():
            raise Cancelled("compression cancelled")

    @contextmanager
    def watching(self, predictor: Predictor) -> Iterator[Predictor]:
        """Check, then let :meth:`cancel` reach ``predictor`` while the block runs."""
        self.check()
        self._predictor = predictor
        try:
            yield predictor
        finally:
            self._predictor = None
