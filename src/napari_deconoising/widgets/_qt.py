"""Small Qt helpers: throttled refreshes, close detection, text labels, a clock format and an
event-loop pause monitor."""

from __future__ import annotations

from collections.abc import Callable

from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QLabel, QWidget

#: Longest time between two GUI refreshes driven by a worker (milliseconds): at most 10 per second.
REFRESH_MS = 100


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
