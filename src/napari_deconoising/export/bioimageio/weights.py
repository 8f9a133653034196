"""The exported network, its test tensors, and its TorchScript and ONNX weights with their
check against PyTorch."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from napari_deconoising.errors import ImageError
from napari_deconoising.export.bioimageio.common import (
    INPUT_ID,
    MAX_TEST_SIZE,
    ONNX_FILE,
    OUTPUT_IDS,
    ROUNDING_STEPS,
    TEST_SIZE,
    TORCHSCRIPT_FILE,
    quiet,
)
from napari_deconoising.export.onnx import (
    TOLERANCE,
    DeconoisingGraph,
    ExportError,
    cpu_copy,
    trace_to_onnx,
)
from napari_deconoising.model.bundle import AnyModel, DecoNoisingModel


class ChannelGraph(nn.Module):
    """The exported network: ``(B, C, H, W)`` camera units in, ``(deconvolved, denoised)``
    ``(B, C, H, W)`` in camera units out; channel ``c`` goes through channel ``c``'s model
    (one :class:`~napari_deconoising.export.onnx.DeconoisingGraph` each)."""

    def __init__(self, models: Sequence[DecoNoisingModel]):
        super().__init__()
        self.graphs = nn.ModuleList(DeconoisingGraph(cpu_copy(m)).eval() for m in models)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        deconvolved, denoised = [], []
        for index, graph in enumerate(self.graphs):
            sharp, blurred = graph(raw[:, index : index + 1])
            deconvolved.append(sharp)
            denoised.append(blurred)
        return torch.cat(deconvolved, dim=1), torch.cat(denoised, dim=1)


def size_rule(model: AnyModel) -> tuple[int, int]:
    """``(min, step)`` of the exported network's height and width: multiples of what every
    channel's U-Net needs, larger than every PSF's radius (the PSF convolution reflects)."""
    models = model.channels
    step = max(m.network.size_multiple for m in models)  # powers of two: a multiple of the rest
    radius = max(0 if m.psf is None else max(np.shape(m.psf)) // 2 for m in models)
    return step * (radius // step + 1), step


def make_test_input(
    models: Sequence[DecoNoisingModel], image: np.ndarray | None, minimum: int, step: int
) -> np.ndarray:
    """The test input, ``(1, C, H, W)`` float32 camera units, sides multiples of ``step`` and at
    least ``minimum``: a crop of ``image`` (``(Y, X)``, or ``(C, Y, X)`` for C channels), or a
    synthetic image with each channel's intensity statistics."""
    if image is None:
        from napari_deconoising.data.synthetic import make_sample

        side = max(minimum, -(-TEST_SIZE // step) * step)
        planes = []
        for index, model in enumerate(models):
            frame = make_sample((side, side), n_frames=1, cell_size=24, seed=index).noisy[0]
            norm = model.normalisation
            spread = max(float(frame.std()), 1e-6)
            planes.append((frame - frame.mean()) / spread * norm.std + norm.mean)
        return np.stack(planes)[None].astype(np.float32)
    array = np.asarray(image, dtype=np.float32)
    channels = array.shape[:-2]  # () for (Y, X), (C,) for (C, Y, X)
    if array.ndim not in (2, 3) or math.prod(channels) != len(models):
        want = "(Y, X)" if len(models) == 1 else f"({len(models)}, Y, X)"
        raise ImageError(f"the test image must be {want} for this model, got {array.shape}")
    array = array.reshape(len(models), *array.shape[-2:])
    if not np.all(np.isfinite(array)):
        raise ImageError("the test image holds NaN or infinite values")
    sides = [min(size // step * step, MAX_TEST_SIZE // step * step) for size in array.shape[1:]]
    if min(sides) < minimum:
        raise ImageError(
            f"the test image {array.shape[1:]} is smaller than the {minimum} px the model needs"
        )
    top, left = ((size - side) // 2 for size, side in zip(array.shape[1:], sides, strict=True))
    return np.ascontiguousarray(array[None, :, top : top + sides[0], left : left + sides[1]])


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
    """Trace ``graph`` on ``raw`` into an ONNX file at ``path``, with batch, ``y`` and ``x``
    dynamic."""
    trace_to_onnx(graph, torch.from_numpy(raw), str(path), INPUT_ID, OUTPUT_IDS, ("y", "x"))


def check_weights(
    graph: ChannelGraph, work: Path, raw: np.ndarray, sizes: tuple[int, int]
) -> float:
    """The largest difference between TorchScript or ONNX and PyTorch, relative to the output
    range, on the test input and on a batch of two at the smallest sizes. Allowed: ``TOLERANCE``
    of the range, or ``ROUNDING_STEPS`` float32 rounding steps of the values if that is more."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise ExportError(
            "checking the ONNX weights needs onnxruntime: pip install "
            "'napari-deconoising[bioimageio]'"
        ) from err
    minimum, step = sizes
    generator = np.random.default_rng(0)
    small = raw[:, :, : minimum + step, :minimum]
    second = np.concatenate([small, small + generator.normal(0, 1, small.shape)]).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        str(work / ONNX_FILE), options, providers=["CPUExecutionProvider"]
    )
    with quiet():
        scripted = torch.jit.load(str(work / TORCHSCRIPT_FILE), map_location="cpu")
    worst = 0.0
    for array in (raw, second):
        tensor = torch.from_numpy(array)
        with torch.inference_mode():
            expected = [t.numpy() for t in graph(tensor)]
            produced = {"TorchScript": [t.numpy() for t in scripted(tensor)]}
        produced["ONNX"] = session.run(list(OUTPUT_IDS), {INPUT_ID: array})
        for weights, arrays in produced.items():
            for want, got in zip(expected, arrays, strict=True):
                if got.shape != want.shape:
                    raise ExportError(
                        f"the {weights} weights returned shape {got.shape}, PyTorch {want.shape}"
                    )
                scale = max(float(np.ptp(want)), 1e-6)
                difference = float(np.max(np.abs(got - want)))
                error = difference / scale
                # float32 rounding of the values themselves is allowed too (camera units carry
                # an offset: an untrained network's output range can be a few rounding steps)
                rounding = ROUNDING_STEPS * float(np.finfo(np.float32).eps * np.max(np.abs(want)))
                if not difference <= max(TOLERANCE * scale, rounding):
                    raise ExportError(
                        f"the {weights} weights differ from PyTorch by {error:.2e} of the output "
                        f"range (tolerance {TOLERANCE:.0e}); nothing was written"
                    )
                worst = max(worst, error)
    return worst
