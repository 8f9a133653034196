"""What the Train widget's live preview costs: training throughput and event-loop pauses.

Trains the same small configuration in the Train widget of a hidden napari viewer with the live
preview off and on (alternating, ``--repeats`` times each), and prints steps per second, the
previews made and what they cost, and the longest event-loop pause, measured by a 10 ms timer
as in ``tests/test_widgets_responsiveness.py``: over the whole run (from the click on Train)
and while steps run (from the first step on). Results go to bench/results/preview.json
(``preview_interval_<s>s.json`` with another ``--interval``; ``--interval 0`` leaves only the
rule that a preview comes no sooner than ten times the last one's cost, the most the preview
may take). Each run starts after a full garbage collection, as in a settled session.

Then, in the same viewer, what adding the layers costs: the widgets' way (the preview layer of
``LivePreview.begin``, a result put in it by ``LivePreview.show``; the two output layers of
``show_output``, as Denoise & Deconvolve and One-click add them, and their in-place update on a
re-run) beside napari's own cost of the same (``viewer.add_image`` of the same arrays with the
same settings, ``layer.data = ...``), each ``--layer-repeats`` times, alternating: the call's
time and the longest event-loop pause from the call until ``SETTLE_MS`` after it (napari defers
some work to the event loop).

    xvfb-run -a python bench/bench_preview.py            # on a machine without a display
    python bench/bench_preview.py --steps 600 --repeats 3
    xvfb-run -a -s "-screen 0 1920x1080x24" python bench/bench_preview.py --show  # drawn
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QEventLoop, QTimer

from common import machine, save_results
from napari_deconoising import TrainingStep, make_sample
from napari_deconoising.widgets._axes import layer_image
from napari_deconoising.widgets._common import COPIED, show_output
from napari_deconoising.widgets._preview import PreviewReady

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pause_monitor import PauseMonitor


def run_once(viewer, widget, preview: bool) -> dict:
    """One training run in the widget; its throughput and pauses."""
    widget.preview.checkbox.value = preview
    widget.preview.refreshes, widget.preview.costs_s = 0, []
    first_step: list[float] = []
    worker_s: list[float] = []

    def on_event(event) -> None:
        if isinstance(event, TrainingStep) and not first_step:
            first_step.append(time.perf_counter())
        elif type(event).__name__ == "PreviewReady":
            worker_s.append(event.seconds)

    gc.collect()  # a settled session: no collection left over from setting up
    load = os.getloadavg()[0]
    monitor = PauseMonitor()
    monitor.start()
    widget.train_button.clicked()
    widget.jobs.worker.yielded.connect(on_event)
    loop = QEventLoop()
    check = QTimer()
    check.timeout.connect(lambda: None if widget.running else loop.quit())
    check.start(50)
    loop.exec()
    check.stop()
    monitor.stop()
    finished = widget.finished
    result = {
        "preview": preview,
        "steps": finished.steps,
        "seconds": round(finished.seconds, 2),
        "steps_per_s": round(finished.steps / finished.seconds, 2),
        "longest_pause_ms": round(monitor.longest(), 1),
        "longest_pause_during_steps_ms": round(monitor.longest(first_step[0]), 1),
        "pause_before_steps_ms": round(
            max((gap for gap, end in monitor.gaps if end <= first_step[0]), default=0.0), 1
        ),
        "load_average_1min_before": round(load, 2),
        "previews": widget.preview.refreshes,
    }
    if preview and worker_s:
        costs = widget.preview.costs_s
        result.update(
            preview_worker_ms_mean=round(1000 * float(np.mean(worker_s)), 1),
            preview_cost_ms_mean=round(1000 * float(np.mean(costs)), 1),
            preview_share_of_run=round(sum(costs) / finished.seconds, 4),
        )
    print(
        f"preview {'on ' if preview else 'off'}: {result['steps_per_s']:6.2f} steps/s, "
        f"{result['previews']:2d} previews, longest pause {result['longest_pause_ms']:6.1f} ms "
        f"(while steps ran {result['longest_pause_during_steps_ms']:6.1f} ms, before "
        f"{result['pause_before_steps_ms']:6.1f} ms), load {load:.1f}"
    )
    return result


#: How long after a layer call the pause monitor keeps watching (napari's deferred work), ms.
SETTLE_MS = 300


def timed(action) -> dict:
    """``action()`` called from the running event loop: its time and the longest pause from the
    call until ``SETTLE_MS`` after it (ms)."""
    gc.collect()
    monitor = PauseMonitor()
    loop = QEventLoop()
    took: list[float] = []

    def call() -> None:
        start = time.perf_counter()
        action()
        took.append(time.perf_counter() - start)
        QTimer.singleShot(SETTLE_MS, loop.quit)

    monitor.start()
    QTimer.singleShot(0, call)
    loop.exec()
    monitor.stop()
    return {"call_ms": 1000 * took[0], "longest_pause_ms": monitor.longest()}


def napari_settings(raw) -> dict:
    """What the widgets give a layer made for ``raw`` (see ``show_output``)."""
    settings = {key: getattr(raw, key) for key in COPIED if hasattr(raw, key)}
    return {
        **settings,
        "colormap": raw.colormap,
        "contrast_limits": list(raw.contrast_limits),
    }


def remove(viewer, names) -> None:
    for name in names:
        viewer.layers.remove(name)


def preview_layer_pair(viewer, widget, raw) -> dict[str, dict]:
    """The Train widget's preview layer (made hidden at the click on Train, removed at the end)
    and napari's own add/remove of a hidden layer of the same shape and settings."""
    preview = widget.preview
    preview.checkbox.value = True
    image = layer_image(raw)
    ours_add = timed(lambda: preview.begin(raw, image, 4, False))
    shape = preview.layer.data.shape
    translate = preview.layer.translate
    ours_remove = timed(preview.end)
    zeros = np.zeros(shape, np.float32)
    settings = {**napari_settings(raw), "translate": translate, "visible": False}
    napari_add = timed(lambda: viewer.add_image(zeros, name="plain preview", **settings))
    napari_remove = timed(lambda: remove(viewer, ["plain preview"]))
    return {
        "preview add, ours": ours_add,
        "preview add, napari": napari_add,
        "preview remove, ours": ours_remove,
        "preview remove, napari": napari_remove,
    }


def preview_update_pair(viewer, widget, raw) -> dict[str, dict]:
    """The live preview putting a result in its layer (``LivePreview.show``: the first one makes
    the hidden layer visible, later ones replace its data) and napari's own ``layer.data = ...``
    (and ``visible = True``) on a plain layer of the same shape, settings and place."""
    preview = widget.preview
    preview.checkbox.value = True
    preview.begin(raw, layer_image(raw), 4, False)
    placement = preview.layer.data.shape
    settings = {
        **napari_settings(raw),
        "translate": preview.layer.translate,
        "visible": False,
    }
    plain = viewer.add_image(np.zeros(placement, np.float32), name="plain preview", **settings)
    crops = [np.random.default_rng(seed).random(placement[-2:], np.float32) for seed in (0, 1)]

    def ours(crop) -> None:
        request = preview._read()  # what the timer asks for (the crop in view)
        ready = PreviewReady(request, crop, crop, step=0, seconds=0.0)
        preview.show(ready)

    def napari_update(crop) -> None:
        plain.data = crop.reshape(placement)
        if not plain.visible:
            plain.visible = True

    results = {
        "preview first, ours": timed(lambda: ours(crops[0])),
        "preview first, napari": timed(lambda: napari_update(crops[0])),
        "preview update, ours": timed(lambda: ours(crops[1])),
        "preview update, napari": timed(lambda: napari_update(crops[1])),
    }
    preview.end()
    remove(viewer, ["plain preview"])
    return results


def output_layers_pair(viewer, raw) -> dict[str, dict]:
    """The two output layers as the widgets add them (and update them on a re-run) and as
    napari adds (and updates) the same arrays."""
    arrays = {
        "denoised": np.asarray(raw.data, np.float32) + 1,
        "deconvolved": np.asarray(raw.data, np.float32) + 2,
    }
    ours = [f"{raw.name} {kind}" for kind in arrays]
    plain = [f"plain {kind}" for kind in arrays]

    def add_ours() -> None:
        for name, data in zip(ours, arrays.values(), strict=True):
            show_output(viewer, raw, name, data)

    def add_plain() -> None:
        for name, data in zip(plain, arrays.values(), strict=True):
            viewer.add_image(data, name=name, **napari_settings(raw))

    def update(names) -> None:
        for name, data in zip(names, arrays.values(), strict=True):
            viewer.layers[name].data = data + 1

    results = {
        "outputs add, ours": timed(add_ours),
        "outputs add, napari": timed(add_plain),
        "outputs re-run, ours": timed(add_ours),
        "outputs re-run, napari": timed(lambda: update(plain)),
    }
    remove(viewer, ours + plain)
    return results


def layer_costs(viewer, widget, raw, repeats: int) -> dict[str, dict[str, float]]:
    """Every case of :func:`preview_layer_pair`, :func:`preview_update_pair` and
    :func:`output_layers_pair`, ``repeats`` times; per case the median call and the longest
    pause (ms), printed side by side."""
    samples: dict[str, list[dict]] = {}
    for _ in range(repeats):
        pairs = {
            **preview_layer_pair(viewer, widget, raw),
            **preview_update_pair(viewer, widget, raw),
            **output_layers_pair(viewer, raw),
        }
        for case, figures in pairs.items():
            samples.setdefault(case, []).append(figures)
    summary = {
        case: {
            "call_ms_median": round(float(np.median([r["call_ms"] for r in runs])), 1),
            "longest_pause_ms": round(max(r["longest_pause_ms"] for r in runs), 1),
            "longest_pause_ms_median": round(
                float(np.median([r["longest_pause_ms"] for r in runs])), 1
            ),
        }
        for case, runs in samples.items()
    }
    print(f"\nadding layers ({repeats} times each; ms: median call, median/longest pause)")
    for case, figures in summary.items():
        print(
            f"  {case:24s} call {figures['call_ms_median']:7.1f}   pause "
            f"{figures['longest_pause_ms_median']:7.1f} / {figures['longest_pause_ms']:7.1f}"
        )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs with and without preview")
    parser.add_argument("--interval", type=float, default=5.0, help="preview interval (s)")
    parser.add_argument("--size", type=int, default=512, help="image side (px)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--layer-repeats", type=int, default=5, help="layer additions per case")
    parser.add_argument("--show", action="store_true", help="show the viewer (drawn layers)")
    args = parser.parse_args()

    import napari

    sample = make_sample(shape=(args.size, args.size), n_frames=4, seed=1)
    viewer = napari.Viewer(show=args.show)
    viewer.add_image(sample.noisy, name="noisy")
    viewer.add_image(sample.psf, name="PSF")
    _, widget = viewer.window.add_plugin_dock_widget("napari-deconoising", "Train")
    settings = {
        "steps": args.steps,
        "patch_size": 64,
        "batch_size": 8,
        "depth": 2,
        "start_filters": 16,
        "validation_interval": 100,
        "device": args.device,
    }
    widget.settings.set_values(**settings)
    widget.model_file.line_edit.value = ""  # keep the models in memory
    widget.preview.interval_s = args.interval

    runs = []
    for _ in range(args.repeats):
        for preview in (False, True):
            runs.append(run_once(viewer, widget, preview))
    layers = layer_costs(viewer, widget, viewer.layers["noisy"], args.layer_repeats)
    viewer.close()

    def mean(key: str, preview: bool) -> float:
        return float(np.mean([r[key] for r in runs if r["preview"] == preview]))

    off, on = mean("steps_per_s", False), mean("steps_per_s", True)
    summary = {
        "steps_per_s_off": round(off, 2),
        "steps_per_s_on": round(on, 2),
        "throughput_cost": round(1 - on / off, 4),
        "longest_pause_off_ms": max(r["longest_pause_ms"] for r in runs if not r["preview"]),
        "longest_pause_on_ms": max(r["longest_pause_ms"] for r in runs if r["preview"]),
        "longest_pause_during_steps_on_ms": max(
            r["longest_pause_during_steps_ms"] for r in runs if r["preview"]
        ),
    }
    print(
        f"\nsteps/s without preview {off:.2f}, with {on:.2f} "
        f"({100 * summary['throughput_cost']:+.1f}% cost); longest pause without "
        f"{summary['longest_pause_off_ms']:.0f} ms, with {summary['longest_pause_on_ms']:.0f} ms"
    )
    name = "preview" if args.interval == 5.0 else f"preview_interval_{args.interval:g}s"
    name += "_shown" if args.show else ""
    save_results(
        name,
        {
            "settings": {
                **settings,
                "image": [4, args.size, args.size],
                "interval_s": args.interval,
                "layer_repeats": args.layer_repeats,
                "shown": args.show,
                "settle_ms": SETTLE_MS,
            },
            "machine": machine(),
            "summary": summary,
            "runs": runs,
            "adding_layers": layers,
        },
    )


if __name__ == "__main__":
    main()
