"""Checks of a model file's metadata and weights before anything is built from them: model
files are untrusted input.

A model file (``torch.save`` of ``{"format", "format_version", "metadata", "state_dict"}``, see
:mod:`.bundle`) may be damaged, edited by hand or made to do harm. Its container is checked
first (:mod:`.archive_checks`); the checks here run before the network is built, the PSF becomes
an array or the weights are converted, and every refusal is a
:class:`~napari_deconoising.errors.ModelFileError` with a one-line message that names the file
and the field (:mod:`.refusals`):

* :func:`parse_metadata`: metadata JSON of at most
  :data:`~.archive_checks.MAX_METADATA_CHARS` characters, parsed;
* :func:`check_model`: every field that sizes a tensor or enters the computation, against the
  bounds the configs declare (:class:`~napari_deconoising.config.NetworkConfig`, the output
  scale of :class:`~napari_deconoising.config.TrainingConfig`,
  :data:`~napari_deconoising.psf.prepare.MAX_PSF_SIZE`), and the weights against the architecture.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from napari_deconoising.config.base import Bounds, bounds
from napari_deconoising.config.psf import MAX_PSF_SIZE
from napari_deconoising.config.training import NetworkConfig, TrainingConfig
from napari_deconoising.errors import ConfigError, ModelFileError, one_line
from napari_deconoising.model.archive_checks import MAX_METADATA_CHARS, MAX_MODEL_BYTES
from napari_deconoising.model.refusals import MISSING, damaged, format_bytes, is_whole, shown
from napari_deconoising.model.unet import UNet

#: The smallest standard deviation training writes (it clamps there), and the largest magnitude
#: of the intensity statistics: beyond it float32 network inputs and outputs overflow.
MIN_STD = 1e-6
MAX_INTENSITY = 1e12
#: A saved PSF sums to 1 (:func:`~napari_deconoising.psf.prepare.prepare_psf`), within this; its
#: negative values are rounding noise, above this share of its peak (as prepare_psf accepts).
PSF_SUM_TOLERANCE = 0.01
PSF_NEGATIVE_TOLERANCE = 1e-6
#: Widest level a network may have: the widest the declared bounds of
#: :class:`~napari_deconoising.config.NetworkConfig` give (most start filters, deepest level).
MAX_WIDTH = int(bounds(NetworkConfig, "start_filters").high) * 2 ** int(
    bounds(NetworkConfig, "depth").high
)
#: What a level may pool each axis by (:func:`~napari_deconoising.model.unet.pooling_plan`).
POOLING_FACTORS = (1, 2)
#: The dtypes weights may be stored in (loading turns them into float32).
WEIGHT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def parse_metadata(text: Any, name: str) -> dict[str, Any]:
    """The metadata JSON of a model file, parsed, once its length is checked."""
    if not isinstance(text, str):
        raise damaged(name, f"metadata must be JSON text, got {shown(text)}")
    if len(text) > MAX_METADATA_CHARS:
        raise damaged(
            name,
            f"its metadata is {len(text):,} characters long (at most {MAX_METADATA_CHARS:,})",
        )
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise damaged(name, f"its metadata is not valid JSON ({one_line(err)})") from err
    if not isinstance(meta, dict):
        raise damaged(name, f"metadata must be a JSON object, got {shown(meta)}")
    return meta


def check_model(meta: dict[str, Any], state: Any, name: str, multi_channel: bool) -> None:
    """Check the parsed metadata ``meta`` and the weights ``state`` of model file ``name``
    (format 2 when ``multi_channel``) before anything is built from them."""
    if not isinstance(state, dict) or not all(isinstance(key, str) for key in state):
        raise damaged(name, f"state_dict must map weight names to tensors, got {shown(state)}")
    if multi_channel:
        _check_channels(meta, state, name)
    else:
        _check_channel(meta, state, _Field(name))


@dataclass(frozen=True)
class _Field:
    """Names what is refused: the file, and the channel of a multi-channel file."""

    name: str
    channel: int | None = None

    def invalid(self, field: str, requirement: str, value: Any) -> ModelFileError:
        """``FILE is a damaged ...: [channel N] FIELD must be REQUIREMENT, got VALUE``."""
        return self.problem(f"{field} must be {requirement}, got {shown(value)}")

    def problem(self, text: str) -> ModelFileError:
        """The refusal for ``text``, prefixed with the channel when there is one."""
        where = "" if self.channel is None else f"channel {self.channel} "
        return damaged(self.name, where + text)


@dataclass(frozen=True)
class _Layout:
    """The validated arguments of :class:`~napari_deconoising.model.unet.UNet`."""

    config: NetworkConfig
    widths: list[int] | None
    spatial_dims: int
    pooling: list[list[int]] | None


def _check_channels(meta: dict[str, Any], state: dict[str, Any], name: str) -> None:
    """A format-2 file: two or more channels, each checked with its own weights."""
    channels = meta.get("channels", MISSING)
    if not isinstance(channels, list) or len(channels) < 2:
        raise _Field(name).invalid("channels", "a list of two or more channels", channels)
    prefixes = [f"channel{index}." for index in range(len(channels))]
    strays = [key for key in state if not key.startswith(tuple(prefixes))]
    if strays:
        unexpected = _listed("unexpected", strays)
        raise damaged(name, f"the weights do not match the architecture: {unexpected}")
    total: dict[str, tuple[int, ...]] = {}
    dims = set()
    for index, (channel, prefix) in enumerate(zip(channels, prefixes, strict=True)):
        own = {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
        layout, weights = _check_channel(channel, own, _Field(name, index))
        total.update({prefix + key: shape for key, shape in weights.items()})
        dims.add(layout.spatial_dims)
    if len(dims) > 1:
        raise damaged(name, "its channels mix 2D and 3D networks")
    _check_free_metadata(meta.get("metadata", MISSING), _Field(name))
    _check_network_size(total, name)


def _check_channel(
    meta: Any, state: dict[str, Any], field: _Field
) -> tuple[_Layout, dict[str, tuple[int, ...]]]:
    """Check one network's metadata and weights; its layout and its weights' shapes."""
    if not isinstance(meta, dict):
        raise field.invalid("metadata", "a JSON object", meta)
    layout = _check_architecture(meta.get("architecture", MISSING), field)
    _check_normalisation(meta.get("normalisation", MISSING), field)
    scale = bounds(TrainingConfig, "output_scale")
    _check_setting(meta.get("output_scale", MISSING), "output_scale", scale, False, field)
    _check_psf(meta.get("psf", MISSING), layout.spatial_dims, field)
    config = meta.get("training_config", {})
    if not isinstance(config, dict):
        raise field.invalid("training_config", "a JSON object", config)
    _check_free_metadata(meta.get("metadata", MISSING), field)
    expected = _expected_weights(layout, field)
    _check_network_size(expected, field.name)
    _check_weights(state, expected, field)
    return layout, expected


# -- architecture and weights --------------------------------------------------------------------
def _check_architecture(architecture: Any, field: _Field) -> _Layout:
    if not isinstance(architecture, dict):
        raise field.invalid("architecture", "a JSON object", architecture)
    network = architecture.get("network", MISSING)
    if not isinstance(network, dict):
        raise field.invalid("architecture network", "a JSON object of settings", network)
    settings = {item.name: item for item in dataclasses.fields(NetworkConfig)}
    unknown = [key for key in network if key not in settings]
    if unknown:
        raise field.problem(f"architecture network has unknown settings {shown(unknown)}")
    for key, value in network.items():
        declared = settings[key].metadata.get("bounds", Bounds())
        whole = settings[key].type in ("int", int)
        _check_setting(value, f"architecture network {key}", declared, whole, field)
    try:
        config = NetworkConfig.from_dict(network)
    except ConfigError as err:  # the settings were checked one by one: a safety net
        raise field.problem(f"architecture network: {err}") from err
    dims = architecture.get("spatial_dims", 2)
    if not is_whole(dims) or dims not in (2, 3):
        raise field.invalid("architecture spatial_dims", "2 or 3", dims)
    widths = _check_widths(architecture.get("widths"), config.depth, field)
    pooling = _check_pooling(architecture.get("pooling"), config.depth, dims, field)
    return _Layout(config, widths, int(dims), pooling)


def _check_widths(widths: Any, depth: int, field: _Field) -> list[int] | None:
    """None (the default widths) or ``depth + 1`` whole numbers from 1 to :data:`MAX_WIDTH`."""
    if widths is None:
        return None
    fits = isinstance(widths, list) and len(widths) == depth + 1
    if not fits or not all(is_whole(w) and 1 <= w <= MAX_WIDTH for w in widths):
        requirement = f"a list of {depth + 1} whole numbers from 1 to {MAX_WIDTH}"
        raise field.invalid("architecture widths", requirement, widths)
    return [int(w) for w in widths]


def _check_pooling(pooling: Any, depth: int, dims: int, field: _Field) -> list[list[int]] | None:
    """None (pool by 2 everywhere) or ``depth`` levels of ``dims`` factors, each 1 or 2."""
    if pooling is None:
        return None
    fits = isinstance(pooling, list) and len(pooling) == depth
    levels_fit = fits and all(
        isinstance(level, list)
        and len(level) == dims
        and all(is_whole(f) and f in POOLING_FACTORS for f in level)
        for level in pooling
    )
    if not levels_fit:
        requirement = f"a list of {depth} lists of {dims} factors, each 1 or 2"
        raise field.invalid("architecture pooling", requirement, pooling)
    return [[int(f) for f in level] for level in pooling]


def _expected_weights(layout: _Layout, field: _Field) -> dict[str, tuple[int, ...]]:
    """The names and shapes of the weights of ``layout``'s network, built on the meta device
    (no memory is allocated)."""
    try:
        with torch.device("meta"):
            network = UNet(layout.config, layout.widths, layout.spatial_dims, layout.pooling)
    except ValueError as err:  # the layout was checked: a safety net
        raise field.problem(f"architecture: {one_line(err)}") from err
    return {key: tuple(tensor.shape) for key, tensor in network.state_dict().items()}


def _check_network_size(weights: dict[str, tuple[int, ...]], name: str) -> None:
    size = 4 * sum(math.prod(shape) for shape in weights.values())
    if size > MAX_MODEL_BYTES:
        raise damaged(
            name,
            f"its architecture needs {format_bytes(size)} of weights (at most "
            f"{format_bytes(MAX_MODEL_BYTES)})",
        )


def _check_weights(
    state: dict[str, Any], expected: dict[str, tuple[int, ...]], field: _Field
) -> None:
    """The weights are exactly the network's, floating-point tensors of its shapes, finite."""
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    if missing or unexpected:
        found = [_listed("missing", missing), _listed("unexpected", unexpected)]
        text = "; ".join(part for part in found if part)
        raise field.problem(f"the weights do not match the architecture: {text}")
    for key, shape in expected.items():
        tensor = state[key]
        if not _is_weight_tensor(tensor):
            described = tensor.dtype if isinstance(tensor, torch.Tensor) else type(tensor).__name__
            raise field.problem(f"weight {key} must be a tensor of floats, got {described}")
        if tuple(tensor.shape) != shape:
            raise field.problem(
                f"weight {key} has shape {list(tensor.shape)}, the architecture needs {list(shape)}"
            )
        if not bool(torch.isfinite(tensor).all()):
            raise field.problem(f"weight {key} holds NaN or infinite values")


def _is_weight_tensor(value: Any) -> bool:
    return (
        isinstance(value, torch.Tensor)
        and value.layout == torch.strided
        and not value.is_quantized
        and value.dtype in WEIGHT_DTYPES
    )


def _listed(label: str, keys: list[str]) -> str:
    if not keys:
        return ""
    names = ", ".join(shown(key) for key in keys[:3])
    more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
    return f"{label} {names}{more}"


# -- values --------------------------------------------------------------------------------------
def _check_normalisation(norm: Any, field: _Field) -> None:
    if not isinstance(norm, dict):
        raise field.invalid("normalisation", "a JSON object (mean, std, offset)", norm)
    ranges = {
        "mean": (-MAX_INTENSITY, MAX_INTENSITY),
        "std": (MIN_STD, MAX_INTENSITY),
        "offset": (-MAX_INTENSITY, MAX_INTENSITY),
    }
    for key, (low, high) in ranges.items():
        value = norm.get(key, MISSING)
        if not (_is_number(value) and low <= value <= high):  # NaN fails the comparison
            requirement = f"a finite number from {low:g} to {high:g}"
            raise field.invalid(f"normalisation {key}", requirement, value)


def _check_setting(value: Any, name: str, declared: Bounds, whole: bool, field: _Field) -> None:
    """``value`` within ``declared`` bounds (a whole number when ``whole``)."""
    if declared.choices is not None:
        if not any(value == c and type(value) is type(c) for c in declared.choices):
            raise field.invalid(name, declared.describe(), value)
        return
    kind = "whole number" if whole else "finite number"
    numeric = is_whole(value) if whole else _is_number(value)
    # The magnitude is compared first: a huge JSON integer has no float value to check.
    if not (numeric and abs(value) <= 2**63 and declared.accepts(value)):
        raise field.invalid(name, f"a {kind} {declared.describe()}", value)


def _check_free_metadata(values: Any, field: _Field) -> None:
    """The free-form ``metadata``: a JSON object whose sizes and step count, when given, are
    usable."""
    if values is MISSING:
        return
    if not isinstance(values, dict):
        raise field.invalid("metadata", "a JSON object", values)
    pixel = values.get("pixel_size_um")
    if pixel is not None and not _is_positive(pixel):
        raise field.invalid("metadata pixel_size_um", "a positive number or null", pixel)
    voxel = values.get("voxel_size_um")
    usable = isinstance(voxel, list) and len(voxel) == 3 and all(map(_is_positive, voxel))
    if voxel is not None and not usable:
        requirement = "three positive numbers (z, y, x) or null"
        raise field.invalid("metadata voxel_size_um", requirement, voxel)
    steps = values.get("steps")
    if steps is not None and not (is_whole(steps) and steps >= 0):
        raise field.invalid("metadata steps", "a whole number >= 0 or null", steps)


def _check_psf(psf: Any, dims: int, field: _Field) -> None:
    """None (a Noise2Void model) or a ``dims``-D list of finite, non-negative numbers with odd
    sides of at most :data:`MAX_PSF_SIZE` that sums to 1; the shape is checked on the lists,
    before they become an array."""
    if psf is None:
        return
    if not isinstance(psf, list):
        raise field.invalid("psf", f"a {dims}D list of numbers or null", psf)
    shape = _nested_shape(psf)
    if len(shape) != dims:
        raise field.problem(f"psf must be {dims}D for this {dims}D model, got {len(shape)}D")
    if any(side % 2 == 0 or side > MAX_PSF_SIZE for side in shape):
        raise field.problem(
            f"psf must have odd sides of at most {MAX_PSF_SIZE} values, got sides {list(shape)}"
        )
    if not _is_grid(psf, shape):
        raise field.problem(f"psf must be a regular {dims}D grid of numbers {list(shape)}")
    try:
        kernel = np.asarray(psf, dtype=np.float64)
    except (OverflowError, ValueError, TypeError) as err:
        raise field.problem(f"psf must hold numbers ({one_line(err)})") from err
    _check_psf_values(kernel, field)


def _nested_shape(value: list[Any]) -> tuple[int, ...]:
    """The sides of nested lists, from their first elements (at most 4 levels are looked at)."""
    shape: list[int] = []
    while isinstance(value, list) and len(shape) < 4:
        shape.append(len(value))
        value = value[0] if value else None
    return tuple(shape)


def _is_grid(value: Any, shape: tuple[int, ...]) -> bool:
    """True when ``value`` is nested lists of exactly ``shape`` holding JSON numbers."""
    if not isinstance(value, list) or len(value) != shape[0]:
        return False
    if len(shape) == 1:
        return all(type(item) in (int, float) for item in value)
    return all(_is_grid(item, shape[1:]) for item in value)


def _check_psf_values(kernel: np.ndarray, field: _Field) -> None:
    with np.errstate(over="ignore"):
        single = kernel.astype(np.float32)  # what the model computes with
    if not np.isfinite(single).all():
        bad = float(kernel[~np.isfinite(single)][0])
        largest = float(np.finfo(np.float32).max)
        raise field.problem(f"psf must hold finite numbers up to {largest:.3g}, found {bad!r}")
    peak = float(single.max())
    lowest = float(single.min())
    if lowest < -PSF_NEGATIVE_TOLERANCE * max(peak, 0.0):
        raise field.problem(f"psf must hold non-negative numbers, found {lowest:g}")
    total = float(single.sum(dtype=np.float64))
    if not abs(total - 1) <= PSF_SUM_TOLERANCE:
        raise field.problem(
            f"psf must sum to 1 (napari-deconoising saves normalised PSFs), got a sum of {total:g}"
        )


# -- small helpers -------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_positive(value: Any) -> bool:
    return _is_number(value) and 0 < value < math.inf
