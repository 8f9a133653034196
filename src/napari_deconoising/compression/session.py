"""One compression run: teacher outputs, pruning, distillation, measuring and saving.

:class:`Session` is what :meth:`Compressor.run <.compressor.Compressor.run>` drives; it draws its
random numbers from its own generator (never torch's global state), so a seeded run is
reproducible and two runs at once do not disturb each other.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from napari_deconoising.compression.inputs import source_name, unique
from napari_deconoising.compression.measure import (
    compute_precision,
    load_average,
    mean_psnr,
    ms_per_frame,
    round_weights,
    timing_frame,
    weights_fingerprint,
)
from napari_deconoising.compression.pruning import prune_unet
from napari_deconoising.compression.report import (
    METHOD,
    CompressionEvent,
    CompressionFinished,
    CompressionReport,
    CompressionResult,
    CompressionStage,
    CompressionStarted,
    CompressionStep,
    evaluated_on,
)
from napari_deconoising.config.compression import CompressionConfig
from napari_deconoising.config.prediction import PredictionConfig
from napari_deconoising.job_control import CancelToken
from napari_deconoising.model.bundle import DecoNoisingModel, timestamp
from napari_deconoising.model.convolution import convolve, psf_tensor
from napari_deconoising.model.devices import autocast, cpu_kernels, resolve_device
from napari_deconoising.model.unet import UNet, count_parameters
from napari_deconoising.prediction.predictor import PredictionResult, Predictor
from napari_deconoising.training.budget import BudgetedSteps
from napari_deconoising.training.sampling import PatchSampler, run_generator, set_learning_rate

#: Fine-tuning's learning rate warms up linearly over this many steps (and runs at least these).
WARMUP_STEPS = 10
#: Planes of a 3D model's fine-tuning patches at most.
PATCH_PLANES_3D = 16

Targets = dict[int, PredictionResult]


class CompressionJob(Protocol):
    """What a :class:`Session` compresses (a :class:`~.compressor.Compressor` holds it)."""

    preset: str
    config: CompressionConfig
    teacher: DecoNoisingModel
    source_path: Path | None
    out_path: Path | None
    train_frames: list[np.ndarray]
    eval_frames: list[np.ndarray]
    held_out: bool
    widths_before: list[int]
    widths_after: list[int]


class Session:
    """One compression run: teacher outputs, pruning, fine-tuning, measuring, saving.

    ``cancellation`` stops it (with :class:`~napari_deconoising.errors.Cancelled`) at the next
    batch or prediction."""

    TEACHER_SHARE, TUNE_SHARE = 0.1, 0.8

    def __init__(self, compressor: CompressionJob, cancellation: CancelToken):
        self.c, self.cancellation = compressor, cancellation
        self.config = compressor.config
        self.device = resolve_device(self.config.device)
        self.prediction_config = PredictionConfig(
            device=self.config.device, precision=self.config.precision
        )
        self.generator = run_generator(self.config.seed)
        self.kernel = psf_tensor(compressor.teacher.output_psf, self.device)
        self.start = time.perf_counter()
        self.teacher_s_per_pixel = 0.0
        self.result: CompressionResult | None = None

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def run(self) -> Iterator[CompressionEvent]:
        c, config = self.c, self.config
        yield CompressionStarted(
            c.preset,
            str(self.device),
            count_parameters(c.teacher.network),
            c.widths_before,
            c.widths_after,
            len(c.train_frames),
            len(c.eval_frames) if c.held_out else 0,
            config.steps,
            None if config.minutes is None else 60 * config.minutes,
        )
        targets = yield from self._teacher_outputs()
        yield CompressionStage("pruning", f"pruning to widths {c.widths_after}", self.TEACHER_SHARE)
        student = prune_unet(c.teacher.network, c.widths_after).to(self.device)
        steps, loss = yield from self._fine_tune(student, targets)
        yield from self._finish(student.cpu().eval(), targets, steps, loss)

    # -- stage 1: what the original makes of the images -----------------------------------------
    def _predict(self, model: DecoNoisingModel, frame: np.ndarray) -> PredictionResult:
        predictor = Predictor(model, self.prediction_config)
        with self.cancellation.forwarding(predictor.cancel):
            return predictor.predict(frame)

    def _teacher_outputs(self) -> Iterator[CompressionEvent]:
        """Predict every frame once; returns dict id(frame) -> PredictionResult."""
        c = self.c
        frames = unique(c.train_frames + c.eval_frames)
        targets: Targets = {}
        started = time.perf_counter()
        for index, frame in enumerate(frames):
            yield CompressionStage(
                "teacher",
                f"original model on frame {index + 1}/{len(frames)}",
                self.TEACHER_SHARE * index / len(frames),
            )
            targets[id(frame)] = self._predict(c.teacher, frame)
        pixels = sum(f.size for f in frames)
        self.teacher_s_per_pixel = (time.perf_counter() - started) / pixels
        return targets

    # -- stage 3: distillation ------------------------------------------------------------------
    def _reserve(self) -> float:
        """Estimated seconds for the report's measurements after fine-tuning, with a margin.

        The evaluation runs the student on the evaluation frames and the timing runs both models
        ``1 + timing_repeats`` times on one frame; the student is taken to cost at most as much as
        the teacher, whose speed was measured on the teacher stage.
        """
        config = self.config
        planes = math.prod(self.c.eval_frames[0].shape[:-2])  # 1 for a frame
        teacher_frame = self.teacher_s_per_pixel * config.timing_size**2 * planes
        evaluation = self.teacher_s_per_pixel * sum(f.size for f in self.c.eval_frames)
        return 1.25 * (evaluation + 2 * teacher_frame * (1 + config.timing_repeats) + 3.0)

    def _tune_deadline(self) -> float:
        """Seconds since start by which fine-tuning must end to keep the whole run in budget."""
        if self.config.minutes is None:
            return math.inf
        return 60 * self.config.minutes - self._reserve()

    def _sampler(self, targets: Targets) -> PatchSampler:
        """Random (input, teacher deconvolved) patch pairs in network units, cut alike."""
        teacher, frames = self.c.teacher, self.c.train_frames
        norm, multiple = teacher.normalisation, teacher.network.size_multiple
        smallest = min(min(f.shape[-2:]) for f in frames)
        side = min(self.config.patch_size, smallest) // multiple * multiple
        depth = [  # per depth axis (Z), as many planes as the stacks and the network allow
            min(PATCH_PLANES_3D, *(f.shape[axis] for f in frames)) // z_multiple * z_multiple
            for axis, z_multiple in enumerate(teacher.network.size_multiples[:-2])
        ]
        sources = [
            torch.stack(
                [
                    torch.from_numpy(norm.normalise(f).astype(np.float32)),
                    torch.from_numpy(norm.normalise(targets[id(f)].deconvolved).astype(np.float32)),
                ]
            )
            for f in frames
        ]
        patch = (*depth, side)
        return PatchSampler(sources, patch, self.generator, self.config.augment, self.device)

    def _fine_tune(self, student: UNet, targets: Targets) -> Iterator[CompressionEvent]:
        """Distil the teacher's outputs into ``student``; returns (steps, last loss)."""
        config = self.config
        sampler = self._sampler(targets)
        optimiser = torch.optim.Adam(student.parameters(), lr=config.learning_rate)
        reserve, seconds = self._reserve(), max(self._tune_deadline() - self.elapsed(), 1e-3)
        clock = BudgetedSteps(
            config.learning_rate,
            WARMUP_STEPS,
            steps=config.steps,
            seconds=None if math.isinf(seconds) else seconds,
            min_steps=WARMUP_STEPS,
        )
        student.train()
        loss = math.nan
        while clock.running():
            self.cancellation.check()
            lr = clock.learning_rate()
            set_learning_rate(optimiser, lr)
            pairs = sampler.sample(config.batch_size)
            inputs, target = pairs[:, :1].contiguous(), pairs[:, 1:].contiguous()
            loss = self._step(student, optimiser, inputs, target)
            clock.advance()
            share = self.TEACHER_SHARE + self.TUNE_SHARE * clock.shown_progress
            eta = clock.eta + reserve
            yield CompressionStep(clock.step, config.steps, loss, lr, self.elapsed(), eta, share)
        return clock.step, loss

    def _step(self, student: UNet, optimiser, inputs: torch.Tensor, target: torch.Tensor) -> float:
        margin = inputs.shape[-1] // 8
        inner = (..., slice(margin, -margin), slice(margin, -margin))
        with autocast(self.device, self.config.precision):
            output = student(inputs)
        deconvolved = output.float() * self.c.teacher.output_scale
        loss = F.mse_loss(deconvolved[inner], target[inner])
        if self.kernel is not None:
            denoised = convolve(deconvolved, self.kernel)
            target_denoised = convolve(target, self.kernel)
            loss = loss + F.mse_loss(denoised[inner], target_denoised[inner])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    # -- stage 4: report and file ---------------------------------------------------------------
    def _finish(
        self, network: UNet, targets: Targets, steps: int, loss: float
    ) -> Iterator[CompressionEvent]:
        c, config = self.c, self.config
        share = self.TEACHER_SHARE + self.TUNE_SHARE
        yield CompressionStage("measuring", "measuring fidelity", share)
        probe = c.teacher.normalisation.normalise(timing_frame(c.eval_frames, 128))
        # along each depth axis (Z), as many planes as the network can take
        depth = zip(probe.shape[:-2], network.size_multiples[:-2], strict=True)
        probe = probe[tuple(slice(n // multiple * multiple) for n, multiple in depth)]
        storage = round_weights(
            network, torch.from_numpy(probe)[None, None].float(), config.storage
        )
        fingerprint = weights_fingerprint(c.teacher.network)
        model = DecoNoisingModel(
            network=network,
            psf=c.teacher.psf,
            normalisation=c.teacher.normalisation,
            output_scale=c.teacher.output_scale,
            training_config=copy.deepcopy(c.teacher.training_config),
            metadata={},
        )
        fidelity = mean_psnr((targets[id(f)], self._predict(model, f)) for f in c.eval_frames)
        yield CompressionStage("measuring", "timing both models", share + 0.05)
        timing = ms_per_frame(
            [c.teacher, model],
            timing_frame(c.eval_frames, config.timing_size),
            config.timing_repeats,
            self.prediction_config,
            self.cancellation.check,
        )
        report = CompressionReport(
            preset=c.preset,
            params_before=count_parameters(c.teacher.network),
            params_after=count_parameters(network),
            bytes_before=c.teacher.file_size(),
            bytes_after=0,
            ms_per_frame_before=round(timing[0][0], 1),
            ms_per_frame_after=round(timing[1][0], 1),
            psnr_denoised_vs_original=round(fidelity[0], 2),
            psnr_deconvolved_vs_original=round(fidelity[1], 2),
            frame_size=config.timing_size,
            widths_before=c.widths_before,
            widths_after=list(network.widths),
            method=METHOD,
            storage=storage,
            compute_precision=compute_precision(self.device, self.config.precision),
            device=str(self.device),
            threads=torch.get_num_threads(),
            fine_tune_steps=steps,
            final_loss=float(loss),
            evaluated_on=evaluated_on(len(c.eval_frames), c.held_out),
            seconds=0.0,
            load_average=load_average(),
            cpu_kernels=cpu_kernels() if self.device.type == "cpu" else None,
        )
        report = self._with_metadata(model, report, fingerprint, timing)
        self.cancellation.check()
        path = model.save(c.out_path, storage, overwrite=True) if c.out_path is not None else None
        self.result = CompressionResult(model, report, path)
        yield CompressionFinished(report, None if path is None else str(path))

    def _with_metadata(
        self, model: DecoNoisingModel, report: CompressionReport, fingerprint: str, timing
    ) -> CompressionReport:
        """Fill in provenance and the final file size (which depends on the metadata itself)."""
        c = self.c
        skip = ("compression", "package_version")
        base = {k: v for k, v in c.teacher.metadata.items() if k not in skip}
        for _ in range(3):
            report = replace(report, seconds=round(self.elapsed(), 1))
            model.metadata = {
                **base,
                "created": timestamp(),
                "compressed_from": source_name(c.source_path, fingerprint),
                "compression": {
                    "preset": c.preset,
                    "method": METHOD,
                    "storage": report.storage,
                    "original_sha256": fingerprint,
                    "original_widths": c.widths_before,
                    "config": self.config.to_dict(),
                    "report": report.to_dict(),
                    "ms_per_frame_median": [round(t[1], 1) for t in timing],
                },
            }
            size = model.file_size(report.storage)
            if size == report.bytes_after:
                break
            report = replace(report, bytes_after=size)
        return report
