"""What the Train widget's live preview costs: training throughput and event-loop pauses.

Trains the same small configuration in the Train widget of a hidden napari viewer with the live
preview off and on (alternating, ``--repeats`` times each), and prints steps per second, the
previews made and what they cost, and the longest event-loop pause, measured by a 10 ms timer
as in ``tests/test_widgets_responsiveness.py``: over the whole run (from the click on Train)
and while steps run (from the first step on). Results go to bench/results/preview.json
(``preview_interval_<s>s.json`` with another ``--interval``; ``--interval 0`` leaves only the
rule that a preview comes no sooner than ten times the last one's cost, the most the preview
may take). Each run starts after a full garbage collection, as in a settled session.

    xvfb-run -a python bench/bench_preview.py            # on a machine without a display
    python bench/bench_preview.py --steps 600 --repeats 3
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per run")
    parser.add_argument("--repeats", type=int, default=2, help="runs with and without preview")
    parser.add_argument("--interval", type=float, default=5.0, help="preview interval (s)")
    parser.add_argument("--size", type=int, default=512, help="image side (px)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()

    import napari

    sample = make_sample(shape=(args.size, args.size), n_frames=4, seed=1)
    viewer = napari.Viewer(show=False)
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
    save_results(
        name,
        {
            "settings": {
                **settings,
                "image": [4, args.size, args.size],
                "interval_s": args.interval,
            },
            "machine": machine(),
            "summary": summary,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
