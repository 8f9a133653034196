"""The job runner every widget uses to run engine work in a napari thread worker.

A :class:`JobRunner` owns the run button (which turns into Cancel or Stop while work runs),
the progress bar with its ETA text, the status line and the one worker a widget may have.
The work function runs in the worker; whatever it returns or raises becomes one typed
outcome, delivered in the GUI thread: :class:`Finished`, :class:`Cancelled` or :class:`Failed`.
A failure is shown once, as a napari notification and in the status line. When the widget
(or the viewer) closes, the work is stopped, the worker joined and its signals disconnected.

Work functions are called as ``function(job, *args)`` with plain values only (arrays,
strings, configs): napari layers must not be read outside the GUI thread.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from magicgui.widgets import PushButton
from qtpy.QtWidgets import QProgressBar, QWidget

from napari_deconoising.errors import Cancelled as CancelledError
from napari_deconoising.errors import DeconoisingError
from napari_deconoising.widgets._common import notify_error
from napari_deconoising.widgets._outputs import OverwriteDeclined
from napari_deconoising.widgets._qt import TextLabel, Throttle, clock, on_close

_log = logging.getLogger(__name__)

#: Resolution of the progress bars.
PROGRESS_STEPS = 1000
#: How long closing a widget waits for its worker to end (seconds).
JOIN_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Finished:
    """The work function returned ``value``."""

    value: Any


@dataclass(frozen=True)
class Cancelled:
    """The work was cancelled and produced nothing."""


@dataclass(frozen=True)
class Failed:
    """The work raised an error; ``message`` is what the user was shown."""

    message: str


Outcome = Finished | Cancelled | Failed


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

    def raise_if_stopped(self) -> None:
        """Raise :class:`~napari_deconoising.errors.Cancelled` once the job was stopped."""
        if self._stop.is_set():
            raise CancelledError("cancelled")


def error_message(err: BaseException, action: str) -> str:
    """The text shown for ``err``: the message itself for our own errors, else its type too."""
    if isinstance(err, DeconoisingError):
        return str(err)
    return f"{action} failed: {type(err).__name__}: {err}"


class JobRunner:
    """Runs one widget's work in a napari thread worker, with its button, progress and status.

    ``on_run`` is called (GUI thread) when the idle button is clicked, or by :meth:`trigger`: it
    reads the form and calls :meth:`start`, or raises ``DeconoisingError``/``OSError`` about
    the inputs, which is shown like a failure, or :class:`~._outputs.OverwriteDeclined` when
    the user kept existing outputs (said in the status line). While work runs the button
    reads ``stop_text`` and a click asks the work to stop; with ``stop_text=None`` it reads
    ``busy_text`` and is disabled. The widgets given to :meth:`lock` are disabled while work
    runs.
    """

    def __init__(
        self,
        owner: QWidget,
        *,
        action: str,
        run_text: str,
        on_run: Callable[[], None],
        stop_text: str | None = "Cancel",
        stopping_text: str = "Cancelling…",
        busy_text: str = "Working…",
        cancelled_text: str = "Cancelled.",
    ):
        self.action = action
        self.cancelled_text = cancelled_text
        self._texts = (run_text, stop_text, stopping_text, busy_text)
        self._on_run = on_run
        self.button = PushButton(text=run_text)
        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.status = TextLabel()
        self._locked: list[Any] = []
        self._teardown: list[Callable[[], None]] = []
        self._worker: Any = None
        self._job: Job | None = None
        self._outcome: Outcome | None = None
        self._on_event: Callable[[Any], None] | None = None
        self._on_done: Callable[[Outcome], None] | None = None
        self._connections: list[tuple[Any, Callable[..., None]]] = []
        self._pending: tuple[float, str] | None = None
        self._closed = False
        self._throttle = Throttle(self._show_pending, parent=owner)
        self.button.changed.connect(self._on_button)
        on_close(owner, self.close)

    # -- set-up -------------------------------------------------------------------------------
    def lock(self, *widgets: Any) -> None:
        """Disable ``widgets`` (magicgui widgets or containers) while work runs."""
        self._locked.extend(widgets)

    def add_teardown(self, *callbacks: Callable[[], None]) -> None:
        """Call ``callbacks`` once when the widget closes, after the worker has stopped."""
        self._teardown.extend(callbacks)

    # -- state --------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a worker started here has not finished."""
        return self._worker is not None

    @property
    def worker(self) -> Any:
        """The running napari worker, or None."""
        return self._worker

    # -- actions (GUI thread) -------------------------------------------------------------------
    def trigger(self, on_run: Callable[[], None] | None = None) -> None:
        """What the idle button does: call ``on_run`` (default: the one given at construction),
        showing input errors as failures and a declined overwrite in the status line."""
        if self.running or self._closed:
            return
        try:
            (on_run or self._on_run)()
        except OverwriteDeclined as declined:
            self.status.value = str(declined)
        except (DeconoisingError, OSError) as err:
            self.fail(error_message(err, self.action))

    def start(
        self,
        function: Callable[..., Any],
        *args: Any,
        status: str = "",
        on_event: Callable[[Any], None] | None = None,
        on_done: Callable[[Outcome], None] | None = None,
    ) -> Job:
        """Run ``function(job, *args)`` in a worker; ``on_event`` gets what a generator yields
        and ``on_done`` the outcome, once, after the widget is back to idle."""
        from napari.qt.threading import create_worker

        if self._closed:
            raise RuntimeError("this widget was closed")
        if self.running:
            raise RuntimeError("a job is already running")
        job = Job()
        worker = create_worker(
            _guarded(function, job, self.action), *args, _start_thread=False, _ignore_errors=True
        )
        self._connections = [(worker.returned, self._returned), (worker.finished, self._finished)]
        if on_event is not None and inspect.isgeneratorfunction(function):  # else no "yielded"
            self._connections.append((worker.yielded, self._yielded))
        for signal, slot in self._connections:
            signal.connect(slot)
        self._worker, self._job, self._outcome = worker, job, None
        self._on_event, self._on_done, self._pending = on_event, on_done, None
        self.progress.setValue(0)
        self.progress.setFormat("starting…")
        self.status.value = status
        self._set_running(True)
        worker.start()
        return job

    def stop(self) -> None:
        """Ask the running work to stop at its next batch boundary."""
        if self._job is not None:
            self._job.stop()
            self.button.text = self._texts[2]
            self.button.enabled = False

    def fail(self, message: str) -> None:
        """Show ``message`` in the status line and as an error notification."""
        self.status.value = f"Error: {message}"
        notify_error(message)

    def show_progress(self, fraction: float, text: str, eta_s: float | None = None) -> None:
        """Show ``fraction`` (0..1) and ``text`` (with the ETA, if given) at the next refresh."""
        if eta_s is not None:
            text = f"{text} · ETA {clock(eta_s)}"
        self._pending = (fraction, text)
        self._throttle.request()

    def complete(self, text: str | None = None) -> None:
        """Fill the progress bar (and show ``text`` in it)."""
        self.progress.setValue(PROGRESS_STEPS)
        if text is not None:
            self.progress.setFormat(text)

    def close(self) -> None:
        """Stop the work, join the worker, disconnect it and run the teardown callbacks.

        No callback of the work runs after this, and nothing more can be started.
        """
        if self._closed:
            return
        self._closed = True
        worker, job = self._worker, self._job
        self._worker = self._job = None
        if job is not None:
            job.stop()
        if worker is not None:
            worker.quit()
            self._disconnect()
            _join(worker, JOIN_TIMEOUT_S)
        callbacks, self._teardown = self._teardown, []
        for callback in callbacks:
            callback()

    # -- internals ----------------------------------------------------------------------------
    def _on_button(self, *_: Any) -> None:
        if self.running:
            self.stop()
        else:
            self.trigger()

    def _set_running(self, running: bool) -> None:
        run_text, stop_text, _, busy_text = self._texts
        self.button.text = (stop_text or busy_text) if running else run_text
        self.button.enabled = not running or stop_text is not None
        for widget in self._locked:
            widget.enabled = not running

    def _show_pending(self) -> None:
        if self._pending is not None:
            fraction, text = self._pending
            self.progress.setValue(round(fraction * PROGRESS_STEPS))
            self.progress.setFormat(text)

    def _yielded(self, event: Any) -> None:
        if not self._closed and self._on_event is not None:
            self._on_event(event)

    def _returned(self, outcome: Outcome) -> None:
        self._outcome = outcome

    def _finished(self) -> None:
        if self._closed:
            return
        outcome, on_done = self._outcome or Cancelled(), self._on_done
        self._disconnect()
        self._worker = self._job = None
        self._on_event = self._on_done = None
        self._throttle.flush()
        self._set_running(False)
        if isinstance(outcome, Failed):
            self.progress.setValue(0)
            self.progress.setFormat("idle")
            self.fail(outcome.message)
        elif isinstance(outcome, Cancelled):
            self.progress.setFormat("cancelled")
            self.status.value = self.cancelled_text
        if on_done is not None:
            on_done(outcome)

    def _disconnect(self) -> None:
        for signal, slot in self._connections:
            with contextlib.suppress(TypeError, RuntimeError):  # already gone
                signal.disconnect(slot)
        self._connections = []


class JobWidget(QWidget):
    """A dock widget whose work its :class:`JobRunner`, :attr:`jobs`, runs."""

    jobs: JobRunner

    @property
    def running(self) -> bool:
        """True while the widget's work runs."""
        return self.jobs.running


def _guarded(function: Callable[..., Any], job: Job, action: str) -> Callable[..., Any]:
    """``function(job, ...)`` with its result and every exception turned into an outcome.

    (superqt silently drops a ``RuntimeError`` raised in a worker, which would leave the widget
    busy for ever: nothing may escape.)
    """

    def failure(err: Exception) -> Outcome:
        if isinstance(err, CancelledError):
            return Cancelled()
        if not isinstance(err, DeconoisingError):
            _log.error("%s failed: unexpected error", action, exc_info=err)
        return Failed(error_message(err, action))

    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def generator(*args: Any) -> Any:
            try:
                job.raise_if_stopped()
                value = yield from function(job, *args)
            except Exception as err:
                return failure(err)
            return Finished(value)

        return generator

    @functools.wraps(function)
    def plain(*args: Any) -> Outcome:
        try:
            job.raise_if_stopped()
            return Finished(function(job, *args))
        except Exception as err:
            return failure(err)

    return plain


def _join(worker: Any, timeout_s: float) -> None:
    """Wait until ``worker`` has ended (a generator at its next yield), at most ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while worker.is_running:
        if time.monotonic() > deadline:
            _log.warning("a worker is still running %.0f s after its widget closed", timeout_s)
            return
        time.sleep(0.01)
