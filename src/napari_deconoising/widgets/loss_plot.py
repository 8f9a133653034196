"""A small live plot of training and validation loss against step, on a log y-axis."""

from __future__ import annotations

import math

from qtpy.QtCore import QPointF, QRectF, QSize, Qt
from qtpy.QtGui import QColor, QPainter, QPainterPath, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from napari_deconoising.widgets._qt import Throttle

TRAIN_COLOUR = QColor(80, 160, 255)
VALIDATION_COLOUR = QColor(255, 150, 40)
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 46, 10, 18, 22


class LossPlot(QWidget):
    """Training loss (a line) and validation loss (dots joined by a line) against step.

    Points are kept in :attr:`train_points` and :attr:`validation_points` as ``(step, loss)``
    tuples; adding points schedules a repaint at most ten times a second. Losses that are not
    positive cannot go on a log axis and are kept but not drawn. :meth:`mark` draws a dashed
    line at a step (where a continued training took over); the step axis starts at the first
    mark or point.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.train_points: list[tuple[int, float]] = []
        self.validation_points: list[tuple[int, float]] = []
        self.marks: list[int] = []
        self._throttle = Throttle(self.update, parent=self)
        self.setMinimumHeight(150)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Training (blue) and validation (orange) loss, log scale")

    def sizeHint(self) -> QSize:
        return QSize(300, 190)

    def clear(self) -> None:
        """Forget all points."""
        self.train_points.clear()
        self.validation_points.clear()
        self.marks.clear()
        self.update()

    def mark(self, step: int) -> None:
        """Draw a dashed line at ``step`` (e.g. where a continued training begins)."""
        self.marks.append(int(step))
        self._throttle.request()

    def add_train(self, step: int, loss: float) -> None:
        """Add one training loss value."""
        self.train_points.append((int(step), float(loss)))
        self._throttle.request()

    def add_validation(self, step: int, loss: float) -> None:
        """Add one validation loss value."""
        self.validation_points.append((int(step), float(loss)))
        self._throttle.request()

    # -- drawing ------------------------------------------------------------------------------
    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_colour = self.palette().color(self.foregroundRole())
        plot = QRectF(
            MARGIN_LEFT,
            MARGIN_TOP,
            max(1, self.width() - MARGIN_LEFT - MARGIN_RIGHT),
            max(1, self.height() - MARGIN_TOP - MARGIN_BOTTOM),
        )
        painter.setPen(QPen(text_colour, 1))
        painter.drawRect(plot)
        drawable = [p for p in self.train_points + self.validation_points if _ok(p[1])]
        if not drawable:
            painter.drawText(plot, Qt.AlignmentFlag.AlignCenter, "loss will appear here")
            painter.end()
            return
        last_step = max(p[0] for p in drawable)
        first_step = min([p[0] for p in drawable] + self.marks)
        x_range = (first_step, max(last_step, 1))
        logs = [math.log10(p[1]) for p in drawable]
        low, high = math.floor(min(logs) * 4) / 4, math.ceil(max(logs) * 4) / 4
        if high - low < 0.25:
            low, high = low - 0.125, high + 0.125
        mapper = _Mapper(plot, x_range, (low, high))
        self._draw_axes(painter, mapper, text_colour, x_range, (low, high))
        painter.setClipRect(plot)
        self._draw_marks(painter, mapper, text_colour)
        thinned = _thin(self.train_points, int(plot.width()))
        self._draw_series(painter, mapper, thinned, TRAIN_COLOUR)
        self._draw_series(painter, mapper, self.validation_points, VALIDATION_COLOUR, dots=True)
        painter.setClipping(False)
        self._draw_legend(painter, plot)
        painter.end()

    def _draw_axes(self, painter, mapper, colour, x_range, y_range) -> None:
        grid = QColor(colour)
        grid.setAlpha(50)
        low, high = y_range
        ticks = _log_ticks(low, high)
        font = painter.font()
        font.setPointSizeF(max(6.0, font.pointSizeF() * 0.8))
        painter.setFont(font)
        for value in ticks:
            y = mapper.y(value)
            painter.setPen(QPen(grid, 1))
            painter.drawLine(QPointF(mapper.plot.left(), y), QPointF(mapper.plot.right(), y))
            painter.setPen(QPen(colour, 1))
            label = QRectF(0, y - 8, MARGIN_LEFT - 4, 16)
            painter.drawText(
                label,
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                _format_loss(10**value),
            )
        bottom = mapper.plot.bottom() + 2
        painter.drawText(
            QRectF(mapper.plot.left(), bottom, 80, 16),
            Qt.AlignmentFlag.AlignLeft,
            f"step {x_range[0]}",
        )
        painter.drawText(
            QRectF(mapper.plot.right() - 80, bottom, 80, 16),
            Qt.AlignmentFlag.AlignRight,
            f"{x_range[1]}",
        )

    def _draw_marks(self, painter, mapper, colour) -> None:
        pen = QPen(colour, 1, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        for step in self.marks:
            x = mapper.x(step)
            painter.drawLine(QPointF(x, mapper.plot.top()), QPointF(x, mapper.plot.bottom()))

    @staticmethod
    def _draw_series(painter, mapper, points, colour, dots: bool = False) -> None:
        points = [p for p in points if _ok(p[1])]
        if not points:
            return
        path = QPainterPath()
        for index, (step, loss) in enumerate(points):
            point = QPointF(mapper.x(step), mapper.y(math.log10(loss)))
            path.moveTo(point) if index == 0 else path.lineTo(point)
        painter.setPen(QPen(colour, 1.5))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        if dots:
            painter.setBrush(colour)
            for step, loss in points:
                painter.drawEllipse(QPointF(mapper.x(step), mapper.y(math.log10(loss))), 2.5, 2.5)

    def _draw_legend(self, painter, plot: QRectF) -> None:
        entries = [("train", TRAIN_COLOUR, self.train_points)]
        entries.append(("validation", VALIDATION_COLOUR, self.validation_points))
        x = plot.left()
        for label, colour, points in entries:
            text = f"{label} {_format_loss(points[-1][1])}" if points else label
            painter.setPen(QPen(colour, 1))
            painter.drawText(QRectF(x, 0, 150, MARGIN_TOP), Qt.AlignmentFlag.AlignVCenter, text)
            x += 150


class _Mapper:
    """Data (step, log10 loss) to widget coordinates."""

    def __init__(self, plot: QRectF, x_range: tuple[float, float], y_range: tuple[float, float]):
        self.plot = plot
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range

    def x(self, step: float) -> float:
        span = max(self.x1 - self.x0, 1e-9)
        return self.plot.left() + (step - self.x0) / span * self.plot.width()

    def y(self, log_loss: float) -> float:
        span = max(self.y1 - self.y0, 1e-9)
        return self.plot.bottom() - (log_loss - self.y0) / span * self.plot.height()


def _ok(value: float) -> bool:
    return math.isfinite(value) and value > 0


def _thin(points: list[tuple[int, float]], width: int) -> list[tuple[int, float]]:
    """At most about two points per pixel column: the mean of each run (cheap to draw)."""
    limit = max(2 * width, 2)
    if len(points) <= limit:
        return points
    size = math.ceil(len(points) / limit)
    thinned = []
    for start in range(0, len(points), size):
        run = [p for p in points[start : start + size] if _ok(p[1])]
        if run:
            thinned.append((run[-1][0], sum(p[1] for p in run) / len(run)))
    return thinned


def _log_ticks(low: float, high: float) -> list[float]:
    """log10 positions of round values (1, 2, 5 times a power of ten) inside [low, high]:
    decades only when there are at least two of them."""
    decades = [d for d in range(math.floor(low), math.ceil(high) + 1) if low <= d <= high]
    if len(decades) >= 2:
        return decades
    ticks = [
        d + math.log10(m)
        for d in range(math.floor(low), math.ceil(high) + 1)
        for m in (1, 2, 5)
        if low <= d + math.log10(m) <= high
    ]
    return ticks or [low, high]


def _format_loss(value: float) -> str:
    return f"{value:.3g}"
