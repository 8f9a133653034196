"""The model file: network weights plus JSON metadata, never pickled code.

A model file is ``torch.save`` of a plain dict ``{"format", "metadata", "state_dict"}``, where
``metadata`` is a JSON string (architecture, normalisation, PSF, configs, package version). It is
read back with ``torch.load(weights_only=True)``, which refuses anything but tensors and plain
containers, so opening a model file cannot run code.
"""

from __future__ import annotations

import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_deconoising._version import __version__
from napari_deconoising.config.base import Storage
from napari_deconoising.errors import ModelFileError, one_line
from napari_deconoising.io.outputs import atomic_write, check_outputs
from napari_deconoising.model.archive_checks import read_payload
from napari_deconoising.model.checks import check_model, parse_metadata
from napari_deconoising.model.package_reader import is_bioimageio_package, packaged_model_file
from napari_deconoising.model.refusals import damaged
from napari_deconoising.model.unet import UNet, build_unet, count_parameters

FORMAT = "napari-deconoising-model"
#: Format 1: one network (one channel). Format 2: one network per channel (:class:`ChannelModels`).
#: Single-channel models are still written as format 1, so older versions keep reading them.
SINGLE_CHANNEL_FORMAT, MULTI_CHANNEL_FORMAT = 1, 2
FORMAT_VERSION = MULTI_CHANNEL_FORMAT

#: How the weights are stored: float16 halves the file; loading always gives float32 weights.


@dataclass(frozen=True)
class Normalisation:
    """Intensity statistics of the training data, in camera units.

    The network sees ``(x - mean) / std``; ``offset`` is the estimated camera offset (the value of
    zero photons), below which the deconvolved image is penalised.
    """

    mean: float
    std: float
    offset: float

    def normalise(self, image: np.ndarray | torch.Tensor) -> Any:
        """Camera units to network units."""
        return (image - self.mean) / self.std

    def denormalise(self, image: np.ndarray | torch.Tensor) -> Any:
        """Network units to camera units."""
        return image * self.std + self.mean

    @property
    def zero_level(self) -> float:
        """The offset in network units."""
        return (self.offset - self.mean) / self.std


class _ModelFile:
    """Writing a model file; subclasses provide ``_payload``."""

    def _payload(self, storage: Storage) -> dict[str, Any]:
        raise NotImplementedError

    def save(self, path: str | Path, storage: Storage = "float32", overwrite: bool = False) -> Path:
        """Write the model file atomically at exactly ``path`` (no suffix is added).

        An existing file is replaced only with ``overwrite`` (see :mod:`.outputs`).
        ``storage="float16"`` stores half-precision weights (the file halves; loading turns them
        back into float32).
        """
        check_outputs([path], overwrite=overwrite)
        data = self.to_bytes(storage)
        return atomic_write(path, lambda temporary: temporary.write_bytes(data))

    def to_bytes(self, storage: Storage = "float32") -> bytes:
        """The model file's content (independent of the file's name)."""
        buffer = io.BytesIO()
        torch.save(self._payload(storage), buffer)
        return buffer.getvalue()

    def file_size(self, storage: Storage = "float32") -> int:
        """Size in bytes of the file :meth:`save` writes, measured in memory."""
        return len(self.to_bytes(storage))


@dataclass
class DecoNoisingModel(_ModelFile):
    """A trained network with everything needed to apply it.

    ``psf`` is None for a plain Noise2Void model (the denoised and deconvolved images are then the
    same). ``metadata`` holds free-form facts (package version, creation time, training figures,
    compression provenance).
    """

    network: UNet
    psf: np.ndarray | None
    normalisation: Normalisation
    output_scale: float = 10.0
    training_config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def is_n2v(self) -> bool:
        """True for a plain Noise2Void model (no PSF)."""
        return self.psf is None

    @property
    def two_stage(self) -> bool:
        """True when the network denoises and Richardson-Lucy deconvolves its output with
        ``psf`` (the ``two-stage`` design); False when the network's output is the deconvolved
        image (``joint``, the 2020 method) or there is no deconvolution (Noise2Void)."""
        return self.psf is not None and self.training_config.get("design") == "two-stage"

    @property
    def output_psf(self) -> np.ndarray | None:
        """The PSF that turns the network's output into the denoised image: ``psf`` for a joint
        model; None where the network's output is the denoised image itself."""
        return None if self.two_stage else self.psf

    def to_metadata(self) -> dict[str, Any]:
        """Everything but the weights, as JSON-able values."""
        return {
            "architecture": self.network.architecture(),
            "psf": None if self.psf is None else np.asarray(self.psf).tolist(),
            "normalisation": asdict(self.normalisation),
            "output_scale": self.output_scale,
            "training_config": self.training_config,
            "metadata": {"package_version": __version__, **self.metadata},
        }

    @property
    def n_channels(self) -> int:
        """Channels this model handles (1; see :class:`ChannelModels` for more)."""
        return 1

    @property
    def channels(self) -> list[DecoNoisingModel]:
        """The per-channel models: this one."""
        return [self]

    @property
    def pixel_size_um(self) -> float | None:
        """The pixel size (µm) of the images the model was trained on, when known."""
        value = self.metadata.get("pixel_size_um")
        return None if value is None else float(value)

    @property
    def spatial_dims(self) -> int:
        """2 for a model of 2D images (applied plane by plane to stacks), 3 for volumes."""
        return int(getattr(self.network, "spatial_dims", 2))

    @property
    def voxel_size_um(self) -> tuple[float, float, float] | None:
        """A 3D model's training voxel size ``(z, y, x)`` in µm (None for 2D models, or when
        the training images did not say)."""
        value = self.metadata.get("voxel_size_um")
        if value is None or len(value) != self.spatial_dims:  # one size per spatial axis
            return None
        z, y, x = (float(v) for v in value)
        return z, y, x

    def _payload(self, storage: Storage) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": SINGLE_CHANNEL_FORMAT,
            "metadata": json.dumps(self.to_metadata()),
            "state_dict": _state(self.network, storage),
        }

    @classmethod
    def load(cls, path: str | Path) -> DecoNoisingModel:
        """Read a single-channel model file; :func:`load_model` reads any model file."""
        return single_channel(load_model(path), "this")

    @classmethod
    def from_parts(cls, meta: dict[str, Any], state: dict[str, torch.Tensor]) -> DecoNoisingModel:
        """Rebuild from :meth:`to_metadata` output and a state dict (any float dtype).

        The parts are trusted here: :func:`load_model` checks a file's parts first
        (:mod:`.checks`)."""
        network = build_unet(meta["architecture"])
        network.load_state_dict({k: v.float() for k, v in state.items()})
        psf = None if meta["psf"] is None else np.asarray(meta["psf"], dtype=np.float32)
        norm = meta["normalisation"]
        return cls(
            network=network.eval(),
            psf=psf,
            normalisation=Normalisation(
                float(norm["mean"]), float(norm["std"]), float(norm["offset"])
            ),
            output_scale=float(meta["output_scale"]),
            training_config=meta.get("training_config", {}),
            metadata=meta.get("metadata", {}),
        )

    def info(self) -> dict[str, Any]:
        """A JSON-able summary for ``deconoising info`` and the widgets."""
        arch = self.network.architecture()
        return {
            "kind": "n2v" if self.is_n2v else "deconoising",
            "design": None if self.is_n2v else ("two-stage" if self.two_stage else "joint"),
            "parameters": count_parameters(self.network),
            "depth": arch["network"]["depth"],
            "start_filters": arch["network"]["start_filters"],
            "downsampling": arch["network"].get("downsampling", "max"),
            "top_skip": arch["network"].get("top_skip", True),
            "z_context": arch["network"].get("z_context", 0),
            "widths": arch["widths"],
            "psf_shape": None if self.psf is None else list(np.shape(self.psf)),
            "normalisation": asdict(self.normalisation),
            "compressed": bool(self.metadata.get("compressed_from")),
            "compressed_from": self.metadata.get("compressed_from"),
            "training_config": self.training_config,
            "metadata": self.metadata,
            "channels": 1,
            "pixel_size_um": self.pixel_size_um,
            "spatial_dims": self.spatial_dims,
            "voxel_size_um": None if self.voxel_size_um is None else list(self.voxel_size_um),
            "pooling": arch.get("pooling"),  # only 3D descriptions have one
        }


@dataclass
class ChannelModels(_ModelFile):
    """One :class:`DecoNoisingModel` per channel of a multi-channel recording, in one file.

    Each channel has its own network, normalisation, camera offset and PSF (a channel's PSF
    depends on its emission wavelength); they were trained independently on their channel.
    """

    channels: list[DecoNoisingModel]
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.channels) < 2:
            raise ValueError("ChannelModels holds two or more channels; use the model itself")

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.channels)

    @property
    def is_n2v(self) -> bool:
        """True when every channel is a plain Noise2Void model."""
        return all(model.is_n2v for model in self.channels)

    @property
    def two_stage(self) -> bool:
        """True when the channels' networks denoise and Richardson-Lucy deconvolves."""
        return any(model.two_stage for model in self.channels)

    @property
    def pixel_size_um(self) -> float | None:
        """The pixel size (µm) of the training images, when known."""
        return self.channels[0].pixel_size_um

    @property
    def spatial_dims(self) -> int:
        """2 or 3, as for :attr:`DecoNoisingModel.spatial_dims` (every channel alike)."""
        return self.channels[0].spatial_dims

    @property
    def voxel_size_um(self) -> tuple[float, float, float] | None:
        """A 3D model's training voxel size ``(z, y, x)`` in µm, when known."""
        return self.channels[0].voxel_size_um

    def _payload(self, storage: Storage) -> dict[str, Any]:
        state: dict[str, torch.Tensor] = {}
        for index, model in enumerate(self.channels):
            prefix = f"channel{index}."
            state.update({prefix + k: v for k, v in _state(model.network, storage).items()})
        meta = {
            "channels": [model.to_metadata() for model in self.channels],
            "metadata": {"package_version": __version__, **self.metadata},
        }
        return {
            "format": FORMAT,
            "format_version": MULTI_CHANNEL_FORMAT,
            "metadata": json.dumps(meta),
            "state_dict": state,
        }

    @classmethod
    def from_payload(
        cls, payload: dict[str, Any], meta: dict[str, Any] | None = None
    ) -> ChannelModels:
        """Rebuild from a format-2 payload (``meta``: its metadata, when already parsed)."""
        meta = json.loads(payload["metadata"]) if meta is None else meta
        channels = []
        for index, channel_meta in enumerate(meta["channels"]):
            prefix = f"channel{index}."
            state = {
                k[len(prefix) :]: v
                for k, v in payload["state_dict"].items()
                if k.startswith(prefix)
            }
            channels.append(DecoNoisingModel.from_parts(channel_meta, state))
        return cls(channels, meta.get("metadata", {}))

    def info(self) -> dict[str, Any]:
        """A JSON-able summary: the first channel's architecture, totals, and per-channel facts."""
        first = self.channels[0].info()
        return {
            **first,
            "kind": "n2v" if self.is_n2v else "deconoising",
            "parameters": sum(count_parameters(m.network) for m in self.channels),
            "channels": self.n_channels,
            "psf_shape": [None if m.psf is None else list(np.shape(m.psf)) for m in self.channels],
            "normalisation": [asdict(m.normalisation) for m in self.channels],
            "metadata": {**first["metadata"], **self.metadata},
        }


AnyModel = DecoNoisingModel | ChannelModels
"""A model of one channel or of several (one network per channel): what every task accepts."""


def single_channel(model: Any, purpose: str) -> DecoNoisingModel:
    """``model`` itself when it is a single-channel model; else a clear :class:`ModelFileError`
    saying that ``purpose`` (e.g. "compression") needs one."""
    if isinstance(model, ChannelModels):
        raise ModelFileError(
            f"this model holds {model.n_channels} channels; {purpose} works on single-channel "
            "models for now (train one model per channel to use it)"
        )
    if not isinstance(model, DecoNoisingModel):
        raise ModelFileError(
            f"expected a napari-deconoising model or a model file, got {type(model).__name__}"
        )
    return model


def _state(network: UNet, storage: Storage) -> dict[str, torch.Tensor]:
    dtype = torch.float16 if storage == "float16" else torch.float32
    return {k: v.detach().cpu().to(dtype) for k, v in network.state_dict().items()}


def load_model(path: str | Path) -> AnyModel:
    """Read a model file: a :class:`DecoNoisingModel`, or :class:`ChannelModels` for a model
    trained on several channels. Raises :class:`ModelFileError` for anything else.

    Model files are untrusted input: the file's archive, format, metadata and weights are
    checked (:mod:`.archive_checks`, :mod:`.checks`) before the network is built. A bioimage.io
    package (a zip with an ``rdf.yaml``) that napari-deconoising exported is read through the
    model file it carries (:func:`load_bioimageio`)."""
    if is_bioimageio_package(path):
        return load_bioimageio(path)
    return load_model_file(path)


def load_bioimageio(path: str | Path) -> AnyModel:
    """Read back the model of a package that :func:`~napari_deconoising.export_bioimageio`
    wrote (its attached model file, exactly); a clear :class:`ModelFileError` for other
    packages or damage (:mod:`.package_reader`)."""
    with packaged_model_file(path) as inner:
        return load_model_file(inner)


def load_model_file(path: str | Path) -> AnyModel:
    """Read a model file itself (:func:`load_model` without its look for a bioimage.io
    package, so that a package's model member is never read as a package in turn)."""
    payload = read_payload(Path(path), FORMAT, (SINGLE_CHANNEL_FORMAT, MULTI_CHANNEL_FORMAT))
    multi_channel = payload["format_version"] == MULTI_CHANNEL_FORMAT
    meta = parse_metadata(payload.get("metadata"), str(path))
    check_model(meta, payload.get("state_dict"), str(path), multi_channel)
    try:
        if multi_channel:
            return ChannelModels.from_payload(payload, meta)
        return DecoNoisingModel.from_parts(meta, payload["state_dict"])
    except Exception as err:
        raise damaged(str(path), one_line(err)) from err


def timestamp() -> str:
    """UTC time stamp for metadata."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
