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

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_deconoising.config.settings import TrainingConfig
from napari_deconoising.data.channels import as_axes_image, channel_frames, channel_volumes
from napari_deconoising.data.lazy_frames import (
    float32_megabytes,
    lazy_channel_frames,
    lazy_channel_volumes,
)
from napari_deconoising.errors import ImageError, PSFError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.io.outputs import check_outputs, image_source
from napari_deconoising.model.bundle import ChannelModels, DecoNoisingModel, timestamp
from napari_deconoising.model.devices import mixed_precision, resolve_device
from napari_deconoising.model.unet import count_parameters, pooling_plan
from napari_deconoising.psf.core import prepare_psf
from napari_deconoising.training.channel_session import ChannelSession
from napari_deconoising.training.events import (
    CheckpointSaved,
    TrainingEvent,
    TrainingFinished,
    TrainingStarted,
    TrainingStep,
    ValidationResult,
)
from napari_deconoising.training.sampling import (
    warmup_cosine,
)

__all__ = [
    "CheckpointSaved",
    "Trainer",
    "TrainingEvent",
    "TrainingFinished",
    "TrainingStarted",
    "TrainingStep",
    "ValidationResult",
    "last_checkpoint_path",
    "resolve_mode",
    "train",
]

Images = np.ndarray | AxesImage | Sequence[np.ndarray | AxesImage]
PSFs = np.ndarray | Sequence[np.ndarray] | None

#: 3D training needs at least this many planes (else: train plane by plane, ``mode="2d"``).
MIN_PLANES_3D = 4


def last_checkpoint_path(model_path: str | Path) -> Path:
    """Where the last (not best) network of a run saved at ``model_path`` is written."""
    path = Path(model_path)
    return path.with_name(f"{path.stem}.last{path.suffix or '.pt'}")


#: The Z patch is made at least this many times as deep as the PSF (see
#: :meth:`Trainer._fit_patch_z_to_psf`).
PATCH_Z_PER_PSF_PLANE = 3


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
        init: DecoNoisingModel | ChannelModels | str | Path | None = None,
        overwrite: bool = False,
    ):
        self.init = _initial_model(init)
        self.images = _axes_images(images, axes)
        self.model_path = _checked_model_path(model_path, images, self.images, init, overwrite)
        if self.init is not None and psf is None and not self.init.is_n2v:
            psf = [m.psf for m in self.init.channels]
        asked = config.mode if config is not None else "auto"
        #: ``"2d"`` (plane by plane) or ``"3d"``, as resolved from the images and PSF.
        self.mode = resolve_mode(asked, self.images, psf, self.init)
        config = config or TrainingConfig.for_mode(self.mode)
        self.config = _continued_config(config, self.init).replace(mode=self.mode)
        #: What the user should know about how the data is used (e.g. a clipped Z patch).
        self.notes: list[str] = []
        #: Per channel, the frames (2D) or volumes (3D): arrays, or :class:`LazyFrame` handles
        #: when the images are larger than the cache (``config.cache_mb``) and are streamed.
        self.channel_frames = _per_channel(self.images, self._splitter())
        if self.init is not None:
            check_continuation(self.init, len(self.channel_frames))
        self.psfs = _checked_psfs(psf, len(self.channel_frames), self.config)
        self.pooling = self._plan_3d() if self.mode == "3d" else None
        self._fit_patch_to_psf()
        self._check_sizes()
        self._stop_requested = threading.Event()
        self._model: DecoNoisingModel | ChannelModels | None = None
        self._run: _Run | None = None

    def _splitter(self) -> Callable[[AxesImage], list[Any]]:
        """How the images are cut into per-channel frames: read into memory, or (when larger
        than the cache) as handles whose patches are streamed from disk, with a note."""
        megabytes, cache = float32_megabytes(self.images), self.config.cache_mb
        streamed = megabytes > cache
        if streamed:
            self.notes.append(
                f"the images take {_megabytes_text(megabytes)} as float32, more than the "
                f"{cache:g} MB cache: training patches are read from disk through the cache"
            )
        if self.mode == "3d":
            return lazy_channel_volumes if streamed else channel_volumes
        return lazy_channel_frames if streamed else channel_frames

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
    def spatial_dims(self) -> int:
        """2 (plane by plane) or 3 (volumes)."""
        return 3 if self.mode == "3d" else 2

    @property
    def voxel_size_um(self) -> tuple[float, float, float] | None:
        """The training images' voxel size ``(z, y, x)`` in µm in 3D mode, when known."""
        spacing = self.images[0].spacing
        if self.mode != "3d" or "Z" not in spacing or self.pixel_size_um is None:
            return None
        return spacing["Z"], spacing.get("Y", self.pixel_size_um), self.pixel_size_um

    def _plan_3d(self) -> list[tuple[int, ...]]:
        """Clip the Z patch to the stacks and plan the network's pooling (3D mode)."""
        planes = min(v.shape[0] for volumes in self.channel_frames for v in volumes)
        if planes < MIN_PLANES_3D:
            raise ImageError(
                f"the z-stacks have {planes} plane(s); 3D training needs at least {MIN_PLANES_3D}"
                " (train plane by plane instead: --mode 2d)"
            )
        self._fit_patch_z_to_psf()
        if self.init is not None:
            pooling = list(self.init.channels[0].network.pooling)
        else:
            voxel = self.voxel_size_um
            pooling = pooling_plan(
                self.config.network.depth, min(planes, self.config.patch_size_z), voxel
            )
        multiple = int(np.prod([level[0] for level in pooling]))
        patch_z = min(self.config.patch_size_z, planes) // multiple * multiple
        if patch_z < MIN_PLANES_3D:
            raise ImageError(
                f"the z-stacks have {planes} planes, fewer than the model needs "
                f"({multiple * MIN_PLANES_3D}); continue with deeper stacks, or train plane by "
                "plane (--mode 2d)"
            )
        if patch_z != self.config.patch_size_z:
            self.notes.append(
                f"Z patch of {self.config.patch_size_z} planes clipped to {patch_z} "
                f"(the stacks have {planes} planes)"
            )
            self.config = self.config.replace(patch_size_z=patch_z)
        return pooling

    def stop(self) -> None:
        """Ask the run to end at the next batch boundary; checkpoints are kept."""
        self._stop_requested.set()

    @property
    def model(self) -> DecoNoisingModel | ChannelModels:
        """The best networks found (available once :meth:`run` has finished)."""
        if self._model is None:
            raise RuntimeError("the trainer has not run yet")
        return self._model

    def _fit_patch_z_to_psf(self) -> None:
        """Make the Z patch at least :data:`PATCH_Z_PER_PSF_PLANE` times as deep as the PSF
        (with a note).

        A patch's convolution with the PSF reflects at the patch's top and bottom; when the PSF
        spans much of the patch's planes, much of each plane's out-of-focus light is explained
        by reflected planes instead of real ones, and the network learns that error. Measured
        with the true object of the widefield sample (13-plane PSF): patches of 16 planes
        reproduce the true blur to 27 dB PSNR, 26 planes to 33-37 dB, 32 planes to 40-43 dB,
        while the data's own noise sits near 35 dB. The stacks' depth still caps the patch (see
        :meth:`_plan_3d`)."""
        planes = max((p.shape[0] for p in self.psfs if p is not None and p.ndim == 3), default=0)
        wanted = min(PATCH_Z_PER_PSF_PLANE * planes, 256)
        if wanted > self.config.patch_size_z:
            self.notes.append(
                f"Z patch enlarged from {self.config.patch_size_z} to {wanted} planes: "
                f"{PATCH_Z_PER_PSF_PLANE} times the PSF's {planes}, so that its blur along Z is "
                "learnt from real planes"
            )
            self.config = self.config.replace(patch_size_z=wanted)

    def _fit_patch_to_psf(self) -> None:
        """Enlarge the training patch (with a note) when a PSF is wider than it and the images
        are large enough: a high-NA widefield 3D PSF spreads wider than 64 px in its defocused
        planes. Otherwise :meth:`_check_sizes` explains what to change."""
        widest = max((max(p.shape[-2:]) for p in self.psfs if p is not None), default=0)
        patch = self.config.patch_size
        if widest < patch:
            return
        multiple = self.config.network.size_multiple
        needed = -(-(widest + 1) // multiple) * multiple
        smallest = min(min(f.shape[-2:]) for frames in self.channel_frames for f in frames)
        if needed <= smallest:
            self.notes.append(
                f"training patch enlarged from {patch} to {needed} px to hold the PSF "
                f"({widest} px wide)"
            )
            self.config = self.config.replace(patch_size=needed)

    def _check_sizes(self) -> None:
        patch = self.config.patch_size
        smallest = min(min(f.shape[-2:]) for frames in self.channel_frames for f in frames)
        if smallest < patch:
            raise ImageError(
                f"the image ({smallest} px on its short side) is smaller than the training patch "
                f"({patch} px); use a smaller patch size"
            )
        for psf in self.psfs:
            if psf is not None and max(psf.shape[-2:]) > patch:
                raise PSFError(
                    f"the PSF ({max(psf.shape[-2:])} px) is larger than the training patch "
                    f"({patch} px); use a larger patch size"
                )
            if psf is not None and psf.ndim == 3 and psf.shape[0] > self.config.patch_size_z:
                planes = self.config.patch_size_z
                clipped = any("clipped" in note for note in self.notes)
                raise PSFError(
                    f"the PSF spans {psf.shape[0]} planes, more than the "
                    + (f"z-stacks ({planes} planes)" if clipped else f"Z patch ({planes} planes)")
                    + "; crop the PSF to fewer planes"
                    + ("" if clipped else " or use a larger Z patch (--patch-size-z)")
                )

    def run(self) -> Iterator[TrainingEvent]:
        """Train, yielding events; the last one is :class:`TrainingFinished`."""
        run = self._run = _Run(self)
        try:
            yield from run.events()
            self._model = run.best_model()
        finally:
            self._run = None

    def current_model(self, channel: int | None = None) -> DecoNoisingModel | ChannelModels:
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
) -> DecoNoisingModel | ChannelModels:
    """Train and return the best model; ``on_event`` receives every progress event.

    ``model_path`` (and its ``.last`` sibling) may replace existing files only with
    ``overwrite``; see :class:`Trainer`."""
    trainer = Trainer(images, psf, config, model_path, axes, overwrite=overwrite)
    for event in trainer.run():
        if on_event is not None:
            on_event(event)
    return trainer.model


def resolve_mode(
    mode: str,
    images: Sequence[AxesImage],
    psf: PSFs,
    init: DecoNoisingModel | ChannelModels | None = None,
) -> str:
    """``"2d"`` or ``"3d"``: how images with these axes and this PSF are trained.

    ``auto`` means 3D when every image has a Z axis and the PSF is 3D (or when continuing a 3D
    model), else 2D. Raises a clear :class:`ImageError` / :class:`PSFError` when ``3d`` is asked
    without a Z axis or with a 2D PSF, when a 3D PSF comes with images without Z (in ``auto``),
    or when a continued model's dimensionality does not match.
    """
    has_z = all(image.has("Z") for image in images)
    psf_3d = _is_3d_psf(psf)
    if init is not None:
        return _continued_mode(mode, init, has_z)
    if mode == "2d":
        return "2d"
    if mode == "3d" and not has_z:
        raise ImageError(
            "3D mode needs z-stacks, but "
            + ", ".join(i.describe() for i in images if not i.has("Z"))
            + " has no Z axis; give the axes with Z (e.g. --axes ZYX) or use --mode 2d"
        )
    if mode == "3d" and psf is not None and not psf_3d:
        raise PSFError(
            "3D mode needs a 3D PSF (planes, Y, X); make one with `deconoising psf` (with "
            "--planes and --z-step), or train plane by plane with --mode 2d"
        )
    if mode == "auto" and psf_3d and not has_z:
        raise PSFError(
            "the PSF is 3D but "
            + ", ".join(i.describe() for i in images if not i.has("Z"))
            + " has no Z axis; give the images' axes with Z (e.g. --axes ZYX), or use a 2D PSF "
            "(or --mode 2d to use the PSF's in-focus plane)"
        )
    return "3d" if mode == "3d" or (has_z and psf_3d) else "2d"


def _is_3d_psf(psf: PSFs) -> bool:
    """True when the PSF (or every PSF of a list) has more than one plane."""
    if psf is None:
        return False
    psfs = [psf] if hasattr(psf, "shape") else list(psf)
    return bool(psfs) and all(np.squeeze(np.asarray(p)).ndim == 3 for p in psfs)


def _continued_mode(mode: str, init: DecoNoisingModel | ChannelModels, has_z: bool) -> str:
    """The mode of a continued model, checked against the asked mode and the images."""
    model_mode = "3d" if init.spatial_dims == 3 else "2d"
    if mode not in ("auto", model_mode):
        raise ImageError(
            f"the model to continue is a {model_mode.upper()} model; it cannot continue in "
            f"{mode.upper()} mode (train a new model instead)"
        )
    if model_mode == "3d" and not has_z:
        raise ImageError(
            "the model to continue is a 3D model, but the images have no Z axis; give their "
            "axes with Z (e.g. --axes ZYX)"
        )
    return model_mode


def _checked_model_path(
    model_path: str | Path | None,
    given: Any,
    images: Sequence[AxesImage],
    init: Any,
    overwrite: bool,
) -> Path | None:
    """``model_path`` after the output policy's checks of it and its ``.last`` sibling."""
    if model_path is None:
        return None
    arrays = list(given) if isinstance(given, list | tuple) else [given]
    inputs = [image_source(image) for image in [*arrays, *images]]
    inputs.append(Path(init) if isinstance(init, str | Path) else None)
    outputs = [model_path, last_checkpoint_path(model_path)]
    return check_outputs(outputs, inputs, overwrite=overwrite)[0]


def _initial_model(
    init: DecoNoisingModel | ChannelModels | str | Path | None,
) -> DecoNoisingModel | ChannelModels | None:
    if init is None or isinstance(init, DecoNoisingModel | ChannelModels):
        return init
    from napari_deconoising.model.bundle import load_model

    return load_model(init)


def _continued_config(
    config: TrainingConfig, init: DecoNoisingModel | ChannelModels | None
) -> TrainingConfig:
    """``config`` with what a continued model fixes: architecture, output scale, mode."""
    if init is None:
        return config
    first = init.channels[0]
    return config.replace(
        network=first.network.config, output_scale=first.output_scale, n2v=first.is_n2v
    )


def _steps_done(model: DecoNoisingModel | ChannelModels) -> int:
    """Optimiser steps a model has been trained for (0 when its file does not say)."""
    return int(model.channels[0].metadata.get("steps") or 0)


def check_continuation(init: DecoNoisingModel | ChannelModels, n_channels: int) -> None:
    """Raise :class:`ImageError` when images of ``n_channels`` channels cannot continue ``init``."""
    if init.n_channels != n_channels:
        raise ImageError(
            f"the model to continue was trained on {init.n_channels} channel(s), but the images "
            f"have {n_channels}; continue with images of the same channels"
        )


def _megabytes_text(megabytes: float) -> str:
    return f"{megabytes / 1024:.1f} GB" if megabytes >= 1024 else f"{megabytes:.0f} MB"


def _axes_images(images: Images, axes: str | None) -> list[AxesImage]:
    single = isinstance(images, AxesImage) or hasattr(images, "shape")
    items = [images] if single else list(images)  # type: ignore[list-item]
    if not items:
        raise ImageError("no training images given")
    names = ["image"] if len(items) == 1 else [f"image {i + 1}" for i in range(len(items))]
    return [as_axes_image(item, axes, name) for item, name in zip(items, names, strict=True)]


def _per_channel(
    images: list[AxesImage], split: Callable[[AxesImage], list[Any]]
) -> list[list[Any]]:
    """Per channel, the frames (``split=channel_frames``) or volumes (``channel_volumes``) of
    every image; images with different channel counts are refused."""
    counts = {image.n_channels for image in images}
    if len(counts) > 1:
        raise ImageError(
            "the training images have different channel counts ("
            + ", ".join(image.describe() for image in images)
            + "); train on images with the same channels"
        )
    per_channel: list[list[Any]] = [[] for _ in range(counts.pop())]
    for image in images:
        for channel, stack in enumerate(split(image)):
            per_channel[channel].extend(stack)
    return per_channel


def _checked_psfs(psf: PSFs, n_channels: int, config: TrainingConfig) -> list[np.ndarray | None]:
    if config.n2v:
        return [None] * n_channels
    if psf is None:
        raise PSFError("DecoNoising needs a PSF; give one, or train in N2V mode")
    dims = 3 if config.mode == "3d" else 2
    if isinstance(psf, np.ndarray) or hasattr(psf, "shape"):
        return [prepare_psf(psf, spatial_dims=dims)] * n_channels
    psfs = list(psf)
    if len(psfs) != n_channels:
        raise PSFError(
            f"got {len(psfs)} PSFs for {n_channels} channel(s); give one PSF per channel "
            "(or one for all)"
        )
    return [prepare_psf(p, spatial_dims=dims) for p in psfs]


class _Run:
    """One training run over every channel: the loop, the events and the checkpoints."""

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        config = self.config = trainer.config
        self.device = resolve_device(config.device)
        inits = [None] * trainer.n_channels if trainer.init is None else trainer.init.channels
        # Every channel draws from a generator seeded alike: a channel's model is exactly the one
        # a training on that channel alone would give (and does not depend on its index).
        seed = config.seed if config.seed is not None else time.time_ns() % 2**31
        self.sessions = [
            ChannelSession(frames, psf, config, self.device, seed, init, trainer.pooling)
            for frames, psf, init in zip(trainer.channel_frames, trainer.psfs, inits, strict=True)
        ]
        #: Steps the continued model had already trained: the step count goes on from there.
        self.first_step = 0 if trainer.init is None else _steps_done(trainer.init)
        self.steps = 0

    def progress(self, step: int, elapsed: float) -> float:
        """Share of the budget used, 0..1 (and beyond when the budget is spent)."""
        config = self.config
        if config.minutes is not None:
            return elapsed / (config.minutes * 60)
        return step / config.steps

    def started(self) -> TrainingStarted:
        first, config = self.sessions[0], self.config
        return TrainingStarted(
            None if config.minutes is not None else self.first_step + config.steps,
            config.minutes,
            str(self.device),
            sum(count_parameters(s.network) for s in self.sessions),
            len(first.train_frames),
            len(first.validation_frames),
            first.validation,
            not first.validation_frames,
            len(self.sessions),
            self.first_step,
            self.trainer.mode,
            tuple(self.trainer.notes) + self._precision_note() + self._cpu_3d_note(),
        )

    def _cpu_3d_note(self) -> tuple[str, ...]:
        """A hint when DecoNoising trains a 3D network on a CPU: it learns to denoise far more
        slowly than plane by plane (measured on the widefield sample, 10 minutes on 2 cores:
        35.4 against 37.2 dB denoised, 32.8 against 32.1 dB deconvolved; 3D N2V 38.5 dB)."""
        if self.device.type != "cpu" or self.trainer.mode != "3d" or self.config.n2v:
            return ()
        return (
            "3D DecoNoising on a CPU learns slowly: within minutes it deconvolves along Z better "
            "than plane by plane, but plane by plane (mode 2d) denoises better, and 3D N2V "
            "(no deconvolution) better still; give 3D a GPU or a longer budget",
        )

    def _precision_note(self) -> tuple[str, ...]:
        """A note when training on the CPU in bfloat16 (it changes the speed and, slightly, the
        numbers; on GPUs mixed precision is the norm)."""
        dtype = mixed_precision(self.device, self.config.precision, cpu=True)
        if self.device.type != "cpu" or dtype is None:
            return ()
        return (
            f"the network computes in {dtype} (mixed precision): this CPU does it natively, "
            "about twice as fast as float32; precision float32 turns it off",
        )

    def events(self) -> Iterator[TrainingEvent]:
        config, stop = self.config, self.trainer._stop_requested
        started = self.started()
        yield started
        start = time.perf_counter()
        step, train_loss, validation_loss, progress = 0, math.nan, None, 0.0
        while progress < 1.0 and not stop.is_set():
            lr = warmup_cosine(config.learning_rate, progress, step, warmup_steps=20)
            train_loss = float(np.mean([s.train_step(lr) for s in self.sessions]))
            step = self.steps = step + 1
            elapsed = time.perf_counter() - start
            progress = self.progress(step, elapsed)
            eta = elapsed * (1 - min(progress, 1.0)) / max(progress, 1e-9)
            epoch = (
                step * config.batch_size * self.sessions[0].patch_pixels // self.sessions[0].pixels
            )
            shown = self.first_step + step
            yield TrainingStep(
                shown, started.total_steps, epoch, train_loss, lr, elapsed, eta, min(progress, 1)
            )
            if step % config.validation_interval == 0:
                validation_loss = yield from self._validate(shown)
        if step % config.validation_interval != 0 and step > 0:
            validation_loss = yield from self._validate(self.first_step + step)
        yield from self._save_last(step)
        yield TrainingFinished(
            self.first_step + step,
            time.perf_counter() - start,
            train_loss,
            validation_loss,
            self._best_loss(),
            stop.is_set(),
            str(self.trainer.model_path) if self.trainer.model_path else None,
        )

    def _best_loss(self) -> float | None:
        losses = [s.best_loss for s in self.sessions]
        return None if any(math.isinf(x) for x in losses) else float(np.mean(losses))

    def _validate(self, step: int) -> Iterator[TrainingEvent]:
        results = [s.validate() for s in self.sessions]
        loss = float(np.mean([r[0] for r in results]))
        improved = any(r[1] for r in results)
        best = self._best_loss()
        yield ValidationResult(step, loss, loss if best is None else best, improved)
        path = self.trainer.model_path
        if improved and path is not None:
            yield CheckpointSaved(step, str(self.best_model().save(path, overwrite=True)), "best")
        return loss

    def _save_last(self, step: int) -> Iterator[TrainingEvent]:
        path = self.trainer.model_path
        if path is None or step == 0:
            return
        last = self.current_model()
        shown = self.first_step + step
        yield CheckpointSaved(
            shown, str(last.save(last_checkpoint_path(path), overwrite=True)), "last"
        )
        if any(s.best_state is None for s in self.sessions):
            yield CheckpointSaved(shown, str(self.best_model().save(path, overwrite=True)), "best")

    def _model(self, states: list[dict[str, torch.Tensor]]) -> DecoNoisingModel | ChannelModels:
        trainer = self.trainer
        image = trainer.images[0]
        metadata = {
            "created": timestamp(),
            "steps": self.first_step + self.steps,
            "axes": image.axes,
            "pixel_size_um": trainer.pixel_size_um,
        }
        if trainer.mode == "3d":
            voxel = trainer.voxel_size_um
            metadata["voxel_size_um"] = None if voxel is None else list(voxel)
        models = [
            session.model(state, {**metadata, "channel": index} if len(states) > 1 else metadata)
            for index, (session, state) in enumerate(zip(self.sessions, states, strict=True))
        ]
        return models[0] if len(models) == 1 else ChannelModels(models)

    def current_model(self) -> DecoNoisingModel | ChannelModels:
        """Every channel's current weights (copied)."""
        return self._model([s.network.state_dict() for s in self.sessions])

    def best_model(self) -> DecoNoisingModel | ChannelModels:
        """Every channel's best weights (or current ones where no validation ran yet)."""
        return self._model([s.best_or_current_state() for s in self.sessions])
