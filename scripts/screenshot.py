"""Make docs/screenshot.png: napari with the sample, the PSF, Train and Denoise & Deconvolve
widgets, a loss curve and the raw / denoised / deconvolved comparison in grid mode.

Run it on a machine without a display with::

    xvfb-run -a -s "-screen 0 1920x1080x24" python scripts/screenshot.py [--steps 300]

It trains a small network for a short budget on the CPU (about a minute on 2 cores) and prints
the longest pause of the Qt event loop seen while training ran.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pause_monitor import PauseMonitor

PLUGIN = "napari-deconoising"
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "screenshot.png"


def wait(condition, timeout: float = 600.0) -> None:
    """Process Qt events until ``condition()`` is true."""
    app = QApplication.instance()
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the widget did not finish in time")
        app.processEvents()
        time.sleep(0.01)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()

    viewer = napari.Viewer(title="napari-deconoising")
    viewer.window.resize(1760, 1000)
    viewer.open_sample(PLUGIN, "synthetic-cell-walls")
    train_dock, trainer = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    psf_dock, psf = viewer.window.add_plugin_dock_widget(PLUGIN, "PSF")
    predict_dock, predictor = viewer.window.add_plugin_dock_widget(PLUGIN, "Denoise & Deconvolve")
    # two columns of docks: Train, and beside it PSF above Denoise & Deconvolve
    window = viewer.window._qt_window
    window.splitDockWidget(train_dock, psf_dock, Qt.Orientation.Horizontal)
    window.splitDockWidget(psf_dock, predict_dock, Qt.Orientation.Vertical)

    psf.sigma.value = 1.5
    psf.make_psf()
    trainer.settings.set_values(
        steps=args.steps, start_filters=16, batch_size=8, validation_interval=20, device="cpu"
    )
    trainer.model_file.line_edit.value = ""  # keep the model in memory
    meter = PauseMonitor()
    meter.start()
    trainer.start()
    wait(lambda: not trainer.running)
    meter.stop()
    finished = trainer.finished
    print(
        f"trained {finished.steps} steps in {finished.seconds:.1f} s; longest event-loop pause "
        f"while training: {meter.longest_ms:.0f} ms"
    )

    predictor.reference.value = viewer.layers["cell walls blurred truth"]
    predictor.run()
    wait(lambda: not predictor.running)
    print(predictor.scores.value)
    predictor.toggle_side_by_side()
    viewer.dims.set_current_step(0, 3)
    wait(lambda: True)
    for _ in range(20):
        QApplication.instance().processEvents()
        time.sleep(0.05)
    image = viewer.screenshot(canvas_only=False, flash=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    Image.fromarray(np.asarray(image)[..., :3]).save(args.output, optimize=True)
    print(f"saved {args.output} ({image.shape[1]}x{image.shape[0]})")
    viewer.close()


if __name__ == "__main__":
    main()
