"""The budgeted step loop that training and distillation share.

A run takes optimiser steps until its budget is spent: at most ``steps`` steps and/or ``seconds``
of wall time, whichever runs out first. The learning rate warms up linearly and then follows a
cosine from the base rate down to 5% of it as the budget is spent (:func:`warmup_cosine`).
"""

from __future__ import annotations

import time

from napari_deconoising.job_control import eta_seconds
from napari_deconoising.training.sampling import warmup_cosine


class BudgetedSteps:
    """The clock of a budgeted loop: ``while loop.running(): lr = loop.learning_rate(); ...;
    loop.advance()``.

    ``min_steps`` are taken even when the time is spent (never more than ``steps``).
    """

    def __init__(
        self,
        base_rate: float,
        warmup_steps: int,
        steps: int | None = None,
        seconds: float | None = None,
        min_steps: int = 0,
    ):
        if steps is None and seconds is None:
            raise ValueError("a budget needs steps or seconds")
        self.base_rate, self.warmup_steps = base_rate, warmup_steps
        self.steps, self.seconds, self.min_steps = steps, seconds, min_steps
        self.start = time.perf_counter()
        #: Steps taken, seconds since the start (at the last step), share of the budget spent.
        self.step, self.elapsed, self.progress = 0, 0.0, 0.0

    def running(self) -> bool:
        """True while the budget (or the minimum of steps) asks for another step."""
        within_steps = self.steps is None or self.step < self.steps
        return within_steps and (self.progress < 1.0 or self.step < self.min_steps)

    def learning_rate(self) -> float:
        """The learning rate of the next step."""
        return warmup_cosine(self.base_rate, self.progress, self.step, self.warmup_steps)

    def advance(self) -> None:
        """Count a step taken, and update the time and the share of the budget spent."""
        self.step += 1
        self.elapsed = time.perf_counter() - self.start
        shares = []
        if self.steps is not None:
            shares.append(self.step / self.steps)
        if self.seconds is not None:
            shares.append(self.elapsed / self.seconds)
        self.progress = max(shares)

    @property
    def eta(self) -> float:
        """Estimated seconds left, from the pace so far."""
        return eta_seconds(self.elapsed, self.progress)

    @property
    def shown_progress(self) -> float:
        """The share of the budget spent, at most 1."""
        return min(self.progress, 1.0)
