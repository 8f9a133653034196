"""The Train widget's worker: training (new or continued) with live previews between steps."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.errors import PSFError
from napari_deconoising.psf.prepare import prepare_psf
from napari_deconoising.training.events import TrainingStep
from napari_deconoising.training.trainer import Trainer
from napari_deconoising.widgets._jobs import Job
from napari_deconoising.widgets._models import load_if_needed
from napari_deconoising.widgets._preview import PreviewSlot, run_preview


@functools.cache
def warm_up_torch() -> None:
    """Make torch do its one-time lazy imports in the GUI thread, while the widget opens.

    The first optimiser torch builds imports ``torch._dynamo`` (and sympy), and the first
    convolution sets up its CPU kernels: about a second of work that, done in the training
    worker, blocks the event loop for 100-600 ms.
    """
    import torch

    layer = torch.nn.Conv2d(1, 4, 3, padding=1)
    optimiser = torch.optim.Adam(layer.parameters())
    layer(torch.zeros(1, 1, 16, 16)).mean().backward()
    optimiser.step()


#: Size multiple assumed for a model still to be read from its file (that of the deepest U-Net).
ANY_DEPTH_MULTIPLE = 32


def size_multiple(init: Any, init_path: str | None, config: TrainingConfig) -> int:
    """What the sides of a preview window must be a multiple of for the network trained:
    that of ``init`` (a model continued), of the deepest U-Net for a model still in a file
    (``init_path``), else that of ``config``'s network."""
    if init is not None:
        return init.channels[0].network.size_multiple
    return ANY_DEPTH_MULTIPLE if init_path else config.network.size_multiple


def train_job(
    job: Job,
    image,
    psfs: list[tuple[str, Any]],
    config,
    path,
    overwrite: bool,
    name: str,
    init,
    init_path: str | None,
    preview: PreviewSlot,
):
    """Worker: train (a new network, or ``init``, or the model in ``init_path``), saving to
    ``path`` (replacing existing files only with ``overwrite``), yielding engine events and,
    between steps, the previews asked for in ``preview``; return (model, name)."""
    if init is None and init_path is not None:
        init = yield from load_if_needed(None, init_path)
    arrays = [np.asarray(pixels) for _, pixels in psfs]
    try:
        trainer = Trainer(image, arrays or None, config, path, init=init, overwrite=overwrite)
    except PSFError as err:
        raise PSFError(f"{_culprit(psfs, arrays)} is not usable as a PSF: {err}") from err
    job.bind(trainer.stop)
    for event in trainer.run():
        yield event
        if isinstance(event, TrainingStep) and not job.stopping:
            request = preview.take()
            if request is not None:  # between two events: the weights are consistent
                yield run_preview(trainer, request, event.step)
    return trainer.model, name


def _culprit(psfs: list[tuple[str, Any]], arrays: list[np.ndarray]) -> str:
    """The label of the PSF that the engine refused (the first one it cannot prepare)."""
    for (label, _), array in zip(psfs, arrays, strict=True):
        try:
            prepare_psf(array, spatial_dims=None)
        except PSFError:
            return label
    if len(psfs) == 1:
        return psfs[0][0]
    return "one of the PSF layers (" + ", ".join(label for label, _ in psfs) + ")"
