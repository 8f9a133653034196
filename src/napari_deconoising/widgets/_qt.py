"""Small Qt helpers: throttled refreshes, close detection, text labels, a clock format, an
event-loop pause monitor and a scrolling layout for dock widgets."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, QSize, Qt, QTimer
from qtpy.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

#: Longest time between two GUI refreshes driven by a worker (milliseconds): at most 10 per second.
REFRESH_MS = 100
#: Height (pixels) below which a dock widget's content scrolls rather than giving way further.
MIN_DOCK_HEIGHT = 160


class Throttle(QObject):
    """Calls ``callback`` at most once per ``interval_ms``, however often it is requested."""

    def __init__(self, callback: Callable[[], None], interval_ms: int = REFRESH_MS, parent=None):
        super().__init__(parent)
        self._callback = callback
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._callback)

    def request(self) -> None:
        """Schedule a call (no-op when one is already scheduled)."""
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        """Call now and cancel the scheduled call."""
        self._timer.stop()
        self._callback()


class TextLabel(QLabel):
    """A word-wrapped label whose text can be selected and copied (error messages, reports).

    ``value`` is its text, as for a magicgui ``Label``; ``text()`` works too.
    """

    def __init__(self, text: str = "", parent: QWidget | None = None):
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    @property
    def value(self) -> str:
        """The text shown."""
        return self.text()

    @value.setter
    def value(self, text: str) -> None:
        self.setText(str(text))


class _CloseFilter(QObject):
    """Event filter calling ``callback`` once the watched widget is closed or undocked."""

    def __init__(self, widget: QWidget, callback: Callable[[], None]):
        super().__init__(widget)
        self._callback = callback
        self._docked = widget.parent() is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Close:
            self._callback()
        elif kind == QEvent.Type.ParentChange:
            docked = watched.parent() is not None  # type: ignore[attr-defined]
            if self._docked and not docked:  # napari undocks a widget when its X is clicked
                self._callback()
            self._docked = docked
        return False


def on_close(widget: QWidget, callback: Callable[[], None]) -> None:
    """Call ``callback`` when ``widget`` is closed, removed from its dock or destroyed.

    ``callback`` may run more than once; it must not use ``widget`` (it may be half destroyed).
    """
    widget.installEventFilter(_CloseFilter(widget, callback))
    widget.destroyed.connect(lambda *_: callback())


def clock(seconds: float) -> str:
    """``m:ss``, or ``h:mm:ss`` from an hour on."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class _DockScrollArea(QScrollArea):
    """A scroll area that asks for its content's full size, and only gives way in height (down
    to :data:`MIN_DOCK_HEIGHT`) by scrolling: never narrower than its content."""

    def _bar(self) -> int:
        return self.verticalScrollBar().sizeHint().width()

    def sizeHint(self) -> QSize:
        content = self.widget()
        if content is None:
            return super().sizeHint()
        hint = content.sizeHint()
        return QSize(hint.width() + self._bar(), hint.height())

    def minimumSizeHint(self) -> QSize:
        content = self.widget()
        if content is None:
            return super().minimumSizeHint()
        least = content.minimumSizeHint()
        return QSize(least.width() + self._bar(), min(least.height(), MIN_DOCK_HEIGHT))


def scrolling_layout(widget: QWidget) -> QVBoxLayout:
    """The layout to fill ``widget`` (a dock widget) with, inside a scroll area.

    ``widget`` gets a frameless, resizable :class:`QScrollArea` as its only child; the returned
    layout is that of the area's content. A dock squeezed below others then scrolls instead of
    shrinking its rows below their minimum heights, where fields would overlap: the content is
    never shorter than its size hint (magicgui gives spin boxes a minimum height below the one
    Qt draws them in, which a content at its minimum height would use).
    """
    outer = QVBoxLayout(widget)
    outer.setContentsMargins(0, 0, 0, 0)
    scroll = _DockScrollArea(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    content = QWidget(scroll)
    content.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
    scroll.setWidget(content)
    outer.addWidget(scroll)
    layout = QVBoxLayout(content)
    layout.setContentsMargins(0, 0, 0, 0)
    return layout
