"""Exporting a model as a bioimage.io package: the checks of the arguments, the steps, the
``bioimageio.core`` model test and the atomic write."""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from napari_deconoising.errors import ConfigError, ModelFileError
from napari_deconoising.evaluation.figures import write_png
from napari_deconoising.export.bioimageio.common import (
    NAME_CHARACTERS,
    ONNX_FILE,
    TORCHSCRIPT_FILE,
    quiet,
)
from napari_deconoising.export.bioimageio.describe import build_description, cover
from napari_deconoising.export.bioimageio.facts import PackageFacts, design_name
from napari_deconoising.export.bioimageio.readme import readme
from napari_deconoising.export.bioimageio.richardson_lucy import calibrated_iterations
from napari_deconoising.export.bioimageio.weights import (
    ChannelGraph,
    axis_sizes,
    check_weights,
    make_test_input,
    write_onnx,
    write_tensors,
    write_torchscript,
)
from napari_deconoising.export.onnx import ExportError
from napari_deconoising.io.outputs import atomic_write, check_outputs
from napari_deconoising.model.bundle import AnyModel, DecoNoisingModel
from napari_deconoising.model.package_reader import MODEL_MEMBER

#: ``progress(fraction, text)``: how far the export is (0..1) and what it does now.
ProgressCallback = Callable[[float, str], None]


@dataclass(frozen=True)
class BioimageioExport:
    """What :func:`export_bioimageio_package` wrote and checked. ``min_size`` and ``step`` are
    the height's and width's; ``sizes`` has ``(min, step)`` per spatial axis (``z`` too for a 3D
    model); ``rl_iterations`` is the Richardson-Lucy iterations inside a two-stage model's
    weights (None for other models)."""

    path: Path
    bytes: int
    name: str
    channels: int
    min_size: int
    step: int
    test_shape: list[int]
    weights: list[str]
    max_relative_error: float
    core_version: str | None
    spec_version: str
    sizes: dict[str, tuple[int, int]]
    spatial_dims: int = 2
    design: str = "joint"
    rl_iterations: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able figures."""
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "name": self.name,
            "channels": self.channels,
            "min_size": self.min_size,
            "step": self.step,
            "test_shape": self.test_shape,
            "weights": self.weights,
            "max_relative_error": self.max_relative_error,
            "bioimageio_core_test": self.core_version is not None,
            "bioimageio_core_version": self.core_version,
            "bioimageio_spec_version": self.spec_version,
            "sizes": {axis: {"min": low, "step": step} for axis, (low, step) in self.sizes.items()},
            "spatial_dims": self.spatial_dims,
            "design": self.design,
            "outputs": ["deconvolved", "denoised"],
            "rl_iterations": self.rl_iterations,
        }


@dataclass(frozen=True)
class ExportProgress:
    """How far an export is (``fraction``, 0..1) and what it does now."""

    fraction: float
    text: str


def export_bioimageio(
    model: AnyModel,
    out_path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> Path:
    """Write ``model`` as a bioimage.io model package (a ``.zip``) at ``out_path``; its path.

    The ``options`` are the keyword arguments of :func:`export_steps` (``name``, ``overwrite``,
    ``description``, ``authors``, ``tags``, ``test_image``, ``test``), which also says what is
    checked; ``progress(fraction, text)`` is called at every step.
    """
    return export_bioimageio_package(model, out_path, progress=progress, **options).path


def export_bioimageio_package(
    model: AnyModel,
    out_path: str | Path,
    *,
    progress: ProgressCallback | None = None,
    **options: Any,
) -> BioimageioExport:
    """As :func:`export_bioimageio`, returning what was written and checked."""
    steps = export_steps(model, out_path, **options)
    while True:
        try:
            event = next(steps)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(event.fraction, event.text)


def export_steps(
    model: AnyModel,
    out_path: str | Path,
    *,
    name: str | None = None,
    overwrite: bool = False,
    description: str | None = None,
    authors: Sequence[str] | None = None,
    tags: Sequence[str] = (),
    test_image: np.ndarray | None = None,
    test: bool = True,
    rl_iterations: int | None = None,
) -> Generator[ExportProgress, None, BioimageioExport]:
    """Export ``model`` (single- or multi-channel, original or compressed) to ``out_path``,
    yielding :class:`ExportProgress` before every step and returning a
    :class:`BioimageioExport`. Closing the generator early writes nothing.

    ``name`` (5-128 letters, digits, spaces and ``_+-()``) defaults to one made from the model;
    ``authors`` (names) default to "napari-deconoising"; ``tags`` are added to ours.
    ``test_image`` (``(Y, X)``, or ``(Z, Y, X)`` for a 3D model, with a leading C axis for a
    C-channel model, camera units) gives the test input (its centre) and the cover; by default
    a synthetic image (z-stack) with each channel's intensity statistics is used. ``out_path``
    must end in ``.zip``; an existing file is replaced only with ``overwrite=True``.

    A two-stage model's package holds TorchScript weights only: the deconvolved output is
    Richardson-Lucy inside them, with a fixed number of iterations, ``rl_iterations`` (default:
    where the engine's stopping rule stops on the test input), and FFTs do not export to ONNX.

    The file is written atomically, once every check has passed: the TorchScript (and ONNX)
    weights reproduce PyTorch within ``TOLERANCE`` of the output range,
    ``bioimageio.spec`` accepts the package and, with ``test``, ``bioimageio.core``'s model
    test passes. Raises :class:`ExportError` (or :class:`ConfigError`/:class:`ImageError` for
    bad arguments) otherwise.
    """
    out_path = _checked_out_path(out_path, overwrite)
    models = _checked_models(model)
    name = _checked_name(name, model)
    _check_iterations(rl_iterations, model)
    spec = _require_spec()
    core_version = _core_version() if test else None
    sizes = axis_sizes(model)
    formats = "TorchScript" if model.two_stage else "TorchScript and ONNX"
    with tempfile.TemporaryDirectory(prefix="deconoising-bioimageio-") as folder:
        work = Path(folder)
        yield ExportProgress(0.02, "computing the test outputs")
        raw = make_test_input(models, test_image, sizes)
        iterations = None
        if model.two_stage:
            iterations = rl_iterations or calibrated_iterations(models, raw)
        graph = ChannelGraph(models, iterations).eval()
        with torch.inference_mode():
            outputs = [t.numpy() for t in graph(torch.from_numpy(raw))]
        files = write_tensors(work, raw, outputs)
        yield ExportProgress(0.1, f"writing {formats} weights")
        write_torchscript(graph, raw, work / TORCHSCRIPT_FILE)
        if graph.onnx:
            write_onnx(graph, raw, work / ONNX_FILE)
        yield ExportProgress(0.25, f"checking {formats} against PyTorch")
        error = check_weights(graph, work, raw, sizes)
        write_png(work / "cover.png", cover(raw, outputs, model.is_n2v))
        (work / MODEL_MEMBER).write_bytes(model.to_bytes())
        source = _test_source(test_image is None, model.spatial_dims)
        facts = PackageFacts(
            name, model, sizes, list(raw.shape), error, core_version, source, iterations
        )
        (work / "README.md").write_text(readme(facts), encoding="utf-8")
        yield ExportProgress(0.4, "describing and validating the package")
        descr = build_description(spec, facts, work, files, description, authors, tags)
        package = work / "package.zip"
        _save_package(spec, descr, package)
        if test:
            yield ExportProgress(0.5, "testing the package with bioimageio.core")
            _run_core_test(package)
        yield ExportProgress(0.98, f"writing {out_path.name}")
        _place(package, out_path, overwrite)
    return BioimageioExport(
        path=out_path,
        bytes=out_path.stat().st_size,
        name=name,
        channels=len(models),
        min_size=facts.minimum,
        step=facts.step,
        test_shape=list(raw.shape),
        weights=facts.weights,
        max_relative_error=error,
        core_version=core_version,
        spec_version=spec.__version__,
        sizes=sizes,
        spatial_dims=model.spatial_dims,
        design=design_name(model),
        rl_iterations=iterations,
    )


def _test_source(synthetic: bool, spatial_dims: int) -> str:
    """Where the test input came from, in words."""
    if not synthetic:
        return "a crop of the image given at export"
    kind = "a synthetic z-stack" if spatial_dims == 3 else "synthetic"
    return f"{kind}, with the model's intensity statistics"


# -- checks of the arguments -------------------------------------------------------------------
def _checked_out_path(out_path: str | Path, overwrite: bool) -> Path:
    path = Path(out_path).expanduser()
    if path.suffix.lower() != ".zip":
        raise ConfigError(f"a bioimage.io package is a .zip file; give a .zip name, not {path}")
    return check_outputs([path], overwrite=overwrite)[0]


def _checked_models(model: AnyModel) -> list[DecoNoisingModel]:
    if not isinstance(model, AnyModel):
        raise ModelFileError(
            f"expected a napari-deconoising model or a model file, got {type(model).__name__}"
        )
    return list(model.channels)


def _check_iterations(iterations: int | None, model: AnyModel) -> None:
    """``rl_iterations`` is None, or a whole number >= 1 for a two-stage model."""
    if iterations is None:
        return
    if not model.two_stage:
        raise ConfigError(
            "rl_iterations is for two-stage models (their deconvolution is Richardson-Lucy); "
            "this model's network deconvolves"
        )
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 1:
        raise ConfigError(f"rl_iterations must be a whole number >= 1, got {iterations!r}")


def _checked_name(name: str | None, model: AnyModel) -> str:
    if name is None:
        kind = "Noise2Void denoising" if model.is_n2v else "DecoNoising denoising and deconvolution"
        compressed = any(m.metadata.get("compressed_from") for m in model.channels)
        channels = f" {model.n_channels} channels" if model.n_channels > 1 else ""
        if model.two_stage:
            kind = "Two-stage denoising and deconvolution"
        dims = f" {model.spatial_dims}D"
        return f"{kind}{dims}{channels}{' (compressed)' if compressed else ''}"
    name = name.strip()
    if not NAME_CHARACTERS.match(name):
        raise ConfigError(
            f"a bioimage.io model name has 5 to 128 characters, only letters, digits, spaces "
            f"and _+-(); got {name!r}"
        )
    return name


def _require_spec() -> Any:
    try:
        import bioimageio.spec as spec
        import pydantic
        from bioimageio.spec.model import v0_5  # noqa: F401
    except ImportError as err:
        raise ExportError(
            "bioimage.io export needs bioimageio.core: pip install 'napari-deconoising[bioimageio]'"
        ) from err
    if _numbers(spec.__version__) < (0, 5, 14) and _numbers(pydantic.VERSION) >= (2, 14):
        raise ExportError(
            f"bioimageio.spec {spec.__version__} cannot write packages with pydantic "
            f"{pydantic.VERSION}: pip install 'pydantic<2.14' (or a bioimageio.spec >= 0.5.14)"
        )
    return spec


def _numbers(version: str) -> tuple[int, ...]:
    """The leading numbers of a version: (0, 5, 12) for "0.5.12.0", (2, 14) for "2.14b1"."""
    numbers = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if digits is None:
            break
        numbers.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(numbers)


def _core_version() -> str:
    try:
        import bioimageio.core as core
    except ImportError as err:
        raise ExportError(
            "testing the package needs bioimageio.core: pip install "
            "'napari-deconoising[bioimageio]' (or export with test=False)"
        ) from err
    return str(core.__version__)


def _save_package(spec: Any, descr: Any, package: Path) -> None:
    try:
        with spec.ValidationContext(log_warnings=False), quiet():
            spec.save_bioimageio_package(descr, output_path=package)
    except Exception as err:
        raise ExportError(f"bioimageio.spec rejected the package: {err}") from err


def _run_core_test(package: Path) -> None:
    import bioimageio.core as core
    from bioimageio.spec import ValidationContext

    with ValidationContext(log_warnings=False), quiet(), _kept_random_state():
        summary = core.test_model(package, devices=["cpu"])
    if summary.status != "passed":
        failures = [
            f"{detail.name}: {'; '.join(e.msg for e in detail.errors)[:300]}"
            for detail in summary.details
            if detail.status == "failed"
        ]
        raise ExportError(
            "the package failed bioimageio.core's model test; nothing was written: "
            + (" | ".join(failures) or summary.status)
        )


@contextlib.contextmanager
def _kept_random_state() -> Iterator[None]:
    """Undo what bioimageio.core's test does to the session: it seeds numpy's and torch's global
    generators and sets torch's deterministic-algorithms flag."""
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    cuda_states = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
        if cuda_states is not None:
            torch.cuda.set_rng_state_all(cuda_states)
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


def _place(package: Path, out_path: Path, overwrite: bool) -> None:
    check_outputs([out_path], overwrite=overwrite)
    atomic_write(out_path, lambda temporary: shutil.copyfile(package, temporary))
