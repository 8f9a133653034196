"""A small live plot of training and validation loss against step, on a log y-axis (pyqtgraph)."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from qtpy.QtCore import QSize, Qt
from qtpy.QtGui import QColor
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from napari_deconoising.widgets._qt import Throttle

TRAIN_COLOUR = QColor(80, 160, 255)
VALIDATION_COLOUR = QColor(255, 150, 40)
Points = list[tuple[int, float]]


class LossPlot(QWidget):
    """Training loss (a line) and validation loss (dots joined by a line) against step.

    Points are kept in :attr:`train_points` and :attr:`validation_points` as ``(step, loss)``
    tuples; adding points redraws the curves at most ten times a second (:meth:`refresh` does
    it at once). Losses that are not positive cannot go on a log axis and are kept but not
    drawn. :meth:`mark` draws a dashed line at a step (where a continued training took over).
    Long curves are down-sampled for drawing by pyqtgraph (the mean of each run of points).
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.train_points: Points = []
        self.validation_points: Points = []
        self.marks: list[int] = []
        self._mark_lines: list[pg.InfiniteLine] = []
        self.plot = pg.PlotWidget(background=None)
        self.plot.setMenuEnabled(False)
        self.plot.setLogMode(x=False, y=True)
        self.plot.showGrid(x=False, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "step")
        self.plot.setDownsampling(auto=True, mode="mean")
        self.plot.setClipToView(True)
        self.legend = self.plot.addLegend(offset=(-5, 5))
        self._train = self.plot.plot(name="train", pen=pg.mkPen(TRAIN_COLOUR, width=1.5))
        self._validation = self.plot.plot(
            name="validation",
            pen=pg.mkPen(VALIDATION_COLOUR, width=1.5),
            symbol="o",
            symbolSize=5,
            symbolPen=None,
            symbolBrush=VALIDATION_COLOUR,
        )
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self._throttle = Throttle(self.refresh, parent=self)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Training (blue) and validation (orange) loss, log scale")

    def sizeHint(self) -> QSize:
        return QSize(300, 190)

    def clear(self) -> None:
        """Forget all points and marks."""
        self.train_points.clear()
        self.validation_points.clear()
        self.marks.clear()
        for line in self._mark_lines:
            self.plot.removeItem(line)
        self._mark_lines.clear()
        self.refresh()

    def mark(self, step: int) -> None:
        """Draw a dashed line at ``step`` (e.g. where a continued training begins)."""
        self.marks.append(int(step))
        pen = pg.mkPen(self.palette().color(self.foregroundRole()), style=Qt.PenStyle.DashLine)
        line = pg.InfiniteLine(pos=int(step), angle=90, pen=pen)
        self.plot.addItem(line, ignoreBounds=False)
        self._mark_lines.append(line)
        self._throttle.request()

    def add_train(self, step: int, loss: float) -> None:
        """Add one training loss value."""
        self.train_points.append((int(step), float(loss)))
        self._throttle.request()

    def add_validation(self, step: int, loss: float) -> None:
        """Add one validation loss value."""
        self.validation_points.append((int(step), float(loss)))
        self._throttle.request()

    def refresh(self) -> None:
        """Redraw the curves and the legend from the points now."""
        for curve, name, points in (
            (self._train, "train", self.train_points),
            (self._validation, "validation", self.validation_points),
        ):
            curve.setData(*drawable(points))
            label = self.legend.getLabel(curve)
            if label is not None:
                label.setText(f"{name} {points[-1][1]:.3g}" if points else name)


def drawable(points: Points) -> tuple[np.ndarray, np.ndarray]:
    """Steps and losses of the ``points`` that a log axis can show (finite and positive)."""
    kept = [(step, loss) for step, loss in points if math.isfinite(loss) and loss > 0]
    steps = np.array([step for step, _ in kept], dtype=float)
    return steps, np.array([loss for _, loss in kept], dtype=float)
