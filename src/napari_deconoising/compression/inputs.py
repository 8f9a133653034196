"""What a compression run is given: the original model, the images, the output path.

The images must be big enough for the network and fine-tuning patches and look like what the
model was trained on; the frames are split into fine-tuning and evaluation frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from napari_deconoising.config.compression import MIN_PATCH, CompressionConfig
from napari_deconoising.data.images import as_frames, collect_frames, read_pixels, spread
from napari_deconoising.data.stacks import channel_stacks
from napari_deconoising.errors import ImageError, ModelFileError
from napari_deconoising.io.axes import AxesImage
from napari_deconoising.io.outputs import check_outputs, image_source, refuse_input_model
from napari_deconoising.model.bundle import DecoNoisingModel, load_model, single_channel
from napari_deconoising.model.unet import UNet

#: Images whose median lies this many training standard deviations away from the training mean,
#: or whose spread differs by this factor, are refused as not matching the model.
MAX_INTENSITY_SHIFT = 20.0
MAX_SPREAD_RATIO = 50.0


def check_images_match(model: DecoNoisingModel, frames: Sequence[np.ndarray]) -> None:
    """Raise :class:`ImageError` when the images cannot be what ``model`` was trained for.

    Checks the size (big enough for the network's poolings and for fine-tuning patches) and the
    intensities (median and spread against the training data's mean and standard deviation).
    Frames are 2D, or volumes (Z, Y, X) for a 3D model.
    """
    multiple = model.network.size_multiple
    smallest = min(min(f.shape[-2:]) for f in frames)
    needed = max(MIN_PATCH, 2 * multiple)
    if smallest < needed:
        raise ImageError(
            f"the image is too small ({smallest} px on its short side) for this model: "
            f"compression needs at least {needed} x {needed} px"
        )
    for axis, multiple in enumerate(model.network.size_multiples[:-2]):  # depth axes (Z)
        planes, least = min(f.shape[axis] for f in frames), max(4, multiple)
        if planes < least:
            raise ImageError(
                f"the z-stacks have {planes} planes; compressing this 3D model needs {least}"
            )
    norm = model.normalisation
    sample = np.concatenate([np.asarray(f, np.float32).ravel()[::7] for f in frames[:16]])
    median, deviation = float(np.median(sample)), float(np.std(sample))
    shift = abs(median - norm.mean) / norm.std
    ratio = max(deviation, 1e-12) / norm.std
    if shift > MAX_INTENSITY_SHIFT or not (1 / MAX_SPREAD_RATIO <= ratio <= MAX_SPREAD_RATIO):
        raise ImageError(
            f"the image does not match the model: its intensities (median {median:.4g}, spread "
            f"{deviation:.4g}) are far from those the model was trained on (mean "
            f"{norm.mean:.4g}, std {norm.std:.4g}); fine-tune on images like the training images"
        )


def select_frames(
    frames: list[np.ndarray], config: CompressionConfig
) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """(fine-tuning frames, evaluation frames, held_out): frames spread evenly over the input."""
    mean_pixels = float(np.mean([f.size for f in frames]))
    count = int(min(len(frames), max(1, config.max_pixels // mean_pixels)))
    chosen = [frames[i] for i in spread(len(frames), count)]
    n_eval = min(config.max_eval_frames, max(1, round(config.eval_fraction * len(chosen))))
    if len(chosen) < 3 or config.eval_fraction == 0:
        return chosen, chosen, False
    held = set(spread(len(chosen), n_eval + 2)[1:-1])
    train = [f for i, f in enumerate(chosen) if i not in held]
    evaluation = [f for i, f in enumerate(chosen) if i in held]
    return train, evaluation, True


def unique(frames: list[np.ndarray]) -> list[np.ndarray]:
    """``frames`` without repeats of the same array object, in order."""
    seen: dict[int, np.ndarray] = {}
    for frame in frames:
        seen.setdefault(id(frame), frame)
    return list(seen.values())


def load_original(
    model: DecoNoisingModel | str | Path, source_path: str | Path | None
) -> tuple[DecoNoisingModel, Path | None]:
    """The model to compress and the file it came from (None for an unsaved model)."""
    if isinstance(model, (str, Path)):
        return single_channel(load_model(model), "compression"), Path(model)
    model = single_channel(model, "compression")
    if not isinstance(model.network, UNet):
        raise ModelFileError("this model's network is not a napari-deconoising U-Net")
    return model, None if source_path is None else Path(source_path)


def collect_volumes(images: Any, max_pixels: int) -> list[np.ndarray]:
    """The checked float32 volumes (Z, Y, X) of one z-stack or a list of them, for a 3D model.

    Each image is a ``ZYX`` array, a stack of volumes (N, Z, Y, X), or an
    :class:`~napari_deconoising.io.AxesImage` with a Z axis (single channel). At most about
    ``max_pixels`` voxels per image are kept (evenly spread volumes).
    """
    arrays = [images] if hasattr(images, "shape") else list(images)
    if not arrays:
        raise ImageError("no images given for compression")
    volumes: list[np.ndarray] = []
    for index, image in enumerate(arrays):
        name = f"image {index + 1}" if len(arrays) > 1 else "image"
        if isinstance(image, AxesImage):
            stack = channel_stacks(image, 3)
            if len(stack) != 1:
                raise ImageError(f"{name}: compression works on single-channel models")
            stack = stack[0]
        else:
            array = read_pixels(image, source=name)
            if array.ndim not in (3, 4):
                raise ImageError(
                    f"{name}: a 3D model needs z-stacks (Z, Y, X) or (N, Z, Y, X), got shape "
                    f"{array.shape}"
                )
            stack = as_frames(array.reshape((-1, *array.shape[-2:])), name).reshape(
                (-1, *array.shape[-3:])
            )
        keep = max(1, max_pixels // max(int(np.prod(stack.shape[1:])), 1))
        volumes.extend(stack[i] for i in spread(len(stack), min(keep, len(stack))))
    return volumes


def collect_planes(images: Any, max_pixels: int) -> list[np.ndarray]:
    """The checked float32 frames (Y, X) of one image or a list of them, for a 2D model (at most
    about ``max_pixels`` pixels per image: evenly spread frames)."""
    return collect_frames(images, max_pixels, purpose="compression")


#: How the images are read for a model of each number of spatial dims.
COLLECTORS = {2: collect_planes, 3: collect_volumes}


def collect_images(images: Any, spatial_dims: int, max_pixels: int) -> list[np.ndarray]:
    """The checked frames (2D) or volumes (3D) of ``images`` for a model of ``spatial_dims``."""
    return COLLECTORS[spatial_dims](images, max_pixels)


def checked_out_path(
    out_path: str | Path | None,
    source: Path | None,
    images: Any = (),
    overwrite: bool = False,
) -> Path | None:
    """The output path, refused (see :func:`~napari_deconoising.io.outputs.check_outputs`) when it
    is the original model file or an image file, or exists and ``overwrite`` is not set."""
    if out_path is None:
        return None
    refuse_original(out_path, source)
    arrays = [images] if hasattr(images, "shape") else list(images)
    inputs = [source, *(image_source(image) for image in arrays)]
    return check_outputs([out_path], inputs, overwrite=overwrite)[0]


def refuse_original(out_path: str | Path, source: str | Path | None) -> None:
    """Refuse to save a compressed model over ``source``, the model it was made from."""
    refuse_input_model(
        out_path, source, "the original is never overwritten, choose another file name"
    )


def source_name(source_path: Path | None, fingerprint: str) -> str:
    """How the compressed model's metadata names the original."""
    if source_path is not None:
        return source_path.name
    return f"unsaved model (weights sha256 {fingerprint[:12]})"
