"""The "Export to bioimage.io…" button of the Denoise & Deconvolve widget: the package's name
and the worker that writes it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from napari_deconoising.errors import Cancelled, DeconoisingError
from napari_deconoising.export.bioimageio import ExportError, export_steps
from napari_deconoising.widgets._common import models_folder, safe_stem
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._models import load_if_needed


def suggested_package(model_name: str | None, model_path: str | None) -> Path:
    """``~/deconoising-models/<model>.bioimageio.zip``, named after the registry model (or,
    for a model file, the file)."""
    stem = model_name if model_name is not None else Path(model_path or "model").stem
    return models_folder() / f"{safe_stem(str(stem))}.bioimageio.zip"


def package_target(
    path: str | None, ask: Callable[[str], str | None], suggested: Path
) -> tuple[Path, bool] | None:
    """The package to write and whether replacing it was already agreed to, or None when the
    user cancels.

    Without ``path`` the user is asked (``ask(suggested)``: a save dialog, which asks before
    replacing the file it names). A name without ``.zip`` gets it added, and then is not the
    name the dialog asked about.
    """
    confirmed = path is None
    if path is None:
        path = ask(str(suggested))
        if not path:
            return None
    target = Path(path).expanduser()
    if target.suffix.lower() != ".zip":
        target, confirmed = target.with_name(target.name + ".zip"), False
    return target, confirmed


def export_package(job: Job, model, path, out_path: str, overwrite: bool):
    """Worker: load the model if needed and export it; a stop ends it between steps, writing
    nothing."""
    model = yield from load_if_needed(model, path)
    steps = export_steps(model, out_path, overwrite=overwrite)
    try:
        while True:
            try:
                event = next(steps)
            except StopIteration as done:
                return done.value
            job.raise_if_stopped()
            yield event
    except (DeconoisingError, Cancelled):
        raise
    except Exception as err:
        raise ExportError(f"bioimage.io export failed: {type(err).__name__}: {err}") from err
    finally:
        steps.close()
