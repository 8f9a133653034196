"""The manifest: widgets dock by their display names, the sample loads, npe2 accepts it."""

from __future__ import annotations

import pytest

from napari_deconoising.widgets.compression_widget import CompressionWidget
from napari_deconoising.widgets.oneclick_widget import OneClickWidget
from napari_deconoising.widgets.prediction_widget import PredictionWidget
from napari_deconoising.widgets.psf_widget import PSFWidget
from napari_deconoising.widgets.training_widget import TrainingWidget

PLUGIN = "napari-deconoising"
ONE_CLICK = "One-click Denoise & Deconvolve"


def test_manifest_names_and_validation():
    from npe2 import PluginManifest

    manifest = PluginManifest.from_distribution(PLUGIN)
    assert manifest.name == PLUGIN
    widgets = [w.display_name for w in manifest.contributions.widgets]
    # the one-click widget first: the top entry of Plugins > DecoNoising
    assert widgets == [ONE_CLICK, "PSF", "Train", "Denoise & Deconvolve", "Compress"]
    samples = {s.display_name for s in manifest.contributions.sample_data}
    assert samples == {"Synthetic cell walls", "Synthetic widefield z-stack"}
    manifest.validate_imports()  # every python_name (widgets and sample) imports


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        (ONE_CLICK, OneClickWidget),
        ("PSF", PSFWidget),
        ("Train", TrainingWidget),
        ("Denoise & Deconvolve", PredictionWidget),
        ("Compress", CompressionWidget),
    ],
)
def test_widget_docks_from_manifest(make_napari_viewer, name, cls):
    viewer = make_napari_viewer()
    dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    assert isinstance(widget, cls)
    assert dock.name.startswith(name)


def test_sample_data_layers(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic-cell-walls")
    names = [layer.name for layer in viewer.layers]
    assert names == ["cell walls", "cell walls blurred truth", "cell walls sharp truth", "true PSF"]
    noisy, blurred, sharp, psf = viewer.layers
    assert noisy.data.ndim == 3 and noisy.data.shape[1:] == blurred.data.shape
    assert sharp.data.shape == blurred.data.shape
    assert abs(float(psf.data.sum()) - 1) < 1e-4
    assert not blurred.visible and noisy.visible
    assert tuple(blurred.contrast_limits) == tuple(noisy.contrast_limits)


def test_every_dock_scrolls_instead_of_squeezing_its_rows(make_napari_viewer, qtbot, home):
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import (
        QAbstractButton,
        QAbstractSpinBox,
        QComboBox,
        QLabel,
        QLineEdit,
        QScrollArea,
    )
    from superqt import QCollapsible

    viewer = make_napari_viewer(show=True)
    widgets = [
        viewer.window.add_plugin_dock_widget(PLUGIN, name)[1]
        for name in (ONE_CLICK, "PSF", "Train", "Denoise & Deconvolve", "Compress")
    ]
    window = viewer.window._qt_window
    window.resize(1920, 1080)
    window.show()
    qtbot.wait(200)
    rows = (QLabel, QAbstractSpinBox, QComboBox, QAbstractButton, QLineEdit)
    for widget in widgets:
        area = widget.findChild(QScrollArea, "", Qt.FindChildOption.FindDirectChildrenOnly)
        assert area is not None and area.widgetResizable()
        assert area.widget().isAncestorOf(widget.jobs.button.native)
        folded = [box for box in widget.findChildren(QCollapsible) if not box.isExpanded()]
        squeezed = [
            child
            for kind in rows
            for child in widget.findChildren(kind)
            if child.isVisible()
            and not any(box.isAncestorOf(child) for box in folded)
            and (
                child.height() < child.minimumSizeHint().height()
                or child.width() < child.minimumSizeHint().width()
            )
        ]
        assert squeezed == [], type(widget).__name__
    # squeezed to a tiny height, the Train dock scrolls: its content keeps its minimum height
    train = widgets[2]
    train.resize(train.width(), 150)
    qtbot.wait(50)
    area = train.findChild(QScrollArea, "", Qt.FindChildOption.FindDirectChildrenOnly)
    assert area.widget().height() >= area.widget().minimumSizeHint().height() > 150
    assert area.verticalScrollBar().maximum() > 0
