"""Which blind spot a run masks: one pixel, structured along the axes where the training
images' noise is correlated, or a box where it is correlated alike along both.

:func:`measurable_arrays` gives what of each channel's frames is measured before training
(:func:`~napari_deconoising.data.noise.measure_noise` subsamples it); :func:`choose_blind_spot`
turns ``TrainingConfig.blind_spot`` into the shape and span the run uses (``auto``: the measured
axes, or the choice recorded in a model whose training goes on) and says so in notes;
:func:`mask_span` gives the masking its half-width per spatial axis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from napari_deconoising.config.training import BLIND_SPOTS, MAX_BLIND_SPOT_SPAN, TrainingConfig
from napari_deconoising.data.images import spread
from napari_deconoising.data.noise import NoiseReport
from napari_deconoising.data.stacks import LazyFrame
from napari_deconoising.model.bundle import AnyModel

#: The axes each structured blind spot spans.
SPANNED_AXES: dict[str, tuple[str, ...]] = {
    "pixel": (),
    "x": ("X",),
    "y": ("Y",),
    "xy": ("Y", "X"),
    "box": ("Y", "X"),
}
#: The blind spot of lines spanning each set of axes.
SHAPES = {axes: shape for shape, axes in SPANNED_AXES.items() if shape != "box"}
#: Frames of a streamed channel read for the measurement, and the side of the region of each.
LAZY_FRAMES, LAZY_SIDE = 4, 1024


@dataclass(frozen=True)
class BlindSpotChoice:
    """The run's configuration (``blind_spot`` resolved, ``blind_spot_span`` set for a
    structured one) and what the user should know about the noise and the choice."""

    config: TrainingConfig
    notes: list[str] = field(default_factory=list)


def measurable_arrays(frames: Sequence[Any]) -> list[np.ndarray]:
    """The arrays of a channel's frames or volumes to measure: in-memory frames as they are
    (the measurement subsamples), or the central plane's central region of :data:`LAZY_FRAMES`
    spread streamed frames (:class:`LazyFrame` handles)."""
    if not frames or not isinstance(frames[0], LazyFrame):
        return list(frames)
    chosen = [frames[i] for i in spread(len(frames), min(len(frames), LAZY_FRAMES))]
    return [_central_region(frame) for frame in chosen]


def _central_region(frame: LazyFrame) -> np.ndarray:
    """The middle plane (volumes) and central :data:`LAZY_SIDE` square of ``frame``."""
    sizes = [1] * (frame.ndim - 2) + [min(LAZY_SIDE, n) for n in frame.shape[-2:]]
    starts = [(n - s) // 2 for n, s in zip(frame.shape, sizes, strict=True)]
    return frame.read(starts, sizes)


def checked_blind_spot(shape: Any, span: Any) -> tuple[str, int | None] | None:
    """``(shape, span)`` when they name a resolved blind spot (as a model file records it:
    ``pixel``, ``x``, ``y`` or ``xy`` and a whole span within bounds, or none), else None."""
    if shape not in BLIND_SPOTS or shape == "auto":
        return None
    whole = isinstance(span, int) and not isinstance(span, bool)
    valid_span = span is None or (whole and 1 <= span <= MAX_BLIND_SPOT_SPAN)
    return (shape, span) if valid_span else None


def recorded_blind_spot(model: AnyModel | None) -> tuple[str, int | None] | None:
    """The blind spot a model was trained with, when its configuration records a valid one."""
    if model is None:
        return None
    recorded = model.channels[0].training_config
    return checked_blind_spot(recorded.get("blind_spot"), recorded.get("blind_spot_span"))


def choose_blind_spot(
    config: TrainingConfig, reports: Sequence[NoiseReport], init: AnyModel | None = None
) -> BlindSpotChoice:
    """Resolve ``config.blind_spot``: ``auto`` takes the blind spot of the model being continued
    (``init``) when it records one, else a box where any channel's noise is correlated alike
    everywhere in processed data (:meth:`NoiseReport.box_chosen`), else the axes along which any
    channel's noise is correlated (:meth:`NoiseReport.structured_span`); ``x``, ``y`` and
    ``xy`` span the measured correlation length (at least 1), ``box`` the
    :meth:`NoiseReport.box_span`, unless ``config.blind_spot_span`` says. The notes give each
    channel's noise notes and the choice when it is not the measured one."""
    asked = config.blind_spot
    recorded = recorded_blind_spot(init) if asked == "auto" else None
    if recorded is not None:
        shape, span = recorded
        notes = _channel_notes(reports, shape)
        notes.append(
            f"blind spot as the continued model was trained: {describe_blind_spot(shape, span)}"
        )
        return BlindSpotChoice(config.replace(blind_spot=shape, blind_spot_span=span), notes)
    shape, span = _resolved(config, reports)
    # the noise notes say what auto does, unless the shape or the span was asked for
    told = shape if asked == "auto" and config.blind_spot_span and span else asked
    notes = _channel_notes(reports, told)
    if told != "auto" and span is not None:
        how = "span as asked" if asked == "auto" else "as asked"
        notes.append(f"blind spot {describe_blind_spot(shape, span)} ({how})")
    return BlindSpotChoice(config.replace(blind_spot=shape, blind_spot_span=span), notes)


def _resolved(config: TrainingConfig, reports: Sequence[NoiseReport]) -> tuple[str, int | None]:
    """(shape, span) of ``config.blind_spot`` given the measured noise (see
    :func:`choose_blind_spot`); the span is None for one pixel."""
    measured = _measured_spans(reports)
    shape = config.blind_spot
    chosen = [report for report in reports if report.box_chosen()]
    if shape == "auto" and chosen:
        shape = "box"
    elif shape == "auto":
        shape = SHAPES[tuple(axis for axis in ("Y", "X") if axis in measured)]
    if shape == "pixel":
        return shape, None
    if shape == "box":
        spans = [report.box_span() for report in chosen or reports]
        return shape, config.blind_spot_span or max(spans)
    lengths = [measured.get(axis) or _length(reports, axis) for axis in SPANNED_AXES[shape]]
    return shape, config.blind_spot_span or max([*lengths, 1])


def _measured_spans(reports: Sequence[NoiseReport]) -> dict[str, int]:
    """Per axis, the widest structured span any channel's noise asks for."""
    spans: dict[str, int] = {}
    for report in reports:
        for axis, span in report.structured_span().items():
            spans[axis] = max(spans.get(axis, 0), span)
    return spans


def _length(reports: Sequence[NoiseReport], axis: str) -> int:
    """The longest correlation length along ``axis`` of any channel."""
    return max(r.correlation_length_x if axis == "X" else r.correlation_length_y for r in reports)


def _channel_notes(reports: Sequence[NoiseReport], blind_spot: str) -> list[str]:
    """Every channel's noise notes (``channel 2: ...`` when there are several)."""
    if len(reports) == 1:
        return reports[0].notes(blind_spot)
    return [
        f"channel {index}: {note}"
        for index, report in enumerate(reports)
        for note in report.notes(blind_spot)
    ]


def describe_blind_spot(shape: str, span: int | None) -> str:
    """``one pixel``, ``spans 5 pixels along X``, ``spans 3 pixels along Y and X``."""
    if shape == "pixel" or span is None:
        return "one pixel"
    if shape == "box":
        return f"a box of {2 * span + 1} x {2 * span + 1} pixels"
    return f"spans {2 * span + 1} pixels along {' and '.join(SPANNED_AXES[shape])}"


def mask_span(config: TrainingConfig, spatial_dims: int) -> tuple[int, ...] | None:
    """The masking's half-width per spatial axis (Z, if any, then Y and X), or None for a
    one-pixel blind spot."""
    axes = SPANNED_AXES.get(config.blind_spot, ())
    if not axes:
        return None
    span = config.blind_spot_span or 1
    return (0,) * (spatial_dims - 2) + tuple(span if a in axes else 0 for a in ("Y", "X"))


def keeps_axes(span: tuple[int, ...] | None) -> bool:
    """Whether patches may still be turned by quarter turns (which swap Y and X): only when
    the blind spot spans Y and X alike."""
    return span is None or span[-1] == span[-2]
