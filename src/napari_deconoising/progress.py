"""Time left in a long job: the one estimate that training, compression and the widgets show."""

from __future__ import annotations

import math


def eta_seconds(elapsed_s: float, progress: float) -> float:
    """Seconds left at the pace so far, after ``elapsed_s`` seconds for a share ``progress`` of
    the job (0 to 1); infinite before any progress."""
    progress = min(progress, 1.0)
    return elapsed_s * (1 - progress) / progress if progress > 0 else math.inf


def known_eta(elapsed_s: float, progress: float) -> float | None:
    """:func:`eta_seconds`, or None while there is no progress to estimate from."""
    eta = eta_seconds(elapsed_s, progress)
    return eta if math.isfinite(eta) else None
