"""z-stacks in napari: the z-stack sample, 3D PSF layers, the Train widget's 2D/3D settings, and a
tiny 3D training and prediction through the widgets (outputs with the raw layer's scale)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_deconoising import PredictionConfig, load_model
from napari_deconoising.psf.measure import psf_fwhm
from napari_deconoising.psf.models import (
    gaussian_psf_3d,
    gaussian_psf_3d_from_optics,
    widefield_psf_3d,
)
from napari_deconoising.widgets import psf_widget as pw
from napari_deconoising.widgets._preview import Z_CONTEXT, read_request, run_preview
from napari_deconoising.widgets.training_form import mode_defaults

PLUGIN = "napari-deconoising"
VOXEL = (0.25, 0.1, 0.1)


def add_stack(viewer, name="stack", shape=(12, 48, 48), seed=0):
    data = np.random.default_rng(seed).poisson(20, shape).astype(np.float32) + 100
    return viewer.add_image(
        data, name=name, scale=VOXEL, units=("µm",) * 3, axis_labels=("z", "y", "x")
    )


@pytest.fixture
def psf_ui(make_napari_viewer):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "PSF")
    return viewer, widget


def test_zstack_sample_layers_have_scale_truths_and_psf(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "synthetic-widefield-zstack")
    names = [layer.name for layer in viewer.layers]
    assert names == ["z-stack", "z-stack blurred truth", "z-stack sharp truth", "z-stack true PSF"]
    noisy, blurred, sharp, psf = viewer.layers
    assert noisy.data.shape == blurred.data.shape == sharp.data.shape == (32, 256, 256)
    assert psf.data.ndim == 3 and abs(float(psf.data.sum()) - 1) < 1e-4
    for layer in viewer.layers:
        np.testing.assert_allclose(layer.scale, VOXEL)
        assert [str(unit) for unit in layer.units] == ["micrometer"] * 3
    assert noisy.visible and not blurred.visible and not psf.visible
    assert tuple(blurred.contrast_limits) == tuple(noisy.contrast_limits)


def test_3d_gaussian_from_optics_is_a_3d_layer_with_its_voxel_size(psf_ui):
    viewer, widget = psf_ui
    widget.mode.value = pw.GAUSSIAN_OPTICS
    widget.dims.value = pw.VOLUME
    assert not widget.z_step.native.isHidden() and widget.sigma_z.native.isHidden()
    widget.na.value, widget.wavelength.value, widget.pixel_size.value = 1.1, 520.0, 100.0
    widget.z_step.value = 250.0
    widget.make_button.clicked()
    layer = viewer.layers["PSF"]
    np.testing.assert_array_equal(layer.data, gaussian_psf_3d_from_optics(1.1, 520, 100, 250))
    np.testing.assert_allclose(layer.scale, VOXEL)
    assert viewer.dims.ndisplay == 3
    assert "planes" in widget.fwhm_text
    # back to 2D: the layer is replaced by a 2D one of the same name
    widget.dims.value = pw.PLANAR
    widget.make_button.clicked()
    assert [x.name for x in viewer.layers] == ["PSF"] and viewer.layers["PSF"].ndim == 2


def test_3d_gaussian_sigmas_and_planes(psf_ui):
    viewer, widget = psf_ui
    widget.dims.value = pw.VOLUME
    widget.view_3d.value = False
    widget.sigma.value, widget.sigma_z.value, widget.planes.value = 1.5, 2.0, 9
    widget.make_button.clicked()
    np.testing.assert_array_equal(viewer.layers["PSF"].data, gaussian_psf_3d(1.5, 2.0, planes=9))
    assert viewer.dims.ndisplay == 2


def test_3d_widefield_runs_in_worker_with_planes_and_immersion(psf_ui, qtbot):
    pytest.importorskip("psfmodels")
    viewer, widget = psf_ui
    widget.mode.value = pw.WIDEFIELD
    widget.dims.value = pw.VOLUME
    widget.na.value, widget.wavelength.value, widget.pixel_size.value = 1.1, 520.0, 100.0
    widget.z_step.value, widget.planes.value, widget.immersion.value = 250.0, 7, 1.33
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: "PSF" in viewer.layers, timeout=20000)
    qtbot.waitUntil(lambda: widget.make_button.enabled, timeout=5000)
    expected = widefield_psf_3d(1.1, 520, 100, 250, immersion_index=1.33, planes=7)
    np.testing.assert_array_equal(viewer.layers["PSF"].data, expected)
    np.testing.assert_allclose(viewer.layers["PSF"].scale, VOXEL)


def test_pixel_size_from_a_zstack_fills_the_z_step_and_picks_3d(psf_ui):
    viewer, widget = psf_ui
    add_stack(viewer)
    widget.mode.value = pw.GAUSSIAN_OPTICS
    widget.pixel_from.value = viewer.layers["stack"]
    assert widget.pixel_size.value == pytest.approx(100)
    assert widget.z_step.value == pytest.approx(250)
    assert widget.dims.value == pw.VOLUME


def test_3d_psf_from_a_bead_stack_layer(psf_ui, qtbot):
    viewer, widget = psf_ui
    bead = np.pad(gaussian_psf_3d(1.3, 1.2) * 2e4, ((4, 3), (6, 9), (8, 7))) + 50
    viewer.add_image(bead, name="beads", scale=VOXEL, units=("µm",) * 3)
    widget.mode.value = pw.FROM_LAYER
    widget.dims.value = pw.VOLUME
    widget.source.value = viewer.layers["beads"]
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: "PSF" in viewer.layers, timeout=10000)
    psf = viewer.layers["PSF"].data
    assert psf.ndim == 3 and np.unravel_index(np.argmax(psf), psf.shape) == tuple(
        side // 2 for side in psf.shape
    )
    assert psf_fwhm(psf) == pytest.approx(psf_fwhm(gaussian_psf_3d(1.3, 1.2)), rel=0.1)
    np.testing.assert_allclose(viewer.layers["PSF"].scale, VOXEL)


def test_bead_layer_without_a_peak_is_a_notification(psf_ui, qtbot, notifications):
    viewer, widget = psf_ui
    noise = np.random.default_rng(0).poisson(100, (9, 24, 24)).astype(np.float32)
    viewer.add_image(noise, name="noise")
    widget.mode.value = pw.FROM_LAYER
    widget.dims.value = pw.VOLUME
    widget.source.value = viewer.layers["noise"]
    widget.make_button.clicked()
    qtbot.waitUntil(lambda: bool(notifications), timeout=10000)
    assert "no clear peak" in notifications[-1][1]
    assert "PSF" not in viewer.layers


# -- Train widget ---------------------------------------------------------------------------------
@pytest.fixture
def train_ui(make_napari_viewer, clean_registry, home):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    return viewer, widget


def test_z_settings_follow_the_layer_and_the_psf(train_ui):
    viewer, widget = train_ui
    settings = widget.settings
    viewer.add_image(np.random.default_rng(0).random((48, 48)), name="plane")
    assert not settings.mode.enabled and not settings.patch_size_z.enabled
    assert settings.config().mode == "auto"
    add_stack(viewer)
    viewer.add_image(gaussian_psf_3d(1.0, 1.0), name="PSF")
    widget.image.value, widget.psf.value = viewer.layers["stack"], viewer.layers["PSF"]
    assert settings.mode.enabled and settings.patch_size_z.enabled
    for name, value in mode_defaults("3d").items():  # 3D training coming: 3D sizes
        assert getattr(settings, name).value == value
    assert settings.config().design == "two-stage"  # and the 3D design
    settings.patch_size_z.value = 8
    settings.z_context.value = 3  # 2.5D: the first layer sees three planes
    config = settings.config()
    assert config.mode == "auto" and config.patch_size_z == 8
    assert config.network.z_context == 3
    assert "plane by plane" in settings.z_context.tooltip
    settings.mode.value = "2d"
    assert not settings.patch_size_z.enabled
    assert settings.config().mode == "2d"
    # the user changed a size: going back to 2D leaves the sizes alone
    assert settings.patch_size_z.value == 8


def test_tiny_3d_training_and_prediction_through_the_widgets(train_ui, qtbot, clean_registry):
    viewer, widget = train_ui
    stack = add_stack(viewer, shape=(12, 32, 32))
    viewer.add_image(gaussian_psf_3d(1.0, 1.0), name="PSF")
    widget.image.value, widget.psf.value = stack, viewer.layers["PSF"]
    widget.settings.set_values(
        steps=10_000, patch_size=32, patch_size_z=8, batch_size=2, depth=2, start_filters=8,
        validation_interval=2, device="cpu", mode="3d",
    )  # fmt: skip
    widget.preview.interval_s = 0.2
    widget.train_button.clicked()
    qtbot.waitUntil(lambda: widget.preview.refreshes >= 1, timeout=120000)
    preview = widget.preview.layer  # the plane in view, predicted by the 3D network
    assert preview.data.shape == (1, 32, 32) and np.isfinite(preview.data).all()
    assert "error" not in str(widget.status.value).lower()
    widget.stop()
    qtbot.waitUntil(lambda: not widget.running, timeout=120000)
    assert widget.finished is not None and widget.finished.stopped
    model = load_model(widget.finished.model_path)
    assert model.spatial_dims == 3
    assert model.voxel_size_um == pytest.approx(VOXEL)
    _, predictor = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise & Deconvolve")
    predictor.image.value = stack
    predictor.model.value = widget.model_name
    predictor.run_button.clicked()
    qtbot.waitUntil(lambda: not predictor.running, timeout=60000)
    for name in ("stack denoised", "stack deconvolved"):
        layer = viewer.layers[name]
        assert layer.data.shape == stack.data.shape
        np.testing.assert_allclose(layer.scale, VOXEL)


# -- live preview of z-stacks ---------------------------------------------------------------------
class FakeLayer:
    def __init__(self, data):
        self.data = data
        self.name = "stack"


def test_preview_crop_of_a_zstack_holds_the_planes_around_the_one_in_view():
    data = np.arange(20 * 40 * 30, dtype=np.float32).reshape(20, 40, 30)
    request = read_request(FakeLayer(data), "ZYX", np.array([2.0, 20.0, 15.0]), 8, 1)
    assert request.window.shape[0] == 2 + Z_CONTEXT + 1 and request.plane == 2  # clipped at 0
    np.testing.assert_array_equal(request.window[request.plane], data[2])
    swapped = read_request(FakeLayer(data.transpose(1, 2, 0)), "YXZ", np.array([20, 15, 10]), 8, 1)
    assert swapped.window.shape == (2 * Z_CONTEXT + 1, 40, 30) and swapped.plane == Z_CONTEXT
    np.testing.assert_array_equal(swapped.window[swapped.plane], data[10])


class Finished:
    """What run_preview needs of a trainer: the network of a channel and the device."""

    def __init__(self, model):
        self.model = model
        self.config = PredictionConfig(device="cpu")

    def current_model(self, channel):
        return self.model


@pytest.fixture(scope="module")
def tiny_3d_model():
    from napari_deconoising import NetworkConfig, TrainingConfig, train
    from napari_deconoising.io import AxesImage

    stack = np.random.default_rng(0).poisson(30, (12, 32, 32)).astype(np.float32) + 100
    config = TrainingConfig(
        steps=2, patch_size=32, patch_size_z=8, batch_size=2, device="cpu",
        network=NetworkConfig(depth=2, start_filters=8), validation_interval=2, mode="3d",
    )  # fmt: skip
    image = AxesImage(stack, "ZYX", dict(zip("ZYX", VOXEL, strict=True)))
    return train(image, gaussian_psf_3d(1, 1), config), stack


def test_preview_of_a_3d_network_predicts_the_planes_around_the_one_in_view(tiny_3d_model):
    from napari_deconoising import predict
    from napari_deconoising.io import AxesImage

    model, stack = tiny_3d_model
    request = read_request(FakeLayer(stack), "ZYX", np.array([5.0, 16.0, 16.0]), 4, 1)
    ready = run_preview(Finished(model), request, 2)
    assert ready.error is None
    y, x, height, width = request.inner
    config = PredictionConfig(tile=32, overlap=0, device="cpu")
    expected = predict(model, AxesImage(request.window, "ZYX"), config).deconvolved
    plane = expected[request.plane, y : y + height, x : x + width]
    np.testing.assert_allclose(ready.deconvolved, plane, rtol=1e-5, atol=1e-4)
    assert not np.allclose(expected[request.plane], expected[request.plane + 1])


def test_preview_of_a_2d_network_on_a_zstack_predicts_the_plane_in_view(tiny_model):
    from napari_deconoising import predict

    stack = np.random.default_rng(1).poisson(30, (6, 32, 32)).astype(np.float32) + 100
    request = read_request(FakeLayer(stack), "ZYX", np.array([3.0, 16.0, 16.0]), 4, 1)
    ready = run_preview(Finished(tiny_model), request, 1)
    assert ready.error is None
    config = PredictionConfig(tile=32, overlap=0, device="cpu")
    expected = predict(tiny_model, stack[3], config).deconvolved
    np.testing.assert_allclose(ready.deconvolved, expected, rtol=1e-5, atol=1e-4)
