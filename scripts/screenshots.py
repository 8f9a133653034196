"""Make the README's screenshots in docs/images/ from real runs of the plugin's widgets.

- ``widgets.png``: a 1920 x 1080 napari window with all five docks (One-click, PSF, Train,
  Denoise & Deconvolve, Compress) after a one-click run on the "Synthetic cell walls" sample:
  raw, denoised and deconvolved side by side, the PSNR against the blurred truth.
- ``zstack_orthogonal.png``: the "Synthetic widefield z-stack" after a one-click run (a 3D
  network and a 3D PSF made by the PSF widget): raw, denoised and deconvolved side by side in
  the XY, XZ and YZ views (Z vertical, in proportion), as the One-click widget's "orthogonal
  views" show them.
- ``zstack_3d.png``: the same in napari's 3D view (maximum intensity projections, one camera),
  with the One-click dock (its orthogonal views) and the PSF dock (lateral and axial FWHM).

Run it on a machine without a display with::

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshots.py [--minutes 1]

Each run trains for ``--minutes`` on the CPU (the z-stack for twice as long), so that it takes a
few minutes on 2 cores. PNGs are written as 256-colour images when that keeps them smaller.
"""

from __future__ import annotations

import argparse
import io
import itertools
import time
from collections.abc import Callable
from pathlib import Path

import napari
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_deconoising.widgets.psf_widget import GAUSSIAN_OPTICS, VOLUME

PLUGIN = "napari-deconoising"
ONE_CLICK = "One-click Denoise & Deconvolve"
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "images"
WINDOW = (1920, 1080)
#: A PNG above this many bytes is saved as a 256-colour image instead.
PALETTE_ABOVE = 400_000


def wait(condition: Callable[[], bool], timeout: float = 900.0) -> None:
    """Process Qt events until ``condition()`` is true."""
    app = QApplication.instance()
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the widget did not finish in time")
        app.processEvents()
        time.sleep(0.01)


def settle(seconds: float = 1.0) -> None:
    """Let Qt and the canvas draw for ``seconds``."""
    end = time.monotonic() + seconds
    wait(lambda: time.monotonic() > end)


def save_png(image: np.ndarray | Image.Image, path: Path) -> None:
    """Save an RGB(A) image as a PNG, as 256 colours when the full-colour file is large."""
    picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    picture = picture.convert("RGB")
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=True)
    if buffer.tell() > PALETTE_ABOVE:
        picture = picture.quantize(256, method=Image.Quantize.MEDIANCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, optimize=True)
    print(f"saved {path} ({picture.width}x{picture.height}, {path.stat().st_size // 1024} KiB)")


def new_viewer() -> napari.Viewer:
    viewer = napari.Viewer(title="napari-deconoising")
    viewer.window._qt_window.showNormal()
    viewer.window.resize(*WINDOW)
    return viewer


def dock(viewer: napari.Viewer, name: str):
    """Dock the plugin's widget ``name``: (its dock, the widget)."""
    return viewer.window.add_plugin_dock_widget(PLUGIN, name)


def columns(viewer: napari.Viewer, stacks: list[list], widths: list[int], heights: dict) -> None:
    """Arrange docks in columns side by side (each a list of docks, top to bottom) of ``widths``;
    ``heights`` maps a dock to its height."""
    window = viewer.window._qt_window
    for left, right in itertools.pairwise(stacks):
        window.splitDockWidget(left[0], right[0], Qt.Orientation.Horizontal)
    for stack in stacks:
        for upper, lower in itertools.pairwise(stack):
            window.splitDockWidget(upper, lower, Qt.Orientation.Vertical)
    window.resizeDocks([stack[0] for stack in stacks], widths, Qt.Orientation.Horizontal)
    window.resizeDocks(list(heights), list(heights.values()), Qt.Orientation.Vertical)


def close_notifications(viewer: napari.Viewer) -> None:
    """Close the notification toasts (e.g. napari's own) so that they hide nothing."""
    from napari._qt.dialogs.qt_notification import NapariQtNotification

    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()


def window_screenshot(viewer: napari.Viewer) -> np.ndarray:
    """The whole window, drawn, without notifications."""
    close_notifications(viewer)
    settle()
    return viewer.screenshot(canvas_only=False, flash=False)


def one_click(widget, minutes: float) -> None:
    """Run the One-click widget for ``minutes`` and wait for it."""
    widget.minutes.value = minutes
    widget.run()
    wait(lambda: not widget.running)
    print(widget.status.value)


def all_widgets(minutes: float, output: Path) -> None:
    """``widgets.png``: the five docks after a one-click run on the 2D sample."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "synthetic-cell-walls")
    docks = {name: dock(viewer, name) for name in (ONE_CLICK, "PSF", "Train")}
    docks.update({name: dock(viewer, name) for name in ("Denoise & Deconvolve", "Compress")})
    stacks = [
        [docks[ONE_CLICK][0], docks["PSF"][0]],
        [docks["Train"][0]],
        [docks["Denoise & Deconvolve"][0], docks["Compress"][0]],
    ]
    heights = {docks[ONE_CLICK][0]: 600, docks["PSF"][0]: 400}
    heights.update({docks["Denoise & Deconvolve"][0]: 520, docks["Compress"][0]: 480})
    columns(viewer, stacks, [330, 330, 330], heights)
    psf = docks["PSF"][1]
    psf.sigma.value = 1.5
    psf.make_psf()
    wait(lambda: "PSF" in viewer.layers)
    oneclick = docks[ONE_CLICK][1]
    one_click(oneclick, minutes)
    predictor = docks["Denoise & Deconvolve"][1]
    predictor.reference.value = viewer.layers["cell walls blurred truth"]
    predictor.run()  # the one-click model, offered there: replaces the outputs, with the PSNR
    wait(lambda: not predictor.running)
    predictor.toggle_side_by_side()
    viewer.dims.set_current_step(0, 3)
    save_png(window_screenshot(viewer), output / "widgets.png")
    viewer.close()


def orthogonal_views(viewer: napari.Viewer, comparison) -> Image.Image:
    """Raw, denoised and deconvolved in XY, XZ and YZ (rows), from canvas captures, each
    cropped to what the layers cover and labelled."""
    rows = []
    through_objects(viewer, comparison.raw)
    for plane in ("XY", "XZ", "YZ"):
        comparison.show_plane(plane)
        settle(0.5)
        rows.append((plane, crop_to_content(viewer.screenshot(canvas_only=True, flash=False))))
    width = max(row.shape[1] for _, row in rows) + 60
    height = sum(row.shape[0] for _, row in rows) + 10 * len(rows) + HEADER
    figure = Image.new("RGB", (width, height), (38, 41, 48))
    draw = ImageDraw.Draw(figure)
    draw.font = ImageFont.load_default(size=15)
    panel = (width - 60) / len(COLUMNS)
    for number, title in enumerate(COLUMNS):
        draw.text((50 + (number + 0.5) * panel, HEADER // 2), title, fill=TEXT, anchor="mm")
    top = HEADER
    for plane, row in rows:
        figure.paste(Image.fromarray(row[..., :3]), (50, top))
        draw.text((25, top + row.shape[0] // 2), plane, fill=TEXT, anchor="mm")
        top += row.shape[0] + 10
    return figure


#: The orthogonal views' figure: the column titles, their band's height and the text colour.
COLUMNS = ("raw", "denoised", "deconvolved")
HEADER = 28
TEXT = (230, 230, 230)


def through_objects(viewer: napari.Viewer, raw) -> None:
    """Put the Y and X sliders on the row and column of a z-stack layer that hold the most
    signal, so that the XZ and YZ views cut through objects."""
    profile = np.asarray(raw.data, dtype=np.float32).mean(axis=0)  # Y, X
    for axis, index in ((1, profile.mean(axis=1).argmax()), (2, profile.mean(axis=0).argmax())):
        viewer.dims.set_point(axis, raw.translate[axis] + index * raw.scale[axis])


def crop_to_content(image: np.ndarray) -> np.ndarray:
    """``image`` without its empty (black) border."""
    lit = np.asarray(image)[..., :3].max(axis=-1) > 0
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def zstack(minutes: float, output: Path) -> None:
    """``zstack_orthogonal.png`` and ``zstack_3d.png``: a one-click run on the z-stack sample."""
    viewer = new_viewer()
    viewer.open_sample(PLUGIN, "synthetic-widefield-zstack")
    oneclick_dock, oneclick = dock(viewer, ONE_CLICK)
    psf_dock, psf = dock(viewer, "PSF")
    columns(viewer, [[oneclick_dock], [psf_dock]], [380, 380], {})
    psf.mode.value = GAUSSIAN_OPTICS
    psf.dims.value = VOLUME
    psf.pixel_from.value = viewer.layers["z-stack"]  # 100 nm pixels and 250 nm z-step
    psf.na.value = 1.1
    psf.make_psf()
    wait(lambda: "PSF" in viewer.layers)
    oneclick.psf.value = viewer.layers["PSF"]
    one_click(oneclick, minutes)
    comparison = oneclick.comparison
    comparison.toggle_side_by_side()
    for layer in viewer.layers:
        layer.rendering = "mip" if layer.visible else layer.rendering
    save_png(orthogonal_views(viewer, comparison), output / "zstack_orthogonal.png")
    comparison.show_plane("XY")
    viewer.dims.ndisplay = 3
    viewer.reset_view()
    camera = viewer.scene.camera  # viewer.camera before napari 0.9
    camera.angles = (-10, 30, 140)
    camera.zoom *= 0.85  # the tilted volumes fit their panels
    save_png(window_screenshot(viewer), output / "zstack_3d.png")
    viewer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="2D training (3D: twice)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--only", choices=("widgets", "zstack"), help="make one set only")
    args = parser.parse_args()
    if args.only in (None, "widgets"):
        all_widgets(args.minutes, args.output)
    if args.only in (None, "zstack"):
        zstack(2 * args.minutes, args.output)


if __name__ == "__main__":
    main()
