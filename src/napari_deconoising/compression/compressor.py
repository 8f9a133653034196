"""The compressor: checks what it is given, then runs a :class:`~.session.Session`."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from napari_deconoising.compression.inputs import (
    check_images_match,
    checked_out_path,
    collect_images,
    load_original,
    select_frames,
)
from napari_deconoising.compression.pruning import check_prunable, plan_widths
from napari_deconoising.compression.report import CompressionEvent, CompressionResult
from napari_deconoising.compression.session import Session
from napari_deconoising.config.compression import CompressionConfig, preset_config
from napari_deconoising.errors import ConfigError
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import DecoNoisingModel


class Compressor:
    """Compresses a model on the user's images.

    ``model`` is a :class:`DecoNoisingModel` or the path of a model file; it is never changed.
    ``images`` are arrays in camera units, each 2D or a stack of frames (for a 3D model:
    z-stacks ``ZYX``, stacks of them, or :class:`~napari_deconoising.io.AxesImage` with Z).
    :meth:`run` yields events and ends with :class:`CompressionFinished`; :meth:`cancel` makes
    it raise :class:`~napari_deconoising.errors.Cancelled` at the next batch, writing nothing. If
    ``out_path`` is given, the compressed model is saved there (atomically) at the very end;
    it is checked before any work (:func:`~napari_deconoising.io.outputs.check_outputs`): never the
    original model or an image file, and an existing file only with ``overwrite``.
    """

    def __init__(
        self,
        model: DecoNoisingModel | str | Path,
        images: np.ndarray | Sequence[np.ndarray],
        preset: str = "balanced",
        config: CompressionConfig | None = None,
        out_path: str | Path | None = None,
        source_path: str | Path | None = None,
        overwrite: bool = False,
    ):
        self.preset = preset
        self.config = config or preset_config(preset)
        original, source = load_original(model, source_path)
        self.source_path = source
        self.out_path = checked_out_path(out_path, source, images, overwrite)
        self.teacher = copy.deepcopy(original)  # the caller's model stays untouched
        self.teacher.network.eval()
        check_prunable(self.teacher.network)
        frames = collect_images(images, self.teacher.spatial_dims, self.config.max_pixels)
        check_images_match(self.teacher, frames)
        self.train_frames, self.eval_frames, self.held_out = select_frames(frames, self.config)
        self.widths_before = list(self.teacher.network.widths)
        self.widths_after = plan_widths(self.widths_before, self.config)
        if self.widths_after == self.widths_before:
            raise ConfigError(
                f"this model (widths {self.widths_before}) is already as small as preset "
                f"{preset!r} makes it; choose a smaller preset"
            )
        self.cancellation = CancelToken("compression")
        self._result: CompressionResult | None = None

    def cancel(self) -> None:
        """Stop at the next batch; :meth:`run` then raises ``Cancelled`` and writes nothing."""
        self.cancellation.cancel()

    @property
    def result(self) -> CompressionResult:
        """The compressed model and its report (once :meth:`run` has finished)."""
        if self._result is None:
            raise RuntimeError("the compressor has not finished")
        return self._result

    def run(self) -> Iterator[CompressionEvent]:
        """Compress, yielding events; the last one is :class:`CompressionFinished`."""
        self.cancellation.reset()
        session = Session(self, self.cancellation)
        yield from session.run()
        self._result = session.result


def compress(
    model: DecoNoisingModel | str | Path,
    images: np.ndarray | Sequence[np.ndarray],
    preset: str = "balanced",
    config: CompressionConfig | None = None,
    out_path: str | Path | None = None,
    on_event: Callable[[CompressionEvent], None] | None = None,
    overwrite: bool = False,
) -> CompressionResult:
    """Compress ``model`` by fine-tuning on ``images``; save to ``out_path`` if given.

    ``config`` overrides the preset's settings entirely (start from :func:`preset_config` and
    :meth:`CompressionConfig.replace` to change a few). ``on_event`` receives every progress event.
    An existing ``out_path`` is replaced only with ``overwrite``.
    """
    compressor = Compressor(model, images, preset, config, out_path, overwrite=overwrite)
    for event in compressor.run():
        if on_event is not None:
            on_event(event)
    return compressor.result
