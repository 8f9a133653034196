"""The job runner: finished, cancelled and failed outcomes, input errors, closing; and the
widgets hand their workers plain values, never napari layers."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from magicgui.widgets import SpinBox
from qtpy.QtWidgets import QVBoxLayout, QWidget

from napari_deconoising.errors import ConfigError, ImageError
from napari_deconoising.widgets._jobs import Cancelled, Failed, Finished, JobRunner


class Form(QWidget):
    """A minimal widget: one field, the runner's button, progress and status."""

    def __init__(self, work, *args, stop_text: str | None = "Cancel"):
        super().__init__()
        self.events: list = []
        self.outcomes: list = []
        self.teardowns = 0
        self.field = SpinBox(label="n")
        self.jobs = JobRunner(
            self,
            action="Test job",
            run_text="Go",
            stop_text=stop_text,
            busy_text="Busy…",
            cancelled_text="Cancelled here.",
            on_run=lambda: self.jobs.start(
                work, *args, status="working", on_event=self.on_event, on_done=self.outcomes.append
            ),
        )
        self.jobs.lock(self.field)
        self.jobs.add_teardown(self.teardown)
        layout = QVBoxLayout(self)
        for widget in (self.field.native, self.jobs.button.native, self.jobs.progress):
            layout.addWidget(widget)
        layout.addWidget(self.jobs.status)

    def on_event(self, value) -> None:
        self.events.append(value)
        self.jobs.show_progress(value / 3, f"item {value}", eta_s=65)

    def teardown(self) -> None:
        self.teardowns += 1


def counting(job, n: int):
    yield from range(n)
    return "done"


def endless(job):
    while True:
        job.raise_if_stopped()
        time.sleep(0.005)
        yield 0


def raising(job, err: Exception):
    yield 1
    raise err


def plain(job, value):
    time.sleep(0.2)
    return value * 2


@pytest.fixture
def form(qtbot):
    made = []

    def make(*args, **kwargs) -> Form:
        widget = Form(*args, **kwargs)
        qtbot.addWidget(widget)
        made.append(widget)
        return widget

    return make


def wait_done(qtbot, widget: Form) -> None:
    qtbot.waitUntil(lambda: bool(widget.outcomes), timeout=10000)


def test_finished_outcome_and_events(form, qtbot, notifications):
    widget = form(counting, 3)
    widget.jobs.button.clicked()
    assert widget.jobs.running and widget.jobs.button.text == "Cancel"
    assert not widget.field.enabled and widget.jobs.status.value == "working"
    wait_done(qtbot, widget)
    assert widget.outcomes == [Finished("done")]
    assert widget.events == [0, 1, 2]
    assert not widget.jobs.running and widget.jobs.worker is None
    assert widget.jobs.button.text == "Go" and widget.jobs.button.enabled
    assert widget.field.enabled
    assert widget.jobs.progress.format() == "item 2 · ETA 1:05"  # the last event, flushed
    assert not notifications


def test_our_error_is_one_notification_with_its_message(form, qtbot, notifications):
    widget = form(raising, ImageError("the image is too small"))
    widget.jobs.button.clicked()
    wait_done(qtbot, widget)
    qtbot.wait(50)
    assert widget.outcomes == [Failed("the image is too small")]
    assert [text for _, text in notifications] == ["the image is too small"]
    assert "error" in notifications[0][0].lower()
    assert widget.jobs.status.value == "Error: the image is too small"
    assert widget.jobs.button.text == "Go" and widget.field.enabled
    assert widget.jobs.progress.format() == "idle"


def test_unexpected_error_is_named_and_logged(form, qtbot, notifications, caplog):
    widget = form(raising, RuntimeError("boom"))
    with caplog.at_level(logging.ERROR, logger="napari_deconoising.widgets._jobs"):
        widget.jobs.button.clicked()
        wait_done(qtbot, widget)
    message = "Test job failed: RuntimeError: boom"
    assert widget.outcomes == [Failed(message)]
    assert [text for _, text in notifications] == [message]
    logged = [r for r in caplog.records if r.name == "napari_deconoising.widgets._jobs"]
    assert len(logged) == 1 and "unexpected error" in logged[0].getMessage()
    assert logged[0].exc_info is not None  # the traceback
    assert not widget.jobs.running


def test_cancel_returns_the_button_to_idle(form, qtbot, notifications):
    widget = form(endless)
    widget.jobs.button.clicked()
    qtbot.waitUntil(lambda: len(widget.events) >= 3, timeout=10000)
    widget.jobs.button.clicked()  # Cancel
    assert widget.jobs.button.text == "Cancelling…" and not widget.jobs.button.enabled
    wait_done(qtbot, widget)
    assert widget.outcomes == [Cancelled()]
    assert widget.jobs.button.text == "Go" and widget.jobs.button.enabled
    assert widget.field.enabled and not widget.jobs.running
    assert widget.jobs.progress.format() == "cancelled"
    assert widget.jobs.status.value == "Cancelled here."
    assert not notifications


def test_input_errors_are_notifications_and_start_nothing(form, notifications):
    widget = form(counting, 1)

    def bad_inputs() -> None:
        raise ConfigError("tile must be in [16, 8192], got 8")

    widget.jobs._on_run = bad_inputs
    widget.jobs.trigger()
    assert [text for _, text in notifications] == ["tile must be in [16, 8192], got 8"]
    assert widget.jobs.status.value == "Error: tile must be in [16, 8192], got 8"
    assert not widget.jobs.running and widget.jobs.button.text == "Go"


def test_a_plain_function_without_cancel(form, qtbot):
    widget = form(plain, 21, stop_text=None)
    widget.jobs.button.clicked()
    assert widget.jobs.button.text == "Busy…" and not widget.jobs.button.enabled
    wait_done(qtbot, widget)
    assert widget.outcomes == [Finished(42)]
    assert widget.jobs.button.text == "Go" and widget.jobs.button.enabled


def test_closing_stops_and_joins_the_worker(form, qtbot):
    widget = form(endless)
    widget.jobs.button.clicked()
    qtbot.waitUntil(lambda: len(widget.events) >= 3, timeout=10000)
    worker = widget.jobs.worker
    widget.close()
    assert not worker.is_running and worker.abort_requested  # joined before close returned
    assert widget.teardowns == 1 and not widget.jobs.running
    seen = len(widget.events)
    qtbot.wait(200)
    assert widget.outcomes == [] and len(widget.events) == seen  # no callback after closing
    widget.jobs.trigger()  # nothing starts after closing
    assert widget.jobs.worker is None
    widget.close()
    assert widget.teardowns == 1


# -- the widgets give their workers plain values ---------------------------------------------
@pytest.mark.parametrize("name", ["PSF", "Train", "Denoise & Deconvolve", "Compress"])
def test_workers_get_no_layers(
    make_napari_viewer, monkeypatch, tiny_sample, tiny_model, clean_registry, home, name
):
    from napari.layers import Layer

    from napari_deconoising.widgets import psf_widget
    from napari_deconoising.widgets._common import unwrap

    started = []
    monkeypatch.setattr(JobRunner, "start", lambda self, fn, *args, **kw: started.append(args))
    clean_registry.add("trained: tiny", tiny_model)
    viewer = make_napari_viewer()
    viewer.add_image(tiny_sample.noisy, name="noisy")
    viewer.add_image(tiny_sample.psf, name="PSF")
    viewer.add_image(np.asarray(tiny_sample.blurred), name="truth")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", name)
    if name == "PSF":
        widget.mode.value = psf_widget.FROM_LAYER
        widget.source.value = viewer.layers["PSF"]
    if name == "Denoise & Deconvolve":
        widget.reference.value = viewer.layers["truth"]
    widget.jobs.trigger()
    assert len(started) == 1, widget.jobs.status.value
    values = list(_inside(started[0]))
    assert not [a for a in values if isinstance(unwrap(a), Layer)]
    assert any(isinstance(a, np.ndarray) for a in values)  # the pixels, read on the GUI thread


def _inside(values):
    """``values`` and what they hold: items of lists and tuples, an AxesImage's data."""
    from napari_deconoising.io import AxesImage

    for value in values:
        yield value
        if isinstance(value, (list, tuple)):
            yield from _inside(value)
        elif isinstance(value, AxesImage):
            yield from _inside([value.data])
