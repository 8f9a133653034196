"""What an export's description and README say: :class:`PackageFacts`, and the model's
design in one word."""

from __future__ import annotations

from dataclasses import dataclass

from napari_deconoising.model.bundle import AnyModel


@dataclass(frozen=True)
class PackageFacts:
    """What the description and the README say about an export: the package's name, the model,
    the size rule per spatial axis (``{"z": (min, step), "y": ..., "x": ...}``, no ``z`` for 2D),
    the test input, the weights' largest difference from PyTorch, the ``bioimageio.core``
    version that tested it (None: untested), where the test input came from and, for a
    two-stage model, the Richardson-Lucy iterations inside the weights."""

    name: str
    model: AnyModel
    sizes: dict[str, tuple[int, int]]
    test_shape: list[int]
    max_relative_error: float
    core_version: str | None
    test_source: str
    rl_iterations: int | None = None

    @property
    def minimum(self) -> int:
        """The smallest height and width."""
        return self.sizes["y"][0]

    @property
    def step(self) -> int:
        """The step of height and width."""
        return self.sizes["y"][1]

    @property
    def axes(self) -> str:
        """The tensors' axes in words: "batch, channel, z, y, x" or "batch, channel, y, x"."""
        return ", ".join(["batch", "channel", *self.sizes])

    @property
    def weights(self) -> list[str]:
        """The weights formats: TorchScript only for two-stage models (Richardson-Lucy's FFTs
        do not export to ONNX)."""
        return ["torchscript"] if self.model.two_stage else ["torchscript", "onnx"]


def design_name(model: AnyModel) -> str:
    """ "n2v", "joint" or "two-stage"."""
    return "n2v" if model.is_n2v else ("two-stage" if model.two_stage else "joint")
