"""Running engine work in napari thread workers, stopping it, and throttling GUI updates."""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qtpy.QtCore import QEvent, QObject, QTimer
from qtpy.QtWidgets import QWidget

_log = logging.getLogger(__name__)

#: Longest time between two GUI refreshes driven by a worker (milliseconds): at most 10 per second.
REFRESH_MS = 100


@dataclass(frozen=True)
class Failed:
    """Yielded by a worker instead of raising, for errors whose message is meant for the user."""

    message: str


class Job:
    """A stop request shared between the GUI thread and a worker.

    The worker :meth:`bind`\\ s the stop method of the engine object it creates (``Trainer.stop``,
    ``Predictor.cancel``); a stop asked before that object exists is passed on when it is bound.
    """

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._targets: list[Callable[[], None]] = []

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    def bind(self, stop: Callable[[], None]) -> None:
        """Call ``stop`` when the job is stopped (at once if it already was)."""
        with self._lock:
            self._targets.append(stop)
            if self._stop.is_set():
                stop()

    def stop(self) -> None:
        """Ask the work to end at its next batch boundary."""
        with self._lock:
            self._stop.set()
            for target in self._targets:
                target()


class WorkerSlot:
    """At most one running worker (and its :class:`Job`) for a widget."""

    def __init__(self) -> None:
        self.worker: Any = None
        self.job: Job | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        """True while a worker started here has not finished."""
        return self.worker is not None

    def start(
        self,
        function: Callable[..., Any],
        *args: Any,
        on_yield: Callable[[Any], None] | None = None,
        on_return: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_finish: Callable[[], None] | None = None,
        action: str = "The task",
    ) -> Job:
        """Run ``function(job, *args)`` in a napari thread worker and connect its signals.

        Work functions catch the errors they expect and yield (or return) :class:`Failed` with
        a message for the user. Any other exception is turned into ``Failed("<action> failed:
        <type>: <message>")`` too (its traceback goes to the log): superqt silently drops a
        ``RuntimeError`` raised in a worker, which would leave the widget busy for ever.
        """
        from napari.qt.threading import create_worker

        if self._closed:
            raise RuntimeError("this widget was closed")
        job = Job()
        worker = create_worker(
            _guarded(function, action), job, *args, _start_thread=False, _ignore_errors=True
        )
        for name, callback in (
            ("yielded", on_yield),
            ("returned", on_return),
            ("errored", on_error),
        ):
            if callback is not None:  # a FunctionWorker has no "yielded"
                getattr(worker, name).connect(self._unless_closed(callback))

        def finished() -> None:
            if self.worker is worker:
                self.worker, self.job = None, None
            if on_finish is not None and not self._closed:
                on_finish()

        worker.finished.connect(finished)
        self.worker, self.job = worker, job
        worker.start()
        return job

    def _unless_closed(self, callback: Callable[..., None]) -> Callable[..., None]:
        def call(*args: Any) -> None:
            if not self._closed:
                callback(*args)

        return call

    def stop(self) -> None:
        """Ask the running work to stop at its next batch boundary (results still arrive)."""
        if self.job is not None:
            self.job.stop()

    def quit(self) -> None:
        """Stop the work and drop its results (the widget is going away): no callback runs
        after this, and nothing more can be started."""
        self._closed = True
        worker, job = self.worker, self.job
        if job is not None:
            job.stop()
        if worker is not None:
            worker.quit()


def _guarded(function: Callable[..., Any], action: str) -> Callable[..., Any]:
    """``function`` with every exception turned into a :class:`Failed` result."""

    def failure(err: Exception) -> Failed:
        from ._common import error_message

        _log.error("%s failed", action, exc_info=err)
        return Failed(error_message(err, action))

    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any) -> Any:
            try:
                return (yield from function(*args))
            except Exception as err:
                yield failure(err)
                return None

        return generator

    @functools.wraps(function)
    def plain(*args: Any) -> Any:
        try:
            return function(*args)
        except Exception as err:
            return failure(err)

    return plain


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
