"""Training DecoNoising (or plain Noise2Void) networks on the noisy images themselves.

:class:`Trainer` takes images, a PSF and a :class:`~napari_deconoising.config.TrainingConfig`,
and :meth:`Trainer.run` yields small event objects while it trains; :meth:`Trainer.stop` ends the
run at the next batch boundary. The CLI and the napari widgets consume the same events.

Images carry axes (``STCZYX``). Each channel gets its own normalisation, camera offset, PSF and
network (:class:`ChannelSession`); one loop steps every channel's network once per step, so a
time budget, a stop and the checkpoints cover all channels alike.

z-stacks with a 3D PSF train a 3D network on 3D patches (``mode`` ``auto`` or ``3d``); in
``2d`` mode every plane is a frame of its own and a 3D PSF contributes its in-focus plane.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.config.training import TrainingConfig
from napari_deconoising.data.noise import measure_noise
from napari_deconoising.data.psf_check import psf_notes
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import AnyModel
from napari_deconoising.training.blind_spot import choose_blind_spot, measurable_arrays
from napari_deconoising.training.events import TrainingEvent
from napari_deconoising.training.inputs import (
    SPLITTERS,
    Images,
    PSFs,
    Splitter,
    axes_images,
    check_continuation,
    checked_model_path,
    checked_psfs,
    continued_config,
    initial_model,
    megabytes_text,
    per_channel,
    voxel_metadata,
)
from napari_deconoising.training.loop import TrainingRun
from napari_deconoising.training.mode import mode_name, resolve_spatial_dims
from napari_deconoising.training.plan import plan_patches
from napari_deconoising.training.streaming import float32_megabytes

__all__ = ["Trainer", "train"]


class Trainer:
    """Self-supervised DecoNoising training.

    ``images`` is one image or a list of images in camera units (any dtype, any offset): numpy
    arrays (2D ``YX`` or a stack of frames ``SYX``, or any layout named by ``axes``) or
    :class:`~napari_deconoising.io.AxesImage`. All images need the same number of channels.
    ``psf`` is one PSF for every channel or a list with one PSF per channel; it is ignored (and
    may be None) when ``config.n2v``. If ``model_path`` is given, the best networks are saved
    there whenever validation improves and the last ones beside it (see
    :func:`last_checkpoint_path`) when the run ends. Both paths are checked before any work
    (:func:`~napari_deconoising.io.outputs.check_outputs`): never an input image or the ``init``
    model file, and existing files are replaced only with ``overwrite``.

    ``init`` continues the training of a model (or model file): its architecture, normalisation,
    output scale, mode and (unless ``psf`` is given) PSFs are kept, its weights are the starting
    point, and the step count goes on from the model's; ``config`` gives the new budget and
    optimiser settings.

    3D: images with a Z axis (``ZYX``, ``TZYX``, ``CZYX``...) and a 3D PSF (Z, Y, X) train a 3D
    network (``config.mode`` ``auto`` or ``3d``; see :func:`resolve_mode`). Without ``config``,
    the defaults of the resolved mode apply (:meth:`TrainingConfig.for_mode`). A Z patch larger
    than the stacks is clipped to their planes (see :attr:`notes`).
    """

    def __init__(
        self,
        images: Images,
        psf: PSFs = None,
        config: TrainingConfig | None = None,
        model_path: str | Path | None = None,
        axes: str | None = None,
        init: AnyModel | str | Path | None = None,
        overwrite: bool = False,
    ):
        self.init = initial_model(init)
        self.images = axes_images(images, axes)
        self.model_path = checked_model_path(model_path, images, self.images, init, overwrite)
        if self.init is not None and psf is None and not self.init.is_n2v:
            psf = [m.psf for m in self.init.channels]
        asked = config.mode if config is not None else "auto"
        #: 2 (plane by plane) or 3 (volumes), as resolved from the images and PSF.
        self.spatial_dims = resolve_spatial_dims(asked, self.images, psf, self.init)
        #: ``"2d"`` or ``"3d"``: :attr:`spatial_dims` as a ``mode`` setting.
        self.mode = mode_name(self.spatial_dims)
        config = config or TrainingConfig.for_mode(self.mode)
        config = continued_config(config, self.init).replace(mode=self.mode)
        #: What the user should know about how the data is used (e.g. a clipped Z patch).
        self.notes: list[str] = []
        #: Per channel, the frames (2D) or volumes (3D): arrays, or :class:`LazyFrame` handles
        #: when the images are larger than the cache (``config.cache_mb``) and are streamed.
        self.channel_frames = per_channel(self.images, self._splitter(config.cache_mb))
        if self.init is not None:
            check_continuation(self.init, len(self.channel_frames))
        self.psfs = checked_psfs(psf, len(self.channel_frames), config, self.spatial_dims)
        pooling = None if self.init is None else list(self.init.channels[0].network.pooling)
        plan = plan_patches(
            config, self.spatial_dims, self.channel_frames, self.psfs, self.voxel_size_um, pooling
        )
        #: The settings of the run (patch sizes fitted to the data and PSF), and the network's
        #: pooling per level, one factor per spatial axis (``(2, 2)`` at every level in 2D).
        self.config, self.pooling = plan.config, plan.pooling
        self.notes.extend(plan.notes)
        self._know_the_data()
        self._stop_requested = CancelToken("training")
        self._model: AnyModel | None = None
        self._run: TrainingRun | None = None

    def _know_the_data(self) -> None:
        """Measure each channel's noise (on a subsample), choose the blind spot from it and
        check the PSFs against the images, with notes."""
        measured = [measurable_arrays(frames) for frames in self.channel_frames]
        #: Per channel, the training images' noise (measured on a subsample before training).
        self.noise = [measure_noise(arrays, dtype=self.images[0].dtype) for arrays in measured]
        choice = choose_blind_spot(self.config, self.noise, self.init)
        #: What the noise measurement found and which blind spot the run masks (also in
        #: :attr:`notes`; saved in the model's metadata).
        self.noise_notes = choice.notes
        self.config = choice.config
        self.notes.extend(choice.notes)
        self.notes.extend(psf_notes(measured, self.psfs, self.noise))

    def _splitter(self, cache_mb: float) -> Splitter:
        """How the images are cut into per-channel frames or volumes: read into memory, or
        (when larger than the cache) as handles whose patches are streamed from disk, with a
        note."""
        megabytes = float32_megabytes(self.images)
        streamed = megabytes > cache_mb
        if streamed:
            self.notes.append(
                f"the images take {megabytes_text(megabytes)} as float32, more than the "
                f"{cache_mb:g} MB cache: training patches are read from disk through the cache"
            )
        return SPLITTERS[self.spatial_dims, streamed]

    @property
    def n_channels(self) -> int:
        """Number of channels (one network each)."""
        return len(self.channel_frames)

    @property
    def frames(self) -> list[np.ndarray]:
        """The first channel's frames (all of them for single-channel data)."""
        return self.channel_frames[0]

    @property
    def psf(self) -> np.ndarray | None:
        """The first channel's prepared PSF."""
        return self.psfs[0]

    @property
    def pixel_size_um(self) -> float | None:
        """The training images' pixel size (µm), when their metadata says it."""
        return self.images[0].pixel_size

    @property
    def voxel_metadata(self) -> dict[str, Any]:
        """What the models' metadata says of the training voxel (nothing in 2D mode)."""
        return voxel_metadata(self.images[0], self.spatial_dims)

    @property
    def voxel_size_um(self) -> tuple[float, float, float] | None:
        """The training images' voxel size ``(z, y, x)`` in µm in 3D mode, when known."""
        voxel = self.voxel_metadata.get("voxel_size_um")
        return None if voxel is None else tuple(voxel)

    def stop(self) -> None:
        """Ask the run to end at the next batch boundary; checkpoints are kept."""
        self._stop_requested.cancel()

    @property
    def model(self) -> AnyModel:
        """The best networks found (available once :meth:`run` has finished)."""
        if self._model is None:
            raise RuntimeError("the trainer has not run yet")
        return self._model

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is :class:`TrainingFinished`."""
        run = self._run = TrainingRun(self, self._stop_requested)
        try:
            yield from run.events()
            self._model = run.best_model()
        finally:
            self._run = None

    def current_model(self, channel: int | None = None) -> AnyModel:
        """The networks as they are now, mid-run (for a live preview); with ``channel``, only
        that channel's model.

        Call it from the thread that iterates :meth:`run`, between two events: the weights are
        then consistent (no optimiser step is under way).
        """
        if self._run is None:
            raise RuntimeError("the trainer is not running")
        if channel is not None:
            session = self._run.sessions[channel]
            return session.model(session.network.state_dict(), {"steps": self._run.steps})
        return self._run.current_model()


def train(
    images: Images,
    psf: PSFs = None,
    config: TrainingConfig | None = None,
    model_path: str | Path | None = None,
    on_event: Callable[[TrainingEvent], None] | None = None,
    axes: str | None = None,
    overwrite: bool = False,
) -> AnyModel:
    """Train and return the best model; ``on_event`` receives every progress event.

    ``model_path`` (and its ``.last`` sibling) may replace existing files only with
    ``overwrite``; see :class:`Trainer`."""
    trainer = Trainer(images, psf, config, model_path, axes, overwrite=overwrite)
    for event in trainer.run():
        if on_event is not None:
            on_event(event)
    return trainer.model
