"""Shared test fixtures: tiny models and captured napari notifications for the widget tests."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture
def notifications():
    """Messages of the napari notifications shown during the test, as (severity, text)."""
    from napari.utils.notifications import notification_manager

    seen: list[tuple[str, str]] = []

    def record(event) -> None:
        notification = event.value if hasattr(event, "value") else event
        seen.append((str(notification.severity), str(notification.message)))

    notification_manager.notification_ready.connect(record)
    yield seen
    notification_manager.notification_ready.disconnect(record)


@pytest.fixture
def clean_registry():
    """An empty shared model registry before and after the test."""
    from napari_deconoising.widgets._models import model_registry

    model_registry.clear()
    yield model_registry
    model_registry.clear()


@pytest.fixture(autouse=True)
def own_config_dir(tmp_path_factory, monkeypatch):
    """A fresh folder for the settings widgets remember between sessions, never the user's."""
    folder = tmp_path_factory.mktemp("config")
    # widgets._remembered.CONFIG_DIR_VARIABLE (not imported: most tests need no widgets)
    monkeypatch.setenv("NAPARI_DECONOISING_CONFIG_DIR", str(folder))
    return folder


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A temporary home folder (models are saved under ~/deconoising-models by default)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_sample():
    """A 2-frame 64x64 synthetic recording with its truth."""
    from napari_deconoising import make_sample

    return make_sample(shape=(64, 64), n_frames=2, cell_size=16, seed=3)


@pytest.fixture(scope="session")
def tiny_model(tiny_sample):
    """A DecoNoising model trained for a few steps (quick, not good)."""
    from napari_deconoising import NetworkConfig, TrainingConfig, train

    config = TrainingConfig(
        steps=5,
        patch_size=32,
        batch_size=4,
        network=NetworkConfig(depth=2, start_filters=8),
        validation_interval=5,
        device="cpu",
    )
    return train(tiny_sample.noisy, tiny_sample.psf, config)


@pytest.fixture(scope="session")
def two_channel_model(tiny_model):
    """A 2-channel model: the tiny model for channel 0 and, for channel 1, the same network with
    another normalisation (so the channels give different outputs)."""
    from dataclasses import replace

    from napari_deconoising.model.bundle import ChannelModels, Normalisation

    norm = tiny_model.normalisation
    other = Normalisation(norm.mean * 2 + 50, norm.std * 2, norm.offset * 2 + 50)
    return ChannelModels([tiny_model, replace(tiny_model, normalisation=other)])


@pytest.fixture
def offline(monkeypatch):
    """No internet connection may even be tried: DNS look-ups and IP connections fail and are
    recorded (local sockets, e.g. the X server's, still work)."""
    tried: list[object] = []
    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            tried.append(address)
            raise OSError("network disabled in the tests")
        return real_connect(self, address)

    def lookup(*args, **kwargs):
        tried.append(args[:2])
        raise socket.gaierror("network disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    yield
    assert tried == [], f"the test tried to reach the network: {tried}"
