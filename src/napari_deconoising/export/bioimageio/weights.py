"""The exported network, its test tensors, and its TorchScript and ONNX weights with their
check against PyTorch."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.errors import ImageError
from napari_deconoising.export.bioimageio.common import (
    INPUT_ID,
    MAX_TEST_SHAPE_3D,
    MAX_TEST_SIZE,
    ONNX_FILE,
    OUTPUT_IDS,
    ROUNDING_STEPS,
    SPATIAL_AXES,
    TEST_SHAPE_3D,
    TEST_SIZE,
    TORCHSCRIPT_FILE,
    quiet,
)
from napari_deconoising.export.bioimageio.richardson_lucy import scripted
from napari_deconoising.export.onnx import (
    TOLERANCE,
    DeconoisingGraph,
    ExportError,
    cpu_copy,
    trace_to_onnx,
)
from napari_deconoising.model.bundle import AnyModel, DecoNoisingModel


class TwoStageGraph(nn.Module):
    """A two-stage model as one module: camera units in, ``(deconvolved, denoised)`` out, the
    network's denoised output deconvolved by :class:`.richardson_lucy.FixedRichardsonLucy`."""

    def __init__(self, model: DecoNoisingModel, iterations: int):
        super().__init__()
        self.graph = DeconoisingGraph(cpu_copy(model)).eval()
        self.deconvolution = scripted(model.psf, iterations)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (denoised,) = self.graph(raw)
        return self.deconvolution(denoised), denoised


class ChannelGraph(nn.Module):
    """The exported network: ``(B, C, *spatial)`` camera units in, ``(deconvolved, denoised)``
    of the same shape in camera units out (spatial: ``(Y, X)`` or ``(Z, Y, X)``); channel ``c``
    goes through channel ``c``'s model (a
    :class:`~napari_deconoising.export.onnx.DeconoisingGraph`, or a :class:`TwoStageGraph` whose
    Richardson-Lucy runs ``rl_iterations`` iterations, default the Predictor's limit)."""

    def __init__(self, models: Sequence[DecoNoisingModel], rl_iterations: int | None = None):
        super().__init__()
        iterations = rl_iterations or PredictionConfig().rl_iterations
        self.graphs = nn.ModuleList(
            TwoStageGraph(m, iterations) if m.two_stage else DeconoisingGraph(cpu_copy(m)).eval()
            for m in models
        )
        #: False when a channel's graph does not export to ONNX (two-stage: FFTs inside).
        self.onnx = not any(m.two_stage for m in models)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deconvolved, denoised = [], []
        for index, graph in enumerate(self.graphs):
            sharp, blurred = graph(raw[:, index : index + 1])
            deconvolved.append(sharp)
            denoised.append(blurred)
        return torch.cat(deconvolved, dim=1), torch.cat(denoised, dim=1)


def axis_sizes(model: AnyModel) -> dict[str, tuple[int, int]]:
    """``(min, step)`` of each spatial axis of the exported network (``z``, ``y``, ``x``, or
    ``y``, ``x``): multiples of what every channel's U-Net needs along the axis, larger than
    every PSF's radius along it (the PSF convolution reflects). ``y`` and ``x`` share a rule:
    the larger of the two."""
    models = model.channels
    names = SPATIAL_AXES[-model.spatial_dims :]
    rules = {}
    for axes in ((0,), (1, 2)) if len(names) == 3 else ((0, 1),):
        # powers of two: the largest is a multiple of the rest
        step = max(m.network.size_multiples[a] for m in models for a in axes)
        radius = max(_radius(m, a) for m in models for a in axes)
        rules.update({names[a]: (step * (radius // step + 1), step) for a in axes})
    return rules


def _radius(model: DecoNoisingModel, axis: int) -> int:
    """The radius along ``axis`` of the PSF the exported network convolves with (0: none)."""
    psf = model.output_psf
    return 0 if psf is None else np.shape(psf)[axis] // 2


def size_rule(model: AnyModel) -> tuple[int, int]:
    """``(min, step)`` of the exported network's height and width (see :func:`axis_sizes`)."""
    return axis_sizes(model)["y"]


def make_test_input(
    models: Sequence[DecoNoisingModel],
    image: np.ndarray | None,
    sizes: dict[str, tuple[int, int]],
) -> np.ndarray:
    """The test input, ``(1, C, *spatial)`` float32 camera units, each side a multiple of its
    axis' step and at least its minimum (``sizes``, :func:`axis_sizes`): a crop of ``image``
    (``(Y, X)`` or ``(Z, Y, X)``, with a leading C axis for C channels), or a synthetic image
    (a synthetic z-stack for 3D) with each channel's intensity statistics."""
    rules = list(sizes.values())
    if image is None:
        targets = TEST_SHAPE_3D if len(rules) == 3 else (TEST_SIZE, TEST_SIZE)
        shape = tuple(
            max(low, -(-target // step) * step)
            for (low, step), target in zip(rules, targets, strict=True)
        )
        return _synthetic(models, shape)
    return _crop(models, image, rules)


def _synthetic(models: Sequence[DecoNoisingModel], shape: tuple[int, ...]) -> np.ndarray:
    """A synthetic image or z-stack per channel, rescaled to the channel's mean and spread."""
    from napari_deconoising.data.synthetic import make_sample, make_zstack_sample

    planes = []
    for index, model in enumerate(models):
        if len(shape) == 3:
            frame = make_zstack_sample(shape, psf_model="gaussian", seed=index).noisy
        else:
            frame = make_sample(shape, n_frames=1, cell_size=24, seed=index).noisy[0]
        norm = model.normalisation
        spread = max(float(frame.std()), 1e-6)
        planes.append((frame - frame.mean()) / spread * norm.std + norm.mean)
    return np.stack(planes)[None].astype(np.float32)


def _crop(
    models: Sequence[DecoNoisingModel], image: np.ndarray, rules: list[tuple[int, int]]
) -> np.ndarray:
    """The centre of ``image``, each side a multiple of its step, at most the largest test
    size."""
    dims = len(rules)
    array = np.asarray(image, dtype=np.float32)
    channels = array.shape[:-dims]  # () for one channel, (C,) for C channels
    if array.ndim not in (dims, dims + 1) or math.prod(channels) != len(models):
        spatial = "Y, X" if dims == 2 else "Z, Y, X"
        want = f"({spatial})" if len(models) == 1 else f"({len(models)}, {spatial})"
        raise ImageError(f"the test image must be {want} for this model, got {array.shape}")
    array = array.reshape(len(models), *array.shape[-dims:])
    if not np.all(np.isfinite(array)):
        raise ImageError("the test image holds NaN or infinite values")
    largest = MAX_TEST_SHAPE_3D if dims == 3 else (MAX_TEST_SIZE, MAX_TEST_SIZE)
    sides = [
        min(size // step * step, most // step * step)
        for size, (_, step), most in zip(array.shape[1:], rules, largest, strict=True)
    ]
    if any(side < low for side, (low, _) in zip(sides, rules, strict=True)):
        needed = tuple(low for low, _ in rules)
        raise ImageError(
            f"the test image {array.shape[1:]} is smaller than the {needed} the model needs"
        )
    starts = [(size - side) // 2 for size, side in zip(array.shape[1:], sides, strict=True)]
    window = tuple(slice(s, s + n) for s, n in zip(starts, sides, strict=True))
    return np.ascontiguousarray(array[(slice(None), *window)][None])


def write_tensors(
    work: Path, raw: np.ndarray, outputs: Sequence[np.ndarray]
) -> dict[str, tuple[Path, Path]]:
    """Per tensor id: the test tensor (``.npy``, with the batch axis) and the sample tensor
    (TIFF, for people: ``(C, Y, X)``, or ``(Y, X)`` for one channel)."""
    import tifffile

    files = {}
    for kind, tensor_id, array in [
        ("input", INPUT_ID, raw),
        *(("output", i, a) for i, a in zip(OUTPUT_IDS, outputs, strict=True)),
    ]:
        test, sample = (
            work / f"test_{kind}_{tensor_id}.npy",
            work / f"sample_{kind}_{tensor_id}.tif",
        )
        np.save(test, array.astype(np.float32))
        tifffile.imwrite(sample, array[0, 0] if array.shape[1] == 1 else array[0])
        files[tensor_id] = (test, sample)
    return files


def write_torchscript(graph: ChannelGraph, raw: np.ndarray, path: Path) -> None:
    """Trace ``graph`` on ``raw`` into a TorchScript file at ``path`` (quietly); any failure
    becomes :class:`ExportError`."""
    try:
        with quiet(), torch.no_grad():
            traced = torch.jit.trace(graph, torch.from_numpy(raw), check_trace=False)
            torch.jit.save(traced, str(path))
    except Exception as err:
        raise ExportError(f"TorchScript export failed: {type(err).__name__}: {err}") from err


def write_onnx(graph: ChannelGraph, raw: np.ndarray, path: Path) -> None:
    """Trace ``graph`` on ``raw`` into an ONNX file at ``path``, with batch and the spatial axes
    (``z``, ``y``, ``x`` or ``y``, ``x``) dynamic."""
    spatial = SPATIAL_AXES[-(raw.ndim - 2) :]
    trace_to_onnx(graph, torch.from_numpy(raw), str(path), INPUT_ID, OUTPUT_IDS, spatial)


def check_weights(
    graph: ChannelGraph, work: Path, raw: np.ndarray, sizes: dict[str, tuple[int, int]]
) -> float:
    """The largest difference between TorchScript (and ONNX, where ``graph.onnx``) and PyTorch,
    relative to the output range, on the test input and on a batch of two at about the smallest
    sizes (``sizes``, :func:`axis_sizes`). Allowed: ``TOLERANCE`` of the range, or
    ``ROUNDING_STEPS`` float32 rounding steps of the values if that is more."""
    runners = {"TorchScript": _torchscript_runner(work)}
    if graph.onnx:
        runners["ONNX"] = _onnx_runner(work)
    worst = 0.0
    for array in (raw, _small_batch(raw, sizes)):
        with torch.inference_mode():
            expected = [t.numpy() for t in graph(torch.from_numpy(array))]
        for weights, run in runners.items():
            for want, got in zip(expected, run(array), strict=True):
                worst = max(worst, _difference(weights, want, got))
    return worst


def _small_batch(raw: np.ndarray, sizes: dict[str, tuple[int, int]]) -> np.ndarray:
    """Two images (the second noisier) cut from ``raw`` at the smallest sizes, the first axis
    one step longer."""
    rules = list(sizes.values())
    sides = [low + (step if axis == 0 else 0) for axis, (low, step) in enumerate(rules)]
    small = raw[(slice(None), slice(None), *(slice(0, side) for side in sides))]
    noise = np.random.default_rng(0).normal(0, 1, small.shape)
    return np.concatenate([small, small + noise]).astype(np.float32)


def _torchscript_runner(work: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    with quiet():
        scripted_graph = torch.jit.load(str(work / TORCHSCRIPT_FILE), map_location="cpu")

    def run(array: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return [t.numpy() for t in scripted_graph(torch.from_numpy(array))]

    return run


def _onnx_runner(work: Path) -> Callable[[np.ndarray], list[np.ndarray]]:
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ExportError(
            "checking the ONNX weights needs onnxruntime: pip install "
            "'napari-deconoising[bioimageio]'"
        ) from err
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(work / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    return lambda array: session.run(list(OUTPUT_IDS), {INPUT_ID: array})


def _difference(weights: str, want: np.ndarray, got: np.ndarray) -> float:
    """``got``'s largest difference from ``want`` relative to ``want``'s range; raises
    :class:`ExportError` beyond the tolerance."""
    if got.shape != want.shape:
        raise ExportError(f"the {weights} weights returned shape {got.shape}, PyTorch {want.shape}")
    scale = max(float(np.ptp(want)), 1e-6)
    difference = float(np.max(np.abs(got - want)))
    error = difference / scale
    # float32 rounding of the values themselves is allowed too (camera units carry an offset:
    # an untrained network's output range can be a few rounding steps)
    rounding = ROUNDING_STEPS * float(np.finfo(np.float32).eps * np.max(np.abs(want)))
    if not difference <= max(TOLERANCE * scale, rounding):
        raise ExportError(
            f"the {weights} weights differ from PyTorch by {error:.2e} of the output range "
            f"(tolerance {TOLERANCE:.0e}); nothing was written"
        )
    return error
